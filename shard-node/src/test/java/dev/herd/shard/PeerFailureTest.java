package dev.herd.shard;

import dev.herd.kernels.ReferenceBackend;
import dev.herd.model.config.Architecture;
import dev.herd.model.config.ModelConfig;
import dev.herd.proto.v1.ActivationFrame;
import dev.herd.proto.v1.DType;
import dev.herd.proto.v1.ExpertRequest;
import dev.herd.proto.v1.ExpertResponse;
import dev.herd.proto.v1.FailureReason;
import dev.herd.proto.v1.HelloReply;
import dev.herd.proto.v1.NodeRole;
import dev.herd.proto.v1.ShardServiceGrpc;
import dev.herd.proto.v1.StepResult;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A dead or silent peer fails the step that needed it, quickly and with a message naming the peer and the
 * gRPC status, never hangs it; the node that saw the failure keeps serving, and once the peer is back the
 * sequence goes on (resent from where it failed, or prefilled again where state was lost) to the very tokens a
 * single process produces.
 */
class PeerFailureTest {
    static final int TOKENS = 24;
    static final long EPOCH = DistributedEqualsLocalTest.EPOCH;

    @TempDir
    static Path dir;
    static Path model;
    static ReferenceBackend backend;
    static TestModels.Reference reference;

    @BeforeAll
    static void model() {
        backend = new ReferenceBackend(1);
        model = TestModels.write(dir, Architecture.MIXTRAL);
        reference = TestModels.decode(model, backend, TOKENS);
    }

    @AfterAll
    static void close() {
        backend.close();
    }

    @Test
    void expertNodeShutDownMidGenerationFailsTheStepThenServesAgainOnceBack() throws Exception {
        try (LocalCluster cluster = new LocalCluster(model, backend)) {
            var split = DistributedEqualsLocalTest.Split.start(cluster,
                    DistributedEqualsLocalTest.Topology.ONE_STAGE_REMOTE_EXPERTS, s -> s, s -> s);
            LocalCluster.Node stage = split.first();
            LocalCluster.Node e2 = split.node("e2");
            int[] tokens = new int[TOKENS];
            try (PipelineDriver driver = new PipelineDriver(stage.server().address(),
                    stage.node().identity().modelDigest(), EPOCH)) {
                tokens[0] = driver.prefill(7, TestModels.PROMPT).getTokens(0).getTokenId();
                int i = 1;
                for (; i < 6; i++) {
                    tokens[i] = driver.decode(7, TestModels.PROMPT.length + i - 1, tokens[i - 1]).getTokens(0).getTokenId();
                }
                e2.server().kill();

                // steps whose tokens route only to e1 and the stage still run; the first that needs e2 fails
                StepFailedException failure = null;
                long failedAfterMs = 0;
                for (; i < TOKENS && failure == null; i++) {
                    long t0 = System.nanoTime();
                    try {
                        tokens[i] = driver.decode(7, TestModels.PROMPT.length + i - 1, tokens[i - 1])
                                .getTokens(0).getTokenId();
                    } catch (StepFailedException e) {
                        failure = e;
                        failedAfterMs = (System.nanoTime() - t0) / 1_000_000;
                        i--; // this token is still to be produced
                    }
                }
                assertNotNull(failure, "no step needed expert node e2 after it went down");
                assertEquals(FailureReason.FAILURE_REASON_PEER_UNAVAILABLE, failure.failure().getReason());
                String message = failure.failure().getMessage();
                assertTrue(message.startsWith("node s0: expert node e2 (" + e2.server().address() + ") failed layer "),
                        message);
                assertTrue(goneStatus(message), message);
                assertEquals(7, failure.failure().getSeqIds(0));
                // a closed connection is seen at once; the peer deadline (10 s) is not what ended the step
                assertTrue(failedAfterMs < 5000, "the failure took " + failedAfterMs + " ms");

                // the stage serves other calls as before
                ManagedChannel control = PeerChannels.open(stage.server().address());
                try {
                    HelloReply h = ShardServiceGrpc.newBlockingStub(control).withDeadlineAfter(10, TimeUnit.SECONDS)
                            .handshake(stage.node().identity().hello(EPOCH, NodeRole.NODE_ROLE_COORDINATOR));
                    assertTrue(h.getAccepted(), h.getMessage());
                } finally {
                    control.shutdownNow();
                }

                // the expert node comes back on its port; the failed step is sent again and generation goes on
                LocalCluster.Node back = cluster.restart(e2, s -> s);
                back.node().assignAndWait(split.assignments().get("e2"));
                int resent = i;
                tokens[i] = whileReconnecting(() -> driver.decode(7, TestModels.PROMPT.length + resent - 1,
                        tokens[resent - 1])).getTokens(0).getTokenId();
                for (i++; i < TOKENS; i++) {
                    tokens[i] = driver.decode(7, TestModels.PROMPT.length + i - 1, tokens[i - 1]).getTokens(0).getTokenId();
                }
            }
            assertArrayEquals(reference.tokens(), tokens);
        }
    }

    @Test
    void nextStageShutDownFailsTheStepUpstreamAndARefillResumes() throws Exception {
        try (LocalCluster cluster = new LocalCluster(model, backend)) {
            var split = DistributedEqualsLocalTest.Split.start(cluster, DistributedEqualsLocalTest.Topology.TWO_STAGES,
                    s -> s, s -> s);
            LocalCluster.Node s1 = split.stages().get(1);
            int[] tokens = new int[TOKENS];
            try (PipelineDriver driver = new PipelineDriver(split.first().server().address(),
                    split.first().node().identity().modelDigest(), EPOCH)) {
                tokens[0] = driver.prefill(9, TestModels.PROMPT).getTokens(0).getTokenId();
                int i = 1;
                for (; i < 8; i++) {
                    tokens[i] = driver.decode(9, TestModels.PROMPT.length + i - 1, tokens[i - 1]).getTokens(0).getTokenId();
                }
                s1.server().kill();
                int position = TestModels.PROMPT.length + i - 1;
                StepFailedException down = assertThrows(StepFailedException.class,
                        () -> driver.decode(9, position, tokens[7]));
                assertEquals(FailureReason.FAILURE_REASON_PEER_UNAVAILABLE, down.failure().getReason());
                assertTrue(down.failure().getMessage().startsWith("stream to stage s1 (" + s1.server().address()
                        + ") failed: "), down.failure().getMessage());
                assertTrue(goneStatus(down.failure().getMessage()), down.failure().getMessage());

                // a restarted stage has lost its KV cache: it says so, relayed through s0
                LocalCluster.Node back = cluster.restart(s1, s -> s);
                back.node().assignAndWait(split.assignments().get("s1"));
                StepFailedException lost = assertThrows(StepFailedException.class,
                        () -> whileReconnecting(() -> driver.decode(9, position, tokens[7])));
                assertEquals(FailureReason.FAILURE_REASON_UNKNOWN_SEQUENCE, lost.failure().getReason(), lost.failure().getMessage());
                assertTrue(lost.failure().getMessage().startsWith("node s1: sequence 9 has no KV cache here"),
                        lost.failure().getMessage());

                // the scheduler's answer: prefill the sequence so far again (s0 rewinds, s1 starts over)
                int[] sofar = new int[TestModels.PROMPT.length + i - 1];
                System.arraycopy(TestModels.PROMPT, 0, sofar, 0, TestModels.PROMPT.length);
                System.arraycopy(tokens, 0, sofar, TestModels.PROMPT.length, i - 1);
                StepResult r = driver.prefill(9, append(sofar, tokens[i - 1]));
                tokens[i] = r.getTokens(0).getTokenId();
                for (i++; i < TOKENS; i++) {
                    tokens[i] = driver.decode(9, TestModels.PROMPT.length + i - 1, tokens[i - 1]).getTokens(0).getTokenId();
                }
            }
            assertArrayEquals(reference.tokens(), tokens);
        }
    }

    /**
     * How a peer that went away shows: UNAVAILABLE when its connection drops, CANCELLED when its server cut the
     * stream first (an in-process shutdown does that).
     */
    private static boolean goneStatus(String message) {
        return message.contains("UNAVAILABLE") || message.contains("CANCELLED");
    }

    /**
     * Sends a step again while its peer is still being reconnected to. Dispatch fails fast rather than waiting
     * for a connection (a dead peer must be reported at once), so the first attempt after a peer returns may
     * still find the channel between connection attempts; the scheduler retries, as here, for at most 5 s.
     */
    private static StepResult whileReconnecting(java.util.concurrent.Callable<StepResult> step) throws Exception {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (true) {
            try {
                return step.call();
            } catch (StepFailedException e) {
                if (e.failure().getReason() != FailureReason.FAILURE_REASON_PEER_UNAVAILABLE
                        || System.nanoTime() > until) {
                    throw e;
                }
                Thread.sleep(50);
            }
        }
    }

    private static int[] append(int[] a, int x) {
        int[] out = java.util.Arrays.copyOf(a, a.length + 1);
        out[a.length] = x;
        return out;
    }

    /** An expert node that accepts the hello and then never answers: the peer deadline must end the wait. */
    @Test
    void silentExpertNodeFailsTheStepAtTheDeadline() throws Exception {
        Server silent = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(new ShardServiceGrpc.ShardServiceImplBase() {
                    @Override
                    public StreamObserver<ExpertRequest> dispatchExperts(StreamObserver<ExpertResponse> responses) {
                        return new StreamObserver<>() {
                            @Override
                            public void onNext(ExpertRequest r) {
                                if (r.hasHello()) {
                                    responses.onNext(ExpertResponse.newBuilder().setHelloReply(
                                            HelloReply.newBuilder().setAccepted(true)).build());
                                }
                            }

                            @Override
                            public void onError(Throwable t) {
                            }

                            @Override
                            public void onCompleted() {
                            }
                        };
                    }
                }).build().start();
        try (LocalCluster cluster = new LocalCluster(model, backend)) {
            ModelConfig c = cluster.config();
            LocalCluster.Node stage = cluster.start("s0", s -> s.withPeerDeadline(Duration.ofMillis(300)));
            PeerEndpoint mute = new PeerEndpoint("mute", "127.0.0.1:" + silent.getPort());
            stage.node().assignAndWait(ShardAssignment.stage(EPOCH, new LayerRange(0, c.numLayers()), List.of(), true,
                    true, null, List.of(new ExpertPeer(mute, HandshakeTest.allExperts(c)))));

            // the dispatcher alone
            ManagedChannel channel = PeerChannels.open(mute.address());
            try (RemoteExpertRunner runner = new RemoteExpertRunner(channel,
                    stage.node().identity().hello(EPOCH, NodeRole.NODE_ROLE_SHARD), mute, c.hiddenSize(),
                    DType.DTYPE_F32, Duration.ofMillis(300), new WireCounters())) {
                long t0 = System.nanoTime();
                ExecutionException e = assertThrows(ExecutionException.class,
                        () -> runner.run(0, new int[]{2}, new float[c.hiddenSize()], 1).get(10, TimeUnit.SECONDS));
                long ms = (System.nanoTime() - t0) / 1_000_000;
                assertInstanceOf(PeerUnavailableException.class, e.getCause());
                assertEquals("expert node mute (" + mute.address() + ") failed layer 0: DEADLINE_EXCEEDED: no answer"
                        + " for layer 0 within 300 ms", e.getCause().getMessage());
                assertTrue(ms >= 300 && ms < 5000, "failed after " + ms + " ms");
            } finally {
                channel.shutdownNow();
            }

            // through a stage: the step fails in-band and the stage goes on serving
            try (PipelineDriver driver = new PipelineDriver(stage.server().address(),
                    stage.node().identity().modelDigest(), EPOCH)) {
                StepFailedException e = assertThrows(StepFailedException.class,
                        () -> driver.prefill(3, TestModels.PROMPT));
                assertEquals(FailureReason.FAILURE_REASON_PEER_UNAVAILABLE, e.failure().getReason());
                assertTrue(e.failure().getMessage().contains("DEADLINE_EXCEEDED"), e.failure().getMessage());
                assertTrue(driver.hello().getAccepted());
                assertEquals(1, stage.node().stats().activeSequences(),
                        "the sequence's cache exists but holds nothing: the failed step did not advance it");
            }
        } finally {
            silent.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
