package dev.herd.model.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntPredicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits normalized text into the pieces the model tokenizes one by one (Hugging Face's
 * {@code pre_tokenizer} section). Every stage splits each piece of the previous stage; empty pieces vanish.
 */
sealed interface PreTokenizer {
    /**
     * Adds the pieces of {@code text} to {@code out}.
     *
     * @param atStart whether {@code text} begins at the start of the input (Metaspace's "first" scheme
     *                prepends only there, not after an added token)
     */
    void split(String text, boolean atStart, List<String> out);

    default void split(String text, List<String> out) {
        split(text, true, out);
    }

    /** What a split does with the matched delimiters (Hugging Face's {@code SplitDelimiterBehavior}). */
    enum Behavior { REMOVED, ISOLATED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT, CONTIGUOUS }

    /** Splits on a regular expression. With {@code invert} the matches are the pieces and the gaps the delimiters. */
    record Split(Pattern pattern, Behavior behavior, boolean invert) implements PreTokenizer {
        @Override
        public void split(String text, boolean atStart, List<String> out) {
            if (text.isEmpty()) {
                return;
            }
            // Matches and gaps alternate and cover the whole text, as the Rust library's find_matches does.
            List<int[]> spans = new ArrayList<>();
            Matcher m = pattern.matcher(text);
            int prev = 0;
            while (m.find()) {
                if (m.end() == m.start()) {
                    continue; // an empty match splits nothing
                }
                if (prev != m.start()) {
                    spans.add(new int[] {prev, m.start(), invert ? 1 : 0});
                }
                spans.add(new int[] {m.start(), m.end(), invert ? 0 : 1});
                prev = m.end();
            }
            if (prev != text.length()) {
                spans.add(new int[] {prev, text.length(), invert ? 1 : 0});
            }
            applyBehavior(text, spans, behavior, out);
        }
    }

    /** Splits digits from the rest: each digit alone, or runs of digits together. */
    record Digits(boolean individualDigits) implements PreTokenizer {
        @Override
        public void split(String text, boolean atStart, List<String> out) {
            splitOnCharacters(text, Digits::isNumeric, individualDigits ? Behavior.ISOLATED : Behavior.CONTIGUOUS, out);
        }

        /** Rust's {@code char::is_numeric}: general categories Nd, Nl and No. */
        static boolean isNumeric(int cp) {
            int type = Character.getType(cp);
            return type == Character.DECIMAL_DIGIT_NUMBER || type == Character.LETTER_NUMBER
                    || type == Character.OTHER_NUMBER;
        }
    }

    /**
     * GPT-2's byte-level step: optionally a leading space and a split with GPT-2's own expression, then every
     * piece is spelled in the byte-level alphabet (so later stages and the model see 'Ġ' for a space).
     */
    record ByteLevel(boolean addPrefixSpace, boolean useRegex) implements PreTokenizer {
        static final Pattern GPT2_PATTERN = HfRegex.compile(
                "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", "GPT-2 pattern");
        private static final Split GPT2_SPLIT = new Split(GPT2_PATTERN, Behavior.ISOLATED, false);

        @Override
        public void split(String text, boolean atStart, List<String> out) {
            if (text.isEmpty()) {
                return;
            }
            if (addPrefixSpace && !text.startsWith(" ")) {
                text = " " + text;
            }
            if (!useRegex) {
                out.add(ByteLevelAlphabet.encode(text));
                return;
            }
            List<String> pieces = new ArrayList<>();
            GPT2_SPLIT.split(text, pieces);
            for (String piece : pieces) {
                out.add(ByteLevelAlphabet.encode(piece));
            }
        }
    }

    /**
     * SentencePiece's whitespace handling: spaces become {@code replacement} ("▁"), one is prepended (always,
     * or only at the start of the input), and with {@code split} the text is cut before each "▁".
     */
    record Metaspace(String replacement, Prepend prepend, boolean split) implements PreTokenizer {
        enum Prepend { ALWAYS, FIRST, NEVER }

        @Override
        public void split(String text, boolean atStart, List<String> out) {
            if (text.isEmpty()) {
                return;
            }
            text = text.replace(" ", replacement);
            boolean prefix = prepend == Prepend.ALWAYS || (prepend == Prepend.FIRST && atStart);
            if (prefix && !text.startsWith(replacement)) {
                text = replacement + text;
            }
            if (!split) {
                out.add(text);
                return;
            }
            int cp = replacement.codePointAt(0);
            splitOnCharacters(text, c -> c == cp, Behavior.MERGED_WITH_NEXT, out);
        }
    }

    record Sequence(List<PreTokenizer> stages) implements PreTokenizer {
        public Sequence {
            stages = List.copyOf(stages);
        }

        @Override
        public void split(String text, boolean atStart, List<String> out) {
            List<String> current = new ArrayList<>();
            if (!text.isEmpty()) {
                current.add(text);
            }
            boolean firstAtStart = atStart;
            for (PreTokenizer stage : stages) {
                List<String> next = new ArrayList<>(current.size() * 2);
                for (int i = 0; i < current.size(); i++) {
                    stage.split(current.get(i), i == 0 && firstAtStart, next);
                }
                // the first piece still starts the input if the stage kept the text's beginning
                firstAtStart = firstAtStart && !current.isEmpty() && !next.isEmpty()
                        && current.getFirst().startsWith(next.getFirst());
                current = next;
            }
            out.addAll(current);
        }
    }

    private static void splitOnCharacters(String text, IntPredicate isDelimiter, Behavior behavior, List<String> out) {
        if (text.isEmpty()) {
            return;
        }
        List<int[]> spans = new ArrayList<>();
        int last = 0;
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            int next = i + Character.charCount(cp);
            if (isDelimiter.test(cp)) {
                if (last < i) {
                    spans.add(new int[] {last, i, 0});
                }
                spans.add(new int[] {i, next, 1});
                last = next;
            }
            i = next;
        }
        if (last < text.length()) {
            spans.add(new int[] {last, text.length(), 0});
        }
        applyBehavior(text, spans, behavior, out);
    }

    /** Turns (start, end, isMatch) spans into pieces as the Rust library's NormalizedString::split does. */
    private static void applyBehavior(String text, List<int[]> spans, Behavior behavior, List<String> out) {
        List<int[]> pieces = new ArrayList<>(spans.size());
        switch (behavior) {
            case ISOLATED -> pieces.addAll(spans);
            case REMOVED -> {
                for (int[] s : spans) {
                    if (s[2] == 0) {
                        pieces.add(s);
                    }
                }
            }
            case CONTIGUOUS -> {
                boolean previousMatch = false;
                for (int[] s : spans) {
                    boolean isMatch = s[2] == 1;
                    if (isMatch == previousMatch && !pieces.isEmpty()) {
                        pieces.getLast()[1] = s[1];
                    } else {
                        pieces.add(s.clone());
                    }
                    previousMatch = isMatch;
                }
            }
            case MERGED_WITH_PREVIOUS -> {
                boolean previousMatch = false;
                for (int[] s : spans) {
                    boolean isMatch = s[2] == 1;
                    if (isMatch && !previousMatch && !pieces.isEmpty()) {
                        pieces.getLast()[1] = s[1];
                    } else {
                        pieces.add(s.clone());
                    }
                    previousMatch = isMatch;
                }
            }
            case MERGED_WITH_NEXT -> {
                boolean previousMatch = false;
                List<int[]> reversed = new ArrayList<>();
                for (int i = spans.size() - 1; i >= 0; i--) {
                    int[] s = spans.get(i);
                    boolean isMatch = s[2] == 1;
                    if (isMatch && !previousMatch && !reversed.isEmpty()) {
                        reversed.getLast()[0] = s[0];
                    } else {
                        reversed.add(s.clone());
                    }
                    previousMatch = isMatch;
                }
                for (int i = reversed.size() - 1; i >= 0; i--) {
                    pieces.add(reversed.get(i));
                }
            }
        }
        for (int[] p : pieces) {
            if (p[1] > p[0]) {
                out.add(text.substring(p[0], p[1]));
            }
        }
    }
}
