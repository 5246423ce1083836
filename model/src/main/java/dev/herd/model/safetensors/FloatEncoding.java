package dev.herd.model.safetensors;

/**
 * f32 to the narrower float encodings safetensors files store, each rounding to nearest, ties to even (as
 * PyTorch's {@code .to(dtype)} does). The decoders are {@link dev.herd.kernels.Dequant}'s.
 *
 * <p>{@code dev.herd.kernels.Quantize} is to hold the project's converters; these few are kept here for the
 * writer until the two are unified.
 */
public final class FloatEncoding {
    /** Largest finite E4M3 value: 1.75 * 2^8. */
    public static final float E4M3_MAX = 448f;

    private FloatEncoding() {
    }

    /** IEEE binary16 bits; overflow gives infinity, NaN stays NaN. */
    public static short f16(float v) {
        return Float.floatToFloat16(v); // the JDK's conversion rounds to nearest even
    }

    /** bfloat16 bits: the top half of the f32 bits after rounding the bottom half to nearest even. */
    public static short bf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) {
            return (short) ((bits >>> 16) | 0x0040); // keep sign and payload's top, force quiet so it stays NaN
        }
        int lsb = (bits >>> 16) & 1;
        return (short) ((bits + 0x7FFF + lsb) >>> 16);
    }

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
}
