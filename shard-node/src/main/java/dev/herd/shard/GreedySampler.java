package dev.herd.shard;

import dev.herd.model.generate.GreedyDecoder;

/**
 * Greedy token choice on the last stage, with log-probabilities when asked. Ties go to the lowest id, as in
 * {@link GreedyDecoder#argmax} (and llama.cpp), so a distributed run picks what a single process picks.
 */
final class GreedySampler {
    private GreedySampler() {
    }

    /** Chooses from {@code logits[offset, offset + vocab)} for a row at {@code position}. */
    static TokenChoice choose(long seqId, int position, float[] logits, int offset, int vocab, SequenceParams p) {
        int best = offset;
        for (int i = offset + 1; i < offset + vocab; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        int token = best - offset;
        if (!p.logprobs() && p.topLogprobs() == 0) {
            return new TokenChoice(seqId, position + 1, token, Float.NaN, new int[0], new float[0]);
        }
        // log-softmax in double: log p_i = x_i - max - log(sum exp(x_j - max))
        double max = logits[best];
        double sum = 0;
        for (int i = offset; i < offset + vocab; i++) {
            sum += Math.exp(logits[i] - max);
        }
        double logZ = max + Math.log(sum);
        int n = Math.min(p.topLogprobs(), vocab);
        int[] topIds = new int[n];
        float[] top = new float[n];
        boolean[] taken = new boolean[vocab];
        for (int k = 0; k < n; k++) {
            int arg = -1;
            for (int i = 0; i < vocab; i++) {
                if (!taken[i] && (arg < 0 || logits[offset + i] > logits[offset + arg])) {
                    arg = i;
                }
            }
            taken[arg] = true;
            topIds[k] = arg;
            top[k] = (float) (logits[offset + arg] - logZ);
        }
        float logprob = p.logprobs() ? (float) (logits[best] - logZ) : Float.NaN;
        return new TokenChoice(seqId, position + 1, token, logprob, topIds, top);
    }
}
