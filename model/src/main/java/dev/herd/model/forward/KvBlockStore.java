package dev.herd.model.forward;

import dev.herd.kernels.PagedKv;
import dev.herd.model.config.ModelConfig;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

/**
 * Key/value storage in fixed-size blocks, PagedAttention's way: a block holds {@code blockTokens} positions of
 * every layer the store covers, keys and values in native memory (one {@link Arena}) that the kernels read in
 * place through each sequence's block table. Blocks are handed out from a free list and reference-counted,
 * so sequences that start with the same tokens share the blocks of that prefix ({@link KvCache#copyOf}).
 *
 * <p>Layout: block {@code b}, layer {@code l} (counted from the store's first layer), slot {@code s} has its
 * key row at float {@code ((b * layers + l) * blockTokens + s) * kvDim} of the key memory, its value row at
 * the same index of the value memory; a block's rows of all layers are one contiguous run, so copying a
 * block is one copy.
 *
 * <p>A store grows when full by doubling, copying its blocks into a new allocation (block ids stay valid); it
 * must be used from one thread at a time while it may grow, since growing frees the old memory. A
 * {@linkplain #bounded bounded} store never grows beyond its budget (the KV memory budget, in blocks) and then
 * refuses with {@link KvStoreFullException}; it starts at up to {@value #BOUNDED_INITIAL_BLOCKS} blocks, so a
 * generous budget (a server's default is four full contexts, tens of GB for a large model) costs memory only
 * once it is used. A {@linkplain #growable growable} one has no bound, for callers without a budget.
 * Closing a store frees its memory; caches over it must not be used after that.
 *
 * <p>Allocation, reference counts and closing are synchronised, so sequences may be released from another
 * thread than the one running the forward pass.
 */
public final class KvBlockStore implements AutoCloseable {
    /** Positions per block where nothing else says: the scheduler's default block size. */
    public static final int DEFAULT_BLOCK_TOKENS = 16;
    private static final int GROWABLE_INITIAL_BLOCKS = 4;
    private static final int BOUNDED_INITIAL_BLOCKS = 64;
    /** No store grows beyond this many blocks (its block arrays are Java arrays). */
    private static final int MAX_BLOCKS = Integer.MAX_VALUE / 2;
    private static final long ALIGN = 64;

    private final int kvDim;
    private final int firstLayer;
    private final int layers;
    private final int blockTokens;
    /** The most blocks this store may hold: its budget, or {@link #MAX_BLOCKS} for a growable one. */
    private final int limit;
    /** Floats of one block: all layers' rows. */
    private final long blockFloats;

    private Arena arena;
    private volatile MemorySegment keys;
    private volatile MemorySegment values;
    private int capacity;
    private int[] refs;
    private int[] free;
    private int freeCount;
    private boolean closed;
    /** Caches of a private store (see {@link #privateFor}); the store closes when the last one is released. */
    private final boolean closesWhenUnused;
    private int caches;

    private KvBlockStore(int kvDim, int firstLayer, int endLayer, int blockTokens, int capacity, boolean growable,
                         boolean closesWhenUnused) {
        if (kvDim < 1 || firstLayer < 0 || endLayer <= firstLayer || blockTokens < 1 || capacity < 1) {
            throw new IllegalArgumentException("a KV store needs rows of at least one float, at least one layer and"
                    + " at least one block of at least one position, got rows of " + kvDim + ", layers [" + firstLayer
                    + ", " + endLayer + "), " + capacity + " blocks of " + blockTokens);
        }
        this.kvDim = kvDim;
        this.firstLayer = firstLayer;
        this.layers = endLayer - firstLayer;
        this.blockTokens = blockTokens;
        this.limit = growable ? MAX_BLOCKS : capacity;
        this.closesWhenUnused = closesWhenUnused;
        this.blockFloats = (long) layers * blockTokens * kvDim;
        allocateStorage(growable ? capacity : Math.min(capacity, BOUNDED_INITIAL_BLOCKS), 0);
    }

    /**
     * A store of at most {@code capacityBlocks} blocks of {@code blockTokens} positions for layers
     * {@code [firstLayer, endLayer)} of rows of {@code kvDim} floats; {@link #bytes()} tells the native memory it
     * holds now.
     */
    public static KvBlockStore bounded(int kvDim, int firstLayer, int endLayer, int blockTokens, int capacityBlocks) {
        return new KvBlockStore(kvDim, firstLayer, endLayer, blockTokens, capacityBlocks, false, false);
    }

    /** A bounded store for all of {@code config}'s layers. */
    public static KvBlockStore bounded(ModelConfig config, int blockTokens, int capacityBlocks) {
        return bounded(config.kvDim(), 0, config.numLayers(), blockTokens, capacityBlocks);
    }

    /** A store for layers {@code [firstLayer, endLayer)} that grows as blocks are needed, without a bound. */
    public static KvBlockStore growable(int kvDim, int firstLayer, int endLayer, int blockTokens) {
        return new KvBlockStore(kvDim, firstLayer, endLayer, blockTokens, GROWABLE_INITIAL_BLOCKS, true, false);
    }

    /** A growable store for all of {@code config}'s layers. */
    public static KvBlockStore growable(ModelConfig config, int blockTokens) {
        return growable(config.kvDim(), 0, config.numLayers(), blockTokens);
    }

    /** The store of a cache made without one: growable, closed when its last cache is released. */
    static KvBlockStore privateFor(ModelConfig config) {
        return new KvBlockStore(config.kvDim(), 0, config.numLayers(), DEFAULT_BLOCK_TOKENS, GROWABLE_INITIAL_BLOCKS,
                true, true);
    }

    /** Under the lock (or from the constructor): new memory of {@code blocks} blocks, the first {@code keep} copied. */
    private void allocateStorage(int blocks, int keep) {
        long bytes = Float.BYTES * blockFloats * blocks;
        Arena next = Arena.ofShared();
        MemorySegment k;
        MemorySegment v;
        try {
            k = next.allocate(bytes, ALIGN);
            v = next.allocate(bytes, ALIGN);
        } catch (OutOfMemoryError | IllegalArgumentException e) {
            next.close();
            throw new IllegalStateException("cannot allocate " + blocks + " KV blocks (" + 2 * bytes + " bytes): " + e,
                    e);
        }
        if (keep > 0) {
            long kept = Float.BYTES * blockFloats * keep;
            MemorySegment.copy(keys, 0, k, 0, kept);
            MemorySegment.copy(values, 0, v, 0, kept);
        }
        int[] nextRefs = new int[blocks];
        int[] nextFree = new int[blocks];
        int count = 0;
        if (refs != null) {
            System.arraycopy(refs, 0, nextRefs, 0, keep);
            System.arraycopy(free, 0, nextFree, 0, freeCount);
            count = freeCount;
        }
        // new blocks go on the free list highest first, so the lowest is handed out first
        for (int b = blocks - 1; b >= keep; b--) {
            nextFree[count++] = b;
        }
        Arena old = arena;
        arena = next;
        keys = k;
        values = v;
        refs = nextRefs;
        free = nextFree;
        freeCount = count;
        capacity = blocks;
        if (old != null) {
            old.close();
        }
    }

    /**
     * A free block, now referenced once.
     *
     * @throws KvStoreFullException when a bounded store has none left
     */
    public synchronized int allocate() {
        checkOpen();
        if (freeCount == 0) {
            if (capacity >= limit) {
                throw new KvStoreFullException(capacity, blockTokens);
            }
            allocateStorage((int) Math.min(2L * capacity, limit), capacity);
        }
        int b = free[--freeCount];
        refs[b] = 1;
        return b;
    }

    /** One more reference to an allocated block (a sequence sharing it). */
    public synchronized void retain(int block) {
        checkOpen();
        checkAllocated(block);
        refs[block]++;
    }

    /** Drops one reference; the block is free again when none is left. */
    public synchronized void release(int block) {
        if (closed) {
            return; // the memory is gone already: nothing to give back
        }
        checkAllocated(block);
        if (--refs[block] == 0) {
            free[freeCount++] = block;
        }
    }

    /** References to {@code block}: 0 when free. */
    public synchronized int refCount(int block) {
        if (block < 0 || block >= capacity) {
            throw new IndexOutOfBoundsException("block " + block + " of a KV store of " + capacity);
        }
        return refs[block];
    }

    private void checkAllocated(int block) {
        if (block < 0 || block >= capacity || refs[block] == 0) {
            throw new IllegalStateException("block " + block + " is not allocated in this KV store of " + capacity
                    + " blocks");
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the KV store is closed");
        }
    }

    /** Blocks referenced by at least one sequence. */
    public synchronized int usedBlocks() {
        return capacity - freeCount;
    }

    public synchronized int freeBlocks() {
        return freeCount;
    }

    /** The most blocks the store may hold: its budget (a growable store's is practically unbounded). */
    public int limit() {
        return limit;
    }

    /** Blocks the store holds now (it grows up to {@link #limit()} as blocks are needed). */
    public synchronized int capacity() {
        return capacity;
    }

    /** Native memory held now, keys and values. */
    public synchronized long bytes() {
        return 2L * Float.BYTES * blockFloats * capacity;
    }

    public int blockTokens() {
        return blockTokens;
    }

    public int kvDim() {
        return kvDim;
    }

    public boolean growable() {
        return limit == MAX_BLOCKS;
    }

    /** Whether layer {@code layer} of the model has rows in this store. */
    public boolean holdsLayer(int layer) {
        return layer >= firstLayer && layer < firstLayer + layers;
    }

    private long layerOffset(int layer) {
        if (!holdsLayer(layer)) {
            throw new IllegalArgumentException("layer " + layer + " is not in this KV store, which holds layers ["
                    + firstLayer + ", " + (firstLayer + layers) + ")");
        }
        return (long) (layer - firstLayer) * blockTokens * kvDim;
    }

    /** Attention's view of layer {@code layer} of the sequence whose block table is {@code table}. */
    PagedKv view(int layer, int[] table) {
        return new PagedKv(keys, values, table, blockTokens, blockFloats, layerOffset(layer), kvDim);
    }

    /** Writes key and value rows ({@code kvDim} floats at {@code kOff} of k, {@code vOff} of v) into a slot. */
    void write(int layer, int block, int slot, float[] k, int kOff, float[] v, int vOff) {
        long at = Float.BYTES * (block * blockFloats + layerOffset(layer) + (long) slot * kvDim);
        MemorySegment.copy(k, kOff, keys, JAVA_FLOAT, at, kvDim);
        MemorySegment.copy(v, vOff, values, JAVA_FLOAT, at, kvDim);
    }

    /** Copies every layer's rows of block {@code from} into block {@code to}. */
    synchronized void copyBlock(int from, int to) {
        checkOpen();
        checkAllocated(from);
        checkAllocated(to);
        long bytes = Float.BYTES * blockFloats;
        MemorySegment.copy(keys, from * bytes, keys, to * bytes, bytes);
        MemorySegment.copy(values, from * bytes, values, to * bytes, bytes);
    }

    /** A cache of a private store starts using it. */
    synchronized void attachCache() {
        checkOpen();
        caches++;
    }

    /** A cache of a private store is done with it: the store closes with its last cache. */
    synchronized void detachCache() {
        if (closesWhenUnused && --caches == 0) {
            close();
        }
    }

    /** Frees the memory. Blocks still referenced are gone with it; their caches must not be used any more. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }

    @Override
    public synchronized String toString() {
        return "KV store: " + (capacity - freeCount) + " of " + capacity + " blocks of " + blockTokens
                + " positions used, layers [" + firstLayer + ", " + (firstLayer + layers) + ")"
                + (limit == MAX_BLOCKS ? ", growable" : ", budget " + limit + " blocks");
    }
}
