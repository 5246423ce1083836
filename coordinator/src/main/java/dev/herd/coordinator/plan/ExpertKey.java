package dev.herd.coordinator.plan;

import java.io.Serializable;

/** One routed expert of one layer. Ordered by layer, then expert. */
public record ExpertKey(int layer, int expert) implements Serializable, Comparable<ExpertKey> {
    public ExpertKey {
        if (layer < 0 || expert < 0) {
            throw new IllegalArgumentException("layer and expert must not be negative: " + layer + ", " + expert);
        }
    }

    @Override
    public int compareTo(ExpertKey o) {
        int c = Integer.compare(layer, o.layer);
        return c != 0 ? c : Integer.compare(expert, o.expert);
    }

    @Override
    public String toString() {
        return "layer " + layer + " expert " + expert;
    }
}
