package dev.herd.model.tokenizer;

import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/** A text rewrite applied before pre-tokenization (Hugging Face's {@code normalizer} section). */
sealed interface Normalizer {
    String normalize(String text);

    /** No change. */
    record Identity() implements Normalizer {
        @Override
        public String normalize(String text) {
            return text;
        }
    }

    /** Unicode normalization form C, D, KC or KD. */
    record UnicodeForm(java.text.Normalizer.Form form) implements Normalizer {
        @Override
        public String normalize(String text) {
            return java.text.Normalizer.normalize(text, form);
        }
    }

    /**
     * Lowercases code point by code point, as the Rust library does: a final capital sigma becomes 'σ', not
     * the word-final 'ς' that {@link String#toLowerCase} would choose from context.
     */
    record Lowercase() implements Normalizer {
        @Override
        public String normalize(String text) {
            StringBuilder out = new StringBuilder(text.length());
            for (int i = 0; i < text.length(); ) {
                int cp = text.codePointAt(i);
                i += Character.charCount(cp);
                if (cp < 0x80) {
                    out.append((char) (cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
                } else {
                    out.append(new String(Character.toChars(cp)).toLowerCase(Locale.ROOT));
                }
            }
            return out.toString();
        }
    }

    /** Puts {@code prefix} in front of any non-empty text (SentencePiece's leading "▁"). */
    record Prepend(String prefix) implements Normalizer {
        @Override
        public String normalize(String text) {
            return text.isEmpty() ? text : prefix + text;
        }
    }

    /** Replaces every match of {@code pattern} with {@code content} literally. */
    record Replace(Pattern pattern, String content) implements Normalizer {
        @Override
        public String normalize(String text) {
            return HfRegex.replaceAll(pattern, text, content);
        }
    }

    record Sequence(List<Normalizer> steps) implements Normalizer {
        public Sequence {
            steps = List.copyOf(steps);
        }

        @Override
        public String normalize(String text) {
            for (Normalizer step : steps) {
                text = step.normalize(text);
            }
            return text;
        }
    }
}
