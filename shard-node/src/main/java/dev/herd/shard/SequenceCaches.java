package dev.herd.shard;

import dev.herd.model.config.ModelConfig;
import dev.herd.model.forward.KvBlockStore;
import dev.herd.model.forward.KvCache;
import dev.herd.model.sampling.Sampler;
import dev.herd.proto.v1.FailureReason;

import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The KV caches of the sequences this stage has seen, keyed by sequence id, and the last stage's sampler of
 * each. Every cache is a block table over one {@link KvBlockStore} holding only this stage's layers. The stage
 * is told no KV budget (the coordinator's scheduler accounts KV in its own blocks and preempts on its own
 * account), so the store is growable: it starts small and doubles as sequences need blocks, and
 * {@link #release} gives a sequence's blocks back. A fork shares the full blocks of the copied prefix.
 * Steps run on the stage's one worker thread; {@code release} may come from a control call at any time,
 * hence concurrent maps (and the store's synchronised bookkeeping).
 */
final class SequenceCaches implements AutoCloseable {
    private final ModelConfig config;
    private final LayerRange layers;
    private final Map<Long, KvCache> caches = new ConcurrentHashMap<>();
    private final Map<Long, Sampler> samplers = new ConcurrentHashMap<>();
    /** Made on the first sequence: an expert-only node (no layers) never needs one. */
    private volatile KvBlockStore store;

    SequenceCaches(ModelConfig config, LayerRange layers) {
        this.config = config;
        this.layers = layers;
    }

    private synchronized KvBlockStore store() {
        if (store == null) {
            if (layers.isEmpty()) {
                throw new IllegalStateException("a node without layers keeps no KV cache");
            }
            store = KvBlockStore.growable(config.kvDim(), layers.start(), layers.end(),
                    KvBlockStore.DEFAULT_BLOCK_TOKENS);
        }
        return store;
    }

    /**
     * The cache that rows of {@code seqId} starting at {@code position} extend. Position 0 starts a sequence;
     * a position below the cache's length re-runs a suffix (a step resent after a failure further down the
     * pipeline, which this stage had already stored), so the cache forgets from there on. A position beyond the
     * cache's length, or a sequence never started here, cannot be served.
     */
    KvCache extend(long seqId, int position) {
        check(seqId, position);
        KvCache cache = caches.computeIfAbsent(seqId, id -> new KvCache(store()));
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

    /** Forgets a sequence and gives its blocks back; false when nothing was held for it. */
    boolean release(long seqId) {
        KvCache cache = caches.remove(seqId);
        if (cache != null) {
            cache.release();
        }
        boolean sampling = samplers.remove(seqId) != null;
        return cache != null || sampling;
    }

    int size() {
        return caches.size();
    }

    /** Forgets every sequence; returns how many had a cache or a sampler here. */
    int releaseAll() {
        Set<Long> ids = new HashSet<>(caches.keySet());
        ids.addAll(samplers.keySet());
        int released = 0;
        for (long id : ids) {
            if (release(id)) {
                released++;
            }
        }
        return released;
    }

    /** Blocks of the store in use by this stage's sequences. */
    int storedBlocks() {
        KvBlockStore s = store;
        return s == null ? 0 : s.usedBlocks();
    }

    /** Native memory of the store (keys and values), 0 before the first sequence. */
    long storedBytes() {
        KvBlockStore s = store;
        return s == null ? 0 : s.bytes();
    }

    /** Frees the store; the part is no longer served. */
    @Override
    public synchronized void close() {
        caches.clear();
        samplers.clear();
        if (store != null) {
            store.close();
        }
    }
}
