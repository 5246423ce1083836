package dev.herd.proto.v1;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;

/** A test-only weight holder serving tensors from memory in fixed-size chunks. */
final class TestTensorHolder extends WeightTransferGrpc.WeightTransferImplBase {

    private final String modelDigest;
    private final Map<String, byte[]> tensors;
    private final int chunkBytes;

    TestTensorHolder(String modelDigest, Map<String, byte[]> tensors, int chunkBytes) {
        this.modelDigest = modelDigest;
        this.tensors = Map.copyOf(tensors);
        this.chunkBytes = chunkBytes;
    }

    static String sha256Hex(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError("every JDK has SHA-256", e);
        }
    }

    @Override
    public void fetchTensors(TensorRequest request, StreamObserver<TensorChunk> responses) {
        if (!request.getHello().getModelDigest().equals(modelDigest)) {
            responses.onError(Status.FAILED_PRECONDITION
                    .withDescription("peer serves model " + request.getHello().getModelDigest() + ", this holder has " + modelDigest)
                    .asRuntimeException());
            return;
        }
        for (int i = 0; i < request.getNamesCount(); i++) {
            String name = request.getNames(i);
            byte[] bytes = tensors.get(name);
            if (bytes == null) {
                responses.onError(Status.NOT_FOUND.withDescription("no tensor named " + name).asRuntimeException());
                return;
            }
            long start = i == 0 ? request.getOffset() : 0;
            if (start >= bytes.length) {
                responses.onError(Status.OUT_OF_RANGE
                        .withDescription("offset " + start + " is past the " + bytes.length + " bytes of " + name)
                        .asRuntimeException());
                return;
            }
            for (int offset = (int) start; offset < bytes.length; offset += chunkBytes) {
                int length = Math.min(chunkBytes, bytes.length - offset);
                TensorChunk.Builder chunk = TensorChunk.newBuilder()
                        .setName(name)
                        .setOffset(offset)
                        .setData(ByteString.copyFrom(bytes, offset, length))
                        .setTotalSize(bytes.length);
                if (offset + length == bytes.length) {
                    chunk.setSha256(sha256Hex(bytes));
                }
                responses.onNext(chunk.build());
            }
        }
        responses.onCompleted();
    }
}
