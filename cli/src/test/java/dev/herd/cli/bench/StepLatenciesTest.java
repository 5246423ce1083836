package dev.herd.cli.bench;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class StepLatenciesTest {

    @Test
    void nearestRankPercentilesOfAHundredSteps() {
        // steps of 1..100 ms in scrambled order: the p-th percentile by nearest rank is p ms
        long[] nanos = new long[100];
        for (int i = 0; i < 100; i++) {
            nanos[i] = ((i * 37) % 100 + 1) * 1_000_000L;
        }
        StepLatencies s = StepLatencies.of(nanos);
        assertEquals(100, s.steps());
        assertEquals(50.0, s.p50Ms(), 1e-9);
        assertEquals(90.0, s.p90Ms(), 1e-9);
        assertEquals(99.0, s.p99Ms(), 1e-9);
        assertEquals(1.0, s.minMs(), 1e-9);
        assertEquals(100.0, s.maxMs(), 1e-9);
        assertEquals(50.5, s.meanMs(), 1e-9);
    }

    @Test
    void fewStepsTakeMeasuredValues() {
        // 4 steps: p50 = 2nd smallest (ceil(0.5 * 4) = 2), p90 and p99 = the largest (ceil(3.6) = ceil(3.96) = 4)
        StepLatencies s = StepLatencies.of(new long[]{4_000_000, 1_000_000, 3_000_000, 2_500_000});
        assertEquals(2.5, s.p50Ms(), 1e-9);
        assertEquals(4.0, s.p90Ms(), 1e-9);
        assertEquals(4.0, s.p99Ms(), 1e-9);
        assertEquals(2.625, s.meanMs(), 1e-9);
    }

    @Test
    void noStepsIsAnError() {
        assertThrows(IllegalArgumentException.class, () -> StepLatencies.of(new long[0]));
    }
}
