package dev.herd.model.sampling;

/**
 * e<sup>t</sup> for t &le; 0, in plain double arithmetic: range reduction by ln 2 and a degree-11 Taylor polynomial,
 * relative error below 1e-13 (far finer than a sampling probability needs).
 *
 * <p>Two reasons not to call {@link Math#exp}: sampling evaluates it once per vocabulary entry and row (32 rows of
 * a 128k vocabulary are four million calls a step, which made sampling the slowest part of a batched step); and
 * {@code Math.exp} may differ by an ulp between JVMs and CPUs, while a draw must come out the same on the node that
 * samples after a re-plan as on the one before. Java's double arithmetic is the same everywhere, so this is too.
 */
final class Exp {
    private static final double LOG2E = 1.4426950408889634;
    /** ln 2 in two parts: the first exact in few bits, so that {@code n * LN2_HI} has no rounding error. */
    private static final double LN2_HI = 0.693145751953125;
    private static final double LN2_LO = 1.4286068203094173e-6;
    /** Below this e^t underflows past the smallest normal double; it is taken as 0. */
    private static final double MIN = -708;

    private Exp() {
    }

    /** e^t for {@code t <= 0}; 0 below -708 (and for -infinity); NaN stays NaN. */
    static double nonPositive(double t) {
        if (t < MIN) {
            return 0;
        }
        double n = Math.rint(t * LOG2E);
        double r = (t - n * LN2_HI) - n * LN2_LO; // |r| <= ln(2)/2 + rounding
        // e^r by Horner, 1/k! coefficients; the first omitted term is r^12/12! < 7e-15
        double p = 1 + r * (1 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120 + r * (1.0 / 720
                + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (1.0 / 362880 + r * (1.0 / 3628800
                + r * (1.0 / 39916800)))))))))));
        // times 2^n, built in the exponent field: n is in [-1022, 0] here
        return p * Double.longBitsToDouble((long) (n + 1023) << 52);
    }
}
