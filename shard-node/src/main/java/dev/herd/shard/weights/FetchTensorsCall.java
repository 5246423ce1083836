package dev.herd.shard.weights;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.herd.proto.v1.TensorChunk;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * One {@code FetchTensors} stream on the holder: chunks are cut from the mapped file only while the transport
 * {@code isReady()}, so a slow receiver makes the holder wait (HTTP/2 windows) instead of buffering a tensor.
 * A chunk's payload wraps a view of the mapping (no copy onto the heap; gRPC copies it once into its own
 * buffers when it writes the message). The SHA-256 on a tensor's last chunk comes from the holder's cache, or is
 * computed while the tensor (or slice) streams (after hashing the skipped prefix when resuming), so a tensor is read once.
 *
 * <p>gRPC runs a call's callbacks one at a time, but the pump is also synchronized: it is entered from the
 * service method and from on-ready callbacks.
 */
final class FetchTensorsCall {
    private final HeldTensors held;
    private final List<TensorPiece> tensors;
    private final int chunkBytes;
    private final WeightCounters counters;
    private final ServerCallStreamObserver<TensorChunk> call;
    private int current;
    private long position;
    private MemorySegment data;
    private Sha256 hashing;
    private boolean done;
    private volatile boolean cancelled;

    FetchTensorsCall(HeldTensors held, List<TensorPiece> tensors, long offset, int chunkBytes,
                     WeightCounters counters, ServerCallStreamObserver<TensorChunk> call) {
        this.held = held;
        this.tensors = tensors;
        this.position = offset;
        this.chunkBytes = chunkBytes;
        this.counters = counters;
        this.call = call;
    }

    void start() {
        call.setOnCancelHandler(() -> cancelled = true);
        call.setOnReadyHandler(this::pump);
        pump();
    }

    private synchronized void pump() {
        if (done) {
            return;
        }
        try {
            while (!cancelled && current < tensors.size() && call.isReady()) {
                call.onNext(nextChunk());
            }
            if (current == tensors.size() && !cancelled) {
                done = true;
                call.onCompleted();
            }
        } catch (IllegalStateException e) {
            // the model files were closed under the stream: the node is shutting down
            done = true;
            call.onError(Status.UNAVAILABLE.withDescription("holder is shutting down: " + e.getMessage())
                    .asRuntimeException());
        } catch (RuntimeException e) {
            // an unreadable file or a bug: the receiver must learn it as such, and the stream must end
            done = true;
            call.onError(Status.INTERNAL.withDescription(e.toString()).withCause(e).asRuntimeException());
        }
    }

    private TensorChunk nextChunk() {
        TensorPiece t = tensors.get(current);
        if (data == null) {
            data = held.bytes(t);
            if (held.knownSha256(t.key()).isEmpty()) {
                hashing = new Sha256();
                HeldTensors.update(hashing, data, 0, position); // a resumed fetch still gets the whole piece's hash
            }
        }
        long size = t.size();
        int len = (int) Math.min(chunkBytes, size - position);
        MemorySegment slice = data.asSlice(position, len);
        if (hashing != null) {
            hashing.update(slice.asByteBuffer());
        }
        ByteString payload = UnsafeByteOperations.unsafeWrap(slice.asByteBuffer());
        TensorChunk.Builder chunk = TensorChunk.newBuilder().setName(t.name()).setOffset(position).setData(payload)
                .setTotalSize(size);
        if (t.isSlice()) {
            chunk.setSlice(t.slice());
        }
        position += len;
        counters.served(len);
        if (position == size) {
            String sha;
            if (hashing != null) {
                sha = hashing.hex();
                held.remember(t.key(), sha);
            } else {
                sha = held.sha256(t);
            }
            chunk.setSha256(sha);
            counters.servedTensor();
            current++;
            position = 0;
            data = null;
            hashing = null;
        }
        return chunk.build();
    }
}
