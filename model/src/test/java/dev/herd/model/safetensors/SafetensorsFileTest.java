package dev.herd.model.safetensors;

import dev.herd.kernels.DType;
import dev.herd.kernels.Tensor;
import dev.herd.model.weights.ModelFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

import static dev.herd.model.safetensors.HandMade.f32;
import static dev.herd.model.safetensors.HandMade.row;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsFileTest {
    /**
     * A file written by the reference implementation (huggingface safetensors 0.8.0, Python binding), from
     * these raw little-endian bytes, with metadata {"format": "pt"}:
     * <pre>
     *   b.weight    BF16    [2,2] bits 3F80 C040 3E80 4049   (1, -3, 0.25, 3.140625)
     *   a.f16       F16     [3]   bits 3C00 C000 3555        (1, -2, 0.333251953125)
     *   z.f32       F32     []    1.5
     *   pos_ids     I64     [2]   7, 9
     *   w.fp8       F8_E4M3 [2,2] bytes 38 B8 7E 01          (1, -1, 448, 2^-9)
     *   w.fp8_scale F32     [2,1] 0.5, 2.0
     * </pre>
     * with {@code safetensors.serialize({name: TensorSpec(dtype=..., shape=..., data_ptr=..., data_len=...)},
     * {"format": "pt"})}.
     */
    static final String REFERENCE_FILE = """
            98010000000000007b225f5f6d657461646174615f5f223a7b22666f726d6174223a227074227d2c22706f735f696473
            223a7b226474797065223a22493634222c227368617065223a5b325d2c22646174615f6f666673657473223a5b302c31
            365d7d2c22772e6670385f7363616c65223a7b226474797065223a22463332222c227368617065223a5b322c315d2c22
            646174615f6f666673657473223a5b31362c32345d7d2c227a2e663332223a7b226474797065223a22463332222c2273
            68617065223a5b5d2c22646174615f6f666673657473223a5b32342c32385d7d2c22622e776569676874223a7b226474
            797065223a2242463136222c227368617065223a5b322c325d2c22646174615f6f666673657473223a5b32382c33365d
            7d2c22612e663136223a7b226474797065223a22463136222c227368617065223a5b335d2c22646174615f6f66667365
            7473223a5b33362c34325d7d2c22772e667038223a7b226474797065223a2246385f45344d33222c227368617065223a
            5b322c325d2c22646174615f6f666673657473223a5b34322c34365d7d7d202007000000000000000900000000000000
            0000003f000000400000c03f803f40c0803e4940003c00c0553538b87e01""";

    @TempDir
    Path dir;

    static Path referenceFile(Path dir) throws Exception {
        return Files.write(dir.resolve("reference.safetensors"), HandMade.hex(REFERENCE_FILE));
    }

    @Test
    void readsTheReferenceImplementationsFile() throws Exception {
        try (SafetensorsFile f = SafetensorsFile.open(referenceFile(dir))) {
            assertEquals(Set.of("b.weight", "a.f16", "z.f32", "pos_ids", "w.fp8", "w.fp8_scale"), f.names());
            assertEquals(Map.of("format", "pt"), f.metadata());
            assertEquals(0, f.header().dataStart() % 8, "reference pads the header to 8 bytes");

            Tensor b = f.get("b.weight");
            assertEquals(DType.BF16, b.dtype());
            assertArrayEquals(new long[] {2, 2}, b.shape());
            assertArrayEquals(new float[] {1f, -3f}, row(b, 0));
            assertArrayEquals(new float[] {0.25f, 3.140625f}, row(b, 1));

            Tensor a = f.get("a.f16");
            assertEquals(DType.F16, a.dtype());
            assertArrayEquals(new float[] {1f, -2f, 0.333251953125f}, row(a, 0));

            Tensor z = f.get("z.f32");
            assertEquals(0, z.rank());
            assertEquals(1.5f, z.data().get(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0));

            // per-row scale (rows, 1), multiplied: row 0 by 0.5, row 1 by 2
            Tensor w = f.get("w.fp8");
            assertEquals(DType.F8_E4M3, w.dtype());
            assertArrayEquals(new float[] {0.5f, -0.5f}, row(w, 0));
            assertArrayEquals(new float[] {896f, 0x1p-8f}, row(w, 1));

            TensorEntry ids = f.entry("pos_ids").orElseThrow();
            assertEquals("I64", ids.dtype());
            assertArrayEquals(new long[] {2}, ids.shape());
            assertEquals(16, ids.byteSize());
            assertArrayEquals(HandMade.u8(7, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0),
                    f.bytes("pos_ids").orElseThrow().toArray(ValueLayout.JAVA_BYTE), "raw bytes of any dtype");
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> f.find("pos_ids"));
            assertTrue(e.getMessage().contains("pos_ids") && e.getMessage().contains("I64")
                    && e.getMessage().contains("reference.safetensors"), e.getMessage());

            assertTrue(f.find("no.such").isEmpty());
            ModelFormatException missing = assertThrows(ModelFormatException.class, () -> f.get("no.such"));
            assertTrue(missing.getMessage().contains("no.such"), missing.getMessage());
        }
    }

    @Test
    void headerOnlyReadAgreesWithTheMappedFile() throws Exception {
        Path file = referenceFile(dir);
        SafetensorsHeader h = SafetensorsHeader.read(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(f.header().entries(), h.entries());
            assertEquals(f.metadata(), h.metadata());
            assertEquals(f.header().dataStart(), h.dataStart());
        }
    }

    @Test
    void handWrittenHeaderWithGapsAndUnalignedOffsets() {
        // F32 at byte 2 of the buffer (unaligned), a 2-byte gap, then F16; trailing bytes after the last tensor
        String json = "{\"m\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[2,26]},"
                + "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[28,32]}}";
        byte[] data = HandMade.concat(new byte[2], f32(1, 2, 3, -4, 5.5f, 1e-3f), new byte[2],
                HandMade.u16(0x4200, 0xBC00), new byte[5]);
        try (SafetensorsFile f = SafetensorsFile.open(HandMade.file(dir.resolve("gaps.safetensors"), json, data))) {
            Tensor m = f.get("m");
            assertArrayEquals(new float[] {1, 2, 3}, row(m, 0));
            assertArrayEquals(new float[] {-4, 5.5f, 1e-3f}, row(m, 1));
            assertArrayEquals(new float[] {3f, -1f}, row(f.get("h"), 0)); // 0x4200 = 3, 0xBC00 = -1
            assertEquals(Map.of(), f.metadata());
        }
    }

    @Test
    void tensorsAreViewsOfTheMappingNotCopies() throws Exception {
        try (SafetensorsFile f = SafetensorsFile.open(referenceFile(dir))) {
            MemorySegment data = f.get("b.weight").data();
            assertTrue(data.isMapped(), "tensor data must be the mapped file, not a heap copy");
        }
    }

    @Test
    void closeUnmapsAndIsIdempotent() throws Exception {
        SafetensorsFile f = SafetensorsFile.open(referenceFile(dir));
        Tensor b = f.get("b.weight");
        f.close();
        f.close();
        assertThrows(IllegalStateException.class, () -> b.data().get(ValueLayout.JAVA_BYTE, 0));
        assertThrows(IllegalStateException.class, () -> f.find("b.weight"));
    }

    @Test
    void unknownAndUnsupportedDtypesAreNamesOnly() {
        String json = "{\"x\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                + "\"flag\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[8,10]},"
                + "\"e5\":{\"dtype\":\"F8_E5M2\",\"shape\":[2],\"data_offsets\":[10,12]},"
                + "\"odd\":{\"dtype\":\"Q9_X\",\"shape\":[3],\"data_offsets\":[12,15]}}";
        Path p = HandMade.file(dir.resolve("types.safetensors"), json, new byte[15]);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(Set.of("x", "flag", "e5", "odd"), f.names());
            for (String name : f.names()) {
                String dtype = f.entry(name).orElseThrow().dtype();
                ModelFormatException e = assertThrows(ModelFormatException.class, () -> f.find(name));
                assertTrue(e.getMessage().contains("'" + name + "'") && e.getMessage().contains(dtype)
                        && e.getMessage().contains("types.safetensors"), e.getMessage());
            }
        }
    }

    @Test
    void emptyTensorsOpenButCannotBeComputedWith() {
        String json = "{\"none\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
                + "\"one\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        Path p = HandMade.file(dir.resolve("empty.safetensors"), json, f32(7));
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertArrayEquals(new float[] {7}, row(f.get("one"), 0));
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> f.find("none"));
            assertTrue(e.getMessage().contains("'none'") && e.getMessage().contains("no elements"), e.getMessage());
        }
    }

    @Test
    void aMissingFileIsAFormatErrorNamingIt() {
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> SafetensorsFile.open(dir.resolve("absent.safetensors")));
        assertTrue(e.getMessage().contains("absent.safetensors"), e.getMessage());
    }
}
