package dev.herd.model.tokenizer;

/**
 * UTF-8 decoding that never fails: ill-formed bytes become U+FFFD, one per "maximal subpart" (the Unicode
 * recommendation, and what Rust's {@code String::from_utf8_lossy} does) or, on request, one per byte.
 * It also tells a sequence that is merely incomplete, so a stream can wait for the rest.
 */
final class Utf8 {
    static final char REPLACEMENT = '\uFFFD';

    private Utf8() {
    }

    /**
     * Length of the well-formed sequence at {@code from}: positive when complete; zero when the bytes up to
     * {@code to} are a valid but unfinished start; negative (minus the length of the maximal subpart) when
     * ill-formed.
     */
    static int sequenceLength(byte[] bytes, int from, int to) {
        int b0 = bytes[from] & 0xFF;
        int need;
        int lo = 0x80;
        int hi = 0xBF;
        if (b0 < 0x80) {
            return 1;
        } else if (b0 >= 0xC2 && b0 <= 0xDF) {
            need = 1;
        } else if (b0 >= 0xE0 && b0 <= 0xEF) {
            need = 2;
            if (b0 == 0xE0) {
                lo = 0xA0;
            } else if (b0 == 0xED) {
                hi = 0x9F;
            }
        } else if (b0 >= 0xF0 && b0 <= 0xF4) {
            need = 3;
            if (b0 == 0xF0) {
                lo = 0x90;
            } else if (b0 == 0xF4) {
                hi = 0x8F;
            }
        } else {
            return -1;
        }
        for (int k = 1; k <= need; k++) {
            if (from + k >= to) {
                return 0;
            }
            int b = bytes[from + k] & 0xFF;
            if (b < lo || b > hi) {
                return -k;
            }
            lo = 0x80;
            hi = 0xBF;
        }
        return need + 1;
    }

    /**
     * Decodes {@code bytes[from, to)} into {@code out} and returns how far it got. With {@code final_} the
     * whole range is consumed (an unfinished tail is ill-formed); otherwise an unfinished tail is left.
     */
    static int decode(byte[] bytes, int from, int to, boolean isFinal, boolean replacementPerByte, StringBuilder out) {
        int i = from;
        while (i < to) {
            int len = sequenceLength(bytes, i, to);
            if (len > 0) {
                appendSequence(bytes, i, len, out);
                i += len;
            } else if (len == 0 && !isFinal) {
                break;
            } else {
                int bad = len == 0 ? to - i : -len;
                for (int k = replacementPerByte ? bad : 1; k > 0; k--) {
                    out.append(REPLACEMENT);
                }
                i += bad;
            }
        }
        return i;
    }

    private static void appendSequence(byte[] b, int i, int len, StringBuilder out) {
        int cp = switch (len) {
            case 1 -> b[i];
            case 2 -> ((b[i] & 0x1F) << 6) | (b[i + 1] & 0x3F);
            case 3 -> ((b[i] & 0x0F) << 12) | ((b[i + 1] & 0x3F) << 6) | (b[i + 2] & 0x3F);
            default -> ((b[i] & 0x07) << 18) | ((b[i + 1] & 0x3F) << 12) | ((b[i + 2] & 0x3F) << 6) | (b[i + 3] & 0x3F);
        };
        out.appendCodePoint(cp);
    }

    /** Whether the bytes are well-formed UTF-8 as a whole. */
    static boolean isWellFormed(byte[] bytes, int from, int to) {
        int i = from;
        while (i < to) {
            int len = sequenceLength(bytes, i, to);
            if (len <= 0) {
                return false;
            }
            i += len;
        }
        return true;
    }
}
