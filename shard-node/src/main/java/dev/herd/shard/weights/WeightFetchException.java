package dev.herd.shard.weights;

/** A node could not get the tensors of its assignment from any holder; the message says which and why. */
public final class WeightFetchException extends RuntimeException {
    public WeightFetchException(String message) {
        super(message);
    }

    public WeightFetchException(String message, Throwable cause) {
        super(message, cause);
    }
}
