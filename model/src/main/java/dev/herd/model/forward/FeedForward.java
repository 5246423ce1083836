package dev.herd.model.forward;

import dev.herd.kernels.Backend;

/** The SwiGLU feed-forward shared by dense layers, shared experts and routed experts. */
final class FeedForward {
    private FeedForward() {
    }

    /** {@code y (n, hidden) = down · (silu(gate · x) * (up · x))} for x (n, hidden). */
    static void swiglu(Backend backend, FfnWeights w, float[] x, int n, float[] y) {
        int f = w.ffnDim();
        float[] gate = new float[n * f]; // (n, ffn)
        float[] up = new float[n * f];   // (n, ffn)
        backend.matmul(w.gate(), x, gate, n);
        backend.matmul(w.up(), x, up, n);
        backend.swiglu(gate, up, n * f);
        backend.matmul(w.down(), gate, y, n);
    }
}
