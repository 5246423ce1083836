package dev.herd.kernels.cuda;

import dev.herd.kernels.Backend;
import dev.herd.kernels.Backends;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Finding out whether CUDA is usable never crashes and always says why not; the backend chooser reports
 * the device it took or falls back to the CPU with the reason. Runs on every machine: with a GPU the
 * assertions check the other branch.
 */
class CudaAvailabilityTest {

    @Test
    void availabilityIsAnsweredWithAReasonOrADevice() {
        String reason = Cuda.unavailableReason();
        if (reason != null) {
            assertFalse(reason.isBlank());
            var e = assertThrows(CudaUnavailableException.class, () -> CudaBackend.open(0));
            assertFalse(e.getMessage().isBlank());
            assertEquals(reason, assertThrows(CudaUnavailableException.class, Cuda::devices).getMessage(),
                    "the same reason every time");
        } else {
            List<CudaDevice> devices = assertDoesNotThrowDevices();
            assertFalse(devices.isEmpty());
            CudaDevice d = devices.getFirst();
            assertTrue(d.totalMemory() > 0 && d.major() > 0 && !d.name().isBlank(), d.toString());
        }
    }

    @Test
    void preferCudaTakesTheDeviceOrFallsBackToTheCpuSayingWhy() {
        List<String> lines = new ArrayList<>();
        try (Backend b = Backends.preferCuda(1, lines::add)) {
            String reason = Cuda.unavailableReason();
            if (reason != null) {
                assertFalse(b instanceof CudaBackend);
                assertTrue(lines.getFirst().startsWith("CUDA not available (") && lines.getFirst().contains(reason),
                        lines.toString());
                assertEquals(2, lines.size(), "then the CPU backend's own line: " + lines);
            } else {
                CudaBackend cb = assertInstanceOf(CudaBackend.class, b);
                assertTrue(lines.getFirst().contains(cb.device().name()) && lines.getFirst().contains(cb.device().arch()),
                        lines.toString());
            }
        }
    }

    @Test
    void aMissingRuntimeIsReportedWithWhatWasTried() {
        var named = assertThrows(CudaUnavailableException.class,
                () -> CudaRuntime.open(null, "/nonexistent/dir/libcudart.so.13"));
        assertTrue(named.getMessage().contains("/nonexistent/dir/libcudart.so.13"), named.getMessage());
        var searched = assertThrows(CudaUnavailableException.class, () -> CudaRuntime.open("libcudart.so.99", null));
        assertTrue(searched.getMessage().contains("libcudart.so.99") && searched.getMessage().contains("LD_LIBRARY_PATH"),
                searched.getMessage());
    }

    @Test
    void aLibraryThatIsNotTheRuntimeIsRefusedByName() throws Exception {
        // libm loads fine but has no CUDA entry points
        Path libm = Path.of("/lib/x86_64-linux-gnu/libm.so.6");
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isRegularFile(libm), "no " + libm + " here");
        var e = assertThrows(CudaUnavailableException.class, () -> CudaRuntime.open(null, libm.toString()));
        assertTrue(e.getMessage().contains("cudaGetDeviceCount") && e.getMessage().contains("CUDA 12"), e.getMessage());
    }

    @Test
    void peakBandwidthFromClockAndBusOrFromTheTable() {
        // H100 SXM as the runtime reports it: 2619 MHz, 5120-bit HBM3 -> 2 * 2.619e9 * 640 B = 3.352 TB/s
        CudaDevice h100 = new CudaDevice(0, "NVIDIA H100 80GB HBM3", 9, 0, 132, 85L << 30, 2_619_000, 5120, 50 << 20);
        assertEquals(3.35232e12, h100.peakBandwidth(), 1e6);
        assertEquals("sm_90", h100.arch());
        assertTrue(h100.describe().contains("H100") && h100.describe().contains("sm_90")
                && h100.describe().contains("3352 GB/s"), h100.describe());
        CudaDevice unreported = new CudaDevice(0, "NVIDIA H100 PCIe", 9, 0, 114, 80L << 30, 0, 0, 0);
        assertEquals(2.0e12, unreported.peakBandwidth());
        assertEquals(0, new CudaDevice(0, "Some GPU", 8, 9, 1, 1, 0, 0, 0).peakBandwidth());
    }

    private static List<CudaDevice> assertDoesNotThrowDevices() {
        try {
            return Cuda.devices();
        } catch (CudaUnavailableException e) {
            throw new AssertionError("unavailableReason() was null but devices() failed: " + e.getMessage(), e);
        }
    }

    @Test
    void kernelTypeCodesCoverEveryTypeButFp8() {
        for (var t : dev.herd.kernels.DType.values()) {
            assertNotNull(t);
            assertEquals(t == dev.herd.kernels.DType.F8_E4M3, CudaKernels.code(t) < 0, t.toString());
        }
    }
}
