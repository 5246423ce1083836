package dev.herd.shard;

import dev.herd.model.sampling.Sampler;
import dev.herd.model.sampling.SamplingParams;

/**
 * A sequence's sampling state as it arrives with the step in which it joins the last stage.
 *
 * @param seqId        the sequence
 * @param params       the request's parameters
 * @param seed         the seed its draws are a function of (with the position)
 * @param history      the prompt and every token generated so far
 * @param promptLength how many leading history tokens are the prompt
 */
public record SequenceParams(long seqId, SamplingParams params, long seed, int[] history, int promptLength) {

    /** A sampler in the state one that generated this history would be in. */
    Sampler sampler(int vocab) {
        return Sampler.resume(params, vocab, history, promptLength, seed);
    }
}
