package dev.herd.coordinator.scheduler;

/** The scheduler refused a request before running it. */
public final class RequestRejectedException extends RuntimeException {
    /** Why. */
    public enum Reason {
        /** The bounded request queue is full: try again later (HTTP 429). */
        QUEUE_FULL,
        /** The prompt does not fit the context or the KV budget (HTTP 400). */
        PROMPT_TOO_LONG,
        /** The scheduler is closing (HTTP 503). */
        SHUTTING_DOWN,
        /** The model cannot run steps now, e.g. a cluster without a ready plan (HTTP 503). */
        MODEL_UNAVAILABLE
    }

    private final Reason reason;

    public RequestRejectedException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
