package dev.herd.kernels;

/** How rotary embedding pairs the dimensions of a head. */
public enum RopeStyle {
    /** Dimension i pairs with i + rotaryDim/2 (HF "rotate_half", llama.cpp NEOX): Llama and Mixtral HF, Qwen3. */
    NEOX,
    /** Dimension 2i pairs with 2i+1 (llama.cpp NORM, complex multiplication): Llama 4, DeepSeek. */
    ADJACENT
}
