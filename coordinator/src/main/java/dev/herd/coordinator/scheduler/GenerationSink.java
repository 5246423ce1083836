package dev.herd.coordinator.scheduler;

import dev.herd.model.sampling.SampledToken;

/**
 * Receives one request's output. Called on the scheduler's thread, so implementations must only hand the
 * events over (to an event loop, a queue) and never block. After {@link RequestHandle#cancel()} no more calls
 * come. A sink that throws has its request cancelled.
 */
public interface GenerationSink {
    /**
     * One generated token of choice {@code choice} and the text it completes: often empty (a character split over
     * tokens, or text held back because it could be the start of a stop string), and possibly more than the
     * token's own text when held-back text is released. Text of a matched stop string never appears. {@code token}
     * is null only when a choice that the KV budget ends releases its held-back text without a new token.
     */
    void onToken(int choice, String text, SampledToken token);

    /** Choice {@code choice} ended; no more tokens for it. */
    void onFinish(int choice, FinishReason reason);

    /** Every choice ended: the last call. */
    void onComplete(Usage usage);

    /** The request failed inside the server (not the client's fault): the last call. */
    void onError(String message);
}
