package dev.herd.coordinator.plan;

import dev.herd.kernels.DType;
import dev.herd.model.config.LayerSpec;
import dev.herd.model.config.ModelConfig;
import dev.herd.model.config.MoeConfig;
import dev.herd.model.config.QkNorm;

import java.util.ArrayList;
import java.util.List;

/**
 * The tensor sizes the planner places, in bytes as stored (block scales included).
 *
 * @param hiddenSize      residual width: what one token's activation between stages or to a remote expert is
 * @param embeddingBytes  token embedding matrix
 * @param lmHeadBytes     output projection matrix (the embedding's size again when tied, since a last stage
 *                        on another node needs its own copy)
 * @param finalNormBytes  the norm before the LM head
 * @param tiedEmbeddings  the LM head is the embedding matrix, so one node holding both stores it once
 * @param layers          decoder layers in order
 */
public record ModelShape(int hiddenSize, long embeddingBytes, long lmHeadBytes, long finalNormBytes,
                         boolean tiedEmbeddings, List<LayerShape> layers) {
    public ModelShape {
        layers = List.copyOf(layers);
        if (hiddenSize <= 0 || embeddingBytes < 0 || lmHeadBytes < 0 || finalNormBytes < 0 || layers.isEmpty()) {
            throw new IllegalArgumentException("bad model shape: hidden " + hiddenSize + ", embedding "
                    + embeddingBytes + ", head " + lmHeadBytes + ", " + layers.size() + " layers");
        }
    }

    /**
     * Sizes of a model stored with the given types. Norms and the router stay F32 in a quantized file (as
     * llama.cpp's quantizer leaves 1-D tensors and {@code ffn_gate_inp}), else they take the dense type. A
     * row that is not a whole number of blocks is counted with its last block full.
     */
    public static ModelShape of(ModelConfig c, WeightTypes types) {
        DType dense = types.dense();
        DType experts = types.experts();
        DType small = dense.quantized() ? DType.F32 : dense;
        long h = c.hiddenSize();
        long kvPerToken = 2L * c.kvDim() * Float.BYTES; // keys and values, kept in f32
        long attention = matrix(dense, c.qDim(), h) + 2 * matrix(dense, c.kvDim(), h) + matrix(dense, h, c.qDim())
                + 2 * matrix(small, 1, h)
                + (c.qkNorm() == QkNorm.RMS_WEIGHTED ? 2 * matrix(small, 1, c.headDim()) : 0);
        List<LayerShape> layers = new ArrayList<>(c.numLayers());
        for (LayerSpec spec : c.layers()) {
            if (spec.moe()) {
                MoeConfig m = c.moe();
                long router = matrix(small, m.numExperts(), h);
                long shared = m.sharedExpertFfnDim() > 0 ? swiglu(dense, h, m.sharedExpertFfnDim()) : 0;
                layers.add(new LayerShape(attention + router + shared, m.numExperts(), m.topK(),
                        swiglu(experts, h, m.expertFfnDim()), kvPerToken));
            } else {
                layers.add(LayerShape.dense(attention + swiglu(dense, h, c.ffnDim()), kvPerToken));
            }
        }
        long embedding = matrix(dense, c.vocabSize(), h);
        return new ModelShape(c.hiddenSize(), embedding, embedding, matrix(small, 1, h), c.tiedEmbeddings(), layers);
    }

    /** Bytes of a (rows, cols) weight: each row is a whole number of blocks. */
    static long matrix(DType t, long rows, long cols) {
        return rows * ((cols + t.blockSize() - 1) / t.blockSize()) * t.blockBytes();
    }

    /** Gate and up (ffn, hidden) and down (hidden, ffn). */
    private static long swiglu(DType t, long hidden, long ffn) {
        return 2 * matrix(t, ffn, hidden) + matrix(t, hidden, ffn);
    }

    public int numLayers() {
        return layers.size();
    }

    public LayerShape layer(int i) {
        return layers.get(i);
    }

    /** The LM head group as held on a node: the final norm, plus the matrix unless it is the node's embedding. */
    public long lmHeadBytesOn(boolean sameNodeAsEmbedding) {
        return finalNormBytes + (tiedEmbeddings && sameNodeAsEmbedding ? 0 : lmHeadBytes);
    }

    /** Every weight once: the least any placement needs. */
    public long totalWeightBytes() {
        long sum = embeddingBytes + lmHeadBytesOn(true);
        for (LayerShape l : layers) {
            sum += l.totalBytes();
        }
        return sum;
    }

    public long kvBytesPerToken() {
        long sum = 0;
        for (LayerShape l : layers) {
            sum += l.kvBytesPerToken();
        }
        return sum;
    }
}
