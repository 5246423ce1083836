package dev.herd.cli.bench;

import dev.herd.coordinator.cluster.ClusterView;
import dev.herd.proto.v1.Hello;
import dev.herd.proto.v1.NodeRole;
import dev.herd.proto.v1.ShardServiceGrpc;
import dev.herd.proto.v1.StatsRequest;
import dev.herd.proto.v1.WireBytes;
import dev.herd.shard.NodeIdentity;
import dev.herd.shard.PeerChannels;
import io.grpc.StatusRuntimeException;

import java.util.concurrent.TimeUnit;

/**
 * The data-path bytes the nodes of a cluster sent, summed over nodes, from each node's {@code Stats}: stage
 * inputs between stages and expert requests and answers (gRPC message bytes; the coordinator's own input to the
 * first stage and the results relayed back are not in it).
 */
public final class NodeWire implements AutoCloseable {
    private final PeerChannels channels = new PeerChannels();
    private final Hello hello;

    public NodeWire(String modelDigest) {
        this.hello = new NodeIdentity("cluster-bench", modelDigest).hello(0, NodeRole.NODE_ROLE_COORDINATOR);
    }

    /** Every node's counters now, summed. */
    public WireBytes sum(ClusterView view) {
        WireBytes total = WireBytes.getDefaultInstance();
        for (var e : view.nodes().entrySet()) {
            WireBytes w;
            try {
                w = ShardServiceGrpc.newBlockingStub(channels.channel(e.getValue().grpcAddress()))
                        .withDeadlineAfter(10, TimeUnit.SECONDS)
                        .stats(StatsRequest.newBuilder().setHello(hello).build()).getWire();
            } catch (StatusRuntimeException x) {
                throw new IllegalStateException("node " + e.getKey() + " at " + e.getValue().grpcAddress()
                        + " did not answer Stats: " + x.getStatus(), x);
            }
            total = plus(total, w);
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
