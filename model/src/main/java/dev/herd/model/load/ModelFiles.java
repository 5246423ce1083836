package dev.herd.model.load;

import dev.herd.model.config.GgufConfigReader;
import dev.herd.model.config.HfConfigReader;
import dev.herd.model.config.ModelConfig;
import dev.herd.model.gguf.GgufFile;
import dev.herd.model.safetensors.SafetensorsDirectory;
import dev.herd.model.weights.CheckpointFormat;
import dev.herd.model.weights.ModelFormatException;
import dev.herd.model.weights.WeightStore;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A model on disk as it was downloaded: a Hugging Face directory (config.json + safetensors) or one GGUF
 * file. Opening maps the files and reads the config; nothing is loaded onto the heap.
 *
 * @param path   what was opened
 * @param format which layout
 * @param config hyperparameters from config.json or GGUF metadata
 * @param store  the mapped tensors
 * @param gguf   the GGUF file when the format is GGUF (its metadata also holds tokenizer and template), else null
 */
public record ModelFiles(Path path, CheckpointFormat format, ModelConfig config, WeightStore store, GgufFile gguf)
        implements AutoCloseable {

    public static ModelFiles open(Path path) {
        if (Files.isDirectory(path)) {
            if (!Files.isRegularFile(path.resolve("config.json"))) {
                throw new ModelFormatException(path + ": not a model directory (no config.json)");
            }
            ModelConfig config = HfConfigReader.read(path);
            return new ModelFiles(path, CheckpointFormat.HUGGING_FACE, config, SafetensorsDirectory.open(path), null);
        }
        if (!Files.isRegularFile(path)) {
            throw new ModelFormatException(path + ": no such model file or directory");
        }
        GgufFile gguf = GgufFile.open(path);
        try {
            ModelConfig config = GgufConfigReader.parse(gguf.metadata(), path.toString());
            return new ModelFiles(path, CheckpointFormat.GGUF, config, gguf, gguf);
        } catch (RuntimeException e) {
            // a file whose config cannot be read is not half-opened: unmap it before reporting
            gguf.close();
            throw e;
        }
    }

    @Override
    public void close() {
        store.close();
    }
}
