package dev.herd.kernels.cuda;

import java.lang.foreign.MemorySegment;

/**
 * A recorded sequence of device work on a {@link CudaBackend}'s stream, replayed with one launch: the
 * CUDA-graph form of a repeated step (a decode step's kernels), which removes the per-kernel launch cost
 * from the host.
 *
 * <p>Only device-resident work can be recorded: the backend's {@code enqueue*} ops on {@link DeviceArray}s.
 * The {@link dev.herd.kernels.Backend} ops copy host arrays in and out and wait for the results, which a
 * capture forbids; they throw if called while capturing, as do uploads of weights not yet on the device
 * (call {@link CudaBackend#prepare} first) and allocations. A graph keeps the device addresses it was
 * captured with: the arrays and weights it uses must stay allocated while it is launched (releasing the
 * backend's weights invalidates it). To feed a new input, upload it into the same array before launching.
 */
public final class CudaGraph implements AutoCloseable {
    private final CudaBackend backend;
    private final MemorySegment exec;
    private boolean closed;

    CudaGraph(CudaBackend backend, MemorySegment exec) {
        this.backend = backend;
        this.exec = exec;
    }

    /** Runs {@code enqueue} (which must only call {@code enqueue*} ops of {@code backend}) and records its work. */
    public static CudaGraph capture(CudaBackend backend, Runnable enqueue) {
        return backend.capture(enqueue);
    }

    /** Enqueues the whole recorded sequence on the backend's stream. */
    public void launch() {
        if (closed) {
            throw new IllegalStateException("graph is closed");
        }
        backend.launch(exec);
    }

    /** Launches and waits for it to finish. */
    public void run() {
        launch();
        backend.synchronize();
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            backend.destroy(exec);
        }
    }
}
