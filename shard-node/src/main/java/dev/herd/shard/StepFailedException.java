package dev.herd.shard;

import dev.herd.proto.v1.FrameFailure;

/** A step that a stage (this one or one downstream) could not serve; the failure says why and for whom. */
public final class StepFailedException extends RuntimeException {
    private final FrameFailure failure;

    public StepFailedException(FrameFailure failure) {
        super(failure.getReason() + ": " + failure.getMessage());
        this.failure = failure;
    }

    public FrameFailure failure() {
        return failure;
    }
}
