package dev.herd.shard;

/**
 * How the last stage picks a sequence's tokens. Only greedy selection is implemented on shard nodes so far;
 * parameters asking for more are refused when they arrive (see {@link StageFrames}), never ignored.
 *
 * @param seqId       the sequence
 * @param logprobs    return the chosen token's log-probability
 * @param topLogprobs how many most likely alternatives to return with their log-probabilities (0-20)
 */
public record SequenceParams(long seqId, boolean logprobs, int topLogprobs) {
    public static final int MAX_TOP_LOGPROBS = 20;

    public SequenceParams {
        if (topLogprobs < 0 || topLogprobs > MAX_TOP_LOGPROBS) {
            throw new IllegalArgumentException("top_logprobs must be 0.." + MAX_TOP_LOGPROBS + ", got " + topLogprobs);
        }
    }
}
