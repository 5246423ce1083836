package dev.herd.cli;

import dev.herd.kernels.Backend;
import dev.herd.kernels.Backends;
import dev.herd.kernels.NativeBackend;
import dev.herd.kernels.NativeUnavailableException;
import dev.herd.kernels.ReferenceBackend;
import dev.herd.kernels.cuda.CudaBackend;
import dev.herd.kernels.cuda.CudaUnavailableException;
import picocli.CommandLine.Option;

import java.io.PrintStream;

/** The {@code --backend} and {@code --threads} options every command that computes shares. */
final class BackendOptions {
    @Option(names = "--backend", defaultValue = "auto",
            description = "auto (a CUDA device when one is present, else the native CPU kernels when they load, else"
                    + " the plain-Java reference; the log says which and why), native, reference, cuda (CUDA device 0;"
                    + " cuda:N for device N), gpu (the same as auto) (default ${DEFAULT-VALUE})")
    String backend;
    @Option(names = "--threads", description = "compute threads (default: all cores)")
    Integer threads;

    Backend create(PrintStream log) {
        int n = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        return switch (backend) {
            case "reference" -> new ReferenceBackend(n);
            case "auto", "gpu" -> Backends.preferCuda(n, line -> log.println("herd: " + line));
            case "native" -> loadNative(n, log);
            default -> {
                if (backend.equals("cuda") || backend.startsWith("cuda:")) {
                    yield loadCuda(backend, log);
                }
                throw new IllegalArgumentException("unknown backend '" + backend
                        + "'; choose auto, native, reference, cuda, cuda:N or gpu");
            }
        };
    }

    /** {@code --backend cuda[:N]}: that CUDA device or a clear error, never a silent fallback. */
    private static Backend loadCuda(String spec, PrintStream log) {
        int device;
        try {
            device = spec.equals("cuda") ? 0 : Integer.parseInt(spec.substring("cuda:".length()));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad CUDA device in --backend " + spec + "; use cuda or cuda:N");
        }
        try {
            CudaBackend b = CudaBackend.open(device);
            log.println("herd: using CUDA kernels on " + b.device().describe());
            return b;
        } catch (CudaUnavailableException e) {
            throw new IllegalArgumentException("CUDA backend unavailable: " + e.getMessage());
        }
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
