package dev.herd.model.tokenizer;

import dev.herd.model.weights.ModelFormatException;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GgufTokenizerTest {

    /** A SentencePiece vocabulary: unk, bos, eos, 256 byte tokens, then the pieces with their scores. */
    private static GgufVocabulary spm(String[] pieces, float[] pieceScores, String... userDefined) {
        List<String> tokens = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        List<Integer> types = new ArrayList<>(List.of(2, 3, 3));
        for (int b = 0; b < 256; b++) {
            tokens.add(String.format("<0x%02X>", b));
            types.add(6);
        }
        for (String p : pieces) {
            tokens.add(p);
            types.add(1);
        }
        for (String u : userDefined) {
            tokens.add(u);
            types.add(4);
        }
        float[] scores = new float[tokens.size()];
        System.arraycopy(pieceScores, 0, scores, 259, pieceScores.length);
        return GgufVocabulary.of("llama", null, tokens, scores, types.stream().mapToInt(Integer::intValue).toArray(),
                null, 1, 2, true);
    }

    @Test
    void sentencePieceMergesTheHighestScoringPairFirst() {
        String[] pieces = {"▁", "a", "b", "▁a", "ab", "▁ab"};
        // "ab" outscores "▁a": ▁ a b -> ▁ ab -> ▁ab
        BpeTokenizer abFirst = Tokenizers.fromGguf(spm(pieces, new float[] {0, 0, 0, -5, -1, -9}));
        assertArrayEquals(new int[] {1, abFirst.tokenId("▁ab")}, abFirst.encode("ab", true));
        // without "▁ab", the order decides the split
        String[] noJoin = {"▁", "a", "b", "▁a", "ab"};
        BpeTokenizer leftFirst = Tokenizers.fromGguf(spm(noJoin, new float[] {0, 0, 0, -1, -5}));
        assertArrayEquals(new int[] {leftFirst.tokenId("▁a"), leftFirst.tokenId("b")}, leftFirst.encode("ab", false));
        BpeTokenizer rightFirst = Tokenizers.fromGguf(spm(noJoin, new float[] {0, 0, 0, -5, -1}));
        assertArrayEquals(new int[] {rightFirst.tokenId("▁"), rightFirst.tokenId("ab")}, rightFirst.encode("ab", false));
    }

    @Test
    void sentencePieceFallsBackToBytesAndDecodesBack() {
        BpeTokenizer t = Tokenizers.fromGguf(spm(new String[] {"▁", "a"}, new float[] {0, 0}));
        // é is C3 A9; the space before it is a "▁" of its own
        assertArrayEquals(new int[] {t.tokenId("▁"), t.tokenId("a"), t.tokenId("▁"), 3 + 0xC3, 3 + 0xA9},
                t.encode("a é", false));
        assertEquals("a é", t.decode(t.encode("a é", false)));
        assertEquals("<s> a é", t.decode(t.encode("a é", true)));
        assertEquals("a é", t.decode(t.encode("a é", true), true));
    }

    @Test
    void withoutByteTokensAnUnspellableCharacterIsUnknown() {
        List<String> tokens = List.of("<unk>", "<s>", "</s>", "▁", "a");
        BpeTokenizer t = Tokenizers.fromGguf(GgufVocabulary.of("llama", null, tokens, new float[5],
                new int[] {2, 3, 3, 1, 1}, null, 1, 2, false));
        assertArrayEquals(new int[] {3, 4, 0, 4}, t.encode("aéa", false));
    }

    @Test
    void controlTokensNeedParsingUserDefinedOnesDoNot() {
        BpeTokenizer t = Tokenizers.fromGguf(spm(new String[] {"▁", "a", "<", ">", "s", "/"}, new float[6], "<tool>"));
        int tool = t.tokenId("<tool>");
        assertArrayEquals(new int[] {t.tokenId("▁"), t.tokenId("a"), 2, tool}, t.encode("a</s><tool>", false, true));
        int[] plain = t.encode("a</s><tool>", false, false);
        assertEquals(tool, plain[plain.length - 1]);
        assertTrue(plain.length > 4, "</s> spelled out");
    }

    @Test
    void byteLevelVocabularyUsesThePreTokenizerOfItsPreValue() {
        List<String> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) {
            tokens.add(String.valueOf(ByteLevelAlphabet.charOf(b)));
        }
        tokens.add("12");
        tokens.add("123");
        tokens.add("<|end|>");
        int[] types = new int[tokens.size()];
        java.util.Arrays.fill(types, 1);
        types[tokens.size() - 1] = 3;
        List<String> merges = List.of("1 2", "12 3");
        // llama-bpe: digits in threes; qwen2: digits one by one
        BpeTokenizer llama = Tokenizers.fromGguf(GgufVocabulary.of("gpt2", "llama-bpe", tokens, null, types, merges, 258, 258, false));
        assertArrayEquals(new int[] {257, 257}, llama.encode("123123", false));
        BpeTokenizer qwen = Tokenizers.fromGguf(GgufVocabulary.of("gpt2", "qwen2", tokens, null, types, merges, -1, 258, false));
        assertArrayEquals(new int[] {'1', '2', '3'}, qwen.encode("123", false));
        assertArrayEquals(new int[] {'1', 258}, qwen.encode("1<|end|>", false));
        assertEquals("1<|end|>", qwen.decode(new int[] {'1', 258}));
    }

    @Test
    void badMetadataIsRejectedWithTheKey() {
        List<String> tokens = List.of("a", "b");
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> Tokenizers.fromGguf(GgufVocabulary.of("gpt2", "no-such-pre", tokens, null, null, List.of(), -1, -1, false)));
        assertTrue(e.getMessage().contains("tokenizer.ggml.pre") && e.getMessage().contains("llama-bpe"), e.getMessage());
        e = assertThrows(ModelFormatException.class,
                () -> Tokenizers.fromGguf(GgufVocabulary.of("gpt2", "qwen2", tokens, null, null, null, -1, -1, false)));
        assertTrue(e.getMessage().contains("tokenizer.ggml.merges"), e.getMessage());
        e = assertThrows(ModelFormatException.class,
                () -> Tokenizers.fromGguf(GgufVocabulary.of("gpt2", "qwen2", tokens, null, null, List.of("a c"), -1, -1, false)));
        assertTrue(e.getMessage().contains("merge 0"), e.getMessage());
        e = assertThrows(ModelFormatException.class,
                () -> Tokenizers.fromGguf(GgufVocabulary.of("gpt2", "qwen2", tokens, null, null, List.of(), 7, -1, true)));
        assertTrue(e.getMessage().contains("bos_token_id"), e.getMessage());
        e = assertThrows(ModelFormatException.class,
                () -> Tokenizers.fromGguf(GgufVocabulary.of("bert", "", tokens, null, null, List.of(), -1, -1, false)));
        assertTrue(e.getMessage().contains("tokenizer.ggml.model"), e.getMessage());
        e = assertThrows(ModelFormatException.class,
                () -> Tokenizers.fromGguf(GgufVocabulary.of("llama", null, tokens, null, null, null, -1, -1, false)));
        assertTrue(e.getMessage().contains("tokenizer.ggml.scores"), e.getMessage());
    }
}
