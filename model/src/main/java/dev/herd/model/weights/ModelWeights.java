package dev.herd.model.weights;

import dev.herd.kernels.DType;
import dev.herd.kernels.Dequant;
import dev.herd.kernels.Tensor;
import dev.herd.model.config.LayerSpec;
import dev.herd.model.config.ModelConfig;
import dev.herd.model.config.QkNorm;
import dev.herd.model.forward.FfnWeights;
import dev.herd.model.forward.LayerWeights;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A model's weights resolved from a {@link WeightStore}: every tensor checked against the config's shapes
 * when it is first resolved, norm vectors read as f32 (they are tiny), matrices left in mapped memory.
 *
 * <p>Only layers in {@code [firstLayer, endLayer)} are resolved, and experts only when first asked for; a
 * {@link Part} leaves out the embedding, the head or the layers' own weights as well, so a node holding part of
 * a model touches only its part. The one copy Herd makes is for Llama 4's fused
 * Hugging Face expert tensors, which are stored transposed ((in, out)): each expert used is transposed once
 * into off-heap memory owned by this object.
 */
public final class ModelWeights implements AutoCloseable {
    private final ModelConfig config;
    private final WeightStore store;
    private final TensorNames names;
    private final int firstLayer;
    private final int endLayer;
    private final LayerWeights[] layers;
    private final Map<Long, FfnWeights> experts = new ConcurrentHashMap<>();
    private final Arena arena = Arena.ofShared();
    private final Part part;
    private final Tensor embedding;
    private final Tensor lmHead;
    private final float[] finalNorm;

    /**
     * What of a model one {@link ModelWeights} resolves, so that a node holding part of a model touches (and,
     * when it pulls weights from peers, needs) only that part.
     *
     * @param firstLayer   first decoder layer whose routed experts may be asked for
     * @param endLayer     one past the last
     * @param layerWeights resolve the layers' own weights (norms, attention, router, shared and dense FFN); false
     *                     for a node that only serves some of the layers' routed experts
     * @param embedding    resolve the token embedding (the first stage)
     * @param head         resolve the final norm and the LM head (the last stage; with tied embeddings, or a GGUF
     *                     file without {@code output.weight}, the head is the embedding)
     */
    public record Part(int firstLayer, int endLayer, boolean layerWeights, boolean embedding, boolean head) {
        /** A pipeline stage: its layers' weights, and the embedding and head when it is the first or last stage. */
        public static Part stage(int firstLayer, int endLayer, boolean embedding, boolean head) {
            return new Part(firstLayer, endLayer, true, embedding, head);
        }

        /** Routed experts of layers {@code [firstLayer, endLayer)} and nothing else. */
        public static Part experts(int firstLayer, int endLayer) {
            return new Part(firstLayer, endLayer, false, false, false);
        }
    }

    /**
     * Layers {@code [firstLayer, endLayer)} with the embedding and the head, every routed expert of those layers
     * checked at once.
     */
    public ModelWeights(ModelConfig config, WeightStore store, CheckpointFormat format, int firstLayer, int endLayer) {
        this(config, store, format, new Part(firstLayer, endLayer, true, true, true), true);
    }

    /**
     * Only {@code part}. Routed experts are checked when first resolved (a node resolves the experts it holds
     * while loading), not all at once: the experts a stage dispatches to other nodes need not be here at all.
     */
    public static ModelWeights part(ModelConfig config, WeightStore store, CheckpointFormat format, Part part) {
        return new ModelWeights(config, store, format, part, false);
    }

    private ModelWeights(ModelConfig config, WeightStore store, CheckpointFormat format, Part part,
                         boolean checkAllExperts) {
        int firstLayer = part.firstLayer();
        int endLayer = part.endLayer();
        if (firstLayer < 0 || endLayer > config.numLayers() || firstLayer >= endLayer) {
            throw new IllegalArgumentException("bad layer range [" + firstLayer + ", " + endLayer + ") of "
                    + config.numLayers());
        }
        this.config = config;
        this.store = store;
        this.names = TensorNames.of(config.arch(), format, store);
        this.part = part;
        this.firstLayer = firstLayer;
        this.endLayer = endLayer;
        this.layers = new LayerWeights[config.numLayers()];
        int h = config.hiddenSize();
        Tensor head = null;
        if (part.head()) {
            if (store.names().contains(names.lmHead())) {
                head = checkShape(store.get(names.lmHead()), config.vocabSize(), h);
            } else if (!config.tiedEmbeddings() && format == CheckpointFormat.HUGGING_FACE) {
                throw new ModelFormatException(store.describe() + ": no tensor '" + names.lmHead()
                        + "' and the config does not tie embeddings");
            }
        }
        this.embedding = part.embedding() || (part.head() && head == null)
                ? matrix(names.embedding(), config.vocabSize(), h) : null;
        this.lmHead = head != null ? head : part.head() ? embedding : null;
        this.finalNorm = part.head() ? vector(names.finalNorm(), h) : null;
        if (part.layerWeights()) {
            for (int l = firstLayer; l < endLayer; l++) {
                layers[l] = loadLayer(l);
                if (checkAllExperts && config.layer(l).moe()) {
                    checkExperts(l);
                }
            }
        }
    }

    /**
     * Every routed expert of a loaded layer must exist with the right shape before the model is used, so a
     * broken checkpoint fails at load rather than on the first token routed to the broken expert. Only
     * headers are read; nothing is copied.
     */
    private void checkExperts(int l) {
        int h = config.hiddenSize();
        int f = config.moe().expertFfnDim();
        int n = config.moe().numExperts();
        if (names.format() == CheckpointFormat.GGUF) {
            stacked(names.stackedExperts(l, "gate"), n, f, h);
            stacked(names.stackedExperts(l, "up"), n, f, h);
            stacked(names.stackedExperts(l, "down"), n, h, f);
        } else if (store.find(names.fusedGateUp(l)).isPresent()) {
            expectShape(store.get(names.fusedGateUp(l)), n, h, 2L * f);
            expectShape(store.get(names.fusedDown(l)), n, f, h);
        } else {
            for (int e = 0; e < n; e++) {
                matrix(names.expert(l, e, "gate"), f, h);
                matrix(names.expert(l, e, "up"), f, h);
                matrix(names.expert(l, e, "down"), h, f);
            }
        }
    }

    /** All layers. */
    public ModelWeights(ModelConfig config, WeightStore store, CheckpointFormat format) {
        this(config, store, format, 0, config.numLayers());
    }

    public ModelConfig config() {
        return config;
    }

    public Tensor embedding() {
        return resolved(embedding, "the token embedding");
    }

    public Tensor lmHead() {
        return resolved(lmHead, "the LM head");
    }

    public float[] finalNorm() {
        return resolved(finalNorm, "the final norm");
    }

    private <T> T resolved(T weight, String what) {
        if (weight == null) {
            throw new IllegalStateException(what + " is not part of these weights (" + part + ")");
        }
        return weight;
    }

    public LayerWeights layer(int l) {
        LayerWeights w = l >= 0 && l < layers.length ? layers[l] : null;
        if (w == null) {
            throw new IllegalArgumentException("layer " + l + " is not loaded here (loaded: [" + firstLayer + ", "
                    + endLayer + "))");
        }
        return w;
    }

    /** GGUF {@code rope_freqs} divisors if the file has them (Llama 3 style scaling baked in by converters). */
    public Optional<float[]> ropeFreqFactors() {
        if (names.format() != CheckpointFormat.GGUF) {
            return Optional.empty();
        }
        return store.find(names.ropeFreqs()).map(t -> toFloats(t, config.rope().rotaryDim() / 2));
    }

    private LayerWeights loadLayer(int l) {
        int h = config.hiddenSize();
        LayerSpec spec = config.layer(l);
        boolean qk = config.qkNorm() == QkNorm.RMS_WEIGHTED;
        FfnWeights dense = null;
        Tensor router = null;
        FfnWeights shared = null;
        if (spec.moe()) {
            router = matrix(names.router(l), config.moe().numExperts(), h);
            if (config.moe().sharedExpertFfnDim() > 0) {
                int s = config.moe().sharedExpertFfnDim();
                shared = new FfnWeights(matrix(names.shared(l, "gate"), s, h), matrix(names.shared(l, "up"), s, h),
                        matrix(names.shared(l, "down"), h, s));
            }
        } else {
            int f = config.ffnDim();
            dense = new FfnWeights(matrix(names.dense(l, "gate"), f, h), matrix(names.dense(l, "up"), f, h),
                    matrix(names.dense(l, "down"), h, f));
        }
        return new LayerWeights(vector(names.attnNorm(l), h),
                matrix(names.wq(l), config.qDim(), h), matrix(names.wk(l), config.kvDim(), h),
                matrix(names.wv(l), config.kvDim(), h), matrix(names.wo(l), h, config.qDim()),
                qk ? vector(names.qNorm(l), config.headDim()) : null,
                qk ? vector(names.kNorm(l), config.headDim()) : null,
                vector(names.ffnNorm(l), h), dense, router, shared);
    }

    /** Routed expert {@code e} of MoE layer {@code l}, resolved (and checked) on first use. */
    public FfnWeights expert(int l, int e) {
        if (l < firstLayer || l >= endLayer) {
            throw new IllegalArgumentException("layer " + l + " is not loaded here (loaded: [" + firstLayer + ", "
                    + endLayer + "))");
        }
        if (!config.layer(l).moe() || e < 0 || e >= config.moe().numExperts()) {
            throw new IllegalArgumentException("layer " + l + " has no routed expert " + e);
        }
        return experts.computeIfAbsent(((long) l << 32) | e, k -> loadExpert(l, e));
    }

    private FfnWeights loadExpert(int l, int e) {
        int h = config.hiddenSize();
        int f = config.moe().expertFfnDim();
        int numExperts = config.moe().numExperts();
        if (names.format() == CheckpointFormat.GGUF) {
            return new FfnWeights(
                    checkShape(stacked(names.stackedExperts(l, "gate"), numExperts, f, h).slice(e), f, h),
                    checkShape(stacked(names.stackedExperts(l, "up"), numExperts, f, h).slice(e), f, h),
                    checkShape(stacked(names.stackedExperts(l, "down"), numExperts, h, f).slice(e), h, f));
        }
        if (store.names().contains(names.fusedGateUp(l))) {
            Tensor gateUp = store.get(names.fusedGateUp(l));
            Tensor down = store.get(names.fusedDown(l));
            expectShape(gateUp, numExperts, h, 2L * f);
            expectShape(down, numExperts, f, h);
            return new FfnWeights(transposed(gateUp, e, 0, f, names.fusedGateUp(l) + "[" + e + "].gate"),
                    transposed(gateUp, e, f, f, names.fusedGateUp(l) + "[" + e + "].up"),
                    transposed(down, e, 0, h, names.fusedDown(l) + "[" + e + "]"));
        }
        return new FfnWeights(matrix(names.expert(l, e, "gate"), f, h), matrix(names.expert(l, e, "up"), f, h),
                matrix(names.expert(l, e, "down"), h, f));
    }

    /**
     * Columns {@code [colStart, colStart + cols)} of slice {@code e} of a stored (experts, in, out) tensor,
     * as an (cols, in) matrix: the layout every backend multiplies.
     */
    private Tensor transposed(Tensor t, int e, int colStart, int cols, String name) {
        int elem = switch (t.dtype()) {
            case F32 -> 4;
            case F16, BF16 -> 2;
            default -> throw new ModelFormatException(store.describe() + ": tensor '" + t.name() + "' is "
                    + t.dtype() + "; fused (in, out) expert tensors are supported in F32, F16 and BF16 only");
        };
        int in = Math.toIntExact(t.dim(1));
        int outAll = Math.toIntExact(t.dim(2));
        MemorySegment src = t.data().asSlice((long) e * in * outAll * elem, (long) in * outAll * elem);
        MemorySegment dst = arena.allocate((long) cols * in * elem, 8);
        for (int o = 0; o < cols; o++) {
            for (int i = 0; i < in; i++) {
                MemorySegment.copy(src, ((long) i * outAll + colStart + o) * elem, dst, ((long) o * in + i) * elem, elem);
            }
        }
        return new Tensor(name, t.dtype(), new long[]{cols, in}, dst);
    }

    private Tensor stacked(String name, long experts, long rows, long cols) {
        Tensor t = store.get(name);
        expectShape(t, experts, rows, cols);
        return t;
    }

    private Tensor matrix(String name, long rows, long cols) {
        return checkShape(store.get(name), rows, cols);
    }

    private Tensor checkShape(Tensor t, long... expected) {
        expectShape(t, expected);
        return t;
    }

    private void expectShape(Tensor t, long... expected) {
        if (!Arrays.equals(t.shape(), expected)) {
            throw new ModelFormatException(store.describe() + ": tensor '" + t.name() + "' has shape "
                    + Arrays.toString(t.shape()) + ", the config implies " + Arrays.toString(expected));
        }
    }

    private float[] vector(String name, int length) {
        return toFloats(store.get(name), length);
    }

    private float[] toFloats(Tensor t, int length) {
        if (t.elementCount() != length) {
            throw new ModelFormatException(store.describe() + ": tensor '" + t.name() + "' has shape "
                    + Arrays.toString(t.shape()) + ", expected " + length + " elements");
        }
        if (t.dtype().quantized()) {
            throw new ModelFormatException(store.describe() + ": norm tensor '" + t.name() + "' is " + t.dtype()
                    + "; norm weights must be F32, F16 or BF16");
        }
        float[] out = new float[length];
        Dequant.row(t.reshape(t.name(), length), 0, out, 0);
        return out;
    }


    @Override
    public void close() {
        arena.close();
    }
}
