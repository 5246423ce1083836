package dev.herd.model.tokenizer;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

class Utf8Test {

    private static String lossy(byte[] b, boolean perByte) {
        StringBuilder out = new StringBuilder();
        Utf8.decode(b, 0, b.length, true, perByte, out);
        return out.toString();
    }

    private static byte[] bytes(int... values) {
        byte[] b = new byte[values.length];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) values[i];
        }
        return b;
    }

    @Test
    void replacesEachMaximalSubpartOnce() {
        // E2 82 is the start of a 3-byte character cut short: one U+FFFD, then 'A'
        assertEquals("\uFFFDA", lossy(bytes(0xE2, 0x82, 0x41), false));
        // a lone continuation byte, an overlong lead, a surrogate encoding: each byte on its own
        assertEquals("\uFFFD", lossy(bytes(0x80), false));
        assertEquals("\uFFFD\uFFFD", lossy(bytes(0xC0, 0xAF), false));
        assertEquals("\uFFFD\uFFFD\uFFFD", lossy(bytes(0xED, 0xA0, 0x80), false));
        assertEquals("€", lossy(bytes(0xE2, 0x82, 0xAC), false));
        assertEquals("\uFFFD\uFFFDA", lossy(bytes(0xE2, 0x82, 0x41), true));
    }

    @Test
    void agreesWithTheJdkDecoderOnRandomBytes() {
        // the JDK's UTF-8 decoder also replaces maximal subparts: an independent reference
        Random r = new Random(11);
        int[] interesting = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1,
                0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF};
        for (int round = 0; round < 20_000; round++) {
            byte[] b = new byte[r.nextInt(12)];
            for (int i = 0; i < b.length; i++) {
                b[i] = (byte) (r.nextInt(3) == 0 ? r.nextInt(256) : interesting[r.nextInt(interesting.length)]);
            }
            if (encodesSurrogate(b)) {
                continue; // the JDK replaces ED A0..BF as one unit; Unicode (and Rust) as two
            }
            assertEquals(new String(b, StandardCharsets.UTF_8), lossy(b, false), java.util.HexFormat.of().formatHex(b));
        }
    }

    private static boolean encodesSurrogate(byte[] b) {
        for (int i = 0; i + 1 < b.length; i++) {
            if ((b[i] & 0xFF) == 0xED && (b[i + 1] & 0xFF) >= 0xA0 && (b[i + 1] & 0xFF) <= 0xBF) {
                return true;
            }
        }
        return false;
    }

    @Test
    void matchesTheUnicodeStandardExample() {
        // The Unicode Standard, section 3.9, "U+FFFD Substitution of Maximal Subparts"
        byte[] b = bytes(0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64);
        assertEquals("a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd", lossy(b, false));
    }

    @Test
    void leavesAnUnfinishedTailWhenNotFinal() {
        byte[] b = bytes(0x41, 0xF0, 0x9F, 0x98);
        StringBuilder out = new StringBuilder();
        assertEquals(1, Utf8.decode(b, 0, b.length, false, false, out));
        assertEquals("A", out.toString());
    }
}
