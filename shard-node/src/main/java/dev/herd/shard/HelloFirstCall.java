package dev.herd.shard;

import dev.herd.proto.v1.Hello;
import dev.herd.proto.v1.HelloReply;
import dev.herd.proto.v1.NodeRole;
import dev.herd.proto.v1.RefusalReason;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

import java.util.Set;

/**
 * What every server-side stream of the shard service does the same way: manual flow control (one message
 * requested at a time), a hello first (checked by the node, refused with a reply and then
 * {@code FAILED_PRECONDITION}), then the stream's own messages; and one place that ends the stream and
 * releases the plan part it holds.
 *
 * @param <I> messages from the caller
 * @param <O> messages to the caller
 */
abstract class HelloFirstCall<I, O> implements StreamObserver<I> {
    final ShardNode node;
    final ServerCallStreamObserver<O> call;
    final OutboundQueue<O> out;
    volatile NodePart part;
    private final String rpc;
    private volatile boolean ended;

    HelloFirstCall(ShardNode node, ServerCallStreamObserver<O> call, String rpc) {
        this.node = node;
        this.call = call;
        this.rpc = rpc;
        call.disableAutoRequest();
        this.out = new OutboundQueue<>(call);
        call.setOnCancelHandler(() -> {
            out.closedByPeer();
            end();
        });
        call.request(1);
    }

    /** Roles allowed to open this stream. */
    abstract Set<NodeRole> callers();

    /** The hello in a message, or null when the message is something else. */
    abstract Hello helloOf(I message);

    /** What the message holds, for error messages. */
    abstract Object bodyOf(I message);

    /** Why this node cannot serve this stream under the opened part (e.g. it holds no experts), or null. */
    abstract String refusal(NodePart opened);

    /** The reply to the hello, as this stream's message type. */
    abstract O helloReply(HelloReply reply);

    /** A message after an accepted hello. */
    abstract void onBody(I message);

    /** Stream-specific cleanup when the stream ends, before the part is released. */
    void onEnd() {
    }

    @Override
    public final void onNext(I message) {
        if (ended) {
            return; // the stream was ended (refused or failed); late messages have no one to answer
        }
        if (part == null) {
            hello(message);
            return;
        }
        onBody(message);
    }

    private void hello(I message) {
        Hello hello = helloOf(message);
        if (hello == null) {
            failStream(Status.INVALID_ARGUMENT.withDescription("the first message of " + rpc + " must be a hello, got "
                    + bodyOf(message)));
            return;
        }
        ShardNode.Opened opened = node.open(hello, callers());
        HelloReply reply = opened.reply();
        String refusal = opened.part() == null ? null : refusal(opened.part());
        if (refusal != null) {
            opened.part().release();
            reply = reply.toBuilder().setAccepted(false).setReason(RefusalReason.REFUSAL_REASON_UNSPECIFIED)
                    .setMessage(refusal).build();
        }
        out.send(helloReply(reply));
        if (!reply.getAccepted()) {
            failStream(Status.FAILED_PRECONDITION.withDescription(reply.getMessage()));
            return;
        }
        part = opened.part();
        call.request(1);
    }

    @Override
    public void onError(Throwable error) {
        // the caller went away: nothing to answer
        out.closedByPeer();
        end();
    }

    final void failStream(Status status) {
        out.fail(status.asRuntimeException());
        end();
    }

    final synchronized void end() {
        if (ended) {
            return;
        }
        ended = true;
        onEnd();
        NodePart p = part;
        if (p != null) {
            p.release();
        }
    }
}
