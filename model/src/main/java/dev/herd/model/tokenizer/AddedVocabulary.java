package dev.herd.model.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Finds added tokens in text, with the Rust library's semantics: of all occurrences the leftmost wins, and
 * of those starting there the longest (Aho-Corasick "leftmost longest"); {@code single_word}, {@code lstrip}
 * and {@code rstrip} then filter or widen each match. Tokens with {@code normalized} are searched for in a
 * second pass over the normalized text; the others in the raw input first.
 */
final class AddedVocabulary {
    private static final Pattern WORD_CHAR = Pattern.compile("\\w", Pattern.UNICODE_CHARACTER_CLASS);

    private final Map<Integer, AddedToken> byId = new HashMap<>();
    private final Trie raw;
    private final Trie normalized;

    AddedVocabulary(List<AddedToken> tokens, Normalizer normalizer) {
        List<AddedToken> rawTokens = new ArrayList<>();
        List<String> rawTexts = new ArrayList<>();
        List<AddedToken> normTokens = new ArrayList<>();
        List<String> normTexts = new ArrayList<>();
        for (AddedToken t : tokens) {
            byId.put(t.id(), t);
            if (t.normalized()) {
                normTokens.add(t);
                normTexts.add(normalizer.normalize(t.content()));
            } else {
                rawTokens.add(t);
                rawTexts.add(t.content());
            }
        }
        raw = rawTokens.isEmpty() ? null : new Trie(rawTokens, rawTexts);
        normalized = normTokens.isEmpty() ? null : new Trie(normTokens, normTexts);
    }

    AddedToken byId(int id) {
        return byId.get(id);
    }

    java.util.Collection<AddedToken> all() {
        return byId.values();
    }

    /** A piece of input: either plain text (token == null) or one matched added token. */
    record Segment(String text, AddedToken token) {
    }

    /**
     * Splits {@code text} into segments. Plain segments are normalized on the way (they are what the model
     * then sees); {@code parseSpecial == false} leaves special tokens in the text as ordinary characters.
     */
    List<Segment> split(String text, Normalizer normalizer, boolean parseSpecial) {
        List<Segment> firstPass = new ArrayList<>();
        findMatches(text, raw, parseSpecial, firstPass);
        List<Segment> out = new ArrayList<>(firstPass.size());
        for (Segment s : firstPass) {
            if (s.token != null) {
                out.add(s);
            } else {
                findMatches(normalizer.normalize(s.text), normalized, parseSpecial, out);
            }
        }
        return out;
    }

    private static void findMatches(String text, Trie trie, boolean parseSpecial, List<Segment> out) {
        if (text.isEmpty()) {
            return;
        }
        if (trie == null) {
            out.add(new Segment(text, null));
            return;
        }
        int startOffset = 0;
        int pos = 0;
        int n = text.length();
        while (pos < n) {
            long match = trie.leftmostLongest(text, pos);
            if (match < 0) {
                break;
            }
            int start = (int) (match >>> 32);
            int tokenIndex = (int) match;
            AddedToken token = trie.tokens.get(tokenIndex);
            int stop = start + trie.texts.get(tokenIndex).length();
            pos = stop; // matches never overlap, even when one is then skipped
            if (!parseSpecial && token.special()) {
                continue;
            }
            if (token.singleWord()) {
                boolean spaceBefore = start == 0 || !isWordChar(text.codePointBefore(start));
                boolean spaceAfter = stop == n || !isWordChar(text.codePointAt(stop));
                if (!spaceBefore || !spaceAfter) {
                    continue;
                }
            }
            if (token.lstrip()) {
                int s = start;
                while (s > 0 && isWhitespace(text.codePointBefore(s))) {
                    s -= Character.charCount(text.codePointBefore(s));
                }
                start = Math.max(s, startOffset);
            }
            if (token.rstrip()) {
                while (stop < n && isWhitespace(text.codePointAt(stop))) {
                    stop += Character.charCount(text.codePointAt(stop));
                }
            }
            if (startOffset < start) {
                out.add(new Segment(text.substring(startOffset, start), null));
            }
            out.add(new Segment(text.substring(start, stop), token));
            startOffset = stop;
        }
        if (startOffset < n) {
            out.add(new Segment(text.substring(startOffset), null));
        }
    }

    private static boolean isWordChar(int cp) {
        return WORD_CHAR.matcher(new String(Character.toChars(cp))).matches();
    }

    /** Rust's {@code \s}: the Unicode White_Space property. */
    static boolean isWhitespace(int cp) {
        return switch (cp) {
            case 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000 -> true;
            default -> cp >= 0x2000 && cp <= 0x200A;
        };
    }

    /** A character trie over the token texts. */
    private static final class Trie {
        final List<AddedToken> tokens;
        final List<String> texts;
        private final Node root = new Node();

        Trie(List<AddedToken> tokens, List<String> texts) {
            this.tokens = tokens;
            this.texts = texts;
            for (int i = 0; i < texts.size(); i++) {
                Node node = root;
                String t = texts.get(i);
                for (int k = 0; k < t.length(); k++) {
                    node = node.children.computeIfAbsent(t.charAt(k), c -> new Node());
                }
                if (node.token < 0) {
                    node.token = i; // the first declaration of a duplicate text wins
                }
            }
        }

        /** (start << 32 | token index) of the leftmost-longest match at or after {@code from}, or -1. */
        long leftmostLongest(String text, int from) {
            for (int start = from; start < text.length(); start++) {
                Node node = root.children.get(text.charAt(start));
                if (node == null) {
                    continue;
                }
                int best = -1;
                int i = start + 1;
                while (true) {
                    if (node.token >= 0) {
                        best = node.token;
                    }
                    if (i >= text.length()) {
                        break;
                    }
                    node = node.children.get(text.charAt(i++));
                    if (node == null) {
                        break;
                    }
                }
                if (best >= 0) {
                    return ((long) start << 32) | best;
                }
            }
            return -1;
        }

        private static final class Node {
            final Map<Character, Node> children = new HashMap<>(4);
            int token = -1;
        }
    }
}
