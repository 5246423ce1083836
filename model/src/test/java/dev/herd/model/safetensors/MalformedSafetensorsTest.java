package dev.herd.model.safetensors;

import dev.herd.model.weights.ModelFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

class MalformedSafetensorsTest {
    @TempDir
    Path dir;

    private ModelFormatException refused(Path file) {
        return assertThrows(ModelFormatException.class, () -> SafetensorsFile.open(file).close());
    }

    private void refused(String json, int dataBytes, String... mentions) {
        Path file = HandMade.file(dir.resolve("bad.safetensors"), json, new byte[dataBytes]);
        ModelFormatException e = refused(file);
        assertTrue(e.getMessage().contains("bad.safetensors"), "names the file: " + e.getMessage());
        for (String m : mentions) {
            assertTrue(e.getMessage().contains(m), "mentions '" + m + "': " + e.getMessage());
        }
    }

    @Test
    void everyTruncationIsAFormatError() throws Exception {
        byte[] whole = HandMade.hex(SafetensorsFileTest.REFERENCE_FILE);
        Path file = dir.resolve("cut.safetensors");
        // the reference file's last tensor ends the file, so every proper prefix is incomplete
        for (int len = 0; len < whole.length; len++) {
            Files.write(file, Arrays.copyOf(whole, len));
            try {
                SafetensorsFile.open(file).close();
                fail("a file cut to " + len + " of " + whole.length + " bytes was accepted");
            } catch (ModelFormatException expected) {
                assertTrue(expected.getMessage().contains("cut.safetensors"), expected.getMessage());
            } catch (RuntimeException other) {
                throw new AssertionError("cut to " + len + " bytes: " + other, other);
            }
        }
    }

    @Test
    void corruptedBytesNeverEscapeAsAnotherException() throws Exception {
        byte[] whole = HandMade.hex(SafetensorsFileTest.REFERENCE_FILE);
        Path file = dir.resolve("flip.safetensors");
        byte[] replacements = {0, (byte) 0xFF, '"', '}', '9', ',', '-'};
        for (int pos = 0; pos < 8 + 0x198; pos++) { // length field and header
            for (byte r : replacements) {
                byte[] b = whole.clone();
                b[pos] = r;
                Files.write(file, b);
                try (SafetensorsFile f = SafetensorsFile.open(file)) {
                    for (String name : f.names()) {
                        try {
                            Optional<?> t = f.find(name);
                            assertTrue(t.isPresent());
                        } catch (ModelFormatException tolerated) {
                            // a corrupted dtype or a lost FP8 scale is refused on access, which is fine
                        }
                    }
                } catch (ModelFormatException tolerated) {
                    // refused at open: fine
                } catch (RuntimeException other) {
                    throw new AssertionError("byte " + pos + " set to " + r + ": " + other, other);
                }
            }
        }
    }

    @Test
    void tooShortForTheLengthField() throws Exception {
        assertTrue(refused(Files.write(dir.resolve("e.safetensors"), new byte[0])).getMessage().contains("too short"));
        assertTrue(refused(Files.write(dir.resolve("s.safetensors"), new byte[7])).getMessage().contains("too short"));
    }

    @Test
    void headerLengthBeyondTheFile() throws Exception {
        byte[] b = ByteBuffer.allocate(8 + 2).order(ByteOrder.LITTLE_ENDIAN).putLong(3).put((byte) '{')
                .put((byte) '}').array();
        ModelFormatException e = refused(Files.write(dir.resolve("long.safetensors"), b));
        assertTrue(e.getMessage().contains("runs past the end"), e.getMessage());
        // a u64 length with its top bit set must not be taken for a negative number
        byte[] huge = ByteBuffer.allocate(10).order(ByteOrder.LITTLE_ENDIAN).putLong(0x8000_0000_0000_0005L)
                .put((byte) '{').put((byte) '}').array();
        e = refused(Files.write(dir.resolve("huge.safetensors"), huge));
        assertTrue(e.getMessage().contains("exceeds the limit"), e.getMessage());
    }

    @Test
    void headerLengthOverTheLimitIsRefusedEvenWhenTheFileIsThatLong() throws Exception {
        Path file = dir.resolve("big.safetensors");
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(SafetensorsHeader.MAX_HEADER_BYTES + 64); // sparse: costs no disk
            raf.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN)
                    .putLong(SafetensorsHeader.MAX_HEADER_BYTES + 1).array());
        }
        assertTrue(refused(file).getMessage().contains("exceeds the limit"));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            unfinished JSON       | {"a":                                                          | not valid JSON
            array at the top      | [1,2]                                                          | must be a JSON object
            trailing garbage      | {} x                                                           | not valid JSON
            duplicate tensor      | {"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} | not valid JSON
            tensor not an object  | {"a":3}                                                        | 'a'
            dtype missing         | {"a":{"shape":[1],"data_offsets":[0,4]}}                       | 'a'
            dtype not a string    | {"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}             | dtype
            shape missing         | {"a":{"dtype":"F32","data_offsets":[0,4]}}                     | shape
            negative dimension    | {"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}        | non-negative
            fractional dimension  | {"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}       | non-negative integer
            dimension too large   | {"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}} | shape
            offsets missing       | {"a":{"dtype":"F32","shape":[1]}}                              | data_offsets
            one offset            | {"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}}           | [begin, end]
            begin after end       | {"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}         | out of range
            end beyond buffer     | {"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}        | out of range
            size mismatch         | {"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}         | needs 12 bytes
            sub-byte leftover     | {"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}          | whole number of bytes
            element overflow      | {"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}} | overflows
            overlap               | {"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}} | overlap
            metadata not object   | {"__metadata__":[1],"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} | __metadata__
            metadata not string   | {"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} | 'k'
            """)
    void malformedHeaders(String what, String json, String mention) {
        refused(json, 12, mention);
    }

    @Test
    void errorsNameTheTensor() {
        refused("{\"blk.7.ffn_up\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,6]}}", 12, "'blk.7.ffn_up'");
        refused("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[2,10]}}", 12, "'x'", "'y'");
    }

    @Test
    void invalidUtf8InTheHeader() {
        byte[] json = "{\"a\u0001\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"
                .getBytes(StandardCharsets.UTF_8);
        json[3] = (byte) 0xC3; // a lead byte followed by '"' is not UTF-8
        Path file = HandMade.raw(dir.resolve("utf.safetensors"), json, new byte[4]);
        assertTrue(refused(file).getMessage().contains("utf.safetensors"));
    }

    @Test
    void anEmptyHeaderObjectIsAValidEmptyFile() {
        Path file = HandMade.file(dir.resolve("none.safetensors"), "{}      ", new byte[0]);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(0, f.names().size());
        }
    }
}
