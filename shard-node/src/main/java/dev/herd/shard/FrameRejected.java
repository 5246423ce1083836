package dev.herd.shard;

import dev.herd.proto.v1.FailureReason;

/**
 * A step or dispatch this node will not run, with the reason the sender acts on. Reported in-band as a
 * {@code FrameFailure}, so other steps on the same stream go on.
 */
public final class FrameRejected extends RuntimeException {
    private final FailureReason reason;

    public FrameRejected(FailureReason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public FrameRejected(FailureReason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    public static FrameRejected badFrame(String message) {
        return new FrameRejected(FailureReason.FAILURE_REASON_BAD_FRAME, message);
    }

    public FailureReason reason() {
        return reason;
    }
}
