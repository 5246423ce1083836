package dev.herd.kernels;

/**
 * Shape and masking of one attention layer.
 *
 * @param nHeads    query heads
 * @param nKvHeads  key/value heads; {@code nHeads} is a multiple of it (grouped-query attention)
 * @param headDim   dimensions per head
 * @param scale     logit scale, usually {@code 1/sqrt(headDim)}
 * @param chunkSize 0 for global causal attention; otherwise a query at position p sees only keys of its
 *                  own chunk, positions {@code [p - p % chunkSize, p]} (Llama 4's chunked local attention)
 */
public record AttentionParams(int nHeads, int nKvHeads, int headDim, float scale, int chunkSize) {
    public AttentionParams {
        if (nHeads <= 0 || nKvHeads <= 0 || headDim <= 0 || nHeads % nKvHeads != 0 || chunkSize < 0) {
            throw new IllegalArgumentException("bad attention shape: heads " + nHeads + ", kv heads " + nKvHeads
                    + ", head dim " + headDim + ", chunk " + chunkSize);
        }
    }

    public int qDim() {
        return nHeads * headDim;
    }

    public int kvDim() {
        return nKvHeads * headDim;
    }
}
