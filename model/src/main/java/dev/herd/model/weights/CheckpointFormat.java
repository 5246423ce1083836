package dev.herd.model.weights;

/** The two checkpoint layouts Herd reads; they name tensors differently and GGUF stacks experts. */
public enum CheckpointFormat {
    HUGGING_FACE,
    GGUF
}
