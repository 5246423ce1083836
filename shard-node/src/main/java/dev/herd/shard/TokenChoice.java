package dev.herd.shard;

/**
 * A token chosen for one sequence by the last stage.
 *
 * @param seqId       the sequence it extends
 * @param position    the position it will occupy (the sampled row's position + 1)
 * @param tokenId     the vocabulary id
 * @param logprob     its log-probability under the final logits (NaN when not asked)
 * @param topIds      the most likely alternatives, most likely first (empty unless asked)
 * @param topLogprobs their log-probabilities
 */
public record TokenChoice(long seqId, int position, int tokenId, float logprob, int[] topIds, float[] topLogprobs) {
}
