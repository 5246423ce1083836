package dev.herd.coordinator.scheduler;

import dev.herd.model.forward.KvBlockStore;
import dev.herd.model.forward.KvCache;
import dev.herd.model.forward.Segment;
import dev.herd.model.forward.Transformer;
import dev.herd.model.sampling.SampledToken;
import dev.herd.model.sampling.Sampler;
import dev.herd.model.sampling.SamplingParams;

import java.util.ArrayList;
import java.util.List;

/**
 * The {@link Transformer} in this process: each sequence's KV cache is a block table over one block store, sized
 * to the scheduler's budget ({@link #allocateKv}; growable until a budget is given), and sampling happens right
 * after the forward pass. A prefix copy shares the prefix's blocks.
 */
final class LocalModelRunner implements ModelRunner {
    private final Transformer transformer;
    /** Used by the scheduler's thread (set before it starts); read by observers. */
    private volatile KvBlockStore store;

    LocalModelRunner(Transformer transformer) {
        this.transformer = transformer;
    }

    @Override
    public void allocateKv(int blocks, int blockTokens) {
        if (store != null && store.usedBlocks() > 0) {
            throw new IllegalStateException("the KV store is in use: " + store);
        }
        freeKv();
        store = KvBlockStore.bounded(transformer.config(), blockTokens, blocks);
    }

    @Override
    public void freeKv() {
        if (store != null) {
            store.close();
            store = null;
        }
    }

    private KvBlockStore store() {
        if (store == null) {
            store = KvBlockStore.growable(transformer.config(), KvBlockStore.DEFAULT_BLOCK_TOKENS);
        }
        return store;
    }

    /** Blocks of the store in use (by running and retained sequences), 0 without a store. */
    int storedBlocks() {
        return store == null ? 0 : store.usedBlocks();
    }

    private record Local(KvCache cache, Sampler sampler) implements ModelSequence {
        @Override
        public int computed() {
            return cache.length();
        }
    }

    @Override
    public ModelSequence open(SamplingParams params, long seed, int[] history, int promptLength) {
        return new Local(new KvCache(store()),
                Sampler.resume(params, vocabSize(), history, promptLength, seed));
    }

    @Override
    public boolean copiesPrefixes() {
        return true;
    }

    @Override
    public ModelSequence openFrom(ModelSequence prefix, int positions, SamplingParams params, long seed,
                                  int[] history, int promptLength) {
        return new Local(KvCache.copyOf(((Local) prefix).cache(), positions),
                Sampler.resume(params, vocabSize(), history, promptLength, seed));
    }

    @Override
    public List<SampledToken> step(List<Work> items) {
        List<Segment> segments = new ArrayList<>(items.size());
        for (Work w : items) {
            segments.add(new Segment(((Local) w.sequence()).cache(), w.tokens()));
        }
        float[] logits = transformer.forward(segments);
        List<SampledToken> out = new ArrayList<>();
        int vocab = vocabSize();
        for (int i = 0; i < items.size(); i++) {
            if (items.get(i).sample()) {
                Sampler sampler = ((Local) items.get(i).sequence()).sampler();
                SampledToken t = sampler.sample(logits, i * vocab);
                sampler.accept(t.id());
                out.add(t);
            }
        }
        return out;
    }

    @Override
    public void release(ModelSequence sequence) {
        ((Local) sequence).cache().release();
    }

    @Override
    public int vocabSize() {
        return transformer.config().vocabSize();
    }

    @Override
    public int contextLength() {
        return transformer.config().maxPositions();
    }
}
