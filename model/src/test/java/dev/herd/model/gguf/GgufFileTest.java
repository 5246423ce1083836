package dev.herd.model.gguf;

import dev.herd.kernels.DType;
import dev.herd.kernels.Dequant;
import dev.herd.kernels.Quantize;
import dev.herd.kernels.Tensor;
import dev.herd.model.weights.ModelFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

class GgufFileTest {
    private static final int F32 = 0;
    private static final int Q8_0 = 8;
    private static final int Q4_K = 12;

    @TempDir
    Path dir;

    private static byte[] segmentBytes(Tensor t) {
        return t.data().toArray(ValueLayout.JAVA_BYTE);
    }

    private static byte[] randomBytes(Random r, long n) {
        byte[] b = new byte[Math.toIntExact(n)];
        r.nextBytes(b);
        return b;
    }

    // ---- reading what the format description says ----

    @Test
    void readsAHandAssembledFile() {
        // version 3, 2 tensors, 3 entries, alignment 64:
        //   "a": F32, ne = [4, 2] -> shape (2, 4), at data offset 0 (32 bytes)
        //   "b": Q8_0, ne = [32]  -> shape (32),  at data offset 64 (34 bytes)
        RawGguf g = new RawGguf().header(3, 2, 3)
                .kvString("general.architecture", "llama")
                .kvU32("general.alignment", 64)
                .str("ids").u32(9).u32(5).u64(3).u32(7).u32(-1).u32(0x7FFFFFFF)
                .tensor("a", F32, 0, 4, 2)
                .tensor("b", Q8_0, 64, 32);
        g.padTo(64);
        long dataStart = g.size();
        for (int i = 0; i < 8; i++) {
            g.f32(i * 1.5f);
        }
        g.zeros(32);
        g.bytes((byte) 0x00, (byte) 0x38); // d = 0.5
        for (int i = 0; i < 32; i++) {
            g.u8(i - 16);
        }
        Path p = g.write(dir.resolve("hand.gguf"));

        try (GgufFile f = GgufFile.open(p)) {
            assertEquals(3, f.version());
            assertEquals(64, f.alignment());
            assertEquals(dataStart, f.dataOffset());
            assertEquals(0, f.dataOffset() % 64);
            assertEquals("llama", f.getString("general.architecture"));
            assertArrayEquals(new int[] {7, -1, 0x7FFFFFFF}, f.getIntArray("ids"));
            assertEquals(List.of("a", "b"), List.copyOf(f.names()));

            Tensor a = f.get("a");
            assertEquals(DType.F32, a.dtype());
            assertArrayEquals(new long[] {2, 4}, a.shape());
            float[] row1 = new float[4];
            Dequant.row(a, 1, row1, 0);
            assertArrayEquals(new float[] {6f, 7.5f, 9f, 10.5f}, row1); // elements 4..7 of i * 1.5

            Tensor b = f.get("b");
            assertEquals(DType.Q8_0, b.dtype());
            assertArrayEquals(new long[] {32}, b.shape());
            float[] v = new float[32];
            Dequant.row(b, 0, v, 0);
            assertEquals(-8f, v[0]);  // 0.5 * -16
            assertEquals(7.5f, v[31]); // 0.5 * 15
            assertTrue(f.find("c").isEmpty());
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> f.get("c"));
            assertTrue(e.getMessage().contains(p.toString()) && e.getMessage().contains("'c'"), e.getMessage());
        }
    }

    @Test
    void readsVersion2AndFilesWithoutTensors() {
        Path p = new RawGguf().header(2, 0, 1).kvString("k", "v").write(dir.resolve("v2.gguf"));
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals(2, f.version());
            assertEquals("v", f.getString("k"));
            assertTrue(f.names().isEmpty());
        }
    }

    // ---- writer -> reader round trips ----

    @Test
    void metadataOfEveryTypeRoundTrips() {
        Path p = dir.resolve("meta.gguf");
        try (GgufWriter w = GgufWriter.create(p)) {
            w.putUInt8("u8", 200).putInt8("i8", -100).putUInt16("u16", 60000).putInt16("i16", -30000)
                    .putUInt32("u32", 4_000_000_000L).putInt32("i32", -2_000_000_000).putUInt64("u64", -1L)
                    .putInt64("i64", Long.MIN_VALUE).putFloat32("f32", 0.1f).putFloat64("f64", Math.PI)
                    .putBool("yes", true).putBool("no", false).putString("s", "héllo ☃ 日本").putString("empty", "")
                    .putStringArray("tokens", List.of("a", "", "<0x0A>", "Ġhello", "日本語"))
                    .putInt32Array("types", 1, -2, 3)
                    .putFloat32Array("scores", 0.5f, -1.25f, Float.NEGATIVE_INFINITY)
                    .putArray("a_u8", GgufArray.ofIntegers(GgufType.UINT8, 0, 255))
                    .putArray("a_i8", GgufArray.ofIntegers(GgufType.INT8, -128, 127))
                    .putArray("a_u16", GgufArray.ofIntegers(GgufType.UINT16, 65535))
                    .putArray("a_i16", GgufArray.ofIntegers(GgufType.INT16, -32768))
                    .putArray("a_u32", GgufArray.ofIntegers(GgufType.UINT32, 4_294_967_295L))
                    .putArray("a_u64", GgufArray.ofIntegers(GgufType.UINT64, -1L, 5))
                    .putArray("a_i64", GgufArray.ofIntegers(GgufType.INT64, Long.MAX_VALUE))
                    .putArray("a_f64", GgufArray.ofFloat64(1e300, -0.0))
                    .putArray("a_bool", GgufArray.ofBool(true, false, true))
                    .putArray("a_empty", GgufArray.ofStrings(List.of()));
        }
        try (GgufFile f = GgufFile.open(p)) {
            Map<String, Object> m = f.metadata();
            assertEquals(List.of("u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64", "yes", "no", "s",
                    "empty", "tokens", "types", "scores", "a_u8", "a_i8", "a_u16", "a_i16", "a_u32", "a_u64", "a_i64",
                    "a_f64", "a_bool", "a_empty"), List.copyOf(m.keySet()));
            assertEquals(Optional.of(GgufType.UINT8), f.type("u8"));
            assertEquals(Optional.of(GgufType.INT16), f.type("i16"));
            assertEquals(Optional.of(GgufType.UINT64), f.type("u64"));
            assertEquals(Optional.of(GgufType.ARRAY), f.type("tokens"));
            assertEquals(Optional.empty(), f.type("nope"));
            assertEquals(200L, m.get("u8"));
            assertEquals(200, f.getInt("u8"));
            assertEquals(-100, f.getInt("i8"));
            assertEquals(60000, f.getInt("u16"));
            assertEquals(-30000, f.getInt("i16"));
            assertEquals(4_000_000_000L, f.getLong("u32"));
            assertEquals(-2_000_000_000, f.getInt("i32"));
            assertEquals(-1L, m.get("u64")); // UINT64 keeps its 64 bits
            assertEquals(Long.MIN_VALUE, f.getLong("i64"));
            assertEquals(0.1f, f.getFloat("f32"));
            assertEquals(0.1f, m.get("f32"));
            assertEquals(Math.PI, f.getDouble("f64"));
            assertEquals(4e9, f.getDouble("u32"));
            assertEquals(0x1p64 - 1, f.getDouble("u64"));
            assertTrue(f.getBool("yes"));
            assertFalse(f.getBool("no"));
            assertEquals("héllo ☃ 日本", f.getString("s"));
            assertEquals("", f.getString("empty"));
            assertEquals(List.of("a", "", "<0x0A>", "Ġhello", "日本語"), f.getStringList("tokens"));
            assertArrayEquals(new int[] {1, -2, 3}, f.getIntArray("types"));
            assertArrayEquals(new float[] {0.5f, -1.25f, Float.NEGATIVE_INFINITY}, f.getFloatArray("scores"));
            assertArrayEquals(new long[] {0, 255}, f.getLongArray("a_u8"));
            assertArrayEquals(new int[] {-128, 127}, f.getIntArray("a_i8"));
            assertArrayEquals(new int[] {65535}, f.getIntArray("a_u16"));
            assertArrayEquals(new int[] {-32768}, f.getIntArray("a_i16"));
            assertArrayEquals(new long[] {4_294_967_295L}, f.getLongArray("a_u32"));
            assertArrayEquals(new long[] {-1L, 5}, f.getLongArray("a_u64"));
            assertArrayEquals(new long[] {Long.MAX_VALUE}, f.getLongArray("a_i64"));
            assertArrayEquals(new double[] {1e300, -0.0}, f.getArray("a_f64").doubles());
            assertArrayEquals(new boolean[] {true, false, true}, f.getArray("a_bool").booleans());
            assertEquals(GgufType.STRING, f.getArray("a_empty").elementType());
            assertEquals(List.of(), f.getStringList("a_empty"));
            assertEquals(GgufArray.ofIntegers(GgufType.UINT16, 65535), m.get("a_u16"));
        }
    }

    @Test
    void metadataCopiesThroughTheGenericPut() {
        Path first = dir.resolve("first.gguf");
        try (GgufWriter w = GgufWriter.create(first)) {
            w.putUInt16("a", 7).putFloat64("b", 2.5).putArray("c", GgufArray.ofStrings("x", "y")).putUInt64("d", -5);
        }
        Path second = dir.resolve("second.gguf");
        try (GgufFile f = GgufFile.open(first); GgufWriter w = GgufWriter.create(second)) {
            for (String key : f.metadata().keySet()) {
                w.put(key, f.type(key).orElseThrow(), f.metadata().get(key));
            }
        }
        try (GgufFile a = GgufFile.open(first); GgufFile b = GgufFile.open(second)) {
            assertEquals(a.metadata(), b.metadata());
        }
        assertArrayEquals(bytes(first), bytes(second));
    }

    @Test
    void tensorsOfEveryTypeRoundTrip() {
        Random r = new Random(1);
        Object[][] specs = {
            {"f32", DType.F32, new long[] {3, 5}},
            {"f16", DType.F16, new long[] {7}},
            {"bf16", DType.BF16, new long[] {2, 3, 4}},
            {"q8_0", DType.Q8_0, new long[] {5, 64}},
            {"q4_0", DType.Q4_0, new long[] {2, 1, 3, 32}},
            {"q4_k", DType.Q4_K, new long[] {3, 512}},
            {"q6_k", DType.Q6_K, new long[] {2, 256}},
        };
        List<byte[]> data = new ArrayList<>();
        Path p = dir.resolve("tensors.gguf");
        try (GgufWriter w = GgufWriter.create(p)) {
            w.putString("general.architecture", "test");
            for (Object[] s : specs) {
                DType type = (DType) s[1];
                long[] shape = (long[]) s[2];
                w.addTensor((String) s[0], type, shape);
                data.add(randomBytes(r, type.byteSize(Arrays.stream(shape).reduce(1, Math::multiplyExact))));
            }
            for (int i = 0; i < specs.length; i++) {
                if (i % 2 == 0) {
                    w.writeTensor((String) specs[i][0], data.get(i));
                } else {
                    w.writeTensor((String) specs[i][0], MemorySegment.ofArray(data.get(i)));
                }
            }
        }
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals(Arrays.stream(specs).map(s -> (String) s[0]).toList(), List.copyOf(f.names()));
            for (int i = 0; i < specs.length; i++) {
                Tensor t = f.get((String) specs[i][0]);
                assertEquals(specs[i][1], t.dtype());
                assertArrayEquals((long[]) specs[i][2], t.shape());
                assertArrayEquals(data.get(i), segmentBytes(t), t.name());
                assertEquals(0, (t.data().address() - f.dataOffset()) % 32);
            }
        }
        // the file stores ne innermost first: bf16 (2, 3, 4) has ne = [4, 3, 2]
        byte[] raw = bytes(p);
        int at = indexOf(raw, "bf16".getBytes()) + 4;
        ByteBuffer b = ByteBuffer.wrap(raw, at, 4 + 24).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(3, b.getInt());
        assertEquals(4, b.getLong());
        assertEquals(3, b.getLong());
        assertEquals(2, b.getLong());
    }

    @Test
    void f32DataIsQuantizedToTheDeclaredType() {
        Random r = new Random(2);
        int rows = 3;
        int cols = 256;
        float[] x = new float[rows * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        DType[] types = {DType.F32, DType.F16, DType.BF16, DType.Q8_0, DType.Q4_0, DType.Q4_K, DType.Q6_K};
        Path p = dir.resolve("quantized.gguf");
        try (GgufWriter w = GgufWriter.create(p)) {
            for (DType t : types) {
                w.addTensor("from_array." + t, t, rows, cols);
                w.addTensor("from_rows." + t, t, rows, cols);
            }
            for (DType t : types) {
                w.writeTensor("from_array." + t, x);
                w.writeTensor("from_rows." + t, (row, out) -> System.arraycopy(x, (int) row * cols, out, 0, cols));
            }
        }
        try (GgufFile f = GgufFile.open(p)) {
            for (DType t : types) {
                byte[] expected = Quantize.quantize(t, x);
                assertArrayEquals(expected, segmentBytes(f.get("from_array." + t)), t.toString());
                assertArrayEquals(expected, segmentBytes(f.get("from_rows." + t)), t.toString());
            }
        }
    }

    @Test
    void writerHonoursTheAlignmentAndPadsLikeGgml() {
        Path p = dir.resolve("aligned.gguf");
        try (GgufWriter w = GgufWriter.create(p)) {
            w.alignment(256).putString("general.name", "x");
            w.addTensor("one", DType.F32, 3).addTensor("two", DType.F16, 5);
            w.writeTensor("one", new float[] {1, 2, 3});
            w.writeTensor("two", new float[] {1, 2, 3, 4, 5});
        }
        byte[] raw = bytes(p);
        ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals('G', b.get(0));
        assertEquals('F', b.get(3));
        assertEquals(3, b.getInt(4));   // version
        assertEquals(2, b.getLong(8));  // tensors
        assertEquals(2, b.getLong(16)); // general.alignment and general.name
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals(256, f.alignment());
            assertEquals(Optional.of(GgufType.UINT32), f.type("general.alignment"));
            assertEquals(0, f.dataOffset() % 256);
            // "one" at data offset 0 (12 bytes), "two" at the next multiple of 256, and the file padded after it
            assertEquals(1f, b.getFloat((int) f.dataOffset()));
            assertEquals(Float.floatToFloat16(1f), b.getShort((int) f.dataOffset() + 256));
            assertEquals(f.dataOffset() + 512, raw.length);
            for (int i = 12; i < 256; i++) {
                assertEquals(0, raw[(int) f.dataOffset() + i]);
            }
        }
    }

    // ---- typed getters ----

    @Test
    void gettersNameTheFileAndKeyWhenMissingOrMistyped() {
        Path p = dir.resolve("getters.gguf");
        try (GgufWriter w = GgufWriter.create(p)) {
            w.putString("s", "text").putUInt32("big", 4_000_000_000L).putUInt64("huge", -1L).putInt32("n", 5)
                    .putStringArray("words", List.of("a")).putArray("wide", GgufArray.ofIntegers(GgufType.INT64, 1L << 40));
        }
        try (GgufFile f = GgufFile.open(p)) {
            assertMessage(() -> f.getString("absent"), p, "'absent'");
            assertMessage(() -> f.getInt("s"), p, "'s'", "STRING");
            assertMessage(() -> f.getString("n"), p, "'n'", "INT32");
            assertMessage(() -> f.getInt("big"), p, "'big'", "4000000000");
            assertMessage(() -> f.getLong("huge"), p, "'huge'", "18446744073709551615");
            assertMessage(() -> f.getBool("n"), p, "'n'");
            assertMessage(() -> f.getStringList("s"), p, "'s'");
            assertMessage(() -> f.getIntArray("words"), p, "'words'", "STRING");
            assertMessage(() -> f.getIntArray("wide"), p, "'wide'", "1099511627776");
            assertMessage(() -> f.getFloatArray("words"), p, "'words'");
            // a present key of the wrong type is an error even where a default is offered
            assertMessage(() -> f.getInt("s", 3), p, "'s'");
            assertMessage(() -> f.findString("n"), p, "'n'");

            assertEquals(3, f.getInt("absent", 3));
            assertEquals(Optional.empty(), f.findInt("absent"));
            assertEquals(Optional.of(5), f.findInt("n"));
            assertEquals(5f, f.getFloat("n"));
            assertEquals(5L, f.getLong("n"));
            assertEquals("dflt", f.getString("absent", "dflt"));
            assertTrue(f.findStringList("absent").isEmpty());
            assertArrayEquals(new long[] {1L << 40}, f.getLongArray("wide"));
            assertArrayEquals(new float[] {0x1p40f}, f.getFloatArray("wide"));
        }
    }

    // ---- malformed files ----

    private static void assertMessage(Executable e, Path file, String... parts) {
        ModelFormatException ex = assertThrows(ModelFormatException.class, e);
        assertTrue(ex.getMessage().contains(file.toString()), "message names the file: " + ex.getMessage());
        for (String part : parts) {
            assertTrue(ex.getMessage().contains(part), "message contains '" + part + "': " + ex.getMessage());
        }
    }

    private void assertRefused(RawGguf g, String name, String... parts) {
        Path p = g.write(dir.resolve(name + ".gguf"));
        assertMessage(() -> GgufFile.open(p).close(), p, parts);
    }

    /** Version 3, the given tensor descriptions after one metadata entry, then {@code dataBytes} of data. */
    private static RawGguf withTensors(int dataBytes, Object[]... tensors) {
        RawGguf g = new RawGguf().header(3, tensors.length, 1).kvString("general.architecture", "test");
        for (Object[] t : tensors) {
            g.tensor((String) t[0], (Integer) t[1], (Long) t[2], (long[]) t[3]);
        }
        return g.padTo(32).zeros(dataBytes);
    }

    private static Object[] t(String name, int type, long offset, long... ne) {
        return new Object[] {name, type, offset, ne};
    }

    @Test
    void refusesBadMagicAndVersions() {
        assertRefused(new RawGguf().bytes("GGML".getBytes()).u32(3).u64(0).u64(0), "magic", "not a GGUF file");
        assertRefused(new RawGguf().header(1, 0, 0), "v1", "version 1");
        assertRefused(new RawGguf().header(4, 0, 0), "v4", "version 4");
        assertRefused(new RawGguf().header(0x03000000L, 0, 0), "bigendian", "big-endian");
        assertRefused(new RawGguf(), "empty", "truncated");
        assertRefused(new RawGguf().bytes("GGUF".getBytes()).u32(3).u32(0), "short", "truncated", "tensor count");
    }

    @Test
    void refusesAbsurdCountsAndLengthsWithoutAllocating() {
        assertRefused(new RawGguf().header(3, 1L << 60, 0), "ntensors", "tensor count");
        assertRefused(new RawGguf().header(3, -1, 0), "ntensors_neg", "tensor count 18446744073709551615");
        assertRefused(new RawGguf().header(3, 0, 1L << 40), "nkv", "metadata entry count");
        assertRefused(new RawGguf().header(3, 0, 1).u64(1L << 60).zeros(20), "keylen", "string length");
        assertRefused(new RawGguf().header(3, 0, 1).str("k").u32(8).u64(-2L).zeros(20), "strlen", "'k'", "string length");
        assertRefused(new RawGguf().header(3, 0, 1).str("k").u32(9).u32(8).u64(1L << 59).zeros(64), "arraylen",
                "'k'", "array length");
        assertRefused(new RawGguf().header(3, 0, 1).str("k").u32(9).u32(4).u64(1000).zeros(64), "arraylen2",
                "'k'", "array length");
        assertRefused(new RawGguf().header(3, 0, 1).str("k").u32(9).u32(8).u64(2).str("ok").u64(1L << 50).zeros(8),
                "arraystr", "'k'", "string element 1");
    }

    @Test
    void refusesBadMetadata() {
        assertRefused(new RawGguf().header(3, 0, 1).str("k").u32(13).u32(0), "vtype", "'k'", "unknown value type 13");
        assertRefused(new RawGguf().header(3, 0, 1).str("k").u32(9).u32(9).u64(0).zeros(8), "nested", "'k'", "array of arrays");
        assertRefused(new RawGguf().header(3, 0, 1).str("k").u32(9).u32(77).u64(0).zeros(8), "etype", "'k'", "77");
        assertRefused(new RawGguf().header(3, 0, 2).kvU32("k", 1).kvU32("k", 2), "dupkey", "'k'", "twice");
        assertRefused(new RawGguf().header(3, 0, 1).kvU32("", 1), "emptykey", "empty key");
        assertRefused(new RawGguf().header(3, 0, 1).kvU32("general.alignment", 48), "align", "general.alignment", "48");
        assertRefused(new RawGguf().header(3, 0, 1).kvU32("general.alignment", 0), "align0", "general.alignment");
        assertRefused(new RawGguf().header(3, 0, 1).kvString("general.alignment", "32"), "alignstr", "general.alignment");
        assertRefused(new RawGguf().header(3, 0, 1).str("k").u32(4).u8(1), "trunc", "'k'", "truncated");
    }

    @Test
    void refusesBadTensorDescriptions() {
        assertRefused(withTensors(64, t("w", 13, 0L, 256)), "q5k", "'w'", "13", "Q5_K");
        assertRefused(withTensors(64, t("w", 99, 0L, 32)), "type99", "'w'", "99");
        assertRefused(withTensors(64, t("w", 2, 0L, 256), t("w", 2, 160L, 32)), "dupname", "'w'", "twice");
        assertRefused(withTensors(256, t("w", Q4_K, 0L, 100)), "rowlen", "'w'", "100", "256");
        assertRefused(withTensors(64, t("w", F32, 0L, 2, 2, 2, 2, 1)), "dims", "'w'", "5 dimensions");
        assertRefused(withTensors(64, t("w", F32, 0L, 4, 0)), "zerodim", "'w'", "dimension 1");
        assertRefused(withTensors(64, t("w", F32, 0L, 1L << 40, 1L << 40)), "overflow", "'w'");
        assertRefused(withTensors(64, t("", F32, 0L, 4)), "noname", "empty name");
    }

    @Test
    void refusesTensorDataOutsideTheFileMisalignedOrOverlapping() {
        // F32 [8] is 32 bytes
        assertRefused(withTensors(31, t("w", F32, 0L, 8)), "pasteof", "'w'", "past the end");
        assertRefused(withTensors(64, t("w", F32, 64L, 8)), "pasteof2", "'w'", "past the end");
        assertRefused(withTensors(64, t("w", F32, -32L, 8)), "negoff", "'w'");
        assertRefused(withTensors(128, t("w", F32, 16L, 8)), "misaligned", "'w'", "alignment 32");
        assertRefused(withTensors(128, t("a", F32, 0L, 16), t("b", F32, 32L, 8)), "overlap", "'a'", "'b'", "overlap");
        assertRefused(withTensors(128, t("a", F32, 64L, 8), t("b", F32, 32L, 16)), "overlap2", "'a'", "'b'", "overlap");
        // in order, touching, and a gap are all fine
        Path ok = withTensors(128, t("a", F32, 0L, 8), t("b", F32, 32L, 8), t("c", F32, 96L, 8)).write(dir.resolve("ok.gguf"));
        try (GgufFile f = GgufFile.open(ok)) {
            assertEquals(3, f.names().size());
        }
    }

    // ---- truncation and corruption ----

    private Path richFile(String name) {
        Path p = dir.resolve(name);
        Random r = new Random(5);
        try (GgufWriter w = GgufWriter.create(p)) {
            w.putString("general.architecture", "llama").putUInt32("llama.block_count", 2).putFloat32("eps", 1e-5f)
                    .putStringArray("tokenizer.ggml.tokens", List.of("<s>", "</s>", "a", "bc", "déf"))
                    .putFloat32Array("tokenizer.ggml.scores", 0, 0, -1, -2, -3).putInt32Array("tokenizer.ggml.token_type", 3, 3, 1, 1, 1)
                    .putBool("flag", true).putFloat64("theta", 1e6);
            w.addTensor("tok_embd", DType.F16, 5, 32).addTensor("blk.0.q", DType.Q8_0, 2, 64)
                    .addTensor("blk.0.k", DType.Q4_K, 256).addTensor("out", DType.Q6_K, 256);
            w.writeTensor("tok_embd", randomBytes(r, 320));
            w.writeTensor("blk.0.q", randomBytes(r, 136));
            w.writeTensor("blk.0.k", randomBytes(r, 144));
            w.writeTensor("out", randomBytes(r, 210));
        }
        return p;
    }

    @Test
    void everyTruncationIsRefusedCleanly() throws IOException {
        Path full = richFile("full.gguf");
        byte[] bytes = bytes(full);
        long dataOffset;
        long lastEnd;
        try (GgufFile f = GgufFile.open(full)) {
            dataOffset = f.dataOffset();
            // "out" is the last tensor, Q6_K of one block: it ends 210 bytes after it starts
            lastEnd = dataOffset + (f.get("out").data().address() - f.tensors().getFirst().data().address()) + 210;
        }
        assertTrue(lastEnd < bytes.length, "the file ends in padding");
        Path cut = dir.resolve("cut.gguf");
        int checked = 0;
        // every length through the header and into the data, then every fifth, and every one around the end
        for (int n = 0; n < bytes.length; n += n < dataOffset + 64 || n >= lastEnd - 8 ? 1 : 5) {
            Files.write(cut, Arrays.copyOf(bytes, n));
            if (n < lastEnd) {
                int len = n;
                ModelFormatException e = assertThrows(ModelFormatException.class, () -> GgufFile.open(cut).close(),
                        "truncated to " + len + " bytes");
                assertTrue(e.getMessage().startsWith(cut.toString()), e.getMessage());
            } else {
                // only the zero padding after the last tensor is missing: the data is all there
                try (GgufFile f = GgufFile.open(cut)) {
                    assertEquals(4, f.names().size());
                }
            }
            checked++;
        }
        assertTrue(checked > dataOffset, "swept " + checked + " lengths");
    }

    @Test
    void corruptedHeadersAreRefusedOrRead() {
        byte[] bytes = bytes(richFile("full.gguf"));
        int headerEnd;
        try (GgufFile f = GgufFile.open(dir.resolve("full.gguf"))) {
            headerEnd = (int) f.dataOffset();
        }
        Random r = new Random(6);
        Path bad = dir.resolve("bad.gguf");
        int refused = 0;
        for (int i = 0; i < 600; i++) {
            byte[] b = bytes.clone();
            for (int k = 1 + r.nextInt(3); k > 0; k--) {
                int at = r.nextInt(headerEnd);
                b[at] = switch (r.nextInt(3)) {
                    case 0 -> (byte) r.nextInt();
                    case 1 -> (byte) (b[at] ^ (1 << r.nextInt(8)));
                    default -> (byte) 0xFF;
                };
            }
            try {
                Files.write(bad, b);
                try (GgufFile f = GgufFile.open(bad)) {
                    for (Tensor t : f.tensors()) {
                        assertTrue(t.data().byteSize() > 0);
                    }
                }
            } catch (ModelFormatException e) {
                refused++;
                assertTrue(e.getMessage().startsWith(bad.toString()), e.getMessage());
            } catch (IOException e) {
                fail(e);
            }
        }
        assertTrue(refused > 300, "most corruptions are caught: " + refused);
    }

    // ---- lifetime ----

    @Test
    void closingUnmaps() {
        Path p = richFile("life.gguf");
        GgufFile f = GgufFile.open(p);
        Tensor t = f.get("out");
        assertEquals(210, segmentBytes(t).length);
        f.close();
        f.close(); // twice is fine
        assertThrows(IllegalStateException.class, () -> t.data().get(ValueLayout.JAVA_BYTE, 0));
        assertThrows(IllegalStateException.class, () -> f.find("out"));
        assertEquals(List.of("<s>", "</s>", "a", "bc", "déf"), f.getStringList("tokenizer.ggml.tokens"));
    }

    @Test
    void aMissingFileIsAnIoError() {
        assertThrows(java.io.UncheckedIOException.class, () -> GgufFile.open(dir.resolve("absent.gguf")));
    }

    private static byte[] bytes(Path p) {
        try {
            return Files.readAllBytes(p);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
