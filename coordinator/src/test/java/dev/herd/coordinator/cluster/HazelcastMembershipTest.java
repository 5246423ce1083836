package dev.herd.coordinator.cluster;

import dev.herd.coordinator.plan.ExpertLoad;
import dev.herd.coordinator.plan.ModelShape;
import dev.herd.coordinator.plan.NodeId;
import dev.herd.coordinator.plan.PlanOptions;
import dev.herd.coordinator.plan.Planner;
import dev.herd.coordinator.plan.ShardPlan;
import dev.herd.coordinator.plan.WeightTypes;
import dev.herd.kernels.DType;
import dev.herd.model.config.HfConfigReader;
import dev.herd.model.config.ModelConfig;
import dev.herd.shard.discovery.ClusterSettings;
import dev.herd.shard.discovery.NodeAdvertisement;
import dev.herd.shard.discovery.NodeMembership;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Discovery end to end on loopback: shard nodes join through Hazelcast advertising their capacity, the
 * coordinator's view and plan follow, and a node that dies without goodbye is dropped and planned around.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HazelcastMembershipTest {

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    static ClusterView await(ClusterSupervisor s, Predicate<ClusterView> condition, String what)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (condition.test(s.view())) {
                return s.view();
            }
            Thread.sleep(50);
        }
        throw new AssertionError("timed out waiting for " + what + "; view: " + s.view());
    }

    @Test
    void nodesJoinAdvertiseAndAreDroppedWhenTheyDie() throws Exception {
        int cPort = freePort();
        int aPort = freePort();
        int bPort = freePort();
        List<String> seeds = List.of("127.0.0.1:" + cPort, "127.0.0.1:" + aPort, "127.0.0.1:" + bPort);
        String name = "herd-test-" + cPort;
        ModelConfig mixtral = HfConfigReader.read(Path.of("../model/src/test/resources/configs/mixtral-8x7b.json"));
        ModelShape shape = ModelShape.of(mixtral, WeightTypes.all(DType.Q4_0));
        try (ClusterSupervisor coordinator = ClusterSupervisor.start(
                new ClusterSettings(name, "127.0.0.1", cPort, seeds), "herd-coordinator-" + cPort);
             NodeMembership a = NodeMembership.join(new ClusterSettings(name, "127.0.0.1", aPort, seeds),
                     new NodeAdvertisement("node-a", "127.0.0.1:7001", 20L << 30, "cpu", 40, 10, 200));
             NodeMembership b = NodeMembership.join(new ClusterSettings(name, "127.0.0.1", bPort, seeds),
                     new NodeAdvertisement("node-b", "127.0.0.1:7002", 20L << 30, "cpu", 40, 10, 200))) {
            ClusterView two = await(coordinator, v -> v.nodes().size() == 2, "two nodes");
            assertEquals("127.0.0.1:7002", two.nodes().get(NodeId.of("node-b")).grpcAddress());
            assertEquals(20L << 30, two.nodes().get(NodeId.of("node-a")).capacity().usableMemoryBytes());

            // Mixtral 8x7B in Q4_0 (~26 GB) needs both 20 GB nodes
            ShardPlan plan = Planner.plan(shape, two.toClusterState(), ExpertLoad.uniform(), PlanOptions.defaults(), 1);
            assertEquals(2, plan.stages().size());

            b.crash();
            ClusterView one = await(coordinator, v -> v.nodes().size() == 1, "node-b to be seen gone");
            assertEquals(Set.of(NodeId.of("node-a")), one.nodes().keySet());
            var e = org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class,
                    () -> Planner.plan(shape, one.toClusterState(), ExpertLoad.uniform(), PlanOptions.defaults(), 2));
            assertTrue(e.getMessage().contains("missing"), e.getMessage());
        }
    }
}
