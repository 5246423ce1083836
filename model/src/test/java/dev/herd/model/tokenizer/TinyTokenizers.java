package dev.herd.model.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Path;

/** Small tokenizer.json files written by tests. */
final class TinyTokenizers {
    static final ObjectMapper JSON = new ObjectMapper();

    private TinyTokenizers() {
    }

    /**
     * Byte-level BPE over the 256 byte characters (id = byte value), with the merges given as "a b" in
     * the byte-level alphabet, and the given special tokens after them.
     */
    static ObjectNode byteLevel(String[] merges, String... specials) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        ObjectNode vocab = model.putObject("vocab");
        for (int b = 0; b < 256; b++) {
            vocab.put(String.valueOf(ByteLevelAlphabet.charOf(b)), b);
        }
        ArrayNode mergeArray = model.putArray("merges");
        int next = 256;
        for (String m : merges) {
            mergeArray.add(m);
            String merged = m.replace(" ", "");
            if (!vocab.has(merged)) {
                vocab.put(merged, next++);
            }
        }
        ArrayNode added = root.putArray("added_tokens");
        for (String s : specials) {
            ObjectNode t = added.addObject();
            t.put("id", next++).put("content", s).put("special", true).put("normalized", false);
        }
        root.set("pre_tokenizer", JSON.createObjectNode().put("type", "ByteLevel").put("add_prefix_space", false));
        root.set("decoder", JSON.createObjectNode().put("type", "ByteLevel"));
        return root;
    }

    /** Mistral-style: "▁" pieces, byte fallback, Prepend + Replace normalizer, Replace/ByteFallback/Fuse/Strip decoder. */
    static ObjectNode sentencePiece(String[] pieces, String[] merges) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").put("byte_fallback", true).put("unk_token", "<unk>").put("fuse_unk", true);
        ObjectNode vocab = model.putObject("vocab");
        vocab.put("<unk>", 0).put("<s>", 1).put("</s>", 2);
        for (int b = 0; b < 256; b++) {
            vocab.put(String.format("<0x%02X>", b), 3 + b);
        }
        for (String p : pieces) {
            vocab.put(p, vocab.size());
        }
        ArrayNode mergeArray = model.putArray("merges");
        for (String m : merges) {
            mergeArray.add(m);
        }
        ArrayNode added = root.putArray("added_tokens");
        for (String s : new String[] {"<unk>", "<s>", "</s>"}) {
            added.addObject().put("id", vocab.get(s).asInt()).put("content", s).put("special", true).put("normalized", false);
        }
        root.set("normalizer", JSON.readTree("""
                {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                  {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}"""));
        root.set("post_processor", JSON.readTree("""
                {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                  {"Sequence": {"id": "A", "type_id": 0}}], "pair": [],
                 "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}"""));
        root.set("decoder", JSON.readTree("""
                {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                  {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}"""));
        return root;
    }

    static BpeTokenizer load(ObjectNode json, Path dir) throws IOException {
        Path file = dir.resolve("tokenizer.json");
        JSON.writeValue(file.toFile(), json);
        return Tokenizers.fromHuggingFace(file, null);
    }

    /** The byte-level id of each UTF-8 byte of s (for the byteLevel vocabulary: the byte value). */
    static int[] bytes(String s) {
        byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        int[] ids = new int[b.length];
        for (int i = 0; i < b.length; i++) {
            ids[i] = b[i] & 0xFF;
        }
        return ids;
    }
}
