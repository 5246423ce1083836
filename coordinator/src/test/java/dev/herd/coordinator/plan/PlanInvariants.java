package dev.herd.coordinator.plan;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What every plan must satisfy, checked from the plan's structure alone: the node byte counts are
 * recomputed here from stages and holders, not read from the planner's bookkeeping.
 */
final class PlanInvariants {
    private PlanInvariants() {
    }

    static void assertValid(ShardPlan plan, ModelShape shape, ClusterState cluster, PlanOptions options) {
        // stages cover every layer once, in order, each on its own node of the cluster
        int next = 0;
        Set<NodeId> stageNodes = new HashSet<>();
        for (Stage s : plan.stages()) {
            assertEquals(next, s.layers().start(), "stages must be contiguous: " + plan.stages());
            assertTrue(s.layers().end() > s.layers().start());
            assertTrue(stageNodes.add(s.node()), "node " + s.node() + " runs two stages");
            assertTrue(cluster.indexOf(s.node()) >= 0, "stage on unknown node " + s.node());
            next = s.layers().end();
        }
        assertEquals(shape.numLayers(), next, "stages must end at the last layer");
        assertTrue(plan.stages().size() <= options.maxStages());
        assertEquals(plan.stages().getFirst().node(), plan.embedding(), "the first stage embeds");
        assertEquals(plan.stages().getLast().node(), plan.lmHead(), "the last stage holds the LM head");

        // every expert placed at least once, on distinct known nodes; nothing else in the map
        List<ExpertKey> expected = new ArrayList<>();
        for (int l = 0; l < shape.numLayers(); l++) {
            for (int e = 0; e < shape.layer(l).numExperts(); e++) {
                expected.add(new ExpertKey(l, e));
            }
        }
        assertEquals(expected, new ArrayList<>(plan.experts().keySet()), "the expert map lists exactly the model's experts");
        plan.experts().forEach((k, holders) -> {
            assertFalse(holders.isEmpty(), k + " is not placed");
            assertEquals(holders.size(), new HashSet<>(holders).size(), "duplicate holder of " + k + ": " + holders);
            for (NodeId n : holders) {
                assertTrue(cluster.indexOf(n) >= 0, k + " on unknown node " + n);
            }
        });

        // memory: recompute each node's bytes and compare with the summary and the node's capacity
        Map<NodeId, long[]> bytes = new TreeMap<>();
        for (NodeCapacity n : cluster.nodes()) {
            bytes.put(n.id(), new long[2]);
        }
        for (Stage s : plan.stages()) {
            for (int l = s.layers().start(); l < s.layers().end(); l++) {
                bytes.get(s.node())[0] += shape.layer(l).nonExpertBytes();
                bytes.get(s.node())[1] += options.kvContextTokens() * shape.layer(l).kvBytesPerToken();
            }
        }
        plan.experts().forEach((k, holders) -> holders.forEach(n -> bytes.get(n)[0] += shape.layer(k.layer()).expertBytes()));
        bytes.get(plan.embedding())[0] += shape.embeddingBytes();
        bytes.get(plan.lmHead())[0] += shape.finalNormBytes()
                + (shape.tiedEmbeddings() && plan.lmHead().equals(plan.embedding()) ? 0 : shape.lmHeadBytes());
        assertEquals(cluster.size(), plan.nodes().size(), "the summary lists every node");
        for (NodeCapacity n : cluster.nodes()) {
            long[] b = bytes.get(n.id());
            NodeAllocation a = plan.nodes().get(n.id());
            assertEquals(b[0], a.weightBytes(), n.id() + " weights");
            assertEquals(b[1], a.kvReserveBytes(), n.id() + " KV reserve");
            assertEquals(n.usableMemoryBytes(), a.usableBytes());
            assertTrue(b[0] + b[1] <= n.usableMemoryBytes(), n.id() + ": " + b[0] + " + " + b[1]
                    + " bytes assigned, " + n.usableMemoryBytes() + " usable");
        }

        CostEstimate c = plan.cost();
        assertTrue(c.secondsPerToken() > 0 && Double.isFinite(c.secondsPerToken()), "cost " + c);
        assertTrue(c.bottleneckStageSeconds() <= c.secondsPerToken() * (1 + 1e-12), "cost " + c);
        assertTrue(c.roundTripsPerToken() >= 0 && c.networkBytesPerToken() >= 0, "cost " + c);
        if (plan.remoteExperts().isEmpty()) {
            assertEquals(0, c.roundTripsPerToken(), "no remote experts, no round trips");
        }
    }
}
