package dev.herd.model.config;

import java.util.Arrays;
import java.util.stream.Collectors;

/** Model families Herd runs, with the names Hugging Face configs and GGUF files use for them. */
public enum Architecture {
    LLAMA("llama", "llama"),
    MIXTRAL("mixtral", "llama"),
    QWEN3_MOE("qwen3_moe", "qwen3moe"),
    LLAMA4("llama4", "llama4");

    private final String hfModelType;
    private final String ggufArch;

    Architecture(String hfModelType, String ggufArch) {
        this.hfModelType = hfModelType;
        this.ggufArch = ggufArch;
    }

    /** {@code model_type} in a Hugging Face {@code config.json}. */
    public String hfModelType() {
        return hfModelType;
    }

    /** {@code general.architecture} in GGUF (Mixtral is written as {@code llama} with experts). */
    public String ggufArch() {
        return ggufArch;
    }

    public static String supportedList() {
        return Arrays.stream(values()).map(a -> a.hfModelType).collect(Collectors.joining(", "));
    }
}
