package dev.herd.coordinator.scheduler;

/**
 * The KV budget counted in fixed-size blocks of token positions. A sequence holds enough blocks for every
 * position it has or is about to compute; admission and growth take blocks, finishing, cancellation and
 * preemption give them back. It is the account of the budget; the storage is the runner's (a local runner allocates a block store of the
 * same blocks, see {@link ModelRunner#allocateKv}). Sequences that share a cached prefix share its storage
 * blocks but are each charged for them here, so what the account allows always fits the storage.
 * Used by the scheduler's thread only.
 */
final class KvBlockPool {
    private final int total;
    private final int blockSize;
    private int used;

    KvBlockPool(int total, int blockSize) {
        this.total = total;
        this.blockSize = blockSize;
    }

    /** Blocks needed to hold {@code tokens} positions. */
    int blocksFor(long tokens) {
        return (int) Math.min(Integer.MAX_VALUE, (tokens + blockSize - 1) / blockSize);
    }

    /** Takes {@code n} blocks when that many are free. */
    boolean tryTake(int n) {
        if (n > total - used) {
            return false;
        }
        used += n;
        return true;
    }

    void give(int n) {
        if (n < 0 || n > used) {
            throw new IllegalStateException("giving back " + n + " KV blocks with " + used + " in use");
        }
        used -= n;
    }

    int total() {
        return total;
    }

    int used() {
        return used;
    }

    int free() {
        return total - used;
    }
}
