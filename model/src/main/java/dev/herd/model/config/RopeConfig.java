package dev.herd.model.config;

import dev.herd.kernels.RopeStyle;

/**
 * Rotary position embedding of a model.
 *
 * @param theta      base of the frequencies
 * @param rotaryDim  rotated dimensions per head (the head dim unless partial rotary)
 * @param style      how dimensions pair up; note GGUF files of the {@code llama} arch store q/k rows permuted
 *                   so that {@link RopeStyle#ADJACENT} on them equals {@link RopeStyle#NEOX} on HF weights
 * @param scaling    null for none
 * @param freqFactors per-frequency divisors stored in a GGUF {@code rope_freqs} tensor (null when absent);
 *                    they replace {@code scaling}
 */
public record RopeConfig(double theta, int rotaryDim, RopeStyle style, RopeScaling scaling, float[] freqFactors) {

    public RopeConfig withStyle(RopeStyle newStyle) {
        return new RopeConfig(theta, rotaryDim, newStyle, scaling, freqFactors);
    }

    public RopeConfig withFreqFactors(float[] factors) {
        return new RopeConfig(theta, rotaryDim, style, scaling, factors);
    }

    /** The {@code rotaryDim/2} inverse frequencies, after scaling, as HF's rope init functions compute them. */
    public float[] inverseFrequencies() {
        int half = rotaryDim / 2;
        float[] inv = new float[half];
        for (int i = 0; i < half; i++) {
            // HF computes base ** (arange(0, dim, 2).float() / dim) in f32; do the same so frequencies match bitwise
            float exponent = (float) (2 * i) / rotaryDim;
            inv[i] = (float) (1.0 / Math.pow(theta, exponent));
        }
        if (freqFactors != null) {
            if (freqFactors.length != half) {
                throw new IllegalArgumentException("rope_freqs has " + freqFactors.length + " factors, expected " + half);
            }
            for (int i = 0; i < half; i++) {
                inv[i] = inv[i] / freqFactors[i];
            }
            return inv;
        }
        if (scaling == null) {
            return inv;
        }
        switch (scaling.type()) {
            case "linear" -> {
                for (int i = 0; i < half; i++) {
                    inv[i] = (float) (inv[i] / scaling.factor());
                }
            }
            case "llama3" -> {
                float[] factors = llama3Factors(inv, scaling);
                for (int i = 0; i < half; i++) {
                    inv[i] = inv[i] / factors[i];
                }
            }
            default -> throw new IllegalArgumentException("unsupported rope scaling type '" + scaling.type()
                    + "' (supported: linear, llama3)");
        }
        return inv;
    }

    /**
     * Per-frequency divisors of Llama 3 scaling (what converters store as GGUF {@code rope_freqs}): high
     * frequencies untouched, low ones divided by the factor, a smooth blend between.
     */
    public static float[] llama3Factors(float[] inv, RopeScaling s) {
        double lowWavelen = s.originalMaxPositions() / s.lowFreqFactor();
        double highWavelen = s.originalMaxPositions() / s.highFreqFactor();
        float[] factors = new float[inv.length];
        for (int i = 0; i < inv.length; i++) {
            double wavelen = 2 * Math.PI / inv[i];
            if (wavelen < highWavelen) {
                factors[i] = 1f;
            } else if (wavelen > lowWavelen) {
                factors[i] = (float) s.factor();
            } else {
                double smooth = (s.originalMaxPositions() / wavelen - s.lowFreqFactor())
                        / (s.highFreqFactor() - s.lowFreqFactor());
                factors[i] = (float) (1.0 / ((1 - smooth) / s.factor() + smooth));
            }
        }
        return factors;
    }
}
