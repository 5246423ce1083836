package dev.herd.model.config;

/**
 * Llama 4's attention temperature tuning on NoPE layers: queries at position p are scaled by
 * {@code log(floor((p + 1) / floorScale) + 1) * attnScale + 1}.
 */
public record AttentionTemperature(double floorScale, double attnScale) {
    public float scaleAt(int position) {
        return (float) (Math.log(Math.floor((position + 1.0) / floorScale) + 1.0) * attnScale + 1.0);
    }
}
