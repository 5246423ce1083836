package dev.herd.coordinator.plan;

/**
 * Sizes of one decoder layer as the planner sees them: one part that must live with the layer's attention
 * and, for a MoE layer, routed experts that may live anywhere.
 *
 * @param nonExpertBytes   attention, norms, router, shared expert, dense FFN
 * @param numExperts       routed experts, 0 for a dense layer
 * @param topK             experts each token uses, 0 for a dense layer
 * @param expertBytes      bytes of one routed expert (gate, up and down), 0 for a dense layer
 * @param kvBytesPerToken  KV cache the layer keeps per token of context
 */
public record LayerShape(long nonExpertBytes, int numExperts, int topK, long expertBytes, long kvBytesPerToken) {
    public LayerShape {
        if (nonExpertBytes < 0 || expertBytes < 0 || kvBytesPerToken < 0) {
            throw new IllegalArgumentException("layer sizes must not be negative: " + nonExpertBytes + ", "
                    + expertBytes + ", " + kvBytesPerToken);
        }
        if (numExperts < 0 || topK < 0 || topK > numExperts || (numExperts > 0) != (topK > 0)
                || (numExperts > 0) != (expertBytes > 0)) {
            throw new IllegalArgumentException("bad expert shape: " + numExperts + " experts, top " + topK
                    + ", " + expertBytes + " bytes each");
        }
    }

    public static LayerShape dense(long bytes, long kvBytesPerToken) {
        return new LayerShape(bytes, 0, 0, 0, kvBytesPerToken);
    }

    public boolean moe() {
        return numExperts > 0;
    }

    public long allExpertBytes() {
        return numExperts * expertBytes;
    }

    public long totalBytes() {
        return nonExpertBytes + allExpertBytes();
    }
}
