package dev.herd.kernels.cuda;

import java.util.Locale;

/**
 * One CUDA device as the runtime reports it.
 *
 * @param ordinal          the runtime's device number
 * @param name             e.g. "NVIDIA H100 80GB HBM3"
 * @param major            compute capability, major (9 for Hopper)
 * @param minor            compute capability, minor
 * @param multiprocessors  streaming multiprocessors
 * @param totalMemory      device memory in bytes
 * @param memoryClockKHz   peak memory clock as the runtime reports it (0 when it does not)
 * @param busWidthBits     memory bus width (0 when not reported)
 * @param l2Bytes          L2 cache size
 */
public record CudaDevice(int ordinal, String name, int major, int minor, int multiprocessors, long totalMemory,
                         int memoryClockKHz, int busWidthBits, int l2Bytes) {

    /**
     * Peak memory bandwidth in bytes per second: 2 transfers per clock x clock x bus width (this is how the
     * runtime's figures combine for HBM and GDDR alike: an H100 SXM reports 2619 MHz x 5120 bits, 3.35 TB/s).
     * Where the runtime reports no clock, a table of known data-center parts; 0 when unknown.
     */
    public double peakBandwidth() {
        if (memoryClockKHz > 0 && busWidthBits > 0) {
            return 2.0 * memoryClockKHz * 1000.0 * busWidthBits / 8.0;
        }
        return knownBandwidth(name);
    }

    /** Published peak bandwidths (bytes/s) of common data-center GPUs, by name. */
    static double knownBandwidth(String name) {
        String n = name.toUpperCase(Locale.ROOT);
        if (n.contains("H200")) {
            return 4.8e12;
        }
        if (n.contains("H100")) {
            return n.contains("PCIE") ? 2.0e12 : n.contains("NVL") ? 3.9e12 : 3.35e12;
        }
        if (n.contains("A100")) {
            return n.contains("80GB") ? (n.contains("PCIE") ? 1.935e12 : 2.039e12) : 1.555e12;
        }
        if (n.contains("L40")) {
            return 0.864e12;
        }
        if (n.contains("L4")) {
            return 0.3e12;
        }
        if (n.contains("A10")) {
            return 0.6e12;
        }
        return 0;
    }

    /** "sm_90". */
    public String arch() {
        return "sm_" + major + minor;
    }

    /** One line for logs: name, compute capability, memory, SMs and peak bandwidth. */
    public String describe() {
        double bw = peakBandwidth();
        return String.format(Locale.ROOT, "CUDA device %d: %s (%s, %.1f GiB, %d SMs%s)", ordinal, name, arch(),
                totalMemory / (double) (1L << 30), multiprocessors,
                bw > 0 ? String.format(Locale.ROOT, ", %.0f GB/s peak", bw / 1e9) : "");
    }
}
