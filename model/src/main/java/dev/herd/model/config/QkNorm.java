package dev.herd.model.config;

/** Normalisation applied to queries and keys per head before attention. */
public enum QkNorm {
    NONE,
    /** RMSNorm with a learned weight of head_dim, before RoPE (Qwen3). */
    RMS_WEIGHTED,
    /** RMSNorm without weight after RoPE, on RoPE layers only (Llama 4's L2Norm). */
    L2_AFTER_ROPE
}
