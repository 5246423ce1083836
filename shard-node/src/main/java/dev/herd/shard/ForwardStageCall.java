package dev.herd.shard;

import dev.herd.proto.v1.FailureReason;
import dev.herd.proto.v1.FrameFailure;
import dev.herd.proto.v1.Hello;
import dev.herd.proto.v1.HelloReply;
import dev.herd.proto.v1.NodeRole;
import dev.herd.proto.v1.StageFrame;
import dev.herd.proto.v1.StageInput;
import dev.herd.proto.v1.StepResult;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;

import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One {@code ForwardStage} stream on a stage: hello, then one step per input, run on the node's stage worker;
 * the last stage answers with the chosen tokens, an earlier one forwards its hidden states to the next stage
 * over a stream of its own and relays that stream's results and failures back here unchanged.
 *
 * <p>Flow control: the next input is requested only after the previous one has run and both this stream's
 * answers and the next stage's stream have drained, so a slow stage downstream slows the sender instead of
 * piling activations up in this node.
 */
final class ForwardStageCall extends HelloFirstCall<StageFrame, StageFrame> {
    private static final Set<NodeRole> CALLERS = Set.of(NodeRole.NODE_ROLE_COORDINATOR, NodeRole.NODE_ROLE_SHARD);

    private final AtomicInteger inFlight = new AtomicInteger();
    /** The result route this stream registered (0: none): it then carries results of others' steps. */
    private volatile long route;
    private volatile StageClient next;
    private volatile boolean callerDone;

    ForwardStageCall(ShardNode node, ServerCallStreamObserver<StageFrame> call) {
        super(node, call, "ForwardStage");
    }

    @Override
    Set<NodeRole> callers() {
        return CALLERS;
    }

    @Override
    Hello helloOf(StageFrame frame) {
        return frame.hasHello() ? frame.getHello() : null;
    }

    @Override
    Object bodyOf(StageFrame frame) {
        return frame.getBodyCase();
    }

    @Override
    String refusal(NodePart opened) {
        return opened.stage() != null ? null : "node " + node.identity().nodeId()
                + " runs no pipeline layers under plan epoch " + opened.epoch() + " (it serves experts only)";
    }

    @Override
    StageFrame helloReply(HelloReply reply) {
        return StageFrame.newBuilder().setHelloReply(reply).build();
    }

    @Override
    void onBody(StageFrame frame) {
        if (frame.hasRoute() && frame.getRoute().getRoute() != 0 && route == 0) {
            route = frame.getRoute().getRoute();
            node.routes().register(route, out);
            call.request(1);
            return;
        }
        if (!frame.hasInput()) {
            failStream(Status.INVALID_ARGUMENT.withDescription("after the hello a caller sends inputs, or one "
                    + "non-zero result route, got " + frame.getBodyCase()));
            return;
        }
        StageInput input = frame.getInput();
        inFlight.incrementAndGet();
        long received = System.nanoTime();
        node.onStageWorker(() -> run(input, received));
    }

    /** On the stage worker: one step through this node's layers. */
    private void run(StageInput input, long received) {
        NodePart p = part;
        boolean answered = false;
        long started = System.nanoTime();
        try {
            if (input.getFrame().getPlanEpoch() != p.epoch()) {
                throw new FrameRejected(FailureReason.FAILURE_REASON_PLAN_EPOCH_MISMATCH,
                        "step " + input.getFrame().getStepId() + " was computed under plan epoch "
                                + input.getFrame().getPlanEpoch() + "; this stream serves epoch " + p.epoch());
            }
            StageStep step = StageFrames.toStep(input, p.config().hiddenSize());
            StageRunner.Outcome outcome = p.stage().run(step);
            node.stageTimes().record(received, started, System.nanoTime());
            switch (outcome) {
                case StageRunner.Chosen c -> {
                    StepResult result = StageFrames.result(step, c.tokens());
                    answered = true;
                    if (node.routes().send(input.getResultRoute(), result)) {
                        // the tokens are on their way to the coordinator: the stages before only close the step
                        answer(StageFrame.newBuilder().setResult(StepResult.newBuilder()
                                .setPlanEpoch(result.getPlanEpoch()).setStepId(result.getStepId()).setRouted(true))
                                .build());
                    } else {
                        answer(StageFrame.newBuilder().setResult(result).build());
                    }
                }
                case StageRunner.Hidden h -> {
                    StageInput forward = StageFrames.forward(step, p.assignment().layers().end(), h.x(),
                            p.config().hiddenSize(), node.settings().wire(), input.getResultRoute());
                    CompletableFuture<StepResult> downstream = nextStage(p).step(forward);
                    answered = true; // from here on the relay answers, also when the stream is already broken
                    downstream.whenComplete(this::relay);
                }
            }
        } catch (Throwable e) {
            // every step must be answered, or its caller waits forever: whatever failed is reported in-band
            Failures.Described d = Failures.describe(e, node.identity().nodeId());
            if (!answered) {
                answer(StageFrame.newBuilder().setFailure(StageFrames.failure(input, d.reason(), d.message())).build());
            }
        } finally {
            requestNext();
        }
    }

    private void relay(StepResult result, Throwable error) {
        if (result != null) {
            answer(StageFrame.newBuilder().setResult(result).build());
            return;
        }
        Throwable t = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        FrameFailure f;
        if (t instanceof StepFailedException s) {
            f = s.failure(); // the downstream's own report (or the stream's), relayed unchanged
        } else {
            Failures.Described d = Failures.describe(t, node.identity().nodeId());
            f = FrameFailure.newBuilder().setReason(d.reason()).setMessage(d.message()).build();
        }
        answer(StageFrame.newBuilder().setFailure(f).build());
    }

    private void answer(StageFrame frame) {
        out.send(frame);
        if (inFlight.decrementAndGet() == 0 && callerDone) {
            finish();
        }
    }

    /** The stream to the next stage, opened on first use and again after it broke. */
    private StageClient nextStage(NodePart p) {
        StageClient n = next;
        if (n == null || n.isBroken()) {
            PeerEndpoint peer = p.assignment().nextStage();
            var channel = node.channels().channel(peer.address());
            if (n != null) {
                channel.resetConnectBackoff(); // the last stream broke: retry the peer now, not after a backoff
            }
            n = StageClient.open(channel, node.identity().hello(p.epoch(), NodeRole.NODE_ROLE_SHARD),
                    peer.toString(), node.wire());
            next = n;
        }
        return n;
    }

    private void requestNext() {
        out.whenReady(() -> {
            StageClient n = next;
            if (n != null && !n.isBroken()) {
                n.whenReady(() -> call.request(1));
            } else {
                call.request(1);
            }
        });
    }

    @Override
    public void onCompleted() {
        callerDone = true;
        if (inFlight.get() == 0) {
            finish();
        }
    }

    private void finish() {
        out.complete();
        end();
    }

    @Override
    void onEnd() {
        if (route != 0) {
            node.routes().unregister(route, out);
        }
        StageClient n = next;
        if (n != null) {
            n.close();
        }
    }
}
