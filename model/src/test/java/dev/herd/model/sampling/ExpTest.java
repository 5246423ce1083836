package dev.herd.model.sampling;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ExpTest {
    @Test
    void agreesWithMathExpToThirteenDigits() {
        SplittableRandom r = new SplittableRandom(7);
        double worst = 0;
        for (int i = 0; i < 200_000; i++) {
            // dense near 0, where sampling probabilities live, and over the whole range down to underflow
            double t = i % 2 == 0 ? -r.nextDouble() * 40 : -r.nextDouble() * 708;
            double expected = Math.exp(t);
            worst = Math.max(worst, Math.abs(Exp.nonPositive(t) - expected) / expected);
        }
        assertTrue(worst < 1e-13, "worst relative error " + worst);
    }

    @Test
    void edgesOfTheRange() {
        assertEquals(1.0, Exp.nonPositive(0.0));
        assertEquals(1.0, Exp.nonPositive(-0.0));
        assertEquals(Math.exp(-1), Exp.nonPositive(-1), Math.exp(-1) * 1e-13);
        assertEquals(Math.exp(-708), Exp.nonPositive(-708), Math.exp(-708) * 1e-13);
        assertEquals(0.0, Exp.nonPositive(-708.5));
        assertEquals(0.0, Exp.nonPositive(Double.NEGATIVE_INFINITY));
        assertTrue(Double.isNaN(Exp.nonPositive(Double.NaN)));
    }
}
