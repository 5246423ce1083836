package dev.herd.kernels.cuda;

import dev.herd.kernels.DType;
import dev.herd.kernels.Dequant;
import dev.herd.kernels.RandomWeights;
import dev.herd.kernels.Tensor;

/** What the CUDA tests compare with, beside {@link RandomWeights}' weights: reference rows and tested lengths. */
final class TestWeights {
    private TestWeights() {
    }

    /** Row {@code r} of {@code w} as f32, by the reference dequantizer. */
    static float[] row(Tensor w, long r) {
        float[] out = new float[Math.toIntExact(w.cols())];
        Dequant.row(w, r, out, 0);
        return out;
    }

    /** The lengths each type is tested at: odd ones for float types, one/few/many blocks for quantized. */
    static int[] lengths(DType t) {
        return switch (t) {
            case F32, F16, BF16, F8_E4M3 -> new int[] {1, 7, 8, 33, 64, 511, 4099};
            case Q8_0, Q4_0 -> new int[] {32, 96, 4096};
            case Q4_K, Q6_K -> new int[] {256, 768, 4096};
        };
    }
}
