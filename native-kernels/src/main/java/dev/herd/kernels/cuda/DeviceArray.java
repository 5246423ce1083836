package dev.herd.kernels.cuda;

/**
 * An f32 array in device memory, owned by the {@link CudaBackend} that allocated it: the operand of the
 * backend's {@code enqueue*} ops, which keep activations on the device (and can be captured into a
 * {@link CudaGraph}). Copies in and out wait for the stream; freed by {@link #close()} or with its backend.
 */
public final class DeviceArray implements AutoCloseable {
    private final CudaBackend backend;
    private final long address;
    private final long length;
    private boolean closed;

    DeviceArray(CudaBackend backend, long address, long length) {
        this.backend = backend;
        this.address = address;
        this.length = length;
    }

    /** Floats it holds. */
    public long length() {
        return length;
    }

    long address() {
        if (closed) {
            throw new IllegalStateException("device array is closed");
        }
        return address;
    }

    /** Copies {@code src[0, len)} to the start of this array, after everything enqueued before. */
    public void upload(float[] src, int len) {
        if (len < 0 || len > src.length || len > length) {
            throw new IllegalArgumentException("upload of " + len + " floats from " + src.length + " into " + length);
        }
        backend.upload(this, src, 0, len);
    }

    public void upload(float[] src) {
        upload(src, src.length);
    }

    /** Copies the first {@code len} floats of this array into {@code dst}, after everything enqueued before. */
    public void download(float[] dst, int len) {
        if (len < 0 || len > dst.length || len > length) {
            throw new IllegalArgumentException("download of " + len + " floats from " + length + " into " + dst.length);
        }
        backend.download(this, dst, 0, len);
    }

    public void download(float[] dst) {
        download(dst, (int) Math.min(dst.length, length));
    }

    @Override
    public void close() {
        if (!closed) {
            backend.free(this);
            closed = true;
        }
    }
}
