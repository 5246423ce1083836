package dev.herd.model.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * One step of Hugging Face's {@code decoder} section: a rewrite of the list of token strings. A tokenizer
 * decodes by running its steps in order and joining what is left.
 */
sealed interface Decoder {
    List<String> decodeChain(List<String> tokens);

    /** Byte-level tokens back to bytes, then one string (ill-formed UTF-8 as U+FFFD per maximal subpart). */
    record ByteLevel() implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
            for (String t : tokens) {
                bytes.writeBytes(ByteLevelAlphabet.decodeToken(t));
            }
            byte[] b = bytes.toByteArray();
            StringBuilder out = new StringBuilder(b.length);
            Utf8.decode(b, 0, b.length, true, false, out);
            return List.of(out.toString());
        }
    }

    /** Replaces every match of a pattern in every token. */
    record Replace(Pattern pattern, String content) implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            for (String t : tokens) {
                out.add(HfRegex.replaceAll(pattern, t, content));
            }
            return out;
        }
    }

    /**
     * Runs of {@code <0xXX>} tokens become the text their bytes spell, or, if the run is not well-formed
     * UTF-8 as a whole, one U+FFFD per byte.
     */
    record ByteFallback() implements Decoder {
        static int byteValue(String token) {
            if (token.length() == 6 && token.startsWith("<0x") && token.endsWith(">")) {
                int hi = Character.digit(token.charAt(3), 16);
                int lo = Character.digit(token.charAt(4), 16);
                if (hi >= 0 && lo >= 0) {
                    return hi * 16 + lo;
                }
            }
            return -1;
        }

        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            java.io.ByteArrayOutputStream run = new java.io.ByteArrayOutputStream();
            for (String t : tokens) {
                int b = byteValue(t);
                if (b >= 0) {
                    run.write(b);
                    continue;
                }
                flushRun(run, out);
                out.add(t);
            }
            flushRun(run, out);
            return out;
        }

        private static void flushRun(java.io.ByteArrayOutputStream run, List<String> out) {
            if (run.size() == 0) {
                return;
            }
            byte[] bytes = run.toByteArray();
            if (Utf8.isWellFormed(bytes, 0, bytes.length)) {
                out.add(new String(bytes, java.nio.charset.StandardCharsets.UTF_8));
            } else {
                for (int i = 0; i < bytes.length; i++) {
                    out.add(String.valueOf(Utf8.REPLACEMENT));
                }
            }
            run.reset();
        }
    }

    /** Joins all tokens into one. */
    record Fuse() implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            return List.of(String.join("", tokens));
        }
    }

    /** Cuts up to {@code start} leading and {@code stop} trailing {@code content} characters off every token. */
    record Strip(int content, int start, int stop) implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            for (String t : tokens) {
                int[] cps = t.codePoints().toArray();
                int from = 0;
                for (int i = 0; i < Math.min(start, cps.length) && cps[i] == content; i++) {
                    from = i + 1;
                }
                int to = cps.length;
                for (int i = 0; i < stop && cps.length - i - 1 >= from && cps[cps.length - i - 1] == content; i++) {
                    to = cps.length - i - 1;
                }
                out.add(new String(cps, from, to - from));
            }
            return out;
        }
    }

    /** SentencePiece's "▁" back to spaces; in the first token it is dropped when a prefix was prepended. */
    record Metaspace(int replacement, boolean dropInFirstToken) implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            for (int i = 0; i < tokens.size(); i++) {
                StringBuilder sb = new StringBuilder();
                boolean first = i == 0;
                tokens.get(i).codePoints().forEach(c -> {
                    if (c != replacement) {
                        sb.appendCodePoint(c);
                    } else if (!(first && dropInFirstToken)) {
                        sb.append(' ');
                    }
                });
                out.add(sb.toString());
            }
            return out;
        }
    }

    record Sequence(List<Decoder> steps) implements Decoder {
        public Sequence {
            steps = List.copyOf(steps);
        }

        @Override
        public List<String> decodeChain(List<String> tokens) {
            for (Decoder step : steps) {
                tokens = step.decodeChain(tokens);
            }
            return tokens;
        }
    }
}
