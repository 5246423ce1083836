package dev.herd.coordinator.cluster;

import dev.herd.coordinator.plan.NodeCapacity;
import dev.herd.coordinator.plan.NodeId;

/** What membership tells the coordinator: the inputs of {@link ClusterView#apply}. */
public sealed interface ClusterEvent {
    /** A shard node joined (or re-joined with new capacity). */
    record NodeJoined(NodeCapacity capacity, String grpcAddress) implements ClusterEvent {
    }

    /** A shard node left, gracefully or not. */
    record NodeLeft(NodeId id) implements ClusterEvent {
    }

    /** A member joined whose advertisement could not be read; it is kept out of plans, and the reason shown. */
    record NodeRejected(String member, String reason) implements ClusterEvent {
    }
}
