package dev.herd.coordinator.plan;

import dev.herd.kernels.DType;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;

import static dev.herd.coordinator.plan.Fixtures.shape;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Seeded random clusters, models, loads and options: every plan the planner returns satisfies
 * {@link PlanInvariants}, and every refusal that claims missing bytes is right to.
 */
class PlannerPropertiesTest {
    private static final double[] BANDWIDTHS = {20, 50, 100, 400, 2000};
    private static final double[] LINKS = {1, 10, 25, 100};

    @Test
    void everyPlanOnRandomClustersKeepsTheInvariants() {
        List<ModelShape> models = List.of(
                shape("mixtral-8x7b.json", DType.Q4_0),
                shape("mixtral-8x7b.json", DType.Q8_0),
                shape("qwen3-30b-a3b.json", DType.Q4_K),
                shape("llama4-scout-17b-16e.json", DType.Q4_K),
                shape("llama-3.1-8b.json", DType.Q8_0),
                ModelShape.of(Fixtures.config("llama4-maverick-17b-128e.json"), new WeightTypes(DType.Q8_0, DType.Q4_K)));
        Random random = new Random(20261122L);
        int planned = 0;
        int refused = 0;
        int withRemoteExperts = 0;
        int withReplicas = 0;
        for (int c = 0; c < 200; c++) {
            ModelShape shape = models.get(random.nextInt(models.size()));
            ClusterState cluster = randomCluster(random, shape);
            PlanOptions options = new PlanOptions(new long[]{0, 512, 4096}[random.nextInt(3)], random.nextBoolean(),
                    1 + random.nextInt(8), Float.BYTES);
            ExpertLoad load = random.nextBoolean() ? ExpertLoad.uniform() : randomLoad(random, shape);
            int seed = c;
            Supplier<String> what = () -> "case " + seed + ": " + cluster.nodes() + " " + options;
            try {
                ShardPlan plan = Planner.plan(shape, cluster, load, options, c);
                try {
                    PlanInvariants.assertValid(plan, shape, cluster, options);
                } catch (AssertionError broken) {
                    // name the random case, or a failure cannot be reproduced
                    throw new AssertionError(what.get() + ": " + broken.getMessage(), broken);
                }
                if (c % 20 == 0) {
                    assertEquals(plan, Planner.plan(shape, cluster, load, options, c), () -> "deterministic, " + what.get());
                }
                // re-estimating a plan under the load it was made for gives the estimate it carries
                CostEstimate again = Planner.estimate(plan, shape, cluster, load, options);
                assertEquals(plan.cost().secondsPerToken(), again.secondsPerToken(),
                        plan.cost().secondsPerToken() * 1e-9, what);
                assertEquals(plan.cost().networkBytesPerToken(), again.networkBytesPerToken(),
                        Math.max(1e-9, plan.cost().networkBytesPerToken() * 1e-9), what);
                planned++;
                withRemoteExperts += plan.remoteExperts().isEmpty() ? 0 : 1;
                withReplicas += plan.experts().values().stream().anyMatch(h -> h.size() > 1) ? 1 : 0;
            } catch (InfeasiblePlanException e) {
                if (e.missingBytes() > 0) {
                    assertTrue(reallyShort(shape, cluster, options), () -> what.get() + ": " + e.getMessage());
                }
                refused++;
            }
        }
        assertTrue(planned >= 120, planned + " of 200 random cases planned");
        assertTrue(refused >= 10, refused + " of 200 random cases refused");
        // the cases must exercise both layouts and replication, or the invariants prove little
        assertTrue(withRemoteExperts >= 40, withRemoteExperts + " plans with remote experts");
        assertTrue(withReplicas >= 20, withReplicas + " plans with replicas");
    }

    /** Total memory around the model's size (sometimes too little), split unevenly over 1 to 8 nodes. */
    private static ClusterState randomCluster(Random random, ModelShape shape) {
        int n = 1 + random.nextInt(8);
        double total = shape.totalWeightBytes() * (0.8 + 1.7 * random.nextDouble());
        double[] share = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            share[i] = 0.2 + random.nextDouble();
            sum += share[i];
        }
        List<NodeCapacity> nodes = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            double bandwidth = BANDWIDTHS[random.nextInt(BANDWIDTHS.length)];
            nodes.add(new NodeCapacity(NodeId.of("node-" + (char) ('a' + i)), (long) (total * share[i] / sum),
                    bandwidth >= 400 ? NodeBackend.CUDA : NodeBackend.CPU, bandwidth,
                    new Link(LINKS[random.nextInt(LINKS.length)], 10 + random.nextInt(500))));
        }
        return ClusterState.of(nodes);
    }

    /** Zipf-like counts with a random hot set, some experts never seen. */
    private static ExpertLoad randomLoad(Random random, ModelShape shape) {
        Map<ExpertKey, Long> tokens = new HashMap<>();
        for (int l = 0; l < shape.numLayers(); l++) {
            for (int e = 0; e < shape.layer(l).numExperts(); e++) {
                long count = random.nextInt(5) == 0 ? 0 : (long) (10_000 / (1 + random.nextInt(50)));
                tokens.put(new ExpertKey(l, e), count);
            }
        }
        return new ExpertLoad(tokens);
    }

    /** Recomputed here: the cluster lacks the bytes in total, or every node lacks room for some layer. */
    private static boolean reallyShort(ModelShape shape, ClusterState cluster, PlanOptions options) {
        long weights = shape.embeddingBytes() + shape.finalNormBytes() + (shape.tiedEmbeddings() ? 0 : shape.lmHeadBytes());
        long largestLayer = 0;
        for (LayerShape l : shape.layers()) {
            weights += l.nonExpertBytes() + l.numExperts() * l.expertBytes();
            largestLayer = Math.max(largestLayer, l.nonExpertBytes() + options.kvContextTokens() * l.kvBytesPerToken());
        }
        long needed = weights + options.kvContextTokens() * shape.kvBytesPerToken();
        long largestNode = cluster.nodes().stream().mapToLong(NodeCapacity::usableMemoryBytes).max().orElse(0);
        return needed > cluster.totalUsableBytes() || largestLayer > largestNode;
    }
}
