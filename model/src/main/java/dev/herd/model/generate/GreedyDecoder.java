package dev.herd.model.generate;

import dev.herd.model.forward.KvCache;
import dev.herd.model.forward.Transformer;

import java.util.Arrays;
import java.util.Set;
import java.util.function.IntConsumer;

/**
 * Greedy decoding of one sequence on one process: prefill the prompt, then take the most probable token
 * until a stop token or the budget. The reference behaviour every engine comparison is made against; the
 * serving scheduler with sampling parameters builds on the same {@link Transformer} calls.
 */
public final class GreedyDecoder {
    private final Transformer transformer;

    public GreedyDecoder(Transformer transformer) {
        this.transformer = transformer;
    }

    /**
     * @param prompt    token ids, at least one
     * @param maxTokens most tokens to generate
     * @param stop      token ids that end generation (included in the result)
     * @param onToken   called with each generated token as soon as it is known
     * @return the generated ids
     */
    public int[] generate(int[] prompt, int maxTokens, Set<Integer> stop, IntConsumer onToken) {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt must hold at least one token");
        }
        // one sequence, no budget: a private growable store, freed when the run ends
        try (KvCache cache = new KvCache(transformer.config())) {
            int[] out = new int[maxTokens];
            int count = 0;
            float[] logits = transformer.forward(prompt, cache);
            while (count < maxTokens) {
                int next = argmax(logits);
                out[count++] = next;
                onToken.accept(next);
                if (stop.contains(next) || count == maxTokens) {
                    break;
                }
                logits = transformer.forward(new int[]{next}, cache);
            }
            return Arrays.copyOf(out, count);
        }
    }

    /** Index of the largest value; the lowest index among equals, as llama.cpp's greedy sampler picks. */
    public static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        return best;
    }
}
