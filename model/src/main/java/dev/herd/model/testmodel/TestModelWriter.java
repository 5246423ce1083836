package dev.herd.model.testmodel;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.herd.kernels.DType;
import dev.herd.model.gguf.GgufArray;
import dev.herd.model.gguf.GgufType;
import dev.herd.model.gguf.GgufWriter;
import dev.herd.model.safetensors.SafetensorsWriter;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Writes a generated model as a Hugging Face directory (config.json, tokenizer.json, tokenizer_config.json,
 * safetensors, sharded with an index past {@code maxShardBytes}) and as GGUF files of the same weights.
 */
public final class TestModelWriter {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    /** Shards of real checkpoints are a few GB; a small limit lets tests exercise the index. */
    public static final long DEFAULT_MAX_SHARD_BYTES = 2L << 30;

    private final TestModelSpec spec;
    private final TestModelWeights weights;
    private final TestTokenizer tokenizer;

    public TestModelWriter(TestModelSpec spec) {
        this.spec = spec;
        this.weights = new TestModelWeights(spec);
        this.tokenizer = TestTokenizer.build(spec.vocab());
    }

    public TestTokenizer tokenizer() {
        return tokenizer;
    }

    /** The Hugging Face directory, weights stored as {@code dtype} (F32, F16 or BF16). */
    public Path writeHuggingFace(Path dir, DType dtype, long maxShardBytes) {
        try {
            Files.createDirectories(dir);
            JSON.writeValue(dir.resolve("config.json").toFile(), TestModelConfigs.configJson(spec, tokenizer));
            JSON.writeValue(dir.resolve("tokenizer.json").toFile(), tokenizer.tokenizerJson());
            JSON.writeValue(dir.resolve("tokenizer_config.json").toFile(), tokenizer.tokenizerConfigJson());
            JSON.writeValue(dir.resolve("generation_config.json").toFile(),
                    Map.of("bos_token_id", tokenizer.bosId(), "eos_token_id", tokenizer.eosId()));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + dir, e);
        }
        SafetensorsWriter w = new SafetensorsWriter().metadata("format", "pt");
        for (GeneratedTensor t : weights.huggingFace()) {
            w.add(t.name(), t.norm() ? DType.F32 : dtype, t.shape(), rows(t));
        }
        if (w.dataBytes() > maxShardBytes) {
            w.writeSharded(dir, maxShardBytes);
        } else {
            w.write(dir.resolve("model.safetensors"));
        }
        return dir;
    }

    /**
     * A GGUF file with matrices stored as {@code type}. As llama.cpp's quantizer does, norm vectors and the
     * MoE router stay F32, and a matrix whose rows are not whole blocks of {@code type} falls back to Q8_0
     * (or F32 when not even that fits).
     */
    public Path writeGguf(Path file, DType type) {
        List<GeneratedTensor> tensors = weights.gguf();
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the directory of " + file, e);
        }
        try (GgufWriter w = GgufWriter.create(file)) {
            for (Map.Entry<String, Object> e : TestModelConfigs.ggufMetadata(spec, tokenizer).entrySet()) {
                put(w, e.getKey(), e.getValue());
            }
            w.putUInt32("general.file_type", fileType(type));
            for (GeneratedTensor t : tensors) {
                w.addTensor(t.name(), storedType(t, type), t.shape());
            }
            for (GeneratedTensor t : tensors) {
                w.writeTensor(t.name(), t.data().get());
            }
        }
        return file;
    }

    private static DType storedType(GeneratedTensor t, DType type) {
        if (t.norm() || t.name().contains("ffn_gate_inp") || type == DType.F32) {
            return DType.F32;
        }
        long cols = t.shape()[t.shape().length - 1];
        if (cols % type.blockSize() == 0) {
            return type;
        }
        return cols % DType.Q8_0.blockSize() == 0 ? DType.Q8_0 : DType.F32;
    }

    /** llama.cpp's {@code llama_ftype} for a whole-file type. */
    private static int fileType(DType type) {
        return switch (type) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q8_0 -> 7;
            case Q4_K -> 15;
            case Q6_K -> 18;
            case BF16 -> 32;
            default -> throw new IllegalArgumentException("GGUF test models cannot be written as " + type);
        };
    }

    private static void put(GgufWriter w, String key, Object v) {
        switch (v) {
            case String s -> w.putString(key, s);
            case Integer i -> w.putUInt32(key, i);
            case Float f -> w.putFloat32(key, f);
            case Boolean b -> w.putBool(key, b);
            case int[] a -> w.putArray(key, GgufArray.ofInt32(a));
            case List<?> l -> w.putArray(key, GgufArray.ofStrings(l.stream().map(String.class::cast).toList()));
            default -> w.put(key, GgufType.STRING, v.toString());
        }
    }

    /** Rows of a generated tensor, computing its values once when the writer reaches it. */
    private static SafetensorsWriter.RowSource rows(GeneratedTensor t) {
        int cols = Math.toIntExact(t.shape()[t.shape().length - 1]);
        float[][] values = new float[1][];
        return (row, out) -> {
            if (row == 0 || values[0] == null) {
                values[0] = t.data().get();
            }
            System.arraycopy(values[0], Math.toIntExact(row * cols), out, 0, cols);
            if ((row + 1) * cols == values[0].length) {
                values[0] = null; // the writer moves on to the next tensor: let this one go
            }
        };
    }
}
