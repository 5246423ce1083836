package dev.herd.shard;

import dev.herd.shard.weights.WeightCounters;

import java.util.Map;

/**
 * A node's load, as {@code Stats} reports it.
 *
 * @param planEpoch       the epoch served (0 before the first assignment)
 * @param expertLoad      rows run per held expert since the epoch's part was loaded
 * @param queueDepth      stage steps and expert requests received but not yet run
 * @param activeSequences sequences with a KV cache here
 * @param heapUsedBytes   JVM heap in use
 * @param heapMaxBytes    JVM heap limit
 * @param kvBytes         native memory of the KV block store (keys and values, outside the heap)
 * @param weights         weight bytes resolved, fetched, reused from the cache and served since the node started
 */
public record NodeStats(long planEpoch, Map<ExpertRef, Long> expertLoad, int queueDepth, int activeSequences,
                        long heapUsedBytes, long heapMaxBytes, long kvBytes, WeightCounters.Snapshot weights) {
}
