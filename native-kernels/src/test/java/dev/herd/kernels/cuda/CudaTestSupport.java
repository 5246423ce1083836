package dev.herd.kernels.cuda;

import dev.herd.kernels.Tensor;
import org.junit.jupiter.api.Assumptions;

/** The shared device for GPU tests, and error measures. Tests skip, with the reason, where there is no GPU. */
final class CudaTestSupport {
    private static CudaBackend backend;
    private static String unavailable;

    private CudaTestSupport() {
    }

    /** One backend for all GPU test classes (opening a CUDA context costs a second), or a skip. */
    static synchronized CudaBackend backend() {
        if (backend == null && unavailable == null) {
            try {
                backend = CudaBackend.open(0);
                Runtime.getRuntime().addShutdownHook(new Thread(backend::close));
            } catch (CudaUnavailableException e) {
                unavailable = e.getMessage();
            }
        }
        Assumptions.assumeTrue(backend != null, () -> "no CUDA device: " + unavailable);
        return backend;
    }

    /** The shared backend if one was opened, else null (for clean-up without a skip). */
    static synchronized CudaBackend opened() {
        return backend;
    }

    /** Σ(a - b)² / Σ b² (0 when both are all zeros). */
    static double nmse(float[] actual, float[] expected) {
        return squaredError(actual, expected) / Math.max(power(expected), Double.MIN_NORMAL);
    }

    static double squaredError(float[] actual, float[] expected) {
        double e = 0;
        for (int i = 0; i < expected.length; i++) {
            double d = (double) actual[i] - expected[i];
            e += d * d;
        }
        return e;
    }

    static double power(float[] v) {
        double p = 0;
        for (float f : v) {
            p += (double) f * f;
        }
        return p;
    }

    /**
     * The expected output power of {@code x (n, in) · wᵀ}: {@code Σ_{r,o} Σ_i (w_oi·x_ri)²}, what Σ y² averages to
     * over random signs. Errors are measured against it because a single dot product may cancel to near zero
     * by chance, and then its own square says nothing about how large an error is fair.
     */
    static double productPower(Tensor w, float[] x, int n) {
        int out = Math.toIntExact(w.rows());
        int in = Math.toIntExact(w.cols());
        double p = 0;
        for (int o = 0; o < out; o++) {
            float[] row = TestWeights.row(w, o);
            for (int r = 0; r < n; r++) {
                for (int i = 0; i < in; i++) {
                    double t = (double) row[i] * x[r * in + i];
                    p += t * t;
                }
            }
        }
        return p;
    }
}
