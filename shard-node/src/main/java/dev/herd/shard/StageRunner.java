package dev.herd.shard;

import dev.herd.model.config.ModelConfig;
import dev.herd.model.forward.Batch;
import dev.herd.model.forward.KvCache;
import dev.herd.model.forward.Segment;
import dev.herd.model.forward.Transformer;
import dev.herd.model.sampling.InvalidSamplingParameterException;
import dev.herd.model.sampling.SampledToken;
import dev.herd.model.sampling.Sampler;
import dev.herd.proto.v1.FailureReason;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The math of one pipeline stage: embed (first stage), run this node's layers against its KV caches, and on
 * the last stage apply the head and choose tokens. The same {@link Transformer} calls a single process makes,
 * split at layer boundaries, so a distributed F32 run computes the same function bit for bit.
 *
 * <p>Not thread-safe: a node runs its steps one at a time on one worker thread.
 */
final class StageRunner {
    private final ModelConfig c;
    private final Transformer transformer;
    private final LayerRange layers;
    private final boolean embedding;
    private final boolean lmHead;
    private final SequenceCaches caches;

    StageRunner(Transformer transformer, LayerRange layers, boolean embedding, boolean lmHead, SequenceCaches caches) {
        this.c = transformer.config();
        this.transformer = transformer;
        this.layers = layers;
        this.embedding = embedding;
        this.lmHead = lmHead;
        this.caches = caches;
    }

    /** What a step produced: hidden states for the next stage, or the last stage's chosen tokens. */
    sealed interface Outcome permits Hidden, Chosen {
    }

    /** (rows, hidden) after this stage's last layer. */
    record Hidden(float[] x) implements Outcome {
    }

    /** One token per sampled row, in sample-row order. */
    record Chosen(List<TokenChoice> tokens) implements Outcome {
    }

    Outcome run(StageStep step) {
        check(step);
        List<Long> forked = new ArrayList<>(step.forks().size());
        try {
            for (var f : step.forks()) {
                caches.fork(f.getSeqId(), f.getSourceSeqId(), f.getPositions());
                forked.add(f.getSeqId());
            }
            Outcome out = runRows(step);
            for (long seq : step.releaseAfter()) {
                caches.release(seq);
            }
            return out;
        } catch (RuntimeException e) {
            for (long seq : forked) {
                caches.release(seq); // a refused step leaves every sequence as it was
            }
            throw e;
        }
    }

    private Outcome runRows(StageStep step) {
        int n = step.rows();
        int h = c.hiddenSize();
        // Segments: each sequence's consecutive rows, checked whole before any cache is touched, so a refused
        // frame leaves every sequence as it was.
        List<int[]> spans = new ArrayList<>();                  // {first row, rows}
        Set<Long> seen = new HashSet<>();
        for (int r = 0; r < n; ) {
            long seq = step.seqIds()[r];
            int end = r + 1;
            while (end < n && step.seqIds()[end] == seq) {
                if (step.positions()[end] != step.positions()[end - 1] + 1) {
                    throw FrameRejected.badFrame("step " + step.stepId() + ": sequence " + seq + " has positions "
                            + step.positions()[end - 1] + " then " + step.positions()[end]);
                }
                end++;
            }
            if (!seen.add(seq)) {
                throw FrameRejected.badFrame("step " + step.stepId() + ": the rows of sequence " + seq
                        + " are not contiguous");
            }
            caches.check(seq, step.positions()[r]);
            spans.add(new int[]{r, end - r});
            r = end;
        }
        checkSampling(step);
        // KV caches are extended (or rewound for a resent step) before the batch is formed, because a batch
        // reads each row's position from its cache's length.
        List<Segment> segments = new ArrayList<>();
        for (int[] span : spans) {
            KvCache cache = caches.extend(step.seqIds()[span[0]], step.positions()[span[0]]);
            // the token ids of a batch are only read by embed, which this stage calls itself with the frame's ids
            segments.add(new Segment(cache, new int[span[1]]));
        }
        Batch batch = Batch.of(segments);

        float[] x;                                              // (n, hidden)
        if (embedding) {
            x = new float[n * h];
            transformer.embed(step.tokens(), x);
        } else {
            x = step.hidden();
        }
        transformer.layers(layers.start(), layers.end(), x, batch);
        for (Segment s : segments) {
            s.cache().advance(s.tokens().length);
        }
        if (!lmHead) {
            return new Hidden(x);
        }
        int[] sample = step.sampleRows();
        float[] last = new float[sample.length * h];            // (samples, hidden)
        for (int i = 0; i < sample.length; i++) {
            System.arraycopy(x, sample[i] * h, last, i * h, h);
        }
        List<TokenChoice> tokens = new ArrayList<>(sample.length);
        if (sample.length > 0) {
            float[] logits = new float[sample.length * c.vocabSize()]; // (samples, vocab)
            transformer.head(last, sample.length, logits);
            for (int i = 0; i < sample.length; i++) {
                long seq = step.seqIds()[sample[i]];
                Sampler sampler = caches.sampler(seq);
                SampledToken token = sampler.sample(logits, i * c.vocabSize());
                sampler.accept(token.id());
                tokens.add(new TokenChoice(seq, step.positions()[sample[i]] + 1, token));
            }
        }
        return new Chosen(tokens);
    }

    /** What only this stage can judge: its layer, its kind of input, its vocabulary, its sampling state. */
    private void check(StageStep step) {
        String what = "step " + step.stepId();
        if (step.layer() != layers.start()) {
            throw new FrameRejected(FailureReason.FAILURE_REASON_BAD_FRAME, what + " is for layer " + step.layer()
                    + " on, this stage runs layers " + layers);
        }
        if (embedding && step.tokens() == null) {
            throw FrameRejected.badFrame(what + " carries hidden states, but this stage embeds token ids");
        }
        if (!embedding && step.hidden() == null) {
            throw FrameRejected.badFrame(what + " carries token ids, but this stage does not hold the embedding");
        }
        if (step.tokens() != null) {
            for (int t : step.tokens()) {
                if (t < 0 || t >= c.vocabSize()) {
                    throw FrameRejected.badFrame(what + " has token id " + Integer.toUnsignedString(t)
                            + " outside the vocabulary of " + c.vocabSize());
                }
            }
        }
    }

    /**
     * The last stage keeps each sequence's sampler; every sampled sequence must have one. A sampler that arrives
     * is built from its history, so a sequence that joins again (recomputed after a preemption or a re-plan)
     * continues with the draws it would have had.
     */
    private void checkSampling(StageStep step) {
        if (!lmHead) {
            return;
        }
        List<Sampler> arrived = new ArrayList<>(step.params().size());
        for (SequenceParams p : step.params()) {
            for (int t : p.history()) {
                if (t < 0 || t >= c.vocabSize()) {
                    throw FrameRejected.badFrame("step " + step.stepId() + ": sequence " + p.seqId()
                            + " has history token " + Integer.toUnsignedString(t) + " outside the vocabulary of "
                            + c.vocabSize());
                }
            }
            try {
                arrived.add(p.sampler(c.vocabSize()));
            } catch (InvalidSamplingParameterException e) {
                throw FrameRejected.badFrame("step " + step.stepId() + ": sequence " + p.seqId() + ": "
                        + e.getMessage());
            }
        }
        for (int i = 0; i < arrived.size(); i++) {
            caches.setSampler(step.params().get(i).seqId(), arrived.get(i));
        }
        for (int r : step.sampleRows()) {
            if (caches.sampler(step.seqIds()[r]) == null) {
                throw FrameRejected.badFrame("step " + step.stepId() + " samples sequence " + step.seqIds()[r]
                        + ", whose sampling parameters never arrived (they come with its first step)");
            }
        }
    }
}
