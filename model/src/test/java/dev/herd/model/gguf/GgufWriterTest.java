package dev.herd.model.gguf;

import dev.herd.kernels.DType;
import dev.herd.kernels.Dequant;
import dev.herd.kernels.Quantize;
import dev.herd.kernels.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GgufWriterTest {
    @TempDir
    Path dir;

    private List<Path> filesInDir() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.toList();
        }
    }

    @Test
    void tensorDataMustFollowDeclarationOrderAndSize() {
        Path p = dir.resolve("m.gguf");
        try (GgufWriter w = GgufWriter.create(p)) {
            w.addTensor("a", DType.F32, 2).addTensor("b", DType.Q8_0, 32);
            IllegalStateException order = assertThrows(IllegalStateException.class, () -> w.writeTensor("b", new byte[34]));
            assertTrue(order.getMessage().contains("'a' is due next"), order.getMessage());
            assertThrows(IllegalStateException.class, () -> w.writeTensor("c", new byte[8]));
            IllegalArgumentException size = assertThrows(IllegalArgumentException.class, () -> w.writeTensor("a", new byte[7]));
            assertTrue(size.getMessage().contains("8 bytes"), size.getMessage());
            assertThrows(IllegalArgumentException.class, () -> w.writeTensor("a", new float[3]));
            // after refused calls the writer is still usable
            w.writeTensor("a", new float[] {1, 2});
            assertThrows(IllegalStateException.class, () -> w.putString("late", "x"));
            assertThrows(IllegalStateException.class, () -> w.addTensor("late", DType.F32, 1));
            w.writeTensor("b", new float[32]);
            assertThrows(IllegalStateException.class, () -> w.writeTensor("b", new float[32]));
        }
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals(List.of("a", "b"), List.copyOf(f.names()));
        }
    }

    @Test
    void anUnfinishedFileIsDeletedAndAnOldOneKept() throws IOException {
        Path p = dir.resolve("m.gguf");
        Files.writeString(p, "old");
        GgufWriter w = GgufWriter.create(p);
        w.addTensor("a", DType.F32, 2).addTensor("b", DType.F32, 2);
        w.writeTensor("a", new float[2]);
        IllegalStateException e = assertThrows(IllegalStateException.class, w::close);
        assertTrue(e.getMessage().contains("'b'"), e.getMessage());
        assertEquals("old", Files.readString(p));
        assertEquals(List.of(p), filesInDir());
        w.close(); // closing again does nothing
    }

    @Test
    void aFailingRowSourceLeavesNothingBehind() throws IOException {
        Path p = dir.resolve("m.gguf");
        RuntimeException boom = new RuntimeException("generator failed");
        GgufWriter w = GgufWriter.create(p);
        w.addTensor("a", DType.Q8_0, 4, 32);
        assertThrows(RuntimeException.class, () -> w.writeTensor("a", (row, out) -> {
            if (row == 2) {
                throw boom;
            }
        }));
        w.close(); // the failure was already reported: no second exception
        assertFalse(Files.exists(p));
        assertEquals(List.of(), filesInDir());
    }

    @Test
    void refusesWhatGgufCannotHold() {
        try (GgufWriter w = GgufWriter.create(dir.resolve("m.gguf"))) {
            assertThrows(IllegalArgumentException.class, () -> w.addTensor("x".repeat(64), DType.F32, 1));
            w.addTensor("x".repeat(63), DType.F32, 1);
            assertThrows(IllegalArgumentException.class, () -> w.addTensor("", DType.F32, 1));
            assertThrows(IllegalArgumentException.class, () -> w.addTensor("fp8", DType.F8_E4M3, 4));
            assertThrows(IllegalArgumentException.class, () -> w.addTensor("q", DType.Q4_K, 128));
            assertThrows(IllegalArgumentException.class, () -> w.addTensor("five", DType.F32, 1, 1, 1, 1, 1));
            assertThrows(IllegalArgumentException.class, () -> w.addTensor("zero", DType.F32, 4, 0));
            assertThrows(IllegalArgumentException.class, () -> w.addTensor("x".repeat(63), DType.F32, 1));
            assertThrows(IllegalArgumentException.class, () -> w.putUInt8("u8", 256));
            assertThrows(IllegalArgumentException.class, () -> w.putInt8("i8", -129));
            assertThrows(IllegalArgumentException.class, () -> w.putUInt32("u32", -1));
            assertThrows(IllegalArgumentException.class, () -> w.put("s", GgufType.STRING, 5));
            assertThrows(IllegalArgumentException.class, () -> w.put("n", GgufType.INT32, 1.5));
            assertThrows(IllegalArgumentException.class, () -> w.put("general.alignment", GgufType.INT32, 64));
            assertThrows(IllegalStateException.class, () -> w.alignment(64)); // after a tensor
            w.putString("k", "v");
            assertThrows(IllegalArgumentException.class, () -> w.putString("k", "again"));
            assertThrows(IllegalArgumentException.class, () -> w.putString("", "v"));
            w.writeTensor("x".repeat(63), new float[1]);
        }
        try (GgufWriter w = GgufWriter.create(dir.resolve("n.gguf"))) {
            assertThrows(IllegalArgumentException.class, () -> w.alignment(48));
        }
    }

    @Test
    void streamsLargeTensorsRowByRow() throws IOException {
        int rows = 1024;
        int cols = 2048;
        Path p = dir.resolve("big.gguf");
        try (GgufWriter w = GgufWriter.create(p)) {
            w.addTensor("w", DType.Q8_0, rows, cols);
            w.writeTensor("w", (row, out) -> fill(row, out));
        }
        assertEquals(DType.Q8_0.byteSize((long) rows * cols), Files.size(p) - headerBytes(p));
        try (GgufFile f = GgufFile.open(p)) {
            Tensor t = f.get("w");
            for (long r : new long[] {0, 517, rows - 1}) {
                float[] x = new float[cols];
                fill(r, x);
                float[] expected = new float[cols];
                Tensor alone = new Tensor("r", DType.Q8_0, new long[] {cols},
                        java.lang.foreign.MemorySegment.ofArray(Quantize.quantize(DType.Q8_0, x)));
                Dequant.row(alone, 0, expected, 0);
                float[] got = new float[cols];
                Dequant.row(t, r, got, 0);
                assertArrayEquals(expected, got, "row " + r);
            }
        }
    }

    private static void fill(long row, float[] out) {
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) Math.sin(row * 0.001 + i * 0.37);
        }
    }

    private static long headerBytes(Path p) {
        try (GgufFile f = GgufFile.open(p)) {
            return f.dataOffset();
        }
    }
}
