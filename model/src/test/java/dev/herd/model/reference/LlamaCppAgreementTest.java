package dev.herd.model.reference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.herd.kernels.DType;
import dev.herd.kernels.ReferenceBackend;
import dev.herd.model.config.Architecture;
import dev.herd.model.forward.KvCache;
import dev.herd.model.forward.Transformer;
import dev.herd.model.generate.GreedyDecoder;
import dev.herd.model.load.ModelFiles;
import dev.herd.model.testmodel.TestModelSpec;
import dev.herd.model.testmodel.TestModelWriter;
import dev.herd.model.weights.ModelWeights;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Greedy decoding of generated F32 GGUF models (Mixtral, Qwen3-MoE, Llama 4 and Llama 3 shapes) by Herd and
 * by llama.cpp, 40 tokens each: the tokens must agree,
 * and at every step the logits llama.cpp reports for its five most likely tokens must match Herd's.
 */
class LlamaCppAgreementTest {
    private static final int STEPS = 40;

    @TempDir
    Path tmp;

    static Stream<TestModelSpec> models() {
        return Stream.of(
                new TestModelSpec(Architecture.MIXTRAL, 256, 4, 8, 4, 32, 0, 8, 2, 512, 2048, 1e6, 1, false, 8192, 8192,
                        11),
                new TestModelSpec(Architecture.QWEN3_MOE, 128, 3, 4, 2, 64, 256, 16, 4, 96, 2048, 1e6, 1, false, 8192,
                        8192, 12),
                new TestModelSpec(Architecture.LLAMA4, 128, 4, 4, 2, 32, 256, 4, 1, 128, 2048, 5e5, 2, false, 8192, 8192,
                        13),
                new TestModelSpec(Architecture.LLAMA, 128, 3, 4, 1, 32, 256, 0, 0, 0, 2048, 5e5, 1, true, 8192, 8192, 14));
    }

    @ParameterizedTest
    @MethodSource("models")
    void greedyTokensAndLogitsAgreeWithLlamaCpp(TestModelSpec spec) throws Exception {
        Path gguf = new TestModelWriter(spec).writeGguf(tmp.resolve(spec.arch() + "-f32.gguf"), DType.F32);
        int[] prompt = {1, 423, 17, 1022, 56, 9, 300};

        JsonNode ref = new ObjectMapper().readTree(LlamaCpp.greedy(gguf, prompt, STEPS));
        int[] refTokens = new int[STEPS];
        for (int i = 0; i < STEPS; i++) {
            refTokens[i] = ref.get("tokens").get(i).asInt();
        }

        try (ModelFiles files = ModelFiles.open(gguf);
             ModelWeights w = new ModelWeights(files.config(), files.store(), files.format());
             ReferenceBackend backend = new ReferenceBackend(2)) {
            Transformer t = new Transformer(w, backend);
            int[] ours = new GreedyDecoder(t).generate(prompt, STEPS, java.util.Set.of(), tok -> { });
            assertArrayEquals(refTokens, ours, spec.arch() + " greedy tokens: llama.cpp " + Arrays.toString(refTokens)
                    + " vs Herd " + Arrays.toString(ours));

            // teacher-forced: feed llama.cpp's tokens, compare the logits it reported for its top five
            KvCache cache = new KvCache(files.config());
            float[] logits = t.forward(prompt, cache);
            double worst = 0;
            for (int i = 0; i < STEPS; i++) {
                for (JsonNode pair : ref.get("top").get(i)) {
                    double diff = Math.abs(logits[pair.get(0).asInt()] - pair.get(1).asDouble());
                    worst = Math.max(worst, diff / Math.abs(pair.get(1).asDouble()));
                }
                logits = t.forward(new int[]{refTokens[i]}, cache);
            }
            // same function, other summation orders: F32 rounding only
            assertTrue(worst < 1e-5, spec.arch() + ": top-5 logits differ from llama.cpp's by up to " + worst + " relative");
            int distinct = (int) Arrays.stream(ours).distinct().count();
            assertTrue(distinct > STEPS / 4, "a degenerate loop proves little: " + distinct + " distinct tokens");
        }
    }
}
