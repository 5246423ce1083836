package dev.herd.coordinator.plan;

/**
 * Knobs of one planning run.
 *
 * @param kvContextTokens      tokens of KV cache each stage reserves for the layers it holds
 * @param replicateHotExperts  copy hot experts to their stage's spare memory where that saves remote round trips
 * @param maxStages            the most pipeline stages a plan may have
 * @param wireBytesPerElement  bytes per activation element on the wire (4: f32 keeps distributed results
 *                             identical to single-node ones)
 */
public record PlanOptions(long kvContextTokens, boolean replicateHotExperts, int maxStages, int wireBytesPerElement) {
    public PlanOptions {
        if (kvContextTokens < 0) {
            throw new IllegalArgumentException("KV context tokens must not be negative: " + kvContextTokens);
        }
        if (maxStages < 1) {
            throw new IllegalArgumentException("max stages must be at least 1: " + maxStages);
        }
        if (wireBytesPerElement < 1) {
            throw new IllegalArgumentException("wire bytes per element must be positive: " + wireBytesPerElement);
        }
    }

    /** 4096 tokens of context, replication on, no stage limit, f32 on the wire. */
    public static PlanOptions defaults() {
        return new PlanOptions(4096, true, Integer.MAX_VALUE, Float.BYTES);
    }

    public PlanOptions withKvContextTokens(long tokens) {
        return new PlanOptions(tokens, replicateHotExperts, maxStages, wireBytesPerElement);
    }

    public PlanOptions withReplication(boolean on) {
        return new PlanOptions(kvContextTokens, on, maxStages, wireBytesPerElement);
    }

    public PlanOptions withMaxStages(int stages) {
        return new PlanOptions(kvContextTokens, replicateHotExperts, stages, wireBytesPerElement);
    }
}
