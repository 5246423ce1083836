package dev.herd.shard;

import dev.herd.proto.v1.ActivationFrame;
import dev.herd.proto.v1.ExpertRequest;
import dev.herd.proto.v1.ExpertResponse;
import dev.herd.proto.v1.FailureReason;
import dev.herd.proto.v1.Hello;
import dev.herd.proto.v1.HelloReply;
import dev.herd.proto.v1.NodeRole;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;

import java.util.Set;

/**
 * One {@code DispatchExperts} stream: hello, then one answer per request frame, each run on the node's expert
 * worker. The next request is taken only once the previous answer has gone out (manual flow control), so a
 * stage that dispatches faster than this node computes is slowed by HTTP/2 rather than queued here.
 */
final class DispatchExpertsCall extends HelloFirstCall<ExpertRequest, ExpertResponse> {
    private static final Set<NodeRole> CALLERS = Set.of(NodeRole.NODE_ROLE_SHARD);

    DispatchExpertsCall(ShardNode node, ServerCallStreamObserver<ExpertResponse> call) {
        super(node, call, "DispatchExperts");
    }

    @Override
    Set<NodeRole> callers() {
        return CALLERS;
    }

    @Override
    Hello helloOf(ExpertRequest request) {
        return request.hasHello() ? request.getHello() : null;
    }

    @Override
    Object bodyOf(ExpertRequest request) {
        return request.getBodyCase();
    }

    @Override
    String refusal(NodePart opened) {
        return opened.experts().holdsAny() ? null : "node " + node.identity().nodeId()
                + " holds no routed experts under plan epoch " + opened.epoch();
    }

    @Override
    ExpertResponse helloReply(HelloReply reply) {
        return ExpertResponse.newBuilder().setHelloReply(reply).build();
    }

    @Override
    void onBody(ExpertRequest request) {
        if (!request.hasFrame()) {
            failStream(Status.INVALID_ARGUMENT.withDescription("after the hello a dispatcher sends only frames, got "
                    + request.getBodyCase()));
            return;
        }
        ActivationFrame frame = request.getFrame();
        node.onExpertWorker(() -> run(frame));
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
    public void onCompleted() {
        // requests are answered in order on one worker: completing after the last queued one keeps them all
        node.onExpertWorker(() -> {
            out.complete();
            end();
        });
    }
}
