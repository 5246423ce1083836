package dev.herd.kernels;

/**
 * The gate and up rows of {@link Backend#swigluFfn}'s default, per thread, grown to the largest call seen:
 * a forward pass calls it for every expert of every layer, and fresh arrays of that size would each be a
 * large (often humongous) allocation.
 */
final class SwigluScratch {
    private static final ThreadLocal<SwigluScratch> PER_THREAD = ThreadLocal.withInitial(SwigluScratch::new);

    float[] gate = new float[0];
    float[] up = gate;

    private SwigluScratch() {
    }

    /** This thread's scratch with room for {@code floats} in each of gate and up. */
    static SwigluScratch of(long floats) {
        SwigluScratch s = PER_THREAD.get();
        if (s.gate.length < floats) {
            int size = Math.toIntExact(Math.max(floats, Math.min(Integer.MAX_VALUE - 8, 2L * s.gate.length)));
            s.gate = new float[size];
            s.up = new float[size];
        }
        return s;
    }
}
