package dev.herd.coordinator.plan;

import java.util.Objects;

/** A tensor group held by a node. Ordered by node, then group. */
public record Assignment(NodeId node, TensorGroup group) implements Comparable<Assignment> {
    public Assignment {
        Objects.requireNonNull(node);
        Objects.requireNonNull(group);
    }

    @Override
    public int compareTo(Assignment o) {
        int c = node.compareTo(o.node);
        return c != 0 ? c : group.compareTo(o.group);
    }
}
