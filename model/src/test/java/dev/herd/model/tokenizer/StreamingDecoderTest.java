package dev.herd.model.tokenizer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class StreamingDecoderTest {
    @TempDir
    Path dir;

    private static List<String> feed(Tokenizer t, int... ids) {
        StreamingDecoder s = t.streamingDecoder(false);
        List<String> out = new ArrayList<>();
        for (int id : ids) {
            out.add(s.next(id));
        }
        out.add(s.flush());
        return out;
    }

    @Test
    void byteLevelHoldsPartialCharacters() throws IOException {
        BpeTokenizer t = TinyTokenizers.load(TinyTokenizers.byteLevel(new String[0]), dir);
        // "€" is E2 82 AC, one token per byte
        assertEquals(List.of("A", "", "", "€", ""), feed(t, 'A', 0xE2, 0x82, 0xAC));
        // "😀" is F0 9F 98 80: both UTF-16 halves come out together
        assertEquals(List.of("", "", "", "😀", ""), feed(t, 0xF0, 0x9F, 0x98, 0x80));
    }

    @Test
    void byteLevelReplacesIllFormedBytesAsSoonAsTheyAreKnown() throws IOException {
        BpeTokenizer t = TinyTokenizers.load(TinyTokenizers.byteLevel(new String[0]), dir);
        // a lone continuation byte cannot start anything
        assertEquals(List.of("A", "\uFFFD", ""), feed(t, 'A', 0x80));
        // E2 82 cut short by 'B': one U+FFFD for the maximal subpart, like the reference decode
        assertEquals(List.of("", "", "\uFFFDB", ""), feed(t, 0xE2, 0x82, 'B'));
        assertEquals("\uFFFDB", t.decode(new int[] {0xE2, 0x82, 'B'}));
        // left unfinished at the end: flush gives it up
        assertEquals(List.of("x", "", "", "\uFFFD"), feed(t, 'x', 0xF0, 0x9F));
    }

    @Test
    void byteFallbackStreamsCharactersAndStripsTheLeadingSpace() throws IOException {
        BpeTokenizer t = TinyTokenizers.load(TinyTokenizers.sentencePiece(new String[] {"▁", "a", "▁a"},
                new String[] {"▁ a"}), dir);
        int a = t.tokenId("▁a");
        int e2 = t.tokenId("<0xE2>");
        int x82 = t.tokenId("<0x82>");
        int xac = t.tokenId("<0xAC>");
        assertEquals(List.of("a", "", "", "€", " a", ""), feed(t, a, e2, x82, xac, a));
        // an unfinished run ended by a normal token, and one ended by the stream: one U+FFFD per byte
        assertEquals(List.of("a", "", "", "\uFFFD\uFFFD a", "", "", "\uFFFD\uFFFD"), feed(t, a, e2, x82, a, e2, x82));
        assertEquals("a\uFFFD\uFFFD a\uFFFD\uFFFD", t.decode(new int[] {a, e2, x82, a, e2, x82}));
    }

    @Test
    void skipsSpecialTokensWhenAsked() throws IOException {
        BpeTokenizer t = TinyTokenizers.load(TinyTokenizers.byteLevel(new String[0], "<|eot|>"), dir);
        int eot = t.tokenId("<|eot|>");
        StreamingDecoder s = t.streamingDecoder(true);
        assertEquals("h", s.next('h'));
        assertEquals("", s.next(eot));
        StreamingDecoder keep = t.streamingDecoder(false);
        assertEquals("<|eot|>", keep.next(eot));
    }
}
