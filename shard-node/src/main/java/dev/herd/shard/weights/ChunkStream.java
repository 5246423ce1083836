package dev.herd.shard.weights;

import dev.herd.proto.v1.TensorChunk;
import dev.herd.proto.v1.TensorRequest;
import dev.herd.proto.v1.WeightTransferGrpc;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;

import java.time.Duration;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The receiving end of one {@code FetchTensors} call, read one chunk at a time: the next chunk is requested when
 * the caller takes one, so at most one more arrives while the caller stores it, and a slow disk slows the holder
 * through HTTP/2 flow control rather than piling chunks up in memory. A holder silent for longer than the idle limit is given up
 * like one that vanished.
 */
final class ChunkStream implements AutoCloseable {
    private static final Object END = new Object();

    private final BlockingQueue<Object> arrived = new ArrayBlockingQueue<>(4);
    private final Duration idle;
    private volatile ClientCallStreamObserver<TensorRequest> call;
    private boolean finished;

    private ChunkStream(Duration idle) {
        this.idle = idle;
    }

    static ChunkStream open(Channel channel, TensorRequest request, Duration idle) {
        ChunkStream s = new ChunkStream(idle);
        WeightTransferGrpc.newStub(channel).fetchTensors(request, s.new Observer());
        return s;
    }

    /**
     * The next chunk, or null when the holder has completed the stream.
     *
     * @throws StatusRuntimeException as the call failed, or DEADLINE_EXCEEDED after the idle limit
     */
    TensorChunk next() throws InterruptedException {
        if (finished) {
            return null;
        }
        Object o = arrived.poll(idle.toMillis(), TimeUnit.MILLISECONDS);
        if (o == null) {
            close();
            throw Status.DEADLINE_EXCEEDED.withDescription("no chunk for " + idle.toMillis() + " ms")
                    .asRuntimeException();
        }
        if (o == END) {
            finished = true;
            return null;
        }
        if (o instanceof Throwable t) {
            finished = true;
            throw t instanceof StatusRuntimeException s ? s : Status.fromThrowable(t).asRuntimeException();
        }
        call.request(1);
        return (TensorChunk) o;
    }

    /** Abandons the call (the holder sees it cancelled). */
    @Override
    public void close() {
        if (!finished) {
            finished = true;
            ClientCallStreamObserver<TensorRequest> c = call;
            if (c != null) {
                c.cancel("the receiver stopped reading", null);
            }
        }
    }

    private final class Observer implements ClientResponseObserver<TensorRequest, TensorChunk> {
        @Override
        public void beforeStart(ClientCallStreamObserver<TensorRequest> requestStream) {
            call = requestStream;
            requestStream.disableAutoRequestWithInitial(1);
        }

        // at most one chunk is requested at a time, and the end or an error comes after it: offer never fails
        @Override
        public void onNext(TensorChunk chunk) {
            arrived.offer(chunk);
        }

        @Override
        public void onError(Throwable t) {
            arrived.offer(t);
        }

        @Override
        public void onCompleted() {
            arrived.offer(END);
        }
    }
}
