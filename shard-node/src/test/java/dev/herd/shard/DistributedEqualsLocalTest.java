package dev.herd.shard;

import dev.herd.kernels.ReferenceBackend;
import dev.herd.model.config.Architecture;
import dev.herd.model.config.ModelConfig;
import dev.herd.model.forward.Probe;
import dev.herd.proto.v1.StepResult;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A model split over nodes on loopback computes what one process computes, bit for bit, on the F32 wire:
 * pipeline stages, experts spread over remote nodes, and both together, for Mixtral- and Llama 4-shaped models.
 * Each node resolves only the tensors of its own layers.
 */
class DistributedEqualsLocalTest {
    static final int TOKENS = 64;
    static final long EPOCH = 1;
    static final long SEQ = 42;

    @TempDir
    static Path dir;
    static ReferenceBackend backend;
    static final Map<Architecture, Path> MODELS = new EnumMap<>(Architecture.class);
    static final Map<Architecture, TestModels.Reference> REFERENCE = new EnumMap<>(Architecture.class);

    /** How the model is split. Experts not on a stage are spread as (layer + expert) % 3: 0 stage, 1 e1, 2 e2. */
    enum Topology { TWO_STAGES, ONE_STAGE_REMOTE_EXPERTS, TWO_STAGES_REMOTE_EXPERTS }

    @BeforeAll
    static void models() {
        backend = new ReferenceBackend(1);
        for (Architecture arch : List.of(Architecture.MIXTRAL, Architecture.LLAMA4)) {
            Path model = TestModels.write(dir, arch);
            MODELS.put(arch, model);
            REFERENCE.put(arch, TestModels.decode(model, backend, TOKENS));
        }
    }

    @AfterAll
    static void close() {
        backend.close();
    }

    static Stream<Arguments> cases() {
        return Stream.of(Architecture.MIXTRAL, Architecture.LLAMA4)
                .flatMap(a -> Stream.of(Topology.values()).map(t -> Arguments.of(a, t)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void tokensAndLogitsEqualOneProcess(Architecture arch, Topology topology) throws Exception {
        TestModels.Reference ref = REFERENCE.get(arch);
        List<float[]> logits = new CopyOnWriteArrayList<>();
        Probe lastStage = (name, layer, data, rows, width) -> {
            if (name.equals("result_output")) {
                for (int r = 0; r < rows; r++) {
                    logits.add(java.util.Arrays.copyOfRange(data, r * width, (r + 1) * width));
                }
            }
        };
        try (LocalCluster cluster = new LocalCluster(MODELS.get(arch), backend)) {
            Split split = Split.start(cluster, topology, s -> s, s -> s.withProbe(lastStage));
            ModelConfig c = split.first().node().config();
            int[] tokens = new int[TOKENS];
            WireCounters.Snapshot afterPrefill;
            double decodeMs;
            try (PipelineDriver driver = new PipelineDriver(split.first().server().address(),
                    split.first().node().identity().modelDigest(), EPOCH)) {
                StepResult r = driver.prefill(SEQ, TestModels.PROMPT);
                tokens[0] = r.getTokens(0).getTokenId();
                assertEquals(TestModels.PROMPT.length, r.getTokens(0).getPosition(), "the first chosen token follows the prompt");
                afterPrefill = split.wire();
                long coordinatorBefore = driver.sent().stageInputBytes();
                long t0 = System.nanoTime();
                for (int i = 1; i < TOKENS; i++) {
                    r = driver.decode(SEQ, TestModels.PROMPT.length + i - 1, tokens[i - 1]);
                    assertEquals(SEQ, r.getTokens(0).getSeqId());
                    tokens[i] = r.getTokens(0).getTokenId();
                }
                decodeMs = (System.nanoTime() - t0) / 1e6 / (TOKENS - 1);
                System.out.printf("WIRE %s %s: coordinator to first stage %.0f B per decoded token, result back %d B%n",
                        arch, topology, (driver.sent().stageInputBytes() - coordinatorBefore) / (double) (TOKENS - 1),
                        dev.herd.proto.v1.StageFrame.newBuilder().setResult(r).build().getSerializedSize()
                                + WireCounters.MESSAGE_PREFIX);
            }
            assertArrayEquals(ref.tokens(), tokens, "greedy tokens");
            assertEquals(TOKENS, logits.size());
            for (int i = 0; i < TOKENS; i++) {
                assertArrayEquals(ref.logits().get(i), logits.get(i), "logits of token " + i);
            }
            split.assertEachNodeResolvedOnlyItsLayers();
            split.assertRemoteExpertsServed();
            report(arch, topology, c, split.wire().minus(afterPrefill), decodeMs);
        }
    }

    /** Bytes per decoded token on the data path, for docs/cluster-data-path.md. */
    private static void report(Architecture arch, Topology t, ModelConfig c, WireCounters.Snapshot decode,
                               double msPerToken) {
        int steps = TOKENS - 1;
        long moeLayers = c.layers().stream().filter(l -> l.moe()).count();
        System.out.printf("WIRE %s %s hidden=%d moeLayers=%d: per decoded token: stage input %.0f B in %.1f msgs,"
                        + " expert requests %.0f B in %.2f msgs (%.0f B per MoE layer), expert answers %.0f B"
                        + " (%.0f B per MoE layer); %.2f ms per decoded token%n",
                arch, t, c.hiddenSize(), moeLayers,
                decode.stageInputBytes() / (double) steps, decode.stageInputs() / (double) steps,
                decode.expertRequestBytes() / (double) steps, decode.expertRequests() / (double) steps,
                decode.expertRequestBytes() / (double) steps / moeLayers,
                decode.expertResponseBytes() / (double) steps,
                decode.expertResponseBytes() / (double) steps / moeLayers, msPerToken);
    }

    /** The nodes of one topology, assigned and serving. */
    record Split(Topology topology, List<LocalCluster.Node> stages, List<LayerRange> ranges,
                 List<LocalCluster.Node> expertNodes, Map<String, Set<Integer>> ownLayers,
                 Map<String, ShardAssignment> assignments) {

        LocalCluster.Node first() {
            return stages.getFirst();
        }

        LocalCluster.Node node(String id) {
            return Stream.concat(stages.stream(), expertNodes.stream()).filter(n -> n.id().equals(id)).findFirst()
                    .orElseThrow();
        }

        static Split start(LocalCluster cluster, Topology t, java.util.function.UnaryOperator<NodeSettings> all,
                           java.util.function.UnaryOperator<NodeSettings> last) {
            int layers = cluster.config().numLayers();
            int stageCount = t == Topology.ONE_STAGE_REMOTE_EXPERTS ? 1 : 2;
            boolean remote = t != Topology.TWO_STAGES;
            List<LayerRange> ranges = stageCount == 1 ? List.of(new LayerRange(0, layers))
                    : List.of(new LayerRange(0, layers / 2), new LayerRange(layers / 2, layers));
            List<LocalCluster.Node> stages = new ArrayList<>();
            for (int s = 0; s < stageCount; s++) {
                stages.add(s == stageCount - 1 ? cluster.start("s" + s, x -> last.apply(all.apply(x)))
                        : cluster.start("s" + s, all));
            }
            List<LocalCluster.Node> experts = remote ? List.of(cluster.start("e1", all), cluster.start("e2", all))
                    : List.of();
            ModelConfig c = cluster.config();
            Map<String, Set<Integer>> own = new java.util.HashMap<>();
            Map<String, ShardAssignment> assignments = new java.util.HashMap<>();
            List<List<ExpertRef>> heldByExpertNode = List.of(new ArrayList<>(), new ArrayList<>());
            for (int s = 0; s < stageCount; s++) {
                LayerRange r = ranges.get(s);
                List<ExpertRef> local = new ArrayList<>();
                List<List<ExpertRef>> remoteRefs = List.of(new ArrayList<>(), new ArrayList<>());
                for (int l = r.start(); l < r.end(); l++) {
                    if (!c.layer(l).moe()) {
                        continue;
                    }
                    for (int e = 0; e < c.moe().numExperts(); e++) {
                        int owner = remote ? (l + e) % 3 : 0;
                        if (owner == 0) {
                            local.add(new ExpertRef(l, e));
                        } else {
                            remoteRefs.get(owner - 1).add(new ExpertRef(l, e));
                            heldByExpertNode.get(owner - 1).add(new ExpertRef(l, e));
                        }
                    }
                }
                List<ExpertPeer> peers = new ArrayList<>();
                for (int p = 0; p < experts.size(); p++) {
                    if (!remoteRefs.get(p).isEmpty()) {
                        peers.add(new ExpertPeer(experts.get(p).endpoint(), remoteRefs.get(p)));
                    }
                }
                PeerEndpoint next = s + 1 < stageCount ? stages.get(s + 1).endpoint() : null;
                ShardAssignment a = ShardAssignment.stage(EPOCH, r, local, s == 0, s == stageCount - 1, next, peers);
                stages.get(s).node().assignAndWait(a);
                assignments.put(stages.get(s).id(), a);
                own.put(stages.get(s).id(), new TreeSet<>(IntStream.range(r.start(), r.end()).boxed().toList()));
            }
            for (int p = 0; p < experts.size(); p++) {
                List<ExpertRef> held = heldByExpertNode.get(p);
                ShardAssignment a = ShardAssignment.expertsOnly(EPOCH, held);
                experts.get(p).node().assignAndWait(a);
                assignments.put(experts.get(p).id(), a);
                own.put(experts.get(p).id(), new TreeSet<>(held.stream().map(ExpertRef::layer).toList()));
            }
            return new Split(t, stages, ranges, experts, own, assignments);
        }

        /** Every node's sent bytes together. */
        WireCounters.Snapshot wire() {
            WireCounters.Snapshot sum = new WireCounters.Snapshot(0, 0, 0, 0, 0);
            for (LocalCluster.Node n : stages) {
                sum = sum.plus(n.node().wire().snapshot());
            }
            for (LocalCluster.Node n : expertNodes) {
                sum = sum.plus(n.node().wire().snapshot());
            }
            return sum;
        }

        void assertEachNodeResolvedOnlyItsLayers() {
            List<LocalCluster.Node> all = new ArrayList<>(stages);
            all.addAll(expertNodes);
            for (LocalCluster.Node n : all) {
                assertEquals(ownLayers.get(n.id()), n.store().layersResolved(),
                        "decoder layers whose tensors node " + n.id() + " resolved");
            }
        }

        void assertRemoteExpertsServed() {
            for (LocalCluster.Node n : expertNodes) {
                long rows = n.node().stats().expertLoad().values().stream().mapToLong(Long::longValue).sum();
                assertTrue(rows > 0, "expert node " + n.id() + " ran no rows");
            }
            long requests = wire().expertRequests();
            assertEquals(!expertNodes.isEmpty(), requests > 0, "expert requests sent: " + requests);
        }
    }
}
