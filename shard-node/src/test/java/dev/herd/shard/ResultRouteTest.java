package dev.herd.shard;

import dev.herd.kernels.ReferenceBackend;
import dev.herd.model.config.Architecture;
import dev.herd.proto.v1.ActivationFrame;
import dev.herd.proto.v1.NodeRole;
import dev.herd.proto.v1.ResultRoute;
import dev.herd.proto.v1.SamplingParams;
import dev.herd.proto.v1.SequenceSampling;
import dev.herd.proto.v1.ShardServiceGrpc;
import dev.herd.proto.v1.StageFrame;
import dev.herd.proto.v1.StageInput;
import dev.herd.proto.v1.StepResult;
import io.grpc.ManagedChannel;
import io.grpc.stub.StreamObserver;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Result routes: the last stage sends a routed step's tokens straight to the stream that registered the route,
 * and the stages before it answer with a tokenless {@code routed} result; without the route registered, the
 * result travels back through the stages as before. Either way the tokens are the single process's.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ResultRouteTest {
    private static final long EPOCH = DistributedEqualsLocalTest.EPOCH;
    private static final int TOKENS = 12;

    @TempDir
    Path dir;

    @Test
    void routedResultsComeFromTheLastStageAndEqualOneProcess() throws Exception {
        Path model = TestModels.write(dir, Architecture.MIXTRAL);
        try (ReferenceBackend backend = new ReferenceBackend(1);
             LocalCluster cluster = new LocalCluster(model, backend)) {
            TestModels.Reference ref = TestModels.decode(model, backend, TOKENS);
            var split = DistributedEqualsLocalTest.Split.start(cluster, DistributedEqualsLocalTest.Topology.TWO_STAGES,
                    s -> s, s -> s);
            String digest = split.first().node().identity().modelDigest();
            String last = split.stages().getLast().server().address();

            // the protocol as it is on the wire
            ManagedChannel firstChannel = PeerChannels.open(split.first().server().address());
            ManagedChannel lastChannel = PeerChannels.open(last);
            try {
                BlockingQueue<StageFrame> fromLast = new LinkedBlockingQueue<>();
                StreamObserver<StageFrame> routeStream = ShardServiceGrpc.newStub(lastChannel).forwardStage(collect(fromLast));
                routeStream.onNext(StageFrame.newBuilder().setHello(hello(digest)).build());
                routeStream.onNext(StageFrame.newBuilder().setRoute(ResultRoute.newBuilder().setRoute(42)).build());
                assertTrue(poll(fromLast).getHelloReply().getAccepted());

                BlockingQueue<StageFrame> fromFirst = new LinkedBlockingQueue<>();
                StreamObserver<StageFrame> steps = ShardServiceGrpc.newStub(firstChannel).forwardStage(collect(fromFirst));
                steps.onNext(StageFrame.newBuilder().setHello(hello(digest)).build());
                assertTrue(poll(fromFirst).getHelloReply().getAccepted());
                // the route stream is registered once its hello is answered and its next message read: wait for it
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                StepResult closing;
                StepResult routed = null;
                long step = 0;
                do {
                    steps.onNext(StageFrame.newBuilder().setInput(prefill(++step, 100 + step, 42)).build());
                    closing = poll(fromFirst).getResult();
                    if (closing.getRouted()) {
                        routed = poll(fromLast).getResult();
                    } else {
                        assertEquals(ref.tokens()[0], closing.getTokens(0).getTokenId(), "not routed yet: relayed");
                    }
                } while (routed == null && System.nanoTime() < deadline);
                assertNotNull(routed, "the route was never used");
                assertEquals(0, closing.getTokensCount(), "the routed answer through the stages carries no tokens");
                assertEquals(step, closing.getStepId());
                assertEquals(step, routed.getStepId());
                assertFalse(routed.getRouted());
                assertEquals(ref.tokens()[0], routed.getTokens(0).getTokenId(), "the routed tokens are the process's");

                // a route nobody registered: the result comes back through the stages, whole
                steps.onNext(StageFrame.newBuilder().setInput(prefill(++step, 200, 7)).build());
                StepResult unrouted = poll(fromFirst).getResult();
                assertFalse(unrouted.getRouted());
                assertEquals(ref.tokens()[0], unrouted.getTokens(0).getTokenId());
                assertTrue(fromLast.isEmpty(), "nothing went to route 42: " + fromLast);
                steps.onCompleted();
                routeStream.onCompleted();
            } finally {
                firstChannel.shutdownNow();
                lastChannel.shutdownNow();
            }

            // what the coordinator does: a whole generation with routed results
            int[] tokens = new int[TOKENS];
            try (PipelineDriver driver = new PipelineDriver(split.first().server().address(), digest, EPOCH)
                    .routeFrom(last, digest, 0x1234_5678L)) {
                tokens[0] = driver.prefill(1, TestModels.PROMPT).getTokens(0).getTokenId();
                for (int i = 1; i < TOKENS; i++) {
                    tokens[i] = driver.decode(1, TestModels.PROMPT.length + i - 1, tokens[i - 1]).getTokens(0)
                            .getTokenId();
                }
            }
            assertArrayEquals(ref.tokens(), tokens, "greedy tokens with routed results");
        }
    }

    private static StageInput prefill(long step, long seq, long route) {
        ActivationFrame.Builder f = ActivationFrame.newBuilder().setPlanEpoch(EPOCH).setStepId(step)
                .setRows(TestModels.PROMPT.length).setCols(0);
        StageInput.Builder in = StageInput.newBuilder();
        for (int i = 0; i < TestModels.PROMPT.length; i++) {
            f.addSeqIds(seq).addPositions(i);
            in.addTokenIds(TestModels.PROMPT[i]);
        }
        return in.setFrame(f).addSampleRows(TestModels.PROMPT.length - 1).setResultRoute(route)
                .addSampling(SequenceSampling.newBuilder().setSeqId(seq)
                        .setParams(SamplingParams.newBuilder().setTemperature(0f))).build();
    }

    private static dev.herd.proto.v1.Hello hello(String digest) {
        return new NodeIdentity("coordinator", digest).hello(EPOCH, NodeRole.NODE_ROLE_COORDINATOR);
    }

    private static StageFrame poll(BlockingQueue<StageFrame> q) throws InterruptedException {
        StageFrame f = q.poll(30, TimeUnit.SECONDS);
        assertNotNull(f, "no answer in 30 s");
        return f;
    }

    private static StreamObserver<StageFrame> collect(BlockingQueue<StageFrame> into) {
        return new StreamObserver<>() {
            @Override
            public void onNext(StageFrame f) {
                into.add(f);
            }

            @Override
            public void onError(Throwable t) {
            }

            @Override
            public void onCompleted() {
            }
        };
    }
}
