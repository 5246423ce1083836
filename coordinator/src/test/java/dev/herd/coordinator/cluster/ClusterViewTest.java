package dev.herd.coordinator.cluster;

import dev.herd.coordinator.plan.Link;
import dev.herd.coordinator.plan.NodeBackend;
import dev.herd.coordinator.plan.NodeCapacity;
import dev.herd.coordinator.plan.NodeId;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The membership reducer on its own: no Hazelcast, no threads. */
class ClusterViewTest {
    static NodeCapacity cap(String id, long gb) {
        return new NodeCapacity(NodeId.of(id), gb << 30, NodeBackend.CPU, 40, new Link(10, 200));
    }

    @Test
    void joinsLeavesAndRejections() {
        ClusterView v = ClusterView.empty()
                .apply(new ClusterEvent.NodeJoined(cap("b", 16), "127.0.0.1:2"))
                .apply(new ClusterEvent.NodeJoined(cap("a", 32), "127.0.0.1:1"));
        assertEquals(2, v.nodes().size());
        assertEquals(2, v.version());
        assertEquals(NodeId.of("a"), v.toClusterState().nodes().get(0).id(), "the planner sees nodes in id order");

        ClusterView rejoined = v.apply(new ClusterEvent.NodeJoined(cap("a", 64), "127.0.0.1:9"));
        assertEquals(64L << 30, rejoined.nodes().get(NodeId.of("a")).capacity().usableMemoryBytes());
        assertEquals("127.0.0.1:9", rejoined.nodes().get(NodeId.of("a")).grpcAddress());

        ClusterView left = rejoined.apply(new ClusterEvent.NodeLeft(NodeId.of("b")));
        assertEquals(1, left.nodes().size());
        assertSame(left, left.apply(new ClusterEvent.NodeLeft(NodeId.of("never-seen"))), "unknown nodes change nothing");

        ClusterView rejected = left.apply(new ClusterEvent.NodeRejected("member [127.0.0.1]:5703", "no herd.grpc"));
        assertEquals(1, rejected.nodes().size());
        assertTrue(rejected.rejected().get("member [127.0.0.1]:5703").contains("herd.grpc"));
    }
}
