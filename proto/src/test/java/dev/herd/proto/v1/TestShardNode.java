package dev.herd.proto.v1;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * A test-only shard node: the hello check of the contracts, a "last stage" whose LM head is the
 * identity (it samples greedily from the hidden row itself) and identity experts. Just enough behaviour
 * to see messages cross a real transport both ways.
 */
final class TestShardNode extends ShardServiceGrpc.ShardServiceImplBase {

    private final Hello self;

    TestShardNode(Hello self) {
        this.self = self;
    }

    /** The refusal rule of the README, in the order the checks are documented. */
    static HelloReply answer(Hello self, Hello peer) {
        HelloReply.Builder reply = HelloReply.newBuilder()
                .setProtocolVersion(self.getProtocolVersion())
                .setModelDigest(self.getModelDigest())
                .setPlanEpoch(self.getPlanEpoch())
                .setNodeId(self.getNodeId());
        if (peer.getProtocolVersion() != self.getProtocolVersion()) {
            return reply.setReason(RefusalReason.REFUSAL_REASON_PROTOCOL_VERSION_MISMATCH)
                    .setMessage("peer " + peer.getNodeId() + " speaks protocol " + peer.getProtocolVersion()
                            + ", node " + self.getNodeId() + " speaks protocol " + self.getProtocolVersion())
                    .build();
        }
        if (!peer.getModelDigest().equals(self.getModelDigest())) {
            return reply.setReason(RefusalReason.REFUSAL_REASON_MODEL_MISMATCH)
                    .setMessage("peer " + peer.getNodeId() + " serves model " + peer.getModelDigest()
                            + ", node " + self.getNodeId() + " serves " + self.getModelDigest())
                    .build();
        }
        if (peer.getPlanEpoch() < self.getPlanEpoch()) {
            return reply.setReason(RefusalReason.REFUSAL_REASON_PLAN_EPOCH_STALE)
                    .setMessage("peer " + peer.getNodeId() + " works on plan epoch " + peer.getPlanEpoch()
                            + ", node " + self.getNodeId() + " serves epoch " + self.getPlanEpoch())
                    .build();
        }
        if (peer.getPlanEpoch() > self.getPlanEpoch()) {
            return reply.setReason(RefusalReason.REFUSAL_REASON_PLAN_EPOCH_NOT_LOADED)
                    .setMessage("peer " + peer.getNodeId() + " works on plan epoch " + peer.getPlanEpoch()
                            + ", node " + self.getNodeId() + " has loaded only up to " + self.getPlanEpoch())
                    .build();
        }
        return reply.setAccepted(true).build();
    }

    @Override
    public void handshake(Hello request, StreamObserver<HelloReply> responseObserver) {
        responseObserver.onNext(answer(self, request));
        responseObserver.onCompleted();
    }

    @Override
    public StreamObserver<StageFrame> forwardStage(StreamObserver<StageFrame> responses) {
        return new StreamObserver<>() {
            private boolean greeted;
            private boolean closed;

            @Override
            public void onNext(StageFrame frame) {
                if (closed) {
                    return; // the stream was already ended with an error; the client's late frames mean nothing
                }
                if (!greeted) {
                    if (!frame.hasHello()) {
                        fail(Status.INVALID_ARGUMENT.withDescription("first message must be a hello, got " + frame.getBodyCase()));
                        return;
                    }
                    HelloReply reply = answer(self, frame.getHello());
                    responses.onNext(StageFrame.newBuilder().setHelloReply(reply).build());
                    if (!reply.getAccepted()) {
                        fail(Status.FAILED_PRECONDITION.withDescription(reply.getMessage()));
                        return;
                    }
                    greeted = true;
                    return;
                }
                responses.onNext(StageFrame.newBuilder().setResult(sampleGreedily(frame.getInput())).build());
            }

            @Override
            public void onError(Throwable error) {
                closed = true; // the client went away: nothing to answer
            }

            @Override
            public void onCompleted() {
                if (!closed) {
                    closed = true;
                    responses.onCompleted();
                }
            }

            private void fail(Status status) {
                closed = true;
                responses.onError(status.asRuntimeException());
            }
        };
    }

    /** Argmax over each sampled F32 row: the whole "model" of this test stage. */
    private static StepResult sampleGreedily(StageInput input) {
        ActivationFrame frame = input.getFrame();
        ByteBuffer data = frame.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        StepResult.Builder result = StepResult.newBuilder().setPlanEpoch(frame.getPlanEpoch()).setStepId(frame.getStepId());
        for (int row : input.getSampleRowsList()) {
            int best = 0;
            for (int c = 1; c < frame.getCols(); c++) {
                if (data.getFloat((row * frame.getCols() + c) * Float.BYTES)
                        > data.getFloat((row * frame.getCols() + best) * Float.BYTES)) {
                    best = c;
                }
            }
            result.addTokens(SampledToken.newBuilder()
                    .setSeqId(frame.getSeqIds(row))
                    .setPosition(frame.getPositions(row) + 1)
                    .setTokenId(best));
        }
        return result.build();
    }

    @Override
    public StreamObserver<ExpertRequest> dispatchExperts(StreamObserver<ExpertResponse> responses) {
        return new StreamObserver<>() {
            @Override
            public void onNext(ExpertRequest request) {
                if (request.hasHello()) {
                    responses.onNext(ExpertResponse.newBuilder().setHelloReply(answer(self, request.getHello())).build());
                    return;
                }
                responses.onNext(ExpertResponse.newBuilder().setFrame(identityExperts(request.getFrame())).build());
            }

            @Override
            public void onError(Throwable error) {
                // the client went away: nothing to answer
            }

            @Override
            public void onCompleted() {
                responses.onCompleted();
            }
        };
    }

    /** Every expert is the identity: output row i is input row routed_rows[i] (COMBINE_MODE_PER_EXPERT). */
    private static ActivationFrame identityExperts(ActivationFrame in) {
        int rowBytes = in.getCols() * Float.BYTES;
        List<ByteString> rows = new ArrayList<>();
        for (int row : in.getRoutedRowsList()) {
            rows.add(in.getData().substring(row * rowBytes, (row + 1) * rowBytes));
        }
        return ActivationFrame.newBuilder()
                .setPlanEpoch(in.getPlanEpoch()).setStepId(in.getStepId()).setLayer(in.getLayer())
                .setDtype(in.getDtype()).setRows(in.getRoutedRowsCount()).setCols(in.getCols())
                .setData(ByteString.copyFrom(rows))
                .build();
    }
}
