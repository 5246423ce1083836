package dev.herd.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.concurrent.locks.ReentrantLock;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The C kernels of {@code src/main/c}, called through {@code java.lang.foreign}. One library holds a
 * portable, an AVX2 and an AVX-512 build of every kernel; the best one this CPU runs is picked at load.
 * Each instance owns a pool of native worker threads that matrix products and attention are split over.
 *
 * <p>Activations go to C as heap segments in critical downcalls: no copies, and the arrays cannot move
 * while the pool's threads read and write them, because a thread inside a critical call holds off the
 * garbage collector until it returns (every kernel returns only after its workers are done). The price
 * is that a collection waits for the kernel in flight: under a millisecond for a decode step's product,
 * longer for a long prompt's. Attention reads the paged key/value cache where it is (native memory),
 * walking its block table in C, with the same arithmetic in the same order as over contiguous rows.
 *
 * <p>Quantized weights are multiplied with activations rounded to 8 bits per block (as llama.cpp does),
 * which adds a relative error of about 1e-5..1e-4 (as NMSE) to those products; float weights and all
 * other kernels agree with {@link ReferenceBackend} to f32 rounding. Types the C code does not handle
 * ({@link DType#F8_E4M3}) run on an internal reference backend.
 *
 * <p>Where the kernels have a faster layout for a weight type (the AVX-512 kernels: Q4_0 and Q8_0, rows
 * interleaved in groups of 16), a matrix is repacked into it the first time it is multiplied and the copy
 * is used from then on: memory the size of the weights (the mapped file's pages are then no longer read
 * and the OS may drop them), and a one-off pass over them. {@link #load(int, Isa, int, boolean)} turns this
 * off; {@link #repackStats()} says what it cost.
 *
 * <p>Calls on one instance are serialised (the pool computes one kernel at a time).
 */
public final class NativeBackend implements Backend {

    /**
     * Instruction-set level of the kernels; {@link #AUTO} picks the best the CPU supports. {@link #AVX2}
     * needs AVX2, FMA and F16C; {@link #AVX512} needs AVX-512 F/BW/VL/DQ and VNNI as well.
     */
    public enum Isa {
        AUTO(0), PORTABLE(1), AVX2(2), AVX512(3);

        private final int code;

        Isa(int code) {
            this.code = code;
        }

        static Isa ofCode(int code) {
            for (Isa i : values()) {
                if (i.code == code) {
                    return i;
                }
            }
            throw new IllegalStateException("unknown ISA level " + code);
        }
    }

    /** How long idle workers spin before sleeping: covers the gap between the kernels of a decode step. */
    public static final int DEFAULT_SPIN_MICROS = 200;

    private static final int ENOMEM = -2;
    private static final Linker LINKER = Linker.nativeLinker();
    private static final Linker.Option CRITICAL = Linker.Option.critical(true);

    // Address-less handles: the function address is their first argument. They hold no state, so they
    // are shared by all instances and constant to the JIT; each instance supplies its library's addresses.
    private static final MethodHandle ISA_SUPPORTED = handle(FunctionDescriptor.of(JAVA_INT, JAVA_INT), CRITICAL);
    private static final MethodHandle CREATE = handle(FunctionDescriptor.of(ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle DESTROY = handle(FunctionDescriptor.ofVoid(ADDRESS));
    private static final MethodHandle ISA_LEVEL = handle(FunctionDescriptor.of(JAVA_INT, ADDRESS), CRITICAL);
    private static final MethodHandle MATMUL = handle(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS,
            JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS, JAVA_INT), CRITICAL);
    private static final MethodHandle GET_ROW = handle(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS,
            JAVA_LONG, ADDRESS), CRITICAL);
    private static final MethodHandle RMSNORM = handle(FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS,
            JAVA_FLOAT, JAVA_INT, JAVA_INT, ADDRESS), CRITICAL);
    private static final MethodHandle ROPE = handle(FunctionDescriptor.ofVoid(ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT,
            ADDRESS, ADDRESS, JAVA_INT, JAVA_INT), CRITICAL);
    private static final MethodHandle SOFTMAX = handle(FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_LONG), CRITICAL);
    private static final MethodHandle SWIGLU = handle(FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS, JAVA_LONG),
            CRITICAL);
    private static final MethodHandle ATTENTION = handle(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT,
            JAVA_INT, JAVA_FLOAT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG,
            ADDRESS), CRITICAL);
    private static final MethodHandle TRIAD = handle(FunctionDescriptor.of(JAVA_DOUBLE, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle REPACKED_SIZE = handle(FunctionDescriptor.of(JAVA_LONG, ADDRESS, JAVA_INT,
            JAVA_LONG, JAVA_LONG), CRITICAL);
    // not critical: a repack takes a while, and only native memory is involved
    private static final MethodHandle REPACK = handle(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS,
            JAVA_LONG, JAVA_LONG, ADDRESS));
    private static final MethodHandle ALLOC_WEIGHTS = handle(FunctionDescriptor.of(ADDRESS, JAVA_LONG));
    private static final MethodHandle FREE_WEIGHTS = handle(FunctionDescriptor.ofVoid(ADDRESS, JAVA_LONG));
    private static final MethodHandle FFN_SWIGLU = handle(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS,
            JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_INT, ADDRESS), CRITICAL);
    private static final MethodHandle ROUTE = handle(FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_INT, JAVA_INT,
            JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), CRITICAL);

    /**
     * What repacking costs: the copies held now and their bytes (the copies of released weights are freed),
     * and the copies made so far and the time spent making them.
     */
    public record RepackStats(int tensors, long bytes, int made, long nanos) {
    }

    private final Arena arena;
    private final MemorySegment ctx;
    private final Isa isa;
    private final int threads;
    private final ReentrantLock lock = new ReentrantLock();
    private final boolean repack;
    private final RepackedWeights packed; // guarded by lock
    private boolean closed;
    private ReferenceBackend fallback;

    private final MemorySegment fDestroy;
    private final MemorySegment fMatmul;
    private final MemorySegment fGetRow;
    private final MemorySegment fRmsNorm;
    private final MemorySegment fRope;
    private final MemorySegment fSoftmax;
    private final MemorySegment fSwiglu;
    private final MemorySegment fAttention;
    private final MemorySegment fTriad;
    private final MemorySegment fRepackedSize;
    private final MemorySegment fRepack;
    private final MemorySegment fAllocWeights;
    private final MemorySegment fFreeWeights;
    private final MemorySegment fFfnSwiglu;
    private final MemorySegment fRoute;

    private NativeBackend(Arena arena, Symbols lib, MemorySegment ctx, int threads, boolean repack) throws Throwable {
        this.arena = arena;
        this.ctx = ctx;
        this.threads = threads;
        this.repack = repack;
        this.fDestroy = lib.find("herd_destroy");
        this.fMatmul = lib.find("herd_matmul");
        this.fGetRow = lib.find("herd_get_row");
        this.fRmsNorm = lib.find("herd_rmsnorm");
        this.fRope = lib.find("herd_rope");
        this.fSoftmax = lib.find("herd_softmax");
        this.fSwiglu = lib.find("herd_swiglu");
        this.fAttention = lib.find("herd_attention");
        this.fTriad = lib.find("herd_triad");
        this.fRepackedSize = lib.find("herd_repacked_size");
        this.fRepack = lib.find("herd_repack");
        this.fAllocWeights = lib.find("herd_alloc_weights");
        this.fFreeWeights = lib.find("herd_free_weights");
        this.packed = new RepackedWeights(new RepackedWeights.Kernels() {
            @Override
            public long repackedSize(int type, long rows, long cols) throws Throwable {
                return (long) REPACKED_SIZE.invokeExact(fRepackedSize, NativeBackend.this.ctx, type, rows, cols);
            }

            @Override
            public int repack(int type, MemorySegment src, long rows, long cols, MemorySegment dst) throws Throwable {
                return (int) REPACK.invokeExact(fRepack, NativeBackend.this.ctx, type, src, rows, cols, dst);
            }

            @Override
            public MemorySegment allocate(long bytes) throws Throwable {
                return (MemorySegment) ALLOC_WEIGHTS.invokeExact(fAllocWeights, bytes);
            }

            @Override
            public void free(MemorySegment slab, long bytes) throws Throwable {
                FREE_WEIGHTS.invokeExact(fFreeWeights, slab, bytes);
            }
        });
        this.fFfnSwiglu = lib.find("herd_ffn_swiglu");
        this.fRoute = lib.find("herd_route");
        this.isa = Isa.ofCode((int) ISA_LEVEL.invokeExact(lib.find("herd_isa_level"), ctx));
    }

    /** Symbols of the loaded library; a missing one means the file is not (this version of) the kernels. */
    private record Symbols(SymbolLookup lookup, Path file) {
        MemorySegment find(String name) throws NativeUnavailableException {
            return lookup.find(name).orElseThrow(() -> new NativeUnavailableException(
                    file + " is not a matching Herd kernel library: it has no " + name));
        }
    }

    /** The best kernels for this CPU on as many threads as the JVM may use cores. */
    public static NativeBackend load() throws NativeUnavailableException {
        return load(Runtime.getRuntime().availableProcessors());
    }

    /** The best kernels for this CPU on {@code threads} threads (the calling thread counts as one). */
    public static NativeBackend load(int threads) throws NativeUnavailableException {
        return load(threads, Isa.AUTO, DEFAULT_SPIN_MICROS);
    }

    /** The same, repacking weights where the kernels have a faster layout. */
    public static NativeBackend load(int threads, Isa isa, int spinMicros) throws NativeUnavailableException {
        return load(threads, isa, spinMicros, true);
    }

    /**
     * @param threads    threads computing matrix products and attention, the caller's included
     * @param isa        kernel level; anything but {@link Isa#AUTO} fails when the CPU cannot run it
     * @param spinMicros how long idle workers busy-wait for the next kernel before sleeping
     * @param repack     copy weight matrices into the kernels' faster layout at their first product (costs
     *                   their size in memory); false multiplies them where they are mapped
     */
    @SuppressWarnings("restricted") // loading native code is what this class is for
    public static NativeBackend load(int threads, Isa isa, int spinMicros, boolean repack)
            throws NativeUnavailableException {
        if (threads < 1 || threads > 1024) {
            throw new IllegalArgumentException("threads must be in [1, 1024], got " + threads);
        }
        if (spinMicros < 0) {
            throw new IllegalArgumentException("spin time must not be negative, got " + spinMicros);
        }
        Path file = NativeLibraryFile.locate();
        Arena arena = Arena.ofShared();
        try {
            Symbols lib;
            try {
                lib = new Symbols(SymbolLookup.libraryLookup(file, arena), file);
            } catch (IllegalArgumentException e) {
                throw new NativeUnavailableException("cannot load " + file + ": " + e.getMessage(), e);
            }
            if (isa != Isa.AUTO && (int) ISA_SUPPORTED.invokeExact(lib.find("herd_isa_supported"), isa.code) == 0) {
                throw new NativeUnavailableException("this CPU cannot run the " + isa + " kernels (or " + file
                        + " does not contain them)");
            }
            MemorySegment ctx = (MemorySegment) CREATE.invokeExact(lib.find("herd_create"), threads, isa.code,
                    spinMicros);
            if (ctx.equals(MemorySegment.NULL)) {
                throw new NativeUnavailableException("cannot start the native kernels' " + threads + " threads");
            }
            return new NativeBackend(arena, lib, ctx, threads, repack);
        } catch (NativeUnavailableException | RuntimeException | Error e) {
            arena.close();
            throw e;
        } catch (Throwable t) {
            arena.close();
            throw new NativeUnavailableException("cannot bind the native kernels in " + file + ": " + t, t);
        }
    }

    @Override
    public String name() {
        return "native-" + isa.name().toLowerCase(java.util.Locale.ROOT);
    }

    /** The kernel level in use. */
    public Isa isa() {
        return isa;
    }

    public int threads() {
        return threads;
    }

    @Override
    public void matmul(Tensor w, float[] x, float[] y, int n) {
        if (w.rank() != 2) {
            throw new IllegalArgumentException("matmul needs a matrix, got " + w);
        }
        int type = code(w.dtype());
        if (type < 0) {
            fallback().matmul(w, x, y, n);
            return;
        }
        long out = w.rows();
        long in = w.cols();
        if (n < 0 || x.length < n * in || y.length < n * out) {
            throw new IllegalArgumentException("matmul " + w + " on " + n + " rows: x has " + x.length
                    + " floats, y has " + y.length);
        }
        if (n == 0) {
            return;
        }
        lock.lock();
        try {
            checkOpen();
            RepackedWeights.Copy p = packed(w, type);
            MemorySegment data = p == null ? w.data() : p.data(); // typed locals: invokeExact needs exact types
            int code = p == null ? type : p.code();
            int rc = (int) MATMUL.invokeExact(fMatmul, ctx, code, data, out, in, MemorySegment.ofArray(x),
                    MemorySegment.ofArray(y), n);
            check(rc, () -> "matmul " + w);
        } catch (Throwable t) {
            throw rethrow(t);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void getRow(Tensor table, long row, float[] out, int outOffset) {
        if (row < 0 || row >= table.rows()) {
            throw new IndexOutOfBoundsException("row " + row + " of " + table);
        }
        int type = code(table.dtype());
        if (type < 0) {
            fallback().getRow(table, row, out, outOffset);
            return;
        }
        long cols = table.cols();
        if (outOffset < 0 || outOffset + cols > out.length) {
            throw new IndexOutOfBoundsException("row of " + cols + " floats at " + outOffset + " in an array of "
                    + out.length);
        }
        long rb = table.rowBytes();
        lock.lock();
        try {
            checkOpen();
            int rc = (int) GET_ROW.invokeExact(fGetRow, ctx, type, table.data().asSlice(row * rb, rb), cols,
                    MemorySegment.ofArray(out).asSlice(4L * outOffset));
            check(rc, () -> "row " + row + " of " + table);
        } catch (Throwable t) {
            throw rethrow(t);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void rmsNorm(float[] x, float[] weight, float eps, int dim, int n, float[] out) {
        long size = (long) dim * n;
        if (dim < 0 || n < 0 || x.length < size || out.length < size || (weight != null && weight.length < dim)) {
            throw new IllegalArgumentException("rmsNorm of " + n + " rows of " + dim + ": x has " + x.length
                    + ", out " + out.length + (weight == null ? "" : ", weight " + weight.length) + " floats");
        }
        lock.lock();
        try {
            checkOpen();
            // a local of type MemorySegment: invokeExact would see a conditional expression as Object
            MemorySegment w = weight == null ? MemorySegment.NULL : MemorySegment.ofArray(weight);
            RMSNORM.invokeExact(fRmsNorm, ctx, MemorySegment.ofArray(x), w, eps, dim, n, MemorySegment.ofArray(out));
        } catch (Throwable t) {
            throw rethrow(t);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void rope(float[] x, int n, int heads, int headDim, int[] positions, float[] invFreq, RopeStyle style) {
        int half = invFreq.length;
        if (2 * half > headDim) {
            throw new IllegalArgumentException("rotary dims " + 2 * half + " exceed head dim " + headDim);
        }
        if (n < 0 || heads < 0 || x.length < (long) n * heads * headDim || positions.length < n) {
            throw new IllegalArgumentException("rope on " + n + " rows of " + heads + " heads of " + headDim
                    + ": x has " + x.length + " floats, " + positions.length + " positions");
        }
        if (n == 0 || heads == 0 || half == 0) {
            return;
        }
        lock.lock();
        try {
            checkOpen();
            ROPE.invokeExact(fRope, MemorySegment.ofArray(x), n, heads, headDim, MemorySegment.ofArray(positions),
                    MemorySegment.ofArray(invFreq), half, style == RopeStyle.NEOX ? 0 : 1);
        } catch (Throwable t) {
            throw rethrow(t);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void attention(AttentionParams p, float[] q, int[] positions, int n, PagedKv cache, float[] out) {
        cache.checkAttention(p, q, positions, n, out); // the kernel reads rows unchecked: bounds are made sure here
        if (n == 0) {
            return;
        }
        lock.lock();
        try {
            checkOpen();
            // the layer's first row as the base: the kernel adds block and row offsets to it
            MemorySegment k = cache.keys().asSlice(Float.BYTES * cache.offset());
            MemorySegment v = cache.values().asSlice(Float.BYTES * cache.offset());
            int rc = (int) ATTENTION.invokeExact(fAttention, ctx, p.nHeads(), p.nKvHeads(), p.headDim(), p.scale(),
                    p.chunkSize(), MemorySegment.ofArray(q), MemorySegment.ofArray(positions), n, k, v,
                    MemorySegment.ofArray(cache.blocks()), cache.blockTokens(), cache.blockStride(),
                    MemorySegment.ofArray(out));
            check(rc, () -> "attention " + p);
        } catch (Throwable t) {
            throw rethrow(t);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void swiglu(float[] gate, float[] up, int len) {
        if (len < 0 || gate.length < len || up.length < len) {
            throw new IllegalArgumentException("swiglu over " + len + ": gate has " + gate.length + ", up "
                    + up.length + " floats");
        }
        lock.lock();
        try {
            checkOpen();
            SWIGLU.invokeExact(fSwiglu, ctx, MemorySegment.ofArray(gate), MemorySegment.ofArray(up), (long) len);
        } catch (Throwable t) {
            throw rethrow(t);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void softmax(float[] x, int offset, int len) {
        if (offset < 0 || len < 0 || (long) offset + len > x.length) {
            throw new IndexOutOfBoundsException("softmax over [" + offset + ", " + ((long) offset + len)
                    + ") of " + x.length + " floats");
        }
        lock.lock();
        try {
            checkOpen();
            SOFTMAX.invokeExact(fSoftmax, ctx, MemorySegment.ofArray(x).asSlice(4L * offset), (long) len);
        } catch (Throwable t) {
            throw rethrow(t);
        } finally {
            lock.unlock();
        }
    }

    /**
     * One native call: x is quantized once for gate and up, each task computes the same rows of gate and up
     * and gates them while they are in cache, and the intermediate stays in native scratch.
     */
    @Override
    public void swigluFfn(Tensor gate, Tensor up, Tensor down, float[] x, int n, float[] y) {
        long ffn = KernelArgs.checkFfn(gate, up, down, x, n, y);
        int gt = code(gate.dtype());
        int ut = code(up.dtype());
        int dt = code(down.dtype());
        if (gt < 0 || ut < 0 || dt < 0) {
            Backend.super.swigluFfn(gate, up, down, x, n, y);
            return;
        }
        if (n == 0) {
            return;
        }
        lock.lock();
        try {
            checkOpen();
            RepackedWeights.Copy pg = packed(gate, gt);
            RepackedWeights.Copy pu = packed(up, ut);
            RepackedWeights.Copy pd = packed(down, dt);
            MemorySegment g = pg == null ? gate.data() : pg.data();
            MemorySegment u = pu == null ? up.data() : pu.data();
            MemorySegment d = pd == null ? down.data() : pd.data();
            int gc = pg == null ? gt : pg.code();
            int uc = pu == null ? ut : pu.code();
            int dc = pd == null ? dt : pd.code();
            int rc = (int) FFN_SWIGLU.invokeExact(fFfnSwiglu, ctx, gc, g, uc, u, dc, d, ffn, gate.cols(),
                    MemorySegment.ofArray(x), n, MemorySegment.ofArray(y));
            check(rc, () -> "swigluFfn " + gate + ", " + up + ", " + down);
        } catch (Throwable t) {
            throw rethrow(t);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void route(float[] logits, int n, int experts, int k, RouteGating gating, boolean normalize, int[] chosen,
                      float[] weights) {
        KernelArgs.checkRoute(logits, n, experts, k, chosen, weights);
        if (n == 0) {
            return;
        }
        lock.lock();
        try {
            checkOpen();
            ROUTE.invokeExact(fRoute, ctx, MemorySegment.ofArray(logits), n, experts, k,
                    gating == RouteGating.SOFTMAX ? 0 : 1, normalize ? 1 : 0, MemorySegment.ofArray(chosen),
                    MemorySegment.ofArray(weights));
        } catch (Throwable t) {
            throw rethrow(t);
        } finally {
            lock.unlock();
        }
    }

    /** What repacking weights has cost this backend so far. */
    public RepackStats repackStats() {
        lock.lock();
        try {
            return packed.stats();
        } finally {
            lock.unlock();
        }
    }

    /** Under the lock: w's repacked copy (made now if due), or null to multiply w where it is. */
    private RepackedWeights.Copy packed(Tensor w, int type) throws Throwable {
        if (!repack || (w.dtype() != DType.Q4_0 && w.dtype() != DType.Q8_0)) {
            return null;
        }
        return packed.of(w, type);
    }

    /**
     * Measures memory bandwidth with a STREAM-style triad ({@code a = b + s·c} over f32 arrays of
     * {@code elements} each) on this backend's threads: the best of {@code reps} passes, in GB/s.
     * Matrix-vector products over weights larger than the caches can at best approach it.
     */
    public double triadBandwidth(long elements, int reps) {
        if (elements < 1 || reps < 1) {
            throw new IllegalArgumentException("triad over " + elements + " elements, " + reps + " passes");
        }
        lock.lock();
        try {
            checkOpen();
            double gbs = (double) TRIAD.invokeExact(fTriad, ctx, elements, reps);
            if (gbs < 0) {
                throw new OutOfMemoryError("triad: cannot allocate 3 x " + elements + " floats");
            }
            return gbs;
        } catch (Throwable t) {
            throw rethrow(t);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            packed.close(); // freed through the library, so before it is unloaded
            DESTROY.invokeExact(fDestroy, ctx); // joins the workers before the library is unmapped
            arena.close();
            ReferenceBackend fb;
            synchronized (this) {
                fb = fallback;
            }
            if (fb != null) {
                fb.close();
            }
        } catch (Throwable t) {
            throw rethrow(t);
        } finally {
            lock.unlock();
        }
    }

    /** The C code's type id, or -1 for types left to the reference backend. */
    private static int code(DType t) {
        return switch (t) {
            case F32 -> 0;
            case F16 -> 1;
            case BF16 -> 2;
            case Q8_0 -> 3;
            case Q4_0 -> 4;
            case Q4_K -> 5;
            case Q6_K -> 6;
            case F8_E4M3 -> -1; // block-scaled FP8: rare in GGUF, kept on the Java path for now
        };
    }

    private synchronized ReferenceBackend fallback() {
        if (fallback == null) {
            fallback = new ReferenceBackend(threads);
        }
        return fallback;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException(name() + " backend is closed");
        }
    }

    /** The message is built only on failure: formatting a tensor on every call costs more than small kernels. */
    private static void check(int rc, java.util.function.Supplier<String> what) {
        if (rc == ENOMEM) {
            throw new OutOfMemoryError(what.get() + ": native scratch memory could not be allocated");
        }
        if (rc != 0) {
            throw new IllegalStateException(what.get() + ": native kernel failed with code " + rc);
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException(t);
    }

    @SuppressWarnings("restricted")
    private static MethodHandle handle(FunctionDescriptor fd, Linker.Option... options) {
        return LINKER.downcallHandle(fd, options);
    }
}
