package dev.herd.kernels;

/**
 * The kernels a forward pass needs. Activations are f32 row-major arrays on the Java heap (native
 * backends pass them to C as critical heap segments, so no copies are made); weights are {@link Tensor}s
 * over mapped model memory in any {@link DType}.
 *
 * <p>The plain-Java {@link ReferenceBackend} is the oracle every other backend is tested against.
 * Backends are chosen in configuration and passed in; there is no global default.
 */
public interface Backend extends AutoCloseable {

    String name();

    /**
     * {@code y (n, w.rows) = x (n, w.cols) · wᵀ}: each of the {@code n} activation rows times the
     * weight matrix {@code w (out, in)}.
     */
    void matmul(Tensor w, float[] x, float[] y, int n);

    /** Row {@code row} of {@code table (rows, cols)} as f32 into {@code out[outOffset, outOffset + cols)}. */
    void getRow(Tensor table, long row, float[] out, int outOffset);

    /**
     * RMSNorm of {@code n} rows of length {@code dim}: {@code out = x / sqrt(mean(x²) + eps) * weight}.
     * A null {@code weight} means no weight (the L2 norm of Llama 4's q/k). {@code out} may be {@code x}.
     */
    void rmsNorm(float[] x, float[] weight, float eps, int dim, int n, float[] out);

    /**
     * Rotary position embedding in place on {@code x (n, heads, headDim)}: in each head, the first
     * {@code invFreq.length * 2} dimensions are rotated by {@code position * invFreq[i]}, pairing dims
     * as {@code style} says.
     */
    void rope(float[] x, int n, int heads, int headDim, int[] positions, float[] invFreq, RopeStyle style);

    /**
     * Causal grouped-query attention for {@code n} query rows of one sequence.
     *
     * @param q         {@code (n, nHeads * headDim)}, already scaled by nothing: the kernel applies {@code p.scale()}
     * @param positions the position of each query row
     * @param kCache    {@code (capacity, nKvHeads * headDim)}: keys by position, valid up to the largest query position
     * @param vCache    likewise for values
     * @param out       {@code (n, nHeads * headDim)}
     */
    void attention(AttentionParams p, float[] q, int[] positions, int n, float[] kCache, float[] vCache, float[] out);

    /** {@code gate[i] = silu(gate[i]) * up[i]} for i below {@code len}. */
    void swiglu(float[] gate, float[] up, int len);

    /** Softmax in place over {@code x[offset, offset + len)}. */
    void softmax(float[] x, int offset, int len);

    @Override
    default void close() {
    }
}
