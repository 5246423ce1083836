package dev.herd.cli;

import dev.herd.kernels.Backend;
import dev.herd.kernels.ReferenceBackend;

import java.io.PrintStream;

/** Picks the compute backend for this machine. */
final class Backends {
    private Backends() {
    }

    /** The native CPU kernels are not part of this build yet: the reference backend, said plainly. */
    static Backend create(boolean requireNative, int threads, PrintStream log) {
        if (requireNative) {
            throw new IllegalArgumentException("the native backend is not available in this build");
        }
        log.println("herd: using the plain-Java reference backend (" + threads + " threads)");
        return new ReferenceBackend(threads);
    }
}
