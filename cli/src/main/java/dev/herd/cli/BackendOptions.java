package dev.herd.cli;

import dev.herd.kernels.Backend;
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
            case "auto", "native" -> Backends.create(backend.equals("native"), n, log);
            default -> throw new IllegalArgumentException("unknown backend '" + backend
                    + "'; choose auto, native or reference");
        };
    }
}
