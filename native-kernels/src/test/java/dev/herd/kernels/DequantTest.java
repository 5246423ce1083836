package dev.herd.kernels;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Dequantization of hand-built blocks. Every expected value is worked out from the block layout (ggml's,
 * as documented on {@link DType}), never taken from running the code: the literals carry the arithmetic
 * in their comments, and the whole-block checks recompute each element from the layout's formula.
 */
class DequantTest {
    // f16 bit patterns of the scales used below
    private static final short H_1 = 0x3C00;       // 1.0
    private static final short H_2 = 0x4000;       // 2.0
    private static final short H_HALF = 0x3800;    // 0.5
    private static final short H_QUARTER = 0x3400; // 0.25
    private static final short H_M_QUARTER = (short) 0xB400; // -0.25

    private static Tensor tensor(DType type, byte[] bytes, long... shape) {
        return new Tensor("t", type, shape, MemorySegment.ofArray(bytes));
    }

    private static float[] row(Tensor t, long r) {
        float[] out = new float[(int) t.cols() + 3];
        Dequant.row(t, r, out, 3); // a non-zero offset, to check it is honoured
        float[] values = new float[(int) t.cols()];
        System.arraycopy(out, 3, values, 0, values.length);
        return values;
    }

    /** Equal as numbers: 0.0 and -0.0 agree (a negative scale times level 0 gives -0.0). */
    private static void same(float expected, float actual, String message) {
        assertTrue(expected == actual, () -> message + ": expected " + expected + " but was " + actual);
    }

    private static void same(float expected, float actual) {
        same(expected, actual, "value");
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    // ---- Q8_0 ----

    @Test
    void q8_0BlocksAndRows() {
        // one tensor of 2 rows x 64 columns: 2 blocks per row, 4 blocks of 34 bytes
        ByteBuffer b = le(4 * 34);
        // row 0, block 0: d = 0.5, q[j] = j - 16 except q[0] = 127, q[1] = -128
        b.putShort(H_HALF);
        for (int j = 0; j < 32; j++) {
            b.put((byte) (j == 0 ? 127 : j == 1 ? -128 : j - 16));
        }
        // row 0, block 1: d = -0.25, every q = 3
        b.putShort(H_M_QUARTER);
        for (int j = 0; j < 32; j++) {
            b.put((byte) 3);
        }
        // row 1, block 0: d = 1, q[j] = j; block 1: d = 2^-24 (the smallest f16 subnormal, 0x0001), q = 64
        b.putShort(H_1);
        for (int j = 0; j < 32; j++) {
            b.put((byte) j);
        }
        b.putShort((short) 0x0001);
        for (int j = 0; j < 32; j++) {
            b.put((byte) 64);
        }
        Tensor t = tensor(DType.Q8_0, b.array(), 2, 64);

        float[] r0 = row(t, 0);
        same(63.5f, r0[0]);   // 0.5 * 127
        same(-64f, r0[1]);    // 0.5 * -128
        same(-7f, r0[2]);     // 0.5 * (2 - 16)
        same(0f, r0[16]);     // 0.5 * 0
        same(7.5f, r0[31]);   // 0.5 * 15
        for (int j = 32; j < 64; j++) {
            same(-0.75f, r0[j]); // -0.25 * 3
        }
        float[] r1 = row(t, 1);
        for (int j = 0; j < 32; j++) {
            same(j, r1[j]);
            same(0x1p-18f, r1[32 + j]); // 2^-24 * 64
        }
    }

    // ---- Q4_0 ----

    @Test
    void q4_0LowNibblesFirstHalfHighNibblesSecondHalf() {
        ByteBuffer b = le(2 * 18);
        // block 0: d = 2, byte j = j | (15 - j) << 4: element j = 2 * (j - 8), element j + 16 = 2 * (7 - j)
        b.putShort(H_2);
        for (int j = 0; j < 16; j++) {
            b.put((byte) (j | (15 - j) << 4));
        }
        // block 1: d = -0.25, bytes 0x80: low nibble 0 -> -0.25 * -8 = 2, high nibble 8 -> 0
        b.putShort(H_M_QUARTER);
        for (int j = 0; j < 16; j++) {
            b.put((byte) 0x80);
        }
        float[] r = row(tensor(DType.Q4_0, b.array(), 64), 0);
        same(-16f, r[0]);  // 2 * (0 - 8)
        same(0f, r[8]);    // 2 * (8 - 8)
        same(14f, r[15]);  // 2 * (15 - 8)
        same(14f, r[16]);  // high nibble of byte 0 is 15: 2 * 7
        same(-16f, r[31]); // high nibble of byte 15 is 0
        for (int j = 0; j < 16; j++) {
            same(2f * (j - 8), r[j]);
            same(2f * (7 - j), r[16 + j]);
            same(2f, r[32 + j]);
            same(0f, r[48 + j]);
        }
    }

    // ---- Q4_K ----

    /** Sub-block scales and mins, 6 bits each, with high bits set so the packing's upper parts matter. */
    private static final int[] K4_SC = {1, 2, 3, 63, 17, 32, 45, 60};
    private static final int[] K4_M = {0, 4, 8, 12, 16, 33, 48, 63};

    @Test
    void q4KScalesAndMinsUnpackFromTwelveBytes() {
        // The 12 scale bytes for K4_SC / K4_M, packed by hand:
        //   bytes 0-3:  sc[j] | (sc[j+4] >> 4) << 6      bytes 4-7: m[j] | (m[j+4] >> 4) << 6
        //   bytes 8-11: (sc[j+4] & 15) | (m[j+4] & 15) << 4
        byte[] scales = {
            0x41, (byte) 0x82, (byte) 0x83, (byte) 0xFF, // 1|1<<6, 2|2<<6, 3|2<<6, 63|3<<6
            0x40, (byte) 0x84, (byte) 0xC8, (byte) 0xCC, // 0|1<<6, 4|2<<6, 8|3<<6, 12|3<<6
            0x01, 0x10, 0x0D, (byte) 0xFC,               // 1|0<<4, 0|1<<4, 13|0<<4, 12|15<<4
        };
        ByteBuffer b = le(144);
        b.putShort(H_1);    // d = 1
        b.putShort(H_HALF); // dmin = 0.5
        b.put(scales);
        // quants: byte 32c + l holds element 64c + l (sub-block 2c) in its low nibble, value l & 15, and element
        // 64c + 32 + l (sub-block 2c + 1) in its high nibble, value 15 - (l & 15)
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                b.put((byte) ((l & 15) | (15 - (l & 15)) << 4));
            }
        }
        float[] r = row(tensor(DType.Q4_K, b.array(), 256), 0);
        same(0f, r[0]);        // sub-block 0, q 0: 1 * 1 * 0 - 0.5 * 0
        same(15f, r[15]);      // sub-block 0, q 15: 1 * 1 * 15
        same(28f, r[32]);      // sub-block 1, q 15: 1 * 2 * 15 - 0.5 * 4
        same(367.5f, r[163]);  // sub-block 5, q 15 - 3 = 12: 32 * 12 - 0.5 * 33
        same(201f, r[197]);    // sub-block 6, q 5: 45 * 5 - 0.5 * 48
        same(-31.5f, r[255]);  // sub-block 7, q 0: 0 - 0.5 * 63
        for (int e = 0; e < 256; e++) {
            int within = e % 64;
            int sub = 2 * (e / 64) + within / 32;
            int q = within < 32 ? within & 15 : 15 - ((within - 32) & 15);
            same(1f * K4_SC[sub] * q - 0.5f * K4_M[sub], r[e], "element " + e);
        }
    }

    @Test
    void q4KSecondBlockAndSecondRow() {
        // 2 rows x 512 columns; every block: d = 0.5, dmin = 0.25, every scale 1 and min 2, quants 0xF0
        ByteBuffer b = le(4 * 144);
        for (int blk = 0; blk < 4; blk++) {
            b.putShort(H_HALF);
            b.putShort(H_QUARTER);
            b.put(new byte[] {1, 1, 1, 1, 2, 2, 2, 2, 0x21, 0x21, 0x21, 0x21});
            for (int i = 0; i < 128; i++) {
                b.put((byte) (blk == 3 && i == 127 ? 0x00 : 0xF0));
            }
        }
        Tensor t = tensor(DType.Q4_K, b.array(), 2, 512);
        for (int r = 0; r < 2; r++) {
            float[] v = row(t, r);
            for (int e = 0; e < 512; e++) {
                boolean high = e % 64 >= 32;
                float expected = high ? 0.5f * 15 - 0.25f * 2 : -0.25f * 2; // 7 or -0.5
                if (r == 1 && e == 256 + 192 + 32 + 31) {
                    expected = -0.5f; // the one zeroed byte (last of block 3): its high nibble is 0 too
                }
                same(expected, v[e], "row " + r + " element " + e);
            }
        }
    }

    // ---- Q6_K ----

    /** Packs 256 6-bit quants (0..63) per ggml's Q6_K layout: low nibbles in ql, high 2-bit pairs in qh. */
    private static byte[] packQ6K(int[] q, byte[] scales, short d) {
        ByteBuffer b = le(210);
        byte[] ql = new byte[128];
        byte[] qh = new byte[64];
        for (int n = 0; n < 2; n++) {
            for (int l = 0; l < 32; l++) {
                int e = 128 * n + l;
                ql[64 * n + l] = (byte) ((q[e] & 15) | (q[e + 64] & 15) << 4);
                ql[64 * n + l + 32] = (byte) ((q[e + 32] & 15) | (q[e + 96] & 15) << 4);
                qh[32 * n + l] = (byte) (q[e] >> 4 | (q[e + 32] >> 4) << 2 | (q[e + 64] >> 4) << 4 | (q[e + 96] >> 4) << 6);
            }
        }
        b.put(ql).put(qh).put(scales).putShort(d);
        return b.array();
    }

    @Test
    void q6KSingleBitsLandWhereTheLayoutSays() {
        ByteBuffer b = le(210);
        byte[] ql = new byte[128];
        byte[] qh = new byte[64];
        byte[] sc = new byte[16];
        java.util.Arrays.fill(sc, (byte) 1);
        ql[5] = 0x21;          // element 5 low nibble 1, element 5 + 64 low nibble 2
        qh[40] = (byte) 0xE4;  // half 1, l = 8: bits 00 -> element 136, 01 -> 168, 10 -> 200, 11 -> 232
        sc[14] = 3;            // elements 224..239
        sc[15] = -2;           // elements 240..255
        b.put(ql).put(qh).put(sc).putShort(H_1);
        float[] r = row(tensor(DType.Q6_K, b.array(), 256), 0);
        same(-31f, r[5]);    // 1 * 1 * (1 - 32)
        same(-30f, r[69]);   // 1 * 1 * (2 - 32)
        same(-32f, r[136]);  // high bits 0, low 0
        same(-16f, r[168]);  // high bits 1: q = 16
        same(0f, r[200]);    // high bits 2: q = 32
        same(48f, r[232]);   // high bits 3: q = 48, scale 3: 3 * 16
        same(-96f, r[225]);  // scale 3: 3 * -32
        same(64f, r[250]);   // scale -2: -2 * -32
        same(-32f, r[0]);
        same(-32f, r[100]);
    }

    @Test
    void q6KWholeBlockFromTheLayoutFormula() {
        // d = 0.25, scale of sub-block i = i - 8, q[e] = 7e mod 64; x = d * scale[e / 16] * (q - 32)
        int[] q = new int[256];
        for (int e = 0; e < 256; e++) {
            q[e] = e * 7 % 64;
        }
        byte[] sc = new byte[16];
        for (int i = 0; i < 16; i++) {
            sc[i] = (byte) (i - 8);
        }
        byte[] block = packQ6K(q, sc, H_QUARTER);
        byte[] two = new byte[420];
        System.arraycopy(block, 0, two, 210, 210); // row 0 all zero bytes, row 1 this block
        Tensor t = tensor(DType.Q6_K, two, 2, 256);
        float[] r = row(t, 1);
        same(64f, r[0]);      // 0.25 * -8 * (0 - 32)
        same(43.5f, r[37]);   // q = 259 mod 64 = 3, scale 2 - 8: 0.25 * -6 * -29
        same(0f, r[130]);     // scale 8 - 8 = 0
        same(24f, r[200]);    // q = 1400 mod 64 = 56, scale 4: 0.25 * 4 * 24
        same(43.75f, r[255]); // q = 57, scale 7: 0.25 * 7 * 25
        for (int e = 0; e < 256; e++) {
            same(0.25f * (e / 16 - 8) * (q[e] - 32), r[e], "element " + e);
        }
        for (float v : row(t, 0)) {
            same(0f, v);
        }
    }

    // ---- F16, BF16, F32 ----

    @Test
    void f16IncludingSubnormalsInfinitiesNaNAndNegativeZero() {
        short[] bits = {0x3C00, (short) 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x0400, (short) 0x8000, 0x7C00,
            (short) 0xFC00, 0x3555, (short) 0x8001};
        float[] expected = {1f, -2f, 65504f, 0x1p-24f, 1023 * 0x1p-24f, 0x1p-14f, -0f, Float.POSITIVE_INFINITY,
            Float.NEGATIVE_INFINITY, 0.333251953125f /* 1 + 341/1024, times 2^-2 */, -0x1p-24f};
        ByteBuffer b = le(2 * (bits.length + 1));
        for (short s : bits) {
            b.putShort(s);
        }
        b.putShort((short) 0x7E00); // NaN
        float[] r = row(tensor(DType.F16, b.array(), bits.length + 1), 0);
        for (int i = 0; i < bits.length; i++) {
            assertEquals(Float.floatToIntBits(expected[i]), Float.floatToIntBits(r[i]), "f16 " + Integer.toHexString(bits[i] & 0xFFFF));
            assertEquals(Float.floatToIntBits(expected[i]), Float.floatToIntBits(Dequant.f16(bits[i])));
        }
        assertTrue(Float.isNaN(r[bits.length]));
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(r[6]), "negative zero keeps its sign");
    }

    @Test
    void bf16IncludingSubnormalsInfinitiesNaNAndNegativeZero() {
        short[] bits = {0x3F80, (short) 0xC040, 0x0001, 0x007F, 0x0080, (short) 0x8000, 0x7F80, (short) 0xFF80,
            0x7F7F, 0x4049};
        float[] expected = {1f, -3f, 0x1p-133f /* float bits 0x00010000: 2^16 * 2^-149 */, 127 * 0x1p-133f,
            0x1p-126f, -0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, (2 - 0x1p-7f) * 0x1p127f,
            3.140625f /* 1 + 73/128, times 2 */};
        ByteBuffer b = le(2 * (bits.length + 1));
        for (short s : bits) {
            b.putShort(s);
        }
        b.putShort((short) 0x7FC0); // NaN
        float[] r = row(tensor(DType.BF16, b.array(), bits.length + 1), 0);
        for (int i = 0; i < bits.length; i++) {
            assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(r[i]), "bf16 " + Integer.toHexString(bits[i] & 0xFFFF));
        }
        assertTrue(Float.isNaN(r[bits.length]));
    }

    @Test
    void f32RowsAreCopied() {
        ByteBuffer b = le(4 * 6);
        for (float f : new float[] {1.5f, -2f, 3f, Float.MIN_VALUE, -0f, 7f}) {
            b.putFloat(f);
        }
        Tensor t = tensor(DType.F32, b.array(), 2, 3);
        same(Float.MIN_VALUE, row(t, 1)[0]);
        same(7f, row(t, 1)[2]);
        same(-2f, row(t, 0)[1]);
    }

    // ---- F8 E4M3 ----

    @Test
    void e4m3IncludingSubnormalsNaNAndNegativeZero() {
        // sign | 4 exponent bits (bias 7) | 3 mantissa bits
        byte[] codes = {0x38, 0x3C, 0x01, 0x07, 0x08, 0x77, 0x78, 0x7E, (byte) 0xFE, (byte) 0x80, 0x00, (byte) 0xB0};
        float[] expected = {
            1f,            // exp 7, man 0
            1.5f,          // exp 7, man 4: 1 + 4/8
            0x1p-9f,       // subnormal: 1/8 * 2^-6
            7 * 0x1p-9f,   // largest subnormal
            0x1p-6f,       // smallest normal
            240f,          // exp 14, man 7: 1.875 * 2^7
            256f,          // exp 15, man 0
            448f,          // exp 15, man 6: the largest finite value
            -448f,
            -0f,
            0f,
            -0.5f,         // sign, exp 6
        };
        for (int i = 0; i < codes.length; i++) {
            assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(Dequant.e4m3(codes[i])),
                    "e4m3 0x" + Integer.toHexString(codes[i] & 0xFF));
        }
        assertTrue(Float.isNaN(Dequant.e4m3((byte) 0x7F)));
        assertTrue(Float.isNaN(Dequant.e4m3((byte) 0xFF)));

        // in a tensor with one scale for the whole tensor (shape (1, 1)): every value times 2
        Tensor scale = tensor(DType.F32, le(4).putFloat(2f).array(), 1, 1);
        Tensor t = new Tensor("t", DType.F8_E4M3, new long[] {2, codes.length / 2}, MemorySegment.ofArray(codes), scale);
        for (int r = 0; r < 2; r++) {
            float[] v = row(t, r);
            for (int i = 0; i < v.length; i++) {
                same(2 * expected[r * v.length + i], v[i]);
            }
        }
    }

    @Test
    void e4m3PerRowScales() {
        byte[] codes = new byte[3 * 4];
        java.util.Arrays.fill(codes, (byte) 0x38); // 1.0
        Tensor scale = tensor(DType.F32, le(12).putFloat(1f).putFloat(-3f).putFloat(0.5f).array(), 3, 1);
        Tensor t = new Tensor("t", DType.F8_E4M3, new long[] {3, 4}, MemorySegment.ofArray(codes), scale);
        same(1f, row(t, 0)[3]);
        same(-3f, row(t, 1)[0]);
        same(0.5f, row(t, 2)[2]);
    }

    @Test
    void e4m3BlockScalesWhenRowsAreNotAMultipleOfTheBlock() {
        // 130 rows x 4 columns with 128 x 128 blocks: scales of shape (2, 1); rows 0..127 use the first
        // scale and rows 128..129 the second (as DeepSeek V3's 576-row tensors with 5 row blocks)
        byte[] codes = new byte[130 * 4];
        java.util.Arrays.fill(codes, (byte) 0x38); // 1.0
        Tensor scale = tensor(DType.F32, le(8).putFloat(10f).putFloat(20f).array(), 2, 1);
        Tensor t = new Tensor("t", DType.F8_E4M3, new long[] {130, 4}, MemorySegment.ofArray(codes), scale);
        same(10f, row(t, 0)[0]);
        same(10f, row(t, 65)[0]);
        same(10f, row(t, 127)[3]);
        same(20f, row(t, 128)[0]);
        same(20f, row(t, 129)[3]);
    }

    @Test
    void e4m3BlockScalesAlongColumns() {
        // 2 rows x 160 columns, blocks of 128 x 128: scales (1, 2); columns 0..127 and 128..159
        byte[] codes = new byte[2 * 160];
        java.util.Arrays.fill(codes, (byte) 0x40); // exp 8: 2.0
        Tensor scale = tensor(DType.F32, le(8).putFloat(1f).putFloat(-1f).array(), 1, 2);
        Tensor t = new Tensor("t", DType.F8_E4M3, new long[] {2, 160}, MemorySegment.ofArray(codes), scale);
        float[] r = row(t, 1);
        same(2f, r[0]);
        same(2f, r[127]);
        same(-2f, r[128]);
        same(-2f, r[159]);
    }
}
