package dev.herd.kernels.cuda;

import java.util.ArrayList;
import java.util.List;

/**
 * Whether CUDA can be used in this process, and on which devices. Nothing here needs a GPU to answer:
 * on a machine without one (or without the driver, the runtime, or Herd's kernel library) the
 * answer is a {@link CudaUnavailableException} saying which piece is missing.
 */
public final class Cuda {
    private Cuda() {
    }

    /**
     * The usable devices (at least one), in the runtime's order. Loads Herd's kernel library and the CUDA
     * runtime it was built against on first use.
     */
    public static List<CudaDevice> devices() throws CudaUnavailableException {
        CudaRuntime rt = CudaKernels.load().runtime;
        int count = count(rt);
        List<CudaDevice> out = new ArrayList<>();
        for (int d = 0; d < count; d++) {
            out.add(query(rt, d));
        }
        return out;
    }

    /**
     * Device {@code ordinal}, or why it cannot be used. Only that device is queried (querying starts a CUDA
     * context on the device, which costs memory on every GPU touched).
     */
    public static CudaDevice device(int ordinal) throws CudaUnavailableException {
        CudaRuntime rt = CudaKernels.load().runtime;
        int count = count(rt);
        if (ordinal < 0 || ordinal >= count) {
            throw new CudaUnavailableException("no CUDA device " + ordinal + " (" + count + " present)");
        }
        return query(rt, ordinal);
    }

    /** The number of devices, at least one, or why there are none usable. */
    private static int count(CudaRuntime rt) throws CudaUnavailableException {
        int[] count = new int[1];
        int rc = rt.deviceCount(count);
        if (rc != 0) {
            int driver = rt.driverVersion();
            throw new CudaUnavailableException("cudaGetDeviceCount failed: " + rt.describe(rc)
                    + (driver == 0 ? " (no NVIDIA driver found)"
                    : " (driver supports CUDA " + version(driver) + ", runtime " + rt.library() + " is CUDA "
                    + version(rt.runtimeVersion()) + ")"));
        }
        if (count[0] == 0) {
            throw new CudaUnavailableException("no CUDA device (cudaGetDeviceCount found none)");
        }
        return count[0];
    }

    /** Null when CUDA is usable here (device 0 can be queried); otherwise the reason, for logs and test skips. */
    public static String unavailableReason() {
        try {
            device(0);
            return null;
        } catch (CudaUnavailableException e) {
            return e.getMessage();
        } catch (RuntimeException e) {
            return "CUDA failed while querying devices: " + e;
        }
    }

    /** The kernel library's description of itself (CUDA version, GPU architectures), without touching a GPU. */
    public static String kernelsBuildInfo() throws CudaUnavailableException {
        return CudaKernels.load().buildInfo();
    }

    static CudaDevice query(CudaRuntime rt, int d) {
        rt.useDevice(d);
        long[] mem = rt.memoryInfo();
        return new CudaDevice(d, rt.deviceName(d), rt.attribute(CudaRuntime.ATTR_COMPUTE_MAJOR, d),
                rt.attribute(CudaRuntime.ATTR_COMPUTE_MINOR, d), rt.attribute(CudaRuntime.ATTR_MULTIPROCESSOR_COUNT, d),
                mem[1], attributeOrZero(rt, CudaRuntime.ATTR_MEMORY_CLOCK_KHZ, d),
                attributeOrZero(rt, CudaRuntime.ATTR_MEMORY_BUS_WIDTH, d), attributeOrZero(rt, CudaRuntime.ATTR_L2_CACHE_SIZE, d));
    }

    /** Some attributes are deprecated across CUDA versions: report 0 rather than fail for them. */
    private static int attributeOrZero(CudaRuntime rt, int attr, int d) {
        try {
            return rt.attribute(attr, d);
        } catch (CudaException e) {
            return 0;
        }
    }

    /** 13000 as "13.0". */
    static String version(int v) {
        return v / 1000 + "." + (v % 1000) / 10;
    }
}
