package dev.herd.shard;

import dev.herd.proto.v1.NodeState;

/**
 * How far a node is with one epoch's assignment.
 *
 * @param state        idle (never assigned), loading, ready or failed
 * @param servingEpoch the epoch the node serves now (0 before any)
 * @param message      why loading failed; empty otherwise
 * @param loadedBytes  bytes of the assignment's tensors ready (fetched or found locally)
 * @param totalBytes   bytes of the assignment's tensors (0 until known)
 */
public record Readiness(NodeState state, long servingEpoch, String message, long loadedBytes, long totalBytes) {
    public Readiness(NodeState state, long servingEpoch, String message) {
        this(state, servingEpoch, message, 0, 0);
    }
}
