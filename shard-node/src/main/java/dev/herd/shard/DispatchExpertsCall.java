package dev.herd.shard;

import dev.herd.proto.v1.ActivationFrame;
import dev.herd.proto.v1.ExpertRequest;
import dev.herd.proto.v1.ExpertResponse;
import dev.herd.proto.v1.FailureReason;
import dev.herd.proto.v1.NodeRole;
import dev.herd.proto.v1.RefusalReason;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

import java.util.Set;

/**
 * One {@code DispatchExperts} stream: hello, then one answer per request frame, each run on the node's expert
 * worker. The next request is taken only once the previous answer has gone out (manual flow control), so a
 * stage that dispatches faster than this node computes is slowed by HTTP/2 rather than queued here.
 */
final class DispatchExpertsCall implements StreamObserver<ExpertRequest> {
    private static final Set<NodeRole> CALLERS = Set.of(NodeRole.NODE_ROLE_SHARD);

    private final ShardNode node;
    private final ServerCallStreamObserver<ExpertResponse> call;
    private final OutboundQueue<ExpertResponse> out;
    private volatile NodePart part;
    private volatile boolean ended;

    DispatchExpertsCall(ShardNode node, ServerCallStreamObserver<ExpertResponse> call) {
        this.node = node;
        this.call = call;
        call.disableAutoRequest();
        this.out = new OutboundQueue<>(call);
        call.setOnCancelHandler(() -> {
            out.closedByPeer();
            end();
        });
        call.request(1);
    }

    @Override
    public void onNext(ExpertRequest request) {
        if (ended) {
            return; // the stream was ended (refused or failed); late requests have no one to answer
        }
        if (part == null) {
            hello(request);
            return;
        }
        if (!request.hasFrame()) {
            failStream(Status.INVALID_ARGUMENT.withDescription("after the hello a dispatcher sends only frames, got "
                    + request.getBodyCase()));
            return;
        }
        ActivationFrame frame = request.getFrame();
        node.onExpertWorker(() -> run(frame));
    }

    private void hello(ExpertRequest request) {
        if (!request.hasHello()) {
            failStream(Status.INVALID_ARGUMENT.withDescription("the first message of DispatchExperts must be a hello,"
                    + " got " + request.getBodyCase()));
            return;
        }
        ShardNode.Opened opened = node.open(request.getHello(), CALLERS);
        var reply = opened.reply();
        if (opened.part() != null && !opened.part().experts().holdsAny()) {
            opened.part().release();
            reply = reply.toBuilder().setAccepted(false).setReason(RefusalReason.REFUSAL_REASON_UNSPECIFIED)
                    .setMessage("node " + node.identity().nodeId() + " holds no routed experts under plan epoch "
                            + opened.part().epoch())
                    .build();
        }
        out.send(ExpertResponse.newBuilder().setHelloReply(reply).build());
        if (!reply.getAccepted()) {
            failStream(Status.FAILED_PRECONDITION.withDescription(reply.getMessage()));
            return;
        }
        part = opened.part();
        call.request(1);
    }

    /** On the expert worker: one layer's rows through the requested experts. */
    private void run(ActivationFrame frame) {
        NodePart p = part;
        try {
            if (frame.getPlanEpoch() != p.epoch()) {
                throw new FrameRejected(FailureReason.FAILURE_REASON_PLAN_EPOCH_MISMATCH, "expert request "
                        + frame.getStepId() + " was computed under plan epoch " + frame.getPlanEpoch()
                        + "; this stream serves epoch " + p.epoch());
            }
            int hidden = p.config().hiddenSize();
            ExpertJob job = ExpertFrames.toJob(frame, hidden);
            float[] y = p.experts().run(job);
            out.send(ExpertResponse.newBuilder().setFrame(ExpertFrames.response(job, y, hidden)).build());
        } catch (Throwable e) {
            // every request must be answered, or the dispatching stage waits for its deadline
            Failures.Described d = Failures.describe(e, node.identity().nodeId());
            out.send(ExpertResponse.newBuilder()
                    .setFailure(ExpertFrames.failure(frame, d.reason(), d.message())).build());
        } finally {
            out.whenReady(() -> call.request(1));
        }
    }

    @Override
    public void onError(Throwable error) {
        // the dispatcher went away: nothing to answer
        out.closedByPeer();
        end();
    }

    @Override
    public void onCompleted() {
        // requests are answered in order on one worker: completing after the last queued one keeps them all
        node.onExpertWorker(() -> {
            out.complete();
            end();
        });
    }

    private void failStream(Status status) {
        out.fail(status.asRuntimeException());
        end();
    }

    private synchronized void end() {
        if (ended) {
            return;
        }
        ended = true;
        NodePart p = part;
        if (p != null) {
            p.release();
        }
    }
}
