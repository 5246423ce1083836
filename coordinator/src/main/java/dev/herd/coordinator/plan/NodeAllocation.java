package dev.herd.coordinator.plan;

import java.io.Serializable;

/**
 * A node's memory under a plan.
 *
 * @param usableBytes    what the node advertised
 * @param weightBytes    weights assigned to it, replicas included
 * @param kvReserveBytes KV cache reserved for its stage's layers (0 when it is not a stage)
 */
public record NodeAllocation(long usableBytes, long weightBytes, long kvReserveBytes) implements Serializable {
    public long assignedBytes() {
        return weightBytes + kvReserveBytes;
    }

    public long freeBytes() {
        return usableBytes - assignedBytes();
    }
}
