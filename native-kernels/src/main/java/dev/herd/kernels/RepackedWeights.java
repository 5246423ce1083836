package dev.herd.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The repacked copies of a {@link NativeBackend}'s weight matrices, made at a matrix's first product and
 * found again by where its bytes are. Copies are carved from large slabs of huge-page memory, one set of
 * slabs per source memory (one model's mapping): every copy of a model goes when that model's memory is
 * released, so slabs are never fragmented, and small matrices do not each round up to a 2 MiB page.
 *
 * <p>Not thread-safe: the backend calls it under its lock.
 */
final class RepackedWeights implements AutoCloseable {
    /** Slabs are at least this big; a larger copy gets a slab of its own. */
    private static final long SLAB_BYTES = 64L << 20;
    private static final long HUGE_PAGE = 2L << 20;

    /** What the kernels provide: the layout's size, the repacking, and slab memory. */
    interface Kernels {
        /** Bytes of the repacked form, or 0 when there is none for this type and shape. */
        long repackedSize(int type, long rows, long cols) throws Throwable;

        /** Repacks src into dst; returns the repacked type's code, negative on failure. */
        int repack(int type, MemorySegment src, long rows, long cols, MemorySegment dst) throws Throwable;

        /** Huge-page memory of {@code bytes} (a multiple of 2 MiB), NULL when none is left. */
        MemorySegment allocate(long bytes) throws Throwable;

        void free(MemorySegment slab, long bytes) throws Throwable;
    }

    /** A usable copy: its bytes and the type code the kernels take for them. */
    record Copy(MemorySegment data, int code) {
    }

    /** A weight matrix's identity: where its bytes are, and its shape. */
    private record Key(long address, long bytes, long rows, long cols) {
    }

    /** What is known of a matrix: its copy, or null data when it cannot be repacked. */
    private record Entry(MemorySegment.Scope source, Copy copy) {
    }

    /** The slabs holding the copies made from one source memory. */
    private static final class Source {
        final Arena arena = Arena.ofShared();
        MemorySegment slab;
        long used;
        int tensors;
        long bytes;
    }

    private final Kernels kernels;
    private final Map<Key, Entry> entries = new HashMap<>();
    private final Map<MemorySegment.Scope, Source> sources = new HashMap<>();
    private int made;
    private long nanos;

    RepackedWeights(Kernels kernels) {
        this.kernels = kernels;
    }

    /**
     * The copy of w (of kernel type {@code type}), made now if the kernels have a layout for it and there is
     * none yet; null to multiply w where it is. Only native memory qualifies (a heap segment's address is an
     * offset, not an identity); copies of released memory are freed before a new one is made, and if memory
     * for a copy cannot be had, w is used as it is.
     */
    @SuppressWarnings("restricted") // slab memory comes from the library, sized and freed here
    Copy of(Tensor w, int type) throws Throwable {
        MemorySegment data = w.data();
        if (!data.isNative()) {
            return null;
        }
        Key key = new Key(data.address(), data.byteSize(), w.rows(), w.cols());
        Entry e = entries.get(key);
        if (e != null && e.source().equals(data.scope())) {
            return e.copy();
        }
        dropReleased();
        long size = kernels.repackedSize(type, w.rows(), w.cols());
        if (size <= 0) {
            entries.put(key, new Entry(data.scope(), null));
            return null;
        }
        long start = System.nanoTime();
        Source s = sources.get(data.scope());
        if (s == null) {
            s = new Source();
            sources.put(data.scope(), s);
        }
        long at = (s.used + 63) & ~63L;
        if (s.slab == null || at + size > s.slab.byteSize()) {
            long slabBytes = (Math.max(SLAB_BYTES, size) + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
            MemorySegment raw = kernels.allocate(slabBytes);
            if (raw.equals(MemorySegment.NULL)) {
                return null; // not remembered: memory may be found later
            }
            s.slab = raw.reinterpret(slabBytes, s.arena, slab -> {
                try {
                    kernels.free(slab, slabBytes);
                } catch (Throwable t) {
                    throw new IllegalStateException("freeing repacked weights", t);
                }
            });
            at = 0;
        }
        MemorySegment dst = s.slab.asSlice(at, size);
        int code = kernels.repack(type, data, w.rows(), w.cols(), dst);
        if (code < 0) {
            entries.put(key, new Entry(data.scope(), null));
            return null;
        }
        s.used = at + size;
        s.tensors++;
        s.bytes += size;
        Copy copy = new Copy(dst, code);
        entries.put(key, new Entry(data.scope(), copy));
        made++;
        nanos += System.nanoTime() - start;
        return copy;
    }

    NativeBackend.RepackStats stats() {
        int tensors = 0;
        long bytes = 0;
        for (Source s : sources.values()) {
            tensors += s.tensors;
            bytes += s.bytes;
        }
        return new NativeBackend.RepackStats(tensors, bytes, made, nanos);
    }

    /** Frees the copies made from memory that has since been released (a closed model). */
    private void dropReleased() {
        List<MemorySegment.Scope> dead = new ArrayList<>();
        for (MemorySegment.Scope scope : sources.keySet()) {
            if (!scope.isAlive()) {
                dead.add(scope);
            }
        }
        for (Iterator<Entry> it = entries.values().iterator(); it.hasNext(); ) {
            if (!it.next().source().isAlive()) {
                it.remove();
            }
        }
        for (MemorySegment.Scope scope : dead) {
            sources.remove(scope).arena.close();
        }
    }

    /** Frees every copy (through the kernels: call before they are unloaded). */
    @Override
    public void close() {
        entries.clear();
        for (Source s : sources.values()) {
            s.arena.close();
        }
        sources.clear();
    }
}
