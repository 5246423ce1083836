package dev.herd.coordinator.plan;

import dev.herd.kernels.DType;

import java.util.Objects;

/**
 * How a checkpoint stores its weights. Quantized GGUF files often give experts a smaller type than the
 * attention and dense weights, so the two are separate.
 *
 * @param dense   embedding, attention, dense and shared-expert FFN, LM head
 * @param experts routed experts
 */
public record WeightTypes(DType dense, DType experts) {
    public WeightTypes {
        Objects.requireNonNull(dense, "dense weight type");
        Objects.requireNonNull(experts, "expert weight type");
    }

    public static WeightTypes all(DType type) {
        return new WeightTypes(type, type);
    }
}
