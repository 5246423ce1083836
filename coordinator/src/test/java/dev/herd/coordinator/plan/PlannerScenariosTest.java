package dev.herd.coordinator.plan;

import dev.herd.kernels.DType;
import dev.herd.model.config.ModelConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static dev.herd.coordinator.plan.Fixtures.GB;
import static dev.herd.coordinator.plan.Fixtures.cluster;
import static dev.herd.coordinator.plan.Fixtures.config;
import static dev.herd.coordinator.plan.Fixtures.cpu;
import static dev.herd.coordinator.plan.Fixtures.equalCpus;
import static dev.herd.coordinator.plan.Fixtures.gpu;
import static dev.herd.coordinator.plan.Fixtures.plan;
import static dev.herd.coordinator.plan.Fixtures.shape;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real models on clusters of the kind Herd is for; each case says what a sensible plan looks like. */
class PlannerScenariosTest {
    private static final PlanOptions DEFAULTS = PlanOptions.defaults();
    private static final Pattern MISSING = Pattern.compile(
            "needs ([0-9.]+) GB, cluster has ([0-9.]+) GB usable: ([0-9.]+) GB missing");

    /** Bytes a token streams, from the published-style parameter counts: active weights without the embedding. */
    private static double streamedBytes(ModelConfig c, double bytesPerParameter) {
        return (c.activeParameterCount() - (double) c.vocabSize() * c.hiddenSize()) * bytesPerParameter;
    }

    @Test
    void maverickInBf16DoesNotFitOnFourNodesAndSaysByHowMuch() {
        ModelConfig c = config("llama4-maverick-17b-128e.json");
        ModelShape shape = ModelShape.of(c, WeightTypes.all(DType.BF16));
        InfeasiblePlanException e = assertThrows(InfeasiblePlanException.class,
                () -> plan(shape, equalCpus(4, 128)));
        // two bytes per parameter, plus f32 keys and values for 4096 tokens in each of the 48 layers
        double needed = (2.0 * c.parameterCount() + 4096.0 * c.numLayers() * 2 * c.kvDim() * 4) / GB;
        Matcher m = MISSING.matcher(e.getMessage());
        assertTrue(m.find(), e.getMessage());
        assertEquals(needed, Double.parseDouble(m.group(1)), 0.051, e.getMessage());
        assertEquals(512.0, Double.parseDouble(m.group(2)), 0.051, e.getMessage());
        assertEquals(needed - 512, Double.parseDouble(m.group(3)), 0.051, e.getMessage());
        assertTrue(needed > 795 && needed < 810, "Maverick BF16 is about 800 GB: " + needed);
        assertEquals(needed - 512, e.missingBytes() / GB, 1e-6);
    }

    @Test
    void aLayerTooBigForEveryNodeIsNamed() {
        ModelShape shape = new ModelShape(1024, 1_000_000, 1_000_000, 0, false,
                List.of(LayerShape.dense(1_000_000_000, 0), LayerShape.dense(10_000_000_000L, 0)));
        InfeasiblePlanException e = assertThrows(InfeasiblePlanException.class,
                () -> plan(shape, equalCpus(4, 8)));
        assertTrue(e.getMessage().startsWith("layer 1's attention"), e.getMessage());
        assertTrue(e.getMessage().contains("need 10.0 GB") && e.getMessage().contains("2.0 GB missing"), e.getMessage());
    }

    @Test
    void enoughMemoryInPiecesThatNothingCanUseIsRefusedToo() {
        // 12 GB of dense layers on two 7 GB nodes, but only one stage allowed and no experts to move away
        ModelShape shape = new ModelShape(1024, 1_000_000, 1_000_000, 0, false,
                List.of(LayerShape.dense(6_000_000_000L, 0), LayerShape.dense(6_000_000_000L, 0)));
        ClusterState cluster = equalCpus(2, 7);
        InfeasiblePlanException e = assertThrows(InfeasiblePlanException.class,
                () -> Planner.plan(shape, cluster, ExpertLoad.uniform(), DEFAULTS.withMaxStages(1), 1));
        assertTrue(e.getMessage().startsWith("no placement fits"), e.getMessage());
        assertTrue(e.getMessage().contains("at most 1 stage"), e.getMessage());
        assertEquals(0, e.missingBytes());
        // with two stages it fits
        PlanInvariants.assertValid(plan(shape, cluster), shape, cluster, DEFAULTS);
    }

    @Test
    void badInputsAreRefusedByName() {
        IllegalArgumentException twice = assertThrows(IllegalArgumentException.class,
                () -> cluster(cpu("a", 8), cpu("a", 16)));
        assertTrue(twice.getMessage().contains("node a is listed twice"), twice.getMessage());
        ModelShape mixtral = shape("mixtral-8x7b.json", DType.Q4_0);
        ExpertLoad wrong = new ExpertLoad(Map.of(new ExpertKey(3, 8), 5L));
        IllegalArgumentException load = assertThrows(IllegalArgumentException.class,
                () -> Planner.plan(mixtral, equalCpus(2, 16), wrong, DEFAULTS, 1));
        assertTrue(load.getMessage().contains("layer 3 expert 8") && load.getMessage().contains("8 experts"),
                load.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new ExpertLoad(Map.of(new ExpertKey(0, 0), -1L)));
    }

    @Test
    void aModelThatFitsOneNodeIsOneStageWithEverythingLocal() {
        ModelConfig c = config("mixtral-8x7b.json");
        ModelShape shape = ModelShape.of(c, WeightTypes.all(DType.Q4_0));
        ClusterState cluster = cluster(cpu("a", 16), cpu("b", 64), cpu("c", 16));
        ShardPlan plan = plan(shape, cluster);
        PlanInvariants.assertValid(plan, shape, cluster, DEFAULTS);
        assertEquals(List.of(new Stage(NodeId.of("b"), new LayerRange(0, 32))), plan.stages());
        assertTrue(plan.remoteExperts().isEmpty());
        assertTrue(plan.experts().values().stream().allMatch(h -> h.equals(List.of(NodeId.of("b")))));
        assertEquals(0, plan.cost().networkBytesPerToken());
        // one node streams the active weights once per token (Q4_0: 18 bytes per 32 weights)
        assertEquals(streamedBytes(c, 18 / 32.0) / 50e9, plan.cost().secondsPerToken(),
                0.01 * plan.cost().secondsPerToken());
    }

    @Test
    void mixtralOnTwoSixteenGigabyteNodesIsTwoBalancedStages() {
        ModelShape shape = shape("mixtral-8x7b.json", DType.Q4_0);
        ClusterState cluster = equalCpus(2, 16);
        ShardPlan plan = plan(shape, cluster);
        PlanInvariants.assertValid(plan, shape, cluster, DEFAULTS);
        assertEquals(2, plan.stages().size());
        int first = plan.stages().get(0).layers().size();
        int second = plan.stages().get(1).layers().size();
        assertTrue(Math.abs(first - second) <= 1, plan.stages().toString());
        assertTrue(plan.remoteExperts().isEmpty(), "both halves fit, so no expert is remote");
        assertEquals(4096 * 4, plan.cost().networkBytesPerToken(), 1e-9, "one hidden vector per token between stages");
        assertEquals(0, plan.cost().roundTripsPerToken());
    }

    static Stream<ClusterState> oneBigNode() {
        return Stream.of(
                cluster(cpu("a", 8), cpu("b", 64), cpu("c", 8), cpu("d", 8)),
                // the big node is too small alone for Q8_0, so the small ones must help
                cluster(cpu("a", 8), cpu("b", 40), cpu("c", 8), cpu("d", 8)));
    }

    @ParameterizedTest
    @MethodSource("oneBigNode")
    void theBigNodeGetsTheMostLayers(ClusterState cluster) {
        for (DType type : List.of(DType.Q4_0, DType.Q8_0)) {
            ModelShape shape = shape("mixtral-8x7b.json", type);
            if (shape.totalWeightBytes() + 4096 * shape.kvBytesPerToken() > cluster.totalUsableBytes()) {
                continue;
            }
            ShardPlan plan = plan(shape, cluster);
            PlanInvariants.assertValid(plan, shape, cluster, DEFAULTS);
            Stage big = plan.stages().stream().filter(s -> s.node().equals(NodeId.of("b"))).findFirst().orElseThrow();
            for (Stage s : plan.stages()) {
                assertTrue(big.layers().size() >= s.layers().size(), type + ": " + plan.stages());
            }
            assertTrue(plan.nodes().get(NodeId.of("b")).weightBytes() >= plan.nodes().values().stream()
                    .mapToLong(NodeAllocation::weightBytes).max().orElseThrow(), type + " " + plan.nodes());
        }
    }

    @Test
    void qwen3With235BOnEightSmallNodesIsAPipelineWithSaneCosts() {
        ModelConfig c = config("qwen3-235b-a22b.json");
        ModelShape shape = ModelShape.of(c, WeightTypes.all(DType.Q4_K));
        ClusterState cluster = equalCpus(8, 24);
        ShardPlan plan = plan(shape, cluster);
        PlanInvariants.assertValid(plan, shape, cluster, DEFAULTS);
        // about 132 GB over 24 GB nodes: six or more stages, and whole layers fit, so nothing is remote
        int stages = plan.stages().size();
        assertTrue(stages >= 6 && stages <= 8, plan.stages().toString());
        assertTrue(plan.remoteExperts().isEmpty(), "remote experts only where needed");
        CostEstimate cost = plan.cost();
        assertEquals(0, cost.roundTripsPerToken());
        assertEquals((stages - 1) * 4096 * 4, cost.networkBytesPerToken(), 1e-9);
        // Q4_K is 144 bytes per 256 weights, but the routers stay F32 (4 bytes); at 50 GB/s a token costs
        // its active bytes, plus a hop per stage boundary (16 KB at 10 Gbit/s and 50 µs)
        double routers = (double) c.numLayers() * c.moe().numExperts() * c.hiddenSize() * (4 - 144 / 256.0);
        double hops = (stages - 1) * (16384 / 1.25e9 + 50e-6);
        assertEquals((streamedBytes(c, 144 / 256.0) + routers) / 50e9 + hops, cost.secondsPerToken(),
                0.002 * cost.secondsPerToken());
        assertTrue(cost.secondsPerToken() > 0.2 && cost.secondsPerToken() < 0.3, cost.toString());
        assertTrue(cost.bottleneckStageSeconds() >= cost.secondsPerToken() / stages * 0.9, cost.toString());
    }

    @Test
    void aStageLimitForcesRemoteExpertsOntoTheOtherNodes() {
        ModelShape shape = shape("qwen3-235b-a22b.json", DType.Q4_K);
        ClusterState cluster = equalCpus(8, 24);
        PlanOptions four = DEFAULTS.withMaxStages(4);
        ShardPlan plan = Planner.plan(shape, cluster, ExpertLoad.uniform(), four, 1);
        PlanInvariants.assertValid(plan, shape, cluster, four);
        assertEquals(4, plan.stages().size());
        assertFalse(plan.remoteExperts().isEmpty(), "four 24 GB nodes cannot hold 132 GB");
        // every MoE layer calls at most the four non-stage nodes, and most of them at least one
        CostEstimate cost = plan.cost();
        assertTrue(cost.roundTripsPerToken() > 1 && cost.roundTripsPerToken() < 94 * 4, cost.toString());
        assertEquals(3 * 16384 + cost.roundTripsPerToken() * 2 * 16384, cost.networkBytesPerToken(), 1e-6);
    }

    @Test
    void theCostModelMovesExpertsOffAFastNodeWhenThatIsFaster() {
        // a GPU too small for Qwen3-30B-A3B (about 17 GB in Q4_K) beside two CPU nodes that can hold it
        ModelShape shape = shape("qwen3-30b-a3b.json", DType.Q4_K);
        ClusterState withGpu = cluster(gpu("gpu", 8, 1000), cpu("c1", 32), cpu("c2", 32));
        ShardPlan fast = plan(shape, withGpu);
        PlanInvariants.assertValid(fast, shape, withGpu, DEFAULTS);
        assertEquals(List.of(new Stage(NodeId.of("gpu"), new LayerRange(0, 48))), fast.stages(),
                "attention on the GPU, experts that do not fit on the CPUs");
        assertFalse(fast.remoteExperts().isEmpty());

        ClusterState cpusOnly = withGpu.without(NodeId.of("gpu"));
        ShardPlan slow = plan(shape, cpusOnly);
        PlanInvariants.assertValid(slow, shape, cpusOnly, DEFAULTS);
        assertTrue(slow.remoteExperts().isEmpty(), "one CPU holds it all: a plain pipeline");
        assertTrue(fast.cost().secondsPerToken() < slow.cost().secondsPerToken(),
                fast.cost() + " vs " + slow.cost());
    }
}
