package dev.herd.shard;

import dev.herd.kernels.ReferenceBackend;
import dev.herd.model.config.Architecture;
import dev.herd.model.config.ModelConfig;
import dev.herd.proto.v1.NodeRole;
import dev.herd.proto.v1.ShardServiceGrpc;
import dev.herd.proto.v1.StatsRequest;
import dev.herd.proto.v1.StageTimes;
import dev.herd.proto.v1.StatsReply;
import dev.herd.proto.v1.WireBytes;
import io.grpc.ManagedChannel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code Stats} reports the data-path bytes each node sent, so a benchmark on other processes can measure bytes
 * per token: step inputs only where there is a next stage, expert traffic only where a stage calls expert nodes,
 * each at least its activation payload and at most that plus a bounded amount of metadata per message.
 */
class StatsWireTest {
    static final int DECODED = 5;
    /** Ids, positions, routing and gRPC's prefix of one small frame: generous, but far below one hidden row. */
    static final int METADATA_PER_MESSAGE = 96;

    @Test
    void statsCountWhatEachNodeSent(@TempDir Path dir) throws Exception {
        Path model = TestModels.write(dir, Architecture.MIXTRAL);
        try (ReferenceBackend backend = new ReferenceBackend(1);
             LocalCluster cluster = new LocalCluster(model, backend)) {
            var split = DistributedEqualsLocalTest.Split.start(cluster,
                    DistributedEqualsLocalTest.Topology.TWO_STAGES_REMOTE_EXPERTS, s -> s, s -> s);
            ModelConfig c = cluster.config();
            long started = System.nanoTime();
            try (PipelineDriver driver = new PipelineDriver(split.first().server().address(),
                    split.first().node().identity().modelDigest(), DistributedEqualsLocalTest.EPOCH)) {
                int token = driver.prefill(1, TestModels.PROMPT).getTokens(0).getTokenId();
                for (int i = 0; i < DECODED; i++) {
                    token = driver.decode(1, TestModels.PROMPT.length + i, token).getTokens(0).getTokenId();
                }
            }
            int rowBytes = c.hiddenSize() * Float.BYTES;
            long rows = TestModels.PROMPT.length + DECODED;
            long steps = 1 + DECODED;

            long before = System.nanoTime();
            for (LocalCluster.Node stage : split.stages()) {
                StageTimes t = fullStats(stage).getStageTimes();
                assertEquals(steps, t.getSteps(), "every stage ran every step: " + t);
                assertTrue(t.getRunNanos() > 0 && t.getQueuedNanos() >= 0, t.toString());
                assertTrue(t.getRunNanos() + t.getQueuedNanos() < before - started,
                        "a stage's time fits in the time the steps took: " + t);
            }
            for (LocalCluster.Node n : split.expertNodes()) {
                assertEquals(StageTimes.getDefaultInstance(), fullStats(n).getStageTimes(), "expert nodes run no stage");
            }

            WireBytes first = stats(split.first());
            assertEquals(steps, first.getStageInputs(), "one step input per step to the second stage");
            assertTrue(first.getStageInputBytes() >= rows * rowBytes, "payload: " + first);
            assertTrue(first.getStageInputBytes() <= rows * rowBytes + steps * (METADATA_PER_MESSAGE + rows * 8),
                    "payload plus metadata: " + first);
            assertTrue(first.getExpertRequests() > 0 && first.getExpertResponseBytes() > 0, first.toString());
            assertTrue(first.getExpertRequestBytes() >= first.getExpertRequests() * rowBytes, first.toString());
            assertEquals(split.first().node().wire().snapshot(), snapshot(first), "the node's own counters");

            WireBytes last = stats(split.stages().getLast());
            assertEquals(0, last.getStageInputs(), "the last stage has no next stage");
            assertEquals(0, last.getStageInputBytes());
            assertTrue(last.getExpertRequests() > 0, last.toString());

            List<WireBytes> expertNodes = new ArrayList<>();
            for (LocalCluster.Node n : split.expertNodes()) {
                expertNodes.add(stats(n));
            }
            for (WireBytes e : expertNodes) {
                assertEquals(WireBytes.getDefaultInstance(), e, "expert nodes originate nothing: they only answer");
            }
        }
    }

    private static WireBytes stats(LocalCluster.Node n) {
        return fullStats(n).getWire();
    }

    private static StatsReply fullStats(LocalCluster.Node n) {
        ManagedChannel channel = PeerChannels.open(n.server().address());
        try {
            return ShardServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .stats(StatsRequest.newBuilder().setHello(new NodeIdentity("coordinator",
                            n.node().identity().modelDigest()).hello(0, NodeRole.NODE_ROLE_COORDINATOR)).build());
        } finally {
            channel.shutdownNow();
        }
    }

    private static WireCounters.Snapshot snapshot(WireBytes w) {
        return new WireCounters.Snapshot(w.getStageInputs(), w.getStageInputBytes(), w.getExpertRequests(),
                w.getExpertRequestBytes(), w.getExpertResponseBytes());
    }
}
