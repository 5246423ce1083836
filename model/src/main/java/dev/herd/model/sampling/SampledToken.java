package dev.herd.model.sampling;

import java.util.List;

/**
 * One chosen token and, when the request asked for them, its log-probability and the most likely alternatives.
 *
 * @param id          the token
 * @param logprob     its log-probability under the processed distribution (see {@link Sampler}), NaN when not
 *                    asked for
 * @param topLogprobs the most likely tokens at this position, best first (empty when not asked for)
 */
public record SampledToken(int id, double logprob, List<TokenLogprob> topLogprobs) {
    public SampledToken {
        topLogprobs = List.copyOf(topLogprobs);
    }

    /** A token and its log-probability. */
    public record TokenLogprob(int id, double logprob) {
    }
}
