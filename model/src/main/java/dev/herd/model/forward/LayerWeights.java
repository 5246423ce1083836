package dev.herd.model.forward;

import dev.herd.kernels.Tensor;

/**
 * The non-expert weights of one decoder layer. Routed experts are reached through an {@link ExpertSet}.
 *
 * @param attnNorm (hidden)
 * @param wq       (nHeads * headDim, hidden)
 * @param wk       (nKvHeads * headDim, hidden)
 * @param wv       (nKvHeads * headDim, hidden)
 * @param wo       (hidden, nHeads * headDim)
 * @param qNorm    (headDim) for Qwen3's per-head q norm, else null
 * @param kNorm    (headDim) likewise
 * @param ffnNorm  (hidden)
 * @param dense    the dense feed-forward of a non-MoE layer, else null
 * @param router   (numExperts, hidden) of a MoE layer, else null
 * @param shared   the shared expert of a MoE layer that has one, else null
 */
public record LayerWeights(float[] attnNorm, Tensor wq, Tensor wk, Tensor wv, Tensor wo, float[] qNorm,
                           float[] kNorm, float[] ffnNorm, FfnWeights dense, Tensor router, FfnWeights shared) {
}
