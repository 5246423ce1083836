package dev.herd.model.load;

import dev.herd.model.chat.ChatTemplate;
import dev.herd.model.chat.ChatTemplates;
import dev.herd.model.gguf.GgufFile;
import dev.herd.model.tokenizer.BpeTokenizer;
import dev.herd.model.tokenizer.GgufVocabulary;
import dev.herd.model.tokenizer.Tokenizer;
import dev.herd.model.tokenizer.Tokenizers;
import dev.herd.model.weights.CheckpointFormat;
import dev.herd.model.weights.ModelFormatException;

import java.nio.file.Path;
import java.util.Optional;

/**
 * Everything a model download holds besides its weights' arithmetic: the mapped files and config, the
 * tokenizer, and the chat template when the model has one. From a Hugging Face directory these come from
 * {@code tokenizer.json}, {@code tokenizer_config.json} (or {@code chat_template.jinja}); from GGUF, from
 * its {@code tokenizer.*} metadata.
 */
public record ModelBundle(ModelFiles files, Tokenizer tokenizer, Optional<ChatTemplate> chatTemplate)
        implements AutoCloseable {

    public static ModelBundle open(Path path) {
        ModelFiles files = ModelFiles.open(path);
        try {
            if (files.format() == CheckpointFormat.HUGGING_FACE) {
                BpeTokenizer tok = Tokenizers.fromHuggingFaceDirectory(path);
                return new ModelBundle(files, tok, ChatTemplates.find(path));
            }
            GgufFile g = files.gguf();
            GgufVocabulary vocab = ggufVocabulary(g);
            Tokenizer tok = Tokenizers.fromGguf(vocab);
            Optional<ChatTemplate> template = Optional.ofNullable(vocab.chatTemplate())
                    .map(src -> new ChatTemplate(src, text(tok, vocab.bosId()), text(tok, vocab.eosId())));
            return new ModelBundle(files, tok, template);
        } catch (RuntimeException e) {
            // nothing half-open: the files are unmapped before the error goes up
            files.close();
            throw e;
        }
    }

    private static String text(Tokenizer tok, int id) {
        return id < 0 ? null : tok.decode(new int[]{id});
    }

    /** The {@code tokenizer.ggml.*} metadata of a GGUF file, with llama.cpp's defaults for absent keys. */
    static GgufVocabulary ggufVocabulary(GgufFile g) {
        String model = g.findString("tokenizer.ggml.model").orElseThrow(() -> new ModelFormatException(
                g.path() + ": no tokenizer.ggml.model: the file carries no tokenizer"));
        return new GgufVocabulary(model, g.getString("tokenizer.ggml.pre", "default"),
                g.getStringList("tokenizer.ggml.tokens"),
                g.findFloatArray("tokenizer.ggml.scores").orElse(null),
                g.findIntArray("tokenizer.ggml.token_type").orElse(null),
                g.findStringList("tokenizer.ggml.merges").orElse(null),
                g.findLong("tokenizer.ggml.bos_token_id").map(Long::intValue).orElse(-1),
                g.findLong("tokenizer.ggml.eos_token_id").map(Long::intValue).orElse(-1),
                g.getBool("tokenizer.ggml.add_bos_token", model.equals("llama")),
                g.getBool("tokenizer.ggml.add_eos_token", false),
                g.getBool("tokenizer.ggml.add_space_prefix", model.equals("llama")),
                g.findString("tokenizer.chat_template").orElse(null));
    }

    @Override
    public void close() {
        files.close();
    }
}
