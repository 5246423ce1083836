package dev.herd.coordinator.plan;

import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * Observed routing: how many tokens each (layer, expert) received. A layer with no observations is
 * taken as uniform. An expert of an observed layer that received nothing is taken as never used: feed
 * enough traffic before trusting the counts.
 *
 * @param tokens tokens routed to each expert (a token routed to k experts counts once for each)
 */
public record ExpertLoad(Map<ExpertKey, Long> tokens) {
    private static final ExpertLoad UNIFORM = new ExpertLoad(Map.of());

    public ExpertLoad {
        TreeMap<ExpertKey, Long> copy = new TreeMap<>(tokens);
        for (Map.Entry<ExpertKey, Long> e : copy.entrySet()) {
            if (e.getValue() == null || e.getValue() < 0) {
                throw new IllegalArgumentException(e.getKey() + ": token count must not be negative: " + e.getValue());
            }
        }
        tokens = Collections.unmodifiableSortedMap(copy);
    }

    /** No observations: every expert of a layer equally likely. */
    public static ExpertLoad uniform() {
        return UNIFORM;
    }

    public long tokens(int layer, int expert) {
        return tokens.getOrDefault(new ExpertKey(layer, expert), 0L);
    }
}
