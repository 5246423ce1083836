package dev.herd.kernels.cuda;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

/**
 * Device memory simulated on the heap, for testing the bookkeeping above it: allocations get distinct
 * 256-aligned addresses, and every call is logged so tests can assert what was (not) transferred.
 */
final class FakeDeviceMemory implements DeviceMemory {
    private final TreeMap<Long, byte[]> blocks = new TreeMap<>();
    private long next = 1L << 32;
    final List<String> log = new ArrayList<>();
    long uploadedBytes;

    @Override
    public long allocate(long bytes, String what) {
        long a = next;
        next += (bytes + 4095) / 4096 * 4096 + 4096;
        blocks.put(a, new byte[Math.toIntExact(bytes)]);
        log.add("alloc " + bytes);
        return a;
    }

    @Override
    public void free(long device) {
        if (blocks.remove(device) == null) {
            throw new AssertionError("free of " + device + ", which is not an allocation");
        }
        log.add("free");
    }

    @Override
    public void upload(MemorySegment host, long device) {
        MemorySegment.copy(host, 0, view(device, host.byteSize()), 0, host.byteSize());
        uploadedBytes += host.byteSize();
        log.add("upload " + host.byteSize());
    }

    @Override
    public void copy(long dst, long src, long bytes) {
        MemorySegment.copy(view(src, bytes), 0, view(dst, bytes), 0, bytes);
        log.add("copy " + bytes);
    }

    /** The simulated device bytes at {@code [device, device + bytes)}, which must lie in one allocation. */
    MemorySegment view(long device, long bytes) {
        var e = blocks.floorEntry(device);
        if (e == null || device + bytes > e.getKey() + e.getValue().length) {
            throw new AssertionError("access of " + bytes + " bytes at " + device + " outside any allocation");
        }
        return MemorySegment.ofArray(e.getValue()).asSlice(device - e.getKey(), bytes);
    }

    int allocations() {
        return blocks.size();
    }
}
