package dev.herd.model.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The Llama 3 expression, compiled for Java, splits as Oniguruma does (expected pieces worked out by hand). */
class HfRegexTest {
    private static final String LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    private static List<String> split(String pattern, String text) {
        List<String> out = new ArrayList<>();
        new PreTokenizer.Split(HfRegex.compile(pattern, "test"), PreTokenizer.Behavior.ISOLATED, false).split(text, out);
        return out;
    }

    @Test
    void contractionsIgnoreCase() {
        assertEquals(List.of("I", "'M", " here", ",", " it", "'S", " THEY", "'LL"), split(LLAMA3, "I'M here, it'S THEY'LL"));
        // Unicode case folding: the long s folds to s
        assertEquals(List.of("it", "'ſ"), split(LLAMA3, "it'ſ"));
    }

    @Test
    void whitespaceIsUnicodeWhiteSpace() {
        // U+00A0 and U+3000 are \s: the run keeps its last character for the next word's prefix
        assertEquals(List.of("a", "\u00A0", "\u3000b"), split(LLAMA3, "a\u00A0\u3000b"));
        // U+FEFF is not \s: it is the optional non-letter prefix of the word
        assertEquals(List.of("a", "\uFEFFb"), split(LLAMA3, "a\uFEFFb"));
        // U+0085 is \s but not [\r\n]
        assertEquals(List.of("x", "\u0085", "\u0085y"), split(LLAMA3, "x\u0085\u0085y"));
    }

    @Test
    void digitsGoInThreesAndNewlinesStayTogether() {
        assertEquals(List.of("123", "456", "7", " ", "٣٤"), split(LLAMA3, "1234567 ٣٤"));
        assertEquals(List.of("a", "  \n\n", "  ", " b"), split(LLAMA3, "a  \n\n   b"));
        assertEquals(List.of("x", " {\n", "}"), split(LLAMA3, "x {\n}"));
    }

    @Test
    void lettersIncludeEveryScriptAndSupplementaryPlanes() {
        // the emoji and the "!" are one run of neither letters, digits nor spaces
        assertEquals(List.of("日本語", " 𝔘𝔫𝔦", "😀!"), split(LLAMA3, "日本語 𝔘𝔫𝔦😀!"));
    }
}
