package dev.herd.model.tokenizer;

import dev.herd.model.weights.ModelFormatException;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A token model's vocabulary both ways: entry to id and id to entry. Both kinds of model (byte-pair merges from
 * {@code tokenizer.json}, SentencePiece scores from GGUF) look entries up the same way; only how they split text
 * differs.
 */
final class TokenVocabulary {
    private final Map<String, Integer> ids;
    private final String[] entries;

    private TokenVocabulary(Map<String, Integer> ids, String[] entries) {
        this.ids = ids;
        this.entries = entries;
    }

    /**
     * From an entry-to-id map (Hugging Face's {@code model.vocab}), owned from here on; ids need not be dense (an
     * id no entry has reads as no entry).
     */
    static TokenVocabulary of(Map<String, Integer> ids, String where) {
        int max = -1;
        for (int id : ids.values()) {
            if (id < 0) {
                throw new ModelFormatException(where + ": negative token id " + id);
            }
            max = Math.max(max, id);
        }
        String[] entries = new String[max + 1];
        for (Map.Entry<String, Integer> e : ids.entrySet()) {
            entries[e.getValue()] = e.getKey();
        }
        return new TokenVocabulary(ids, entries);
    }

    /** From entries in id order (GGUF's {@code tokenizer.ggml.tokens}); an entry listed twice keeps its first id. */
    static TokenVocabulary of(List<String> entries) {
        Map<String, Integer> ids = new HashMap<>(entries.size() * 2);
        String[] byId = entries.toArray(new String[0]);
        for (int i = 0; i < byId.length; i++) {
            ids.putIfAbsent(byId[i], i);
        }
        return new TokenVocabulary(ids, byId);
    }

    /** The id of an entry, or null: for the models' own look-ups. */
    Integer find(String entry) {
        return ids.get(entry);
    }

    /** The id of an entry, or -1. */
    int id(String entry) {
        Integer id = ids.get(entry);
        return id == null ? -1 : id;
    }

    /** The entry of an id, or null. */
    String entry(int id) {
        return id >= 0 && id < entries.length ? entries[id] : null;
    }

    /** One more than the largest id. */
    int size() {
        return entries.length;
    }
}
