package dev.herd.model.tokenizer;

import java.util.List;

/**
 * The tokenizer metadata of a GGUF file ({@code tokenizer.ggml.*}), as plain values.
 *
 * @param model          {@code tokenizer.ggml.model}: "gpt2" (byte-level BPE by merge rank) or "llama"
 *                       (SentencePiece BPE by score)
 * @param pre            {@code tokenizer.ggml.pre}: which pre-tokenizer expressions to use, e.g. "llama-bpe",
 *                       "qwen2", "deepseek-v3", "default"; ignored for "llama"
 * @param tokens         {@code tokenizer.ggml.tokens}, indexed by id
 * @param scores         {@code tokenizer.ggml.scores}, or null (needed for "llama")
 * @param tokenTypes     {@code tokenizer.ggml.token_type} (see the TYPE_ constants), or null for all normal
 * @param merges         {@code tokenizer.ggml.merges} as "a b" strings in rank order, or null (needed for "gpt2")
 * @param bosId          {@code tokenizer.ggml.bos_token_id}, or -1
 * @param eosId          {@code tokenizer.ggml.eos_token_id}, or -1
 * @param addBos         {@code tokenizer.ggml.add_bos_token}
 * @param addEos         {@code tokenizer.ggml.add_eos_token}
 * @param addSpacePrefix {@code tokenizer.ggml.add_space_prefix} ("llama" only: "▁" before the text)
 * @param chatTemplate   {@code tokenizer.chat_template}, or null
 */
public record GgufVocabulary(String model, String pre, List<String> tokens, float[] scores, int[] tokenTypes,
                             List<String> merges, int bosId, int eosId, boolean addBos, boolean addEos,
                             boolean addSpacePrefix, String chatTemplate) {
    public static final int TYPE_NORMAL = 1;
    public static final int TYPE_UNKNOWN = 2;
    public static final int TYPE_CONTROL = 3;
    public static final int TYPE_USER_DEFINED = 4;
    public static final int TYPE_UNUSED = 5;
    public static final int TYPE_BYTE = 6;

    public GgufVocabulary {
        tokens = List.copyOf(tokens);
        merges = merges == null ? null : List.copyOf(merges);
        scores = scores == null ? null : scores.clone();
        tokenTypes = tokenTypes == null ? null : tokenTypes.clone();
    }

    /**
     * The metadata with llama.cpp's defaults for the keys a file may leave out: a space prefix for "llama",
     * none for "gpt2"; no EOS added.
     */
    public static GgufVocabulary of(String model, String pre, List<String> tokens, float[] scores, int[] tokenTypes,
                                    List<String> merges, int bosId, int eosId, boolean addBos) {
        return new GgufVocabulary(model, pre, tokens, scores, tokenTypes, merges, bosId, eosId, addBos, false,
                "llama".equals(model), null);
    }

    int typeOf(int id) {
        return tokenTypes == null ? TYPE_NORMAL : tokenTypes[id];
    }
}
