package dev.herd.cli;

import dev.herd.kernels.Backend;
import dev.herd.kernels.cuda.Cuda;
import dev.herd.kernels.cuda.CudaBackend;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --backend cuda} gives CUDA or a clear error; {@code --backend gpu} falls back to the CPU saying why. */
class BackendOptionsTest {

    private static BackendOptions options(String backend) {
        BackendOptions o = new BackendOptions();
        o.backend = backend;
        o.threads = 1;
        return o;
    }

    @Test
    void cudaIsTakenOrRefusedWithTheReason() {
        String reason = Cuda.unavailableReason();
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(log, true, StandardCharsets.UTF_8);
        if (reason != null) {
            var e = assertThrows(IllegalArgumentException.class, () -> options("cuda").create(out));
            assertEquals("CUDA backend unavailable: " + reason, e.getMessage());
            for (String choice : new String[]{"gpu", "auto"}) {
                log.reset();
                try (Backend b = options(choice).create(out)) {
                    assertFalse(b instanceof CudaBackend);
                    assertTrue(log.toString(StandardCharsets.UTF_8).contains("herd: CUDA not available (" + reason
                            + ")"), choice + ": " + log.toString(StandardCharsets.UTF_8));
                }
            }
        } else {
            try (Backend b = options("auto").create(out)) {
                assertInstanceOf(CudaBackend.class, b, "auto takes the GPU when there is one");
            }
            try (Backend b = options("cuda").create(out)) {
                CudaBackend c = assertInstanceOf(CudaBackend.class, b);
                assertTrue(log.toString(StandardCharsets.UTF_8).contains(c.device().name()));
            }
        }
    }

    @Test
    void badDeviceSpecsAreRefused() {
        PrintStream out = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        var e = assertThrows(IllegalArgumentException.class, () -> options("cuda:first").create(out));
        assertTrue(e.getMessage().contains("cuda:N"), e.getMessage());
        var u = assertThrows(IllegalArgumentException.class, () -> options("opencl").create(out));
        assertTrue(u.getMessage().contains("cuda") && u.getMessage().contains("gpu"), u.getMessage());
        // a device number beyond those present is refused like a missing device
        assertThrows(IllegalArgumentException.class, () -> options("cuda:4096").create(out));
    }
}
