package dev.herd.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns a tokenizer.json into GGUF tokenizer metadata the way llama.cpp's converter does: tokens by id (gaps
 * as "[PADn]", unused), added special tokens and those that look special as control, other added tokens as
 * user-defined, {@code <0xXX>} as byte tokens; merges as "a b" strings. A SentencePiece vocabulary gets back
 * the scores its tokenizer.model had: Hugging Face's converter wrote the merges in order of the merged piece's
 * score, so minus the rank of the first merge that makes a piece orders pieces as their scores did (the
 * "▁▁"-style whitespace pieces of Mistral, for one, score lowest although their ids are small).
 */
final class GgufFromTokenizerJson {
    private GgufFromTokenizerJson() {
    }

    static GgufVocabulary convert(JsonNode json, String model, String pre, Tokenizer converted) {
        Map<Integer, String> byId = new HashMap<>();
        json.path("model").path("vocab").properties().forEach(e -> byId.put(e.getValue().asInt(), e.getKey()));
        Map<Integer, JsonNode> added = new HashMap<>();
        for (JsonNode t : json.path("added_tokens")) {
            added.put(t.path("id").asInt(), t);
            byId.put(t.path("id").asInt(), t.path("content").asText());
        }
        int size = byId.keySet().stream().mapToInt(Integer::intValue).max().orElseThrow() + 1;
        List<String> tokens = new ArrayList<>(size);
        int[] types = new int[size];
        float[] scores = new float[size];
        String unk = json.path("model").path("unk_token").isTextual() ? json.path("model").path("unk_token").asText() : null;
        for (int id = 0; id < size; id++) {
            String text = byId.get(id);
            if (text == null) {
                tokens.add("[PAD" + id + "]");
                types[id] = GgufVocabulary.TYPE_UNUSED;
                continue;
            }
            tokens.add(text);
            JsonNode a = added.get(id);
            if (text.equals(unk)) {
                types[id] = GgufVocabulary.TYPE_UNKNOWN;
            } else if (a != null) {
                types[id] = a.path("special").asBoolean() || looksSpecial(text)
                        ? GgufVocabulary.TYPE_CONTROL : GgufVocabulary.TYPE_USER_DEFINED;
            } else if ("llama".equals(model) && text.matches("<0x[0-9A-F]{2}>")) {
                types[id] = GgufVocabulary.TYPE_BYTE;
            } else {
                types[id] = GgufVocabulary.TYPE_NORMAL;
            }
        }
        List<String> merges = new ArrayList<>();
        Map<String, Integer> textToId = new HashMap<>();
        byId.forEach((id, text) -> textToId.put(text, id));
        Arrays.fill(scores, -1e9f);
        for (JsonNode m : json.path("model").path("merges")) {
            String merge = m.isTextual() ? m.asText() : m.get(0).asText() + " " + m.get(1).asText();
            int rank = merges.size();
            merges.add(merge);
            Integer made = textToId.get(merge.replaceFirst(" ", ""));
            if (made != null && scores[made] == -1e9f) {
                scores[made] = -rank;
            }
        }
        return new GgufVocabulary(model, pre, tokens, "llama".equals(model) ? scores : null, types,
                "gpt2".equals(model) ? merges : null, converted.bosId(), converted.eosId(), converted.addsBos(), false,
                "llama".equals(model), null);
    }

    /** The converter's does_token_look_special. */
    private static boolean looksSpecial(String t) {
        return Arrays.asList("<pad>", "<mask>", "<2mass>", "[@BOS@]").contains(t)
                || (t.startsWith("<|") && t.endsWith("|>")) || (t.startsWith("<｜") && t.endsWith("｜>"))
                || (t.startsWith("<unused") && t.endsWith(">"));
    }
}
