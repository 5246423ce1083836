package dev.herd.shard;

import io.grpc.stub.CallStreamObserver;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * The sending side of a stream under manual flow control: messages go out only while the transport says it
 * {@code isReady()}, the rest wait here and are drained by the on-ready handler. Whoever produces messages
 * asks {@link #whenReady} before producing more, so a slow receiver slows its sender hop by hop instead of
 * making every node buffer a backlog of activations.
 *
 * <p>All calls into the underlying observer are made under this object's lock: gRPC stream observers are not
 * thread-safe, and results, failures and relayed frames are produced on different threads.
 */
final class OutboundQueue<T> {
    private final CallStreamObserver<T> stream;
    private final ArrayDeque<T> queue = new ArrayDeque<>();
    private final List<Runnable> waiting = new ArrayList<>();
    private boolean completeAfterDrain;
    private boolean closed;

    /** Must be created before the call starts (a client's {@code beforeStart}, a service method's body). */
    OutboundQueue(CallStreamObserver<T> stream) {
        this.stream = stream;
        stream.setOnReadyHandler(this::drain);
    }

    /** Queues {@code message}; false when the call is over (peer gone or ended here) and it was dropped. */
    boolean send(T message) {
        synchronized (this) {
            if (closed || completeAfterDrain) {
                return false; // there is no one left to deliver to
            }
            queue.add(message);
        }
        drain();
        return true;
    }

    /** Runs {@code action} once everything queued has gone out and the transport takes more. */
    void whenReady(Runnable action) {
        synchronized (this) {
            if (!closed && !(queue.isEmpty() && stream.isReady())) {
                waiting.add(action);
                return;
            }
        }
        action.run();
    }

    /** Ends the stream normally once the queue has drained. */
    void complete() {
        synchronized (this) {
            if (closed) {
                return;
            }
            completeAfterDrain = true;
        }
        drain();
    }

    /** Ends the stream with an error now; what is still queued is dropped with it. */
    void fail(Throwable error) {
        List<Runnable> wake;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            queue.clear();
            stream.onError(error);
            wake = takeWaiting();
        }
        wake.forEach(Runnable::run);
    }

    /** The call ended from the other side (cancelled, or failed): stop writing to it. */
    void closedByPeer() {
        List<Runnable> wake;
        synchronized (this) {
            closed = true;
            queue.clear();
            wake = takeWaiting();
        }
        // waiters learn that nothing more will flow here; they check the call state themselves
        wake.forEach(Runnable::run);
    }

    synchronized boolean isClosed() {
        return closed;
    }

    private void drain() {
        List<Runnable> wake;
        synchronized (this) {
            if (closed) {
                return;
            }
            while (!queue.isEmpty() && stream.isReady()) {
                stream.onNext(queue.poll());
            }
            if (queue.isEmpty() && completeAfterDrain) {
                closed = true;
                stream.onCompleted();
            }
            if (!queue.isEmpty() || !(closed || stream.isReady())) {
                return;
            }
            wake = takeWaiting();
        }
        wake.forEach(Runnable::run);
    }

    private List<Runnable> takeWaiting() {
        if (waiting.isEmpty()) {
            return List.of();
        }
        List<Runnable> w = new ArrayList<>(waiting);
        waiting.clear();
        return w;
    }
}
