package dev.herd.model.forward;

import dev.herd.kernels.PagedKv;
import dev.herd.model.config.ModelConfig;

import java.lang.ref.Cleaner;
import java.util.Arrays;

/**
 * Keys and values of one sequence for the layers a process runs, by position: a block table over a
 * {@link KvBlockStore}. Position {@code p} lives in slot {@code p % blockTokens} of block
 * {@code table[p / blockTokens]}; blocks are taken from the store as positions are written and given back by
 * {@link #truncate} and {@link #release}.
 *
 * <p>Blocks may be shared with other caches ({@link #copyOf} of a prefix shares its full blocks). A block is
 * written only at positions a forward pass is about to fill, and a block that another cache also references is
 * copied first (copy on write), so sharing never changes what another sequence sees. In the forward pass's
 * usage full blocks are never written again, so the copy happens only when a sequence is cut back into a
 * shared block and re-run.
 *
 * <p>Not thread-safe, except that {@link #release} may come from another thread than the forward pass (the
 * store's bookkeeping is synchronised); a released cache refuses to be written. Releasing a cache while a pass
 * that includes it is running is a caller's error: its blocks may already serve another sequence.
 */
public final class KvCache implements AutoCloseable {
    /** Frees the private store of a cache nobody released once the cache is unreachable. */
    private static final Cleaner CLEANER = Cleaner.create();

    private final KvBlockStore store;
    private final Cleaner.Cleanable detach;
    private int[] table = new int[4];
    private int blocks;
    private int length;
    private volatile boolean released;

    /**
     * A cache with a private growable store, for callers without a KV budget (a single sequence, tests). The
     * store goes with the cache: on {@link #release}, or when the cache (and every copy of it) is unreachable.
     */
    public KvCache(ModelConfig config) {
        this(KvBlockStore.privateFor(config));
    }

    /** An empty cache over {@code store}, whose blocks it takes as positions are written. */
    public KvCache(KvBlockStore store) {
        this.store = store;
        store.attachCache();
        this.detach = CLEANER.register(this, store::detachCache);
    }

    /**
     * A cache holding {@code source}'s first {@code positions} positions: a sequence that starts with the same
     * tokens (a shared system prompt) continues from there instead of recomputing them. Keys and values at a
     * position depend only on the tokens up to it, so this is exactly what recomputing would write. The full
     * blocks of the prefix are shared, not copied (no new blocks for a block-aligned prefix); a partly filled
     * last block is copied.
     *
     * @throws KvStoreFullException when a bounded store has no block for the copied part
     */
    public static KvCache copyOf(KvCache source, int positions) {
        source.checkLive();
        if (positions < 0 || positions > source.length) {
            throw new IllegalArgumentException("cannot copy " + positions + " positions of a cache of " + source.length);
        }
        KvCache c = new KvCache(source.store);
        int bt = source.store.blockTokens();
        int full = positions / bt;
        c.ensureTable(full + 1);
        for (int b = 0; b < full; b++) {
            source.store.retain(source.table[b]);
            c.table[c.blocks++] = source.table[b];
        }
        if (positions % bt != 0) {
            int copy = source.store.allocate();
            c.table[c.blocks++] = copy;
            source.store.copyBlock(source.table[full], copy);
        }
        c.length = positions;
        return c;
    }

    /** Positions filled so far: the next token goes at this position. */
    public int length() {
        return length;
    }

    /** Marks {@code n} more positions as filled (after every layer has written them). */
    public void advance(int n) {
        checkLive();
        if (n < 0 || (long) length + n > (long) blocks * store.blockTokens()) {
            throw new IllegalArgumentException("cannot advance a cache of " + length + " positions in " + blocks
                    + " blocks by " + n);
        }
        length += n;
    }

    /** Forgets positions from {@code newLength} on, e.g. to re-run a suffix; whole blocks past it go back. */
    public void truncate(int newLength) {
        checkLive();
        if (newLength < 0 || newLength > length) {
            throw new IllegalArgumentException("cannot truncate a cache of " + length + " to " + newLength);
        }
        int keep = (newLength + store.blockTokens() - 1) / store.blockTokens();
        while (blocks > keep) {
            store.release(table[--blocks]);
        }
        length = newLength;
    }

    /**
     * Gives every block back (shared ones lose one reference); the cache is empty and unusable afterwards.
     * Idempotent.
     */
    public void release() {
        synchronized (this) {
            if (released) {
                return;
            }
            released = true;
        }
        while (blocks > 0) {
            store.release(table[--blocks]);
        }
        length = 0;
        detach.clean();
    }

    @Override
    public void close() {
        release();
    }

    public int kvDim() {
        return store.kvDim();
    }

    /** Blocks in the table now (shared ones included). */
    public int blocks() {
        return blocks;
    }

    /** Block {@code i} of the table. */
    public int block(int i) {
        if (i < 0 || i >= blocks) {
            throw new IndexOutOfBoundsException("block " + i + " of a table of " + blocks);
        }
        return table[i];
    }

    public KvBlockStore store() {
        return store;
    }

    /**
     * Makes positions {@code [from, to)} writable: blocks are taken for positions beyond the table, and a
     * shared block among those positions is replaced by a private copy (its earlier rows kept).
     *
     * @throws KvStoreFullException when a bounded store runs out
     */
    void prepareWrite(int from, int to) {
        checkLive();
        if (from < 0 || from > length || to < from) {
            throw new IllegalArgumentException("cannot write positions [" + from + ", " + to + ") of a cache of "
                    + length);
        }
        if (to == from) {
            return;
        }
        int bt = store.blockTokens();
        int last = (to - 1) / bt;
        for (int b = from / bt; b < Math.min(blocks, last + 1); b++) {
            if (store.refCount(table[b]) > 1) {
                int copy = store.allocate();
                store.copyBlock(table[b], copy);
                store.release(table[b]);
                table[b] = copy;
            }
        }
        ensureTable(last + 1);
        while (blocks <= last) {
            table[blocks] = store.allocate();
            blocks++;
        }
    }

    /** Writes the key and value rows {@code [from, from + n)} of k and v at {@code positions[from...]}. */
    void write(int layer, int[] positions, int from, int n, float[] k, float[] v) {
        checkLive();
        int bt = store.blockTokens();
        int kvDim = store.kvDim();
        for (int i = from; i < from + n; i++) {
            int p = positions[i];
            if (p / bt >= blocks) {
                throw new IllegalStateException("position " + p + " has no block: prepareWrite first");
            }
            store.write(layer, table[p / bt], p % bt, k, i * kvDim, v, i * kvDim);
        }
    }

    /** Attention's view of layer {@code layer}: reads the live block table (entries below {@link #blocks()}). */
    PagedKv view(int layer) {
        checkLive();
        return store.view(layer, table);
    }

    private void ensureTable(int entries) {
        if (entries > table.length) {
            table = Arrays.copyOf(table, Math.max(entries, 2 * table.length));
        }
    }

    private void checkLive() {
        if (released) {
            throw new IllegalStateException("this sequence's KV cache has been released");
        }
    }
}
