package dev.herd.coordinator.plan;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * Decides where a model's layers and experts live: a pure function of the model's sizes, the cluster's
 * capacities, the observed expert load and the options. No I/O, no clock; the same inputs give the same plan.
 *
 * <p>It costs a handful of candidates and keeps the cheapest (docs/planner.md has the cost model). For
 * every stage count {@code k} it takes the first {@code k} nodes by memory and by bandwidth, runs them in
 * {@link NodeId} order, cuts the layers to balance their time, and places experts twice: pipeline only
 * (every stage holds its layers whole) and with remote experts (stages keep attention and their hottest
 * experts, the rest live elsewhere). The fastest estimate wins; near-ties go to
 * fewer stages, then fewer round trips, then pipeline only, then the faster slowest stage.
 */
public final class Planner {
    /** Estimates this close (relative) are a tie: float sums of equal plans differ in the last bits. */
    private static final double TIE = 1e-9;

    private Planner() {
    }

    private record Candidate(Draft draft, CostEstimate cost, boolean pipelineOnly) {
    }

    /**
     * The cheapest plan that fits.
     *
     * @param epoch the version the plan carries
     * @throws InfeasiblePlanException when the model cannot fit: the cluster lacks memory in total (the message
     *                                 says how many GB), a layer's non-expert part fits no node, or no
     *                                 arrangement within {@link PlanOptions#maxStages()} packs
     * @throws IllegalArgumentException when the load names an expert the model does not have
     */
    public static ShardPlan plan(ModelShape shape, ClusterState cluster, ExpertLoad load, PlanOptions options,
                                 long epoch) {
        Objects.requireNonNull(shape, "model shape");
        Objects.requireNonNull(cluster, "cluster");
        Objects.requireNonNull(load, "expert load");
        Objects.requireNonNull(options, "options");
        Routing observed = Routing.of(shape, load);
        Routing even = Routing.of(shape, ExpertLoad.uniform());
        checkCapacity(shape, cluster, options);
        CostModel cost = new CostModel(shape, cluster, options, observed);
        // the cut and the primaries follow the even load, so that a new load can only move replicas
        StageSplitter splitter = new StageSplitter(shape, cluster, options, even, cost);
        ExpertPlacer placer = new ExpertPlacer(shape, cluster, even, observed, cost);

        Candidate best = null;
        Set<String> tried = new HashSet<>();
        int maxStages = Math.min(Math.min(options.maxStages(), cluster.size()), shape.numLayers());
        for (Comparator<Integer> order : orders(cluster)) {
            List<Integer> ranked = new ArrayList<>();
            for (int n = 0; n < cluster.size(); n++) {
                ranked.add(n);
            }
            ranked.sort(order);
            for (int k = 1; k <= maxStages; k++) {
                int[] nodes = ranked.subList(0, k).stream().mapToInt(Integer::intValue).sorted().toArray();
                if (!tried.add(Arrays.toString(nodes))) {
                    continue;
                }
                int[] pipeline = splitter.split(nodes, StageSplitter.Layout.PIPELINE);
                if (pipeline != null) {
                    best = better(best, build(shape, cluster, options, cost, placer, nodes, pipeline, true));
                }
                int[] remote = splitter.split(nodes, StageSplitter.Layout.EXPERT_PARALLEL);
                if (remote != null && !Arrays.equals(remote, pipeline)) {
                    best = better(best, build(shape, cluster, options, cost, placer, nodes, remote, false));
                }
            }
        }
        if (best == null) {
            throw new InfeasiblePlanException(String.format(Locale.ROOT,
                    "no placement fits: the model needs %s and the cluster has %s usable, but the layers and "
                            + "experts cannot be packed into %d node(s) (largest %s) with at most %d stage(s)",
                    gb(needed(shape, options)), gb(cluster.totalUsableBytes()), cluster.size(),
                    gb(largestNode(cluster)), options.maxStages()), 0);
        }
        return best.draft().toPlan(epoch, best.cost());
    }

    /**
     * What {@code plan} costs per token under {@code load}: the same estimate {@link #plan} minimises, for an
     * existing plan, so a plan for newly observed load can be compared with the one being served.
     *
     * @throws IllegalArgumentException when the plan uses a node {@code cluster} does not have
     */
    public static CostEstimate estimate(ShardPlan plan, ModelShape shape, ClusterState cluster, ExpertLoad load,
                                        PlanOptions options) {
        int[] nodes = new int[plan.stages().size()];
        int[] ends = new int[nodes.length];
        for (int i = 0; i < nodes.length; i++) {
            nodes[i] = index(cluster, plan.stages().get(i).node());
            ends[i] = plan.stages().get(i).layers().end();
        }
        Draft d = new Draft(shape, cluster, options, nodes, ends);
        plan.experts().forEach((key, holders) -> {
            for (NodeId holder : holders) {
                d.add(key.layer(), key.expert(), index(cluster, holder), false);
            }
        });
        return new CostModel(shape, cluster, options, Routing.of(shape, load)).evaluate(d);
    }

    private static int index(ClusterState cluster, NodeId id) {
        int i = cluster.indexOf(id);
        if (i < 0) {
            throw new IllegalArgumentException("the plan uses node " + id + ", which the cluster does not have");
        }
        return i;
    }

    /** Assignments to load and to drop when moving from {@code old} to {@code next}. */
    public static PlanDiff diff(ShardPlan old, ShardPlan next) {
        SortedSet<Assignment> before = old.assignments();
        SortedSet<Assignment> after = next.assignments();
        TreeSet<Assignment> load = new TreeSet<>(after);
        load.removeAll(before);
        TreeSet<Assignment> drop = new TreeSet<>(before);
        drop.removeAll(after);
        return new PlanDiff(List.copyOf(load), List.copyOf(drop));
    }

    private static Candidate build(ModelShape shape, ClusterState cluster, PlanOptions options, CostModel cost,
                                   ExpertPlacer placer, int[] nodes, int[] ends, boolean pipelineOnly) {
        Draft d = new Draft(shape, cluster, options, nodes, ends);
        for (int n : nodes) {
            if (d.free(n) < 0) {
                return null;
            }
        }
        boolean placed = pipelineOnly ? placer.placeAllLocal(d)
                : placer.placeWithRemoteExperts(d, options.replicateHotExperts());
        return placed ? new Candidate(d, cost.evaluate(d), pipelineOnly) : null;
    }

    private static Candidate better(Candidate best, Candidate c) {
        if (c == null) {
            return best;
        }
        if (best == null) {
            return c;
        }
        double a = c.cost().secondsPerToken();
        double b = best.cost().secondsPerToken();
        if (Math.abs(a - b) > TIE * Math.max(a, b)) {
            return a < b ? c : best;
        }
        int stages = Integer.compare(c.draft().stageCount(), best.draft().stageCount());
        if (stages != 0) {
            return stages < 0 ? c : best;
        }
        if (c.cost().roundTripsPerToken() != best.cost().roundTripsPerToken()) {
            return c.cost().roundTripsPerToken() < best.cost().roundTripsPerToken() ? c : best;
        }
        if (c.pipelineOnly() != best.pipelineOnly()) {
            return c.pipelineOnly() ? c : best;
        }
        return c.cost().bottleneckStageSeconds() < best.cost().bottleneckStageSeconds() ? c : best;
    }

    /** Nodes by memory, and by bandwidth: the first k of each are the stage sets tried. */
    private static List<Comparator<Integer>> orders(ClusterState cluster) {
        Comparator<Integer> byMemory = Comparator.comparingLong((Integer n) -> -cluster.node(n).usableMemoryBytes());
        Comparator<Integer> byBandwidth = Comparator.comparingDouble((Integer n) -> -cluster.node(n).memoryBandwidthGBps());
        Comparator<Integer> byIndex = Comparator.naturalOrder();
        return List.of(byMemory.thenComparing(byBandwidth).thenComparing(byIndex),
                byBandwidth.thenComparing(byMemory).thenComparing(byIndex));
    }

    /** Fails early, with the gigabytes missing, when no arrangement could fit. */
    private static void checkCapacity(ModelShape shape, ClusterState cluster, PlanOptions options) {
        long needed = needed(shape, options);
        long usable = cluster.totalUsableBytes();
        if (needed > usable) {
            throw new InfeasiblePlanException(String.format(Locale.ROOT,
                    "needs %s, cluster has %s usable: %s missing (weights %s, KV cache for %d tokens %s, %d node(s))",
                    gb(needed), gb(usable), gb(needed - usable), gb(shape.totalWeightBytes()),
                    options.kvContextTokens(), gb(needed - shape.totalWeightBytes()), cluster.size()),
                    needed - usable);
        }
        long largest = largestNode(cluster);
        for (int l = 0; l < shape.numLayers(); l++) {
            LayerShape s = shape.layer(l);
            long layerNeeds = s.nonExpertBytes() + options.kvContextTokens() * s.kvBytesPerToken();
            if (layerNeeds > largest) {
                throw new InfeasiblePlanException(String.format(Locale.ROOT,
                        "layer %d's attention and other non-expert weights need %s with the KV cache for %d "
                                + "tokens, but the largest node has %s usable: %s missing",
                        l, gb(layerNeeds), options.kvContextTokens(), gb(largest), gb(layerNeeds - largest)),
                        layerNeeds - largest);
            }
        }
    }

    private static long needed(ModelShape shape, PlanOptions options) {
        try {
            return Math.addExact(shape.totalWeightBytes(),
                    Math.multiplyExact(options.kvContextTokens(), shape.kvBytesPerToken()));
        } catch (ArithmeticException e) {
            // a context this long is a caller's mistake, not a plan to search for
            throw new IllegalArgumentException("KV reserve of " + options.kvContextTokens()
                    + " tokens overflows a byte count", e);
        }
    }

    private static long largestNode(ClusterState cluster) {
        long largest = 0;
        for (NodeCapacity n : cluster.nodes()) {
            largest = Math.max(largest, n.usableMemoryBytes());
        }
        return largest;
    }

    /** Decimal gigabytes, as node memory is advertised. */
    static String gb(long bytes) {
        return String.format(Locale.ROOT, "%.1f GB", bytes / 1e9);
    }
}
