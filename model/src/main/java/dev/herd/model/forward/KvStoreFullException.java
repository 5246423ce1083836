package dev.herd.model.forward;

/**
 * A bounded {@link KvBlockStore} has no free block left. Its own type so that whoever budgets KV memory (a
 * scheduler, a pipeline stage) can tell running out of the budget from a failure of the computation.
 */
public final class KvStoreFullException extends RuntimeException {
    private final int capacity;

    public KvStoreFullException(int capacity, int blockTokens) {
        super("the KV store is full: all " + capacity + " blocks of " + blockTokens + " positions are in use");
        this.capacity = capacity;
    }

    /** Blocks the store holds in all. */
    public int capacity() {
        return capacity;
    }
}
