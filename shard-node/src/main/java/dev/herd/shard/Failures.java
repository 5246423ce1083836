package dev.herd.shard;

import dev.herd.proto.v1.FailureReason;

import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/** What went wrong in a step or dispatch, as the reason and sentence reported in-band. */
final class Failures {
    private Failures() {
    }

    record Described(FailureReason reason, String message) {
    }

    static Described describe(Throwable error, String node) {
        Throwable t = error;
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        if (t instanceof FrameRejected r) {
            return new Described(r.reason(), "node " + node + ": " + r.getMessage());
        }
        if (t instanceof PeerUnavailableException p) {
            return new Described(FailureReason.FAILURE_REASON_PEER_UNAVAILABLE, "node " + node + ": " + p.getMessage());
        }
        if (t instanceof StepFailedException s) {
            return new Described(s.failure().getReason(), s.failure().getMessage());
        }
        return new Described(FailureReason.FAILURE_REASON_INTERNAL, "node " + node + " failed: " + t);
    }
}
