package dev.herd.shard;

import dev.herd.proto.v1.HelloReply;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;

import java.util.function.Supplier;

/** How the node's unary calls answer: one reply, or a proper status, never a bare exception seen as UNKNOWN. */
public final class UnaryCalls {
    private UnaryCalls() {
    }

    /**
     * Answers with {@code body}'s reply; a {@link StatusRuntimeException} it throws goes to the caller as its
     * status, anything else as INTERNAL with its message (a bug, or an unreadable file, as what it is).
     */
    public static <T> void answer(StreamObserver<T> responses, Supplier<T> body) {
        T reply;
        try {
            reply = body.get();
        } catch (StatusRuntimeException e) {
            responses.onError(e);
            return;
        } catch (RuntimeException e) {
            responses.onError(Status.INTERNAL.withDescription(e.toString()).withCause(e).asRuntimeException());
            return;
        }
        responses.onNext(reply);
        responses.onCompleted();
    }

    /** A refused hello as FAILED_PRECONDITION with the refusal's message. */
    public static void requireAccepted(HelloReply reply) {
        if (!reply.getAccepted()) {
            throw Status.FAILED_PRECONDITION.withDescription(reply.getMessage()).asRuntimeException();
        }
    }
}
