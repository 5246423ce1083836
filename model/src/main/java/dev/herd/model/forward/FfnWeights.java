package dev.herd.model.forward;

import dev.herd.kernels.Tensor;

/**
 * A SwiGLU feed-forward: {@code down · (silu(gate · x) * (up · x))}. Used for dense layers, shared experts and
 * each routed expert.
 *
 * @param gate (ffn, hidden)
 * @param up   (ffn, hidden)
 * @param down (hidden, ffn)
 */
public record FfnWeights(Tensor gate, Tensor up, Tensor down) {
    public int ffnDim() {
        return Math.toIntExact(gate.rows());
    }
}
