package dev.herd.coordinator.plan;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Plans small enough to cost by hand, so the estimate's formulas are checked against arithmetic done
 * here, not against the planner's own numbers.
 */
class CostModelTest {
    private static final Link LINK = new Link(8, 100); // 1e9 bytes/s, 100 µs round trip
    private static final int HIDDEN = 1000;            // 4000 bytes per token on the wire (f32)
    private static final PlanOptions NO_KV = PlanOptions.defaults().withKvContextTokens(0);

    private static NodeCapacity node(String id, double gb, double bandwidthGBps) {
        return new NodeCapacity(NodeId.of(id), (long) (gb * 1e9), NodeBackend.CPU, bandwidthGBps, LINK);
    }

    @Test
    void twoStagePipelineCostsItsWeightsAndOneHop() {
        // two 10 GB dense layers, 1 GB embedding and head: 22 GB cannot fit one 12 GB node
        ModelShape shape = new ModelShape(HIDDEN, 1_000_000_000L, 1_000_000_000L, 0, false,
                List.of(LayerShape.dense(10_000_000_000L, 0), LayerShape.dense(10_000_000_000L, 0)));
        ClusterState cluster = ClusterState.of(List.of(node("a", 12, 100), node("b", 12, 100)));
        ShardPlan plan = Planner.plan(shape, cluster, ExpertLoad.uniform(), NO_KV, 7);
        PlanInvariants.assertValid(plan, shape, cluster, NO_KV);

        assertEquals(List.of(new Stage(NodeId.of("a"), new LayerRange(0, 1)), new Stage(NodeId.of("b"), new LayerRange(1, 2))),
                plan.stages());
        // both layers and the head streamed at 100 GB/s (the embedding is a row lookup), plus one hop:
        // 4000 bytes at 1e9 B/s and half a 100 µs round trip
        double streamed = (10e9 + 10e9 + 1e9) / 100e9;
        double hop = 4000 / 1e9 + 50e-6;
        assertEquals(streamed + hop, plan.cost().secondsPerToken(), 1e-12);
        assertEquals(4000, plan.cost().networkBytesPerToken(), 1e-9);
        assertEquals(0, plan.cost().roundTripsPerToken());
        assertEquals((10e9 + 1e9) / 100e9, plan.cost().bottleneckStageSeconds(), 1e-12, "stage b: a layer and the head");
        assertEquals(7, plan.epoch());
    }

    /**
     * One MoE layer (1 GB attention), four 1 GB experts, top-1, 0.5 GB embedding and head. A single layer
     * is a single stage, on "a" (400 GB/s, 4 GB), which has room for two experts beside the rest; the other
     * two must live on "b" (100 GB/s).
     */
    private static ModelShape oneMoeLayer() {
        return new ModelShape(HIDDEN, 500_000_000L, 500_000_000L, 0, false,
                List.of(new LayerShape(1_000_000_000L, 4, 1, 1_000_000_000L, 0)));
    }

    @Test
    void remoteExpertsCostOneCallPerNodeTouched() {
        ModelShape shape = oneMoeLayer();
        ClusterState cluster = ClusterState.of(List.of(node("a", 4, 400), node("b", 2.5, 100)));
        ShardPlan plan = Planner.plan(shape, cluster, ExpertLoad.uniform(), NO_KV.withReplication(false), 1);
        PlanInvariants.assertValid(plan, shape, cluster, NO_KV);
        NodeId a = NodeId.of("a");
        NodeId b = NodeId.of("b");
        assertEquals(List.of(new Stage(a, new LayerRange(0, 1))), plan.stages());
        // without replication the stage keeps the first experts (even load: any two are as good)
        assertEquals(Map.of(new ExpertKey(0, 0), List.of(a), new ExpertKey(0, 1), List.of(a),
                new ExpertKey(0, 2), List.of(b), new ExpertKey(0, 3), List.of(b)), plan.experts());

        // each expert has chance 1/4; b is called unless neither of its two experts is chosen
        double trips = 1 - 0.75 * 0.75;
        double local = (1e9 + 2 * 0.25 * 1e9 + 0.5e9) / 400e9; // attention, expected local experts, head
        double remote = 2 * 0.25 * 1e9 / 100e9;               // expected remote expert bytes on b
        double call = 100e-6 + 2 * 4000 / 1e9;                // round trip, hidden vector out and back
        assertEquals(local + remote + trips * call, plan.cost().secondsPerToken(), 1e-12);
        assertEquals(trips, plan.cost().roundTripsPerToken(), 1e-12);
        assertEquals(trips * 8000, plan.cost().networkBytesPerToken(), 1e-9);
    }

    @Test
    void hotExpertReplicasSaveRoundTripsByHand() {
        ModelShape shape = oneMoeLayer();
        // b now has room for all four experts, a still for two beside its attention
        ClusterState cluster = ClusterState.of(List.of(node("a", 4, 400), node("b", 4.5, 100)));
        ExpertLoad load = new ExpertLoad(Map.of(new ExpertKey(0, 0), 10L, new ExpertKey(0, 1), 10L,
                new ExpertKey(0, 2), 10L, new ExpertKey(0, 3), 70L));
        NodeId a = NodeId.of("a");
        NodeId b = NodeId.of("b");

        ShardPlan without = Planner.plan(shape, cluster, load, NO_KV.withReplication(false), 1);
        PlanInvariants.assertValid(without, shape, cluster, NO_KV);
        // primaries ignore the load: experts 0 and 1 stay, 2 and 3 (the hot one) are remote
        assertEquals(List.of(a), without.holders(0, 0));
        assertEquals(List.of(b), without.holders(0, 3));
        assertEquals(1 - 0.9 * 0.3, without.cost().roundTripsPerToken(), 1e-12);

        ShardPlan with = Planner.plan(shape, cluster, load, NO_KV, 1);
        PlanInvariants.assertValid(with, shape, cluster, NO_KV);
        // all primaries on b; a's room holds replicas: first the hot expert 3 (saves 0.729 - 0.2187 of a
        // call), then one of the three cold ones (each saves 0.81 - 0.729; the first wins the tie)
        assertEquals(List.of(b, a), with.holders(0, 3));
        assertEquals(List.of(b, a), with.holders(0, 0));
        assertEquals(List.of(b), with.holders(0, 1));
        assertEquals(List.of(b), with.holders(0, 2));
        assertEquals(a, with.servingNode(0, 3));
        double trips = 1 - 0.9 * 0.9;
        double local = (1e9 + (0.7 + 0.1) * 1e9 + 0.5e9) / 400e9;
        double remote = 0.2 * 1e9 / 100e9;
        double call = 100e-6 + 2 * 4000 / 1e9;
        assertEquals(trips, with.cost().roundTripsPerToken(), 1e-12);
        assertEquals(local + remote + trips * call, with.cost().secondsPerToken(), 1e-12);
    }
}
