package dev.herd.coordinator.scheduler;

import dev.herd.model.sampling.SampledToken;
import dev.herd.model.sampling.SamplingParams;
import dev.herd.model.forward.Transformer;

import java.util.List;

/**
 * The model as the scheduler sees it: batched steps over many sequences, each sequence's KV state and sampler
 * kept by the runner. Sampling happens where the logits are (in this process for {@link #local}, on a pipeline's
 * last stage for a cluster), so only token ids come back.
 *
 * <p>Called from the scheduler's one thread only.
 */
public interface ModelRunner {

    /**
     * Opens a sequence that knows {@code history} (the prompt and the tokens generated before, which a preempted
     * sequence recomputes) and nothing is computed of yet.
     *
     * @param params       how its tokens are chosen
     * @param seed         the seed its draws are a function of, with the position (so a recomputed sequence draws
     *                     what it drew before)
     * @param promptLength how many leading history tokens are the prompt (the penalties treat them differently)
     */
    ModelSequence open(SamplingParams params, long seed, int[] history, int promptLength);

    /**
     * Opens a sequence like {@link #open}, starting from a copy of the first {@code positions} positions of
     * {@code prefix} (an open sequence whose tokens begin the same way), so those need not be recomputed. A
     * runner that cannot copy caches opens the sequence with nothing computed; the caller reads
     * {@link ModelSequence#computed()} either way.
     */
    default ModelSequence openFrom(ModelSequence prefix, int positions, SamplingParams params, long seed,
                                   int[] history, int promptLength) {
        return open(params, seed, history, promptLength);
    }

    /**
     * Runs every item (the next tokens of its own sequence: a prefill chunk or one decode token) in one pass and
     * returns, in item order, the token sampled after each item whose {@code sample} flag is set.
     *
     * @throws ModelRestartedException when the model lost every sequence's state (a cluster switched plans): the
     *                                 step did not run and the sequences must be opened again and recomputed
     */
    List<SampledToken> step(List<Work> items);

    /** Frees a sequence's state; it is not used again. */
    void release(ModelSequence sequence);

    /**
     * The KV budget of the scheduler that drives this runner, told once before the first sequence opens:
     * {@code blocks} blocks of {@code blockTokens} positions, the blocks the scheduler accounts in. A runner that
     * keeps KV in this process allocates its storage for exactly that, so the accounting and the memory agree.
     * The default keeps nothing here (a cluster's KV lives on its stages).
     */
    default void allocateKv(int blocks, int blockTokens) {
    }

    /** The scheduler is done: storage from {@link #allocateKv} is freed; no sequence is used after this. */
    default void freeKv() {
    }

    /** Whether {@link #openFrom} copies caches (else it opens sequences with nothing computed). */
    default boolean copiesPrefixes() {
        return false;
    }

    /** Logits per position. */
    int vocabSize();

    /** Positions a sequence may fill: prompt and generated tokens together. */
    int contextLength();

    /** Why no step can run now (a cluster without a served plan), or null when steps can run. */
    default String unavailable() {
        return null;
    }

    /**
     * One sequence's part of a step.
     *
     * @param sequence the sequence
     * @param tokens   its next tokens, the first at position {@link ModelSequence#computed()}
     * @param sample   sample the token after the last of them (the sequence's known tokens are then all computed)
     */
    record Work(ModelSequence sequence, int[] tokens, boolean sample) {
    }

    /** The model in this process. */
    static ModelRunner local(Transformer transformer) {
        return new LocalModelRunner(transformer);
    }
}
