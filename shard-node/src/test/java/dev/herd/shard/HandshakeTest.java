package dev.herd.shard;

import dev.herd.kernels.ReferenceBackend;
import dev.herd.model.config.Architecture;
import dev.herd.model.config.ModelConfig;
import dev.herd.proto.v1.AssignRequest;
import dev.herd.proto.v1.Hello;
import dev.herd.proto.v1.HelloReply;
import dev.herd.proto.v1.NodeRole;
import dev.herd.proto.v1.ReadyRequest;
import dev.herd.proto.v1.RefusalReason;
import dev.herd.proto.v1.ShardServiceGrpc;
import dev.herd.proto.v1.StageFrame;
import dev.herd.proto.v1.StatsRequest;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The versioned wire: a peer of another protocol version, another model, another epoch or the wrong role is
 * refused with a message naming both sides, on the Handshake call, on both activation streams and on control
 * calls; a refused stream ends with FAILED_PRECONDITION and nothing is computed for it.
 */
class HandshakeTest {
    static final long EPOCH = 3;

    @TempDir
    static Path dir;
    static Path model;
    static ReferenceBackend backend;

    LocalCluster cluster;
    LocalCluster.Node node;
    ManagedChannel channel;
    String digest;

    @BeforeAll
    static void model() {
        model = TestModels.write(dir, Architecture.MIXTRAL);
        backend = new ReferenceBackend(1);
    }

    @AfterAll
    static void closeBackend() {
        backend.close();
    }

    @BeforeEach
    void start() {
        cluster = new LocalCluster(model, backend);
        node = cluster.start("n3");
        ModelConfig c = cluster.config();
        node.node().assignAndWait(ShardAssignment.stage(EPOCH, new LayerRange(0, c.numLayers()),
                allExperts(c), true, true, null, List.of()));
        channel = PeerChannels.open(node.server().address());
        digest = node.node().identity().modelDigest();
    }

    @AfterEach
    void stop() {
        channel.shutdownNow();
        cluster.close();
    }

    static List<ExpertRef> allExperts(ModelConfig c) {
        return java.util.stream.IntStream.range(0, c.numLayers()).boxed()
                .flatMap(l -> java.util.stream.IntStream.range(0, c.moe().numExperts()).mapToObj(e -> new ExpertRef(l, e)))
                .toList();
    }

    private Hello hello(String nodeId, NodeRole role) {
        return new NodeIdentity(nodeId, digest).hello(EPOCH, role);
    }

    private HelloReply handshake(Hello h) {
        return ShardServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS).handshake(h);
    }

    @Test
    void matchingHelloIsAccepted() {
        HelloReply reply = handshake(hello("coordinator", NodeRole.NODE_ROLE_COORDINATOR));
        assertTrue(reply.getAccepted(), reply.getMessage());
        assertEquals("n3", reply.getNodeId());
        assertEquals(digest, reply.getModelDigest());
        assertEquals(EPOCH, reply.getPlanEpoch());
    }

    @Test
    void otherProtocolVersionIsRefusedNamingBothVersions() {
        Hello h = hello("n7", NodeRole.NODE_ROLE_SHARD).toBuilder().setProtocolVersion(2).setModelDigest("other").build();
        HelloReply reply = handshake(h);
        assertFalse(reply.getAccepted());
        // the version is reported first even though the model differs too
        assertEquals(RefusalReason.REFUSAL_REASON_PROTOCOL_VERSION_MISMATCH, reply.getReason());
        assertEquals("peer n7 speaks protocol 2, node n3 speaks protocol 1", reply.getMessage());
    }

    @Test
    void otherModelIsRefusedNamingBothDigests() {
        HelloReply reply = handshake(hello("n7", NodeRole.NODE_ROLE_SHARD).toBuilder().setModelDigest("abc123").build());
        assertFalse(reply.getAccepted());
        assertEquals(RefusalReason.REFUSAL_REASON_MODEL_MISMATCH, reply.getReason());
        assertEquals("peer n7 serves model abc123, node n3 serves " + digest, reply.getMessage());
    }

    @Test
    void otherEpochsAreRefusedAsStaleOrNotLoaded() {
        HelloReply stale = handshake(hello("c", NodeRole.NODE_ROLE_COORDINATOR).toBuilder().setPlanEpoch(2).build());
        assertEquals(RefusalReason.REFUSAL_REASON_PLAN_EPOCH_STALE, stale.getReason());
        assertEquals("peer c works on plan epoch 2, node n3 serves epoch 3", stale.getMessage());
        HelloReply ahead = handshake(hello("c", NodeRole.NODE_ROLE_COORDINATOR).toBuilder().setPlanEpoch(4).build());
        assertEquals(RefusalReason.REFUSAL_REASON_PLAN_EPOCH_NOT_LOADED, ahead.getReason());
    }

    @Test
    void refusedStageStreamEndsWithFailedPreconditionAndComputesNothing() throws Exception {
        List<StageFrame> received = new java.util.concurrent.CopyOnWriteArrayList<>();
        CompletableFuture<Throwable> ended = new CompletableFuture<>();
        StreamObserver<StageFrame> requests = ShardServiceGrpc.newStub(channel).forwardStage(new StreamObserver<>() {
            @Override
            public void onNext(StageFrame f) {
                received.add(f);
            }

            @Override
            public void onError(Throwable t) {
                ended.complete(t);
            }

            @Override
            public void onCompleted() {
                ended.complete(null);
            }
        });
        requests.onNext(StageFrame.newBuilder().setHello(hello("c", NodeRole.NODE_ROLE_COORDINATOR).toBuilder()
                .setProtocolVersion(9)).build());
        Throwable t = ended.get(10, TimeUnit.SECONDS);
        Status status = Status.fromThrowable(t);
        assertEquals(Status.Code.FAILED_PRECONDITION, status.getCode());
        assertEquals("peer c speaks protocol 9, node n3 speaks protocol 1", status.getDescription());
        assertEquals(1, received.size());
        assertEquals(RefusalReason.REFUSAL_REASON_PROTOCOL_VERSION_MISMATCH, received.getFirst().getHelloReply().getReason());
    }

    @Test
    void stageClientReportsTheRefusalOnItsSteps() throws Exception {
        try (PipelineDriver driver = new PipelineDriver(node.server().address(), "not-this-model", EPOCH)) {
            HelloReply reply = driver.hello();
            assertFalse(reply.getAccepted());
            StepFailedException e = assertThrows(StepFailedException.class,
                    () -> driver.prefill(1, TestModels.PROMPT));
            assertTrue(e.getMessage().contains("refused the hello (REFUSAL_REASON_MODEL_MISMATCH)"), e.getMessage());
            assertTrue(e.getMessage().contains("peer coordinator serves model not-this-model"), e.getMessage());
        }
        assertEquals(0, node.node().stats().activeSequences(), "nothing ran for a refused stream");
    }

    @Test
    void firstMessageMustBeAHello() throws Exception {
        CompletableFuture<Throwable> ended = new CompletableFuture<>();
        StreamObserver<StageFrame> requests = ShardServiceGrpc.newStub(channel).forwardStage(new StreamObserver<>() {
            @Override
            public void onNext(StageFrame f) {
            }

            @Override
            public void onError(Throwable t) {
                ended.complete(t);
            }

            @Override
            public void onCompleted() {
                ended.complete(null);
            }
        });
        requests.onNext(StageFrame.newBuilder().setInput(dev.herd.proto.v1.StageInput.getDefaultInstance()).build());
        Status status = Status.fromThrowable(ended.get(10, TimeUnit.SECONDS));
        assertEquals(Status.Code.INVALID_ARGUMENT, status.getCode());
        assertTrue(status.getDescription().contains("must be a hello"), status.getDescription());
    }

    @Test
    void expertDispatchToAnotherModelFailsWithTheRefusal() throws Exception {
        Hello wrong = new NodeIdentity("s0", "another-model").hello(EPOCH, NodeRole.NODE_ROLE_SHARD);
        try (RemoteExpertRunner runner = new RemoteExpertRunner(channel, wrong, node.endpoint(),
                cluster.config().hiddenSize(), dev.herd.proto.v1.DType.DTYPE_F32, Duration.ofSeconds(10),
                new WireCounters())) {
            float[] rows = new float[cluster.config().hiddenSize()];
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> runner.run(0, new int[]{1}, rows, 1).get(10, TimeUnit.SECONDS));
            assertInstanceOf(PeerUnavailableException.class, e.getCause());
            assertTrue(e.getCause().getMessage().contains("expert node n3"), e.getCause().getMessage());
            assertTrue(e.getCause().getMessage().contains("refused the hello (REFUSAL_REASON_MODEL_MISMATCH)"),
                    e.getCause().getMessage());
        }
    }

    @Test
    void controlCallsCheckModelAndRoleButNotEpoch() {
        var stub = ShardServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
        // another epoch is fine on control calls: they are how nodes change epochs
        Hello older = hello("c", NodeRole.NODE_ROLE_COORDINATOR).toBuilder().setPlanEpoch(1).build();
        assertEquals(EPOCH, stub.stats(StatsRequest.newBuilder().setHello(older).build()).getPlanEpoch());
        StatusRuntimeException wrongModel = assertThrows(StatusRuntimeException.class, () -> stub.ready(
                ReadyRequest.newBuilder().setHello(older.toBuilder().setModelDigest("x")).setPlanEpoch(EPOCH).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, wrongModel.getStatus().getCode());
        assertEquals("peer c serves model x, node n3 serves " + digest, wrongModel.getStatus().getDescription());
        StatusRuntimeException shard = assertThrows(StatusRuntimeException.class, () -> stub.assign(
                AssignRequest.newBuilder().setHello(hello("s9", NodeRole.NODE_ROLE_SHARD)).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, shard.getStatus().getCode());
        assertEquals("peer s9 has role NODE_ROLE_SHARD; node n3 accepts this call only from [NODE_ROLE_COORDINATOR]",
                shard.getStatus().getDescription());
    }
}
