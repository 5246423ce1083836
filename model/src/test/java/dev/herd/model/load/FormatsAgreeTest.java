package dev.herd.model.load;

import dev.herd.kernels.DType;
import dev.herd.kernels.ReferenceBackend;
import dev.herd.model.config.Architecture;
import dev.herd.model.forward.KvCache;
import dev.herd.model.forward.Transformer;
import dev.herd.model.testmodel.TestModelSpec;
import dev.herd.model.testmodel.TestModelWriter;
import dev.herd.model.weights.ModelFormatException;
import dev.herd.model.weights.ModelWeights;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The same generated weights written as a Hugging Face safetensors directory and as GGUF files, read back
 * through the real readers: F32 files give the same logits (1e-4 relative); quantized files stay close.
 */
class FormatsAgreeTest {
    private static final ReferenceBackend BACKEND = new ReferenceBackend(2);
    private static final int[] PROMPT = {17, 250, 3, 99, 401, 12, 77, 8, 300};

    @TempDir
    static Path tmp;

    @AfterAll
    static void close() {
        BACKEND.close();
    }

    static float[] logits(Path model) {
        try (ModelFiles files = ModelFiles.open(model);
             ModelWeights w = new ModelWeights(files.config(), files.store(), files.format())) {
            Transformer t = new Transformer(w, BACKEND);
            return t.forward(PROMPT, new KvCache(files.config()), true);
        }
    }

    @ParameterizedTest
    @EnumSource(Architecture.class)
    void safetensorsAndF32GgufGiveTheSameLogits(Architecture arch) {
        TestModelSpec spec = TestModelSpec.small(arch).withRopeScaling(arch == Architecture.LLAMA);
        TestModelWriter writer = new TestModelWriter(spec);
        Path dir = tmp.resolve(arch + "-agree");
        Path hf = writer.writeHuggingFace(dir.resolve("hf"), DType.F32, TestModelWriter.DEFAULT_MAX_SHARD_BYTES);
        Path gguf = writer.writeGguf(dir.resolve("model-f32.gguf"), DType.F32);
        assertRelClose(logits(hf), logits(gguf), 1e-4, arch + " safetensors vs GGUF F32");
    }

    @Test
    void shardedSafetensorsGiveTheSameLogitsAsOneFile() {
        TestModelSpec spec = TestModelSpec.small(Architecture.MIXTRAL);
        TestModelWriter writer = new TestModelWriter(spec);
        Path one = writer.writeHuggingFace(tmp.resolve("one"), DType.F32, TestModelWriter.DEFAULT_MAX_SHARD_BYTES);
        Path sharded = writer.writeHuggingFace(tmp.resolve("sharded"), DType.F32, 200_000);
        assertTrue(Files.exists(sharded.resolve("model.safetensors.index.json")), "expected a sharded directory");
        assertRelClose(logits(one), logits(sharded), 0, "one file vs shards");
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q6_K"})
    void quantizedGgufStaysCloseToF32(DType type) {
        TestModelSpec spec = new TestModelSpec(Architecture.MIXTRAL, 256, 2, 4, 2, 64, 0, 4, 2, 256, 512, 1e6, 1,
                false, 8192, 8192, 5);
        TestModelWriter writer = new TestModelWriter(spec);
        Path dir = tmp.resolve("quant");
        float[] ref = logits(writer.writeGguf(dir.resolve("f32.gguf"), DType.F32));
        float[] q = logits(writer.writeGguf(dir.resolve(type + ".gguf"), type));
        // normalised mean squared error of the logits. On uniform weights one matrix quantized with step s
        // has NMSE about (s^2/12) / (max^2/3): ~3e-6 for F16, ~1e-5 for BF16, 2e-5 for Q8_0, 2.5e-4 for Q6_K,
        // 4.5e-3 for Q4_0/Q4_K; it compounds over layers and the peaked (gain 10) LM head, hence the margins
        double bound = switch (type) {
            case F16, BF16 -> 1e-4;
            case Q8_0 -> 1e-3;
            case Q6_K -> 5e-3;
            default -> 8e-2;
        };
        double num = 0;
        double den = 0;
        for (int i = 0; i < ref.length; i++) {
            num += (ref[i] - q[i]) * (double) (ref[i] - q[i]);
            den += ref[i] * (double) ref[i];
        }
        assertTrue(num / den < bound, type + ": NMSE " + num / den + " over " + bound);
        assertTrue(num > 0 || type == DType.F32, type + ": identical logits mean the type was not applied");
    }

    @Test
    void truncatedGgufFailsWithTheFileNamed() throws IOException {
        TestModelWriter writer = new TestModelWriter(TestModelSpec.small(Architecture.QWEN3_MOE));
        Path gguf = writer.writeGguf(tmp.resolve("trunc.gguf"), DType.Q8_0);
        long size = Files.size(gguf);
        try (var ch = Files.newByteChannel(gguf, StandardOpenOption.WRITE)) {
            ch.truncate(size / 2);
        }
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelFiles.open(gguf));
        assertTrue(e.getMessage().contains("trunc.gguf"), e.getMessage());
    }

    @Test
    void unknownArchitectureIsNamedWithTheSupportedList() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("unknown"));
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"mamba\", \"hidden_size\": 8}");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelFiles.open(dir));
        assertTrue(e.getMessage().contains("mamba") && e.getMessage().contains("mixtral"), e.getMessage());
    }

    @Test
    void tensorOfTheWrongShapeIsNamed() throws IOException {
        TestModelSpec spec = TestModelSpec.small(Architecture.LLAMA);
        Path hf = new TestModelWriter(spec).writeHuggingFace(tmp.resolve("shape"), DType.F32,
                TestModelWriter.DEFAULT_MAX_SHARD_BYTES);
        // claim a wider FFN than the weights have
        Path config = hf.resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("\"intermediate_size\" : 128",
                "\"intermediate_size\" : 96"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> logits(hf));
        assertTrue(e.getMessage().contains("mlp.gate_proj.weight"), e.getMessage());
    }

    @Test
    void missingExpertFailsAtLoadNotAtFirstUse() throws IOException {
        TestModelSpec spec = TestModelSpec.small(Architecture.MIXTRAL);
        Path hf = new TestModelWriter(spec).writeHuggingFace(tmp.resolve("missing-expert"), DType.F32,
                TestModelWriter.DEFAULT_MAX_SHARD_BYTES);
        // the config promises one expert more than the checkpoint holds
        Path config = hf.resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("\"num_local_experts\" : 4",
                "\"num_local_experts\" : 5"));
        try (ModelFiles files = ModelFiles.open(hf)) {
            ModelFormatException e = assertThrows(ModelFormatException.class,
                    () -> new ModelWeights(files.config(), files.store(), files.format()));
            assertTrue(e.getMessage().contains("block_sparse_moe"), e.getMessage());
        }
    }

    static void assertRelClose(float[] a, float[] b, double rel, String what) {
        assertEquals(a.length, b.length, what);
        double scale = 0;
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            scale = Math.max(scale, Math.abs(a[i]));
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        assertTrue(worst <= rel * scale, what + ": max abs diff " + worst + ", scale " + scale);
    }
}
