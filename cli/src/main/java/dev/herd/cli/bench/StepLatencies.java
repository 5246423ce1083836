package dev.herd.cli.bench;

import java.util.Arrays;

/**
 * Summary of per-step wall times in milliseconds: nearest-rank percentiles (the smallest measured time that at
 * least p% of the steps do not exceed; always one of the measured times, so the p99 of fewer than 100 steps is the
 * slowest step), mean and extremes.
 */
public record StepLatencies(int steps, double meanMs, double p50Ms, double p90Ms, double p99Ms, double minMs,
                            double maxMs) {

    /** Summarises {@code nanos} (one entry per step); at least one step is needed. */
    public static StepLatencies of(long[] nanos) {
        if (nanos.length == 0) {
            throw new IllegalArgumentException("no steps to summarise");
        }
        long[] sorted = nanos.clone();
        Arrays.sort(sorted);
        double sum = 0;
        for (long n : sorted) {
            sum += n;
        }
        return new StepLatencies(sorted.length, sum / sorted.length / 1e6, rank(sorted, 50), rank(sorted, 90),
                rank(sorted, 99), sorted[0] / 1e6, sorted[sorted.length - 1] / 1e6);
    }

    /** Nearest rank: the ceil(p/100 * n)-th smallest value. */
    private static double rank(long[] sorted, int percent) {
        int rank = (int) Math.ceil(percent / 100.0 * sorted.length);
        return sorted[Math.max(0, rank - 1)] / 1e6;
    }
}
