package dev.herd.kernels;

/** Argument checks shared by {@link Backend}'s defaults and the backends that override them. */
final class KernelArgs {
    private KernelArgs() {
    }

    /** Checks {@link Backend#swigluFfn}'s shapes; returns the ffn width. */
    static long checkFfn(Tensor gate, Tensor up, Tensor down, float[] x, int n, float[] y) {
        if (gate.rank() != 2 || up.rank() != 2 || down.rank() != 2) {
            throw new IllegalArgumentException("swigluFfn needs matrices, got " + gate + ", " + up + ", " + down);
        }
        long ffn = gate.rows();
        long hidden = gate.cols();
        if (up.rows() != ffn || up.cols() != hidden || down.rows() != hidden || down.cols() != ffn) {
            throw new IllegalArgumentException("swigluFfn: gate " + gate + ", up " + up + " and down " + down
                    + " do not make a (" + hidden + " -> " + ffn + " -> " + hidden + ") feed-forward");
        }
        if (n < 0 || x.length < n * hidden || y.length < n * hidden) {
            throw new IllegalArgumentException("swigluFfn on " + n + " rows of " + hidden + ": x has " + x.length
                    + " floats, y has " + y.length);
        }
        return ffn;
    }

    /** Checks {@link Backend#route}'s arguments. */
    static void checkRoute(float[] logits, int n, int experts, int k, int[] chosen, float[] weights) {
        if (n < 0 || experts < 1 || k < 1 || k > experts) {
            throw new IllegalArgumentException("route: top " + k + " of " + experts + " experts for " + n + " rows");
        }
        if (logits.length < (long) n * experts || chosen.length < (long) n * k || weights.length < (long) n * k) {
            throw new IllegalArgumentException("route over " + n + " rows of " + experts + " logits, top " + k
                    + ": logits has " + logits.length + ", chosen " + chosen.length + ", weights " + weights.length);
        }
    }
}
