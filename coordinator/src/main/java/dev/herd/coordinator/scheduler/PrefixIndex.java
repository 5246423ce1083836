package dev.herd.coordinator.scheduler;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Which open sequence holds the KV of which block-aligned token prefix, so that a new sequence whose prompt
 * starts the same way (a shared system prompt, the earlier turns of a conversation) copies those positions
 * instead of recomputing them. A prefix of k blocks is keyed by a hash chained over its k blocks of tokens; a
 * match is confirmed by comparing the tokens themselves, so a hash collision costs a lookup, never a wrong cache.
 *
 * <p>Used from the scheduler's thread only.
 */
final class PrefixIndex {
    private final int blockSize;
    private final Map<Long, Sequence> holders = new HashMap<>();

    PrefixIndex(int blockSize) {
        this.blockSize = blockSize;
    }

    /** A sequence to copy from and how many positions of it. */
    record Hit(Sequence source, int positions) {
    }

    /** Indexes the full blocks {@code s} has computed since it was last indexed. */
    void register(Sequence s) {
        int blocks = s.computed() / blockSize;
        if (blocks <= s.indexedBlocks) {
            return;
        }
        int[] tokens = s.history();
        long h = s.indexedBlocks == 0 ? 0 : s.blockHashes[s.indexedBlocks - 1];
        if (s.blockHashes.length < blocks) {
            s.blockHashes = Arrays.copyOf(s.blockHashes, Math.max(blocks, 2 * s.blockHashes.length));
        }
        for (int k = s.indexedBlocks; k < blocks; k++) {
            h = chain(h, tokens, k * blockSize);
            s.blockHashes[k] = h;
            holders.put(h, s);
        }
        s.indexedBlocks = blocks;
    }

    /** Forgets what {@code s} held (its cache is going away). */
    void unregister(Sequence s) {
        for (int k = 0; k < s.indexedBlocks; k++) {
            holders.remove(s.blockHashes[k], s);
        }
        s.indexedBlocks = 0;
    }

    /**
     * The longest indexed prefix of {@code tokens} of at most {@code maxPositions} positions, held by a sequence
     * other than {@code self}, or null.
     */
    Hit longest(int[] tokens, int maxPositions, Sequence self) {
        long h = 0;
        Hit best = null;
        for (int k = 0; (k + 1) * blockSize <= maxPositions; k++) {
            h = chain(h, tokens, k * blockSize);
            Sequence s = holders.get(h);
            if (s != null && s != self && s.model != null && samePrefix(s, tokens, (k + 1) * blockSize)) {
                best = new Hit(s, (k + 1) * blockSize);
            }
        }
        return best;
    }

    private static boolean samePrefix(Sequence s, int[] tokens, int n) {
        int[] held = s.history();
        return held.length >= n && s.computed() >= n && Arrays.equals(held, 0, n, tokens, 0, n);
    }

    /** The hash of a prefix extended by the block of tokens at {@code from}. */
    private long chain(long h, int[] tokens, int from) {
        long x = h * 0x9E3779B97F4A7C15L + 0x632BE59BD9B4E019L;
        for (int i = from; i < from + blockSize; i++) {
            x = (x ^ tokens[i]) * 0xBF58476D1CE4E5B9L;
            x ^= x >>> 29;
        }
        return x;
    }
}
