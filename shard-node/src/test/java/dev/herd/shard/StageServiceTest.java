package dev.herd.shard;

import com.google.protobuf.ByteString;
import dev.herd.kernels.ReferenceBackend;
import dev.herd.model.config.Architecture;
import dev.herd.model.config.ModelConfig;
import dev.herd.proto.v1.ActivationFrame;
import dev.herd.proto.v1.AssignReply;
import dev.herd.proto.v1.DType;
import dev.herd.proto.v1.FailureReason;
import dev.herd.proto.v1.Hello;
import dev.herd.proto.v1.HelloReply;
import dev.herd.proto.v1.NodeRole;
import dev.herd.proto.v1.NodeState;
import dev.herd.proto.v1.ReadyReply;
import dev.herd.proto.v1.ReadyRequest;
import dev.herd.proto.v1.RefusalReason;
import dev.herd.proto.v1.ReleaseReply;
import dev.herd.proto.v1.ReleaseRequest;
import dev.herd.proto.v1.SamplingParams;
import dev.herd.proto.v1.SequenceFork;
import dev.herd.proto.v1.SequenceSampling;
import dev.herd.proto.v1.ShardServiceGrpc;
import dev.herd.proto.v1.StageInput;
import dev.herd.proto.v1.StatsReply;
import dev.herd.proto.v1.StatsRequest;
import io.grpc.ManagedChannel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The node as the coordinator sees it: assignment over {@code Assign} and {@code Ready}, {@code ReleaseSequence}
 * and {@code Stats}, and a stage stream that answers every malformed step in-band with its reason and goes on
 * serving the well-formed ones.
 */
class StageServiceTest {
    static final long EPOCH = 5;

    @TempDir
    static Path dir;
    static Path model;
    static ReferenceBackend backend;
    static TestModels.Reference reference;

    @BeforeAll
    static void model() {
        backend = new ReferenceBackend(1);
        model = TestModels.write(dir, Architecture.MIXTRAL);
        reference = TestModels.decode(model, backend, 2);
    }

    @AfterAll
    static void close() {
        backend.close();
    }

    private static Hello coordinator(LocalCluster.Node n) {
        return new NodeIdentity("coordinator", n.node().identity().modelDigest())
                .hello(EPOCH, NodeRole.NODE_ROLE_COORDINATOR);
    }

    private static ShardAssignment wholeModel(ModelConfig c) {
        return ShardAssignment.stage(EPOCH, new LayerRange(0, c.numLayers()), HandshakeTest.allExperts(c), true, true,
                null, List.of());
    }

    @Test
    void assignOverRpcLoadsInTheBackgroundAndReadyReportsIt() throws Exception {
        try (LocalCluster cluster = new LocalCluster(model, backend)) {
            LocalCluster.Node n = cluster.start("n1");
            ManagedChannel channel = PeerChannels.open(n.server().address());
            try {
                var stub = ShardServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
                Hello hello = coordinator(n);
                HelloReply before = stub.handshake(hello);
                assertEquals(RefusalReason.REFUSAL_REASON_PLAN_EPOCH_NOT_LOADED, before.getReason());
                assertEquals("peer coordinator works on plan epoch 5, node n1 has no assignment loaded yet",
                        before.getMessage());
                assertEquals(NodeState.NODE_STATE_IDLE,
                        stub.ready(ReadyRequest.newBuilder().setHello(hello).setPlanEpoch(EPOCH).build()).getState());

                ModelConfig c = cluster.config();
                ShardAssignment missing = ShardAssignment.stage(EPOCH, new LayerRange(0, c.numLayers()),
                        List.of(new ExpertRef(0, 0)), true, true, null, List.of());
                AssignReply refused = stub.assign(Assignments.toProto(missing, hello));
                assertFalse(refused.getAccepted());
                assertEquals("assignment for epoch 5: expert 1 of layer 0 is held neither here nor by any expert peer",
                        refused.getMessage());

                AssignReply accepted = stub.assign(Assignments.toProto(wholeModel(c), hello));
                assertTrue(accepted.getAccepted(), accepted.getMessage());
                ReadyReply ready;
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                do {
                    ready = stub.ready(ReadyRequest.newBuilder().setHello(hello).setPlanEpoch(EPOCH).build());
                } while (ready.getState() == NodeState.NODE_STATE_LOADING && System.nanoTime() < until);
                assertEquals(NodeState.NODE_STATE_READY, ready.getState(), ready.getMessage());
                assertEquals(EPOCH, ready.getServingEpoch());
                assertTrue(stub.handshake(hello).getAccepted());
            } finally {
                channel.shutdownNow();
            }
        }
    }

    @Test
    void assignmentSurvivesTheProtoRoundTrip() {
        ShardAssignment a = ShardAssignment.stage(7, new LayerRange(2, 4), List.of(new ExpertRef(2, 1)), false, false,
                new PeerEndpoint("s2", "127.0.0.1:9"),
                List.of(new ExpertPeer(new PeerEndpoint("e1", "[::1]:8"), List.of(new ExpertRef(3, 0)))));
        assertEquals(a, Assignments.fromProto(Assignments.toProto(a, Hello.getDefaultInstance())));
    }

    @Test
    void malformedStepsAreAnsweredInBandAndTheStreamGoesOn() throws Exception {
        try (LocalCluster cluster = new LocalCluster(model, backend)) {
            LocalCluster.Node n = cluster.start("n1");
            ModelConfig c = cluster.config();
            n.node().assignAndWait(wholeModel(c));
            try (PipelineDriver driver = new PipelineDriver(n.server().address(), n.node().identity().modelDigest(),
                    EPOCH)) {
                ActivationFrame.Builder ok = ActivationFrame.newBuilder().setPlanEpoch(EPOCH).setRows(1)
                        .addSeqIds(1).addPositions(0);
                SequenceSampling greedy = SequenceSampling.newBuilder().setSeqId(1)
                        .setParams(SamplingParams.getDefaultInstance()).build();
                StageInput good = StageInput.newBuilder().setFrame(ok).addTokenIds(5).addSampleRows(0)
                        .addSampling(greedy).build();

                assertFails(driver, FailureReason.FAILURE_REASON_PLAN_EPOCH_MISMATCH,
                        "node n1: step 1 was computed under plan epoch 4; this stream serves epoch 5",
                        good.toBuilder().setFrame(ok.clone().setStepId(1).setPlanEpoch(4)).build());
                assertFails(driver, FailureReason.FAILURE_REASON_BAD_FRAME,
                        "node n1: step 2 has token id 512 outside the vocabulary of 512",
                        good.toBuilder().setFrame(ok.clone().setStepId(2)).setTokenIds(0, c.vocabSize()).build());
                assertFails(driver, FailureReason.FAILURE_REASON_BAD_FRAME,
                        "node n1: step 3 carries hidden states, but this stage embeds token ids",
                        StageInput.newBuilder().setFrame(ok.clone().setStepId(3).setCols(c.hiddenSize())
                                .setDtype(DType.DTYPE_F32).setData(ByteString.copyFrom(new byte[4 * c.hiddenSize()])))
                                .addSampleRows(0).addSampling(greedy).build());
                assertFails(driver, FailureReason.FAILURE_REASON_BAD_FRAME,
                        "node n1: step 4 is 1 x 64 DTYPE_F32 (256 bytes) but carries 255 bytes",
                        StageInput.newBuilder().setFrame(ok.clone().setStepId(4).setCols(c.hiddenSize())
                                .setDtype(DType.DTYPE_F32).setData(ByteString.copyFrom(new byte[255]))).build());
                assertFails(driver, FailureReason.FAILURE_REASON_BAD_FRAME,
                        "node n1: step 5 sample_rows [1] must be increasing row indices below 1",
                        good.toBuilder().setFrame(ok.clone().setStepId(5)).setSampleRows(0, 1).build());
                assertFails(driver, FailureReason.FAILURE_REASON_BAD_FRAME,
                        "node n1: sequence 1: temperature must be between 0 and 2, got 2.5",
                        good.toBuilder().setFrame(ok.clone().setStepId(6)).setSampling(0, greedy.toBuilder()
                                .setParams(SamplingParams.newBuilder().setTemperature(2.5))).build());
                assertFails(driver, FailureReason.FAILURE_REASON_UNKNOWN_SEQUENCE,
                        "node n1: sequence 1 has no KV cache here and its rows start at position 3, not 0",
                        good.toBuilder().setFrame(ok.clone().setStepId(7).setPositions(0, 3)).build());
                assertFails(driver, FailureReason.FAILURE_REASON_UNKNOWN_SEQUENCE,
                        "node n1: sequence 1 would copy 4 positions of sequence 99, which holds nothing here",
                        good.toBuilder().setFrame(ok.clone().setStepId(8).setPositions(0, 4))
                                .addForks(SequenceFork.newBuilder().setSeqId(1).setSourceSeqId(99).setPositions(4))
                                .build());
                assertEquals(0, n.node().stats().activeSequences(), "refused steps leave no state behind");

                // the same stream still serves: the prompt, then one decode step, as one process computes them
                var first = driver.prefill(1, TestModels.PROMPT);
                assertEquals(reference.tokens()[0], first.getTokens(0).getTokenId());
                assertFails(driver, FailureReason.FAILURE_REASON_UNKNOWN_SEQUENCE,
                        "node n1: sequence 1 holds 7 positions here; rows starting at position 9 would leave a gap",
                        StageInput.newBuilder().setFrame(ok.clone().setStepId(100).setPositions(0, 9)).addTokenIds(3)
                                .addSampleRows(0).build());
                var second = driver.decode(1, TestModels.PROMPT.length, first.getTokens(0).getTokenId());
                assertEquals(reference.tokens()[1], second.getTokens(0).getTokenId());
            }
        }
    }

    private static void assertFails(PipelineDriver driver, FailureReason reason, String message, StageInput input) {
        StepFailedException e = assertThrows(StepFailedException.class, () -> driver.send(input));
        assertEquals(reason, e.failure().getReason(), e.failure().getMessage());
        assertEquals(message, e.failure().getMessage());
        assertEquals(input.getFrame().getStepId(), e.failure().getStepId());
    }

    @Test
    void releaseForgetsSequencesAndStatsCountExpertRows() throws Exception {
        try (LocalCluster cluster = new LocalCluster(model, backend)) {
            LocalCluster.Node n = cluster.start("n1");
            ModelConfig c = cluster.config();
            n.node().assignAndWait(wholeModel(c));
            ManagedChannel channel = PeerChannels.open(n.server().address());
            try (PipelineDriver driver = new PipelineDriver(n.server().address(), n.node().identity().modelDigest(),
                    EPOCH)) {
                var stub = ShardServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
                Hello hello = coordinator(n);
                int token = driver.prefill(11, TestModels.PROMPT).getTokens(0).getTokenId();
                driver.decode(11, TestModels.PROMPT.length, token);

                StatsReply stats = stub.stats(StatsRequest.newBuilder().setHello(hello).build());
                assertEquals(EPOCH, stats.getPlanEpoch());
                assertEquals(1, stats.getActiveSequences());
                assertEquals(c.numLayers() * c.moe().numExperts(), stats.getExpertLoadCount());
                long rows = stats.getExpertLoadList().stream().mapToLong(l -> l.getTokens()).sum();
                long moeLayers = c.layers().stream().filter(l -> l.moe()).count();
                // every row (7 prompt + 1 decoded) went through top-k experts in every MoE layer
                assertEquals((TestModels.PROMPT.length + 1) * c.moe().topK() * moeLayers, rows);

                ReleaseReply released = stub.releaseSequence(ReleaseRequest.newBuilder().setHello(hello)
                        .addSeqIds(11).addSeqIds(99).build());
                assertEquals(1, released.getReleased());
                assertEquals(List.of(99L), released.getUnknownSeqIdsList());
                StepFailedException gone = assertThrows(StepFailedException.class,
                        () -> driver.decode(11, TestModels.PROMPT.length + 1, 5));
                assertEquals(FailureReason.FAILURE_REASON_UNKNOWN_SEQUENCE, gone.failure().getReason());
            } finally {
                channel.shutdownNow();
            }
        }
    }
}
