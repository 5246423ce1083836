package dev.herd.model.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BpeModelTest {

    private static int[] tokenize(BpeModel model, String piece) {
        IntArrayBuilder out = new IntArrayBuilder(4);
        model.tokenize(piece, out);
        return out.toArray();
    }

    private static Map<String, Integer> vocab(String... tokens) {
        Map<String, Integer> v = new LinkedHashMap<>();
        for (String t : tokens) {
            v.put(t, v.size());
        }
        return v;
    }

    private static BpeModel model(Map<String, Integer> vocab, List<String[]> merges) {
        return new BpeModel(vocab, merges, null, false, false, false, null, null, "test");
    }

    @Test
    void lowestRankMergesFirst() {
        Map<String, Integer> v = vocab("a", "b", "c", "ab", "bc", "abc");
        // "b c" outranks "a b": abc = a + bc
        BpeModel bcFirst = model(v, List.of(new String[] {"b", "c"}, new String[] {"a", "b"}, new String[] {"a", "bc"}));
        assertArrayEquals(new int[] {5}, tokenize(bcFirst, "abc"));
        // "a b" outranks "b c" and nothing makes abc from ab + c: two tokens
        BpeModel abFirst = model(v, List.of(new String[] {"a", "b"}, new String[] {"b", "c"}, new String[] {"a", "bc"}));
        assertArrayEquals(new int[] {3, 2}, tokenize(abFirst, "abc"));
    }

    @Test
    void equalRanksMergeLeftmostFirst() {
        Map<String, Integer> v = vocab("a", "aa", "aaa");
        BpeModel m = model(v, List.of(new String[] {"a", "a"}, new String[] {"aa", "a"}));
        // a a a: the left pair merges (aa, a), then aa+a -> aaa
        assertArrayEquals(new int[] {2}, tokenize(m, "aaa"));
        // a a a a: left pair, then the next free pair: aa aa (no aa+aa merge)
        assertArrayEquals(new int[] {1, 1}, tokenize(m, "aaaa"));
    }

    @Test
    void byteFallbackSpellsUnknownCharactersAsByteTokens() {
        Map<String, Integer> v = vocab("a", "<0xE2>", "<0x82>", "<0xAC>", "<unk>");
        BpeModel m = new BpeModel(v, List.of(), "<unk>", true, true, false, null, null, "test");
        assertArrayEquals(new int[] {0, 1, 2, 3, 0}, tokenize(m, "a€a"));
        // without byte tokens for it, a character becomes the unknown token, fused over a run
        assertArrayEquals(new int[] {0, 4, 0}, tokenize(m, "aßßa"));
    }

    @Test
    void ignoreMergesTakesAWholeVocabularyEntry() {
        Map<String, Integer> v = vocab("a", "b", "ab", "ba", "aba");
        List<String[]> merges = List.<String[]>of(new String[] {"b", "a"}, new String[] {"a", "b"});
        assertArrayEquals(new int[] {0, 3}, tokenize(model(v, merges), "aba"));
        BpeModel ignoring = new BpeModel(v, merges, null, false, false, true, null, null, "test");
        assertArrayEquals(new int[] {4}, tokenize(ignoring, "aba"));
    }

    @Test
    void agreesWithNaiveMergeLoopOnRandomVocabularies() {
        Random r = new Random(7);
        for (int round = 0; round < 20; round++) {
            List<String> tokens = new ArrayList<>(List.of("a", "b", "c", "d", "é", "😀"));
            List<String[]> merges = new ArrayList<>();
            java.util.Set<String> pairs = new java.util.HashSet<>();
            while (merges.size() < 60) {
                String x = tokens.get(r.nextInt(tokens.size()));
                String y = tokens.get(r.nextInt(tokens.size()));
                if (x.length() + y.length() > 8 || !pairs.add(x + " " + y)) {
                    continue;
                }
                merges.add(new String[] {x, y});
                if (!tokens.contains(x + y)) {
                    tokens.add(x + y);
                }
            }
            Map<String, Integer> v = new HashMap<>();
            for (String t : tokens) {
                v.put(t, v.size());
            }
            BpeModel m = model(v, merges);
            for (int w = 0; w < 200; w++) {
                StringBuilder word = new StringBuilder();
                int len = 1 + r.nextInt(40);
                for (int i = 0; i < len; i++) {
                    word.append(tokens.get(r.nextInt(6)));
                }
                assertArrayEquals(naive(v, merges, word.toString()), tokenize(m, word.toString()), word.toString());
            }
        }
    }

    /** Textbook BPE: repeatedly merge the adjacent pair of lowest rank, leftmost first; O(n²) per word. */
    private static int[] naive(Map<String, Integer> vocab, List<String[]> merges, String word) {
        Map<String, Integer> rank = new HashMap<>();
        for (int i = 0; i < merges.size(); i++) {
            rank.putIfAbsent(merges.get(i)[0] + " " + merges.get(i)[1], i);
        }
        List<String> symbols = new ArrayList<>();
        word.codePoints().forEach(cp -> symbols.add(new String(Character.toChars(cp))));
        while (true) {
            int best = -1;
            int bestRank = Integer.MAX_VALUE;
            for (int i = 0; i + 1 < symbols.size(); i++) {
                Integer k = rank.get(symbols.get(i) + " " + symbols.get(i + 1));
                if (k != null && k < bestRank) {
                    bestRank = k;
                    best = i;
                }
            }
            if (best < 0) {
                break;
            }
            symbols.set(best, symbols.get(best) + symbols.remove(best + 1));
        }
        return symbols.stream().mapToInt(vocab::get).toArray();
    }

    @Test
    void longPieceIsNotQuadratic() {
        Map<String, Integer> v = vocab("a", "b", "ab", "ba", "abab", "bb");
        BpeModel m = model(v, List.of(new String[] {"a", "b"}, new String[] {"b", "a"}, new String[] {"ab", "ab"},
                new String[] {"b", "b"}));
        Random r = new Random(3);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 400_000; i++) {
            sb.append(r.nextBoolean() ? 'a' : 'b');
        }
        long start = System.nanoTime();
        int[] ids = tokenize(m, sb.toString());
        double seconds = (System.nanoTime() - start) / 1e9;
        // a quadratic merge loop needs minutes here; the heap needs well under a second
        assertTrue(seconds < 5, "400k-character piece took " + seconds + " s");
        StringBuilder back = new StringBuilder();
        String[] byId = v.keySet().toArray(new String[0]);
        for (int id : ids) {
            back.append(byId[id]);
        }
        assertTrue(back.toString().contentEquals(sb), "tokens do not spell the piece");
    }
}
