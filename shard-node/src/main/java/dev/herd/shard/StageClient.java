package dev.herd.shard;

import dev.herd.proto.v1.FailureReason;
import dev.herd.proto.v1.FrameFailure;
import dev.herd.proto.v1.Hello;
import dev.herd.proto.v1.HelloReply;
import dev.herd.proto.v1.ResultRoute;
import dev.herd.proto.v1.ShardServiceGrpc;
import dev.herd.proto.v1.StageFrame;
import dev.herd.proto.v1.StageInput;
import dev.herd.proto.v1.StepResult;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One {@code ForwardStage} stream to a stage: the coordinator's way into the pipeline, and a stage's way to
 * the next one. Steps go out as the transport takes them ({@link #whenReady}); each step's future completes
 * with its {@code StepResult} when that arrives, in whatever order, or fails with a {@link StepFailedException}
 * carrying the {@code FrameFailure}: the stage's own, or one made here when the stream itself breaks (the peer
 * died, refused the hello, or the stream ended), so every caller handles one kind of failure.
 */
public final class StageClient implements AutoCloseable {
    private final String peer;
    private final WireCounters counters;
    private final CompletableFuture<HelloReply> hello = new CompletableFuture<>();
    private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
    /** Set in {@code beforeStart}, before anything can arrive on the stream. */
    private volatile OutboundQueue<StageFrame> out;
    private volatile FrameFailure broken;
    /** Set by {@link #routeResultsFrom}: the route steps carry, and the stream the last stage answers on. */
    private volatile long route;
    private volatile StageClient routeStream;
    /** On a result route's stream: the client whose steps' results arrive here. */
    private volatile StageClient resultsFor;

    /** A step in flight, with what a failure report must name. */
    private record Pending(CompletableFuture<StepResult> result, long epoch, int layer, List<Long> seqIds) {
    }

    private StageClient(Channel channel, Hello self, String peer, WireCounters counters) {
        this.peer = peer;
        this.counters = counters;
        ShardServiceGrpc.newStub(channel).withExecutor(DataPathExecutor.DIRECT).forwardStage(new ClientResponseObserver<StageFrame, StageFrame>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<StageFrame> requests) {
                out = new OutboundQueue<>(requests);
            }

            @Override
            public void onNext(StageFrame frame) {
                received(frame);
            }

            @Override
            public void onError(Throwable error) {
                out.closedByPeer();
                breakWith(Status.fromThrowable(error));
            }

            @Override
            public void onCompleted() {
                out.closedByPeer();
                breakWith(Status.UNAVAILABLE.withDescription("the stage ended the stream"));
            }
        });
        out.send(StageFrame.newBuilder().setHello(self).build());
    }

    /**
     * Opens a stream to the stage at {@code channel} and sends {@code self} as its hello; steps may be sent at
     * once (they are refused with the hello if it is refused).
     *
     * @param peer how to name the stage in failures, e.g. its node id and address
     */
    public static StageClient open(Channel channel, Hello self, String peer, WireCounters counters) {
        return new StageClient(channel, self, peer, counters);
    }

    /**
     * From now on, steps sent here ask the last stage to send their results straight to this process on a stream
     * of their own (opened here, to {@code lastStage}), one hop instead of back through every stage; the stages'
     * own answers then only close the step. If that stream breaks, this client breaks too (its steps fail, and the
     * caller opens new streams, as for any broken stream).
     *
     * @param route a number no other caller of that stage uses (a random one)
     */
    public void routeResultsFrom(Channel lastStage, Hello self, String lastPeer, long route) {
        if (route == 0) {
            throw new IllegalArgumentException("a result route is not 0");
        }
        StageClient results = new StageClient(lastStage, self, lastPeer, counters);
        results.resultsFor = this;
        results.out.send(StageFrame.newBuilder().setRoute(ResultRoute.newBuilder().setRoute(route)).build());
        routeStream = results;
        this.route = route;
    }

    /** The stage's answer to the hello. */
    public CompletableFuture<HelloReply> hello() {
        return hello;
    }

    /** Sends one step; the future completes with its result or fails with a {@link StepFailedException}. */
    public CompletableFuture<StepResult> step(StageInput input) {
        long id = input.getFrame().getStepId();
        CompletableFuture<StepResult> result = new CompletableFuture<>();
        FrameFailure dead = broken;
        if (dead != null) {
            result.completeExceptionally(new StepFailedException(retarget(dead, input)));
            return result;
        }
        Pending p = new Pending(result, input.getFrame().getPlanEpoch(), input.getFrame().getLayer(),
                input.getFrame().getSeqIdsList().stream().distinct().toList());
        if (pending.putIfAbsent(id, p) != null) {
            throw new IllegalArgumentException("step " + id + " is already in flight to " + peer);
        }
        long r = route;
        StageFrame frame = StageFrame.newBuilder().setInput(r == 0 ? input : input.toBuilder().setResultRoute(r).build())
                .build();
        counters.stageInputSent(frame.getSerializedSize());
        out.send(frame);
        // the stream may have broken between the check above and registering: fail what it left behind
        if (broken != null) {
            failPending(broken);
        }
        return result;
    }

    /** Runs {@code action} once the stream takes more input (at once when it does now). */
    public void whenReady(Runnable action) {
        out.whenReady(action);
    }

    /** True once the stream (or its result route) has failed or ended; open a new client to go on. */
    public boolean isBroken() {
        StageClient results = routeStream;
        return broken != null || (results != null && results.broken != null);
    }

    /** Ends the stream (and its result route's); steps still in flight fail. */
    @Override
    public void close() {
        out.complete();
        breakWith(Status.CANCELLED.withDescription("the stream to " + peer + " was closed"));
        StageClient results = routeStream;
        if (results != null) {
            results.close();
        }
    }

    private void received(StageFrame frame) {
        switch (frame.getBodyCase()) {
            case HELLO_REPLY -> hello.complete(frame.getHelloReply());
            case RESULT -> {
                StageClient owner = resultsFor;
                if (owner != null) {
                    owner.received(frame); // a routed step's tokens, straight from the last stage
                    return;
                }
                if (frame.getResult().getRouted() && route != 0) {
                    return; // the stages closed a step whose tokens come (or came) on the result route
                }
                Pending p = pending.remove(frame.getResult().getStepId());
                if (p != null) {
                    p.result().complete(frame.getResult());
                }
                // else: a result for a step already failed here (the stream broke while it was in flight); the
                // caller has been told it failed and may have resent it, so this late answer must not count twice
            }
            case FAILURE -> {
                Pending p = pending.remove(frame.getFailure().getStepId());
                if (p != null) {
                    p.result().completeExceptionally(new StepFailedException(frame.getFailure()));
                }
            }
            default -> breakWith(Status.INTERNAL.withDescription("stage " + peer + " sent a " + frame.getBodyCase()
                    + " frame, which only callers send"));
        }
    }

    private void breakWith(Status status) {
        String message;
        FailureReason reason = FailureReason.FAILURE_REASON_PEER_UNAVAILABLE;
        HelloReply reply = hello.getNow(null);
        if (reply != null && !reply.getAccepted()) {
            message = "stage " + peer + " refused the hello (" + reply.getReason() + "): " + reply.getMessage();
            reason = switch (reply.getReason()) {
                case REFUSAL_REASON_PLAN_EPOCH_STALE, REFUSAL_REASON_PLAN_EPOCH_NOT_LOADED ->
                        FailureReason.FAILURE_REASON_PLAN_EPOCH_MISMATCH;
                default -> FailureReason.FAILURE_REASON_PEER_UNAVAILABLE;
            };
        } else {
            message = "stream to stage " + peer + " failed: " + status.getCode()
                    + (status.getDescription() == null ? "" : ": " + status.getDescription());
        }
        FrameFailure failure = FrameFailure.newBuilder().setReason(reason).setMessage(message).build();
        broken = failure;
        hello.completeExceptionally(new StepFailedException(failure));
        failPending(failure);
        StageClient owner = resultsFor;
        if (owner != null && owner.broken == null) {
            // routed results can no longer arrive: the steps waiting for them fail now, not at their deadline
            owner.breakWith(Status.UNAVAILABLE.withDescription("the result route from " + peer + " failed: "
                    + message));
        }
    }

    private void failPending(FrameFailure failure) {
        List<Long> ids = new ArrayList<>(pending.keySet());
        for (long id : ids) {
            Pending p = pending.remove(id);
            if (p != null) {
                p.result().completeExceptionally(new StepFailedException(failure.toBuilder()
                        .setPlanEpoch(p.epoch()).setStepId(id).setLayer(p.layer()).addAllSeqIds(p.seqIds()).build()));
            }
        }
    }

    private static FrameFailure retarget(FrameFailure failure, StageInput input) {
        return failure.toBuilder()
                .setPlanEpoch(input.getFrame().getPlanEpoch())
                .setStepId(input.getFrame().getStepId())
                .setLayer(input.getFrame().getLayer())
                .addAllSeqIds(input.getFrame().getSeqIdsList().stream().distinct().toList())
                .build();
    }
}
