package dev.herd.shard.weights;

/** Names of the non-tensor files that {@code DescribeModel} carries (see weights.proto). */
final class ModelFileNames {
    /** A Hugging Face directory's config. */
    static final String HF_CONFIG = "config.json";
    /** A GGUF file's bytes before its tensor data: magic, version, counts, metadata, tensor descriptions. */
    static final String GGUF_HEADER = "header.gguf";

    private ModelFileNames() {
    }
}
