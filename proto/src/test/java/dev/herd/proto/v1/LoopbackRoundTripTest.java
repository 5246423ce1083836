package dev.herd.proto.v1;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.BindableService;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The generated stubs over a real HTTP/2 connection on 127.0.0.1 (free port): a bidirectional activation
 * stream, a server stream of weight chunks, and the message-size limits the contracts ask for.
 */
class LoopbackRoundTripTest {

    private static final String DIGEST = "3b5d5c3712955042212316173ccf37be800c2e3b5d5c3712955042212316173c";
    private static final Hello NODE = Hello.newBuilder()
            .setProtocolVersion(ProtocolVersion.PROTOCOL_VERSION_CURRENT_VALUE)
            .setModelDigest(DIGEST).setPlanEpoch(4).setNodeId("stage-1").setRole(NodeRole.NODE_ROLE_SHARD)
            .build();
    private static final Hello CALLER = NODE.toBuilder().setNodeId("coordinator").setRole(NodeRole.NODE_ROLE_COORDINATOR).build();

    private final List<Server> servers = new ArrayList<>();
    private final List<ManagedChannel> channels = new ArrayList<>();

    @AfterEach
    void close() throws InterruptedException {
        for (ManagedChannel channel : channels) {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        for (Server server : servers) {
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /** A server on a free loopback port; maxInbound null keeps gRPC's default limit. */
    private int serve(BindableService service, Integer maxInbound) throws IOException {
        NettyServerBuilder builder = NettyServerBuilder
                .forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .addService(service);
        if (maxInbound != null) {
            builder.maxInboundMessageSize(maxInbound);
        }
        Server server = builder.build().start();
        servers.add(server);
        return server.getPort();
    }

    private ManagedChannel connect(int port, Integer maxInbound) {
        NettyChannelBuilder builder = NettyChannelBuilder
                .forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), port))
                .usePlaintext();
        if (maxInbound != null) {
            builder.maxInboundMessageSize(maxInbound);
        }
        ManagedChannel channel = builder.build();
        channels.add(channel);
        return channel;
    }

    /** Row-major little-endian F32 rows with a distinct maximum per row, for greedy sampling. */
    private static float[][] hiddenRows(int rows, int cols, long seed) {
        Random random = new Random(seed);
        float[][] values = new float[rows][cols];
        for (float[] row : values) {
            for (int c = 0; c < cols; c++) {
                row[c] = (float) random.nextGaussian();
            }
        }
        return values;
    }

    private static ByteString littleEndian(float[][] rows) {
        ByteBuffer buffer = ByteBuffer.allocate(rows.length * rows[0].length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (float[] row : rows) {
            for (float v : row) {
                buffer.putFloat(v);
            }
        }
        return ByteString.copyFrom(buffer.array());
    }

    private static int argmax(float[] row) {
        int best = 0;
        for (int i = 1; i < row.length; i++) {
            if (row[i] > row[best]) {
                best = i;
            }
        }
        return best;
    }

    private static StageFrame step(long stepId, float[][] rows, List<Integer> sampleRows) {
        ActivationFrame.Builder frame = ActivationFrame.newBuilder()
                .setPlanEpoch(4).setStepId(stepId).setLayer(16)
                .setDtype(DType.DTYPE_F32).setRows(rows.length).setCols(rows[0].length)
                .setData(littleEndian(rows));
        for (int r = 0; r < rows.length; r++) {
            frame.addSeqIds(1000 + r).addPositions(10 * r + (int) stepId);
        }
        return StageFrame.newBuilder()
                .setInput(StageInput.newBuilder().setFrame(frame).addAllSampleRows(sampleRows))
                .build();
    }

    @Test
    void forwardStageGreetsThenReturnsOneResultPerStep() throws Exception {
        int port = serve(new TestShardNode(NODE), WireLimit.WIRE_LIMIT_MAX_MESSAGE_BYTES_VALUE);
        ShardServiceGrpc.ShardServiceStub stub = ShardServiceGrpc.newStub(connect(port, null))
                .withDeadlineAfter(5, TimeUnit.SECONDS);
        float[][] first = hiddenRows(8, 640, 1); // 20 KiB of payload
        float[][] second = hiddenRows(8, 640, 2);
        assertTrue(step(1, first, List.of()).getSerializedSize() > 16 * 1024);

        StreamRecorder<StageFrame> responses = new StreamRecorder<>();
        StreamObserver<StageFrame> requests = stub.forwardStage(responses);
        requests.onNext(StageFrame.newBuilder().setHello(CALLER).build());
        requests.onNext(step(1, first, List.of(3, 7)));
        requests.onNext(step(2, second, List.of(0)));
        requests.onCompleted();
        List<StageFrame> received = responses.awaitCompletion();

        assertEquals(3, received.size(), received.toString());
        HelloReply reply = received.get(0).getHelloReply();
        assertTrue(reply.getAccepted(), reply.getMessage());
        assertEquals("stage-1", reply.getNodeId());
        assertEquals(ProtocolVersion.PROTOCOL_VERSION_CURRENT_VALUE, reply.getProtocolVersion());

        StepResult one = received.get(1).getResult();
        assertEquals(1, one.getStepId());
        assertEquals(4, one.getPlanEpoch());
        assertEquals(List.of(1003L, 1007L), one.getTokensList().stream().map(SampledToken::getSeqId).toList());
        assertEquals(List.of(argmax(first[3]), argmax(first[7])), one.getTokensList().stream().map(SampledToken::getTokenId).toList());
        assertEquals(List.of(32, 72), one.getTokensList().stream().map(SampledToken::getPosition).toList());

        StepResult two = received.get(2).getResult();
        assertEquals(2, two.getStepId());
        assertEquals(1, two.getTokensCount());
        assertEquals(argmax(second[0]), two.getTokens(0).getTokenId());
        assertEquals(3, two.getTokens(0).getPosition());
    }

    static Stream<Arguments> mismatchedHellos() {
        return Stream.of(
                Arguments.of("newer protocol",
                        (UnaryOperator<Hello>) h -> h.toBuilder().setProtocolVersion(h.getProtocolVersion() + 1).build(),
                        RefusalReason.REFUSAL_REASON_PROTOCOL_VERSION_MISMATCH,
                        "speaks protocol " + (ProtocolVersion.PROTOCOL_VERSION_CURRENT_VALUE + 1)),
                Arguments.of("other model",
                        (UnaryOperator<Hello>) h -> h.toBuilder().setModelDigest("00ff").build(),
                        RefusalReason.REFUSAL_REASON_MODEL_MISMATCH, "serves model 00ff"),
                Arguments.of("older epoch",
                        (UnaryOperator<Hello>) h -> h.toBuilder().setPlanEpoch(3).build(),
                        RefusalReason.REFUSAL_REASON_PLAN_EPOCH_STALE, "plan epoch 3"),
                Arguments.of("epoch not loaded yet",
                        (UnaryOperator<Hello>) h -> h.toBuilder().setPlanEpoch(5).build(),
                        RefusalReason.REFUSAL_REASON_PLAN_EPOCH_NOT_LOADED, "plan epoch 5"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("mismatchedHellos")
    void forwardStageRefusesAMismatchedPeerWithAReason(String name, UnaryOperator<Hello> change,
            RefusalReason reason, String messagePart) throws Exception {
        int port = serve(new TestShardNode(NODE), null);
        ShardServiceGrpc.ShardServiceStub stub = ShardServiceGrpc.newStub(connect(port, null))
                .withDeadlineAfter(5, TimeUnit.SECONDS);
        StreamRecorder<StageFrame> responses = new StreamRecorder<>();
        StreamObserver<StageFrame> requests = stub.forwardStage(responses);
        requests.onNext(StageFrame.newBuilder().setHello(change.apply(CALLER)).build());

        Throwable error = responses.awaitError();
        assertEquals(Status.Code.FAILED_PRECONDITION, Status.fromThrowable(error).getCode());
        List<StageFrame> received = responses.values();
        assertEquals(1, received.size(), received.toString());
        HelloReply refusal = received.get(0).getHelloReply();
        assertFalse(refusal.getAccepted());
        assertEquals(reason, refusal.getReason());
        assertTrue(refusal.getMessage().contains(messagePart), refusal.getMessage());
        assertTrue(refusal.getMessage().contains("stage-1"), refusal.getMessage());
        assertEquals(refusal.getMessage(), Status.fromThrowable(error).getDescription());
    }

    @Test
    void fetchTensorsStreamsChunksAndTheChecksumOnEachTensorsLastChunk() throws IOException {
        Random random = new Random(7);
        byte[] big = new byte[40_000];
        random.nextBytes(big);
        byte[] small = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
        int port = serve(new TestTensorHolder(DIGEST, Map.of("blk.0.ffn_up_exps.weight", big, "output_norm.weight", small), 16 * 1024), null);
        WeightTransferGrpc.WeightTransferBlockingStub stub = WeightTransferGrpc.newBlockingStub(connect(port, null))
                .withDeadlineAfter(5, TimeUnit.SECONDS);

        Iterator<TensorChunk> chunks = stub.fetchTensors(TensorRequest.newBuilder()
                .setHello(CALLER).addNames("blk.0.ffn_up_exps.weight").addNames("output_norm.weight").build());
        List<TensorChunk> received = new ArrayList<>();
        chunks.forEachRemaining(received::add);

        assertEquals(List.of(0L, 16384L, 32768L, 0L), received.stream().map(TensorChunk::getOffset).toList());
        assertEquals(List.of("", "", TestTensorHolder.sha256Hex(big), TestTensorHolder.sha256Hex(small)),
                received.stream().map(TensorChunk::getSha256).toList());
        assertArrayEquals(big, concat(received.subList(0, 3)));
        assertArrayEquals(small, concat(received.subList(3, 4)));
        for (TensorChunk chunk : received) {
            assertTrue(chunk.getData().size() <= 16 * 1024);
            assertEquals(chunk.getName().startsWith("blk") ? big.length : small.length, chunk.getTotalSize());
        }
    }

    @Test
    void fetchTensorsResumesFromAnOffset() throws IOException {
        byte[] tensor = new byte[50_000];
        new Random(11).nextBytes(tensor);
        int port = serve(new TestTensorHolder(DIGEST, Map.of("token_embd.weight", tensor), 16 * 1024), null);
        WeightTransferGrpc.WeightTransferBlockingStub stub = WeightTransferGrpc.newBlockingStub(connect(port, null))
                .withDeadlineAfter(5, TimeUnit.SECONDS);

        int kept = 20_000; // bytes an interrupted fetch already wrote
        List<TensorChunk> rest = new ArrayList<>();
        stub.fetchTensors(TensorRequest.newBuilder().setHello(CALLER).addNames("token_embd.weight").setOffset(kept).build())
                .forEachRemaining(rest::add);

        assertEquals(kept, rest.get(0).getOffset());
        ByteArrayOutputStream whole = new ByteArrayOutputStream();
        whole.write(tensor, 0, kept);
        whole.write(concat(rest));
        assertArrayEquals(tensor, whole.toByteArray());
        assertEquals(TestTensorHolder.sha256Hex(whole.toByteArray()), rest.getLast().getSha256());
    }

    @Test
    void fetchTensorsFailsWithAStatusForAnUnknownNameOrAnotherModel() throws IOException {
        int port = serve(new TestTensorHolder(DIGEST, Map.of("a", new byte[3]), 1024), null);
        WeightTransferGrpc.WeightTransferBlockingStub stub = WeightTransferGrpc.newBlockingStub(connect(port, null))
                .withDeadlineAfter(5, TimeUnit.SECONDS);

        StatusRuntimeException unknown = assertThrows(StatusRuntimeException.class, () ->
                stub.fetchTensors(TensorRequest.newBuilder().setHello(CALLER).addNames("a").addNames("b").build())
                        .forEachRemaining(chunk -> { }));
        assertEquals(Status.Code.NOT_FOUND, unknown.getStatus().getCode());
        assertEquals("no tensor named b", unknown.getStatus().getDescription());

        Hello otherModel = CALLER.toBuilder().setModelDigest("ffff").build();
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () ->
                stub.fetchTensors(TensorRequest.newBuilder().setHello(otherModel).addNames("a").build()).hasNext());
        assertEquals(Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode());
    }

    /** Sends one expert frame of {@code rows} x 16384 F32 through identity experts and returns the answer. */
    private StreamRecorder<ExpertResponse> dispatch(Integer serverLimit, Integer channelLimit, ActivationFrame frame)
            throws IOException {
        int port = serve(new TestShardNode(NODE), serverLimit);
        ShardServiceGrpc.ShardServiceStub stub = ShardServiceGrpc.newStub(connect(port, channelLimit))
                .withDeadlineAfter(5, TimeUnit.SECONDS);
        StreamRecorder<ExpertResponse> responses = new StreamRecorder<>();
        StreamObserver<ExpertRequest> requests = stub.dispatchExperts(responses);
        requests.onNext(ExpertRequest.newBuilder().setHello(CALLER).build());
        requests.onNext(ExpertRequest.newBuilder().setFrame(frame).build());
        requests.onCompleted();
        return responses;
    }

    @Test
    void framesAboveGrpcsDefaultLimitNeedTheContractsLimitOnBothEnds() throws Exception {
        int rows = 80;
        int cols = 16384; // 80 x 16384 x 4 = 5 MiB, above gRPC's 4 MiB default
        byte[] payload = new byte[rows * cols * Float.BYTES];
        new Random(3).nextBytes(payload);
        ActivationFrame.Builder frame = ActivationFrame.newBuilder()
                .setPlanEpoch(4).setStepId(9).setLayer(2)
                .setDtype(DType.DTYPE_F32).setRows(rows).setCols(cols).setData(ByteString.copyFrom(payload))
                .setCombine(CombineMode.COMBINE_MODE_PER_EXPERT);
        for (int r = 0; r < rows; r++) {
            // rows in reverse, so the answer's layout follows the routing and not the input order
            frame.addSeqIds(r).addRoutedRows(rows - 1 - r).addRoutedExperts(r % 8).addRoutedWeights(1f);
        }
        int limit = WireLimit.WIRE_LIMIT_MAX_MESSAGE_BYTES_VALUE;

        // The server rejects the frame with RESOURCE_EXHAUSTED but tells the client only by resetting the
        // HTTP/2 stream, which grpc-java reports to the client as CANCELLED.
        StreamRecorder<ExpertResponse> rejected = dispatch(null, limit, frame.build());
        Throwable serverTooSmall = rejected.awaitError();
        assertTrue(Set.of(Status.Code.RESOURCE_EXHAUSTED, Status.Code.CANCELLED)
                .contains(Status.fromThrowable(serverTooSmall).getCode()), serverTooSmall.toString());
        assertFalse(rejected.values().stream().anyMatch(ExpertResponse::hasFrame), "the frame was served anyway");

        Throwable channelTooSmall = dispatch(limit, null, frame.build()).awaitError();
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, Status.fromThrowable(channelTooSmall).getCode(), channelTooSmall.toString());

        List<ExpertResponse> answered = dispatch(limit, limit, frame.build()).awaitCompletion();
        assertEquals(2, answered.size());
        assertTrue(answered.get(0).getHelloReply().getAccepted());
        ActivationFrame out = answered.get(1).getFrame();
        assertEquals(9, out.getStepId());
        assertEquals(rows, out.getRows());
        int rowBytes = cols * Float.BYTES;
        for (int r = 0; r < rows; r++) {
            int source = rows - 1 - r;
            assertEquals(ByteString.copyFrom(payload, source * rowBytes, rowBytes),
                    out.getData().substring(r * rowBytes, (r + 1) * rowBytes), "row " + r);
        }
    }

    private static byte[] concat(List<TensorChunk> chunks) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (TensorChunk chunk : chunks) {
            out.writeBytes(chunk.getData().toByteArray());
        }
        return out.toByteArray();
    }
}
