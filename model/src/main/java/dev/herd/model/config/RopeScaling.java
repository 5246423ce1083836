package dev.herd.model.config;

/**
 * Frequency scaling of rotary embeddings for long context.
 *
 * @param type                 "llama3" (Llama 3.1+/Llama 4 wavelength-dependent scaling) or "linear"
 * @param factor               overall scale factor
 * @param lowFreqFactor        llama3 only
 * @param highFreqFactor       llama3 only
 * @param originalMaxPositions llama3 only: the pre-training context length
 */
public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor,
                          int originalMaxPositions) {
}
