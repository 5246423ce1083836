package dev.herd.model.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class AddedVocabularyTest {
    private static final Normalizer NONE = new Normalizer.Identity();

    private static String render(List<AddedVocabulary.Segment> segments) {
        StringBuilder sb = new StringBuilder();
        for (AddedVocabulary.Segment s : segments) {
            sb.append(s.token() == null ? "[" + s.text() + "]" : "{" + s.token().id() + ":" + s.text() + "}");
        }
        return sb.toString();
    }

    private static AddedToken token(int id, String content, boolean special, boolean singleWord, boolean lstrip,
                                    boolean rstrip, boolean normalized) {
        return new AddedToken(id, content, special, singleWord, lstrip, rstrip, normalized);
    }

    @Test
    void leftmostMatchWinsThenLongest() {
        AddedVocabulary v = new AddedVocabulary(List.of(AddedToken.special(1, "<a>"), AddedToken.special(2, "<a><b>"),
                AddedToken.special(3, "b>x")), NONE);
        assertEquals("[x]{2:<a><b>}[y]", render(v.split("x<a><b>y", NONE, true)));
        assertEquals("{1:<a>}[<b]{3:b>x}", render(v.split("<a><bb>x", NONE, true)));
    }

    @Test
    void stripFlagsSwallowNeighbouringWhitespace() {
        AddedVocabulary v = new AddedVocabulary(List.of(token(1, "<L>", true, false, true, false, false),
                token(2, "<R>", true, false, false, true, false)), NONE);
        assertEquals("[a]{1: \u3000 <L>}[ b]", render(v.split("a \u3000 <L> b", NONE, true)));
        assertEquals("[a ]{2:<R>\n\t }[b]", render(v.split("a <R>\n\t b", NONE, true)));
    }

    @Test
    void singleWordTokensOnlyMatchAsWords() {
        AddedVocabulary v = new AddedVocabulary(List.of(token(1, "cat", false, true, false, false, false)), NONE);
        assertEquals("[a ]{1:cat}[ b]", render(v.split("a cat b", NONE, true)));
        assertEquals("[concat]", render(v.split("concat", NONE, true)));
        assertEquals("[caté]", render(v.split("caté", NONE, true))); // é is a word character
        assertEquals("{1:cat}[!]", render(v.split("cat!", NONE, true)));
    }

    @Test
    void unparsedSpecialTokensStayText() {
        AddedVocabulary v = new AddedVocabulary(List.of(AddedToken.special(1, "<|im_end|>"),
                token(2, "<tool>", false, false, false, false, false)), NONE);
        assertEquals("[a<|im_end|>]{2:<tool>}", render(v.split("a<|im_end|><tool>", NONE, false)));
        assertEquals("[a]{1:<|im_end|>}{2:<tool>}", render(v.split("a<|im_end|><tool>", NONE, true)));
    }

    @Test
    void normalizedTokensAreMatchedInNormalizedText() {
        Normalizer lower = new Normalizer.Lowercase();
        AddedVocabulary v = new AddedVocabulary(List.of(token(1, "<Hi>", false, false, false, false, true),
                token(2, "<RAW>", true, false, false, false, false)), lower);
        // the raw pass finds <RAW> before lowercasing; the normalized pass finds <hi> after
        assertEquals("[x ]{1:<hi>}[ ]{2:<RAW>}[ <raw>]", render(v.split("X <HI> <RAW> <raw>", lower, true)));
    }
}
