package dev.herd.kernels.cuda;

/**
 * CUDA cannot be used here, and the message says why: no CUDA runtime library could be loaded, the
 * driver is missing or too old for the runtime, there is no device (or not the one asked for), or
 * Herd's kernel library was not built (nvcc was absent when this module was built) or does not match.
 * Callers fall back to a CPU backend (see {@link dev.herd.kernels.Backends#preferCuda}).
 */
public final class CudaUnavailableException extends Exception {
    public CudaUnavailableException(String message) {
        super(message);
    }

    public CudaUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
