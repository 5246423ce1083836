package dev.herd.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Plain-Java conversion of f32 values to stored elements: the inverse of {@link Dequant}, for writing
 * model files. Every quantizer reproduces ggml's reference quantizer ({@code quantize_row_*_ref} in
 * {@code ggml-quants.c}) bit for bit, so a file Herd writes holds the same bytes llama.cpp would write
 * from the same f32 values. That is why the arithmetic below keeps ggml's float operations and their
 * order instead of simplifying them: Java float arithmetic is IEEE single precision without fused
 * multiply-add, which matches a C build without floating-point contraction.
 *
 * <p>Input must be finite; what NaN or infinite input quantizes to is unspecified (ggml's reference does
 * not define it either), but it never throws.
 */
public final class Quantize {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** ggml's threshold below which a group counts as all zero. */
    private static final float GROUP_MAX_EPS = 1e-15f;
    private static final int QK_K = 256;

    private Quantize() {
    }

    /** {@code src} stored as {@code type}; {@code src.length} must be a whole number of blocks. */
    public static byte[] quantize(DType type, float[] src) {
        byte[] out = new byte[Math.toIntExact(type.byteSize(src.length))];
        quantize(type, src, 0, src.length, MemorySegment.ofArray(out), 0);
        return out;
    }

    /**
     * Stores {@code src[srcOffset, srcOffset + count)} as {@code type} into {@code dst} from byte
     * {@code dstOffset} on, writing exactly {@code type.byteSize(count)} bytes. {@code count} must be a whole
     * number of blocks; consecutive rows of a tensor can be passed in one call since rows are whole blocks.
     */
    public static void quantize(DType type, float[] src, int srcOffset, int count, MemorySegment dst, long dstOffset) {
        long bytes = type.byteSize(count);
        java.util.Objects.checkFromIndexSize(srcOffset, count, src.length);
        java.util.Objects.checkFromIndexSize(dstOffset, bytes, dst.byteSize());
        switch (type) {
            case F32 -> MemorySegment.copy(src, srcOffset, dst, F32, dstOffset, count);
            case F16 -> {
                for (int i = 0; i < count; i++) {
                    dst.set(I16, dstOffset + 2L * i, f16(src[srcOffset + i]));
                }
            }
            case BF16 -> {
                for (int i = 0; i < count; i++) {
                    dst.set(I16, dstOffset + 2L * i, bf16(src[srcOffset + i]));
                }
            }
            case Q8_0 -> {
                for (int b = 0; b < count / 32; b++) {
                    q8_0Block(src, srcOffset + 32 * b, dst, dstOffset + 34L * b);
                }
            }
            case Q4_0 -> {
                for (int b = 0; b < count / 32; b++) {
                    q4_0Block(src, srcOffset + 32 * b, dst, dstOffset + 18L * b);
                }
            }
            case Q4_K -> {
                Q4KScratch scratch = new Q4KScratch();
                for (int b = 0; b < count / QK_K; b++) {
                    q4KBlock(src, srcOffset + QK_K * b, dst, dstOffset + 144L * b, scratch);
                }
            }
            case Q6_K -> {
                int[] levels = new int[QK_K];
                float[] scales = new float[QK_K / 16];
                for (int b = 0; b < count / QK_K; b++) {
                    q6KBlock(src, srcOffset + QK_K * b, dst, dstOffset + 210L * b, levels, scales);
                }
            }
            case F8_E4M3 -> throw new UnsupportedOperationException("quantizing to " + type + " is not supported");
        }
    }

    /**
     * f32 to IEEE half precision, rounding to nearest even (overflow gives infinity), as ggml's
     * {@code GGML_FP32_TO_FP16}; every NaN becomes the quiet NaN {@code 0x7E00} with the input's sign, as there.
     */
    public static short f16(float x) {
        if (Float.isNaN(x)) {
            return (short) ((Float.floatToRawIntBits(x) >>> 16 & 0x8000) | 0x7E00);
        }
        return Float.floatToFloat16(x);
    }

    /**
     * f32 to bfloat16, rounding to nearest even, as ggml's {@code GGML_FP32_TO_BF16}: a NaN keeps its top
     * bits and is made quiet; subnormals are kept (not flushed to zero).
     */
    public static short bf16(float x) {
        int bits = Float.floatToRawIntBits(x);
        if ((bits & 0x7FFFFFFF) > 0x7F800000) {
            return (short) ((bits >>> 16) | 64);
        }
        return (short) ((bits + (0x7FFF + ((bits >>> 16) & 1))) >>> 16);
    }

    /** Largest finite E4M3 value: 1.75 * 2^8. */
    public static final float E4M3_MAX = 448f;

    /**
     * OCP FP8 E4M3 ("fn": no infinities) bits. Magnitudes beyond {@link #E4M3_MAX}, infinities included, saturate
     * to ±448 (as quantizers clamp before casting); NaN becomes 0x7F with the sign kept.
     */
    public static byte e4m3(float v) {
        int sign = (Float.floatToRawIntBits(v) >>> 24) & 0x80;
        if (Float.isNaN(v)) {
            return (byte) (sign | 0x7F);
        }
        double a = Math.abs((double) v);
        int code;
        if (a >= E4M3_MAX) {
            code = 0x7E;
        } else if (a < 0x1p-6) {
            // subnormals are multiples of 2^-9; rint is ties-to-even, and 8 * 2^-9 is the smallest normal,
            // whose code is 8 as well
            code = (int) Math.rint(a * 512);
        } else {
            int e = Math.getExponent(a); // -6..8
            double mantissa = a / Math.scalb(1.0, e); // [1, 2), exact
            int m = (int) Math.rint((mantissa - 1) * 8);
            if (m == 8) {
                m = 0;
                e++;
            }
            code = Math.min(((e + 7) << 3) | m, 0x7E); // rounding 448 < a < 464 down stays at the maximum
        }
        return (byte) (sign | code);
    }

    // ---- Q8_0 and Q4_0 ----

    private static void q8_0Block(float[] x, int o, MemorySegment y, long p) {
        float amax = 0;
        for (int j = 0; j < 32; j++) {
            amax = Math.max(amax, Math.abs(x[o + j]));
        }
        float d = amax / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        y.set(I16, p, f16(d));
        for (int j = 0; j < 32; j++) {
            y.set(ValueLayout.JAVA_BYTE, p + 2 + j, (byte) roundHalfAway(x[o + j] * id));
        }
    }

    private static void q4_0Block(float[] x, int o, MemorySegment y, long p) {
        // The signed value of largest magnitude maps to -8, the one level without a positive twin, so
        // the block's range is used fully; the opposite extreme then clamps to 15.
        float amax = 0;
        float max = 0;
        for (int j = 0; j < 32; j++) {
            float v = x[o + j];
            if (amax < Math.abs(v)) {
                amax = Math.abs(v);
                max = v;
            }
        }
        float d = max / -8;
        float id = d != 0 ? 1.0f / d : 0.0f;
        y.set(I16, p, f16(d));
        for (int j = 0; j < 16; j++) {
            float x0 = x[o + j] * id;
            float x1 = x[o + 16 + j] * id;
            // ggml truncates toward zero after adding 8.5: round half up around the offset 8.
            int q0 = Math.min(15, (byte) (int) (x0 + 8.5f));
            int q1 = Math.min(15, (byte) (int) (x1 + 8.5f));
            y.set(ValueLayout.JAVA_BYTE, p + 2 + j, (byte) ((q0 & 0xFF) | (q1 << 4)));
        }
    }

    /** C's {@code roundf}: halves away from zero (Java's {@code Math.round} rounds them up). */
    private static int roundHalfAway(float v) {
        double a = Math.floor(Math.abs((double) v) + 0.5);
        return (int) Math.copySign(a, v);
    }

    /**
     * ggml's {@code nearest_int}: adding 1.5 * 2^23 leaves the rounded (half to even) integer in the low
     * mantissa bits, for |v| <= 2^22. Done the same way rather than with {@code Math.rint} so that even
     * out-of-range input gives ggml's bytes.
     */
    private static int nearestInt(float v) {
        return (Float.floatToRawIntBits(v + 12582912.f) & 0x007FFFFF) - 0x00400000;
    }

    // ---- Q4_K ----

    private static final class Q4KScratch {
        final int[] levels = new int[QK_K];
        final int[] aux = new int[32];
        final float[] weights = new float[32];
        final float[] mins = new float[QK_K / 32];
        final float[] scales = new float[QK_K / 32];
        final float[] min = new float[1];
        final byte[] packed = new byte[12];
    }

    private static void q4KBlock(float[] x, int o, MemorySegment y, long p, Q4KScratch s) {
        float maxScale = 0; // scales are never negative once the min is subtracted
        float maxMin = 0;
        for (int j = 0; j < QK_K / 32; j++) {
            float sumX2 = 0;
            for (int l = 0; l < 32; l++) {
                sumX2 += x[o + 32 * j + l] * x[o + 32 * j + l];
            }
            float avX = (float) Math.sqrt(sumX2 / 32);
            for (int l = 0; l < 32; l++) {
                s.weights[l] = avX + Math.abs(x[o + 32 * j + l]);
            }
            s.scales[j] = makeQkx2Quants(32, 15, x, o + 32 * j, s.weights, s.levels, 32 * j, s.min, s.aux,
                    -1.f, 0.1f, 20);
            s.mins[j] = s.min[0];
            if (s.scales[j] > maxScale) {
                maxScale = s.scales[j];
            }
            if (s.mins[j] > maxMin) {
                maxMin = s.mins[j];
            }
        }

        float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
        float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
        byte[] sc = s.packed;
        java.util.Arrays.fill(sc, (byte) 0);
        for (int j = 0; j < QK_K / 32; j++) {
            // ggml stores nearest_int into a uint8_t before clamping: keep that wrap-around.
            int ls = Math.min(63, nearestInt(invScale * s.scales[j]) & 0xFF);
            int lm = Math.min(63, nearestInt(invMin * s.mins[j]) & 0xFF);
            if (j < 4) {
                sc[j] = (byte) ls;
                sc[j + 4] = (byte) lm;
            } else {
                sc[j + 4] = (byte) ((ls & 0xF) | ((lm & 0xF) << 4));
                sc[j - 4] |= (byte) ((ls >> 4) << 6);
                sc[j] |= (byte) ((lm >> 4) << 6);
            }
        }
        short dBits = f16(maxScale / 63.f);
        short dminBits = f16(maxMin / 63.f);
        y.set(I16, p, dBits);
        y.set(I16, p + 2, dminBits);
        MemorySegment.copy(sc, 0, y, ValueLayout.JAVA_BYTE, p + 4, 12);

        // Re-derive the levels from the scales as stored (6-bit, f16), so the stored levels fit them.
        float dAll = Dequant.f16(dBits);
        float dminAll = Dequant.f16(dminBits);
        for (int j = 0; j < QK_K / 32; j++) {
            int scj;
            int mj;
            if (j < 4) {
                scj = sc[j] & 63;
                mj = sc[j + 4] & 63;
            } else {
                scj = (sc[j + 4] & 0xF) | (((sc[j - 4] & 0xFF) >> 6) << 4);
                mj = ((sc[j + 4] & 0xFF) >> 4) | (((sc[j] & 0xFF) >> 6) << 4);
            }
            float d = dAll * scj;
            if (d == 0) {
                continue;
            }
            float dm = dminAll * mj;
            for (int ii = 0; ii < 32; ii++) {
                int l = nearestInt((x[o + 32 * j + ii] + dm) / d);
                s.levels[32 * j + ii] = Math.max(0, Math.min(15, l));
            }
        }
        long q = p + 16;
        for (int j = 0; j < QK_K; j += 64) {
            for (int l = 0; l < 32; l++) {
                y.set(ValueLayout.JAVA_BYTE, q + l, (byte) (s.levels[j + l] | (s.levels[j + l + 32] << 4)));
            }
            q += 32;
        }
    }

    /**
     * ggml's {@code make_qkx2_quants}: levels in [0, nmax] and a scale and min for {@code n} values, found by
     * trying {@code nstep + 1} candidate scales and fitting scale and min by weighted least squares.
     * Returns the scale; {@code theMin[0]} gets the (non-negative) amount to subtract.
     */
    private static float makeQkx2Quants(int n, int nmax, float[] x, int xo, float[] weights, int[] levels, int lo,
                                        float[] theMin, int[] aux, float rmin, float rdelta, int nstep) {
        float min = x[xo];
        float max = x[xo];
        float sumW = weights[0];
        float sumX = sumW * x[xo];
        for (int i = 1; i < n; i++) {
            if (x[xo + i] < min) {
                min = x[xo + i];
            }
            if (x[xo + i] > max) {
                max = x[xo + i];
            }
            float w = weights[i];
            sumW += w;
            sumX += w * x[xo + i];
        }
        if (min > 0) {
            min = 0;
        }
        if (max == min) {
            for (int i = 0; i < n; i++) {
                levels[lo + i] = 0;
            }
            theMin[0] = -min;
            return 0.f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++) {
            int l = nearestInt(iscale * (x[xo + i] - min));
            levels[lo + i] = Math.max(0, Math.min(nmax, l));
            float diff = scale * levels[lo + i] + min - x[xo + i];
            diff = diff * diff;
            bestError += weights[i] * diff;
        }
        if (nstep < 1) {
            theMin[0] = -min;
            return scale;
        }
        for (int is = 0; is <= nstep; is++) {
            iscale = (rmin + rdelta * is + nmax) / (max - min);
            float sumL = 0;
            float sumL2 = 0;
            float sumXL = 0;
            for (int i = 0; i < n; i++) {
                int l = nearestInt(iscale * (x[xo + i] - min));
                l = Math.max(0, Math.min(nmax, l));
                aux[i] = l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXL += w * l * x[xo + i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (det > 0) {
                float thisScale = (sumW * sumXL - sumX * sumL) / det;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / det;
                if (thisMin > 0) {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }
                float curError = 0;
                for (int i = 0; i < n; i++) {
                    float diff = thisScale * aux[i] + thisMin - x[xo + i];
                    diff = diff * diff;
                    curError += weights[i] * diff;
                }
                if (curError < bestError) {
                    System.arraycopy(aux, 0, levels, lo, n);
                    bestError = curError;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin[0] = -min;
        return scale;
    }

    // ---- Q6_K ----

    private static void q6KBlock(float[] x, int o, MemorySegment y, long p, int[] levels, float[] scales) {
        float maxScale = 0;
        float maxAbsScale = 0;
        for (int ib = 0; ib < QK_K / 16; ib++) {
            float scale = makeQxQuants(16, 32, x, o + 16 * ib, levels, 16 * ib);
            scales[ib] = scale;
            float absScale = Math.abs(scale);
            if (absScale > maxAbsScale) {
                maxAbsScale = absScale;
                maxScale = scale;
            }
        }
        if (maxAbsScale < GROUP_MAX_EPS) {
            y.asSlice(p, 210).fill((byte) 0);
            return;
        }
        float iscale = -128.f / maxScale;
        short dBits = f16(1 / iscale);
        long sc = p + 192;
        for (int ib = 0; ib < QK_K / 16; ib++) {
            y.set(ValueLayout.JAVA_BYTE, sc + ib, (byte) Math.min(127, nearestInt(iscale * scales[ib])));
        }
        y.set(I16, p + 208, dBits);

        float dAll = Dequant.f16(dBits);
        for (int j = 0; j < QK_K / 16; j++) {
            float d = dAll * y.get(ValueLayout.JAVA_BYTE, sc + j);
            if (d == 0) {
                continue;
            }
            for (int ii = 0; ii < 16; ii++) {
                int l = nearestInt(x[o + 16 * j + ii] / d);
                levels[16 * j + ii] = Math.max(-32, Math.min(31, l)) + 32;
            }
        }
        long ql = p;
        long qh = p + 128;
        for (int j = 0; j < QK_K; j += 128) {
            for (int l = 0; l < 32; l++) {
                int q1 = levels[j + l] & 0xF;
                int q2 = levels[j + l + 32] & 0xF;
                int q3 = levels[j + l + 64] & 0xF;
                int q4 = levels[j + l + 96] & 0xF;
                y.set(ValueLayout.JAVA_BYTE, ql + l, (byte) (q1 | (q3 << 4)));
                y.set(ValueLayout.JAVA_BYTE, ql + l + 32, (byte) (q2 | (q4 << 4)));
                y.set(ValueLayout.JAVA_BYTE, qh + l, (byte) ((levels[j + l] >> 4) | ((levels[j + l + 32] >> 4) << 2)
                        | ((levels[j + l + 64] >> 4) << 4) | ((levels[j + l + 96] >> 4) << 6)));
            }
            ql += 64;
            qh += 32;
        }
    }

    /**
     * ggml's {@code make_qx_quants} with {@code rmse_type} 1 and no importance weights: signed levels in
     * [-nmax, nmax) (stored offset by nmax) and the scale minimizing the x²-weighted error over 19 candidate
     * scales around {@code max / -nmax}.
     */
    private static float makeQxQuants(int n, int nmax, float[] x, int xo, int[] levels, int lo) {
        float max = 0;
        float amax = 0;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[xo + i]);
            if (ax > amax) {
                amax = ax;
                max = x[xo + i];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; i++) {
                levels[lo + i] = 0;
            }
            return 0.f;
        }
        float iscale = -nmax / max;
        float sumlx = 0;
        float suml2 = 0;
        for (int i = 0; i < n; i++) {
            float xi = x[xo + i];
            int l = nearestInt(iscale * xi);
            l = Math.max(-nmax, Math.min(nmax - 1, l));
            levels[lo + i] = l + nmax;
            float w = xi * xi;
            sumlx += w * xi * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
        float best = scale * sumlx;
        for (int is = -9; is <= 9; is++) {
            if (is == 0) {
                continue;
            }
            iscale = -(nmax + 0.1f * is) / max;
            sumlx = 0;
            suml2 = 0;
            for (int i = 0; i < n; i++) {
                float xi = x[xo + i];
                int l = nearestInt(iscale * xi);
                l = Math.max(-nmax, Math.min(nmax - 1, l));
                float w = xi * xi;
                sumlx += w * xi * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2) {
                for (int i = 0; i < n; i++) {
                    int l = nearestInt(iscale * x[xo + i]);
                    levels[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }
}
