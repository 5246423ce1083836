package dev.herd.model.config;

/** How an MoE router turns logits into expert weights. */
public enum RouterGating {
    /** Softmax over all experts, then top-k (Mixtral, Qwen3-MoE). */
    SOFTMAX,
    /** Top-k on the logits, then a sigmoid of each chosen logit (Llama 4). */
    SIGMOID
}
