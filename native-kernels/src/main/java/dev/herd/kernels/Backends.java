package dev.herd.kernels;

import dev.herd.kernels.cuda.CudaBackend;
import dev.herd.kernels.cuda.CudaUnavailableException;

import java.lang.System.Logger.Level;
import java.util.function.Consumer;

/** Picks the fastest backend this machine can run. */
public final class Backends {
    private static final System.Logger LOG = System.getLogger(Backends.class.getName());

    private Backends() {
    }

    /**
     * The native backend with {@code threads} threads when its library loads here, otherwise the
     * reference backend, with a log line saying why.
     */
    public static Backend best(int threads) {
        return best(threads, line -> LOG.log(Level.INFO, line));
    }

    /**
     * The same, telling {@code report} in one line which backend was taken and, on the fallback, why the
     * native one was not.
     */
    public static Backend best(int threads, Consumer<String> report) {
        try {
            NativeBackend b = NativeBackend.load(threads);
            report.accept("using native CPU kernels (" + b.isa() + ", " + threads + " threads)");
            return b;
        } catch (NativeUnavailableException e) {
            report.accept("native kernels unavailable (" + e.getMessage() + "); using the plain-Java reference backend ("
                    + threads + " threads)");
            return new ReferenceBackend(threads);
        }
    }

    /**
     * The CUDA backend on the first device when CUDA is usable here, reporting the device taken (name,
     * compute capability, memory); otherwise {@link #best(int, Consumer)}, after a line saying why CUDA was
     * not taken. {@code threads} applies to the CPU fallback only.
     */
    public static Backend preferCuda(int threads, Consumer<String> report) {
        try {
            CudaBackend b = CudaBackend.open(0);
            report.accept("using CUDA kernels on " + b.device().describe());
            return b;
        } catch (CudaUnavailableException e) {
            report.accept("CUDA not available (" + e.getMessage() + "); using the CPU");
            return best(threads, report);
        }
    }
}
