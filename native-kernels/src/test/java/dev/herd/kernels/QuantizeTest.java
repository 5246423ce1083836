package dev.herd.kernels;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Quantizers: exact bytes on hand-made inputs, exact bytes against ggml's reference quantizers on a fixed
 * input, round-trip error bounds on random data, and multi-row input.
 */
class QuantizeTest {

    private static float[] dequantize(DType type, byte[] bytes, int n) {
        Tensor t = new Tensor("t", type, new long[] {n}, MemorySegment.ofArray(bytes));
        float[] out = new float[n];
        Dequant.row(t, 0, out, 0);
        return out;
    }

    /** Equal as numbers element by element: 0.0 and -0.0 agree (a negative scale times level 0). */
    private static void assertSameValues(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            int k = i;
            assertTrue(expected[i] == actual[i], () -> "element " + k + ": expected " + expected[k] + " but was " + actual[k]);
        }
    }

    private static float f16At(byte[] b, int offset) {
        return Float.float16ToFloat(ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getShort(offset));
    }

    private static float[] gaussian(long seed, int n, float std) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian() * std;
        }
        return x;
    }

    // ---- hand-made inputs ----

    @Test
    void q8_0RoundsHalvesAwayFromZero() {
        // amax 63.5 gives d = 63.5 / 127 = 0.5 exactly (f16 0x3800) and 1/d = 2, so each q is round(2x)
        float[] x = new float[32];
        float[] head = {63.5f, -63.5f, 1.25f, -1.25f, 0.75f, -0.25f, 0.2f, 10f};
        System.arraycopy(head, 0, x, 0, head.length);
        byte[] expected = new byte[34];
        expected[0] = 0x00;
        expected[1] = 0x38;
        // 127, -127, 2.5 -> 3, -2.5 -> -3, 1.5 -> 2, -0.5 -> -1, 0.4 -> 0, 20; the rest 0
        byte[] q = {127, -127, 3, -3, 2, -1, 0, 20};
        System.arraycopy(q, 0, expected, 2, q.length);
        assertArrayEquals(expected, Quantize.quantize(DType.Q8_0, x));

        assertArrayEquals(new byte[34], Quantize.quantize(DType.Q8_0, new float[32]), "all zero: d = 0, q = 0");
    }

    @Test
    void q4_0UsesTheSignedMaximumAndClampsTheOtherEnd() {
        float[] x = new float[64];
        // block 0: the largest magnitude is -8, so d = -8 / -8 = 1; level = min(15, trunc(x + 8.5))
        float[] a = {-8f, 7f, 7.6f, 0.5f, -0.5f, 0.49f, -3f, 2.2f};
        System.arraycopy(a, 0, x, 0, a.length);
        x[16] = 3f;
        // block 1: the largest magnitude is +16 (seen before -16), so d = 16 / -8 = -2 and x * (1/d) = -x/2
        x[32] = 16f;
        x[33] = -16f; // -> 8 + 8.5 = 16.5 -> 16, clamped to 15: dequantizes to -14
        x[34] = -14f; // -> 7 + 8.5 -> 15
        x[35] = 1f;   // -> -0.5 + 8.5 -> 8: dequantizes to 0
        x[36] = -1f;  // -> 0.5 + 8.5 -> 9: dequantizes to -2
        byte[] expected = new byte[36];
        expected[0] = 0x00; // d = 1.0 = f16 0x3C00
        expected[1] = 0x3C;
        // levels 0, 15, 15, 9, 8, 8, 5, 10, then 8; element 16 (byte 0's high nibble) = trunc(11.5) = 11
        byte[] lo = {(byte) 0xB0, (byte) 0x8F, (byte) 0x8F, (byte) 0x89, (byte) 0x88, (byte) 0x88, (byte) 0x85, (byte) 0x8A};
        Arrays.fill(expected, 2, 18, (byte) 0x88);
        System.arraycopy(lo, 0, expected, 2, lo.length);
        expected[18] = 0x00; // d = -2.0 = f16 0xC000
        expected[19] = (byte) 0xC0;
        Arrays.fill(expected, 20, 36, (byte) 0x88);
        expected[20] = 0x00 | (byte) 0x80; // level 0
        expected[21] = (byte) 0x8F;        // level 15
        expected[22] = (byte) 0x8F;        // level 15
        expected[23] = (byte) 0x88;        // level 8
        expected[24] = (byte) 0x89;        // level 9
        byte[] got = Quantize.quantize(DType.Q4_0, x);
        assertArrayEquals(expected, got);

        float[] back = dequantize(DType.Q4_0, got, 64);
        assertEquals(-8f, back[0]);
        assertEquals(7f, back[2]);   // 7.6 clamps to level 15
        assertEquals(16f, back[32]);
        assertEquals(-14f, back[33]); // -16 clamps
        assertEquals(-14f, back[34]);
        assertEquals(0f, Math.abs(back[35])); // level 8 with d = -2: -0.0
        assertEquals(-2f, back[36]);
    }

    @Test
    void f16RoundsToNearestEven() {
        float[] in = {1f, 65504f, 65519.99f, 65520f, 1 + 0x1p-11f, 1 + 3 * 0x1p-11f, 0x1p-24f, 0x1p-25f,
            3 * 0x1p-25f, -0f, Float.POSITIVE_INFINITY, Float.NaN, Float.intBitsToFloat(0xFFC00001), 1e-9f, -2.5f};
        int[] expected = {0x3C00, 0x7BFF, 0x7BFF, 0x7C00 /* tie: to even, which overflows */,
            0x3C00 /* tie between 0x3C00 and 0x3C01 */, 0x3C02 /* tie between 0x3C01 and 0x3C02 */,
            0x0001, 0x0000 /* tie between 0 and the smallest subnormal */, 0x0002, 0x8000, 0x7C00, 0x7E00,
            0xFE00 /* every NaN becomes the quiet NaN, keeping its sign */, 0x0000, 0xC100};
        for (int i = 0; i < in.length; i++) {
            assertEquals(expected[i], Quantize.f16(in[i]) & 0xFFFF, "f16(" + in[i] + ")");
        }
        byte[] b = Quantize.quantize(DType.F16, new float[] {1f, -2.5f});
        assertArrayEquals(new byte[] {0x00, 0x3C, 0x00, (byte) 0xC1}, b);
    }

    @Test
    void bf16RoundsToNearestEvenAndQuietsNaN() {
        int[] in = {0x3F800000, 0x3F808000, 0x3F818000, 0x3F808001, 0x7F800001, 0xFF800001, 0x7F7FFFFF,
            0x00008000, 0x00018000, 0x80000000, 0x7F800000, 0xC0490FDB};
        int[] expected = {
            0x3F80, // 1.0
            0x3F80, // tie, lower half even
            0x3F82, // tie, 0x3F81 is odd: up
            0x3F81, // just above the tie: up
            0x7FC0, // signalling NaN made quiet: 0x7F80 | 64
            0xFFC0,
            0x7F80, // the largest float rounds up to infinity
            0x0000, // subnormal tie: to even (not flushed, not rounded up)
            0x0002, // subnormal tie: up to even
            0x8000, // negative zero
            0x7F80, // infinity
            0xC049, // -pi: 0xC0490FDB, below the tie
        };
        for (int i = 0; i < in.length; i++) {
            assertEquals(expected[i], Quantize.bf16(Float.intBitsToFloat(in[i])) & 0xFFFF,
                    "bf16(0x" + Integer.toHexString(in[i]) + ")");
        }
    }

    @Test
    void q6KIsExactOnAGridOfIntegers() {
        // Each 16-element sub-block holds integers in [-31, 32] and one +32: the best scale is -1 for every
        // sub-block (level l = -x, stored as l + 32), so max_scale = -1, d = 1 / (-128 / -1) = 1/128 (f16
        // 0x2000) and every sub-block scale is nearest(128 * -1) = -128. Dequantized: 1/128 * -128 * (32 - x - 32) = x.
        Random r = new Random(3);
        float[] x = new float[512];
        for (int i = 0; i < x.length; i++) {
            x[i] = i % 16 == 3 ? 32 : r.nextInt(64) - 31;
        }
        byte[] q = Quantize.quantize(DType.Q6_K, x);
        for (int blk = 0; blk < 2; blk++) {
            assertEquals(0x00, q[210 * blk + 208]);
            assertEquals(0x20, q[210 * blk + 209]);
            for (int s = 0; s < 16; s++) {
                assertEquals((byte) -128, q[210 * blk + 192 + s]);
            }
        }
        assertSameValues(x, dequantize(DType.Q6_K, q, 512));
    }

    @Test
    void q4KIsExactOnAGridOfLevels() {
        // Each 32-element sub-block holds 3.9375 * k - 7.875 for levels k in [0, 15] including 0 and 15: every
        // sub-block fits scale 3.9375 and min 7.875 exactly, so the 6-bit scales and mins are all 63 with
        // d = 3.9375 / 63 = 1/16 (f16 0x2C00) and dmin = 7.875 / 63 = 1/8 (f16 0x3000).
        Random r = new Random(4);
        float[] x = new float[512];
        for (int i = 0; i < x.length; i++) {
            int k = i % 32 == 0 ? 0 : i % 32 == 1 ? 15 : r.nextInt(16);
            x[i] = 3.9375f * k - 7.875f;
        }
        byte[] q = Quantize.quantize(DType.Q4_K, x);
        for (int blk = 0; blk < 2; blk++) {
            byte[] head = Arrays.copyOfRange(q, 144 * blk, 144 * blk + 16);
            byte[] expected = new byte[16];
            expected[1] = 0x2C;
            expected[3] = 0x30;
            Arrays.fill(expected, 4, 16, (byte) 0xFF); // 63 | 3 << 6 and (63 & 15) | (63 & 15) << 4
            assertArrayEquals(expected, head);
        }
        assertSameValues(x, dequantize(DType.Q4_K, q, 512));
    }

    @Test
    void kQuantsOfZerosAreZeroBlocks() {
        assertArrayEquals(new byte[144], Quantize.quantize(DType.Q4_K, new float[256]));
        assertArrayEquals(new byte[210], Quantize.quantize(DType.Q6_K, new float[256]));
    }

    // ---- ggml's reference quantizers ----

    /** A fixed input that needs no libm to reproduce: two 256-blocks, outliers, one all-positive sub-block. */
    private static float[] goldenInput() {
        float[] x = new float[512];
        for (int i = 0; i < x.length; i++) {
            float v = ((i * 37 + 11) % 101 - 50) / 16f * (1 + i % 5);
            if (i % 61 == 0) {
                v *= -7;
            }
            if (i >= 256 && i < 288) {
                v = Math.abs(v) + 3;
            }
            x[i] = v;
        }
        return x;
    }

    // The bytes ggml's quantize_row_{q8_0,q4_0,q4_K,q6_K}_ref produce for goldenInput() (ggml-org/ggml
    // d99724f, ggml-quants.c compiled with gcc 12 -O2 -ffp-contract=off, as f32 arithmetic without fused
    // multiply-add is what Java does).
    private static final String GOLDEN_Q8_0 = """
            4d307ffe31ca1315ee19aaeb0ddf0147c4052dea279cfd1dd2075ff50dbae838edfdee2e3bbb1419e91d93e310d50055
            b20636e32e81fc23c50773f20f57e042e82039b8162f1118e81b94e10fd5fe51b10534e22b81fb21c5056ef20e53de3e
            e8fa36b80e182035f709daf405f1ff1be40212f50ed3fe0beb0125fb041cf414f8fe81e60408f708672f94dd0dd5fb49
            af0430e02581fb1dc40064f10b4cdb36e8f831b70816e6156cdab73703f5fe11ec010bf808e1ff07f1ff17fc0212f70c
            fafe0b7f0105fa0519f603f5b72ff842ad032cde1f81fa1ac3fc5bf10846d92fe8f72cb50314e51164d70bd3f740e02f
            ac022add1c81f918c3fa56f10743d72be8f629b50013e50f60d50ad3f53daa02b13037332b7f1a28491b5b221a4b3837
            291e365517242c20633b1d3b1f465f153634b72f197ff817bff653ef0541d227e7f427affb81e20c5dcf09d0f23aa301
            27d8177c672ff717baf354ee0442ce26e5f227aaf812e00b5fca09cdf03a9c0028d4167ff716d632d9f82cf60223e413
            0ff814d0fa0a7f0532e105e4f61ec80015e70b43fb0bd8f7162f52ec0242c8221cef25a1f212dc085fc208c9ec3892ff
            28cf127ff514b2ec4fecee2e0142c4201cee249def12dad05fbe08c6e9378dfe27cc107ff414afe94eeb0040c62ec01e
            1cec2398eb12d8055fb9083be73687fe27c90e7ff413abe64deaff40be1b4d3805fc07ebfb03f80181f1010bfb0ae8ff
            07f50218fd03effa0ffb000cf30505fc
            """;

    private static final String GOLDEN_Q4_0 = """
            44c0509865eb8767b9862d9977caa8449c88e03ebc0489aa478af17699d568cd73a8cb36083f89aa478af17699d568cd
            7388bb369b9016457789a68788a7789a7688096789957899583fe17699d568bd7388bb369a90689af468a8c788799877
            89887709878a888869988798a83f68bc6378bb368a90689ae4589e5779ccd03f6378bb368a90689ae4589d5778cc358b
            a8c055357560566523466246664324755556a8bf86f0a8772cb973b99844eb866ab9760d58bfa9772cb973b99844eb86
            5ab9760d9977c8c25aa985a99866ca8777a9774b8877a09808bf73b99844fc8666b9760e9977da97329ce0be9854fc86
            66b9760e9977da9b329c874cb8befc8666b9760f9977dba8329c8844ca654448887888a7888877889087889978898688
            """;

    private static final String GOLDEN_Q4_K = """
            272d1a3959d6566c5455567f767f8696bf369a9368981568915587d4368bb267a90579a04688f3778dd667c265aab536
            b9c986aac1a6b9e598bdd3a8db76bbc098baf4b8cfe7a9ddb6bc0698cbc3b9c931263955183d43294b063b40183a5438
            3f57294d263c47f83b33293a572a3f26389dc379bc069bb0589af5889fe869cd768cc7489ca479aaf76aaf6689d6389d
            792d533c4e5854de000f0bcab5c4c4ff97f6759f4375d9738bc453a96777a534870a6394d5548c5773b72489ac6397f6
            164882364d76276b544a65064a51f65885285d233874064b60275aa4485f16388cc547ab9369a81669915658e4378c43
            67b3057aa04799f4789e2668d2658bc5d4c9d9b6cad1c6d905b8dde3c8eba6dbd0c7daf4c8dfb7c9e2c6dce6b8dcd3c9
            """;

    private static final String GOLDEN_Q6_K = """
            4160a47d5c8b445a0545cd18d08fbf1f1e791cf10f49c282aeed742a0851ca9fa16c56873959f048c514d089a902f087
            bc009ff91172dd5de4f618a11a28ee2ee507c315bf828c11ec6819f06fc72110d3148d3a2b80f7a292a50edac7fa31bb
            b315ae717c01eb6818e16fc7211f68bc8f3c229d01a19db100efd2ff4ac2dff36ca2196a855962d52bb6896ea2186e85
            6a91b65885aa5d866b4d266c95bb599118b5866da11b68865a61d658b5d66db6a49669e49a799652299749a59629e44a
            dc1c181c1de71d551ee61f8020e820e8e723d28375b0e9a62e89e9d86abde212d6798fd589d5e2d6411d970d66bab209
            2fbfaa21523a00737cb4cf20bbc716e307f49fe1e9d34724a2046dbeb9102ab6264eda9a81a5ae2ba95b4c21cbb62413
            9f0cee1e65e1dc1036bd5b60d36b04050c9510f52dbaf91aeb011bc60431fe2ba30e66f2dd0036bd6c70d36b14062ca5
            906095a14994bd59a07944a55994a949156d249045a99d65e89475a851289845e89c8b6da25b68865aa11668b5866db2
            5bb079a65e29974ae59239a48e69e35a7896221b1de3ed1b311bec19ec19eb19801867a4
            """;

    @Test
    void matchesGgmlReferenceBytes() {
        float[] x = goldenInput();
        assertGolden(GOLDEN_Q8_0, Quantize.quantize(DType.Q8_0, x), "Q8_0");
        assertGolden(GOLDEN_Q4_0, Quantize.quantize(DType.Q4_0, x), "Q4_0");
        assertGolden(GOLDEN_Q4_K, Quantize.quantize(DType.Q4_K, x), "Q4_K");
        assertGolden(GOLDEN_Q6_K, Quantize.quantize(DType.Q6_K, x), "Q6_K");
    }

    private static void assertGolden(String hex, byte[] got, String type) {
        byte[] expected = HexFormat.of().parseHex(hex.replaceAll("\\s", ""));
        assertEquals(expected.length, got.length, type + " size");
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], got[i], type + ": first difference from ggml at byte " + i);
        }
    }

    // ---- round trips on random data ----

    @Test
    void q8_0ErrorIsHalfAStepPerBlock() {
        for (float std : new float[] {1f, 1e-3f, 300f}) {
            float[] x = gaussian(11, 32 * 257, std);
            byte[] q = Quantize.quantize(DType.Q8_0, x);
            float[] y = dequantize(DType.Q8_0, q, x.length);
            for (int b = 0; b < x.length / 32; b++) {
                float amax = 0;
                for (int j = 0; j < 32; j++) {
                    amax = Math.max(amax, Math.abs(x[32 * b + j]));
                }
                double d = amax / 127.0;
                double stored = f16At(q, 34 * b);
                // rounding to the nearest level costs half a step; storing d in f16 shifts the top level by 127 * |d - stored|
                double bound = 0.5 * stored + 127 * Math.abs(d - stored) + 1e-6 * amax;
                for (int j = 0; j < 32; j++) {
                    int i = 32 * b + j;
                    assertTrue(Math.abs(x[i] - y[i]) <= bound, "element " + i + ": " + x[i] + " -> " + y[i]);
                }
            }
        }
    }

    @Test
    void q4_0ErrorIsHalfAStepExceptAtTheClampedEnd() {
        float[] x = gaussian(12, 32 * 257, 2f);
        byte[] q = Quantize.quantize(DType.Q4_0, x);
        float[] y = dequantize(DType.Q4_0, q, x.length);
        for (int b = 0; b < x.length / 32; b++) {
            float max = 0;
            for (int j = 0; j < 32; j++) {
                if (Math.abs(x[32 * b + j]) > Math.abs(max)) {
                    max = x[32 * b + j];
                }
            }
            double d = max / -8.0;
            double stored = Math.abs(f16At(q, 18 * b));
            for (int j = 0; j < 32; j++) {
                int i = 32 * b + j;
                // levels above 7.5 (toward -max) would round to 16, one past the last level 15
                double step = x[i] / d > 7.5 ? 1 : 0.5;
                double bound = step * stored + 8 * Math.abs(Math.abs(d) - stored) + 1e-6 * Math.abs(max);
                assertTrue(Math.abs(x[i] - y[i]) <= bound, "element " + i + ": " + x[i] + " -> " + y[i]);
            }
        }
    }

    @Test
    void kQuantErrorOnGaussianData() {
        // ggml's Q4_K and Q6_K give relative RMS errors of about 0.071 and 0.018 on Gaussian data (4.5 and
        // 6.6 bits per weight); a broken scale, min or level packing is far worse than these bounds
        assertRelativeRms(DType.Q4_K, 0.08, 0.15);
        assertRelativeRms(DType.Q6_K, 0.022, 0.05);
        assertRelativeRms(DType.Q8_0, 0.006, 0.006);
        assertRelativeRms(DType.Q4_0, 0.095, 0.13);
    }

    private static void assertRelativeRms(DType type, double rmsBound, double worstBound) {
        for (float std : new float[] {1f, 0.02f}) {
            float[] x = gaussian(13, 256 * 40, std);
            float[] y = dequantize(type, Quantize.quantize(type, x), x.length);
            double se = 0;
            double sx = 0;
            for (int i = 0; i < x.length; i++) {
                se += (x[i] - y[i]) * (x[i] - y[i]);
                sx += x[i] * x[i];
            }
            double rms = Math.sqrt(se / sx);
            assertTrue(rms <= rmsBound, type + " relative RMS error " + rms + " > " + rmsBound);
            assertTrue(rms > 0, type + " cannot be lossless on Gaussian data");
            // and no element is off by more than a fraction of its 32-element neighbourhood's range
            for (int b = 0; b < x.length / 32; b++) {
                float amax = 0;
                float worst = 0;
                for (int j = 0; j < 32; j++) {
                    amax = Math.max(amax, Math.abs(x[32 * b + j]));
                    worst = Math.max(worst, Math.abs(x[32 * b + j] - y[32 * b + j]));
                }
                assertTrue(worst <= worstBound * amax, type + " block " + b + ": error " + worst + " of " + amax);
            }
        }
    }

    @Test
    void f16AndBf16ErrorIsHalfAnUlp() {
        float[] x = gaussian(14, 4096, 1f);
        float[] h = dequantize(DType.F16, Quantize.quantize(DType.F16, x), x.length);
        float[] b = dequantize(DType.BF16, Quantize.quantize(DType.BF16, x), x.length);
        for (int i = 0; i < x.length; i++) {
            // f16 keeps 11 significant bits (absolute 2^-24 steps below 2^-14); bf16 keeps 8
            assertTrue(Math.abs(x[i] - h[i]) <= Math.max(Math.abs(x[i]) * 0x1p-11, 0x1p-25), "f16 " + x[i] + " -> " + h[i]);
            assertTrue(Math.abs(x[i] - b[i]) <= Math.abs(x[i]) * 0x1p-8, "bf16 " + x[i] + " -> " + b[i]);
        }
    }

    // ---- rows ----

    @Test
    void oddRowCountsQuantizeRowByRow() {
        for (DType type : new DType[] {DType.Q8_0, DType.Q4_0, DType.Q4_K, DType.Q6_K, DType.F16, DType.BF16, DType.F32}) {
            int cols = 512;
            int rows = 3;
            float[] x = gaussian(15, rows * cols, 1f);
            byte[] all = Quantize.quantize(type, x);
            long rowBytes = type.byteSize(cols);
            Tensor t = new Tensor("t", type, new long[] {rows, cols}, MemorySegment.ofArray(all));
            for (int r = 0; r < rows; r++) {
                // one row alone, into the middle of a larger buffer, gives the same bytes
                byte[] buf = new byte[(int) rowBytes + 10];
                Quantize.quantize(type, x, r * cols, cols, MemorySegment.ofArray(buf), 5);
                assertArrayEquals(Arrays.copyOfRange(all, (int) (r * rowBytes), (int) ((r + 1) * rowBytes)),
                        Arrays.copyOfRange(buf, 5, 5 + (int) rowBytes), type + " row " + r);
                float[] alone = dequantize(type, Arrays.copyOfRange(buf, 5, 5 + (int) rowBytes), cols);
                float[] fromTensor = new float[cols];
                Dequant.row(t, r, fromTensor, 0);
                assertArrayEquals(alone, fromTensor, type + " row " + r);
            }
        }
    }

    @Test
    void partialBlocksAndShortBuffersAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> Quantize.quantize(DType.Q8_0, new float[33]));
        assertThrows(IllegalArgumentException.class, () -> Quantize.quantize(DType.Q4_K, new float[255]));
        assertThrows(IndexOutOfBoundsException.class,
                () -> Quantize.quantize(DType.Q6_K, new float[256], 0, 256, MemorySegment.ofArray(new byte[209]), 0));
        assertThrows(IndexOutOfBoundsException.class,
                () -> Quantize.quantize(DType.Q8_0, new float[32], 1, 32, MemorySegment.ofArray(new byte[34]), 0));
        assertThrows(UnsupportedOperationException.class, () -> Quantize.quantize(DType.F8_E4M3, new float[4]));
    }
}
