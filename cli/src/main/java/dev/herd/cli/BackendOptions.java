package dev.herd.cli;

import dev.herd.kernels.Backend;
import dev.herd.kernels.Backends;
import dev.herd.kernels.NativeBackend;
import dev.herd.kernels.NativeUnavailableException;
import dev.herd.kernels.ReferenceBackend;
import picocli.CommandLine.Option;

import java.io.PrintStream;

/** The {@code --backend} and {@code --threads} options every command that computes shares. */
final class BackendOptions {
    @Option(names = "--backend", defaultValue = "auto",
            description = "auto (native CPU kernels when available), native, or reference (default ${DEFAULT-VALUE})")
    String backend;
    @Option(names = "--threads", description = "compute threads (default: all cores)")
    Integer threads;

    Backend create(PrintStream log) {
        int n = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        return switch (backend) {
            case "reference" -> new ReferenceBackend(n);
            case "auto" -> Backends.best(n, line -> log.println("herd: " + line));
            case "native" -> loadNative(n, log);
            default -> throw new IllegalArgumentException("unknown backend '" + backend
                    + "'; choose auto, native or reference");
        };
    }

    /** {@code --backend native}: the native kernels or a clear error, never a silent fallback. */
    private static Backend loadNative(int threads, PrintStream log) {
        try {
            NativeBackend b = NativeBackend.load(threads);
            log.println("herd: using native CPU kernels (" + b.isa() + ", " + threads + " threads)");
            return b;
        } catch (NativeUnavailableException e) {
            throw new IllegalArgumentException("native kernels unavailable: " + e.getMessage());
        }
    }
}
