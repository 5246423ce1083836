package dev.herd.kernels.cuda;

import dev.herd.kernels.PagedKv;

import java.lang.foreign.MemorySegment;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.util.HashMap;
import java.util.Map;

/**
 * Device copies of key/value caches, one contiguous copy per host cache (found by the identity of an owner
 * object and a tag), so that attention uploads only what changed instead of the whole cache on every call.
 * The host side may be one array or a paged cache whose rows sit in blocks anywhere in memory: the copy
 * gathers them into position order, block by block, as they are uploaded.
 *
 * <p>The contract that makes this safe (and that {@code KvCache} and the forward pass keep): between
 * two attention calls on the same owner and tag, rows are written only at the positions of the later call's
 * queries. So a call uploads the rows from its lowest query position (or from the end of what the copy
 * holds, if lower) up to its highest, and rows below stay as they were uploaded. A caller that rewrites
 * older rows in place must use a new owner, or turn this off ({@code CudaBackend.Options}), which makes
 * every call upload all rows up to its highest position.
 *
 * <p>A copy is freed when its owner is garbage collected (checked on each call) or on {@link #clear()}.
 */
final class KvMirrors {
    /** Host rows of one cache: each run of rows in {@code [from, to)} that is contiguous in host memory. */
    interface HostRows {
        void pieces(int from, int to, Piece piece);
    }

    interface Piece {
        /** {@code host} holds rows {@code [firstRow, firstRow + host.byteSize() / rowBytes)}. */
        void accept(MemorySegment host, int firstRow);
    }

    /** Rows of a paged cache's {@code storage} (its keys or its values) as runs that do not cross a block. */
    static HostRows blockRows(PagedKv cache, MemorySegment storage) {
        int bt = cache.blockTokens();
        long rowBytes = (long) Float.BYTES * cache.kvDim();
        return (from, to, piece) -> {
            for (int t = from; t < to; ) {
                int end = (int) Math.min(to, ((long) t / bt + 1) * bt);
                piece.accept(storage.asSlice(Float.BYTES * cache.row(t), (end - t) * rowBytes), t);
                t = end;
            }
        };
    }

    private static final class Key extends WeakReference<Object> {
        final int hash;
        final long tag;

        Key(Object owner, long tag, ReferenceQueue<Object> queue) {
            super(owner, queue);
            this.tag = tag;
            this.hash = System.identityHashCode(owner) * 31 + Long.hashCode(tag);
        }

        @Override
        public int hashCode() {
            return hash;
        }

        @Override
        public boolean equals(Object o) {
            if (this == o) {
                return true;
            }
            if (o instanceof Key k) {
                Object a = get();
                return a != null && a == k.get() && tag == k.tag;
            }
            return false;
        }
    }

    private static final class Mirror {
        long device;
        long capacityRows;
        int rowFloats;
        int validRows;
    }

    private final DeviceMemory memory;
    private final ReferenceQueue<Object> collected = new ReferenceQueue<>();
    private final Map<Key, Mirror> mirrors = new HashMap<>();
    private long bytes;

    KvMirrors(DeviceMemory memory) {
        this.memory = memory;
    }

    /**
     * The device address of rows {@code [0, rows)} of {@code cache} (rows of {@code rowFloats} floats), current
     * for every row at or above {@code firstChanged} and for rows this copy has never held.
     */
    long sync(float[] cache, int rowFloats, int rows, int firstChanged) {
        if ((long) rows * rowFloats > cache.length) {
            throw new IllegalArgumentException(rows + " rows of " + rowFloats + " floats exceed a cache of "
                    + cache.length + " floats");
        }
        MemorySegment all = MemorySegment.ofArray(cache);
        return sync(cache, 0, rowFloats, rows, cache.length / rowFloats, firstChanged,
                (from, to, piece) -> piece.accept(all.asSlice(4L * from * rowFloats, 4L * (to - from) * rowFloats),
                        from));
    }

    /**
     * The same for a cache identified by {@code owner} (by identity) and {@code tag}, whose rows come from
     * {@code source} and which can hold at most {@code maxRows} rows.
     */
    long sync(Object owner, long tag, int rowFloats, int rows, long maxRows, int firstChanged, HostRows source) {
        expunge();
        Key probe = new Key(owner, tag, null); // not queued: only the key stored in the map is
        Mirror m = mirrors.get(probe);
        if (m != null && m.rowFloats != rowFloats) { // the same cache read with another row width: start over
            release(m);
            mirrors.remove(probe);
            m = null;
        }
        if (m == null) {
            m = new Mirror();
            m.rowFloats = rowFloats;
            m.capacityRows = Math.max(rows, 1);
            m.device = memory.allocate(4L * m.capacityRows * rowFloats, "key/value cache copy");
            bytes += 4L * m.capacityRows * rowFloats;
            mirrors.put(new Key(owner, tag, collected), m);
        } else if (rows > m.capacityRows) {
            long capacity = Math.max(rows, Math.min(maxRows, 2 * m.capacityRows));
            long device = memory.allocate(4L * capacity * rowFloats, "key/value cache copy");
            memory.copy(device, m.device, 4L * Math.min(m.validRows, rows) * rowFloats);
            memory.free(m.device);
            bytes += 4L * (capacity - m.capacityRows) * rowFloats;
            m.device = device;
            m.capacityRows = capacity;
        }
        int from = Math.max(0, Math.min(firstChanged, m.validRows));
        if (from < rows) {
            long device = m.device;
            source.pieces(from, rows, (host, first) -> memory.upload(host, device + 4L * first * rowFloats));
        }
        m.validRows = Math.max(m.validRows, rows);
        return m.device;
    }

    /** Device bytes held by copies. */
    long bytes() {
        return bytes;
    }

    int count() {
        expunge();
        return mirrors.size();
    }

    void clear() {
        for (Mirror m : mirrors.values()) {
            memory.free(m.device);
        }
        mirrors.clear();
        bytes = 0;
        while (collected.poll() != null) {
            // already gone from the map
        }
    }

    private void expunge() {
        for (var ref = collected.poll(); ref != null; ref = collected.poll()) {
            Mirror m = mirrors.remove((Key) ref);
            if (m != null) {
                release(m);
            }
        }
    }

    private void release(Mirror m) {
        memory.free(m.device);
        bytes -= 4L * m.capacityRows * m.rowFloats;
    }
}
