package dev.herd.coordinator.plan;

import java.io.Serializable;
import java.util.Objects;

/**
 * A shard node's identity in the cluster. Its own type so that a node cannot be confused with a sequence,
 * a tensor or any other string. Ordered by value: the planner breaks every tie on this order.
 */
public record NodeId(String value) implements Serializable, Comparable<NodeId> {
    public NodeId {
        Objects.requireNonNull(value, "node id");
        if (value.isBlank()) {
            throw new IllegalArgumentException("node id must not be blank");
        }
    }

    public static NodeId of(String value) {
        return new NodeId(value);
    }

    @Override
    public int compareTo(NodeId o) {
        return value.compareTo(o.value);
    }

    @Override
    public String toString() {
        return value;
    }
}
