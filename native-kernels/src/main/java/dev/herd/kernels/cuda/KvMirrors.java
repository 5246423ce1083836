package dev.herd.kernels.cuda;

import java.lang.foreign.MemorySegment;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.util.HashMap;
import java.util.Map;

/**
 * Device copies of key/value cache arrays, one per host array (by identity), so that attention uploads
 * only what changed instead of the whole cache on every call.
 *
 * <p>The contract that makes this safe (and that {@code KvCache} and the forward pass keep): between
 * two attention calls on the same array, rows are written only at the positions of the later call's
 * queries. So a call uploads the rows from its lowest query position (or from the end of what the copy
 * holds, if lower) up to its highest, and rows below stay as they were uploaded. A caller that rewrites
 * older rows in place must use a new array, or turn this off ({@code CudaBackend.Options}), which makes
 * every call upload all rows up to its highest position.
 *
 * <p>A copy is freed when its host array is garbage collected (checked on each call) or on {@link #clear()}.
 */
final class KvMirrors {
    private static final class Key extends WeakReference<float[]> {
        final int hash;

        Key(float[] array, ReferenceQueue<float[]> queue) {
            super(array, queue);
            this.hash = System.identityHashCode(array);
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
                float[] a = get();
                return a != null && a == k.get();
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
    private final ReferenceQueue<float[]> collected = new ReferenceQueue<>();
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
        expunge();
        if ((long) rows * rowFloats > cache.length) {
            throw new IllegalArgumentException(rows + " rows of " + rowFloats + " floats exceed a cache of "
                    + cache.length + " floats");
        }
        Key probe = new Key(cache, null); // not queued: only the key stored in the map is
        Mirror m = mirrors.get(probe);
        if (m != null && m.rowFloats != rowFloats) { // the same array read with another row width: start over
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
            mirrors.put(new Key(cache, collected), m);
        } else if (rows > m.capacityRows) {
            long maxRows = cache.length / rowFloats;
            long capacity = Math.min(maxRows, Math.max(rows, 2 * m.capacityRows));
            long device = memory.allocate(4L * capacity * rowFloats, "key/value cache copy");
            memory.copy(device, m.device, 4L * Math.min(m.validRows, rows) * rowFloats);
            memory.free(m.device);
            bytes += 4L * (capacity - m.capacityRows) * rowFloats;
            m.device = device;
            m.capacityRows = capacity;
        }
        int from = Math.max(0, Math.min(firstChanged, m.validRows));
        if (from < rows) {
            MemorySegment host = MemorySegment.ofArray(cache).asSlice(4L * from * rowFloats, 4L * (rows - from) * rowFloats);
            memory.upload(host, m.device + 4L * from * rowFloats);
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
