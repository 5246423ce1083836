package dev.herd.kernels.cuda;

import dev.herd.kernels.DType;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.List;
import java.util.Properties;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Herd's CUDA kernel library ({@code native-kernels/cuda}, see {@code herd_cuda.h}) bound through
 * {@code java.lang.foreign}. Its functions enqueue kernels on a stream given as an argument; device
 * pointers are passed as {@code long}s. Loading it needs the CUDA runtime it links, which
 * {@link #load()} loads first, but no GPU: without one, the kernels fail at launch, while the host-side
 * decoder checks ({@link #hostDequant}, {@link #hostDot}) work anywhere.
 */
final class CudaKernels {
    /** Every function the Java side binds; a library missing one is not this version of the kernels. */
    static final List<String> SYMBOLS = List.of("herd_cuda_build_info", "herd_cuda_matmul", "herd_cuda_get_row",
            "herd_cuda_rmsnorm", "herd_cuda_rope", "herd_cuda_softmax", "herd_cuda_swiglu", "herd_cuda_add",
            "herd_cuda_attention_scratch", "herd_cuda_attention", "herd_cuda_router_topk", "herd_cuda_expert_ffn",
            "herd_cuda_host_dequant", "herd_cuda_host_dot");

    /** Kernel argument errors (herd_cuda.h); CUDA's own codes are positive. */
    static final int EBADTYPE = -1;
    static final int EINVAL = -3;
    /** Mirrors of herd_cuda.h's constants, checked against the header by a test. */
    static final int MMA_MIN_ROWS = 16;
    static final int DECODE_MAX_ROWS = 4;
    static final int MAX_HEAD_DIM = 256;
    static final int MAX_TOP_K = 32;

    private static final Linker LINKER = Linker.nativeLinker();
    private static CudaKernels loaded;
    private static CudaUnavailableException failure;

    final CudaRuntime runtime;
    final Path file;
    final Properties properties;
    private final MethodHandle buildInfo;
    private final MethodHandle matmul;
    private final MethodHandle getRow;
    private final MethodHandle rmsnorm;
    private final MethodHandle rope;
    private final MethodHandle softmax;
    private final MethodHandle swiglu;
    private final MethodHandle add;
    private final MethodHandle attentionScratch;
    private final MethodHandle attention;
    private final MethodHandle routerTopk;
    private final MethodHandle expertFfn;
    private final MethodHandle hostDequant;
    private final MethodHandle hostDot;

    private CudaKernels(CudaRuntime runtime, SymbolLookup lib, Path file, Properties properties)
            throws CudaUnavailableException {
        this.runtime = runtime;
        this.file = file;
        this.properties = properties;
        buildInfo = bind(lib, "herd_cuda_build_info", FunctionDescriptor.of(ADDRESS));
        matmul = bind(lib, "herd_cuda_matmul", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG,
                ADDRESS, ADDRESS, JAVA_INT, ADDRESS));
        getRow = bind(lib, "herd_cuda_get_row", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS,
                ADDRESS));
        rmsnorm = bind(lib, "herd_cuda_rmsnorm", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_FLOAT, JAVA_INT,
                JAVA_INT, ADDRESS, ADDRESS));
        rope = bind(lib, "herd_cuda_rope", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS,
                ADDRESS, JAVA_INT, JAVA_INT, ADDRESS));
        softmax = bind(lib, "herd_cuda_softmax", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS));
        swiglu = bind(lib, "herd_cuda_swiglu", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
        add = bind(lib, "herd_cuda_add", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
        attentionScratch = bind(lib, "herd_cuda_attention_scratch", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT));
        attention = bind(lib, "herd_cuda_attention", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                JAVA_FLOAT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        routerTopk = bind(lib, "herd_cuda_router_topk", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
        expertFfn = bind(lib, "herd_cuda_expert_ffn", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS,
                JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS,
                ADDRESS, ADDRESS));
        hostDequant = bind(lib, "herd_cuda_host_dequant", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG,
                ADDRESS));
        hostDot = bind(lib, "herd_cuda_host_dot", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS,
                ADDRESS));
    }

    /** The kernel library, and the CUDA runtime it needs, loaded once per process. */
    static synchronized CudaKernels load() throws CudaUnavailableException {
        if (loaded != null) {
            return loaded;
        }
        if (failure != null) {
            throw failure;
        }
        try {
            loaded = open();
            return loaded;
        } catch (CudaUnavailableException e) {
            failure = e;
            throw e;
        }
    }

    @SuppressWarnings("restricted")
    private static CudaKernels open() throws CudaUnavailableException {
        Path file = CudaLibraryFile.locate();
        Properties props = CudaLibraryFile.properties().orElseGet(Properties::new);
        // the runtime first: the kernel library's dependency on it then resolves to the copy already loaded,
        // wherever it was found, without LD_LIBRARY_PATH
        CudaRuntime rt = CudaRuntime.load(props.getProperty("cudart"));
        SymbolLookup lib;
        try {
            lib = SymbolLookup.libraryLookup(file, Arena.global());
        } catch (IllegalArgumentException e) {
            throw new CudaUnavailableException("cannot load " + file + " (with the CUDA runtime " + rt.library() + "): "
                    + e.getMessage(), e);
        }
        return new CudaKernels(rt, lib, file, props);
    }

    @SuppressWarnings("restricted")
    private MethodHandle bind(SymbolLookup lib, String name, FunctionDescriptor fd) throws CudaUnavailableException {
        MemorySegment addr = lib.find(name).orElseThrow(() -> new CudaUnavailableException(
                file + " is not a matching Herd CUDA kernel library: it has no " + name));
        return LINKER.downcallHandle(addr, fd);
    }

    /** The kernel type id of {@code t} (herd_cuda.h), or -1 for types without CUDA kernels. */
    static int code(DType t) {
        return switch (t) {
            case F32 -> 0;
            case F16 -> 1;
            case BF16 -> 2;
            case Q8_0 -> 3;
            case Q4_0 -> 4;
            case Q4_K -> 5;
            case Q6_K -> 6;
            case F8_E4M3 -> -1; // block-scaled FP8 is rare in GGUF: left to the reference backend
        };
    }

    static MemorySegment ptr(long address) {
        return MemorySegment.ofAddress(address);
    }

    String buildInfo() {
        try {
            return CudaRuntime.cString((MemorySegment) buildInfo.invokeExact());
        } catch (Throwable t) {
            throw CudaRuntime.rethrow(t);
        }
    }

    /** Throws for a failed launch, naming the operation. */
    void check(int rc, String what) {
        if (rc == 0) {
            return;
        }
        String reason = switch (rc) {
            case EBADTYPE -> "the kernels have no such weight type";
            case EINVAL -> "arguments outside what the kernels handle";
            default -> runtime.describe(rc);
        };
        throw new CudaException(rc, what + ": kernel launch failed: " + reason);
    }

    int matmul(int type, long w, long out, long in, long x, long y, int n, MemorySegment stream) {
        try {
            return (int) matmul.invokeExact(type, ptr(w), out, in, ptr(x), ptr(y), n, stream);
        } catch (Throwable t) {
            throw CudaRuntime.rethrow(t);
        }
    }

    int getRow(int type, long row, long cols, long out, MemorySegment stream) {
        try {
            return (int) getRow.invokeExact(type, ptr(row), cols, ptr(out), stream);
        } catch (Throwable t) {
            throw CudaRuntime.rethrow(t);
        }
    }

    int rmsnorm(long x, long w, float eps, int dim, int n, long out, MemorySegment stream) {
        try {
            return (int) rmsnorm.invokeExact(ptr(x), ptr(w), eps, dim, n, ptr(out), stream);
        } catch (Throwable t) {
            throw CudaRuntime.rethrow(t);
        }
    }

    int rope(long x, int n, int heads, int headDim, long positions, long invFreq, int half, int style,
             MemorySegment stream) {
        try {
            return (int) rope.invokeExact(ptr(x), n, heads, headDim, ptr(positions), ptr(invFreq), half, style, stream);
        } catch (Throwable t) {
            throw CudaRuntime.rethrow(t);
        }
    }

    int softmax(long x, int rows, int len, MemorySegment stream) {
        try {
            return (int) softmax.invokeExact(ptr(x), rows, len, stream);
        } catch (Throwable t) {
            throw CudaRuntime.rethrow(t);
        }
    }

    int swiglu(long gate, long up, long len, MemorySegment stream) {
        try {
            return (int) swiglu.invokeExact(ptr(gate), ptr(up), len, stream);
        } catch (Throwable t) {
            throw CudaRuntime.rethrow(t);
        }
    }

    int add(long x, long y, long len, MemorySegment stream) {
        try {
            return (int) add.invokeExact(ptr(x), ptr(y), len, stream);
        } catch (Throwable t) {
            throw CudaRuntime.rethrow(t);
        }
    }

    long attentionScratch(int nHeads, int headDim, int n, int maxKeys) {
        try {
            return (long) attentionScratch.invokeExact(nHeads, headDim, n, maxKeys);
        } catch (Throwable t) {
            throw CudaRuntime.rethrow(t);
        }
    }

    int attention(int nHeads, int nKvHeads, int headDim, float scale, int chunk, long q, long positions, int n,
                  int maxKeys, long k, long v, long out, long scratch, MemorySegment stream) {
        try {
            return (int) attention.invokeExact(nHeads, nKvHeads, headDim, scale, chunk, ptr(q), ptr(positions), n, maxKeys,
                    ptr(k), ptr(v), ptr(out), ptr(scratch), stream);
        } catch (Throwable t) {
            throw CudaRuntime.rethrow(t);
        }
    }

    int routerTopk(long logits, int n, int experts, int k, int gating, boolean normalize, long outExperts,
                   long outWeights, MemorySegment stream) {
        try {
            return (int) routerTopk.invokeExact(ptr(logits), n, experts, k, gating, normalize ? 1 : 0, ptr(outExperts),
                    ptr(outWeights), stream);
        } catch (Throwable t) {
            throw CudaRuntime.rethrow(t);
        }
    }

    int expertFfn(int gateUpType, long gate, long up, int downType, long down, long hidden, long ffn, int experts,
                  long offsets, long rowToken, int m, int maxRows, long x, long h, long y, MemorySegment stream) {
        try {
            return (int) expertFfn.invokeExact(gateUpType, ptr(gate), ptr(up), downType, ptr(down), hidden, ffn, experts,
                    ptr(offsets), ptr(rowToken), m, maxRows, ptr(x), ptr(h), ptr(y), stream);
        } catch (Throwable t) {
            throw CudaRuntime.rethrow(t);
        }
    }

    /** Host-side: one row decoded by the tile/row decoder the kernels use. Pointers are host memory. */
    int hostDequant(int type, MemorySegment row, long cols, MemorySegment out) {
        try {
            return (int) hostDequant.invokeExact(type, row, cols, out);
        } catch (Throwable t) {
            throw CudaRuntime.rethrow(t);
        }
    }

    /** Host-side: row . x by the per-lane decoder of the matrix-vector kernel. Pointers are host memory. */
    int hostDot(int type, MemorySegment row, long cols, MemorySegment x, MemorySegment out) {
        try {
            return (int) hostDot.invokeExact(type, row, cols, x, out);
        } catch (Throwable t) {
            throw CudaRuntime.rethrow(t);
        }
    }
}
