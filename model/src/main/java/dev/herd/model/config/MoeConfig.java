package dev.herd.model.config;

/**
 * The mixture-of-experts feed-forward of a model.
 *
 * @param numExperts          routed experts per MoE layer
 * @param topK                experts each token is routed to
 * @param expertFfnDim        intermediate size of one routed expert
 * @param sharedExpertFfnDim  intermediate size of the always-on shared expert, 0 when there is none
 * @param gating              how router logits become weights
 * @param normalizeTopK       divide the top-k weights by their sum
 * @param weightBeforeExpert  scale each token's input by its weight before the expert (Llama 4) rather than
 *                            the expert's output after it; the two differ since experts are nonlinear
 */
public record MoeConfig(int numExperts, int topK, int expertFfnDim, int sharedExpertFfnDim, RouterGating gating,
                        boolean normalizeTopK, boolean weightBeforeExpert) {
    public MoeConfig {
        if (numExperts < 1 || topK < 1 || topK > numExperts || expertFfnDim < 1 || sharedExpertFfnDim < 0) {
            throw new IllegalArgumentException("bad MoE config: " + numExperts + " experts, top " + topK
                    + ", expert ffn " + expertFfnDim + ", shared ffn " + sharedExpertFfnDim);
        }
    }
}
