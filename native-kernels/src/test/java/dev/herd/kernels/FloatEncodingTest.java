package dev.herd.kernels;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FloatEncodingTest {

    @Test
    void e4m3EncodesEveryCodeBackToItself() {
        for (int code = 0; code < 256; code++) {
            float v = Dequant.e4m3((byte) code);
            if ((code & 0x7F) == 0x7F) {
                assertTrue(Float.isNaN(Dequant.e4m3(Quantize.e4m3(v))), "NaN code " + code);
                assertEquals(code & 0x80, Quantize.e4m3(v) & 0x80, "NaN keeps its sign");
            } else {
                assertEquals(code, Quantize.e4m3(v) & 0xFF, "code 0x" + Integer.toHexString(code) + " = " + v);
            }
        }
    }

    @Test
    void e4m3RoundsHalfwayToEvenAndOtherwiseToNearest() {
        // neighbouring codes are neighbouring values; the midpoint of two has 5 significant bits, exact in f32
        for (int sign : new int[] {0, 0x80}) {
            for (int code = 0; code < 0x7E; code++) {
                float lo = Dequant.e4m3((byte) (sign | code));
                float hi = Dequant.e4m3((byte) (sign | (code + 1)));
                float mid = (lo + hi) / 2;
                int even = (code & 1) == 0 ? code : code + 1;
                assertEquals(sign | even, Quantize.e4m3(mid) & 0xFF, "midpoint of codes " + code + ", " + (code + 1));
                float towardsLo = sign == 0 ? Math.nextDown(mid) : Math.nextUp(mid);
                float towardsHi = sign == 0 ? Math.nextUp(mid) : Math.nextDown(mid);
                assertEquals(sign | code, Quantize.e4m3(towardsLo) & 0xFF);
                assertEquals(sign | (code + 1), Quantize.e4m3(towardsHi) & 0xFF);
            }
        }
    }

    @Test
    void e4m3SaturatesAt448() {
        assertEquals(0x7E, Quantize.e4m3(448f));
        assertEquals(0x7E, Quantize.e4m3(449f));
        assertEquals(0x7E, Quantize.e4m3(464f)); // halfway to the (NaN) code above: still the maximum
        assertEquals(0x7E, Quantize.e4m3(1e9f));
        assertEquals(0x7E, Quantize.e4m3(Float.POSITIVE_INFINITY));
        assertEquals((byte) 0xFE, Quantize.e4m3(-1e9f));
        assertEquals((byte) 0xFE, Quantize.e4m3(Float.NEGATIVE_INFINITY));
        assertTrue(Float.isNaN(Dequant.e4m3(Quantize.e4m3(Float.NaN))));
    }

    @Test
    void e4m3HandValues() {
        assertEquals(0x38, Quantize.e4m3(1f)); // exponent 7 (bias 7), mantissa 0
        assertEquals((byte) 0xB8, Quantize.e4m3(-1f));
        assertEquals(0x3C, Quantize.e4m3(1.5f));
        assertEquals(0x01, Quantize.e4m3(0x1p-9f)); // smallest subnormal
        assertEquals(0x00, Quantize.e4m3(0x1p-10f)); // half of it: tie, to even zero
        assertEquals(0x01, Quantize.e4m3(Math.nextUp(0x1p-10f)));
        assertEquals(0x08, Quantize.e4m3(0x1p-6f)); // smallest normal
        assertEquals(0x02, Quantize.e4m3(3 * 0x1p-10f)); // 1.5 subnormal steps: tie, to even 2
        assertEquals(0x00, Quantize.e4m3(0f));
        assertEquals((byte) 0x80, Quantize.e4m3(-0f));
    }

    @Test
    void f16HandValues() {
        assertEquals((short) 0x3C00, Quantize.f16(1f));
        assertEquals((short) 0xC000, Quantize.f16(-2f));
        assertEquals((short) 0x7BFF, Quantize.f16(65504f));
        assertEquals((short) 0x7C00, Quantize.f16(65520f)); // halfway above the maximum: to even, infinity
        assertEquals((short) 0x3C00, Quantize.f16(1 + 0x1p-11f)); // tie between 1 and 1+2^-10: even
        assertEquals((short) 0x3C02, Quantize.f16(1 + 3 * 0x1p-11f)); // tie between ..01 and ..02: even
        assertEquals((short) 0x3C01, Quantize.f16(Math.nextUp(1 + 0x1p-11f)));
        assertEquals((short) 0x0001, Quantize.f16(0x1p-24f));
        assertEquals((short) 0x0000, Quantize.f16(0x1p-25f));
        assertEquals((short) 0x3555, Quantize.f16(1f / 3));
        assertTrue(Float.isNaN(Dequant.f16(Quantize.f16(Float.NaN))));
    }

    @Test
    void bf16HandValues() {
        assertEquals((short) 0x3F80, Quantize.bf16(1f));
        assertEquals((short) 0xC000, Quantize.bf16(-2f));
        assertEquals((short) 0x3F80, Quantize.bf16(1 + 0x1p-8f)); // tie between 1 and 1+2^-7: even
        assertEquals((short) 0x3F82, Quantize.bf16(1 + 3 * 0x1p-8f)); // tie between ..81 and ..82: even
        assertEquals((short) 0x3F81, Quantize.bf16(Math.nextUp(1 + 0x1p-8f)));
        assertEquals((short) 0x3F7F, Quantize.bf16(Math.nextDown(1 - 0x1p-9f))); // below 1: step is 2^-8
        assertEquals((short) 0x4049, Quantize.bf16((float) Math.PI)); // 3.140625
        assertEquals((short) 0x7F80, Quantize.bf16(Float.MAX_VALUE)); // rounds up to infinity
        assertEquals((short) 0xFF80, Quantize.bf16(Float.NEGATIVE_INFINITY));
        assertTrue(Float.isNaN(Dequant.bf16(Quantize.bf16(Float.NaN))));
        // a NaN whose payload lives only in the low half must not turn into infinity
        assertTrue(Float.isNaN(Dequant.bf16(Quantize.bf16(Float.intBitsToFloat(0x7F800001)))));
    }
}
