package dev.herd.model.forward;

/**
 * Tokens of one sequence to run in a batch step: a prefill chunk or a single decode token. They go at the
 * cache's next positions.
 */
public record Segment(KvCache cache, int[] tokens) {
    public Segment {
        if (tokens.length == 0) {
            throw new IllegalArgumentException("a segment needs at least one token");
        }
    }
}
