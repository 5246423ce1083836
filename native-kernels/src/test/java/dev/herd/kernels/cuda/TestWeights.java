package dev.herd.kernels.cuda;

import dev.herd.kernels.DType;
import dev.herd.kernels.Dequant;
import dev.herd.kernels.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;

/**
 * Random but valid weight blocks for kernel tests: quant values, nibbles and packed scales uniformly
 * random (so every bit of a layout matters, including int8 -128 and 6-bit scales of 63), f16 block scales
 * small and finite, float types Gaussian.
 */
final class TestWeights {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private TestWeights() {
    }

    static Tensor matrix(String name, DType type, long rows, long cols, long seed, Arena arena) {
        Random rnd = new Random(seed);
        MemorySegment s = arena.allocate(type.byteSize(rows * cols), 64);
        long blocks = rows * cols / type.blockSize();
        for (long b = 0; b < blocks; b++) {
            long p = b * type.blockBytes();
            switch (type) {
                case F32 -> s.set(F32, p, (float) rnd.nextGaussian());
                case F16 -> s.set(I16, p, Float.floatToFloat16((float) rnd.nextGaussian()));
                case BF16 -> s.set(I16, p, (short) (Float.floatToRawIntBits((float) rnd.nextGaussian()) >>> 16));
                case F8_E4M3 -> {
                    byte v = (byte) rnd.nextInt(256);
                    s.set(ValueLayout.JAVA_BYTE, p, (v & 0x7F) == 0x7F ? (byte) (v ^ 1) : v);
                }
                case Q8_0, Q4_0 -> {
                    s.set(I16, p, scale(rnd));
                    fill(s, p + 2, type.blockBytes() - 2, rnd);
                }
                case Q4_K -> {
                    s.set(I16, p, scale(rnd));
                    s.set(I16, p + 2, scale(rnd));
                    fill(s, p + 4, 140, rnd);
                }
                case Q6_K -> {
                    fill(s, p, 208, rnd);
                    s.set(I16, p + 208, scale(rnd));
                }
            }
        }
        Tensor scale = null;
        if (type == DType.F8_E4M3) {
            MemorySegment sc = arena.allocate(4L * rows, 4);
            for (long r = 0; r < rows; r++) {
                sc.set(F32, 4L * r, 0.01f + rnd.nextFloat() * 0.05f);
            }
            scale = new Tensor(name + ".scale", DType.F32, new long[] {rows, 1}, sc);
        }
        return new Tensor(name, type, new long[] {rows, cols}, s, scale);
    }

    static float[] gaussian(int n, double sd, long seed) {
        Random rnd = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (rnd.nextGaussian() * sd);
        }
        return x;
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

    private static short scale(Random rnd) {
        return Float.floatToFloat16(0.001f + rnd.nextFloat() * 0.02f);
    }

    private static void fill(MemorySegment s, long p, int len, Random rnd) {
        for (int i = 0; i < len; i++) {
            s.set(ValueLayout.JAVA_BYTE, p + i, (byte) rnd.nextInt(256));
        }
    }
}
