package dev.herd.model.tokenizer;

import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Compiles the regular expressions of Hugging Face tokenizer files (written for Oniguruma, the engine the
 * Rust library uses) to {@link java.util.regex.Pattern} with the same meaning.
 *
 * <p>The constructs these files use ({@code \p{L}}, {@code \p{N}}, {@code \s+(?!\S)}, {@code (?i:'s|'t)},
 * possessive quantifiers) exist in Java with the same syntax; what differs is their default scope. In
 * Oniguruma over UTF-8, {@code \s} is Unicode White_Space (U+00A0, U+0085, U+3000 included, U+FEFF not) and
 * {@code (?i)} folds case over all of Unicode. Java's defaults are ASCII for both, so patterns are compiled
 * with {@link Pattern#UNICODE_CHARACTER_CLASS} and {@link Pattern#UNICODE_CASE}.
 */
final class HfRegex {
    private HfRegex() {
    }

    static Pattern compile(String onigPattern, String where) {
        try {
            return Pattern.compile(onigPattern, Pattern.UNICODE_CHARACTER_CLASS | Pattern.UNICODE_CASE);
        } catch (PatternSyntaxException e) {
            throw new dev.herd.model.weights.ModelFormatException(
                    where + ": regular expression not usable: " + e.getDescription() + " in " + onigPattern, e);
        }
    }

    static Pattern literal(String text) {
        return Pattern.compile(text, Pattern.LITERAL);
    }

    /** Replaces every match; a literal pattern (SentencePiece's " " and "▁") skips the regex engine. */
    static String replaceAll(Pattern pattern, String text, String content) {
        if ((pattern.flags() & Pattern.LITERAL) != 0) {
            return text.replace(pattern.pattern(), content);
        }
        return pattern.matcher(text).replaceAll(java.util.regex.Matcher.quoteReplacement(content));
    }
}
