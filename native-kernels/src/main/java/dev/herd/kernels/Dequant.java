package dev.herd.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Plain-Java conversion of stored elements to f32: the reference for every quantized kernel.
 * Block layouts are documented once, on {@link DType}.
 */
public final class Dequant {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Dequant() {
    }

    public static float f16(short bits) {
        return Float.float16ToFloat(bits);
    }

    public static float bf16(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** OCP FP8 E4M3 (the "fn" variant: no infinities; S.1111.111 is NaN). */
    public static float e4m3(byte b) {
        int bits = b & 0xFF;
        int sign = bits >> 7;
        int exp = (bits >> 3) & 0xF;
        int man = bits & 0x7;
        float v;
        if (exp == 0xF && man == 0x7) {
            v = Float.NaN;
        } else if (exp == 0) {
            v = man * 0x1p-9f; // subnormal: man/8 * 2^-6
        } else {
            v = (1 + man / 8f) * Math.scalb(1f, exp - 7);
        }
        return sign == 0 ? v : -v;
    }

    /**
     * Elements {@code [0, count)} of row {@code row} of {@code t} as f32 into {@code out[outOffset, ...)}.
     * {@code count} must be the row length (quantized rows are whole blocks).
     */
    public static void row(Tensor t, long row, float[] out, int outOffset) {
        int cols = Math.toIntExact(t.cols());
        long base = row * t.rowBytes();
        MemorySegment s = t.data();
        switch (t.dtype()) {
            case F32 -> MemorySegment.copy(s, F32, base, out, outOffset, cols);
            case F16 -> {
                for (int i = 0; i < cols; i++) {
                    out[outOffset + i] = f16(s.get(I16, base + 2L * i));
                }
            }
            case BF16 -> {
                for (int i = 0; i < cols; i++) {
                    out[outOffset + i] = bf16(s.get(I16, base + 2L * i));
                }
            }
            case F8_E4M3 -> fp8Row(t, row, base, cols, out, outOffset);
            case Q8_0 -> {
                for (int b = 0; b < cols / 32; b++) {
                    long p = base + 34L * b;
                    float d = f16(s.get(I16, p));
                    for (int j = 0; j < 32; j++) {
                        out[outOffset + b * 32 + j] = d * s.get(ValueLayout.JAVA_BYTE, p + 2 + j);
                    }
                }
            }
            case Q4_0 -> {
                for (int b = 0; b < cols / 32; b++) {
                    long p = base + 18L * b;
                    float d = f16(s.get(I16, p));
                    int o = outOffset + b * 32;
                    for (int j = 0; j < 16; j++) {
                        int q = s.get(ValueLayout.JAVA_BYTE, p + 2 + j) & 0xFF;
                        out[o + j] = d * ((q & 0xF) - 8);
                        out[o + j + 16] = d * ((q >> 4) - 8);
                    }
                }
            }
            case Q4_K -> {
                for (int b = 0; b < cols / 256; b++) {
                    q4kBlock(s, base + 144L * b, out, outOffset + b * 256);
                }
            }
            case Q6_K -> {
                for (int b = 0; b < cols / 256; b++) {
                    q6kBlock(s, base + 210L * b, out, outOffset + b * 256);
                }
            }
        }
    }

    private static void fp8Row(Tensor t, long row, long base, int cols, float[] out, int off) {
        Tensor sc = t.scale();
        long scaleRows = sc.rank() == 2 ? sc.dim(0) : 1;
        long scaleCols = sc.cols();
        long blockRows = scaleBlock(t.rows(), scaleRows);
        long blockCols = scaleBlock(cols, scaleCols);
        long sr = row / blockRows;
        MemorySegment s = t.data();
        MemorySegment ss = sc.data();
        for (int i = 0; i < cols; i++) {
            float scale = ss.get(F32, 4L * (sr * scaleCols + i / blockCols));
            out[off + i] = e4m3(s.get(ValueLayout.JAVA_BYTE, base + i)) * scale;
        }
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    /**
     * The block length along a dimension of {@code n} elements that {@code scales} scales cover. The scale
     * count alone does not fix it when {@code n} is not a multiple of the block: DeepSeek V3's 576-row
     * {@code kv_a_proj_with_mqa} has 5 row scales for blocks of 128, where an even split would give 116.
     * Block-scaled checkpoints use power-of-two blocks (128 x 128), so take the smallest power of two that
     * gives exactly {@code scales} blocks, and the even split only when none does.
     */
    static long scaleBlock(long n, long scales) {
        for (long b = 1; b <= Long.highestOneBit(n) * 2; b *= 2) {
            if (ceilDiv(n, b) == scales) {
                return b;
            }
        }
        return ceilDiv(n, scales);
    }

    private static void q4kBlock(MemorySegment s, long p, float[] out, int o) {
        float d = f16(s.get(I16, p));
        float dmin = f16(s.get(I16, p + 2));
        long scales = p + 4;
        long q = p + 16;
        int[] scMin = new int[2];
        for (int j = 0, is = 0; j < 256; j += 64, is += 2) {
            scaleMinK4(is, s, scales, scMin);
            float d1 = d * scMin[0];
            float m1 = dmin * scMin[1];
            scaleMinK4(is + 1, s, scales, scMin);
            float d2 = d * scMin[0];
            float m2 = dmin * scMin[1];
            for (int l = 0; l < 32; l++) {
                int b = s.get(ValueLayout.JAVA_BYTE, q + l) & 0xFF;
                out[o + j + l] = d1 * (b & 0xF) - m1;
                out[o + j + 32 + l] = d2 * (b >> 4) - m2;
            }
            q += 32;
        }
    }

    /** The 6-bit scale and min of sub-block {@code j} (0..7) from Q4_K's 12 packed bytes. */
    static void scaleMinK4(int j, MemorySegment s, long scales, int[] scMin) {
        if (j < 4) {
            scMin[0] = u8(s, scales + j) & 63;
            scMin[1] = u8(s, scales + j + 4) & 63;
        } else {
            scMin[0] = (u8(s, scales + j + 4) & 0xF) | ((u8(s, scales + j - 4) >> 6) << 4);
            scMin[1] = (u8(s, scales + j + 4) >> 4) | ((u8(s, scales + j) >> 6) << 4);
        }
    }

    private static void q6kBlock(MemorySegment s, long p, float[] out, int o) {
        long ql = p;
        long qh = p + 128;
        long sc = p + 192;
        float d = f16(s.get(I16, p + 208));
        for (int n = 0; n < 256; n += 128) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int h = u8(s, qh + l);
                int q1 = ((u8(s, ql + l) & 0xF) | ((h & 3) << 4)) - 32;
                int q2 = ((u8(s, ql + l + 32) & 0xF) | (((h >> 2) & 3) << 4)) - 32;
                int q3 = ((u8(s, ql + l) >> 4) | (((h >> 4) & 3) << 4)) - 32;
                int q4 = ((u8(s, ql + l + 32) >> 4) | (((h >> 6) & 3) << 4)) - 32;
                out[o + n + l] = d * s.get(ValueLayout.JAVA_BYTE, sc + is) * q1;
                out[o + n + l + 32] = d * s.get(ValueLayout.JAVA_BYTE, sc + is + 2) * q2;
                out[o + n + l + 64] = d * s.get(ValueLayout.JAVA_BYTE, sc + is + 4) * q3;
                out[o + n + l + 96] = d * s.get(ValueLayout.JAVA_BYTE, sc + is + 6) * q4;
            }
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }

    private static int u8(MemorySegment s, long offset) {
        return s.get(ValueLayout.JAVA_BYTE, offset) & 0xFF;
    }
}
