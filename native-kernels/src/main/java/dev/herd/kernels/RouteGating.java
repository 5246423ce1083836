package dev.herd.kernels;

/** How {@link Backend#route} turns a row of router logits into chosen experts and their weights. */
public enum RouteGating {
    /** Softmax over all experts, then the top k probabilities are the weights (Mixtral, Qwen3-MoE). */
    SOFTMAX,
    /** Top k of the raw logits, each weighted by its sigmoid (Llama 4). */
    SIGMOID
}
