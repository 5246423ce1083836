package dev.herd.kernels.cuda;

import java.lang.foreign.MemorySegment;

/**
 * Device memory as the weight and cache bookkeeping sees it: allocate, free, copy in, copy across.
 * {@link CudaBackend} implements it on the CUDA runtime; tests of the bookkeeping use a host fake.
 * Device addresses are {@code long}s; 0 is never a valid allocation.
 */
interface DeviceMemory {
    /** A new allocation of {@code bytes}; {@code what} names it in an out-of-memory error. */
    long allocate(long bytes, String what);

    void free(long device);

    /** Copies all of {@code host} (heap or native memory) to {@code device}; done when this returns. */
    void upload(MemorySegment host, long device);

    /** Copies {@code bytes} from device to device, ordered before any later work. */
    void copy(long dst, long src, long bytes);
}
