package dev.herd.model.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.PriorityQueue;

/**
 * SentencePiece-style BPE by score, as llama.cpp's {@code llm_tokenizer_spm} runs it for GGUF vocabularies of
 * type "llama": start from one symbol per character and repeatedly merge the adjacent pair whose
 * concatenation is a vocabulary entry with the highest score (leftmost first among equal scores). A
 * character that ends up as a symbol of its own but is not in the vocabulary becomes its UTF-8 bytes as
 * {@code <0xXX>} byte tokens.
 *
 * <p>The piece this model sees already has spaces written as "▁" and, where configured, a leading "▁".
 */
final class SentencePieceBpeModel implements TokenModel {
    private final TokenVocabulary vocab;
    private final float[] scores;
    private final int[] byteIds = new int[256];
    private final int unkId;

    /** @param unkId the unknown token, for characters the vocabulary cannot even spell in bytes; or -1 */
    SentencePieceBpeModel(List<String> tokens, float[] scores, int unkId, String where) {
        if (scores.length < tokens.size()) {
            throw new dev.herd.model.weights.ModelFormatException(
                    where + ": " + scores.length + " scores for " + tokens.size() + " tokens");
        }
        this.vocab = TokenVocabulary.of(tokens);
        this.scores = Arrays.copyOf(scores, tokens.size());
        this.unkId = unkId;
        for (int b = 0; b < 256; b++) {
            Integer id = vocab.find(String.format("<0x%02X>", b));
            if (id == null) {
                id = vocab.find(new String(new byte[] {(byte) b}, StandardCharsets.ISO_8859_1));
            }
            byteIds[b] = id == null ? -1 : id;
        }
    }

    @Override
    public TokenVocabulary vocabulary() {
        return vocab;
    }

    /** A candidate merge of the symbols at left and right, valid while their lengths still add up to size. */
    private record Bigram(int left, int right, float score, int size) {
    }

    @Override
    public void tokenize(String text, IntArrayBuilder out) {
        int n = text.length();
        if (n == 0) {
            return;
        }
        int[] start = new int[n];
        int[] len = new int[n];
        int[] prev = new int[n];
        int[] next = new int[n];
        int count = 0;
        for (int i = 0; i < n; ) {
            int cpLen = Character.charCount(text.codePointAt(i));
            start[count] = i;
            len[count] = cpLen;
            prev[count] = count - 1;
            i += cpLen;
            next[count] = i == n ? -1 : count + 1;
            count++;
        }
        PriorityQueue<Bigram> queue = new PriorityQueue<>((a, b) -> {
            int byScore = Float.compare(b.score, a.score);
            return byScore != 0 ? byScore : Integer.compare(a.left, b.left);
        });
        for (int i = 1; i < count; i++) {
            tryAdd(text, start, len, i - 1, i, queue);
        }
        while (!queue.isEmpty()) {
            Bigram bigram = queue.poll();
            int l = bigram.left;
            int r = bigram.right;
            if (len[l] == 0 || len[r] == 0 || len[l] + len[r] != bigram.size) {
                continue;
            }
            len[l] += len[r];
            len[r] = 0;
            next[l] = next[r];
            if (next[r] >= 0) {
                prev[next[r]] = l;
            }
            tryAdd(text, start, len, prev[l], l, queue);
            tryAdd(text, start, len, l, next[l], queue);
        }
        for (int i = 0; i != -1; i = next[i]) {
            String symbol = text.substring(start[i], start[i] + len[i]);
            Integer id = vocab.find(symbol);
            if (id != null) {
                out.add(id);
            } else {
                // merged symbols are always vocabulary entries, so this is a single unknown character
                byte[] utf8 = symbol.getBytes(StandardCharsets.UTF_8);
                boolean spellable = true;
                for (byte b : utf8) {
                    spellable &= byteIds[b & 0xFF] >= 0;
                }
                if (spellable) {
                    for (byte b : utf8) {
                        out.add(byteIds[b & 0xFF]);
                    }
                } else if (unkId >= 0) {
                    out.add(unkId); // a vocabulary without byte tokens: llama.cpp would fail here
                } else {
                    throw new IllegalArgumentException("vocabulary can spell '" + symbol
                            + "' neither as a token, nor in byte tokens, nor as unknown");
                }
            }
        }
    }

    private void tryAdd(String text, int[] start, int[] len, int left, int right, PriorityQueue<Bigram> queue) {
        if (left == -1 || right == -1) {
            return;
        }
        int size = len[left] + len[right];
        Integer id = vocab.find(text.substring(start[left], start[left] + size));
        if (id == null) {
            return;
        }
        queue.add(new Bigram(left, right, scores[id], size));
    }
}
