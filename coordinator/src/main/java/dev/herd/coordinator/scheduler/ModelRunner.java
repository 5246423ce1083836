package dev.herd.coordinator.scheduler;

import dev.herd.model.forward.KvCache;
import dev.herd.model.forward.Segment;
import dev.herd.model.forward.Transformer;

import java.util.List;

/**
 * The model as the scheduler sees it: one batched forward step over many sequences. Single-node serving runs
 * the {@link Transformer} in this process; a pipeline over shard nodes implements the same contract.
 */
public interface ModelRunner {

    /** An empty cache for a new sequence. */
    KvCache newCache();

    /**
     * Runs every segment (a prefill chunk or a decode token of its own sequence) in one pass and advances each
     * segment's cache; returns the logits of each segment's last token, (segments, vocab).
     */
    float[] forward(List<Segment> segments);

    /** Logits per position. */
    int vocabSize();

    /** Positions a sequence may fill: prompt and generated tokens together. */
    int contextLength();

    /** The model of {@code transformer}, run in this process. */
    static ModelRunner local(Transformer transformer) {
        return new ModelRunner() {
            @Override
            public KvCache newCache() {
                return new KvCache(transformer.config());
            }

            @Override
            public float[] forward(List<Segment> segments) {
                return transformer.forward(segments);
            }

            @Override
            public int vocabSize() {
                return transformer.config().vocabSize();
            }

            @Override
            public int contextLength() {
                return transformer.config().maxPositions();
            }
        };
    }
}
