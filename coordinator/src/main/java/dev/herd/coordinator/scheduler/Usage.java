package dev.herd.coordinator.scheduler;

/**
 * Tokens a request consumed: the prompt once (however many choices share it) and every generated token of every
 * choice, the end-of-sequence token and the tokens of a matched stop string included.
 */
public record Usage(int promptTokens, int completionTokens) {
    public int totalTokens() {
        return promptTokens + completionTokens;
    }
}
