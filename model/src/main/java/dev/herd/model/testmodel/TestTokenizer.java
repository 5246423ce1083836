package dev.herd.model.testmodel;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real byte-level BPE vocabulary for generated models: the 256 GPT-2 byte symbols, merges learned from a
 * fixed English text until the vocabulary is full, and ChatML special tokens at the end. Written both as a
 * Hugging Face {@code tokenizer.json} and as GGUF {@code gpt2} tokenizer metadata, so a generated model
 * tokenizes text the way real downloads do (its weights are random, so its text is not meaningful).
 */
public final class TestTokenizer {
    public static final List<String> SPECIALS = List.of("<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>",
            "<|im_end|>");
    public static final int MIN_VOCAB = 256 + SPECIALS.size();

    /** The pre-tokenizer regex of Llama 3 (and GGUF pre type {@code llama-bpe}). */
    public static final String LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
            + "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    public static final String CHAT_TEMPLATE = "{% for message in messages %}"
            + "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
            + "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private static final String CORPUS = """
            Herd serves large mixture of experts language models on clusters of ordinary computers. Each node \
            holds a part of the weights, and the coordinator schedules requests, batches them continuously and \
            streams tokens back to the client. The quick brown fox jumps over the lazy dog. Numbers like 12, \
            345 and 6789 appear in text, as do questions? Answers! And code: for (int i = 0; i < n; i++) { sum \
            += x[i]; } return sum; The weather today is sunny with a light breeze from the west, and the \
            river runs quietly past the old mill where children play in the afternoon. What is the capital \
            of France? Paris is the capital of France. Hello, world! How are you doing today? I am fine, \
            thank you. Please write a short poem about the sea, the sky and the stars at night.
            """;

    private final List<String> tokens;
    private final List<String> merges;
    private final int vocabSize;

    private TestTokenizer(List<String> tokens, List<String> merges, int vocabSize) {
        this.tokens = tokens;
        this.merges = merges;
        this.vocabSize = vocabSize;
    }

    /** A vocabulary of exactly {@code vocabSize} tokens; the specials take the last ids. */
    public static TestTokenizer build(int vocabSize) {
        if (vocabSize < MIN_VOCAB) {
            throw new IllegalArgumentException("vocab must be at least " + MIN_VOCAB);
        }
        char[] byteChars = byteToUnicode();
        List<String> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) {
            tokens.add(String.valueOf(byteChars[b]));
        }
        int regular = vocabSize - SPECIALS.size();
        List<List<String>> words = new ArrayList<>();
        Matcher m = Pattern.compile(LLAMA3_REGEX).matcher(CORPUS);
        while (m.find()) {
            List<String> w = new ArrayList<>();
            for (byte b : m.group().getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
                w.add(String.valueOf(byteChars[b & 0xFF]));
            }
            words.add(w);
        }
        List<String> merges = new ArrayList<>();
        java.util.Set<String> known = new java.util.HashSet<>(tokens);
        while (tokens.size() < regular) {
            Map<String, Integer> counts = new LinkedHashMap<>();
            for (List<String> w : words) {
                for (int i = 0; i + 1 < w.size(); i++) {
                    counts.merge(w.get(i) + " " + w.get(i + 1), 1, Integer::sum);
                }
            }
            String best = null;
            int bestCount = 0;
            for (Map.Entry<String, Integer> e : counts.entrySet()) {
                String merged = e.getKey().replace(" ", "");
                if (e.getValue() > bestCount && !known.contains(merged)) {
                    best = e.getKey();
                    bestCount = e.getValue();
                }
            }
            if (best == null) {
                break;
            }
            String[] pair = best.split(" ");
            String merged = pair[0] + pair[1];
            merges.add(best);
            tokens.add(merged);
            known.add(merged);
            for (List<String> w : words) {
                for (int i = 0; i + 1 < w.size(); i++) {
                    if (w.get(i).equals(pair[0]) && w.get(i + 1).equals(pair[1])) {
                        w.set(i, merged);
                        w.remove(i + 1);
                    }
                }
            }
        }
        fillWithCompounds(tokens, merges, known, regular);
        tokens.addAll(SPECIALS);
        return new TestTokenizer(List.copyOf(tokens), List.copyOf(merges), vocabSize);
    }

    /**
     * Once the corpus has no pair left to merge, fills the vocabulary with merges of two word tokens
     * (" the" + " river"): still a valid BPE vocabulary, and random weights then emit readable word salad
     * rather than placeholders.
     */
    private static void fillWithCompounds(List<String> tokens, List<String> merges, java.util.Set<String> known,
                                          int regular) {
        List<String> words = new ArrayList<>();
        for (String t : tokens) {
            if (t.length() >= 3 && t.codePoints().skip(1).allMatch(Character::isLetter)) {
                words.add(t);
            }
        }
        java.util.SplittableRandom r = new java.util.SplittableRandom(42);
        int attempts = 0;
        while (tokens.size() < regular && !words.isEmpty() && attempts++ < 50 * regular) {
            String a = words.get(r.nextInt(words.size()));
            String b = words.get(r.nextInt(words.size()));
            String merged = a + b;
            if (merged.length() > 24 || known.contains(merged)) {
                continue;
            }
            merges.add(a + " " + b);
            tokens.add(merged);
            known.add(merged);
        }
        while (tokens.size() < regular) {
            tokens.add("<unused_" + tokens.size() + ">"); // only for vocabularies far larger than the corpus allows
        }
    }

    /** GPT-2's reversible map from bytes to printable characters. */
    static char[] byteToUnicode() {
        char[] map = new char[256];
        boolean[] direct = new boolean[256];
        for (int b = '!'; b <= '~'; b++) {
            direct[b] = true;
        }
        for (int b = 0xA1; b <= 0xAC; b++) {
            direct[b] = true;
        }
        for (int b = 0xAE; b <= 0xFF; b++) {
            direct[b] = true;
        }
        int next = 256;
        for (int b = 0; b < 256; b++) {
            map[b] = direct[b] ? (char) b : (char) next++;
        }
        return map;
    }

    public List<String> tokens() {
        return tokens;
    }

    public List<String> merges() {
        return merges;
    }

    public int vocabSize() {
        return vocabSize;
    }

    public int id(String special) {
        int i = tokens.indexOf(special);
        if (i < 0) {
            throw new IllegalArgumentException("no token " + special);
        }
        return i;
    }

    public int bosId() {
        return id("<|begin_of_text|>");
    }

    public int eosId() {
        return id("<|im_end|>");
    }

    /** GGUF token types: 1 normal, 3 control (the specials), 5 unused. */
    public int[] tokenTypes() {
        int[] types = new int[tokens.size()];
        for (int i = 0; i < types.length; i++) {
            String t = tokens.get(i);
            types[i] = SPECIALS.contains(t) ? 3 : t.startsWith("<unused_") ? 5 : 1;
        }
        return types;
    }

    /** The Hugging Face {@code tokenizer.json} document. */
    public Map<String, Object> tokenizerJson() {
        Map<String, Object> vocab = new LinkedHashMap<>();
        for (int i = 0; i < tokens.size() - SPECIALS.size(); i++) {
            vocab.put(tokens.get(i), i);
        }
        List<Map<String, Object>> added = new ArrayList<>();
        for (String s : SPECIALS) {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("id", tokens.indexOf(s));
            t.put("content", s);
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
            added.add(t);
            vocab.put(s, tokens.indexOf(s));
        }
        Map<String, Object> split = new LinkedHashMap<>();
        split.put("type", "Split");
        split.put("pattern", Map.of("Regex", LLAMA3_REGEX));
        split.put("behavior", "Isolated");
        split.put("invert", false);
        Map<String, Object> byteLevel = new LinkedHashMap<>();
        byteLevel.put("type", "ByteLevel");
        byteLevel.put("add_prefix_space", false);
        byteLevel.put("trim_offsets", true);
        byteLevel.put("use_regex", false);
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", null);
        model.put("continuing_subword_prefix", null);
        model.put("end_of_word_suffix", null);
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("ignore_merges", true);
        model.put("vocab", vocab);
        model.put("merges", merges);
        Map<String, Object> decoder = new LinkedHashMap<>();
        decoder.put("type", "ByteLevel");
        decoder.put("add_prefix_space", true);
        decoder.put("trim_offsets", true);
        decoder.put("use_regex", true);
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("version", "1.0");
        doc.put("truncation", null);
        doc.put("padding", null);
        doc.put("added_tokens", added);
        doc.put("normalizer", null);
        doc.put("pre_tokenizer", Map.of("type", "Sequence", "pretokenizers", List.of(split, byteLevel)));
        doc.put("post_processor", null);
        doc.put("decoder", decoder);
        doc.put("model", model);
        return doc;
    }

    /** The Hugging Face {@code tokenizer_config.json} document. */
    public Map<String, Object> tokenizerConfigJson() {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("bos_token", "<|begin_of_text|>");
        doc.put("eos_token", "<|im_end|>");
        doc.put("add_bos_token", false);
        doc.put("chat_template", CHAT_TEMPLATE);
        doc.put("model_max_length", 4096);
        doc.put("tokenizer_class", "PreTrainedTokenizerFast");
        return doc;
    }

}
