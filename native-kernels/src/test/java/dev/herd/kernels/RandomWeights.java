package dev.herd.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;

/**
 * Weight tensors of random but valid blocks for kernel tests: every quant value, nibble and packed
 * scale is uniformly random, so all bit patterns of a layout are exercised (including int8 -128 and
 * 6-bit scales of 63), while f16 block scales are kept small and finite.
 */
public final class RandomWeights {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private RandomWeights() {
    }

    public static Tensor matrix(String name, DType type, long rows, long cols, long seed, Arena arena) {
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
                    s.set(ValueLayout.JAVA_BYTE, p, (v & 0x7F) == 0x7F ? (byte) (v ^ 1) : v); // no NaN
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

    public static float[] gaussian(int n, double sd, long seed) {
        Random rnd = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (rnd.nextGaussian() * sd);
        }
        return x;
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
