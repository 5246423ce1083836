package dev.herd.model.forward;

import dev.herd.kernels.AttentionParams;
import dev.herd.kernels.Backend;
import dev.herd.kernels.PagedKv;
import dev.herd.model.config.LayerSpec;
import dev.herd.model.config.ModelConfig;
import dev.herd.model.config.QkNorm;
import dev.herd.model.config.RopeConfig;
import dev.herd.model.weights.ModelWeights;

import java.util.Arrays;
import java.util.List;

/**
 * The decoder-only MoE transformer, written once against {@link Backend} and {@link ExpertSet}: the same code
 * runs every architecture, every backend, and single-node or pipelined serving (a pipeline stage calls
 * {@link #layers} on its layer range; the first stage also {@link #embed}s, the last applies the {@link #head}).
 */
public final class Transformer {
    private final ModelConfig c;
    private final ModelWeights w;
    private final Backend backend;
    private final ExpertSet experts;
    private final float[] invFreq;
    private final Probe probe;
    /** Per thread: a pass is not re-entered on one thread, while several threads may share this object. */
    private final ThreadLocal<Buffers> buffers = ThreadLocal.withInitial(Buffers::new);

    /**
     * A pass's activation buffers, kept across calls and grown to the largest batch seen, so steady-state
     * decoding allocates none of them. Kernels read and write only the first rows they are asked for.
     */
    private static final class Buffers {
        float[] xb = new float[0];
        float[] q = xb;
        float[] k = xb;
        float[] v = xb;
        float[] att = xb;
        float[] out = xb;
        float[] routerLogits = xb;
        int[] chosen = new int[0];
        float[] gates = xb;
        int rows;

        Buffers ensure(int n, ModelConfig c) {
            if (n > rows) {
                rows = Math.max(n, 2 * rows);
                xb = new float[rows * c.hiddenSize()];
                q = new float[rows * c.qDim()];
                k = new float[rows * c.kvDim()];
                v = new float[rows * c.kvDim()];
                att = new float[rows * c.qDim()];
                out = new float[rows * c.hiddenSize()];
                if (c.moe() != null) {
                    routerLogits = new float[rows * c.moe().numExperts()];
                    chosen = new int[rows * c.moe().topK()];
                    gates = new float[rows * c.moe().topK()];
                }
            }
            return this;
        }
    }

    public Transformer(ModelWeights weights, Backend backend, ExpertSet experts, Probe probe) {
        this.c = weights.config();
        this.w = weights;
        this.backend = backend;
        this.experts = experts;
        this.probe = probe;
        RopeConfig rope = weights.ropeFreqFactors().map(c.rope()::withFreqFactors).orElse(c.rope());
        this.invFreq = rope.inverseFrequencies();
    }

    public Transformer(ModelWeights weights, Backend backend) {
        this(weights, backend, LocalExpertSet.of(weights, backend), Probe.NONE);
    }

    public ModelConfig config() {
        return c;
    }

    /**
     * Runs {@code tokens} at the cache's next positions through the whole model and returns the logits of
     * the last one (vocab), or of every one ({@code tokens.length * vocab}) when {@code allLogits}.
     */
    public float[] forward(int[] tokens, KvCache cache, boolean allLogits) {
        Batch batch = Batch.of(List.of(new Segment(cache, tokens)));
        float[] x = run(batch);
        int n = tokens.length;
        int rows = allLogits ? n : 1;
        float[] last = new float[rows * c.hiddenSize()];
        System.arraycopy(x, (n - rows) * c.hiddenSize(), last, 0, last.length);
        float[] logits = new float[rows * c.vocabSize()];
        head(last, rows, logits);
        return logits;
    }

    public float[] forward(int[] tokens, KvCache cache) {
        return forward(tokens, cache, false);
    }

    /**
     * One step of continuous batching: every segment (a prefill chunk or one decode token of its own
     * sequence) runs in the same pass, and each sequence's result is exactly what it would be alone.
     * Returns the logits of each segment's last token, (segments, vocab).
     */
    public float[] forward(List<Segment> segments) {
        Batch batch = Batch.of(segments);
        float[] x = run(batch);
        int h = c.hiddenSize();
        float[] last = new float[segments.size() * h];
        for (int s = 0; s < segments.size(); s++) {
            System.arraycopy(x, (batch.end(s) - 1) * h, last, s * h, h);
        }
        float[] logits = new float[segments.size() * c.vocabSize()];
        head(last, segments.size(), logits);
        return logits;
    }

    /** Embeds and runs all layers for a batch, then advances each segment's cache; returns x (rows, hidden). */
    private float[] run(Batch batch) {
        float[] x = new float[batch.rows() * c.hiddenSize()]; // (rows, hidden)
        embed(batch.tokens(), x);
        layers(0, c.numLayers(), x, batch);
        batch.advanceCaches();
        return x;
    }

    /** Embedding rows of {@code tokens} into x (n, hidden). */
    public void embed(int[] tokens, float[] x) {
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] < 0 || tokens[i] >= c.vocabSize()) {
                throw new IllegalArgumentException("token id " + tokens[i] + " outside the vocabulary of "
                        + c.vocabSize());
            }
            backend.getRow(w.embedding(), tokens[i], x, i * c.hiddenSize());
        }
        probe.on("embd", -1, x, tokens.length, c.hiddenSize());
    }

    /** Final norm and LM head: x (n, hidden) to logits (n, vocab). x is overwritten. */
    public void head(float[] x, int n, float[] logits) {
        backend.rmsNorm(x, w.finalNorm(), c.normEps(), c.hiddenSize(), n, x);
        probe.on("result_norm", -1, x, n, c.hiddenSize());
        backend.matmul(w.lmHead(), x, logits, n);
        probe.on("result_output", -1, logits, n, c.vocabSize());
    }

    /**
     * Decoder layers {@code [from, to)} on x (rows, hidden) in place. Writes each row's key and value at its
     * position into its segment's cache; the caller advances the caches once all layers ran.
     */
    public void layers(int from, int to, float[] x, Batch batch) {
        // every segment's blocks for its new positions, before any layer runs: a full KV store fails the step
        // here, with no cache half-written
        for (int s = 0; s < batch.segments(); s++) {
            int first = batch.positions()[batch.start(s)];
            batch.cache(s).prepareWrite(first, first + batch.end(s) - batch.start(s));
        }
        int n = batch.rows();
        int[] positions = batch.positions();
        int h = c.hiddenSize();
        Buffers b = buffers.get().ensure(n, c);
        float[] xb = b.xb;                             // (n, hidden)
        float[] q = b.q;                               // (n, heads * headDim)
        float[] k = b.k;                               // (n, kvHeads * headDim)
        float[] v = b.v;                               // (n, kvHeads * headDim)
        float[] att = b.att;                           // (n, heads * headDim)
        float[] out = b.out;                           // (n, hidden)
        for (int l = from; l < to; l++) {
            LayerWeights lw = w.layer(l);
            LayerSpec spec = c.layer(l);

            // attention block
            backend.rmsNorm(x, lw.attnNorm(), c.normEps(), h, n, xb);
            backend.matmul(lw.wq(), xb, q, n);
            backend.matmul(lw.wk(), xb, k, n);
            backend.matmul(lw.wv(), xb, v, n);
            if (c.qkNorm() == QkNorm.RMS_WEIGHTED) {
                backend.rmsNorm(q, lw.qNorm(), c.normEps(), c.headDim(), n * c.numHeads(), q);
                backend.rmsNorm(k, lw.kNorm(), c.normEps(), c.headDim(), n * c.numKvHeads(), k);
            }
            if (spec.rope()) {
                backend.rope(q, n, c.numHeads(), c.headDim(), positions, invFreq, c.rope().style());
                backend.rope(k, n, c.numKvHeads(), c.headDim(), positions, invFreq, c.rope().style());
                if (c.qkNorm() == QkNorm.L2_AFTER_ROPE) {
                    backend.rmsNorm(q, null, c.normEps(), c.headDim(), n * c.numHeads(), q);
                    backend.rmsNorm(k, null, c.normEps(), c.headDim(), n * c.numKvHeads(), k);
                }
            } else if (c.temperature() != null) {
                for (int i = 0; i < n; i++) {
                    float s = c.temperature().scaleAt(positions[i]);
                    for (int j = i * c.qDim(); j < (i + 1) * c.qDim(); j++) {
                        q[j] *= s;
                    }
                }
            }
            probe.on("Qcur", l, q, n, c.qDim());
            probe.on("Kcur", l, k, n, c.kvDim());
            AttentionParams ap = new AttentionParams(c.numHeads(), c.numKvHeads(), c.headDim(),
                    (float) (1.0 / Math.sqrt(c.headDim())), spec.chunkedAttention() ? c.attentionChunkSize() : 0);
            attention(l, ap, batch, q, k, v, att);
            backend.matmul(lw.wo(), att, out, n);
            add(x, out, n * h);
            probe.on("attn_out", l, x, n, h);

            // feed-forward block
            backend.rmsNorm(x, lw.ffnNorm(), c.normEps(), h, n, xb);
            if (spec.moe()) {
                moe(l, lw, xb, n, out, b);
            } else {
                FeedForward.swiglu(backend, lw.dense(), xb, n, out);
            }
            add(x, out, n * h);
            probe.on("l_out", l, x, n, h);
        }
    }

    /** Writes each segment's keys and values into its cache's blocks and attends over them, segment by segment. */
    private void attention(int l, AttentionParams ap, Batch batch, float[] q, float[] k, float[] v, float[] att) {
        int qDim = c.qDim();
        for (int s = 0; s < batch.segments(); s++) {
            KvCache cache = batch.cache(s);
            int from = batch.start(s);
            int len = batch.end(s) - from;
            cache.write(l, batch.positions(), from, len, k, v);
            PagedKv kv = cache.view(l);
            if (batch.segments() == 1) {
                backend.attention(ap, q, batch.positions(), len, kv, att);
                continue;
            }
            // (len, heads * headDim) slices of this segment's queries and outputs
            float[] qs = Arrays.copyOfRange(q, from * qDim, (from + len) * qDim);
            float[] os = new float[len * qDim];
            backend.attention(ap, qs, Arrays.copyOfRange(batch.positions(), from, from + len), len, kv, os);
            System.arraycopy(os, 0, att, from * qDim, len * qDim);
        }
    }

    /** The MoE block: route, then the expert set dispatches, runs and combines; plus the shared expert. */
    private void moe(int l, LayerWeights lw, float[] xb, int n, float[] out, Buffers b) {
        float[] logits = b.routerLogits; // (n, experts)
        backend.matmul(lw.router(), xb, logits, n);
        probe.on("ffn_moe_logits", l, logits, n, c.moe().numExperts());
        Routing routing = Router.route(c.moe(), backend, logits, n, b.chosen, b.gates);
        if (lw.shared() != null) {
            FeedForward.swiglu(backend, lw.shared(), xb, n, out);
        } else {
            Arrays.fill(out, 0, n * c.hiddenSize(), 0f);
        }
        experts.forward(l, xb, n, routing, out);
    }

    private static void add(float[] x, float[] y, int len) {
        for (int i = 0; i < len; i++) {
            x[i] += y[i];
        }
    }
}
