package dev.herd.coordinator.scheduler;

/**
 * The model lost the state of every open sequence (a cluster switched to a new plan, whose nodes start with empty
 * KV caches). Nothing generated is lost: the scheduler recomputes each sequence from its tokens, and since a
 * draw depends only on the seed, the position and the history, the tokens that follow are the same.
 */
public final class ModelRestartedException extends RuntimeException {
    public ModelRestartedException(String message, Throwable cause) {
        super(message, cause);
    }
}
