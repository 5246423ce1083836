package dev.herd.coordinator.plan;

import java.util.Arrays;
import java.util.Map;

/**
 * The chance that one token uses each expert: {@code topK * tokens(e) / tokens(layer)}, capped at 1, or
 * {@code topK / numExperts} for a layer without observations. The cost model treats the experts of a token
 * as independent draws with these chances, which is exact for the expected expert compute and a close
 * approximation for the chance that a node is touched.
 */
final class Routing {
    private final double[][] chance;

    private Routing(double[][] chance) {
        this.chance = chance;
    }

    static Routing of(ModelShape shape, ExpertLoad load) {
        int layers = shape.numLayers();
        long[] totals = new long[layers];
        for (Map.Entry<ExpertKey, Long> e : load.tokens().entrySet()) {
            ExpertKey k = e.getKey();
            if (k.layer() >= layers || k.expert() >= shape.layer(k.layer()).numExperts()) {
                throw new IllegalArgumentException("expert load names " + k + ", but the model "
                        + (k.layer() >= layers ? "has " + layers + " layers"
                        : "has " + shape.layer(k.layer()).numExperts() + " experts in layer " + k.layer()));
            }
            totals[k.layer()] = Math.addExact(totals[k.layer()], e.getValue());
        }
        double[][] chance = new double[layers][];
        for (int l = 0; l < layers; l++) {
            LayerShape s = shape.layer(l);
            double[] p = new double[s.numExperts()];
            if (totals[l] == 0) {
                Arrays.fill(p, (double) s.topK() / s.numExperts());
            } else {
                for (int e = 0; e < p.length; e++) {
                    p[e] = Math.min(1.0, (double) s.topK() * load.tokens(l, e) / totals[l]);
                }
            }
            chance[l] = p;
        }
        return new Routing(chance);
    }

    /** Chance that one token uses {@code expert} of {@code layer}. */
    double chance(int layer, int expert) {
        return chance[layer][expert];
    }

    /** Expected bytes of routed experts one token reads in {@code layer}. */
    double activeExpertBytes(int layer, long expertBytes) {
        double sum = 0;
        for (double p : chance[layer]) {
            sum += p;
        }
        return sum * expertBytes;
    }
}
