package dev.herd.model.sampling;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The sampler against hand-computed distributions and processed logits. */
class SamplerTest {
    /** Logits whose softmax is exactly 0.4, 0.3, 0.2, 0.1 (up to float rounding). */
    private static final float[] LOGITS = {(float) Math.log(0.4), (float) Math.log(0.3), (float) Math.log(0.2),
            (float) Math.log(0.1)};
    private static final int DRAWS = 20_000;
    /** The chi-square 0.999 quantile for 3 degrees of freedom; fewer degrees have smaller quantiles. */
    private static final double CHI2_999_DF3 = 16.27;

    private static SamplingParams params(double temperature, int topK, double topP, double minP) {
        return new SamplingParams(temperature, topK, topP, minP, 0, 0, 1, Map.of(), 7L, false, 0);
    }

    private static SamplingParams penalties(double presence, double frequency, double repetition) {
        return new SamplingParams(0, 0, 1, 0, presence, frequency, repetition, Map.of(), null, true, 4);
    }

    /** Draws with a fixed seed and checks the frequencies against {@code expected} by a chi-square statistic. */
    private static void assertDistribution(SamplingParams p, double[] expected) {
        Sampler sampler = new Sampler(p, LOGITS.length, new int[0], 2026);
        int[] counts = new int[LOGITS.length];
        for (int i = 0; i < DRAWS; i++) {
            int id = sampler.sample(LOGITS, 0).id();
            counts[id]++;
            sampler.accept(id);
        }
        double chi2 = 0;
        for (int t = 0; t < expected.length; t++) {
            if (expected[t] == 0) {
                assertEquals(0, counts[t], "token " + t + " must never be drawn; counts " + List.of(counts));
                continue;
            }
            double e = expected[t] * DRAWS;
            chi2 += (counts[t] - e) * (counts[t] - e) / e;
        }
        assertTrue(chi2 < CHI2_999_DF3, "chi-square " + chi2 + " for counts " + java.util.Arrays.toString(counts)
                + " against " + java.util.Arrays.toString(expected));
    }

    @Test
    void plainSamplingFollowsTheSoftmax() {
        assertDistribution(params(1, 0, 1, 0), new double[]{0.4, 0.3, 0.2, 0.1});
    }

    @Test
    void temperatureSharpensAndFlattens() {
        // p^(1/T) renormalised: T = 0.5 squares, T = 2 takes square roots
        assertDistribution(params(0.5, 0, 1, 0), new double[]{16 / 30.0, 9 / 30.0, 4 / 30.0, 1 / 30.0});
        double s = Math.sqrt(0.4) + Math.sqrt(0.3) + Math.sqrt(0.2) + Math.sqrt(0.1);
        assertDistribution(params(2, 0, 1, 0),
                new double[]{Math.sqrt(0.4) / s, Math.sqrt(0.3) / s, Math.sqrt(0.2) / s, Math.sqrt(0.1) / s});
    }

    @Test
    void topKKeepsTheKBest() {
        assertDistribution(params(1, 2, 1, 0), new double[]{4 / 7.0, 3 / 7.0, 0, 0});
        assertDistribution(params(0.5, 3, 1, 0), new double[]{16 / 29.0, 9 / 29.0, 4 / 29.0, 0});
        assertDistribution(params(1, -1, 1, 0), new double[]{0.4, 0.3, 0.2, 0.1});
    }

    @Test
    void topPKeepsTheSmallestSetReachingTheMass() {
        // cumulative 0.4, 0.7, 0.9, 1.0
        assertDistribution(params(1, 0, 0.65, 0), new double[]{4 / 7.0, 3 / 7.0, 0, 0});
        assertDistribution(params(1, 0, 0.75, 0), new double[]{4 / 9.0, 3 / 9.0, 2 / 9.0, 0});
        assertDistribution(params(1, 0, 0.3, 0), new double[]{1, 0, 0, 0});
    }

    @Test
    void minPDropsTokensFarBelowTheBest() {
        // thresholds 0.6 * 0.4 = 0.24 and 0.45 * 0.4 = 0.18
        assertDistribution(params(1, 0, 1, 0.6), new double[]{4 / 7.0, 3 / 7.0, 0, 0});
        assertDistribution(params(1, 0, 1, 0.45), new double[]{4 / 9.0, 3 / 9.0, 2 / 9.0, 0});
    }

    @Test
    void greedyTakesTheLowestIndexAmongEqualMaxima() {
        Sampler sampler = new Sampler(SamplingParams.greedy(), 4, new int[0], 1);
        assertEquals(1, sampler.sample(new float[]{1, 3, 3, 2}, 0).id());
        assertEquals(1, sampler.sample(new float[]{9, 1, 3, 5, 5, 0}, 2).id(), "offset into a batch row");
    }

    @Test
    void topIndicesOrderByValueThenIndex() {
        Sampler sampler = new Sampler(SamplingParams.greedy(), 5, new int[0], 1);
        assertArrayEquals(new int[]{1, 2, 3}, sampler.topIndices(new float[]{1, 5, 5, 3, -2}, 3));
        assertArrayEquals(new int[]{1, 2, 3, 0, 4}, sampler.topIndices(new float[]{1, 5, 5, 3, -2}, 9));
    }

    @Test
    void aSeedFixesTheStream() {
        SamplingParams p = params(1, 0, 1, 0);
        Sampler a = new Sampler(p, 4, new int[0], 99);
        Sampler b = new Sampler(p, 4, new int[0], 99);
        Sampler c = new Sampler(p, 4, new int[0], 100);
        StringBuilder sa = new StringBuilder();
        StringBuilder sb = new StringBuilder();
        StringBuilder sc = new StringBuilder();
        for (int i = 0; i < 64; i++) {
            sa.append(accepted(a));
            sb.append(accepted(b));
            sc.append(accepted(c));
        }
        assertEquals(sa.toString(), sb.toString());
        assertNotEquals(sa.toString(), sc.toString());
    }

    private static int accepted(Sampler s) {
        int id = s.sample(LOGITS, 0).id();
        s.accept(id);
        return id;
    }

    @Test
    void aSamplerResumedFromItsHistoryDrawsWhatTheOriginalDraws() {
        SamplingParams p = new SamplingParams(1.3, 3, 0.95, 0.01, 0.4, 0.3, 1.2, Map.of(2, 0.5f), 5L, true, 2);
        int[] prompt = {3, 1, 1};
        Sampler original = new Sampler(p, 4, prompt, 77);
        int[] history = new int[prompt.length + 40];
        System.arraycopy(prompt, 0, history, 0, prompt.length);
        for (int i = 0; i < 40; i++) {
            history[prompt.length + i] = accepted(original);
        }
        for (int cut : new int[]{prompt.length, prompt.length + 1, prompt.length + 17, history.length}) {
            Sampler resumed = Sampler.resume(p, 4, java.util.Arrays.copyOf(history, cut), prompt.length, 77);
            Sampler replay = new Sampler(p, 4, prompt, 77);
            for (int i = prompt.length; i < cut; i++) {
                replay.sample(LOGITS, 0);
                replay.accept(history[i]);
            }
            for (int i = 0; i < 20; i++) {
                SampledToken a = resumed.sample(LOGITS, 0);
                SampledToken b = replay.sample(LOGITS, 0);
                assertEquals(b, a, "draw " + i + " after resuming at " + cut);
                resumed.accept(a.id());
                replay.accept(b.id());
            }
        }
        // the draw depends on the position: the same sampler state at a later position draws independently
        Sampler s = new Sampler(params(1, 0, 1, 0), 4, new int[0], 8);
        StringBuilder same = new StringBuilder();
        for (int i = 0; i < 64; i++) {
            same.append(s.sample(LOGITS, 0).id());
        }
        assertEquals(same.toString().substring(0, 1).repeat(64), same.toString(),
                "without accept the position stays, and so does the draw");
    }

    @Test
    void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfSeenTokens() {
        // prompt tokens 0 and 3: [2, 1, 0.5, -1] -> [1, 1, 0.5, -2]
        Sampler sampler = new Sampler(penalties(0, 0, 2), 4, new int[]{0, 3}, 1);
        float[] logits = {2, 1, 0.5f, -1};
        assertArrayEquals(new float[]{1, 1, 0.5f, -2}, sampler.processedLogits(logits, 0));
        SampledToken t = sampler.sample(logits, 0);
        assertEquals(0, t.id(), "tie between 0 and 1 goes to the lower index");
        assertLogprobs(new double[]{1, 1, 0.5, -2}, t);
        // generated tokens count too
        sampler.accept(1);
        assertArrayEquals(new float[]{1, 0.5f, 0.5f, -2}, sampler.processedLogits(logits, 0));
    }

    @Test
    void presenceAndFrequencyPenaltiesCountGeneratedTokensOnly() {
        Sampler sampler = new Sampler(penalties(0.5, 0.25, 1), 4, new int[]{0, 0, 0}, 1);
        sampler.accept(1);
        sampler.accept(1);
        sampler.accept(2);
        float[] logits = {2, 1, 0.5f, -1};
        // token 1: 1 - 2 * 0.25 - 0.5 = 0; token 2: 0.5 - 0.25 - 0.5 = -0.25; the prompt's token 0 is untouched
        assertArrayEquals(new float[]{2, 0, -0.25f, -1}, sampler.processedLogits(logits, 0));
    }

    @Test
    void logitBiasIsAddedBeforeChoosing() {
        SamplingParams p = new SamplingParams(0, 0, 1, 0, 0, 0, 1, Map.of(3, 100f, 0, -100f), null, false, 0);
        Sampler sampler = new Sampler(p, 4, new int[0], 1);
        assertEquals(3, sampler.sample(new float[]{2, 1, 0.5f, -1}, 0).id());
        assertThrows(InvalidSamplingParameterException.class, () -> new Sampler(
                new SamplingParams(0, 0, 1, 0, 0, 0, 1, Map.of(4, 1f), null, false, 0), 4, new int[0], 1));
    }

    @Test
    void logprobsAreTheLogSoftmaxOfTheProcessedLogitsBeforeTemperature() {
        SamplingParams p = new SamplingParams(0.5, 0, 1, 0, 0, 0, 1, Map.of(), 3L, true, 2);
        Sampler sampler = new Sampler(p, 4, new int[0], 3);
        SampledToken t = sampler.sample(LOGITS, 0);
        assertEquals(Math.log(new double[]{0.4, 0.3, 0.2, 0.1}[t.id()]), t.logprob(), 1e-6);
        assertEquals(2, t.topLogprobs().size());
        assertEquals(0, t.topLogprobs().get(0).id());
        assertEquals(Math.log(0.4), t.topLogprobs().get(0).logprob(), 1e-6);
        assertEquals(1, t.topLogprobs().get(1).id());
        assertEquals(Math.log(0.3), t.topLogprobs().get(1).logprob(), 1e-6);
    }

    @Test
    void parametersOutOfRangeNameTheirField() {
        InvalidSamplingParameterException e = assertThrows(InvalidSamplingParameterException.class,
                () -> params(1, 0, 1.5, 0));
        assertEquals("top_p", e.param());
        assertEquals("temperature", assertThrows(InvalidSamplingParameterException.class,
                () -> params(2.5, 0, 1, 0)).param());
        assertEquals("top_logprobs", assertThrows(InvalidSamplingParameterException.class,
                () -> new SamplingParams(0, 0, 1, 0, 0, 0, 1, Map.of(), null, false, 3)).param());
        assertEquals("repetition_penalty", assertThrows(InvalidSamplingParameterException.class,
                () -> penalties(0, 0, 0)).param());
    }

    /** The reported logprobs equal a log-softmax of {@code processed} computed here. */
    private static void assertLogprobs(double[] processed, SampledToken t) {
        double max = Double.NEGATIVE_INFINITY;
        for (double v : processed) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (double v : processed) {
            sum += Math.exp(v - max);
        }
        double logZ = max + Math.log(sum);
        assertEquals(processed[t.id()] - logZ, t.logprob(), 1e-6);
        for (SampledToken.TokenLogprob alt : t.topLogprobs()) {
            assertEquals(processed[alt.id()] - logZ, alt.logprob(), 1e-6);
        }
        for (int i = 1; i < t.topLogprobs().size(); i++) {
            assertTrue(t.topLogprobs().get(i - 1).logprob() >= t.topLogprobs().get(i).logprob());
        }
    }
}
