package dev.herd.model.config;

/**
 * What one decoder layer does differently from others.
 *
 * @param moe                a routed-expert feed-forward (else a dense SwiGLU)
 * @param rope               applies rotary embedding (Llama 4's NoPE layers do not)
 * @param chunkedAttention   attends only within its chunk (Llama 4's RoPE layers)
 */
public record LayerSpec(boolean moe, boolean rope, boolean chunkedAttention) {
}
