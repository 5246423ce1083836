package dev.herd.proto.v1;

import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Collects what a response stream delivers, so a test can wait for its end with a bound. */
final class StreamRecorder<T> implements StreamObserver<T> {

    private static final long TIMEOUT_SECONDS = 5;

    private final List<T> values = new CopyOnWriteArrayList<>();
    private final CompletableFuture<Void> done = new CompletableFuture<>();

    @Override
    public void onNext(T value) {
        values.add(value);
    }

    @Override
    public void onError(Throwable error) {
        done.completeExceptionally(error);
    }

    @Override
    public void onCompleted() {
        done.complete(null);
    }

    /** Waits for normal completion and returns everything received. */
    List<T> awaitCompletion() throws InterruptedException, ExecutionException, TimeoutException {
        done.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        return List.copyOf(values);
    }

    /** Waits for the stream to fail and returns the failure. */
    Throwable awaitError() throws InterruptedException, TimeoutException {
        try {
            done.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException expected) {
            return expected.getCause();
        }
        throw new AssertionError("stream completed normally after " + values.size() + " messages");
    }

    /** What arrived so far (also before a failure). */
    List<T> values() {
        return List.copyOf(values);
    }
}
