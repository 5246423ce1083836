package dev.herd.coordinator.plan;

import java.util.Objects;

/**
 * What a node advertises when it joins: the room it has for weights and KV cache and how fast it can use it.
 *
 * @param id                  the node
 * @param usableMemoryBytes   memory for weights and KV cache (device memory on CUDA), after the node's own needs
 * @param backend             where its kernels run
 * @param memoryBandwidthGBps measured streaming bandwidth in GB/s (10^9 bytes): decode reads every weight it
 *                            uses once per token, so this sets its compute time
 * @param network             its port to the switch: bandwidth and round trip to any peer unless the cluster
 *                            knows that pair better
 */
public record NodeCapacity(NodeId id, long usableMemoryBytes, NodeBackend backend, double memoryBandwidthGBps,
                           Link network) {
    public NodeCapacity {
        Objects.requireNonNull(id, "node id");
        Objects.requireNonNull(backend, "backend of " + id);
        Objects.requireNonNull(network, "network of " + id);
        if (usableMemoryBytes < 0) {
            throw new IllegalArgumentException(id + ": usable memory must not be negative: " + usableMemoryBytes);
        }
        if (!(memoryBandwidthGBps > 0) || Double.isInfinite(memoryBandwidthGBps)) {
            throw new IllegalArgumentException(id + ": memory bandwidth must be positive and finite: "
                    + memoryBandwidthGBps);
        }
    }

    /** Seconds to stream {@code bytes} of weights once. */
    public double streamSeconds(double bytes) {
        return bytes / (memoryBandwidthGBps * 1e9);
    }
}
