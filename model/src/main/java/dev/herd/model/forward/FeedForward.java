package dev.herd.model.forward;

import dev.herd.kernels.Backend;

/** The SwiGLU feed-forward shared by dense layers, shared experts and routed experts. */
final class FeedForward {
    private FeedForward() {
    }

    /**
     * {@code y (n, hidden) = down · (silu(gate · x) * (up · x))} for x (n, hidden), in one backend call (which
     * keeps the (n, ffn) intermediate to itself).
     */
    static void swiglu(Backend backend, FfnWeights w, float[] x, int n, float[] y) {
        backend.swigluFfn(w.gate(), w.up(), w.down(), x, n, y);
    }
}
