package dev.herd.model.safetensors;

import dev.herd.kernels.DType;
import dev.herd.kernels.Tensor;
import dev.herd.model.weights.ModelFormatException;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static dev.herd.model.safetensors.HandMade.all;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsDirectoryTest {
    @TempDir
    Path dir;

    private final float[] a = seq(16, 0);
    private final float[] b = seq(16, 100);
    private final float[] c = seq(16, -50);
    private final float[] fp8 = new float[64];

    private static float[] seq(int n, int from) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (from + i) / 4f;
        }
        return v;
    }

    @BeforeEach
    void values() {
        // 8 x 8 in blocks of 4 x 4, each block's maximum 1.75 * 2^k so that FP8 holds every value exactly
        for (int i = 0; i < 64; i++) {
            int r = i / 8;
            int col = i % 8;
            fp8[i] = Math.scalb((r % 4 == 0 && col % 4 == 0) ? 1.75f : (i % 7 - 3) / 4f, r / 4 + col / 4);
        }
    }

    /**
     * Three shards of at most 128 data bytes, packed in the order added: [a, b] (64 + 64), [c, w.weight]
     * (64 + 64) and [w.weight_scale_inv, n] (16 + 8), so the FP8 weight and its scale are in different shards.
     */
    private List<Path> writeSharded() {
        return new SafetensorsWriter()
                .metadata("format", "pt")
                .add("a", DType.F32, new long[] {4, 4}, a)
                .add("b", DType.F32, new long[] {4, 4}, b)
                .add("c", DType.F32, new long[] {4, 4}, c)
                .addFp8BlockScaled("w.weight", new long[] {8, 8}, fp8, 4, 4)
                .add("n", DType.BF16, new long[] {4}, new float[] {1, 2, 3, 4})
                .writeSharded(dir, 128);
    }

    private Path shard(int i) {
        return dir.resolve(String.format("model-%05d-of-00003.safetensors", i));
    }

    @Test
    void shardedDirectoryWithIndex() {
        List<Path> written = writeSharded();
        assertEquals(List.of(shard(1), shard(2), shard(3), dir.resolve(ShardIndex.FILE_NAME)), written);
        ShardIndex index = ShardIndex.read(dir.resolve(ShardIndex.FILE_NAME));
        assertEquals(64L * 3 + 64 + 16 + 8, ((Number) index.metadata().get("total_size")).longValue());
        assertEquals(shard(2).getFileName().toString(), index.weightMap().get("w.weight"));
        assertEquals(shard(3).getFileName().toString(), index.weightMap().get("w.weight_scale_inv"));

        try (SafetensorsDirectory d = SafetensorsDirectory.open(dir)) {
            assertEquals(Set.of("a", "b", "c", "w.weight", "w.weight_scale_inv", "n"), d.names());
            assertEquals(Set.of(), d.openedFiles(), "open() maps nothing");
            assertArrayEquals(a, all(d.get("a")));
            assertArrayEquals(b, all(d.get("b")));
            assertArrayEquals(c, all(d.get("c")));
            assertArrayEquals(new float[] {1, 2, 3, 4}, all(d.get("n")));
            Tensor w = d.get("w.weight");
            assertEquals(DType.F8_E4M3, w.dtype());
            assertArrayEquals(fp8, all(w));
            assertEquals(Set.copyOf(written.subList(0, 3)), d.openedFiles());
        }
    }

    @Test
    void onlyTheShardHoldingARequestedTensorIsMapped() {
        writeSharded();
        try (SafetensorsDirectory d = SafetensorsDirectory.open(dir)) {
            assertArrayEquals(c, all(d.get("c")));
            assertEquals(Set.of(shard(2)), d.openedFiles());
            assertTrue(d.find("not.there").isEmpty());
            assertEquals(Set.of(shard(2)), d.openedFiles());
        }
    }

    @Test
    void anFp8WeightMapsTheShardOfItsScaleToo() {
        writeSharded();
        try (SafetensorsDirectory d = SafetensorsDirectory.open(dir)) {
            assertArrayEquals(fp8, all(d.get("w.weight")));
            assertEquals(Set.of(shard(2), shard(3)), d.openedFiles());
            assertEquals(d.get("w.weight"), d.get("w.weight"), "the FP8 tensor is built once");
        }
    }

    @Test
    void aMissingShardIsNamedAtOpen() throws Exception {
        writeSharded();
        Files.delete(shard(2));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsDirectory.open(dir));
        assertTrue(e.getMessage().contains(shard(2).getFileName().toString()), e.getMessage());
    }

    @Test
    void aTensorTheIndexPutsInTheWrongShard() {
        writeSharded();
        ShardIndex index = ShardIndex.read(dir.resolve(ShardIndex.FILE_NAME));
        Map<String, String> map = new LinkedHashMap<>(index.weightMap());
        map.put("a", shard(2).getFileName().toString());
        new ShardIndex(map, index.metadata()).write(dir.resolve(ShardIndex.FILE_NAME));
        try (SafetensorsDirectory d = SafetensorsDirectory.open(dir)) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> d.find("a"));
            assertTrue(e.getMessage().contains("'a'") && e.getMessage().contains(shard(2).getFileName().toString()),
                    e.getMessage());
            // the shard is refused as a whole, not half used
            assertThrows(ModelFormatException.class, () -> d.find("c"));
            assertEquals(Set.of(), d.openedFiles());
            assertArrayEquals(b, all(d.get("b")));
        }
    }

    @Test
    void tensorsAShardHoldsButTheIndexOmitsAreIgnored() {
        writeSharded();
        ShardIndex index = ShardIndex.read(dir.resolve(ShardIndex.FILE_NAME));
        Map<String, String> map = new LinkedHashMap<>(index.weightMap());
        map.remove("b");
        new ShardIndex(map, index.metadata()).write(dir.resolve(ShardIndex.FILE_NAME));
        try (SafetensorsDirectory d = SafetensorsDirectory.open(dir)) {
            assertTrue(!d.names().contains("b"));
            assertArrayEquals(a, all(d.get("a")));
            assertTrue(d.find("b").isEmpty(), "the index is the truth");
        }
    }

    @Test
    void anIndexCannotPointOutsideTheDirectory() throws Exception {
        Files.writeString(dir.resolve(ShardIndex.FILE_NAME),
                "{\"metadata\":{},\"weight_map\":{\"a\":\"../elsewhere.safetensors\"}}");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsDirectory.open(dir));
        assertTrue(e.getMessage().contains("'a'") && e.getMessage().contains("../elsewhere"), e.getMessage());
    }

    @Test
    void malformedIndex() throws Exception {
        Files.writeString(dir.resolve(ShardIndex.FILE_NAME), "{\"weight_map\":{\"a\":3}}");
        assertThrows(ModelFormatException.class, () -> SafetensorsDirectory.open(dir));
        Files.writeString(dir.resolve(ShardIndex.FILE_NAME), "{\"metadata\":{}}");
        assertThrows(ModelFormatException.class, () -> SafetensorsDirectory.open(dir));
        Files.writeString(dir.resolve(ShardIndex.FILE_NAME), "{\"weight_map\":");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsDirectory.open(dir));
        assertTrue(e.getMessage().contains(ShardIndex.FILE_NAME), e.getMessage());
    }

    @Test
    void aSingleModelFile() {
        List<Path> written = new SafetensorsWriter().add("a", DType.F32, new long[] {4, 4}, a).writeSharded(dir, 1 << 20);
        assertEquals(List.of(dir.resolve("model.safetensors")), written);
        try (SafetensorsDirectory d = SafetensorsDirectory.open(dir)) {
            assertEquals(Set.of("a"), d.names());
            assertArrayEquals(a, all(d.get("a")));
            assertEquals(Set.of(dir.resolve("model.safetensors")), d.openedFiles());
        }
    }

    @Test
    void modelSafetensorsWinsOverAnIndexAsInTransformers() {
        writeSharded();
        new SafetensorsWriter().add("only", DType.F32, new long[] {1}, new float[] {5}).write(dir.resolve("model.safetensors"));
        try (SafetensorsDirectory d = SafetensorsDirectory.open(dir)) {
            assertEquals(Set.of("only"), d.names());
        }
    }

    @Test
    void exactlyOneOtherSafetensorsFile() throws Exception {
        new SafetensorsWriter().add("a", DType.F32, new long[] {4, 4}, a).write(dir.resolve("consolidated.safetensors"));
        try (SafetensorsDirectory d = SafetensorsDirectory.open(dir)) {
            assertArrayEquals(a, all(d.get("a")));
        }
        new SafetensorsWriter().add("b", DType.F32, new long[] {4, 4}, b).write(dir.resolve("other.safetensors"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsDirectory.open(dir));
        assertTrue(e.getMessage().contains("2 *.safetensors files"), e.getMessage());
    }

    @Test
    void nothingToOpen() throws Exception {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsDirectory.open(dir));
        assertTrue(e.getMessage().contains("no *.safetensors file"), e.getMessage());
        Path file = Files.writeString(dir.resolve("x.txt"), "x");
        e = assertThrows(ModelFormatException.class, () -> SafetensorsDirectory.open(file));
        assertTrue(e.getMessage().contains("not a directory"), e.getMessage());
    }

    @Test
    void closeUnmapsEveryShard() {
        writeSharded();
        SafetensorsDirectory d = SafetensorsDirectory.open(dir);
        Tensor t = d.get("a");
        d.close();
        d.close();
        assertThrows(IllegalStateException.class, () -> all(t));
        assertThrows(IllegalStateException.class, () -> d.find("c"));
    }
}
