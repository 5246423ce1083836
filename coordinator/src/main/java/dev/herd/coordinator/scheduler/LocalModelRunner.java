package dev.herd.coordinator.scheduler;

import dev.herd.model.forward.KvCache;
import dev.herd.model.forward.Segment;
import dev.herd.model.forward.Transformer;
import dev.herd.model.sampling.SampledToken;
import dev.herd.model.sampling.Sampler;
import dev.herd.model.sampling.SamplingParams;

import java.util.ArrayList;
import java.util.List;

/** The {@link Transformer} in this process: KV caches on the heap, sampling right after the forward pass. */
final class LocalModelRunner implements ModelRunner {
    private final Transformer transformer;

    LocalModelRunner(Transformer transformer) {
        this.transformer = transformer;
    }

    private record Local(KvCache cache, Sampler sampler) implements ModelSequence {
        @Override
        public int computed() {
            return cache.length();
        }
    }

    @Override
    public ModelSequence open(SamplingParams params, long seed, int[] history, int promptLength) {
        return new Local(new KvCache(transformer.config()),
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
        // heap caches go with their last reference
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
