package dev.herd.shard;

import dev.herd.kernels.DType;
import dev.herd.model.config.Architecture;
import dev.herd.model.load.ModelFiles;
import dev.herd.model.testmodel.TestModelSpec;
import dev.herd.model.testmodel.TestModelWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The model digest identifies config and tensor index, the same in every process that opens the files. */
class ModelDigestTest {

    private static String digest(Path model) {
        try (ModelFiles files = ModelFiles.open(model)) {
            return ModelSource.of(files).digest();
        }
    }

    @Test
    void sameFilesSameDigestOtherQuantizationOrShapeAnother(@TempDir Path dir) {
        TestModelSpec spec = TestModelSpec.small(Architecture.MIXTRAL).withRopeScaling(true);
        Path f32 = new TestModelWriter(spec).writeGguf(dir.resolve("a.gguf"), DType.F32);
        Path copy = new TestModelWriter(spec).writeGguf(dir.resolve("b.gguf"), DType.F32);
        Path f16 = new TestModelWriter(spec).writeGguf(dir.resolve("c.gguf"), DType.F16);
        Path llama4 = new TestModelWriter(TestModelSpec.small(Architecture.LLAMA4)).writeGguf(dir.resolve("d.gguf"),
                DType.F32);
        String d = digest(f32);
        assertTrue(d.matches("[0-9a-f]{64}"), d);
        // opened twice (arrays inside the config, e.g. RoPE factors, must not make it process-dependent)
        assertEquals(d, digest(f32));
        assertEquals(d, digest(copy));
        assertNotEquals(d, digest(f16), "another quantization of the same weights");
        assertNotEquals(d, digest(llama4), "another model");
    }

    /** A node without the files checks a holder's description by this equality: it must hold for both formats. */
    @Test
    void theDigestOfAHoldersTensorIndexEqualsTheDigestOfTheFiles(@TempDir Path dir) {
        TestModelWriter w = new TestModelWriter(TestModelSpec.small(Architecture.QWEN3_MOE));
        for (Path model : java.util.List.of(w.writeGguf(dir.resolve("q.gguf"), DType.F16),
                w.writeHuggingFace(dir.resolve("hf"), DType.BF16, 64 << 10))) {
            try (ModelFiles files = ModelFiles.open(model)) {
                assertEquals(ModelDigest.of(files.config(), files.store()),
                        ModelDigest.of(files.config(), dev.herd.shard.weights.HeldTensors.of(files).index()), model.toString());
            }
        }
    }
}
