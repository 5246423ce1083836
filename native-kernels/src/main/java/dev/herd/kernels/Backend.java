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
     * @param cache     this layer's keys and values of the sequence, rows of {@code nKvHeads * headDim} in blocks,
     *                  valid up to the largest query position; read in place through its block table
     * @param out       {@code (n, nHeads * headDim)}
     */
    void attention(AttentionParams p, float[] q, int[] positions, int n, PagedKv cache, float[] out);

    /** {@code gate[i] = silu(gate[i]) * up[i]} for i below {@code len}. */
    void swiglu(float[] gate, float[] up, int len);

    /** Softmax in place over {@code x[offset, offset + len)}. */
    void softmax(float[] x, int offset, int len);

    /**
     * A SwiGLU feed-forward in one call: {@code y (n, hidden) = down · (silu(gate · x) ⊙ (up · x))} for
     * {@code x (n, hidden)}, with {@code gate} and {@code up} of shape {@code (ffn, hidden)} and {@code down}
     * {@code (hidden, ffn)}. The default runs the three products and {@link #swiglu} on per-thread scratch
     * rows; a backend that can keep the {@code (n, ffn)} intermediate to itself, or fuse the steps,
     * overrides it.
     */
    default void swigluFfn(Tensor gate, Tensor up, Tensor down, float[] x, int n, float[] y) {
        long ffn = KernelArgs.checkFfn(gate, up, down, x, n, y);
        SwigluScratch s = SwigluScratch.of(n * ffn);
        matmul(gate, x, s.gate, n);
        matmul(up, x, s.up, n);
        swiglu(s.gate, s.up, Math.toIntExact(n * ffn));
        matmul(down, s.gate, y, n);
    }

    /**
     * MoE routing of {@code n} tokens: for each row of {@code logits (n, experts)} the {@code k} experts
     * with the largest scores, largest first and ties to the lower index, into {@code chosen[t·k, t·k + k)},
     * and their weights into {@code weights[t·k, t·k + k)}. {@link RouteGating#SOFTMAX} scores by the
     * softmax of the row (left in {@code logits}) and weights by the chosen probabilities;
     * {@link RouteGating#SIGMOID} scores by the raw logits and weights by their sigmoids. With
     * {@code normalize}, each token's weights are divided by their sum. The default is the reference.
     */
    default void route(float[] logits, int n, int experts, int k, RouteGating gating, boolean normalize,
                       int[] chosen, float[] weights) {
        KernelArgs.checkRoute(logits, n, experts, k, chosen, weights);
        for (int t = 0; t < n; t++) {
            int row = t * experts;
            if (gating == RouteGating.SOFTMAX) {
                softmax(logits, row, experts);
            }
            for (int s = 0; s < k; s++) {
                int best = -1;
                for (int i = 0; i < experts; i++) {
                    if (!taken(chosen, t * k, s, i) && (best < 0 || logits[row + i] > logits[row + best])) {
                        best = i;
                    }
                }
                chosen[t * k + s] = best;
            }
            double sum = 0;
            for (int s = 0; s < k; s++) {
                float v = logits[row + chosen[t * k + s]];
                float w = gating == RouteGating.SIGMOID ? (float) (1.0 / (1.0 + Math.exp(-v))) : v;
                weights[t * k + s] = w;
                sum += w;
            }
            if (normalize) {
                for (int s = 0; s < k; s++) {
                    weights[t * k + s] = (float) (weights[t * k + s] / sum);
                }
            }
        }
    }

    private static boolean taken(int[] chosen, int off, int count, int i) {
        for (int s = 0; s < count; s++) {
            if (chosen[off + s] == i) {
                return true;
            }
        }
        return false;
    }

    @Override
    default void close() {
    }
}
