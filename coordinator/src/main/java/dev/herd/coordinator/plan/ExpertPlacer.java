package dev.herd.coordinator.plan;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntPredicate;

/**
 * Puts every routed expert somewhere once the stages are cut.
 *
 * <p>Primaries never look at the observed load (they follow the even split of tokens), so a new
 * {@link ExpertLoad} cannot move a primary; only replicas follow the load. Two layouts:
 * <ul>
 *   <li>Without replication, each stage keeps as primaries the experts whose absence would cost the most
 *       round trips (with even loads: whole layers, since one remote expert costs a layer almost as
 *       much as all of them), and the rest go elsewhere.</li>
 *   <li>With replication, primaries go to nodes that run no stage first, then to their own stage, then to
 *       any node with room; afterwards each stage fills its spare memory with replicas of its layers'
 *       remote experts, the copy that saves the most expected round trips under the observed load first,
 *       while a copy still saves any. Hot experts thus end up local to their stage with a primary
 *       elsewhere, and a load change only swaps replicas.</li>
 * </ul>
 * Wherever a layer's experts leave their stage, they go together to the fastest node with room for all
 * of them, so a token calls one node per layer; only when none has room are they split, onto the node
 * with the most room first.
 */
final class ExpertPlacer {
    private final ModelShape shape;
    private final ClusterState cluster;
    private final Routing even;
    private final Routing observed;
    private final CostModel cost;

    ExpertPlacer(ModelShape shape, ClusterState cluster, Routing even, Routing observed, CostModel cost) {
        this.shape = shape;
        this.cluster = cluster;
        this.even = even;
        this.observed = observed;
        this.cost = cost;
    }

    /** Pipeline only: every stage holds all experts of its layers; false when they do not fit. */
    boolean placeAllLocal(Draft d) {
        for (int l = 0; l < shape.numLayers(); l++) {
            int stage = d.layerNode(l);
            for (int e = 0; e < shape.layer(l).numExperts(); e++) {
                if (d.free(stage) < shape.layer(l).expertBytes()) {
                    return false;
                }
                d.add(l, e, stage, true);
            }
        }
        return true;
    }

    /** Stages keep attention and some experts, the rest live elsewhere; false when some expert fits nowhere. */
    boolean placeWithRemoteExperts(Draft d, boolean replicate) {
        boolean[] stageNode = new boolean[cluster.size()];
        for (int i = 0; i < d.stageCount(); i++) {
            stageNode[d.stageNode(i)] = true;
        }
        if (!replicate) {
            for (int i = 0; i < d.stageCount(); i++) {
                keepLocal(d, i, even, false);
            }
        }
        for (int l = 0; l < shape.numLayers(); l++) {
            int stage = d.layerNode(l);
            List<Integer> rest = new ArrayList<>();
            for (int e = 0; e < shape.layer(l).numExperts(); e++) {
                if (!d.placed(l, e)) {
                    rest.add(e);
                }
            }
            if (replicate) {
                pack(d, l, rest, n -> !stageNode[n]);
                long bytes = shape.layer(l).expertBytes();
                while (!rest.isEmpty() && d.free(stage) >= bytes) {
                    d.add(l, rest.removeFirst(), stage, true);
                }
            }
            pack(d, l, rest, n -> n != stage);
            if (!rest.isEmpty()) {
                return false;
            }
        }
        if (replicate) {
            for (int i = 0; i < d.stageCount(); i++) {
                keepLocal(d, i, observed, true);
            }
        }
        return true;
    }

    /**
     * Greedy: repeatedly gives stage {@code i} a local copy of the expert that lowers its layers' expected
     * round trips the most per byte under {@code chances}, while memory allows. As primaries it fills all
     * the room (a local copy is never worse than a remote one); as replicas it stops once no copy saves a
     * trip.
     */
    private void keepLocal(Draft d, int i, Routing chances, boolean replicas) {
        int stage = d.stageNode(i);
        int start = d.stageStart(i);
        int count = d.stageEnd(i) - start;
        LocalChoice[] choices = new LocalChoice[count];
        for (int j = 0; j < count; j++) {
            choices[j] = new LocalChoice(d, start + j, stage, chances, replicas, shape.layer(start + j).expertBytes());
        }
        while (true) {
            int pick = -1;
            for (int j = 0; j < count; j++) {
                if (choices[j].best() >= 0 && (pick < 0 || choices[j].saving() > choices[pick].saving())) {
                    pick = j;
                }
            }
            if (pick < 0 || (replicas && choices[pick].saving() <= 0)) {
                return;
            }
            int layer = start + pick;
            if (d.free(stage) < shape.layer(layer).expertBytes()) {
                choices[pick].exhaust(); // this layer's experts no longer fit; smaller ones elsewhere still might
                continue;
            }
            d.add(layer, choices[pick].best(), stage, !replicas);
            choices[pick].take();
        }
    }

    /**
     * The candidates for a local copy in one layer, grouped by the node that serves them now (experts not
     * yet placed count as one node: they will go to one node where possible). A group is called unless
     * none of its experts is used, with chance {@code 1 - prod(1 - p_e)}; taking experts out of it lowers
     * that, hottest first. One hot expert taken alone saves little while other hot ones remain (the node is
     * still called), so a group is judged by its best prefix: the {@code m} hottest experts whose removal
     * saves the most round trips per byte. The layer offers the first expert of its best group's prefix.
     */
    private static final class LocalChoice {
        private final long expertBytes;
        private final int[][] members;
        private final int[] next;
        /** [group][k]: chance that none of the group's experts from the k-th on is used. */
        private final double[][] untouched;
        private final double[] perByte;
        private int best = -1;
        private int bestGroup = -1;

        LocalChoice(Draft d, int layer, int stage, Routing chances, boolean replicas, long expertBytes) {
            this.expertBytes = expertBytes;
            int experts = d.holdersCount(layer);
            int groups = d.nodeCount() + 1;
            int[] serving = replicas ? d.servingOf(layer) : null;
            List<List<Integer>> lists = new ArrayList<>(groups);
            for (int g = 0; g < groups; g++) {
                lists.add(new ArrayList<>());
            }
            for (int e = 0; e < experts; e++) {
                // primaries are chosen among unplaced experts, replicas among those served remotely
                if (replicas ? serving[e] != stage : !d.placed(layer, e)) {
                    lists.get(replicas ? serving[e] : groups - 1).add(e);
                }
            }
            members = new int[groups][];
            next = new int[groups];
            untouched = new double[groups][];
            perByte = new double[groups];
            for (int g = 0; g < groups; g++) {
                List<Integer> list = lists.get(g);
                // hottest first; equal chances keep expert order
                list.sort((x, y) -> Double.compare(chances.chance(layer, y), chances.chance(layer, x)));
                int[] m = list.stream().mapToInt(Integer::intValue).toArray();
                members[g] = m;
                // taking experts from the front leaves these suffixes as they are, so they are computed once
                double[] u = new double[m.length + 1];
                u[m.length] = 1;
                for (int k = m.length - 1; k >= 0; k--) {
                    u[k] = u[k + 1] * (1 - Math.min(1, chances.chance(layer, m[k])));
                }
                untouched[g] = u;
                judge(g);
            }
            choose();
        }

        int best() {
            return best;
        }

        /** Round trips saved per byte by the prefix {@link #best()} starts. */
        double saving() {
            return best < 0 ? 0 : perByte[bestGroup];
        }

        void exhaust() {
            best = -1;
        }

        void take() {
            next[bestGroup]++;
            judge(bestGroup);
            choose();
        }

        /** The best saving per byte over the prefixes of group {@code g}'s remaining experts. */
        private void judge(int g) {
            int from = next[g];
            double[] u = untouched[g];
            double best = Double.NEGATIVE_INFINITY;
            for (int k = from + 1; k < u.length; k++) {
                best = Math.max(best, (u[k] - u[from]) / ((double) (k - from) * expertBytes));
            }
            perByte[g] = best;
        }

        private void choose() {
            best = -1;
            bestGroup = -1;
            for (int g = 0; g < members.length; g++) {
                if (next[g] >= members[g].length) {
                    continue;
                }
                int e = members[g][next[g]];
                if (best < 0 || perByte[g] > perByte[bestGroup]
                        || (perByte[g] == perByte[bestGroup] && e < best)) {
                    best = e;
                    bestGroup = g;
                }
            }
        }
    }

    /**
     * Moves experts of {@code layer} from {@code rest} (in order) onto allowed nodes: all to the fastest node
     * with room for all (cheapest call from the stage, then node order, breaking ties), else as many as fit
     * onto the node with the most room, repeatedly. Leaves in {@code rest} what fits nowhere allowed.
     */
    private void pack(Draft d, int layer, List<Integer> rest, IntPredicate allowed) {
        long bytes = shape.layer(layer).expertBytes();
        int stage = d.layerNode(layer);
        while (!rest.isEmpty()) {
            int host = -1;
            long all = rest.size() * bytes;
            for (int n = 0; n < cluster.size(); n++) {
                if (allowed.test(n) && d.free(n) >= all && (host < 0 || faster(n, host, stage))) {
                    host = n;
                }
            }
            if (host < 0) {
                for (int n = 0; n < cluster.size(); n++) {
                    if (allowed.test(n) && d.free(n) >= bytes && (host < 0 || d.free(n) > d.free(host))) {
                        host = n;
                    }
                }
            }
            if (host < 0) {
                return;
            }
            while (!rest.isEmpty() && d.free(host) >= bytes) {
                d.add(layer, rest.removeFirst(), host, true);
            }
        }
    }

    private boolean faster(int n, int than, int stage) {
        double a = cluster.node(n).memoryBandwidthGBps();
        double b = cluster.node(than).memoryBandwidthGBps();
        return a > b || (a == b && cost.call(stage, n) < cost.call(stage, than));
    }
}
