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
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Quantized GGUF files against llama.cpp, teacher-forced: both engines are fed the same ids and their logits
 * compared position by position. Herd dequantizes weights and keeps activations in f32; llama.cpp rounds
 * activations to 8-bit blocks before quantized products (and to F16 for F16 weights), so the logits differ
 * by that rounding, not by the weights: a wrong block layout would be off by whole units. (The weights
 * themselves dequantize bit for bit as ggml does: {@link GgmlDequantAgreementTest}.)
 */
class QuantizedLlamaCppTest {
    private static final int STEPS = 24;

    @TempDir
    Path tmp;

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q6_K"})
    void teacherForcedLogitsAgreeWithinActivationRounding(DType type) throws Exception {
        TestModelSpec spec = new TestModelSpec(Architecture.MIXTRAL, 256, 3, 8, 4, 32, 0, 8, 2, 512, 2048, 1e6, 1,
                false, 8192, 8192, 21);
        Path gguf = new TestModelWriter(spec).writeGguf(tmp.resolve(type + ".gguf"), type);
        int[] prompt = {1, 77, 512, 1024, 9};
        try (ModelFiles files = ModelFiles.open(gguf);
             ModelWeights w = new ModelWeights(files.config(), files.store(), files.format());
             ReferenceBackend backend = new ReferenceBackend(2)) {
            Transformer t = new Transformer(w, backend);
            int[] ours = new GreedyDecoder(t).generate(prompt, STEPS, Set.of(), id -> { });
            JsonNode ref = new ObjectMapper().readTree(LlamaCpp.forced(gguf, prompt, ours));
            KvCache cache = new KvCache(files.config());
            float[] logits = t.forward(prompt, cache);
            double sumSq = 0;
            double refSq = 0;
            int agreeTop1 = 0;
            for (int i = 0; i < STEPS; i++) {
                JsonNode top = ref.get("top").get(i);
                if (top.get(0).get(0).asInt() == GreedyDecoder.argmax(logits)) {
                    agreeTop1++;
                }
                for (JsonNode pair : top) {
                    double d = logits[pair.get(0).asInt()] - pair.get(1).asDouble();
                    sumSq += d * d;
                    refSq += pair.get(1).asDouble() * pair.get(1).asDouble();
                }
                logits = t.forward(new int[]{ours[i]}, cache);
            }
            double nmse = sumSq / refSq;
            // llama.cpp's activation rounding sets the scale: F16 activations for F16 weights (11-bit mantissa),
            // BF16 for BF16 (8-bit), Q8_0 blocks of 32 for Q8_0/Q4_0, Q8_K blocks of 256 for the K-quants (one
            // scale over 8x more values, and SwiGLU outputs are heavy-tailed: about 4x the Q8_0 error). A wrong
            // weight layout gives an NMSE above 1e-2.
            double bound = switch (type) {
                case F16 -> 1e-6;
                case BF16 -> 1e-5;
                case Q8_0, Q4_0 -> 1e-4;
                default -> 1e-3;
            };
            System.out.printf("%s: teacher-forced top-5 logit NMSE vs llama.cpp %.3g, top-1 agreement %d/%d%n",
                    type, nmse, agreeTop1, STEPS);
            assertTrue(nmse < bound, type + ": teacher-forced top-5 logit NMSE " + nmse + " over " + bound);
            // the coarser K-quant activation rounding moves logits by ~0.5, enough to flip a few near-ties
            int minAgree = type == DType.Q4_K || type == DType.Q6_K ? STEPS * 3 / 4 : STEPS - 2;
            assertTrue(agreeTop1 >= minAgree, type + ": top-1 agreed at only " + agreeTop1 + " of " + STEPS);
        }
    }
}
