package dev.herd.cli.bench;

import dev.herd.coordinator.cluster.ClusterView;
import dev.herd.proto.v1.Hello;
import dev.herd.proto.v1.NodeRole;
import dev.herd.proto.v1.ShardServiceGrpc;
import dev.herd.proto.v1.StageTimes;
import dev.herd.proto.v1.StatsReply;
import dev.herd.proto.v1.StatsRequest;
import dev.herd.proto.v1.WireBytes;
import dev.herd.shard.NodeIdentity;
import dev.herd.shard.PeerChannels;
import io.grpc.StatusRuntimeException;

import java.util.concurrent.TimeUnit;

/**
 * The data-path counters of a cluster's nodes, summed over nodes, from each node's {@code Stats}: the bytes they
 * sent (stage inputs between stages and expert requests and answers, as gRPC message bytes; the coordinator's own
 * input to the first stage and the results coming back are not in it) and the time their stage steps waited and
 * ran.
 */
public final class NodeWire implements AutoCloseable {
    private final PeerChannels channels = new PeerChannels();
    private final Hello hello;

    public NodeWire(String modelDigest) {
        this.hello = new NodeIdentity("cluster-bench", modelDigest).hello(0, NodeRole.NODE_ROLE_COORDINATOR);
    }

    /** Bytes sent and stage times, as counters: summed over nodes, and as differences over a run. */
    public record Counters(WireBytes wire, StageTimes stages) {
        public static final Counters ZERO = new Counters(WireBytes.getDefaultInstance(), StageTimes.getDefaultInstance());

        public Counters plus(Counters o) {
            return new Counters(NodeWire.plus(wire, o.wire), StageTimes.newBuilder()
                    .setSteps(stages.getSteps() + o.stages.getSteps())
                    .setQueuedNanos(stages.getQueuedNanos() + o.stages.getQueuedNanos())
                    .setRunNanos(stages.getRunNanos() + o.stages.getRunNanos()).build());
        }

        public Counters minus(Counters before) {
            return new Counters(NodeWire.minus(wire, before.wire), StageTimes.newBuilder()
                    .setSteps(stages.getSteps() - before.stages.getSteps())
                    .setQueuedNanos(stages.getQueuedNanos() - before.stages.getQueuedNanos())
                    .setRunNanos(stages.getRunNanos() - before.stages.getRunNanos()).build());
        }
    }

    /** Every node's counters now, summed. */
    public Counters sum(ClusterView view) {
        Counters total = Counters.ZERO;
        for (var e : view.nodes().entrySet()) {
            StatsReply s;
            try {
                s = ShardServiceGrpc.newBlockingStub(channels.channel(e.getValue().grpcAddress()))
                        .withDeadlineAfter(10, TimeUnit.SECONDS)
                        .stats(StatsRequest.newBuilder().setHello(hello).build());
            } catch (StatusRuntimeException x) {
                throw new IllegalStateException("node " + e.getKey() + " at " + e.getValue().grpcAddress()
                        + " did not answer Stats: " + x.getStatus(), x);
            }
            total = total.plus(new Counters(s.getWire(), s.getStageTimes()));
        }
        return total;
    }

    /** {@code a + b}, field by field. */
    public static WireBytes plus(WireBytes a, WireBytes b) {
        return WireBytes.newBuilder()
                .setStageInputs(a.getStageInputs() + b.getStageInputs())
                .setStageInputBytes(a.getStageInputBytes() + b.getStageInputBytes())
                .setExpertRequests(a.getExpertRequests() + b.getExpertRequests())
                .setExpertRequestBytes(a.getExpertRequestBytes() + b.getExpertRequestBytes())
                .setExpertResponseBytes(a.getExpertResponseBytes() + b.getExpertResponseBytes())
                .build();
    }

    /** {@code after - before}, field by field. */
    public static WireBytes minus(WireBytes after, WireBytes before) {
        return WireBytes.newBuilder()
                .setStageInputs(after.getStageInputs() - before.getStageInputs())
                .setStageInputBytes(after.getStageInputBytes() - before.getStageInputBytes())
                .setExpertRequests(after.getExpertRequests() - before.getExpertRequests())
                .setExpertRequestBytes(after.getExpertRequestBytes() - before.getExpertRequestBytes())
                .setExpertResponseBytes(after.getExpertResponseBytes() - before.getExpertResponseBytes())
                .build();
    }

    @Override
    public void close() {
        channels.close();
    }
}
