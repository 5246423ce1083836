package dev.herd.shard.weights;

import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;

/**
 * How far a node is with the weights of one assignment: bytes ready (fetched, or found in the cache) of the
 * bytes its tensors take, and the rate of the bytes received. Read by {@code Ready} and written to the log.
 */
public final class FetchProgress {
    private final AtomicLong total = new AtomicLong();
    private final AtomicLong done = new AtomicLong();
    private final AtomicLong received = new AtomicLong();
    private volatile long startNanos = System.nanoTime();
    private volatile long endNanos;

    /** The assignment's tensors take {@code bytes}; nothing of them is ready yet. */
    public void start(long bytes) {
        total.set(bytes);
        done.set(0);
        received.set(0);
        startNanos = System.nanoTime();
        endNanos = 0;
    }

    /** Bytes made ready without a transfer (reused from the cache, or resumed from a part file). */
    void ready(long bytes) {
        done.addAndGet(bytes);
    }

    /** Bytes received from a holder. */
    void received(long bytes) {
        received.addAndGet(bytes);
        done.addAndGet(bytes);
    }

    /** Bytes of a tensor discarded after a checksum mismatch: they will come again. */
    void discarded(long bytes) {
        done.addAndGet(-bytes);
    }

    /** Everything is ready (also for a node whose files are local). */
    public void finish() {
        done.set(total.get());
        endNanos = System.nanoTime();
    }

    public long totalBytes() {
        return total.get();
    }

    public long doneBytes() {
        return done.get();
    }

    public long receivedBytes() {
        return received.get();
    }

    public double seconds() {
        long end = endNanos == 0 ? System.nanoTime() : endNanos;
        return (end - startNanos) / 1e9;
    }

    /** Received bytes per second since the start. */
    public double receiveRate() {
        double s = seconds();
        return s > 0 ? received.get() / s : 0;
    }

    /** "12.0 of 48.0 MiB (25%), received 12.0 MiB at 85.3 MiB/s". */
    public String describe() {
        long t = totalBytes();
        long d = doneBytes();
        return String.format(Locale.ROOT, "%s of %s (%d%%), received %s at %s/s", mib(d), mib(t),
                t == 0 ? 100 : Math.round(100.0 * d / t), mib(received.get()), mib((long) receiveRate()));
    }

    static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / (1024.0 * 1024));
    }
}
