package dev.herd.shard;

import dev.herd.model.config.ModelConfig;
import dev.herd.model.forward.KvCache;
import dev.herd.model.sampling.Sampler;
import dev.herd.proto.v1.FailureReason;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The KV caches of the sequences this stage has seen, keyed by sequence id, and the last stage's sampler of
 * each. A cache holds only this stage's layers ({@link KvCache} allocates a layer on first
 * write). Steps run on the stage's one worker thread; {@code release} may come from a control call at any time,
 * hence concurrent maps.
 */
final class SequenceCaches {
    private final ModelConfig config;
    private final Map<Long, KvCache> caches = new ConcurrentHashMap<>();
    private final Map<Long, Sampler> samplers = new ConcurrentHashMap<>();

    SequenceCaches(ModelConfig config) {
        this.config = config;
    }

    /**
     * The cache that rows of {@code seqId} starting at {@code position} extend. Position 0 starts a sequence;
     * a position below the cache's length re-runs a suffix (a step resent after a failure further down the
     * pipeline, which this stage had already stored), so the cache forgets from there on. A position beyond the
     * cache's length, or a sequence never started here, cannot be served.
     */
    KvCache extend(long seqId, int position) {
        check(seqId, position);
        KvCache cache = caches.computeIfAbsent(seqId, id -> new KvCache(config));
        cache.truncate(position);
        return cache;
    }

    /**
     * Starts {@code seqId} as a copy of the first {@code positions} positions of {@code sourceId}'s cache (the
     * layers this stage holds).
     */
    void fork(long seqId, long sourceId, int positions) {
        KvCache source = caches.get(sourceId);
        if (source == null || source.length() < positions) {
            throw new FrameRejected(FailureReason.FAILURE_REASON_UNKNOWN_SEQUENCE, "sequence " + seqId
                    + " would copy " + positions + " positions of sequence " + sourceId + ", which holds "
                    + (source == null ? "nothing" : source.length() + " positions") + " here");
        }
        if (caches.containsKey(seqId)) {
            throw FrameRejected.badFrame("sequence " + seqId + " already has a KV cache here; a fork starts a new one");
        }
        caches.put(seqId, KvCache.copyOf(source, positions));
    }

    /** What {@link #extend} would refuse, without changing anything. */
    void check(long seqId, int position) {
        KvCache cache = caches.get(seqId);
        if (cache == null && position != 0) {
            throw new FrameRejected(FailureReason.FAILURE_REASON_UNKNOWN_SEQUENCE, "sequence " + seqId
                    + " has no KV cache here and its rows start at position " + position + ", not 0");
        }
        if (cache != null && position > cache.length()) {
            throw new FrameRejected(FailureReason.FAILURE_REASON_UNKNOWN_SEQUENCE, "sequence " + seqId + " holds "
                    + cache.length() + " positions here; rows starting at position " + position + " would leave a gap");
        }
    }

    /** Sets (or, for a sequence that joins again, replaces) the sampler of {@code seqId}. */
    void setSampler(long seqId, Sampler sampler) {
        samplers.put(seqId, sampler);
    }

    Sampler sampler(long seqId) {
        return samplers.get(seqId);
    }

    /** Forgets a sequence; false when nothing was held for it. */
    boolean release(long seqId) {
        boolean cache = caches.remove(seqId) != null;
        boolean sampling = samplers.remove(seqId) != null;
        return cache || sampling;
    }

    int size() {
        return caches.size();
    }

    /** Every sequence with a cache or a sampler here. */
    java.util.Set<Long> sequences() {
        java.util.Set<Long> ids = new java.util.HashSet<>(caches.keySet());
        ids.addAll(samplers.keySet());
        return ids;
    }
}
