package dev.herd.model.safetensors;

import dev.herd.kernels.DType;
import dev.herd.kernels.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;

import static dev.herd.model.safetensors.HandMade.all;
import static dev.herd.model.safetensors.HandMade.row;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsWriterTest {
    @TempDir
    Path dir;

    @Test
    void writesTheReferenceImplementationsBytes() throws Exception {
        Path file = dir.resolve("ours.safetensors");
        new SafetensorsWriter()
                .metadata("format", "pt")
                .add("b.weight", DType.BF16, new long[] {2, 2}, new float[] {1, -3, 0.25f, 3.140625f})
                .add("a.f16", DType.F16, new long[] {3}, new float[] {1, -2, 0.333251953125f})
                .add("z.f32", DType.F32, new long[] {}, new float[] {1.5f})
                .addRaw("pos_ids", "I64", new long[] {2}, MemorySegment.ofArray(HandMade.concat(
                        HandMade.u8(7, 0, 0, 0, 0, 0, 0, 0), HandMade.u8(9, 0, 0, 0, 0, 0, 0, 0))))
                .addRaw("w.fp8", "F8_E4M3", new long[] {2, 2}, MemorySegment.ofArray(HandMade.u8(0x38, 0xB8, 0x7E, 0x01)))
                .add("w.fp8_scale", DType.F32, new long[] {2, 1}, new float[] {0.5f, 2f})
                .write(file);
        assertArrayEquals(HandMade.hex(SafetensorsFileTest.REFERENCE_FILE), Files.readAllBytes(file));
    }

    /** Values every one of F32, F16 and BF16 holds exactly (at most 8 significant bits, small exponents). */
    private static float[] exact(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = ((i * 37) % 255 - 127) / 16f;
        }
        return v;
    }

    @Test
    void everyDtypeRoundTripsThroughDequant() {
        long[][] shapes = {{7}, {3, 5}, {2, 3, 4}, {1, 1}};
        SafetensorsWriter w = new SafetensorsWriter();
        for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16}) {
            for (long[] shape : shapes) {
                int n = (int) Stream.of(shape).flatMapToLong(java.util.Arrays::stream).reduce(1, (a, b) -> a * b);
                w.add(t + "." + shape.length + "." + n, t, shape, exact(n));
            }
        }
        Path file = dir.resolve("all.safetensors");
        w.write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(12, f.names().size());
            for (String name : f.names()) {
                Tensor t = f.get(name);
                assertEquals(DType.valueOf(name.substring(0, name.indexOf('.'))), t.dtype());
                assertArrayEquals(exact((int) t.elementCount()), all(t), name);
                long begin = f.entry(name).orElseThrow().begin();
                assertEquals(0, begin % (t.dtype().blockBytes()), name + " starts aligned to its element size");
            }
            assertEquals(0, f.header().headerLength() % 8);
        }
    }

    @Test
    void narrowTypesRoundToNearestEven() {
        Path file = dir.resolve("round.safetensors");
        float[] v = {1 + 0x1p-11f, 1 + 3 * 0x1p-11f, 1 + 0x1p-8f, 1 + 3 * 0x1p-8f};
        new SafetensorsWriter()
                .add("h", DType.F16, new long[] {4}, v)
                .add("b", DType.BF16, new long[] {4}, v)
                .write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            // f16 steps of 2^-10 above 1: ties go to the even neighbour; 1 + 2^-8 is exact in f16
            assertArrayEquals(new float[] {1f, 1 + 0x1p-9f, 1 + 0x1p-8f, 1 + 3 * 0x1p-8f}, row(f.get("h"), 0));
            // bf16 steps of 2^-7: the last two are ties between 1 and 1+2^-7, and 1+2^-7 and 1+2^-6
            assertArrayEquals(new float[] {1f, 1f, 1f, 1 + 0x1p-6f}, row(f.get("b"), 0));
        }
    }

    @Test
    void fp8WithPerRowScale() {
        // rows whose largest magnitude is 1.75 * 2^k: scale = max / 448 = 2^(k-8) and every value below is a
        // multiple of it that E4M3 holds, so dequantizing gives the input back exactly
        float[] v = {
                1.75f, -0.875f, 0.4375f, 0f,
                0f, 0f, 0f, 0f,
                3.5f, 1f, -0.5f, 0.25f};
        Path file = dir.resolve("fp8.safetensors");
        new SafetensorsWriter().addFp8RowScaled("l.weight", new long[] {3, 4}, v).write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            Tensor w = f.get("l.weight");
            assertEquals(DType.F8_E4M3, w.dtype());
            assertArrayEquals(v, all(w));
            Tensor s = f.get("l.weight_scale");
            assertArrayEquals(new long[] {3, 1}, s.shape());
            assertArrayEquals(new float[] {0x1p-8f, 1f, 0x1p-7f}, all(s)); // an all-zero row gets scale 1
            // the stored codes, by hand: 1.75 / 2^-8 = 448 -> 0x7E; -0.875 / 2^-8 = -224 -> 0xF6; 112 -> 0x6E
            assertEquals((byte) 0x7E, w.data().get(ValueLayout.JAVA_BYTE, 0));
            assertEquals((byte) 0xF6, w.data().get(ValueLayout.JAVA_BYTE, 1));
            assertEquals((byte) 0x6E, w.data().get(ValueLayout.JAVA_BYTE, 2));
        }
    }

    @Test
    void fp8WithPartialBlocks() {
        // 5 x 6 in blocks of 4 x 4: each block's maximum is 1.75 * 2^k and the rest are multiples of 2^(k-8)
        float[] base = {1.75f, 0.875f, -0.5f, 0.25f, 1.5f, -1f};
        int[][] exponent = {{0, -3}, {2, 5}};
        float[] v = new float[30];
        for (int r = 0; r < 5; r++) {
            for (int c = 0; c < 6; c++) {
                boolean blockStart = r % 4 == 0 && c % 4 == 0;
                v[r * 6 + c] = Math.scalb(blockStart ? 1.75f : base[(r + c) % base.length], exponent[r / 4][c / 4]);
            }
        }
        Path file = dir.resolve("blocks.safetensors");
        new SafetensorsWriter().addFp8BlockScaled("l.weight", new long[] {5, 6}, v, 4, 4).write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertArrayEquals(new long[] {2, 2}, f.entry("l.weight_scale_inv").orElseThrow().shape());
            assertArrayEquals(v, all(f.get("l.weight")));
        }
    }

    @Test
    void rowSourceStreamsALargeTensor() {
        int n = 1000;
        Path file = dir.resolve("big.safetensors");
        new SafetensorsWriter()
                .add("big", DType.F16, new long[] {n, n}, (r, out) -> {
                    for (int c = 0; c < out.length; c++) {
                        out[c] = (r - c) / 8f; // at most 11 significant bits: exact in f16
                    }
                })
                .write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            Tensor t = f.get("big");
            for (long r : new long[] {0, 1, 517, 999}) {
                float[] got = row(t, r);
                for (int c = 0; c < n; c += 97) {
                    assertEquals((r - c) / 8f, got[c]);
                }
            }
            assertEquals(2L * n * n, t.data().byteSize());
        }
    }

    @Test
    void metadataAndNoTemporaryFileLeft() throws Exception {
        Path file = dir.resolve("meta.safetensors");
        new SafetensorsWriter().metadata("format", "pt").metadata("note", "ü \"quoted\"")
                .add("x", DType.F32, new long[] {1}, new float[] {1}).write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(Map.of("format", "pt", "note", "ü \"quoted\""), f.metadata());
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(1, files.count(), "only the file itself");
        }
    }

    @Test
    void headerLengthFieldAndPadding() throws Exception {
        Path file = dir.resolve("pad.safetensors");
        new SafetensorsWriter().add("ab", DType.F32, new long[] {1}, new float[] {2}).write(file);
        byte[] b = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String json = new String(b, 8, (int) n, java.nio.charset.StandardCharsets.UTF_8);
        // 55 bytes of JSON, padded with one space to 56
        assertEquals("{\"ab\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} ", json);
        assertEquals(8 + n + 4, b.length);
    }

    @Test
    void refusesWhatItCannotWrite() {
        SafetensorsWriter w = new SafetensorsWriter().add("x", DType.F32, new long[] {2}, new float[] {1, 2});
        assertThrows(IllegalArgumentException.class, () -> w.add("x", DType.F32, new long[] {1}, new float[] {1}));
        assertThrows(IllegalArgumentException.class, () -> w.add("y", DType.F32, new long[] {3}, new float[] {1}));
        assertThrows(IllegalArgumentException.class, () -> w.add("q", DType.Q8_0, new long[] {32}, new float[32]));
        assertThrows(IllegalArgumentException.class, () -> w.add("f", DType.F8_E4M3, new long[] {1}, new float[1]));
        assertThrows(IllegalArgumentException.class,
                () -> w.addRaw("r", "I64", new long[] {2}, MemorySegment.ofArray(new byte[15])));
        assertThrows(IllegalArgumentException.class,
                () -> w.addRaw("r", "NOPE", new long[] {1}, MemorySegment.ofArray(new byte[1])));
        assertThrows(IllegalArgumentException.class,
                () -> w.add("__metadata__", DType.F32, new long[] {1}, new float[1]));
        assertFalse(Files.exists(dir.resolve("never.safetensors")));
    }

    @Test
    void aFailingSourceLeavesNoFile() throws Exception {
        Path file = dir.resolve("fail.safetensors");
        SafetensorsWriter w = new SafetensorsWriter().add("x", DType.F32, new long[] {4, 4}, (r, out) -> {
            if (r == 2) {
                throw new IllegalStateException("source failed");
            }
        });
        assertThrows(IllegalStateException.class, () -> w.write(file));
        try (Stream<Path> files = Files.list(dir)) {
            assertTrue(files.findAny().isEmpty(), "neither the file nor its temporary remains");
        }
    }
}
