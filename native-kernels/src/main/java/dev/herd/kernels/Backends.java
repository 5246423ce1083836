package dev.herd.kernels;

import java.lang.System.Logger.Level;

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
        try {
            NativeBackend b = NativeBackend.load(threads);
            LOG.log(Level.DEBUG, "using the {0} backend with {1} threads", b.name(), threads);
            return b;
        } catch (NativeUnavailableException e) {
            LOG.log(Level.INFO, "native kernels unavailable ({0}); using the reference backend", e.getMessage());
            return new ReferenceBackend(threads);
        }
    }
}
