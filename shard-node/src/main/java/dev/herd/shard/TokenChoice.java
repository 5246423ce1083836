package dev.herd.shard;

import dev.herd.model.sampling.SampledToken;

/**
 * A token chosen for one sequence by the last stage.
 *
 * @param seqId    the sequence it extends
 * @param position the position it will occupy (the sampled row's position + 1)
 * @param token    the token with its log-probabilities when asked
 */
public record TokenChoice(long seqId, int position, SampledToken token) {
}
