package dev.herd.kernels.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The CUDA runtime API ({@code libcudart.so.N}) bound through {@code java.lang.foreign}: the calls Herd
 * needs to find devices, manage memory, copy, order work on streams, time it with events and capture it
 * into graphs. Kernels are launched by Herd's own library (see {@link CudaKernels}), which links this
 * same runtime, so both share one CUDA context per device.
 *
 * <p>The library is looked up lazily, on first use, and only once per process: the file named by the
 * system property {@value #PATH_PROPERTY}, else the runtime the kernels were built against (its soname,
 * recorded by the build) through the system's library path, else the usual CUDA install directories.
 * When none loads, every later call reports the same reason.
 *
 * <p>Device pointers are plain {@code long}s on the Java side; a value of 0 is the null pointer.
 */
final class CudaRuntime {
    static final String PATH_PROPERTY = "herd.cuda.runtime";

    static final int MEMCPY_HOST_TO_DEVICE = 1;
    static final int MEMCPY_DEVICE_TO_HOST = 2;
    static final int MEMCPY_DEVICE_TO_DEVICE = 3;

    static final int ATTR_MULTIPROCESSOR_COUNT = 16;
    static final int ATTR_MEMORY_CLOCK_KHZ = 36;
    static final int ATTR_MEMORY_BUS_WIDTH = 37;
    static final int ATTR_L2_CACHE_SIZE = 38;
    static final int ATTR_COMPUTE_MAJOR = 75;
    static final int ATTR_COMPUTE_MINOR = 76;

    private static final int STREAM_NON_BLOCKING = 1;
    private static final int CAPTURE_MODE_THREAD_LOCAL = 1;
    /** sizeof(cudaDeviceProp) is 1008 bytes in CUDA 13; generous room for any version. The name comes first. */
    private static final int DEVICE_PROP_BYTES = 8192;

    private static final Linker LINKER = Linker.nativeLinker();
    private static CudaRuntime loaded;
    private static CudaUnavailableException failure;

    private final String library;
    private final ThreadLocal<int[]> currentDevice = ThreadLocal.withInitial(() -> new int[] {-1});

    private final MethodHandle getDeviceCount;
    private final MethodHandle setDevice;
    private final MethodHandle deviceGetAttribute;
    private final MethodHandle getDeviceProperties;
    private final MethodHandle memGetInfo;
    private final MethodHandle malloc;
    private final MethodHandle free;
    private final MethodHandle mallocHost;
    private final MethodHandle freeHost;
    private final MethodHandle memcpy;
    private final MethodHandle memcpyAsync;
    private final MethodHandle streamCreateWithFlags;
    private final MethodHandle streamDestroy;
    private final MethodHandle streamSynchronize;
    private final MethodHandle eventCreate;
    private final MethodHandle eventRecord;
    private final MethodHandle eventSynchronize;
    private final MethodHandle eventElapsedTime;
    private final MethodHandle eventDestroy;
    private final MethodHandle streamBeginCapture;
    private final MethodHandle streamEndCapture;
    private final MethodHandle graphInstantiateWithFlags;
    private final MethodHandle graphLaunch;
    private final MethodHandle graphExecDestroy;
    private final MethodHandle graphDestroy;
    private final MethodHandle getErrorName;
    private final MethodHandle getErrorString;
    private final MethodHandle getLastError;
    private final MethodHandle runtimeGetVersion;
    private final MethodHandle driverGetVersion;

    private CudaRuntime(SymbolLookup lib, String library) throws CudaUnavailableException {
        this.library = library;
        FunctionDescriptor intPtr = FunctionDescriptor.of(JAVA_INT, ADDRESS);
        FunctionDescriptor intAddr = FunctionDescriptor.of(JAVA_INT, ADDRESS);
        getDeviceCount = bind(lib, "cudaGetDeviceCount", intPtr);
        setDevice = bind(lib, "cudaSetDevice", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
        deviceGetAttribute = bind(lib, "cudaDeviceGetAttribute", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        // CUDA 12 headers map the name to the _v2 entry point (the current struct); CUDA 13 exports it plainly.
        // The device name is the struct's first field in every version.
        MethodHandle props = bindOptional(lib, "cudaGetDeviceProperties_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        getDeviceProperties = props != null ? props
                : bind(lib, "cudaGetDeviceProperties", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        memGetInfo = bind(lib, "cudaMemGetInfo", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        malloc = bind(lib, "cudaMalloc", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
        free = bind(lib, "cudaFree", intAddr);
        mallocHost = bind(lib, "cudaMallocHost", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
        freeHost = bind(lib, "cudaFreeHost", intAddr);
        memcpy = bind(lib, "cudaMemcpy", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT));
        memcpyAsync = bind(lib, "cudaMemcpyAsync",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS));
        streamCreateWithFlags = bind(lib, "cudaStreamCreateWithFlags", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        streamDestroy = bind(lib, "cudaStreamDestroy", intAddr);
        streamSynchronize = bind(lib, "cudaStreamSynchronize", intAddr);
        eventCreate = bind(lib, "cudaEventCreate", intPtr);
        eventRecord = bind(lib, "cudaEventRecord", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        eventSynchronize = bind(lib, "cudaEventSynchronize", intAddr);
        eventElapsedTime = bind(lib, "cudaEventElapsedTime", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
        eventDestroy = bind(lib, "cudaEventDestroy", intAddr);
        streamBeginCapture = bind(lib, "cudaStreamBeginCapture", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        streamEndCapture = bind(lib, "cudaStreamEndCapture", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        graphInstantiateWithFlags = bind(lib, "cudaGraphInstantiateWithFlags",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
        graphLaunch = bind(lib, "cudaGraphLaunch", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        graphExecDestroy = bind(lib, "cudaGraphExecDestroy", intAddr);
        graphDestroy = bind(lib, "cudaGraphDestroy", intAddr);
        getErrorName = bind(lib, "cudaGetErrorName", FunctionDescriptor.of(ADDRESS, JAVA_INT));
        getErrorString = bind(lib, "cudaGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
        getLastError = bind(lib, "cudaGetLastError", FunctionDescriptor.of(JAVA_INT));
        runtimeGetVersion = bind(lib, "cudaRuntimeGetVersion", intPtr);
        driverGetVersion = bind(lib, "cudaDriverGetVersion", intPtr);
    }

    /**
     * The process's CUDA runtime, loaded on the first call.
     *
     * @param soname the runtime the kernel library needs (e.g. {@code libcudart.so.13}), or null when
     *               unknown: then CUDA 13 and 12 runtimes are tried
     */
    static synchronized CudaRuntime load(String soname) throws CudaUnavailableException {
        if (loaded != null) {
            return loaded;
        }
        if (failure != null) {
            throw failure;
        }
        try {
            loaded = open(soname, System.getProperty(PATH_PROPERTY));
            return loaded;
        } catch (CudaUnavailableException e) {
            failure = e;
            throw e;
        }
    }

    /** A fresh lookup, not cached: {@code override} is a library path or null (tests call this directly). */
    @SuppressWarnings("restricted") // loading native code is what this class is for
    static CudaRuntime open(String soname, String override) throws CudaUnavailableException {
        List<String> tried = new ArrayList<>();
        if (override != null && !override.isBlank()) {
            Path p = Path.of(override);
            if (!Files.isRegularFile(p)) {
                throw new CudaUnavailableException(PATH_PROPERTY + " names " + p + ", which is not a file");
            }
            try {
                return new CudaRuntime(SymbolLookup.libraryLookup(p, Arena.global()), p.toString());
            } catch (IllegalArgumentException e) {
                throw new CudaUnavailableException("cannot load the CUDA runtime " + p + ": " + e.getMessage(), e);
            }
        }
        for (String name : candidates(soname)) {
            try {
                SymbolLookup lib = name.contains("/")
                        ? SymbolLookup.libraryLookup(Path.of(name), Arena.global())
                        : SymbolLookup.libraryLookup(name, Arena.global());
                return new CudaRuntime(lib, name);
            } catch (IllegalArgumentException e) {
                tried.add(name);
            }
        }
        throw new CudaUnavailableException("no CUDA runtime library found (tried " + String.join(", ", tried)
                + "; install the CUDA toolkit or runtime, add its lib64 directory to LD_LIBRARY_PATH, or name the"
                + " library with -D" + PATH_PROPERTY + "=...)");
    }

    /** Sonames through the system search path first, then the same names in the usual install directories. */
    private static List<String> candidates(String soname) {
        List<String> names = soname != null ? List.of(soname) : List.of("libcudart.so.13", "libcudart.so.12");
        Set<String> dirs = new LinkedHashSet<>();
        for (String env : new String[] {"CUDA_HOME", "CUDA_PATH"}) {
            String home = System.getenv(env);
            if (home != null && !home.isBlank()) {
                dirs.add(home + "/lib64");
                dirs.add(home + "/lib");
            }
        }
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String triple = arch.equals("aarch64") ? "sbsa-linux" : "x86_64-linux";
        dirs.add("/usr/local/cuda/lib64");
        dirs.add("/usr/local/cuda/targets/" + triple + "/lib");
        dirs.add("/usr/lib/" + (arch.equals("aarch64") ? "aarch64" : "x86_64") + "-linux-gnu");
        List<String> out = new ArrayList<>(names);
        for (String dir : dirs) {
            for (String n : names) {
                if (Files.isRegularFile(Path.of(dir, n))) {
                    out.add(dir + "/" + n);
                }
            }
        }
        return out;
    }

    @SuppressWarnings("restricted")
    private static MethodHandle bindOptional(SymbolLookup lib, String name, FunctionDescriptor fd) {
        return lib.find(name).map(a -> LINKER.downcallHandle(a, fd)).orElse(null);
    }

    private MethodHandle bind(SymbolLookup lib, String name, FunctionDescriptor fd) throws CudaUnavailableException {
        MethodHandle h = bindOptional(lib, name, fd);
        if (h == null) {
            throw new CudaUnavailableException(library + " has no " + name + ": not a CUDA 12 or newer runtime");
        }
        return h;
    }

    /** What was loaded: a path or a soname. */
    String library() {
        return library;
    }

    // ---- errors ----------------------------------------------------------------------------------------------

    String errorName(int code) {
        try {
            return cString((MemorySegment) getErrorName.invokeExact(code));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    String errorString(int code) {
        try {
            return cString((MemorySegment) getErrorString.invokeExact(code));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** "cudaErrorMemoryAllocation (2): out of memory". */
    String describe(int code) {
        return errorName(code) + " (" + code + "): " + errorString(code);
    }

    void check(int rc, String what) {
        if (rc != 0) {
            throw new CudaException(rc, what + " failed: " + describe(rc));
        }
    }

    /** Clears and returns the runtime's last non-sticky error. */
    int lastError() {
        try {
            return (int) getLastError.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- devices ---------------------------------------------------------------------------------------------

    /** The raw result of cudaGetDeviceCount: the error code, with the count in {@code count[0]}. */
    int deviceCount(int[] count) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_INT);
            int rc = (int) getDeviceCount.invokeExact(out);
            count[0] = rc == 0 ? out.get(JAVA_INT, 0) : 0;
            return rc;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Makes {@code device} current on this thread (CUDA's current device is per thread). */
    void useDevice(int device) {
        int[] cur = currentDevice.get();
        if (cur[0] == device) {
            return;
        }
        try {
            check((int) setDevice.invokeExact(device), "cudaSetDevice(" + device + ")");
        } catch (Throwable t) {
            throw rethrow(t);
        }
        cur[0] = device;
    }

    int attribute(int attr, int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_INT);
            check((int) deviceGetAttribute.invokeExact(out, attr, device), "cudaDeviceGetAttribute(" + attr + ")");
            return out.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    String deviceName(int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment prop = a.allocate(DEVICE_PROP_BYTES, 16);
            check((int) getDeviceProperties.invokeExact(prop, device), "cudaGetDeviceProperties(" + device + ")");
            return prop.getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {free, total} bytes of the current device. */
    long[] memoryInfo() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment f = a.allocate(JAVA_LONG);
            MemorySegment t = a.allocate(JAVA_LONG);
            check((int) memGetInfo.invokeExact(f, t), "cudaMemGetInfo");
            return new long[] {f.get(JAVA_LONG, 0), t.get(JAVA_LONG, 0)};
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int runtimeVersion() {
        return versionOf(runtimeGetVersion);
    }

    /** The driver's CUDA version, or 0 when no driver is installed. */
    int driverVersion() {
        return versionOf(driverGetVersion);
    }

    private int versionOf(MethodHandle h) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_INT);
            int rc = (int) h.invokeExact(out);
            return rc == 0 ? out.get(JAVA_INT, 0) : 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- memory ----------------------------------------------------------------------------------------------

    long malloc(long bytes, String what) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            int rc = (int) malloc.invokeExact(out, Math.max(bytes, 1L));
            if (rc != 0) {
                lastError(); // an allocation failure is not sticky: clear it so later calls are unaffected
                throw new CudaException(rc, "cudaMalloc of " + bytes + " bytes for " + what + " failed: "
                        + describe(rc));
            }
            return out.get(ADDRESS, 0).address();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void free(long device) {
        if (device == 0) {
            return;
        }
        try {
            check((int) free.invokeExact(MemorySegment.ofAddress(device)), "cudaFree");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Page-locked host memory of {@code bytes}, as a segment of that size. */
    MemorySegment mallocHost(long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            int rc = (int) mallocHost.invokeExact(out, Math.max(bytes, 1L));
            if (rc != 0) {
                lastError();
                throw new CudaException(rc, "cudaMallocHost of " + bytes + " bytes failed: " + describe(rc));
            }
            return out.get(ADDRESS, 0).reinterpret(bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void freeHost(MemorySegment pinned) {
        try {
            check((int) freeHost.invokeExact(pinned), "cudaFreeHost");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A synchronous copy; host addresses must be native (or pinned) memory. */
    void memcpy(long dst, long src, long bytes, int kind) {
        if (bytes == 0) {
            return;
        }
        try {
            check((int) memcpy.invokeExact(MemorySegment.ofAddress(dst), MemorySegment.ofAddress(src), bytes, kind),
                    "cudaMemcpy of " + bytes + " bytes");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void memcpyAsync(long dst, long src, long bytes, int kind, MemorySegment stream) {
        if (bytes == 0) {
            return;
        }
        try {
            check((int) memcpyAsync.invokeExact(MemorySegment.ofAddress(dst), MemorySegment.ofAddress(src), bytes, kind,
                    stream), "cudaMemcpyAsync of " + bytes + " bytes");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- streams, events, graphs -------------------------------------------------------------------------------

    /** A stream that does not synchronise with the legacy default stream (so it can be captured). */
    MemorySegment streamCreate() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check((int) streamCreateWithFlags.invokeExact(out, STREAM_NON_BLOCKING), "cudaStreamCreateWithFlags");
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void streamDestroy(MemorySegment stream) {
        try {
            check((int) streamDestroy.invokeExact(stream), "cudaStreamDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Waits for the stream; a kernel fault earlier on it is reported here. */
    void streamSynchronize(MemorySegment stream, String what) {
        try {
            check((int) streamSynchronize.invokeExact(stream), what);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    MemorySegment eventCreate() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check((int) eventCreate.invokeExact(out), "cudaEventCreate");
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void eventRecord(MemorySegment event, MemorySegment stream) {
        try {
            check((int) eventRecord.invokeExact(event, stream), "cudaEventRecord");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void eventSynchronize(MemorySegment event) {
        try {
            check((int) eventSynchronize.invokeExact(event), "cudaEventSynchronize");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    float eventElapsedMillis(MemorySegment start, MemorySegment end) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_FLOAT);
            check((int) eventElapsedTime.invokeExact(out, start, end), "cudaEventElapsedTime");
            return out.get(JAVA_FLOAT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void eventDestroy(MemorySegment event) {
        try {
            check((int) eventDestroy.invokeExact(event), "cudaEventDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Starts recording the stream's work into a graph; this thread may not make unsafe calls until the end. */
    void beginCapture(MemorySegment stream) {
        try {
            check((int) streamBeginCapture.invokeExact(stream, CAPTURE_MODE_THREAD_LOCAL), "cudaStreamBeginCapture");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Ends the capture and returns the graph (a failed capture still ends, and is reported). */
    MemorySegment endCapture(MemorySegment stream) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check((int) streamEndCapture.invokeExact(stream, out), "cudaStreamEndCapture");
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    MemorySegment graphInstantiate(MemorySegment graph) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check((int) graphInstantiateWithFlags.invokeExact(out, graph, 0L), "cudaGraphInstantiateWithFlags");
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void graphLaunch(MemorySegment exec, MemorySegment stream) {
        try {
            check((int) graphLaunch.invokeExact(exec, stream), "cudaGraphLaunch");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void graphExecDestroy(MemorySegment exec) {
        try {
            check((int) graphExecDestroy.invokeExact(exec), "cudaGraphExecDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void graphDestroy(MemorySegment graph) {
        try {
            check((int) graphDestroy.invokeExact(graph), "cudaGraphDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static String cString(MemorySegment p) {
        return p.equals(MemorySegment.NULL) ? "(null)" : p.reinterpret(4096).getString(0);
    }

    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException(t);
    }
}
