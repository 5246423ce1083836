package dev.herd.kernels;

/**
 * The native kernels cannot be used here: no library was built for this OS and architecture (or gcc
 * was missing when this module was built), it could not be extracted or loaded, or the CPU lacks the
 * instruction set that was asked for. The message says which; callers fall back to
 * {@link ReferenceBackend} (see {@link Backends#best(int)}).
 */
public final class NativeUnavailableException extends Exception {
    public NativeUnavailableException(String message) {
        super(message);
    }

    public NativeUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
