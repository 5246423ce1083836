package dev.herd.coordinator.scheduler;

import dev.herd.model.sampling.SamplingParams;

import java.util.List;

/**
 * What the scheduler runs: a tokenized prompt and how to continue it. The HTTP layer maps both OpenAI
 * endpoints to this one record; nothing here knows about JSON or chat messages.
 *
 * @param id        the request's id (for logs)
 * @param prompt    token ids, at least one
 * @param sampling  how to pick tokens
 * @param maxTokens most tokens to generate per choice (the context length may end a choice sooner)
 * @param stop      strings that end a choice; the matched text is not returned
 * @param n         independent choices, each its own sequence
 */
public record GenerationRequest(String id, int[] prompt, SamplingParams sampling, int maxTokens, List<String> stop,
                                int n) {
    public GenerationRequest {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt must hold at least one token");
        }
        if (maxTokens < 1) {
            throw new IllegalArgumentException("max_tokens must be at least 1, got " + maxTokens);
        }
        if (n < 1) {
            throw new IllegalArgumentException("n must be at least 1, got " + n);
        }
        stop = List.copyOf(stop);
        for (String s : stop) {
            if (s.isEmpty()) {
                throw new IllegalArgumentException("stop strings must not be empty");
            }
        }
        prompt = prompt.clone();
    }

    @Override
    public int[] prompt() {
        return prompt.clone();
    }
}
