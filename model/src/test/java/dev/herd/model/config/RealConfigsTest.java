package dev.herd.model.config;

import dev.herd.kernels.RopeStyle;
import dev.herd.model.weights.ModelFormatException;
import org.junit.jupiter.api.Test;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Real models' {@code config.json} files (test resources, hyperparameter keys as published) read into
 * {@link ModelConfig}. The published parameter counts (total and active per token) are an independent check
 * that every layer was understood: MoE placement, dense layer sizes, shared experts and tied embeddings.
 */
class RealConfigsTest {

    static ModelConfig read(String name) throws URISyntaxException {
        return HfConfigReader.read(Path.of(RealConfigsTest.class.getResource("/configs/" + name).toURI()));
    }

    static void assertBillions(double expected, long actual, double tolerance, String what) {
        double b = actual / 1e9;
        assertTrue(Math.abs(b - expected) <= tolerance, what + ": " + b + "B parameters, published " + expected + "B");
    }

    @Test
    void mixtral8x7b() throws Exception {
        ModelConfig c = read("mixtral-8x7b.json");
        assertEquals(Architecture.MIXTRAL, c.arch());
        assertEquals(32, c.numLayers());
        assertTrue(c.layers().stream().allMatch(LayerSpec::moe));
        assertEquals(new MoeConfig(8, 2, 14336, 0, RouterGating.SOFTMAX, true, false), c.moe());
        assertEquals(RopeStyle.NEOX, c.rope().style());
        assertEquals(128, c.headDim());
        assertBillions(46.7, c.parameterCount(), 0.1, "Mixtral total");
        assertBillions(12.9, c.activeParameterCount(), 0.1, "Mixtral active");
    }

    @Test
    void qwen3MoeModels() throws Exception {
        ModelConfig small = read("qwen3-30b-a3b.json");
        assertEquals(Architecture.QWEN3_MOE, small.arch());
        assertEquals(QkNorm.RMS_WEIGHTED, small.qkNorm());
        assertEquals(128, small.headDim()); // explicit head_dim, not hidden / heads = 64
        assertTrue(small.moe().normalizeTopK());
        assertEquals(1e-6f, small.normEps());
        assertBillions(30.5, small.parameterCount(), 0.2, "Qwen3-30B-A3B total");
        assertBillions(3.3, small.activeParameterCount(), 0.1, "Qwen3-30B-A3B active");
        ModelConfig big = read("qwen3-235b-a22b.json");
        assertBillions(235, big.parameterCount(), 1.5, "Qwen3-235B-A22B total");
        assertBillions(22, big.activeParameterCount(), 0.5, "Qwen3-235B-A22B active");
    }

    @Test
    void llama4Scout() throws Exception {
        ModelConfig c = read("llama4-scout-17b-16e.json");
        assertEquals(Architecture.LLAMA4, c.arch());
        assertEquals(RopeStyle.ADJACENT, c.rope().style());
        assertEquals(QkNorm.L2_AFTER_ROPE, c.qkNorm());
        assertEquals(8192, c.attentionChunkSize());
        assertEquals("llama3", c.rope().scaling().type());
        assertEquals(16.0, c.rope().scaling().factor());
        for (int l = 0; l < 48; l++) {
            LayerSpec s = c.layer(l);
            boolean nope = (l + 1) % 4 == 0;
            assertEquals(!nope, s.rope(), "layer " + l + " rope");
            assertEquals(!nope, s.chunkedAttention(), "layer " + l + " chunked (RoPE layers are local)");
            assertTrue(s.moe(), "Scout: every layer is MoE");
        }
        assertEquals(new MoeConfig(16, 1, 8192, 8192, RouterGating.SIGMOID, false, true), c.moe());
        assertEquals(List.of(200001, 200007, 200008), c.eosTokenIds());
        // 109B published includes the vision encoder (~1B)
        assertBillions(107.8, c.parameterCount(), 0.5, "Scout text total");
        assertBillions(17.2, c.activeParameterCount(), 0.3, "Scout active");
    }

    @Test
    void llama4Maverick() throws Exception {
        ModelConfig c = read("llama4-maverick-17b-128e.json");
        assertEquals(QkNorm.NONE, c.qkNorm(), "Maverick turns the q/k norm off");
        assertNull(c.rope().scaling());
        List<Integer> moeLayers = IntStream.range(0, 48).filter(l -> c.layer(l).moe()).boxed().toList();
        assertEquals(IntStream.range(0, 24).map(i -> 2 * i + 1).boxed().toList(), moeLayers);
        assertFalse(c.layer(0).moe());
        assertEquals(16384, c.ffnDim());
        assertBillions(400, c.parameterCount(), 2, "Maverick total");
        assertBillions(17.2, c.activeParameterCount(), 0.3, "Maverick active");
    }

    @Test
    void llama31() throws Exception {
        ModelConfig c = read("llama-3.1-8b.json");
        assertEquals(Architecture.LLAMA, c.arch());
        assertFalse(c.isMoe());
        assertBillions(8.03, c.parameterCount(), 0.05, "Llama 3.1 8B");
        float[] inv = c.rope().inverseFrequencies();
        float[] plain = new RopeConfig(500000, 128, RopeStyle.NEOX, null, null).inverseFrequencies();
        assertEquals(plain[0], inv[0], "high frequencies are not scaled");
        assertEquals(plain[63] / 8, inv[63], 1e-12, "low frequencies are divided by the factor");
    }

    @Test
    void temperatureTuningFollowsTheFormula() {
        AttentionTemperature t = new AttentionTemperature(8192, 0.1);
        assertEquals(1.0f, t.scaleAt(0));
        assertEquals(1.0f, t.scaleAt(8190));
        assertEquals((float) (Math.log(2) * 0.1 + 1), t.scaleAt(8191));
        assertEquals((float) (Math.log(3) * 0.1 + 1), t.scaleAt(2 * 8192 - 1));
    }

    @Test
    void unsupportedArchitectureIsNamed() {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> read("deepseek-v3-excerpt.json"));
        assertTrue(e.getMessage().contains("deepseek_v3"), e.getMessage());
        assertTrue(e.getMessage().contains("qwen3_moe"), e.getMessage());
    }
}
