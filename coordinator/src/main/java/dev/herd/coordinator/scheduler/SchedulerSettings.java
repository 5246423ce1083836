package dev.herd.coordinator.scheduler;

import java.time.Duration;

/**
 * Limits of the continuous-batching scheduler.
 *
 * @param maxBatchTokens      tokens one forward step may carry: one per running decode, the rest for prefill
 *                            chunks (chunked prefill, so a long prompt never stalls the decodes)
 * @param kvBlocks            the KV budget, in blocks
 * @param blockSize           tokens per KV block
 * @param maxQueuedRequests   requests waiting to start; more are refused (HTTP 429)
 * @param maxRunningSequences sequences holding KV at once; at most {@code maxBatchTokens} so every running decode
 *                            fits in each step
 * @param maxUnavailable      how long accepted requests wait for a model that cannot run steps (a cluster
 *                            re-planning after losing a node) before they fail
 */
public record SchedulerSettings(int maxBatchTokens, int kvBlocks, int blockSize, int maxQueuedRequests,
                                int maxRunningSequences, Duration maxUnavailable) {
    /** Long enough for a cluster to notice a lost node, re-plan and load the new plan. */
    public static final Duration DEFAULT_MAX_UNAVAILABLE = Duration.ofMinutes(2);
    public static final int DEFAULT_BLOCK_SIZE = 16;

    public SchedulerSettings {
        if (maxBatchTokens < 1) {
            throw new IllegalArgumentException("max batch tokens must be at least 1, got " + maxBatchTokens);
        }
        if (kvBlocks < 1 || blockSize < 1) {
            throw new IllegalArgumentException("the KV budget needs at least one block of at least one token, got "
                    + kvBlocks + " blocks of " + blockSize);
        }
        if (maxQueuedRequests < 0) {
            throw new IllegalArgumentException("the request queue bound must not be negative, got " + maxQueuedRequests);
        }
        if (maxRunningSequences < 1 || maxRunningSequences > maxBatchTokens) {
            throw new IllegalArgumentException("running sequences must be between 1 and the max batch tokens ("
                    + maxBatchTokens + "), got " + maxRunningSequences);
        }
        if (maxUnavailable == null || maxUnavailable.isNegative()) {
            throw new IllegalArgumentException("the unavailability bound must be a non-negative duration, got "
                    + maxUnavailable);
        }
    }

    /** Blocks of 16 tokens, 256 queued requests, and as many running sequences as fit (at most 256). */
    public static SchedulerSettings of(int maxBatchTokens, int kvBlocks) {
        return new SchedulerSettings(maxBatchTokens, kvBlocks, DEFAULT_BLOCK_SIZE, 256, Math.min(256, maxBatchTokens),
                DEFAULT_MAX_UNAVAILABLE);
    }

    public SchedulerSettings withBlockSize(int size) {
        return new SchedulerSettings(maxBatchTokens, kvBlocks, size, maxQueuedRequests, maxRunningSequences, maxUnavailable);
    }

    public SchedulerSettings withMaxQueuedRequests(int max) {
        return new SchedulerSettings(maxBatchTokens, kvBlocks, blockSize, max, maxRunningSequences, maxUnavailable);
    }

    public SchedulerSettings withMaxRunningSequences(int max) {
        return new SchedulerSettings(maxBatchTokens, kvBlocks, blockSize, maxQueuedRequests, max, maxUnavailable);
    }

    public SchedulerSettings withMaxUnavailable(Duration max) {
        return new SchedulerSettings(maxBatchTokens, kvBlocks, blockSize, maxQueuedRequests, maxRunningSequences, max);
    }

    /** Tokens the KV budget holds. */
    public long kvTokens() {
        return (long) kvBlocks * blockSize;
    }
}
