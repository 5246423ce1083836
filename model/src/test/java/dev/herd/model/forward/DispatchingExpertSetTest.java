package dev.herd.model.forward;

import dev.herd.kernels.ReferenceBackend;
import dev.herd.model.config.Architecture;
import dev.herd.model.config.ModelConfig;
import dev.herd.model.testmodel.TestModelSpec;
import dev.herd.model.weights.ModelWeights;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Experts spread over several owners, each answering on its own thread as a remote node would, compute
 * exactly what all-local experts compute, with one request per owner per MoE layer.
 */
class DispatchingExpertSetTest {
    private static final ReferenceBackend BACKEND = new ReferenceBackend(1);
    private static final ExecutorService REMOTE = Executors.newFixedThreadPool(3);

    @AfterAll
    static void close() {
        BACKEND.close();
        REMOTE.shutdown();
    }

    /** Stands in for a node reached over the network: answers later, on another thread, and counts requests. */
    static final class Remote implements ExpertRunner {
        final LocalExpertRunner local;
        final AtomicInteger calls = new AtomicInteger();

        Remote(ModelWeights w) {
            local = new LocalExpertRunner(w, BACKEND);
        }

        @Override
        public CompletableFuture<float[]> run(int layer, int[] experts, float[] rows, int m) {
            calls.incrementAndGet();
            return CompletableFuture.supplyAsync(() -> local.runNow(layer, experts, rows, m), REMOTE);
        }
    }

    @ParameterizedTest
    @EnumSource(value = Architecture.class, names = {"MIXTRAL", "QWEN3_MOE", "LLAMA4"})
    void spreadExpertsEqualLocalExperts(Architecture arch) {
        TestModelSpec spec = TestModelSpec.small(arch);
        try (ModelWeights w = TransformerTest.hfWeights(spec)) {
            ModelConfig c = w.config();
            int[][] table = new int[c.numLayers()][c.moe().numExperts()];
            for (int l = 0; l < table.length; l++) {
                for (int e = 0; e < table[l].length; e++) {
                    table[l][e] = (l + e) % 3; // owners 0 (local), 1 and 2 (remote)
                }
            }
            List<ExpertRunner> runners = new ArrayList<>();
            runners.add(new LocalExpertRunner(w, BACKEND));
            Remote r1 = new Remote(w);
            Remote r2 = new Remote(w);
            runners.add(r1);
            runners.add(r2);
            ExpertSet spread = new DispatchingExpertSet(c.moe(), c.hiddenSize(), ExpertPlacement.of(table), runners);

            int[] prompt = TransformerTest.tokens(10, spec.vocab(), 5);
            Transformer local = new Transformer(w, BACKEND);
            Transformer distributed = new Transformer(w, BACKEND, spread, Probe.NONE);
            KvCache a = new KvCache(c);
            KvCache b = new KvCache(c);
            assertArrayEquals(local.forward(prompt, a), distributed.forward(prompt, b));
            for (int i = 0; i < 5; i++) {
                assertArrayEquals(local.forward(new int[]{40 + i}, a), distributed.forward(new int[]{40 + i}, b),
                        "decode step " + i);
            }
            long moeLayers = c.layers().stream().filter(s -> s.moe()).count();
            // 6 forward passes; an owner is asked at most once per MoE layer per pass
            assertTrue(r1.calls.get() <= 6 * moeLayers && r1.calls.get() > 0, "remote 1 calls " + r1.calls);
            assertTrue(r2.calls.get() <= 6 * moeLayers && r2.calls.get() > 0, "remote 2 calls " + r2.calls);
        }
    }
}
