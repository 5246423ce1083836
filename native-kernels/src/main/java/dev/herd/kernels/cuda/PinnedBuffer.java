package dev.herd.kernels.cuda;

import java.lang.foreign.MemorySegment;

/**
 * Page-locked host memory for transfers, grown on demand (to at least 1.5 times its size, in whole MiB)
 * and reused, never allocated per call: pinned allocations cost far more than the copies they serve.
 * Growing keeps the bytes already written below {@code keep}.
 */
final class PinnedBuffer {
    private static final long MIB = 1L << 20;

    private final CudaRuntime rt;
    private MemorySegment segment;

    PinnedBuffer(CudaRuntime rt) {
        this.rt = rt;
    }

    MemorySegment segment() {
        return segment;
    }

    long address() {
        return segment.address();
    }

    /** At least {@code bytes} long afterwards; the first {@code keep} bytes survive a reallocation. */
    MemorySegment ensure(long bytes, long keep) {
        if (segment != null && segment.byteSize() >= bytes) {
            return segment;
        }
        long size = Math.max(bytes, segment == null ? MIB : segment.byteSize() + segment.byteSize() / 2);
        size = (size + MIB - 1) / MIB * MIB;
        MemorySegment grown = rt.mallocHost(size);
        if (segment != null) {
            MemorySegment.copy(segment, 0, grown, 0, Math.min(keep, segment.byteSize()));
            rt.freeHost(segment);
        }
        segment = grown;
        return segment;
    }

    void free() {
        if (segment != null) {
            rt.freeHost(segment);
            segment = null;
        }
    }
}
