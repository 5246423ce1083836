package dev.herd.shard.weights;

import com.google.protobuf.ByteString;
import dev.herd.proto.v1.DescribeModelRequest;
import dev.herd.proto.v1.Hello;
import dev.herd.proto.v1.ListTensorsReply;
import dev.herd.proto.v1.ListTensorsRequest;
import dev.herd.proto.v1.ModelDescription;
import dev.herd.proto.v1.ModelFile;
import dev.herd.proto.v1.ModelLayout;
import dev.herd.proto.v1.NodeRole;
import dev.herd.proto.v1.TensorChunk;
import dev.herd.proto.v1.TensorRequest;
import dev.herd.proto.v1.WeightTransferGrpc;
import dev.herd.proto.v1.WireLimit;
import dev.herd.model.weights.CheckpointFormat;
import dev.herd.shard.HelloCheck;
import dev.herd.shard.UnaryCalls;
import dev.herd.shard.NodeIdentity;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;

/**
 * {@code WeightTransfer} on a node that has the model files, as a thin adapter over {@link HeldTensors}: check
 * the hello (version and model, any role, any epoch: a node loading the next epoch pulls from peers serving the
 * current one), then describe, list or stream. Refusals and bad requests are proper statuses
 * (FAILED_PRECONDITION, NOT_FOUND, OUT_OF_RANGE, INVALID_ARGUMENT, RESOURCE_EXHAUSTED), never UNKNOWN.
 */
public final class WeightTransferService extends WeightTransferGrpc.WeightTransferImplBase {
    /** Payload of one chunk (weights.proto: at most WIRE_LIMIT_TENSOR_CHUNK_BYTES). */
    public static final int CHUNK_BYTES = WireLimit.WIRE_LIMIT_TENSOR_CHUNK_BYTES_VALUE;
    private static final Set<NodeRole> ANY = Set.of(NodeRole.NODE_ROLE_COORDINATOR, NodeRole.NODE_ROLE_SHARD);

    private final HeldTensors held;
    private final NodeIdentity self;
    private final WeightCounters counters;
    private final int chunkBytes;

    public WeightTransferService(HeldTensors held, NodeIdentity self, WeightCounters counters) {
        this(held, self, counters, CHUNK_BYTES);
    }

    /** With smaller chunks, so that tests of resuming and failover can cut tiny tensors into several chunks. */
    public WeightTransferService(HeldTensors held, NodeIdentity self, WeightCounters counters, int chunkBytes) {
        if (chunkBytes < 1 || chunkBytes > CHUNK_BYTES) {
            throw new IllegalArgumentException("chunks carry 1.." + CHUNK_BYTES + " bytes, not " + chunkBytes);
        }
        this.held = held;
        this.self = self;
        this.counters = counters;
        this.chunkBytes = chunkBytes;
    }

    @Override
    public void describeModel(DescribeModelRequest request, StreamObserver<ModelDescription> responses) {
        UnaryCalls.answer(responses, () -> {
            requireHello(request.getHello());
            ModelDescription.Builder b = ModelDescription.newBuilder().setLayout(
                    held.format() == CheckpointFormat.GGUF ? ModelLayout.MODEL_LAYOUT_GGUF
                            : ModelLayout.MODEL_LAYOUT_HUGGING_FACE);
            long size = 0;
            for (Map.Entry<String, byte[]> f : held.modelFiles().entrySet()) {
                size += f.getValue().length;
                b.addFiles(ModelFile.newBuilder().setName(f.getKey()).setData(ByteString.copyFrom(f.getValue())));
            }
            // room for the names and framing within the largest message either side accepts
            if (size > WireLimit.WIRE_LIMIT_MAX_MESSAGE_BYTES_VALUE - 4096) {
                throw Status.RESOURCE_EXHAUSTED.withDescription("node " + self.nodeId() + ": the model files of "
                        + held.describe() + " need " + size + " bytes, more than one message may carry").asRuntimeException();
            }
            return b.build();
        });
    }

    @Override
    public void listTensors(ListTensorsRequest request, StreamObserver<ListTensorsReply> responses) {
        UnaryCalls.answer(responses, () -> {
            requireHello(request.getHello());
            ListTensorsReply.Builder b = ListTensorsReply.newBuilder();
            if (request.getNamesCount() == 0) {
                for (StoredTensor t : held.index().tensors()) {
                    b.addTensors(t.toProto(held.knownSha256(t.name()).orElse("")));
                }
                return b.build();
            }
            // the holder's order, as the proto promises, whatever order the names were asked in
            Set<String> asked = new HashSet<>(request.getNamesList());
            for (StoredTensor t : held.index().tensors()) {
                if (asked.contains(t.name())) {
                    b.addTensors(t.toProto(held.knownSha256(t.name()).orElse("")));
                }
            }
            for (String n : request.getNamesList()) {
                if (!held.index().contains(n)) {
                    b.addMissing(n);
                }
            }
            return b.build();
        });
    }

    @Override
    public void fetchTensors(TensorRequest request, StreamObserver<TensorChunk> responses) {
        try {
            requireHello(request.getHello());
            List<TensorPiece> pieces = new ArrayList<>();
            for (String n : request.getNamesList()) {
                pieces.add(TensorPiece.whole(tensor(n)));
            }
            for (dev.herd.proto.v1.TensorPiece p : request.getPiecesList()) {
                pieces.add(piece(p));
            }
            long offset = request.getOffset();
            if (!pieces.isEmpty()) {
                TensorPiece first = pieces.getFirst();
                boolean emptyFromStart = first.size() == 0 && offset == 0;
                if (offset < 0 || (offset >= first.size() && !emptyFromStart)) {
                    throw Status.OUT_OF_RANGE.withDescription("offset " + Long.toUnsignedString(offset)
                            + " is not below the " + first.size() + " bytes of " + first.describe())
                            .asRuntimeException();
                }
            } else if (offset != 0) {
                throw Status.INVALID_ARGUMENT.withDescription("an offset without a tensor to apply it to")
                        .asRuntimeException();
            }
            new FetchTensorsCall(held, pieces, offset, chunkBytes, counters,
                    (ServerCallStreamObserver<TensorChunk>) responses).start();
        } catch (StatusRuntimeException e) {
            responses.onError(e);
        } catch (RuntimeException e) {
            // a bug or an unreadable file must reach the caller as what it is, not as UNKNOWN
            responses.onError(Status.INTERNAL.withDescription(e.toString()).withCause(e).asRuntimeException());
        }
    }

    private StoredTensor tensor(String name) {
        return held.index().find(name).orElseThrow(() -> Status.NOT_FOUND.withDescription(
                "node " + self.nodeId() + " holds no tensor named '" + name + "' (" + held.describe() + ")")
                .asRuntimeException());
    }

    private TensorPiece piece(dev.herd.proto.v1.TensorPiece p) {
        StoredTensor t = tensor(p.getName());
        if (!p.hasSlice()) {
            return TensorPiece.whole(t);
        }
        if (!t.sliceable()) {
            throw Status.INVALID_ARGUMENT.withDescription("tensor " + t + " cannot be cut into slices along its"
                    + " outermost dimension; ask for it whole").asRuntimeException();
        }
        if (p.getSlice() < 0 || p.getSlice() >= t.sliceCount()) {
            throw Status.OUT_OF_RANGE.withDescription("tensor '" + t.name() + "' has " + t.sliceCount()
                    + " slices, not a slice " + Long.toUnsignedString(p.getSlice())).asRuntimeException();
        }
        return new TensorPiece(t, p.getSlice());
    }

    private void requireHello(Hello hello) {
        UnaryCalls.requireAccepted(HelloCheck.answer(self, OptionalLong.empty(), hello, ANY, false));
    }
}
