package dev.herd.coordinator.scheduler;

import dev.herd.model.tokenizer.StreamingDecoder;

import java.util.Arrays;

/**
 * One choice of a request: its tokens (prompt, then generated), its state in the model while it runs, and its own
 * seed, decoder and stop matcher. The model holds the first {@link #computed()} tokens; the rest are still to run
 * (the whole prompt at first, the last sampled token while decoding, everything after a preemption).
 */
final class Sequence {
    final ActiveRequest request;
    final int choice;
    /** The seed its draws are a function of (with the position): the same tokens come back after a recompute. */
    final long seed;
    final StreamingDecoder decoder;
    final StopMatcher stops;
    final int promptLength;
    private int[] tokens;
    private int length;
    /** Its KV cache and sampler in the model while it runs, null while it waits. */
    ModelSequence model;
    int blocks;
    boolean finished;
    /** Full blocks of computed tokens the prefix index knows of, and their chained hashes. */
    int indexedBlocks;
    long[] blockHashes = new long[4];

    Sequence(ActiveRequest request, int choice, int[] prompt, long seed, StreamingDecoder decoder,
             StopMatcher stops) {
        this.request = request;
        this.choice = choice;
        this.seed = seed;
        this.decoder = decoder;
        this.stops = stops;
        this.promptLength = prompt.length;
        this.tokens = Arrays.copyOf(prompt, prompt.length + 16);
        this.length = prompt.length;
    }

    int length() {
        return length;
    }

    int generated() {
        return length - promptLength;
    }

    int computed() {
        return model == null ? 0 : model.computed();
    }

    /** Tokens known but not yet in the cache. */
    int pending() {
        return length - computed();
    }

    /** The next {@code n} tokens to run. */
    int[] nextChunk(int n) {
        int from = computed();
        return Arrays.copyOfRange(tokens, from, from + n);
    }

    /** Every known token: the prompt, then what was generated. */
    int[] history() {
        return Arrays.copyOf(tokens, length);
    }

    void append(int id) {
        if (length == tokens.length) {
            tokens = Arrays.copyOf(tokens, tokens.length * 2);
        }
        tokens[length++] = id;
    }

    boolean running() {
        return model != null;
    }
}
