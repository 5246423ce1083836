package dev.herd.coordinator.cluster;

import dev.herd.coordinator.plan.ClusterState;
import dev.herd.coordinator.plan.ExpertLoad;
import dev.herd.coordinator.plan.Link;
import dev.herd.coordinator.plan.ModelShape;
import dev.herd.coordinator.plan.NodeBackend;
import dev.herd.coordinator.plan.NodeCapacity;
import dev.herd.coordinator.plan.NodeId;
import dev.herd.coordinator.plan.PlanOptions;
import dev.herd.coordinator.plan.Planner;
import dev.herd.coordinator.plan.ShardPlan;
import dev.herd.coordinator.plan.Stage;
import dev.herd.coordinator.plan.WeightTypes;
import dev.herd.kernels.DType;
import dev.herd.model.config.HfConfigReader;
import dev.herd.model.config.ModelConfig;
import dev.herd.shard.ExpertPeer;
import dev.herd.shard.ExpertRef;
import dev.herd.shard.ShardAssignment;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each node's part says what the plan says about that node, and every stage can reach each of its experts once. */
class PlanAssignmentsTest {

    /** Mixtral 8x7B in Q4_0 (~26 GB) over nodes of these sizes (GB). */
    @ParameterizedTest
    @ValueSource(strings = {"20,20", "14,14,14", "30,6,6,6", "10,10,10,10"})
    void partsFollowThePlan(String sizes) throws Exception {
        ModelConfig c = HfConfigReader.read(Path.of("../model/src/test/resources/configs/mixtral-8x7b.json"));
        List<NodeCapacity> nodes = new ArrayList<>();
        Map<NodeId, String> addresses = new TreeMap<>();
        String[] gb = sizes.split(",");
        for (int i = 0; i < gb.length; i++) {
            NodeId id = NodeId.of("n" + i);
            nodes.add(new NodeCapacity(id, (long) (Double.parseDouble(gb[i]) * 1e9), NodeBackend.CPU, 40,
                    new Link(10, 200)));
            addresses.put(id, "127.0.0.1:" + (7000 + i));
        }
        ShardPlan plan = Planner.plan(ModelShape.of(c, WeightTypes.all(DType.Q4_0)), ClusterState.of(nodes),
                ExpertLoad.uniform(), PlanOptions.defaults(), 3);
        Map<NodeId, ShardAssignment> parts = PlanAssignments.of(plan, c, addresses);

        Map<NodeId, Set<ExpertRef>> held = new HashMap<>();
        plan.experts().forEach((k, hs) -> hs.forEach(
                n -> held.computeIfAbsent(n, x -> new HashSet<>()).add(new ExpertRef(k.layer(), k.expert()))));
        for (Map.Entry<NodeId, ShardAssignment> e : parts.entrySet()) {
            ShardAssignment a = e.getValue();
            assertEquals(3, a.planEpoch());
            assertEquals(held.getOrDefault(e.getKey(), Set.of()), new HashSet<>(a.experts()), "experts held by " + e.getKey());
            assertEquals(e.getKey().equals(plan.embedding()), a.embedding());
            assertEquals(e.getKey().equals(plan.lmHead()), a.lmHead());
        }
        List<Stage> stages = plan.stages();
        for (int s = 0; s < stages.size(); s++) {
            Stage stage = stages.get(s);
            ShardAssignment a = parts.get(stage.node());
            assertEquals(stage.layers().start(), a.layers().start());
            assertEquals(stage.layers().end(), a.layers().end());
            if (s + 1 < stages.size()) {
                NodeId next = stages.get(s + 1).node();
                assertEquals(next.value(), a.nextStage().nodeId());
                assertEquals(addresses.get(next), a.nextStage().address());
            } else {
                assertNull(a.nextStage());
            }
            Map<ExpertRef, String> reach = new HashMap<>();
            a.experts().forEach(x -> reach.put(x, stage.node().value()));
            for (ExpertPeer p : a.expertPeers()) {
                for (ExpertRef x : p.experts()) {
                    assertNull(reach.put(x, p.peer().nodeId()), x + " reachable twice from " + stage.node());
                    assertTrue(held.get(NodeId.of(p.peer().nodeId())).contains(x), p.peer() + " does not hold " + x);
                    assertEquals(addresses.get(NodeId.of(p.peer().nodeId())), p.peer().address());
                }
            }
            for (int l = stage.layers().start(); l < stage.layers().end(); l++) {
                for (int x = 0; x < c.moe().numExperts(); x++) {
                    assertEquals(plan.servingNode(l, x).value(), reach.get(new ExpertRef(l, x)),
                            "who serves layer " + l + " expert " + x + " to stage " + stage.node());
                }
            }
        }
        // every node the plan gives something to has a part, and none other
        Set<NodeId> used = new HashSet<>(held.keySet());
        stages.forEach(st -> used.add(st.node()));
        assertEquals(used, parts.keySet());
    }

    @org.junit.jupiter.api.Test
    void aNodeWithoutAnAddressIsNamed() throws Exception {
        ModelConfig c = HfConfigReader.read(Path.of("../model/src/test/resources/configs/mixtral-8x7b.json"));
        ShardPlan plan = Planner.plan(ModelShape.of(c, WeightTypes.all(DType.Q4_0)), ClusterState.of(List.of(
                        new NodeCapacity(NodeId.of("a"), 20_000_000_000L, NodeBackend.CPU, 40, new Link(10, 200)),
                        new NodeCapacity(NodeId.of("b"), 20_000_000_000L, NodeBackend.CPU, 40, new Link(10, 200)))),
                ExpertLoad.uniform(), PlanOptions.defaults(), 1);
        var e = assertThrows(IllegalArgumentException.class,
                () -> PlanAssignments.of(plan, c, Map.of(NodeId.of("a"), "127.0.0.1:1")));
        assertTrue(e.getMessage().contains("node b"), e.getMessage());
    }
}
