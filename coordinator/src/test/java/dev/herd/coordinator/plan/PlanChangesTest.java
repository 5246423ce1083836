package dev.herd.coordinator.plan;

import dev.herd.kernels.DType;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;

import static dev.herd.coordinator.plan.Fixtures.cluster;
import static dev.herd.coordinator.plan.Fixtures.cpu;
import static dev.herd.coordinator.plan.Fixtures.equalCpus;
import static dev.herd.coordinator.plan.Fixtures.gpu;
import static dev.herd.coordinator.plan.Fixtures.plan;
import static dev.herd.coordinator.plan.Fixtures.shape;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Plans as they change: nodes leaving, load shifting, the same inputs again. */
class PlanChangesTest {
    private static final PlanOptions DEFAULTS = PlanOptions.defaults();

    /** (node, group) pairs read straight off stages and holders, without {@link ShardPlan#assignments()}. */
    private static Set<String> holdings(ShardPlan p) {
        Set<String> all = new TreeSet<>();
        all.add(p.embedding() + " embedding");
        all.add(p.lmHead() + " head");
        for (Stage s : p.stages()) {
            for (int l = s.layers().start(); l < s.layers().end(); l++) {
                all.add(s.node() + " layer " + l);
            }
        }
        p.experts().forEach((k, holders) -> holders.forEach(n -> all.add(n + " expert " + k.layer() + "/" + k.expert())));
        return all;
    }

    private static String describe(Assignment a) {
        return a.node() + " " + switch (a.group()) {
            case TensorGroup.Embedding e -> "embedding";
            case TensorGroup.LmHead h -> "head";
            case TensorGroup.Layer l -> "layer " + l.layer();
            case TensorGroup.Expert x -> "expert " + x.layer() + "/" + x.expert();
        };
    }

    private static Set<String> describe(List<Assignment> list) {
        Set<String> out = new TreeSet<>();
        list.forEach(a -> out.add(describe(a)));
        return out;
    }

    @Test
    void aNodeLeavingMovesOnlyWhatItHeldAndWhatMustShift() {
        ModelShape shape = shape("mixtral-8x7b.json", DType.Q4_0);
        ClusterState four = equalCpus(4, 12);
        ShardPlan before = plan(shape, four);
        PlanInvariants.assertValid(before, shape, four, DEFAULTS);
        assertEquals(3, before.stages().size(), "27 GB on 12 GB nodes: three stages, one node idle");
        NodeId leaving = before.stages().get(1).node();

        ClusterState three = four.without(leaving);
        ShardPlan after = Planner.plan(shape, three, ExpertLoad.uniform(), DEFAULTS, before.epoch() + 1);
        PlanInvariants.assertValid(after, shape, three, DEFAULTS);
        assertFalse(holdings(after).stream().anyMatch(h -> h.startsWith(leaving + " ")), "the lost node holds nothing");

        PlanDiff diff = Planner.diff(before, after);
        Set<String> load = new TreeSet<>(holdings(after));
        load.removeAll(holdings(before));
        Set<String> drop = new TreeSet<>(holdings(before));
        drop.removeAll(holdings(after));
        assertEquals(load, describe(diff.load()), "load exactly what is new to each node");
        assertEquals(drop, describe(diff.drop()), "drop exactly what each node no longer holds");

        // the first stage kept its layers, so it loads and drops nothing
        NodeId first = before.stages().getFirst().node();
        assertEquals(before.stages().getFirst(), after.stages().getFirst());
        assertTrue(diff.load().stream().noneMatch(a -> a.node().equals(first)), diff.load().toString());
        assertTrue(diff.drop().stream().noneMatch(a -> a.node().equals(first)), diff.drop().toString());
        // everything the lost node held is loaded somewhere
        for (String held : holdings(before)) {
            if (held.startsWith(leaving + " ")) {
                String group = held.substring(leaving.value().length() + 1);
                assertTrue(load.stream().anyMatch(l -> l.endsWith(" " + group)), group + " is reloaded");
            }
        }
        assertTrue(diff.load().size() < after.assignments().size(), "not everything is reloaded");
        assertTrue(Planner.diff(after, after).isEmpty());
    }

    @Test
    void theSameInputsGiveTheSamePlanWhateverTheNodeOrder() {
        ModelShape shape = shape("qwen3-30b-a3b.json", DType.Q4_K);
        List<NodeCapacity> nodes = new ArrayList<>(List.of(gpu("g", 8, 1000), cpu("c1", 12), cpu("c2", 12),
                cpu("c3", 16), cpu("c4", 12)));
        ExpertLoad load = skewed(shape);
        ShardPlan reference = Planner.plan(shape, ClusterState.of(nodes), load, DEFAULTS, 3);
        Random random = new Random(5);
        for (int i = 0; i < 5; i++) {
            Collections.shuffle(nodes, random);
            assertEquals(reference, Planner.plan(shape, ClusterState.of(nodes), load, DEFAULTS, 3));
        }
        ShardPlan nextEpoch = Planner.plan(shape, ClusterState.of(nodes), load, DEFAULTS, 4);
        assertNotEquals(reference, nextEpoch);
        assertEquals(reference.stages(), nextEpoch.stages());
        assertEquals(reference.experts(), nextEpoch.experts());
    }

    /** In each layer eight experts (a different eight per layer) take most of the tokens. */
    private static ExpertLoad skewed(ModelShape shape) {
        Map<ExpertKey, Long> tokens = new HashMap<>();
        for (int l = 0; l < shape.numLayers(); l++) {
            int n = shape.layer(l).numExperts();
            for (int e = 0; e < n; e++) {
                tokens.put(new ExpertKey(l, e), 10L);
            }
            for (int i = 0; i < 8; i++) {
                tokens.put(new ExpertKey(l, hot(l, i, n)), 1000L);
            }
        }
        return new ExpertLoad(tokens);
    }

    private static int hot(int layer, int i, int experts) {
        return (7 * layer + 13 * i) % experts;
    }

    @Test
    void hotExpertsGetReplicasOnTheirStageWhenMemoryAllows() {
        // attention on the GPU, experts on CPUs with room to spare (see the cost model scenario)
        ModelShape shape = shape("qwen3-30b-a3b.json", DType.Q4_K);
        ClusterState cluster = cluster(gpu("gpu", 8, 1000), cpu("c1", 32), cpu("c2", 32));
        ExpertLoad load = skewed(shape);
        ShardPlan with = Planner.plan(shape, cluster, load, DEFAULTS, 1);
        ShardPlan without = Planner.plan(shape, cluster, load, DEFAULTS.withReplication(false), 1);
        PlanInvariants.assertValid(with, shape, cluster, DEFAULTS);
        PlanInvariants.assertValid(without, shape, cluster, DEFAULTS);
        NodeId gpu = NodeId.of("gpu");
        assertEquals(List.of(new Stage(gpu, new LayerRange(0, 48))), with.stages());

        for (int l = 0; l < 48; l++) {
            for (int i = 0; i < 8; i++) {
                List<NodeId> holders = with.holders(l, hot(l, i, 128));
                assertEquals(2, holders.size(), "hot expert " + l + "/" + hot(l, i, 128) + ": " + holders);
                assertNotEquals(gpu, holders.get(0), "its primary is on a CPU");
                assertEquals(gpu, holders.get(1), "its replica is on the stage");
            }
        }
        // replicas only ever sit on the stage, where a copy saves calls
        with.experts().values().stream().filter(h -> h.size() > 1).forEach(h -> assertEquals(gpu, h.getLast()));
        assertTrue(without.experts().values().stream().allMatch(h -> h.size() == 1), "no replicas when off");
        double tripsWith = with.cost().roundTripsPerToken();
        double tripsWithout = without.cost().roundTripsPerToken();
        assertTrue(tripsWith < 0.8 * tripsWithout, tripsWith + " round trips with replicas, " + tripsWithout + " without");
        assertTrue(with.cost().secondsPerToken() < without.cost().secondsPerToken());
    }

    @Test
    void aNewLoadMovesOnlyReplicas() {
        ModelShape shape = shape("qwen3-30b-a3b.json", DType.Q4_K);
        ClusterState cluster = cluster(gpu("gpu", 8, 1000), cpu("c1", 32), cpu("c2", 32));
        ShardPlan even = Planner.plan(shape, cluster, ExpertLoad.uniform(), DEFAULTS, 1);
        ShardPlan hot = Planner.plan(shape, cluster, skewed(shape), DEFAULTS, 2);
        assertEquals(even.stages(), hot.stages());
        even.experts().forEach((k, holders) -> assertEquals(holders.getFirst(), hot.experts().get(k).getFirst(),
                "the primary of " + k + " stays"));
        PlanDiff diff = Planner.diff(even, hot);
        assertFalse(diff.isEmpty());
        for (Assignment a : diff.load()) {
            assertEquals(NodeId.of("gpu"), a.node(), "only the stage's replicas change: " + a);
            assertTrue(a.group() instanceof TensorGroup.Expert, a.toString());
        }
        for (Assignment a : diff.drop()) {
            assertEquals(NodeId.of("gpu"), a.node(), "only the stage's replicas change: " + a);
            assertTrue(a.group() instanceof TensorGroup.Expert, a.toString());
        }
    }

    @Test
    void observedSkewIsWorthANewPlanAndEvenLoadIsNot() {
        ModelShape shape = shape("qwen3-30b-a3b.json", DType.Q4_K);
        ClusterState cluster = cluster(gpu("gpu", 8, 1000), cpu("c1", 32), cpu("c2", 32));
        ShardPlan even = Planner.plan(shape, cluster, ExpertLoad.uniform(), DEFAULTS, 1);
        ExpertLoad load = skewed(shape);
        ShardPlan better = LoadReplan.better(even, shape, cluster, load, DEFAULTS, 2).orElseThrow(
                () -> new AssertionError("hot experts without replicas on the stage should be worth a new plan"));
        assertEquals(Planner.plan(shape, cluster, load, DEFAULTS, 2), better);
        double before = Planner.estimate(even, shape, cluster, load, DEFAULTS).secondsPerToken();
        assertTrue(better.cost().secondsPerToken() <= before * (1 - LoadReplan.MIN_GAIN),
                better.cost().secondsPerToken() + " s/token against " + before);
        // once served, the same load asks for nothing new; nor does an even load on the even plan
        assertTrue(LoadReplan.better(better, shape, cluster, load, DEFAULTS, 3).isEmpty());
        assertTrue(LoadReplan.better(even, shape, cluster, ExpertLoad.uniform(), DEFAULTS, 3).isEmpty());
        // a plan over nodes that are gone is membership's business
        ClusterState other = cluster(gpu("gpu2", 8, 1000), cpu("c1", 32), cpu("c2", 32));
        assertTrue(LoadReplan.better(even, shape, other, load, DEFAULTS, 3).isEmpty());
    }
}
