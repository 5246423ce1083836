package dev.herd.model.tokenizer;

import dev.herd.model.weights.ModelFormatException;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Builds, from GGUF tokenizer metadata, the tokenizer llama.cpp runs: control, unknown and user-defined
 * tokens are matched whole in the text (control and unknown ones only when special tokens are parsed);
 * "gpt2" vocabularies then go through the pre-tokenizer expressions for their {@code pre} value and
 * byte-level BPE by merge rank, "llama" vocabularies through SentencePiece BPE by score with spaces as "▁".
 */
final class GgufTokenizerBuilder {
    private static final String WHERE = "GGUF tokenizer metadata";

    private GgufTokenizerBuilder() {
    }

    static BpeTokenizer build(GgufVocabulary v) {
        List<String> tokens = v.tokens();
        if (tokens.isEmpty()) {
            throw new ModelFormatException(WHERE + ": tokenizer.ggml.tokens is empty");
        }
        if (v.tokenTypes() != null && v.tokenTypes().length < tokens.size()) {
            throw new ModelFormatException(WHERE + ": tokenizer.ggml.token_type has " + v.tokenTypes().length
                    + " entries for " + tokens.size() + " tokens");
        }
        checkId(v.bosId(), tokens.size(), "tokenizer.ggml.bos_token_id");
        checkId(v.eosId(), tokens.size(), "tokenizer.ggml.eos_token_id");
        List<AddedToken> added = new ArrayList<>();
        for (int id = 0; id < tokens.size(); id++) {
            int type = v.typeOf(id);
            if (type == GgufVocabulary.TYPE_CONTROL || type == GgufVocabulary.TYPE_UNKNOWN
                    || type == GgufVocabulary.TYPE_USER_DEFINED) {
                if (tokens.get(id).isEmpty()) {
                    continue;
                }
                added.add(new AddedToken(id, tokens.get(id), type != GgufVocabulary.TYPE_USER_DEFINED,
                        false, false, false, false));
            }
        }
        int[] prefix = v.addBos() ? new int[] {requireId(v.bosId(), "add_bos_token", "bos_token_id")} : new int[0];
        int[] suffix = v.addEos() ? new int[] {requireId(v.eosId(), "add_eos_token", "eos_token_id")} : new int[0];
        TokenizerConfig config = new TokenizerConfig(v.addBos(), v.addEos(),
                v.bosId() >= 0 ? tokens.get(v.bosId()) : null, v.eosId() >= 0 ? tokens.get(v.eosId()) : null,
                null, null, null, v.chatTemplate(), Map.of());
        return switch (v.model()) {
            case "gpt2" -> byteLevel(v, added, prefix, suffix, config);
            case "llama" -> sentencePiece(v, added, prefix, suffix, config);
            default -> throw new ModelFormatException(WHERE + ": tokenizer.ggml.model '" + v.model()
                    + "' is not supported (gpt2, llama)");
        };
    }

    private static BpeTokenizer byteLevel(GgufVocabulary v, List<AddedToken> added, int[] prefix, int[] suffix,
                                          TokenizerConfig config) {
        if (v.merges() == null) {
            throw new ModelFormatException(WHERE + ": tokenizer.ggml.merges is missing for a gpt2 vocabulary");
        }
        LlamaCppPreTokenizers.Kind kind = LlamaCppPreTokenizers.forPre(v.pre());
        if (kind == null) {
            throw new ModelFormatException(WHERE + ": tokenizer.ggml.pre '" + v.pre() + "' is not supported; known: "
                    + LlamaCppPreTokenizers.known());
        }
        Map<String, Integer> vocab = new HashMap<>(v.tokens().size() * 2);
        for (int id = 0; id < v.tokens().size(); id++) {
            vocab.put(v.tokens().get(id), id); // a repeated spelling maps to its last id, as in llama.cpp
        }
        List<String[]> merges = new ArrayList<>(v.merges().size());
        for (int i = 0; i < v.merges().size(); i++) {
            String m = v.merges().get(i);
            int space = m.indexOf(' ', 1);
            if (space < 0) {
                throw new ModelFormatException(WHERE + ": tokenizer.ggml.merges[" + i + "] '" + m
                        + "' is not two tokens separated by a space");
            }
            merges.add(new String[] {m.substring(0, space), m.substring(space + 1)});
        }
        BpeModel model = new BpeModel(vocab, merges, null, false, false, kind.ignoreMerges(), null, null,
                WHERE + " (tokenizer.ggml.merges)");
        List<PreTokenizer> stages = new ArrayList<>();
        for (String expression : kind.expressions()) {
            Pattern p = HfRegex.compile(expression, WHERE + ": pre-tokenizer for '" + v.pre() + "'");
            stages.add(new PreTokenizer.Split(p, PreTokenizer.Behavior.ISOLATED, false));
        }
        stages.add(new PreTokenizer.ByteLevel(false, false));
        return new BpeTokenizer(added, new Normalizer.Identity(), new PreTokenizer.Sequence(stages), model, prefix,
                suffix, new Decoder.ByteLevel(), v.bosId(), v.eosId(), config);
    }

    private static BpeTokenizer sentencePiece(GgufVocabulary v, List<AddedToken> added, int[] prefix, int[] suffix,
                                              TokenizerConfig config) {
        if (v.scores() == null) {
            throw new ModelFormatException(WHERE + ": tokenizer.ggml.scores is missing for a llama vocabulary");
        }
        int unk = -1;
        for (int id = 0; id < v.tokens().size() && unk < 0; id++) {
            unk = v.typeOf(id) == GgufVocabulary.TYPE_UNKNOWN ? id : -1;
        }
        SentencePieceBpeModel model = new SentencePieceBpeModel(v.tokens(), v.scores(), unk, WHERE);
        List<Normalizer> steps = new ArrayList<>();
        if (v.addSpacePrefix()) {
            steps.add(new Normalizer.Prepend("\u2581"));
        }
        steps.add(new Normalizer.Replace(HfRegex.literal(" "), "\u2581"));
        Decoder decoder = new Decoder.Sequence(List.of(
                new Decoder.Replace(HfRegex.literal("\u2581"), " "), new Decoder.ByteFallback(), new Decoder.Fuse(),
                new Decoder.Strip(' ', v.addSpacePrefix() ? 1 : 0, 0)));
        return new BpeTokenizer(added, new Normalizer.Sequence(steps), new PreTokenizer.Sequence(List.of()), model,
                prefix, suffix, decoder, v.bosId(), v.eosId(), config);
    }

    private static void checkId(int id, int size, String key) {
        if (id < -1 || id >= size) {
            throw new ModelFormatException(WHERE + ": " + key + " " + id + " is outside the " + size + " tokens");
        }
    }

    private static int requireId(int id, String flag, String key) {
        if (id < 0) {
            throw new ModelFormatException(WHERE + ": tokenizer.ggml." + flag + " is set but tokenizer.ggml." + key
                    + " is not");
        }
        return id;
    }
}
