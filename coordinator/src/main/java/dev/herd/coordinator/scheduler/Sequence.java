package dev.herd.coordinator.scheduler;

import dev.herd.coordinator.sampling.Sampler;
import dev.herd.model.forward.KvCache;
import dev.herd.model.tokenizer.StreamingDecoder;

import java.util.Arrays;

/**
 * One choice of a request: its tokens (prompt, then generated), its cache while it runs, and its own sampler,
 * decoder and stop matcher. The cache holds the first {@link #computed()} tokens; the rest are still to run
 * (the whole prompt at first, the last sampled token while decoding, everything after a preemption).
 */
final class Sequence {
    final ActiveRequest request;
    final int choice;
    final Sampler sampler;
    final StreamingDecoder decoder;
    final StopMatcher stops;
    final int promptLength;
    private int[] tokens;
    private int length;
    KvCache cache;
    int blocks;
    boolean finished;

    Sequence(ActiveRequest request, int choice, int[] prompt, Sampler sampler, StreamingDecoder decoder,
             StopMatcher stops) {
        this.request = request;
        this.choice = choice;
        this.sampler = sampler;
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
        return cache == null ? 0 : cache.length();
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

    void append(int id) {
        if (length == tokens.length) {
            tokens = Arrays.copyOf(tokens, tokens.length * 2);
        }
        tokens[length++] = id;
    }

    boolean running() {
        return cache != null;
    }
}
