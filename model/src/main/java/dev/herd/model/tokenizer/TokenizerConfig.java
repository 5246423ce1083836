package dev.herd.model.tokenizer;

import java.util.Map;

/**
 * What a Hugging Face {@code tokenizer_config.json} says that encoding and prompting depend on. Fields are
 * null where the file does not say (or there is no file).
 *
 * @param addBosToken    {@code add_bos_token}
 * @param addEosToken    {@code add_eos_token}
 * @param bosToken       {@code bos_token} text
 * @param eosToken       {@code eos_token} text
 * @param padToken       {@code pad_token} text
 * @param unkToken       {@code unk_token} text
 * @param tokenizerClass {@code tokenizer_class}, e.g. "LlamaTokenizerFast"
 * @param chatTemplate   the default chat template (Jinja source)
 * @param chatTemplates  all named chat templates ("default" included) when the file lists several
 */
public record TokenizerConfig(Boolean addBosToken, Boolean addEosToken, String bosToken, String eosToken,
                              String padToken, String unkToken, String tokenizerClass, String chatTemplate,
                              Map<String, String> chatTemplates) {
    public TokenizerConfig {
        chatTemplates = chatTemplates == null ? Map.of() : Map.copyOf(chatTemplates);
    }

    public static TokenizerConfig empty() {
        return new TokenizerConfig(null, null, null, null, null, null, null, null, Map.of());
    }
}
