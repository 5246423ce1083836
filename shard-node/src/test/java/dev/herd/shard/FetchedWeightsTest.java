package dev.herd.shard;

import dev.herd.kernels.DType;
import dev.herd.kernels.ReferenceBackend;
import dev.herd.kernels.Tensor;
import dev.herd.model.config.Architecture;
import dev.herd.model.config.ModelConfig;
import dev.herd.model.forward.Probe;
import dev.herd.model.load.ModelFiles;
import dev.herd.model.testmodel.TestModelSpec;
import dev.herd.model.testmodel.TestModelWriter;
import dev.herd.proto.v1.NodeState;
import dev.herd.proto.v1.StepResult;
import dev.herd.shard.weights.WeightCounters;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Nodes that cannot see the model file fetch their part from a node that can, and the cluster computes what one
 * process computes, bit for bit: two stages and two expert nodes, where only the first stage has the model file
 * and serves the others their tensors. Every node touches exactly its own tensors: the fetching nodes receive
 * exactly the stored bytes of their part's tensors (counted against the file's own tensor index, with the part's
 * tensors picked by name patterns here, not by the code under test), and every node, the one reading the file
 * included, resolves exactly those tensors and no other.
 */
class FetchedWeightsTest {
    static final int TOKENS = 24;
    static final long EPOCH = 1;
    static final long SEQ = 7;

    @TempDir
    static Path dir;
    static ReferenceBackend backend;

    /** A model and how its checkpoint is laid out. */
    enum Case {
        MIXTRAL_GGUF(Architecture.MIXTRAL, false),
        LLAMA4_GGUF(Architecture.LLAMA4, false),
        QWEN3_HUGGING_FACE(Architecture.QWEN3_MOE, true),
        LLAMA4_HUGGING_FACE(Architecture.LLAMA4, true);

        final Architecture arch;
        final boolean hf;

        Case(Architecture arch, boolean hf) {
            this.arch = arch;
            this.hf = hf;
        }

        Path write(Path dir) {
            TestModelWriter w = new TestModelWriter(TestModelSpec.small(arch));
            return hf ? w.writeHuggingFace(dir.resolve(name()), DType.BF16, 96 << 10)
                    : w.writeGguf(dir.resolve(name() + ".gguf"), DType.F32);
        }
    }

    @BeforeAll
    static void backend() {
        backend = new ReferenceBackend(1);
    }

    @AfterAll
    static void close() {
        backend.close();
    }

    @ParameterizedTest
    @EnumSource(Case.class)
    void nodesWithoutTheFileFetchExactlyTheirTensorsAndComputeWhatOneProcessDoes(Case c) throws Exception {
        Path model = c.write(dir);
        TestModels.Reference ref = TestModels.decode(model, backend, TOKENS);
        List<float[]> logits = new CopyOnWriteArrayList<>();
        Probe lastStage = (name, layer, data, rows, width) -> {
            if (name.equals("result_output")) {
                for (int r = 0; r < rows; r++) {
                    logits.add(Arrays.copyOfRange(data, r * width, (r + 1) * width));
                }
            }
        };
        try (LocalCluster cluster = new LocalCluster(model, backend)) {
            LocalCluster.Node s0 = cluster.start("s0");
            List<PeerEndpoint> holders = List.of(s0.endpoint());
            LocalCluster.Node s1 = cluster.startFetching("s1", holders, dir.resolve(c + "-cache-s1"),
                    s -> s.withProbe(lastStage));
            LocalCluster.Node e1 = cluster.startFetching("e1", holders, dir.resolve(c + "-cache-e1"), s -> s);
            LocalCluster.Node e2 = cluster.startFetching("e2", holders, dir.resolve(c + "-cache-e2"), s -> s);
            Map<String, ShardAssignment> parts = assign(cluster.config(), s0, s1, e1, e2);

            int[] tokens = new int[TOKENS];
            try (PipelineDriver driver = new PipelineDriver(s0.server().address(), s0.node().identity().modelDigest(),
                    EPOCH)) {
                StepResult r = driver.prefill(SEQ, TestModels.PROMPT);
                tokens[0] = r.getTokens(0).getTokenId();
                for (int i = 1; i < TOKENS; i++) {
                    tokens[i] = driver.decode(SEQ, TestModels.PROMPT.length + i - 1, tokens[i - 1])
                            .getTokens(0).getTokenId();
                }
            }
            assertArrayEquals(ref.tokens(), tokens, "greedy tokens");
            for (int i = 0; i < TOKENS; i++) {
                assertArrayEquals(ref.logits().get(i), logits.get(i), "logits of token " + i);
            }

            ModelFiles file = s0.files();
            long received = 0;
            long modelBytes = file.store().names().stream().mapToLong(n -> size(file, n)).sum();
            for (LocalCluster.Node n : List.of(s0, s1, e1, e2)) {
                Set<String> own = ownTensors(file, c.hf, parts.get(n.id()));
                long wholeBytes = own.stream().mapToLong(x -> size(file, x)).sum();
                // a GGUF file stacks a layer's experts: a fetching node gets only its experts' slices of them
                long ownBytes = c.hf ? wholeBytes : ownBytesSliced(file, own, parts.get(n.id()));
                assertEquals(own, new TreeSet<>(n.node().resolvedTensors().keySet()),
                        "tensors node " + n.id() + " resolved");
                WeightCounters.Snapshot w = n.node().weights().snapshot();
                if (n == s0) {
                    assertEquals(wholeBytes, w.resolvedBytes(), "bytes node " + n.id() + " resolved from its file");
                    assertEquals(0, w.receivedBytes(), "the node with the file fetches nothing");
                    continue;
                }
                assertEquals(ownBytes, w.resolvedBytes(), "bytes node " + n.id() + " resolved (all it has)");
                assertEquals(ownBytes, w.receivedBytes(), "bytes node " + n.id() + " received");
                assertEquals(own.size(), w.receivedTensors(), "tensors node " + n.id() + " received");
                Readiness ready = n.node().readiness(EPOCH);
                assertEquals(NodeState.NODE_STATE_READY, ready.state());
                assertEquals(ownBytes, ready.totalBytes());
                assertEquals(ownBytes, ready.loadedBytes());
                received += ownBytes;
                System.out.printf("FETCH %s: node %s received %d tensors, %d of the model's %d bytes (%d with whole"
                        + " stacked experts)%n", c, n.id(), w.receivedTensors(), w.receivedBytes(), modelBytes,
                        wholeBytes);
            }
            assertEquals(received, s0.node().weights().snapshot().servedBytes(), "bytes the holder served");
        }
    }

    /**
     * Bytes of a part's tensors where each stacked expert tensor ({@code _exps}) counts only the slices of the
     * experts the part holds of its layer, sized by the model's own {@code Tensor.slice} of the file's tensor.
     */
    static long ownBytesSliced(ModelFiles file, Set<String> own, ShardAssignment a) {
        long bytes = 0;
        for (String n : own) {
            if (!n.contains("_exps.")) {
                bytes += size(file, n);
                continue;
            }
            Tensor stacked = file.store().get(n);
            for (ExpertRef e : a.experts()) {
                if (n.startsWith("blk." + e.layer() + ".")) {
                    bytes += stacked.slice(e.expert()).data().byteSize();
                }
            }
        }
        return bytes;
    }

    static long size(ModelFiles file, String name) {
        return file.store().get(name).data().byteSize();
    }

    /** Two stages and two expert nodes; experts (layer + expert) % 3: 0 on their stage, 1 on e1, 2 on e2. */
    static Map<String, ShardAssignment> assign(ModelConfig c, LocalCluster.Node s0, LocalCluster.Node s1,
                                               LocalCluster.Node e1, LocalCluster.Node e2) {
        int layers = c.numLayers();
        List<LayerRange> ranges = List.of(new LayerRange(0, layers / 2), new LayerRange(layers / 2, layers));
        List<LocalCluster.Node> stages = List.of(s0, s1);
        List<LocalCluster.Node> experts = List.of(e1, e2);
        Map<String, ShardAssignment> parts = new HashMap<>();
        List<List<ExpertRef>> held = List.of(new ArrayList<>(), new ArrayList<>());
        for (int s = 0; s < 2; s++) {
            LayerRange r = ranges.get(s);
            List<ExpertRef> local = new ArrayList<>();
            List<List<ExpertRef>> remote = List.of(new ArrayList<>(), new ArrayList<>());
            for (int l = r.start(); l < r.end(); l++) {
                if (!c.layer(l).moe()) {
                    continue;
                }
                for (int e = 0; e < c.moe().numExperts(); e++) {
                    int owner = (l + e) % 3;
                    if (owner == 0) {
                        local.add(new ExpertRef(l, e));
                    } else {
                        remote.get(owner - 1).add(new ExpertRef(l, e));
                        held.get(owner - 1).add(new ExpertRef(l, e));
                    }
                }
            }
            List<ExpertPeer> peers = new ArrayList<>();
            for (int p = 0; p < 2; p++) {
                if (!remote.get(p).isEmpty()) {
                    peers.add(new ExpertPeer(experts.get(p).endpoint(), remote.get(p)));
                }
            }
            ShardAssignment a = ShardAssignment.stage(EPOCH, r, local, s == 0, s == 1,
                    s == 0 ? s1.endpoint() : null, peers);
            parts.put(stages.get(s).id(), a);
        }
        for (int p = 0; p < 2; p++) {
            parts.put(experts.get(p).id(), ShardAssignment.expertsOnly(EPOCH, held.get(p)));
        }
        // expert nodes first: a stage's load does not wait for them, but its first step does
        for (LocalCluster.Node n : List.of(e1, e2, s1, s0)) {
            n.node().assignAndWait(parts.get(n.id()));
        }
        return parts;
    }

    /**
     * The checkpoint tensors a part needs, picked by the checkpoint's naming patterns: a stage's layers without
     * their routed experts, the held experts (the whole stacked or fused tensor of their layer where the checkpoint
     * stacks them), the embedding on the first stage, final norm and LM head on the last.
     */
    static Set<String> ownTensors(ModelFiles file, boolean hf, ShardAssignment a) {
        Set<String> names = file.store().names();
        // Llama 4's multimodal checkpoints put the text model under "language_model."
        String p = hf && names.contains("language_model.model.embed_tokens.weight") ? "language_model." : "";
        Set<String> own = new TreeSet<>();
        for (int l = a.layers().start(); l < a.layers().end(); l++) {
            String layer = hf ? p + "model.layers." + l + "." : "blk." + l + ".";
            own.addAll(matching(names, n -> n.startsWith(layer) && !n.contains(hf ? ".experts." : "_exps.")));
        }
        for (ExpertRef e : a.experts()) {
            String layer = p + "model.layers." + e.layer() + ".";
            Predicate<String> expert;
            if (!hf) {
                expert = n -> n.startsWith("blk." + e.layer() + ".") && n.contains("_exps.");
            } else if (names.stream().anyMatch(n -> n.startsWith(layer + "feed_forward.experts.")
                    && !n.contains(".experts.0."))) {
                expert = n -> n.startsWith(layer + "feed_forward.experts."); // fused: every expert in one tensor
            } else {
                expert = n -> n.startsWith(layer) && n.contains(".experts." + e.expert() + ".");
            }
            own.addAll(matching(names, expert));
        }
        String embedding = hf ? p + "model.embed_tokens.weight" : "token_embd.weight";
        String head = hf ? p + "lm_head.weight" : "output.weight";
        if (a.embedding()) {
            own.add(embedding);
        }
        if (a.lmHead()) {
            own.add(hf ? p + "model.norm.weight" : "output_norm.weight");
            own.add(names.contains(head) ? head : embedding);
        }
        if (a.isStage() && names.contains("rope_freqs.weight")) {
            own.add("rope_freqs.weight");
        }
        return own;
    }

    private static Set<String> matching(Set<String> names, Predicate<String> p) {
        Set<String> out = new TreeSet<>();
        for (String n : names) {
            if (p.test(n)) {
                out.add(n);
            }
        }
        return out;
    }
}
