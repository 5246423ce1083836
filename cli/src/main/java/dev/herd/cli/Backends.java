package dev.herd.cli;

import dev.herd.kernels.Backend;
import dev.herd.kernels.NativeBackend;
import dev.herd.kernels.NativeUnavailableException;
import dev.herd.kernels.ReferenceBackend;

import java.io.PrintStream;

/** Picks the compute backend for this machine and says which one it took. */
final class Backends {
    private Backends() {
    }

    /**
     * The native CPU kernels when their library loads here; otherwise the plain-Java reference backend with
     * the reason, or an error when {@code requireNative}.
     */
    static Backend create(boolean requireNative, int threads, PrintStream log) {
        try {
            NativeBackend b = NativeBackend.load(threads);
            log.println("herd: using native CPU kernels (" + b.isa() + ", " + threads + " threads)");
            return b;
        } catch (NativeUnavailableException e) {
            if (requireNative) {
                throw new IllegalArgumentException("native kernels unavailable: " + e.getMessage());
            }
            log.println("herd: native kernels unavailable (" + e.getMessage() + "); using the plain-Java reference"
                    + " backend (" + threads + " threads)");
            return new ReferenceBackend(threads);
        }
    }
}
