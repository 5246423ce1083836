package dev.herd.coordinator.plan;

/** The model cannot be placed on the cluster; the message says what is missing. */
public final class InfeasiblePlanException extends RuntimeException {
    private final long missingBytes;

    InfeasiblePlanException(String message, long missingBytes) {
        super(message);
        this.missingBytes = missingBytes;
    }

    /** Bytes the cluster lacks in total, or 0 when it has enough but they cannot be arranged. */
    public long missingBytes() {
        return missingBytes;
    }
}
