package dev.herd.model.forward;

/**
 * The router's decision for {@code n} tokens: token {@code t} goes to experts
 * {@code experts[t*k .. t*k+k)} with weights {@code weights[t*k .. t*k+k)}. The arrays may be longer than
 * {@code n * k} (the forward pass reuses them across steps); entries past that mean nothing.
 */
public record Routing(int n, int k, int[] experts, float[] weights) {
    public int expert(int token, int slot) {
        return experts[token * k + slot];
    }

    public float weight(int token, int slot) {
        return weights[token * k + slot];
    }
}
