package dev.herd.coordinator.plan;

import dev.herd.kernels.DType;
import dev.herd.model.config.ModelConfig;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.herd.coordinator.plan.Fixtures.config;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelShapeTest {

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-8x7b.json", "qwen3-30b-a3b.json", "qwen3-235b-a22b.json",
            "llama4-scout-17b-16e.json", "llama4-maverick-17b-128e.json", "llama-3.1-8b.json"})
    void bf16IsTwoBytesForEveryParameterTheModelCounts(String file) {
        // the model module's parameter count is checked against published totals: an independent reference
        ModelConfig c = config(file);
        ModelShape shape = ModelShape.of(c, WeightTypes.all(DType.BF16));
        assertEquals(2 * c.parameterCount(), shape.totalWeightBytes(), file);
        assertEquals(c.numLayers(), shape.numLayers());
        assertEquals(c.numLayers() * 2L * c.kvDim() * 4, shape.kvBytesPerToken(), "f32 keys and values");
    }

    @Test
    void mixtralInQ4_0ByHand() {
        ModelShape s = ModelShape.of(config("mixtral-8x7b.json"), WeightTypes.all(DType.Q4_0));
        // Q4_0: 18 bytes per 32 weights; norms and router stay F32
        long perWeight18of32 = 18;
        long expert = 3L * 14336 * 4096 / 32 * perWeight18of32;
        long attention = (4096L * 4096 * 2 + 1024L * 4096 * 2) / 32 * perWeight18of32;
        long norms = 2 * 4096 * 4;
        long router = 8 * 4096 * 4;
        for (LayerShape l : s.layers()) {
            assertEquals(expert, l.expertBytes());
            assertEquals(attention + norms + router, l.nonExpertBytes());
            assertEquals(8, l.numExperts());
            assertEquals(2, l.topK());
            assertEquals(2 * 1024 * 4, l.kvBytesPerToken());
        }
        assertEquals(32000L * 4096 / 32 * 18, s.embeddingBytes());
        assertEquals(32000L * 4096 / 32 * 18, s.lmHeadBytes());
        assertEquals(4096 * 4, s.finalNormBytes());
        assertTrue(s.totalWeightBytes() > 26.2e9 && s.totalWeightBytes() < 26.4e9, "Mixtral Q4_0 is about 26.3 GB");
    }

    @Test
    void expertsAndDenseWeightsMayHaveTheirOwnTypes() {
        ModelConfig c = config("llama4-maverick-17b-128e.json");
        ModelShape s = ModelShape.of(c, new WeightTypes(DType.Q8_0, DType.Q4_K));
        // experts: gate and up (8192 rows of 5120), down (5120 rows of 8192); Q4_K is 144 bytes per 256
        assertEquals((2L * 8192 * 5120 + 5120L * 8192) / 256 * 144, s.layer(1).expertBytes());
        assertFalse(s.layer(0).moe(), "Maverick alternates dense and MoE layers");
        // a dense layer's FFN (16384 wide) against a MoE layer's shared expert (8192 wide) and router
        long ffn = 3L * 16384 * 5120 / 32 * 34;
        long shared = 3L * 8192 * 5120 / 32 * 34;
        long router = 128L * 5120 * 4;
        assertEquals(ffn - shared - router, s.layer(0).nonExpertBytes() - s.layer(1).nonExpertBytes());
    }

    @Test
    void aRowIsAWholeNumberOfBlocks() {
        assertEquals(3 * 2 * 144, ModelShape.matrix(DType.Q4_K, 3, 300), "300 weights take two 256-blocks");
        assertEquals(28, ModelShape.matrix(DType.F32, 1, 7));
        assertEquals(5 * 34, ModelShape.matrix(DType.Q8_0, 5, 32));
    }

    @Test
    void aTiedHeadIsStoredOnceWhereTheEmbeddingIs() {
        ModelShape tied = new ModelShape(64, 1000, 1000, 10, true, List.of(LayerShape.dense(500, 0)));
        assertEquals(10, tied.lmHeadBytesOn(true));
        assertEquals(1010, tied.lmHeadBytesOn(false));
        assertEquals(1000 + 10 + 500, tied.totalWeightBytes());
        ModelShape untied = new ModelShape(64, 1000, 1000, 10, false, List.of(LayerShape.dense(500, 0)));
        assertEquals(1000 + 1010 + 500, untied.totalWeightBytes());
    }
}
