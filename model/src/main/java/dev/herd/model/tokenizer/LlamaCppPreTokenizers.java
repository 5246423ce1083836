package dev.herd.model.tokenizer;

import java.util.List;
import java.util.Map;

/**
 * The pre-tokenizer expressions llama.cpp applies for each {@code tokenizer.ggml.pre} value (its
 * {@code llm_tokenizer_bpe} constructor), each splitting the pieces of the one before with the matches kept
 * as pieces of their own.
 *
 * <p>Where llama.cpp rewrote an expression for its own regex engine (case-insensitive contractions spelled
 * as {@code '[sS]}, letter-case classes emulated with lookaheads) the expression here is the original from
 * the model's tokenizer.json, which llama.cpp's rewrite stands for.
 */
final class LlamaCppPreTokenizers {
    private static final String GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    private static final String LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final String QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final String QWEN35 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}"
            + "| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final List<String> DEEPSEEK3 = List.of(
            "\\p{N}{1,3}",
            "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
                    + "| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+");
    private static final String CASED_LETTERS_UPPER = "[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]";
    private static final String CASED_LETTERS_LOWER = "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]";
    private static final String CONTRACTION = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
    private static final String GPT4O = "[^\\r\\n\\p{L}\\p{N}]?" + CASED_LETTERS_UPPER + "*" + CASED_LETTERS_LOWER + "+"
            + CONTRACTION + "?|[^\\r\\n\\p{L}\\p{N}]?" + CASED_LETTERS_UPPER + "+" + CASED_LETTERS_LOWER + "*"
            + CONTRACTION + "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final String TEKKEN = "[^\\r\\n\\p{L}\\p{N}]?" + CASED_LETTERS_UPPER + "*" + CASED_LETTERS_LOWER + "+"
            + "|[^\\r\\n\\p{L}\\p{N}]?" + CASED_LETTERS_UPPER + "+" + CASED_LETTERS_LOWER + "*"
            + "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final String GPT2_NO_TRAILING = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";

    /** Expressions and whether llama.cpp sets ignore_merges, by pre-tokenizer kind. */
    record Kind(List<String> expressions, boolean ignoreMerges) {
    }

    private static final Kind LLAMA3_KIND = new Kind(List.of(LLAMA3), true);
    private static final Kind LLAMA3_REGEX_ONLY = new Kind(List.of(LLAMA3), false);
    private static final Kind QWEN2_KIND = new Kind(List.of(QWEN2), false);
    private static final Kind GPT2_KIND = new Kind(List.of(GPT2), false);
    private static final Kind STARCODER_KIND = new Kind(List.of("\\p{N}", GPT2_NO_TRAILING), false);
    private static final Kind GPT4O_KIND = new Kind(List.of(GPT4O), false);

    private static final Map<String, Kind> BY_PRE = Map.ofEntries(
            Map.entry("default", new Kind(List.of("[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_NO_TRAILING, "\\p{N}+",
                    "[0-9][0-9][0-9]"), false)),
            Map.entry("llama3", LLAMA3_KIND), Map.entry("llama-v3", LLAMA3_KIND), Map.entry("llama-bpe", LLAMA3_KIND),
            Map.entry("falcon3", LLAMA3_KIND), Map.entry("falcon-h1", LLAMA3_KIND), Map.entry("pixtral", LLAMA3_KIND),
            Map.entry("dbrx", LLAMA3_REGEX_ONLY), Map.entry("smaug-bpe", LLAMA3_REGEX_ONLY),
            Map.entry("glm4", LLAMA3_REGEX_ONLY), Map.entry("chatglm-bpe", LLAMA3_REGEX_ONLY),
            Map.entry("deepseek-v3", new Kind(DEEPSEEK3, false)),
            Map.entry("qwen2", QWEN2_KIND), Map.entry("deepseek-r1-qwen", QWEN2_KIND), Map.entry("stablelm2", QWEN2_KIND),
            Map.entry("qwen35", new Kind(List.of(QWEN35), false)),
            Map.entry("gpt-2", GPT2_KIND), Map.entry("phi-2", GPT2_KIND), Map.entry("mpt", GPT2_KIND),
            Map.entry("olmo", GPT2_KIND), Map.entry("jais", GPT2_KIND), Map.entry("roberta-bpe", GPT2_KIND),
            Map.entry("starcoder", STARCODER_KIND), Map.entry("refact", STARCODER_KIND),
            Map.entry("command-r", STARCODER_KIND), Map.entry("smollm", STARCODER_KIND),
            Map.entry("codeshell", STARCODER_KIND), Map.entry("exaone", STARCODER_KIND),
            Map.entry("minerva-7b", STARCODER_KIND),
            Map.entry("falcon", new Kind(List.of("[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_NO_TRAILING, "[0-9][0-9][0-9]"), false)),
            Map.entry("gpt-4o", GPT4O_KIND), Map.entry("llama4", GPT4O_KIND),
            Map.entry("tekken", new Kind(List.of(TEKKEN), false)));

    private LlamaCppPreTokenizers() {
    }

    /** The kind for a pre value (empty means "default", as llama.cpp falls back to), or null if unknown. */
    static Kind forPre(String pre) {
        return BY_PRE.get(pre == null || pre.isEmpty() ? "default" : pre);
    }

    static java.util.Set<String> known() {
        return new java.util.TreeSet<>(BY_PRE.keySet());
    }
}
