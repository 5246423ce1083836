package dev.herd.model.tokenizer;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where tokenizers come from: Hugging Face tokenizer files, or a GGUF file's vocabulary metadata. */
public final class Tokenizers {
    private Tokenizers() {
    }

    /**
     * Loads {@code tokenizer.json} from a model directory, with {@code tokenizer_config.json} beside it when
     * present (it decides BOS for some models). The chat template is not the tokenizer's business:
     * {@code dev.herd.model.chat.ChatTemplates} finds it, in the order transformers reads it.
     *
     * @throws dev.herd.model.weights.ModelFormatException naming the file and field when something is
     *         missing, malformed or of a kind not supported
     */
    public static BpeTokenizer fromHuggingFaceDirectory(Path directory) {
        Path json = directory.resolve("tokenizer.json");
        if (!Files.isRegularFile(json)) {
            throw new dev.herd.model.weights.ModelFormatException(json + ": no such file");
        }
        Path config = directory.resolve("tokenizer_config.json");
        return HfTokenizerJson.load(json, Files.isRegularFile(config) ? config : null);
    }

    /** @param tokenizerConfigJson may be null */
    public static BpeTokenizer fromHuggingFace(Path tokenizerJson, Path tokenizerConfigJson) {
        return HfTokenizerJson.load(tokenizerJson, tokenizerConfigJson);
    }

    /** Builds the tokenizer llama.cpp would run for this GGUF vocabulary. */
    public static BpeTokenizer fromGguf(GgufVocabulary vocabulary) {
        return GgufTokenizerBuilder.build(vocabulary);
    }
}
