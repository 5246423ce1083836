package dev.herd.coordinator.plan;

import java.util.Arrays;

/**
 * Cuts the layers into contiguous stage ranges over a given list of stage nodes so that the slowest stage
 * is as fast as it can be (per-token time, not bytes), breaking ties on the smaller total, then on the
 * smaller sum of squares (the most even cut). Dynamic programming over (stages used, layers covered);
 * O(stages * layers^2) with O(1) range costs from prefix sums.
 *
 * <p>A range's time uses a closed-form guess of how its experts will be placed: in {@link Layout#PIPELINE}
 * every expert is local (else the range does not fit); in {@link Layout#EXPERT_PARALLEL} the experts
 * that do not fit go remote, to a node of average bandwidth, costing one average call for each layer's
 * worth of remote experts (whole layers go remote first when loads are even). The placement that follows
 * is costed exactly; this guess only steers the cut.
 */
final class StageSplitter {
    enum Layout { PIPELINE, EXPERT_PARALLEL }

    private static final double INFEASIBLE = Double.POSITIVE_INFINITY;

    private final ModelShape shape;
    private final ClusterState cluster;
    private final CostModel cost;
    private final long contextTokens;
    // prefix sums over layers: [l] is the sum of layers 0..l-1
    private final long[] nonExpert;
    private final long[] allExperts;
    private final long[] kvPerToken;
    private final double[] activeExperts;
    private final int[] moeLayers;
    private final double averageBandwidth;
    private final double averageCall;

    StageSplitter(ModelShape shape, ClusterState cluster, PlanOptions options, Routing routing, CostModel cost) {
        this.shape = shape;
        this.cluster = cluster;
        this.cost = cost;
        this.contextTokens = options.kvContextTokens();
        int layers = shape.numLayers();
        nonExpert = new long[layers + 1];
        allExperts = new long[layers + 1];
        kvPerToken = new long[layers + 1];
        activeExperts = new double[layers + 1];
        moeLayers = new int[layers + 1];
        for (int l = 0; l < layers; l++) {
            LayerShape s = shape.layer(l);
            nonExpert[l + 1] = nonExpert[l] + s.nonExpertBytes();
            allExperts[l + 1] = allExperts[l] + s.allExpertBytes();
            kvPerToken[l + 1] = kvPerToken[l] + s.kvBytesPerToken();
            activeExperts[l + 1] = activeExperts[l] + (s.moe() ? routing.activeExpertBytes(l, s.expertBytes()) : 0);
            moeLayers[l + 1] = moeLayers[l] + (s.moe() ? 1 : 0);
        }
        double bandwidth = 0;
        double call = 0;
        for (NodeCapacity n : cluster.nodes()) {
            bandwidth += n.memoryBandwidthGBps() * 1e9;
            call += n.network().roundTripSeconds(cost.hiddenWireBytes());
        }
        averageBandwidth = bandwidth / cluster.size();
        averageCall = call / cluster.size();
    }

    /**
     * Where each stage ends ({@code ends[i]} is stage i's exclusive last layer) for stages on {@code nodes}
     * in that order, or null when no cut fits every stage into its node.
     */
    int[] split(int[] nodes, Layout layout) {
        int k = nodes.length;
        int layers = shape.numLayers();
        if (k > layers) {
            return null;
        }
        // worst, sum, squares [i][j]: best cut of layers [0, j) over the first i stages
        double[][] worst = new double[k + 1][layers + 1];
        double[][] sum = new double[k + 1][layers + 1];
        double[][] squares = new double[k + 1][layers + 1];
        int[][] from = new int[k + 1][layers + 1];
        for (double[] row : worst) {
            Arrays.fill(row, INFEASIBLE);
        }
        worst[0][0] = 0;
        for (int i = 1; i <= k; i++) {
            int firstEnd = i == k ? layers : i;
            int lastEnd = i == k ? layers : layers - (k - i);
            for (int j = firstEnd; j <= lastEnd; j++) {
                for (int a = i - 1; a < j; a++) {
                    if (worst[i - 1][a] == INFEASIBLE) {
                        continue;
                    }
                    double t = rangeSeconds(nodes[i - 1], a, j, i == 1, i == k, layout);
                    if (t == INFEASIBLE) {
                        continue;
                    }
                    double w = Math.max(worst[i - 1][a], t);
                    double s = sum[i - 1][a] + t;
                    double q = squares[i - 1][a] + t * t;
                    int c = compare(w, worst[i][j]);
                    if (c == 0) {
                        c = compare(s, sum[i][j]);
                    }
                    if (c == 0) {
                        c = compare(q, squares[i][j]);
                    }
                    if (c < 0) {
                        worst[i][j] = w;
                        sum[i][j] = s;
                        squares[i][j] = q;
                        from[i][j] = a;
                    }
                }
            }
        }
        if (worst[k][layers] == INFEASIBLE) {
            return null;
        }
        int[] ends = new int[k];
        int j = layers;
        for (int i = k; i >= 1; i--) {
            ends[i - 1] = j;
            j = from[i][j];
        }
        return ends;
    }

    /** Orders two times, equal within rounding: sums of the same terms in another order differ in the last bits. */
    private static int compare(double a, double b) {
        if (b == INFEASIBLE) {
            return a == INFEASIBLE ? 0 : -1;
        }
        return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b)) ? 0 : Double.compare(a, b);
    }

    /** Estimated time of layers [a, b) on {@code node}, or infinity when they cannot fit there. */
    double rangeSeconds(int node, int a, int b, boolean first, boolean last, Layout layout) {
        long memory = cluster.node(node).usableMemoryBytes();
        long mandatory = nonExpert[b] - nonExpert[a] + contextTokens * (kvPerToken[b] - kvPerToken[a])
                + (first ? shape.embeddingBytes() : 0) + (last ? shape.lmHeadBytesOn(first) : 0);
        if (mandatory > memory) {
            return INFEASIBLE;
        }
        long experts = allExperts[b] - allExperts[a];
        double active = activeExperts[b] - activeExperts[a];
        double local = nonExpert[b] - nonExpert[a] + (last ? cost.headStreamBytes() : 0);
        long overflow = mandatory + experts - memory;
        if (overflow <= 0) {
            return cost.stream(node, local + active);
        }
        if (layout == Layout.PIPELINE) {
            return INFEASIBLE;
        }
        double remoteShare = (double) overflow / experts;
        return cost.stream(node, local + active * (1 - remoteShare))
                + active * remoteShare / averageBandwidth
                + remoteShare * (moeLayers[b] - moeLayers[a]) * averageCall;
    }
}
