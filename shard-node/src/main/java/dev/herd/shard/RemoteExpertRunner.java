package dev.herd.shard;

import dev.herd.model.forward.ExpertRunner;
import dev.herd.proto.v1.ActivationFrame;
import dev.herd.proto.v1.DType;
import dev.herd.proto.v1.ExpertRequest;
import dev.herd.proto.v1.ExpertResponse;
import dev.herd.proto.v1.FrameFailure;
import dev.herd.proto.v1.Hello;
import dev.herd.proto.v1.HelloReply;
import dev.herd.proto.v1.ShardServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The experts another node holds, reached over its {@code DispatchExperts} stream: one request per call (all of
 * a layer's rows for that node), the future completing when the answer arrives. The answer is PER_EXPERT, so
 * the dispatcher combines in a single process's order and an F32 run stays bit-identical.
 *
 * <p>A call never waits forever: a dead peer fails every call in flight with {@link PeerUnavailableException}
 * naming the peer and the gRPC status, and a call unanswered after the deadline fails with DEADLINE_EXCEEDED
 * and abandons the stream. The next call opens a fresh stream (and reconnects at once), so a peer that comes
 * back is used again without restarting this node.
 */
public final class RemoteExpertRunner implements ExpertRunner, AutoCloseable {
    private final ManagedChannel channel;
    private final Hello self;
    private final PeerEndpoint peer;
    private final int hidden;
    private final DType wire;
    private final Duration deadline;
    private final WireCounters counters;
    private final AtomicLong requestIds = new AtomicLong();
    private Stream stream;
    private boolean closed;

    /**
     * @param channel  a channel to the peer, with the activation message limit (see {@link PeerChannels})
     * @param self     this node's hello (its plan epoch is the epoch of every request)
     * @param deadline the longest a request may go unanswered
     */
    public RemoteExpertRunner(ManagedChannel channel, Hello self, PeerEndpoint peer, int hidden, DType wire,
                              Duration deadline, WireCounters counters) {
        this.channel = channel;
        this.self = self;
        this.peer = peer;
        this.hidden = hidden;
        this.wire = wire;
        this.deadline = deadline;
        this.counters = counters;
    }

    @Override
    public CompletableFuture<float[]> run(int layer, int[] experts, float[] rows, int m) {
        CompletableFuture<float[]> result = new CompletableFuture<>();
        long id = requestIds.incrementAndGet();
        ActivationFrame frame = ExpertFrames.request(self.getPlanEpoch(), id, layer, experts, rows, m, hidden, wire);
        Stream s;
        try {
            s = stream();
        } catch (PeerUnavailableException e) {
            result.completeExceptionally(e);
            return result;
        }
        s.send(id, layer, m, frame, result);
        CompletableFuture.delayedExecutor(deadline.toMillis(), TimeUnit.MILLISECONDS).execute(() -> {
            if (!result.isDone()) {
                s.abandon(Status.DEADLINE_EXCEEDED.withDescription("no answer for layer " + layer + " within "
                        + deadline.toMillis() + " ms"));
            }
        });
        return result;
    }

    private synchronized Stream stream() {
        if (closed) {
            throw new PeerUnavailableException("the dispatcher to " + peer + " is closed");
        }
        if (stream == null || stream.broken) {
            if (stream != null) {
                // the last stream broke: try the peer again now rather than after gRPC's reconnect backoff
                channel.resetConnectBackoff();
            }
            stream = new Stream();
        }
        return stream;
    }

    /** Ends the stream; calls in flight fail. */
    @Override
    public synchronized void close() {
        closed = true;
        if (stream != null) {
            stream.abandon(Status.CANCELLED.withDescription("the dispatcher was closed"));
        }
    }

    /** One request in flight. */
    private record Pending(int layer, int rows, CompletableFuture<float[]> result) {
    }

    /** One {@code DispatchExperts} call. */
    private final class Stream implements ClientResponseObserver<ExpertRequest, ExpertResponse> {
        private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
        private volatile OutboundQueue<ExpertRequest> out;
        private volatile ClientCallStreamObserver<ExpertRequest> call;
        private volatile HelloReply reply;
        private volatile boolean broken;
        private volatile Status failure;

        Stream() {
            ShardServiceGrpc.newStub(channel).withExecutor(DataPathExecutor.DIRECT).dispatchExperts(this);
            out.send(ExpertRequest.newBuilder().setHello(self).build());
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<ExpertRequest> requests) {
            call = requests;
            out = new OutboundQueue<>(requests);
        }

        void send(long id, int layer, int rows, ActivationFrame frame, CompletableFuture<float[]> result) {
            pending.put(id, new Pending(layer, rows, result));
            if (broken) {
                failAll(failure);
                return;
            }
            ExpertRequest request = ExpertRequest.newBuilder().setFrame(frame).build();
            counters.expertRequestSent(request.getSerializedSize());
            out.send(request);
        }

        /** Gives the stream up: every call in flight fails with {@code status}. */
        void abandon(Status status) {
            fail(status);
            out.closedByPeer();
            call.cancel(status.getDescription(), null);
        }

        @Override
        public void onNext(ExpertResponse response) {
            switch (response.getBodyCase()) {
                case HELLO_REPLY -> reply = response.getHelloReply();
                case FRAME -> answered(response);
                case FAILURE -> {
                    FrameFailure f = response.getFailure();
                    Pending p = pending.remove(f.getStepId());
                    if (p != null) {
                        p.result().completeExceptionally(new FrameRejected(f.getReason(), "expert node " + peer
                                + " could not run layer " + p.layer() + ": " + f.getMessage()));
                    }
                }
                default -> abandon(Status.INTERNAL.withDescription("expert node " + peer + " sent a "
                        + response.getBodyCase() + " message"));
            }
        }

        private void answered(ExpertResponse response) {
            ActivationFrame f = response.getFrame();
            Pending p = pending.remove(f.getStepId());
            if (p == null) {
                return; // an answer to a request already failed by its deadline: its caller has moved on
            }
            counters.expertResponseReceived(response.getSerializedSize());
            try {
                if (f.getLayer() != p.layer() || f.getRows() != p.rows() || f.getCols() != hidden) {
                    throw FrameRejected.badFrame("expert node " + peer + " answered request " + f.getStepId()
                            + " (layer " + p.layer() + ", " + p.rows() + " x " + hidden + ") with layer " + f.getLayer()
                            + ", " + f.getRows() + " x " + f.getCols());
                }
                p.result().complete(ActivationCodec.decode(f.getData(), f.getDtype(), p.rows(), hidden,
                        "the answer of expert node " + peer));
            } catch (FrameRejected e) {
                p.result().completeExceptionally(e);
            }
        }

        @Override
        public void onError(Throwable error) {
            out.closedByPeer();
            fail(Status.fromThrowable(error));
        }

        @Override
        public void onCompleted() {
            out.closedByPeer();
            fail(Status.UNAVAILABLE.withDescription("the expert node ended the stream"));
        }

        private void fail(Status status) {
            if (!broken) {
                failure = status;
                broken = true;
            }
            failAll(failure);
        }

        private void failAll(Status status) {
            HelloReply r = reply;
            String why = r != null && !r.getAccepted()
                    ? "refused the hello (" + r.getReason() + "): " + r.getMessage()
                    : status.getCode() + (status.getDescription() == null ? "" : ": " + status.getDescription());
            List<Long> ids = new ArrayList<>(pending.keySet());
            for (long id : ids) {
                Pending p = pending.remove(id);
                if (p != null) {
                    p.result().completeExceptionally(new PeerUnavailableException("expert node " + peer
                            + " failed layer " + p.layer() + ": " + why));
                }
            }
        }
    }
}
