package dev.herd.model.tokenizer;

import java.util.ArrayList;
import java.util.List;

/**
 * Incremental decoding of one sequence of generated tokens: {@link #next} returns only text that is
 * complete. A token may carry part of a UTF-8 character (byte-level BPE splits characters between tokens,
 * byte-fallback tokens carry one byte each); such bytes are held until the character is complete, and
 * {@link #flush} turns whatever is left ill-formed at the end into U+FFFD.
 *
 * <p>The texts returned, joined, equal {@link Tokenizer#decode} of all the ids for byte-level tokenizers.
 * For byte-fallback tokenizers they are equal whenever the byte tokens spell whole characters; a run of byte
 * tokens that mixes whole characters with ill-formed bytes is decoded by the reference as all U+FFFD, while
 * a stream cannot take back characters already returned, so it returns those characters and U+FFFD for each
 * ill-formed byte only. Not thread-safe: one instance per sequence.
 */
public final class StreamingDecoder {
    private final BpeTokenizer tokenizer;
    private final boolean skipSpecial;
    private final StreamingProfile profile;
    private byte[] pending = new byte[16];
    private int pendingLength;
    private boolean firstToken = true;
    private int leadingToStrip;
    /** Fallback only: the ids since the last text returned, the text they decode to, where the new ones start. */
    private List<Integer> ids = new ArrayList<>();
    private String prefix = "";
    private int prefixIndex;

    StreamingDecoder(BpeTokenizer tokenizer, boolean skipSpecial) {
        this.tokenizer = tokenizer;
        this.skipSpecial = skipSpecial;
        this.profile = tokenizer.streamingProfile();
        this.leadingToStrip = profile == null ? 0 : profile.stripLeadingSpaces();
    }

    /** Feeds one id and returns the text it completes (often empty while a character is unfinished). */
    public String next(int id) {
        if (profile == null) {
            return nextByRedecoding(id);
        }
        if (skipSpecial && tokenizer.isSpecial(id)) {
            return "";
        }
        String token = tokenizer.decodingText(id);
        if (token == null) {
            return "";
        }
        StringBuilder out = new StringBuilder();
        if (profile.byteLevel()) {
            append(ByteLevelAlphabet.decodeToken(token));
            drain(false, false, out);
        } else {
            int b = profile.byteFallback() ? Decoder.ByteFallback.byteValue(token) : -1;
            if (b >= 0) {
                append(new byte[] {(byte) b});
                drain(false, true, out);
            } else {
                drain(true, true, out);
                out.append(profile.tokenText(token, firstToken));
            }
        }
        firstToken = false;
        return strip(out);
    }

    /** Ends the sequence: returns held bytes that never formed a character, as U+FFFD. */
    public String flush() {
        if (profile == null) {
            String all = decode(ids);
            String rest = all.length() > prefix.length() && all.startsWith(prefix) ? all.substring(prefix.length()) : "";
            ids = new ArrayList<>();
            prefix = "";
            prefixIndex = 0;
            return rest;
        }
        StringBuilder out = new StringBuilder();
        drain(true, !profile.byteLevel(), out);
        return strip(out);
    }

    private void append(byte[] bytes) {
        if (pendingLength + bytes.length > pending.length) {
            pending = java.util.Arrays.copyOf(pending, Math.max(pending.length * 2, pendingLength + bytes.length));
        }
        System.arraycopy(bytes, 0, pending, pendingLength, bytes.length);
        pendingLength += bytes.length;
    }

    private void drain(boolean isFinal, boolean perByte, StringBuilder out) {
        int used = Utf8.decode(pending, 0, pendingLength, isFinal, perByte, out);
        System.arraycopy(pending, used, pending, 0, pendingLength - used);
        pendingLength -= used;
    }

    /** Applies a Strip decoder that runs after Fuse: leading spaces of the whole text only. */
    private String strip(StringBuilder out) {
        int i = 0;
        while (leadingToStrip > 0 && i < out.length()) {
            if (out.charAt(i) == ' ') {
                i++;
                leadingToStrip--;
            } else {
                leadingToStrip = 0;
            }
        }
        return out.substring(i);
    }

    /**
     * For decoders with no token-by-token profile, the Rust library's own DecodeStream: decode the ids since
     * the last text returned, with the tokens before them as context, and return what extends the context's
     * text, holding back while it ends in U+FFFD (perhaps an unfinished character).
     */
    private String nextByRedecoding(int id) {
        ids.add(id);
        String string = decode(ids);
        if (string.length() <= prefix.length() || string.endsWith(String.valueOf(Utf8.REPLACEMENT))
                || !string.startsWith(prefix)) {
            return "";
        }
        String text = string.substring(prefix.length());
        int newPrefixIndex = ids.size() - prefixIndex;
        ids = new ArrayList<>(ids.subList(prefixIndex, ids.size()));
        prefix = decode(ids);
        prefixIndex = newPrefixIndex;
        return text;
    }

    private String decode(List<Integer> window) {
        return tokenizer.decode(window.stream().mapToInt(Integer::intValue).toArray(), skipSpecial);
    }

    /**
     * How a tokenizer's decoder turns single tokens into text, when it can be done token by token.
     *
     * @param byteLevel          tokens spell bytes in GPT-2's alphabet
     * @param byteFallback       {@code <0xXX>} tokens are bytes
     * @param stripLeadingSpaces spaces to cut from the start of the whole text
     * @param perToken           the per-token rewrites (Replace, Metaspace) in order
     */
    record StreamingProfile(boolean byteLevel, boolean byteFallback, int stripLeadingSpaces, List<Decoder> perToken) {
        String tokenText(String token, boolean first) {
            List<String> one = List.of(token);
            for (Decoder d : perToken) {
                if (d instanceof Decoder.Metaspace m && !first) {
                    one = new Decoder.Metaspace(m.replacement(), false).decodeChain(one);
                } else {
                    one = d.decodeChain(one);
                }
            }
            return one.getFirst();
        }

        /** The profile of a decoder, or null when it is not one of the token-by-token shapes. */
        static StreamingProfile of(Decoder decoder) {
            List<Decoder> steps = decoder instanceof Decoder.Sequence s ? s.steps() : List.of(decoder);
            if (steps.size() == 1 && steps.getFirst() instanceof Decoder.ByteLevel) {
                return new StreamingProfile(true, false, 0, List.of());
            }
            boolean byteFallback = false;
            boolean fused = false;
            int strip = 0;
            List<Decoder> perToken = new ArrayList<>();
            for (Decoder d : steps) {
                switch (d) {
                    case Decoder.ByteFallback b -> {
                        if (fused) {
                            return null;
                        }
                        byteFallback = true;
                    }
                    case Decoder.Replace r -> {
                        // after ByteFallback it would also rewrite text spelled by byte runs
                        if (fused || byteFallback || r.pattern().matcher("<0x41>").find()) {
                            return null; // would rewrite byte tokens before ByteFallback reads them
                        }
                        perToken.add(r);
                    }
                    case Decoder.Metaspace m -> {
                        if (fused || byteFallback) {
                            return null;
                        }
                        perToken.add(m);
                    }
                    case Decoder.Fuse f -> fused = true;
                    case Decoder.Strip s -> {
                        if (!fused || s.content() != ' ' || s.stop() != 0) {
                            return null;
                        }
                        strip += s.start();
                    }
                    default -> {
                        return null;
                    }
                }
            }
            return new StreamingProfile(false, byteFallback, strip, List.copyOf(perToken));
        }
    }
}
