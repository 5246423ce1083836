package dev.herd.kernels.cuda;

/**
 * A CUDA call or kernel launch failed while CUDA was otherwise usable: out of device memory, an
 * invalid argument, or a fault in a kernel (which CUDA reports at the next synchronisation and which
 * leaves the device context unusable; the backend must then be closed).
 */
public final class CudaException extends RuntimeException {
    private final int code;

    public CudaException(int code, String message) {
        super(message);
        this.code = code;
    }

    /** The {@code cudaError_t} value, or a negative Herd kernel code (see herd_cuda.h). */
    public int code() {
        return code;
    }
}
