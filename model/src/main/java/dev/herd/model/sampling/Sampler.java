package dev.herd.model.sampling;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.random.RandomGenerator;
import java.util.random.RandomGeneratorFactory;

/**
 * Picks the next token of one sequence from its logits. One instance per sequence: it remembers the tokens seen
 * (for the penalties). The random draw for the token at position {@code p} is a function of the seed and
 * {@code p} only, so a sampler rebuilt from the sequence's history (after a preemption, or on another node after
 * the cluster re-planned) draws exactly what the first one would have, and a single process and a pipeline's
 * last stage pick the same tokens.
 *
 * <p>The logits go through these steps, in this order (Hugging Face's and vLLM's order):
 * <ol>
 *   <li>{@code logit_bias} is added;</li>
 *   <li>repetition penalty (HF {@code RepetitionPenaltyLogitsProcessor}, llama.cpp {@code penalty_repeat}): every
 *       token of the prompt or the output so far has its logit divided by the penalty when positive, multiplied
 *       when negative;</li>
 *   <li>presence and frequency penalties (OpenAI): {@code logit -= count * frequency + (count > 0) * presence},
 *       counting the tokens generated so far (not the prompt, as OpenAI and vLLM do).</li>
 * </ol>
 * These are the <em>processed logits</em>. Log-probabilities are their log-softmax: the distribution the request
 * actually draws from before temperature and truncation, so they are defined for greedy requests too and no token
 * gets -infinity just because top-k cut it. Then, unless the temperature is 0 (greedy: argmax, lowest index on
 * ties, as llama.cpp), the logits are divided by the temperature, softmaxed, truncated by top-k, then top-p (the
 * smallest set of most probable tokens whose mass reaches top_p, always at least one), then min-p (tokens below
 * min_p times the best probability), renormalised, and one token is drawn with the seeded generator.
 *
 * <p>Not thread-safe; the scheduler uses each instance from its one thread.
 */
public final class Sampler {
    /** Specified in java.util.random, so a seed gives the same stream on every JDK. */
    private static final String ALGORITHM = "L64X128MixRandom";

    private static final RandomGeneratorFactory<RandomGenerator> GENERATORS = RandomGeneratorFactory.of(ALGORITHM);

    private final SamplingParams params;
    private final int vocab;
    private final long seed;
    /** The position the next sampled token occupies: prompt length plus tokens accepted since. */
    private int position;
    /** Tokens of the prompt and the output, for the repetition penalty. */
    private final BitSet seen = new BitSet();
    /** How often each token was generated, and which ones were, for presence and frequency penalties. */
    private final int[] counts;
    private final List<Integer> generatedDistinct = new ArrayList<>();
    private final float[] work;
    private long[] order = new long[0];
    private double[] probs = new double[0];

    /**
     * @param params the request's parameters
     * @param vocab  logits per position
     * @param prompt the prompt's token ids (the repetition penalty applies to them too)
     * @param seed   the random stream's seed
     */
    public Sampler(SamplingParams params, int vocab, int[] prompt, long seed) {
        this.params = params;
        this.vocab = vocab;
        this.seed = seed;
        this.position = prompt.length;
        this.counts = new int[vocab];
        this.work = new float[vocab];
        for (int id : prompt) {
            if (id >= 0 && id < vocab) {
                seen.set(id);
            }
        }
        for (int id : params.logitBias().keySet()) {
            if (id >= vocab) {
                throw new InvalidSamplingParameterException("logit_bias",
                        "logit_bias names token " + id + ", outside the vocabulary of " + vocab);
            }
        }
    }

    /**
     * The sampler of a sequence that already generated {@code history[promptLength..]}: the same state a sampler
     * that produced those tokens has.
     */
    public static Sampler resume(SamplingParams params, int vocab, int[] history, int promptLength, long seed) {
        if (promptLength < 0 || promptLength > history.length) {
            throw new IllegalArgumentException("a prompt of " + promptLength + " tokens in a history of "
                    + history.length);
        }
        Sampler s = new Sampler(params, vocab, java.util.Arrays.copyOf(history, promptLength), seed);
        for (int i = promptLength; i < history.length; i++) {
            s.accept(history[i]);
        }
        return s;
    }

    /** Records a token the sequence produced (penalties count it from now on; the next draw is the next one). */
    public void accept(int id) {
        position++;
        if (id < 0 || id >= vocab) {
            return;
        }
        seen.set(id);
        if (counts[id]++ == 0) {
            generatedDistinct.add(id);
        }
    }

    /**
     * Chooses a token from {@code logits[offset .. offset + vocab)}. Does not record it: call {@link #accept}.
     */
    public SampledToken sample(float[] logits, int offset) {
        float[] x = processedLogits(logits, offset);
        int chosen = params.greedyChoice() ? argmax(x) : draw(x);
        if (!params.logprobs()) {
            return new SampledToken(chosen, Double.NaN, List.of());
        }
        double logZ = logSumExp(x);
        List<SampledToken.TokenLogprob> top = new ArrayList<>(params.topLogprobs());
        for (int id : topIndices(x, params.topLogprobs())) {
            top.add(new SampledToken.TokenLogprob(id, x[id] - logZ));
        }
        return new SampledToken(chosen, x[chosen] - logZ, top);
    }

    /** Bias and penalties applied to a copy of the logits: the distribution log-probabilities describe. */
    float[] processedLogits(float[] logits, int offset) {
        float[] x = work;
        System.arraycopy(logits, offset, x, 0, vocab);
        for (Map.Entry<Integer, Float> e : params.logitBias().entrySet()) {
            x[e.getKey()] += e.getValue();
        }
        float rep = (float) params.repetitionPenalty();
        if (rep != 1f) {
            for (int id = seen.nextSetBit(0); id >= 0; id = seen.nextSetBit(id + 1)) {
                x[id] = x[id] > 0 ? x[id] / rep : x[id] * rep;
            }
        }
        double presence = params.presencePenalty();
        double frequency = params.frequencyPenalty();
        if (presence != 0 || frequency != 0) {
            for (int id : generatedDistinct) {
                x[id] -= (float) (counts[id] * frequency + presence);
            }
        }
        return x;
    }

    /** Index of the largest value, the lowest index among equals. */
    static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) {
            if (x[i] > x[best]) {
                best = i;
            }
        }
        return best;
    }

    private int draw(float[] x) {
        double invT = 1.0 / params.temperature();
        float max = x[argmax(x)];
        boolean sorted = (params.topK() > 0 && params.topK() < vocab) || params.topP() < 1;
        int m;
        int[] ids;
        if (sorted) {
            ids = params.topK() > 0 && params.topK() < vocab ? topIndices(x, params.topK()) : allByValue(x);
            m = ids.length;
        } else {
            ids = null;
            m = vocab;
        }
        if (probs.length < m) {
            probs = new double[m];
        }
        // unnormalised softmax at the temperature, over the candidates (in value order when sorted)
        double total = 0;
        for (int i = 0; i < m; i++) {
            double p = Exp.nonPositive((x[ids == null ? i : ids[i]] - max) * invT);
            probs[i] = p;
            total += p;
        }
        if (params.topP() < 1) {
            double target = params.topP() * total;
            double mass = 0;
            int keep = 0;
            while (keep < m) {
                mass += probs[keep++];
                if (mass >= target) {
                    break;
                }
            }
            m = keep;
        }
        if (params.minP() > 0) {
            // the best candidate has the unnormalised probability exp(0) = 1
            double threshold = params.minP();
            for (int i = 0; i < m; i++) {
                if (probs[i] < threshold) {
                    probs[i] = 0;
                }
            }
        }
        total = 0;
        for (int i = 0; i < m; i++) {
            total += probs[i];
        }
        double u = drawAt(position) * total;
        double cumulative = 0;
        int last = -1;
        for (int i = 0; i < m; i++) {
            if (probs[i] == 0) {
                continue;
            }
            last = i;
            cumulative += probs[i];
            if (u < cumulative) {
                break;
            }
        }
        // rounding can leave u at the very top of the mass: the last candidate then takes it
        return ids == null ? last : ids[last];
    }

    /**
     * The uniform draw in [0, 1) for the token at {@code p}: a generator seeded by a mix of the sequence's seed and
     * the position. The seed is mixed before the position is added so that neighbouring seeds (the n choices of a
     * request) at neighbouring positions do not share draws.
     */
    private double drawAt(int p) {
        long mixed = mix64(mix64(seed) + p * 0x9E3779B97F4A7C15L);
        return GENERATORS.create(mixed).nextDouble();
    }

    /** Stafford's variant 13 of the MurmurHash3 finaliser: every input bit affects every output bit. */
    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** The k largest values' indices, largest first, lower index first among equals. */
    int[] topIndices(float[] x, int k) {
        k = Math.min(k, vocab);
        if (k == 0) {
            return new int[0];
        }
        // the best k keys so far in a max-heap whose root is the worst of them; smaller keys are better
        long[] heap = new long[k];
        int size = 0;
        for (int i = 0; i < vocab; i++) {
            long key = key(x[i], i);
            if (size < k) {
                heap[size] = key;
                siftUp(heap, size++);
            } else if (key < heap[0]) {
                heap[0] = key;
                siftDown(heap, k);
            }
        }
        Arrays.sort(heap, 0, size);
        int[] out = new int[size];
        for (int i = 0; i < size; i++) {
            out[i] = (int) heap[i];
        }
        return out;
    }

    private int[] allByValue(float[] x) {
        if (order.length < vocab) {
            order = new long[vocab];
        }
        for (int i = 0; i < vocab; i++) {
            order[i] = key(x[i], i);
        }
        Arrays.sort(order, 0, vocab);
        int[] out = new int[vocab];
        for (int i = 0; i < vocab; i++) {
            out[i] = (int) order[i];
        }
        return out;
    }

    /**
     * A long that sorts ascending in the order "larger value first, then lower index": the float's bits made
     * monotone as a signed int, complemented, in the high half; the index in the low half.
     */
    private static long key(float value, int index) {
        int bits = Float.floatToIntBits(value);
        int monotone = bits ^ ((bits >> 31) & 0x7fffffff);
        return ((long) ~monotone << 32) | index;
    }

    /** Max-heap by key (the root is the worst of the best k, i.e. the largest key). */
    private static void siftUp(long[] h, int i) {
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (h[parent] >= h[i]) {
                return;
            }
            long t = h[parent];
            h[parent] = h[i];
            h[i] = t;
            i = parent;
        }
    }

    private static void siftDown(long[] h, int size) {
        int i = 0;
        while (true) {
            int l = 2 * i + 1;
            int r = l + 1;
            int big = i;
            if (l < size && h[l] > h[big]) {
                big = l;
            }
            if (r < size && h[r] > h[big]) {
                big = r;
            }
            if (big == i) {
                return;
            }
            long t = h[big];
            h[big] = h[i];
            h[i] = t;
            i = big;
        }
    }

    private static double logSumExp(float[] x) {
        float max = x[argmax(x)];
        double sum = 0;
        for (float v : x) {
            sum += Exp.nonPositive(v - max);
        }
        return max + Math.log(sum);
    }
}
