package dev.herd.model.testmodel;

import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;

/**
 * Deterministic random weights keyed by a canonical name, so the same matrix comes out whatever format or
 * layout it is written in. Scales follow what keeps random models decoding stably (measured against
 * llama.cpp): uniform with std {@code gain / sqrt(fanIn)}.
 */
final class RandomWeights {
    private final long seed;

    RandomWeights(long seed) {
        this.seed = seed;
    }

    private SplittableRandom rng(String key) {
        long h = 0xcbf29ce484222325L;
        for (byte b : key.getBytes(StandardCharsets.UTF_8)) {
            h = (h ^ (b & 0xFF)) * 0x100000001b3L;
        }
        return new SplittableRandom(h ^ seed * 0x9E3779B97F4A7C15L);
    }

    /** (rows, cols) row-major, uniform with std {@code gain / sqrt(cols)}. */
    float[] matrix(String key, int rows, int cols, double gain) {
        return uniform(key, (long) rows * cols, gain / Math.sqrt(cols));
    }

    /** Uniform values with the given standard deviation. */
    float[] uniform(String key, long count, double std) {
        SplittableRandom r = rng(key);
        double a = std * Math.sqrt(3.0);
        float[] out = new float[Math.toIntExact(count)];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) r.nextDouble(-a, a);
        }
        return out;
    }

    /** Norm weights uniform in [0.8, 1.2]: not all ones, so a skipped norm weight shows. */
    float[] norm(String key, int n) {
        SplittableRandom r = rng(key);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) r.nextDouble(0.8, 1.2);
        }
        return out;
    }
}
