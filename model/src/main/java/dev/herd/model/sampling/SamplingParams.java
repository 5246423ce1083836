package dev.herd.model.sampling;

import java.util.Map;

/**
 * How one request picks its tokens. Ranges follow the OpenAI API where it defines the parameter, and vLLM /
 * Hugging Face for the extensions ({@code top_k}, {@code min_p}, {@code repetition_penalty}).
 *
 * @param temperature       0 for greedy (argmax, lowest index on ties), else the softmax temperature, at most 2
 * @param topK              keep the k most probable tokens; 0 keeps all (a client's -1 means the same)
 * @param topP              nucleus: keep the most probable tokens whose mass first reaches top_p, in (0, 1]
 * @param minP              keep tokens at least min_p times as probable as the best one, in [0, 1]
 * @param presencePenalty   OpenAI: subtracted once from the logit of every token already generated, [-2, 2]
 * @param frequencyPenalty  OpenAI: subtracted per occurrence from the logit of generated tokens, [-2, 2]
 * @param repetitionPenalty HF / llama.cpp: logits of tokens in the prompt or the output are divided by it when
 *                          positive and multiplied when negative; 1 is off, must be positive
 * @param logitBias         token id to a bias in [-100, 100] added to its logit (OpenAI {@code logit_bias})
 * @param seed              fixes the random stream (with the same parameters and model the same tokens come
 *                          back); null draws a fresh seed
 * @param logprobs          return the log-probability of each chosen token
 * @param topLogprobs       also return this many most likely alternatives per position, 0 to 20
 */
public record SamplingParams(double temperature, int topK, double topP, double minP, double presencePenalty,
                             double frequencyPenalty, double repetitionPenalty, Map<Integer, Float> logitBias,
                             Long seed, boolean logprobs, int topLogprobs) {

    /** Most alternatives per position a client may ask for (OpenAI's limit). */
    public static final int MAX_TOP_LOGPROBS = 20;

    public SamplingParams {
        require(Double.isFinite(temperature) && temperature >= 0 && temperature <= 2, "temperature",
                "temperature must be between 0 and 2, got " + temperature);
        require(topK >= -1, "top_k", "top_k must be -1 or 0 (all tokens) or positive, got " + topK);
        topK = Math.max(topK, 0);
        require(topP > 0 && topP <= 1, "top_p", "top_p must be in (0, 1], got " + topP);
        require(minP >= 0 && minP <= 1, "min_p", "min_p must be in [0, 1], got " + minP);
        require(presencePenalty >= -2 && presencePenalty <= 2, "presence_penalty",
                "presence_penalty must be between -2 and 2, got " + presencePenalty);
        require(frequencyPenalty >= -2 && frequencyPenalty <= 2, "frequency_penalty",
                "frequency_penalty must be between -2 and 2, got " + frequencyPenalty);
        require(Double.isFinite(repetitionPenalty) && repetitionPenalty > 0, "repetition_penalty",
                "repetition_penalty must be positive (1 is off), got " + repetitionPenalty);
        logitBias = logitBias == null ? Map.of() : Map.copyOf(logitBias);
        for (Map.Entry<Integer, Float> e : logitBias.entrySet()) {
            require(e.getKey() >= 0, "logit_bias", "logit_bias has a negative token id " + e.getKey());
            require(e.getValue() >= -100 && e.getValue() <= 100, "logit_bias",
                    "logit_bias of token " + e.getKey() + " must be between -100 and 100, got " + e.getValue());
        }
        require(topLogprobs >= 0 && topLogprobs <= MAX_TOP_LOGPROBS, "top_logprobs",
                "top_logprobs must be between 0 and " + MAX_TOP_LOGPROBS + ", got " + topLogprobs);
        require(topLogprobs == 0 || logprobs, "top_logprobs", "top_logprobs needs logprobs");
    }

    /** Greedy decoding with nothing else: what every engine comparison runs. */
    public static SamplingParams greedy() {
        return new SamplingParams(0, 0, 1, 0, 0, 0, 1, Map.of(), null, false, 0);
    }

    /** Plain sampling at {@code temperature} with a fixed seed. */
    public static SamplingParams sampled(double temperature, long seed) {
        return new SamplingParams(temperature, 0, 1, 0, 0, 0, 1, Map.of(), seed, false, 0);
    }

    public boolean greedyChoice() {
        return temperature == 0;
    }

    /** The same parameters with another seed (the n choices of one request each get their own). */
    public SamplingParams withSeed(long newSeed) {
        return new SamplingParams(temperature, topK, topP, minP, presencePenalty, frequencyPenalty, repetitionPenalty,
                logitBias, newSeed, logprobs, topLogprobs);
    }

    private static void require(boolean ok, String param, String message) {
        if (!ok) {
            throw new InvalidSamplingParameterException(param, message);
        }
    }
}
