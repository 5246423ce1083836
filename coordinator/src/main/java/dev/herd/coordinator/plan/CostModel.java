package dev.herd.coordinator.plan;

import java.util.Arrays;

/**
 * Expected time of one decode step for a single stream (formulas and constants in docs/planner.md).
 * Everything happens one after another: a stage streams its weights, calls its remote experts, then hands
 * the hidden vector to the next stage.
 */
final class CostModel {
    /** Cost of one layer for one token. */
    record LayerCost(double seconds, double roundTrips, double networkBytes) {
    }

    private final ModelShape shape;
    private final ClusterState cluster;
    private final Routing routing;
    /** One token's hidden vector on the wire: what a hop sends and a remote expert call sends each way. */
    private final double hiddenWireBytes;

    CostModel(ModelShape shape, ClusterState cluster, PlanOptions options, Routing routing) {
        this.shape = shape;
        this.cluster = cluster;
        this.routing = routing;
        this.hiddenWireBytes = (double) shape.hiddenSize() * options.wireBytesPerElement();
    }

    double hiddenWireBytes() {
        return hiddenWireBytes;
    }

    double stream(int node, double bytes) {
        return cluster.node(node).streamSeconds(bytes);
    }

    /** Handing one token's hidden vector from stage node {@code a} to {@code b}. */
    double hop(int a, int b) {
        return link(a, b).oneWaySeconds(hiddenWireBytes);
    }

    /** One call from a stage to a remote expert node: the rows there and back, plus the round trip. */
    double call(int stage, int host) {
        return link(stage, host).roundTripSeconds(hiddenWireBytes);
    }

    private Link link(int a, int b) {
        return cluster.link(cluster.node(a).id(), cluster.node(b).id());
    }

    /** Bytes the last stage reads per token for the LM head: the matrix is read even when tied. */
    double headStreamBytes() {
        return shape.lmHeadBytes() + shape.finalNormBytes();
    }

    /**
     * Layer {@code layer}'s cost when its attention runs on {@code stage} and expert {@code e} is served by
     * node {@code serving[e]}. A remote node is called once per token that uses any of its experts; with
     * independent choices that happens with chance {@code 1 - prod(1 - p_e)} over the experts it serves.
     */
    LayerCost layer(int layer, int stage, int[] serving) {
        LayerShape s = shape.layer(layer);
        double seconds = stream(stage, s.nonExpertBytes());
        if (!s.moe()) {
            return new LayerCost(seconds, 0, 0);
        }
        int n = cluster.size();
        double[] untouched = new double[n];
        Arrays.fill(untouched, 1.0);
        double localBytes = 0;
        for (int e = 0; e < serving.length; e++) {
            double p = routing.chance(layer, e);
            int r = serving[e];
            if (r == stage) {
                localBytes += p * s.expertBytes();
            } else {
                untouched[r] *= 1 - p;
                seconds += stream(r, p * s.expertBytes());
            }
        }
        seconds += stream(stage, localBytes);
        double trips = 0;
        for (int r = 0; r < n; r++) {
            double touched = 1 - untouched[r];
            if (r != stage && touched > 0) {
                trips += touched;
                seconds += touched * call(stage, r);
            }
        }
        return new LayerCost(seconds, trips, trips * 2 * hiddenWireBytes);
    }

    /** The whole plan: every stage's layers, the LM head, and the hops between stages. */
    CostEstimate evaluate(Draft d) {
        double total = 0;
        double bytes = 0;
        double trips = 0;
        double bottleneck = 0;
        for (int i = 0; i < d.stageCount(); i++) {
            int node = d.stageNode(i);
            double stageSeconds = 0;
            for (int l = d.stageStart(i); l < d.stageEnd(i); l++) {
                LayerCost c = layer(l, node, d.servingOf(l));
                stageSeconds += c.seconds();
                trips += c.roundTrips();
                bytes += c.networkBytes();
            }
            if (i == d.stageCount() - 1) {
                stageSeconds += stream(node, headStreamBytes());
            }
            if (i > 0) {
                total += hop(d.stageNode(i - 1), node);
                bytes += hiddenWireBytes;
            }
            total += stageSeconds;
            bottleneck = Math.max(bottleneck, stageSeconds);
        }
        return new CostEstimate(total, bytes, trips, bottleneck);
    }
}
