package dev.herd.model.safetensors;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.herd.model.weights.ModelFormatException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The validated header of one safetensors file: 8 bytes little-endian length {@code N}, {@code N} bytes of
 * UTF-8 JSON mapping tensor names to {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets relative
 * to the data buffer that follows the header) plus an optional {@code "__metadata__"} map of strings.
 *
 * <p>Checked here, so that every later access is in bounds: the length is at most {@link #MAX_HEADER_BYTES}
 * (the reference implementation's limit) and within the file; the JSON is one well-formed object without
 * duplicate keys; shapes are non-negative integers whose product does not overflow; offsets lie within the
 * data buffer and no two non-empty tensors overlap; and for every element type this class knows,
 * {@code end - begin} is exactly the size of the elements. A dtype name it does not know is kept (readable as
 * a name) without a size check, since its width is unknown.
 *
 * <p>More lenient than the reference, which also demands that tensors tile the buffer without gaps and
 * that the last one ends the file: gaps and trailing bytes are harmless to a reader, so they are accepted.
 */
public final class SafetensorsHeader {
    /** The reference implementation's limit; a larger length is corruption, not a model. */
    public static final long MAX_HEADER_BYTES = 100_000_000L;
    public static final String METADATA_KEY = "__metadata__";

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private final String source;
    private final long headerLength;
    private final long fileSize;
    private final Map<String, TensorEntry> entries;
    private final Map<String, String> metadata;

    private SafetensorsHeader(String source, long headerLength, long fileSize, Map<String, TensorEntry> entries,
                              Map<String, String> metadata) {
        this.source = source;
        this.headerLength = headerLength;
        this.fileSize = fileSize;
        this.entries = Collections.unmodifiableMap(entries);
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    /**
     * Reads and validates only the header of {@code file} (two small reads; the data is not touched), e.g. for
     * planning from tensor sizes without mapping any weights.
     */
    public static SafetensorsHeader read(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            long n = headerLength(file.toString(), size, readFully(ch, 0, (int) Math.min(8, size)));
            byte[] json = new byte[(int) n];
            ByteBuffer buf = ByteBuffer.wrap(json);
            while (buf.hasRemaining()) {
                if (ch.read(buf, 8 + buf.position()) < 0) {
                    throw new ModelFormatException(file + ": file ended inside the safetensors header");
                }
            }
            return parse(file.toString(), json, size);
        } catch (IOException e) {
            throw new ModelFormatException(file + ": cannot read safetensors header: " + e.getMessage(), e);
        }
    }

    private static byte[] readFully(FileChannel ch, long position, int length) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(length);
        while (buf.hasRemaining()) {
            if (ch.read(buf, position + buf.position()) < 0) {
                break;
            }
        }
        byte[] out = new byte[buf.position()];
        buf.flip().get(out);
        return out;
    }

    /**
     * The header length {@code N} from the first bytes of a file of {@code fileSize} bytes, checked against the
     * file and {@link #MAX_HEADER_BYTES}.
     */
    static long headerLength(String source, long fileSize, byte[] prefix) {
        if (fileSize < 8 || prefix.length < 8) {
            throw new ModelFormatException(source + ": " + fileSize
                    + " bytes is too short for a safetensors file (8-byte header length missing)");
        }
        long n = ByteBuffer.wrap(prefix, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        // compared unsigned: a length with the top bit set is a huge u64, not a negative number
        if (Long.compareUnsigned(n, MAX_HEADER_BYTES) > 0) {
            throw new ModelFormatException(source + ": safetensors header length " + Long.toUnsignedString(n)
                    + " exceeds the limit of " + MAX_HEADER_BYTES + " bytes (corrupt or not a safetensors file)");
        }
        if (n > fileSize - 8) {
            throw new ModelFormatException(source + ": safetensors header length " + n + " runs past the end of the "
                    + fileSize + "-byte file (truncated?)");
        }
        return n;
    }

    /** Validates the header JSON of a file of {@code fileSize} bytes whose data buffer starts at 8 + json.length. */
    static SafetensorsHeader parse(String source, byte[] json, long fileSize) {
        long bufferSize = fileSize - 8 - json.length;
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(source + ": safetensors header is not valid JSON: "
                    + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new ModelFormatException(source + ": cannot parse safetensors header: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(source + ": safetensors header must be a JSON object, got "
                    + (root == null ? "nothing" : root.getNodeType()));
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        Map<String, TensorEntry> entries = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> field : root.properties()) {
            String name = field.getKey();
            if (name.equals(METADATA_KEY)) {
                readMetadata(source, field.getValue(), metadata);
            } else {
                entries.put(name, entry(source, name, field.getValue(), bufferSize));
            }
        }
        checkOverlaps(source, entries.values());
        return new SafetensorsHeader(source, json.length, fileSize, entries, metadata);
    }

    private static void readMetadata(String source, JsonNode node, Map<String, String> out) {
        if (!node.isObject()) {
            throw new ModelFormatException(source + ": " + METADATA_KEY + " must be an object of strings, got "
                    + node.getNodeType());
        }
        for (Map.Entry<String, JsonNode> kv : node.properties()) {
            if (!kv.getValue().isTextual()) {
                throw new ModelFormatException(source + ": " + METADATA_KEY + " key '" + kv.getKey()
                        + "' must be a string, got " + kv.getValue().getNodeType());
            }
            out.put(kv.getKey(), kv.getValue().textValue());
        }
    }

    private static TensorEntry entry(String source, String name, JsonNode node, long bufferSize) {
        String where = source + ": tensor '" + name + "'";
        if (!node.isObject()) {
            throw new ModelFormatException(where + ": expected an object with dtype, shape and data_offsets, got "
                    + node.getNodeType());
        }
        JsonNode dtypeNode = node.get("dtype");
        if (dtypeNode == null || !dtypeNode.isTextual()) {
            throw new ModelFormatException(where + ": missing or non-string \"dtype\"");
        }
        String dtype = dtypeNode.textValue();
        long[] shape = longs(where, "shape", node.get("shape"));
        long[] offsets = longs(where, "data_offsets", node.get("data_offsets"));
        if (offsets.length != 2) {
            throw new ModelFormatException(where + ": \"data_offsets\" must hold exactly [begin, end], got "
                    + offsets.length + " numbers");
        }
        long begin = offsets[0];
        long end = offsets[1];
        if (begin > end || end > bufferSize) {
            throw new ModelFormatException(where + ": data_offsets [" + begin + ", " + end
                    + "] out of range of the " + bufferSize + "-byte data buffer (truncated or corrupt file)");
        }
        long elements = 1;
        try {
            for (long d : shape) {
                elements = Math.multiplyExact(elements, d);
            }
        } catch (ArithmeticException overflow) {
            throw new ModelFormatException(where + ": element count of shape " + Arrays.toString(shape)
                    + " overflows");
        }
        SafetensorsDtype known = SafetensorsDtype.parse(dtype).orElse(null);
        if (known != null) {
            long expected = known.byteSize(elements);
            if (expected < 0) {
                throw new ModelFormatException(where + ": " + elements + " elements of " + dtype
                        + " do not fill a whole number of bytes");
            }
            if (expected != end - begin) {
                throw new ModelFormatException(where + ": " + dtype + Arrays.toString(shape) + " needs "
                        + expected + " bytes but data_offsets [" + begin + ", " + end + "] span " + (end - begin));
            }
        }
        return new TensorEntry(name, dtype, shape, begin, end);
    }

    private static long[] longs(String where, String field, JsonNode node) {
        if (node == null || !node.isArray()) {
            throw new ModelFormatException(where + ": missing or non-array \"" + field + "\"");
        }
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = node.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 0) {
                throw new ModelFormatException(where + ": \"" + field + "\" entry " + i
                        + " must be a non-negative integer, got " + v);
            }
            out[i] = v.longValue();
        }
        return out;
    }

    private static void checkOverlaps(String source, Iterable<TensorEntry> all) {
        List<TensorEntry> sorted = new ArrayList<>();
        for (TensorEntry e : all) {
            if (e.byteSize() > 0) { // an empty tensor occupies no bytes and cannot overlap anything
                sorted.add(e);
            }
        }
        sorted.sort(Comparator.comparingLong(TensorEntry::begin).thenComparingLong(TensorEntry::end));
        TensorEntry furthest = null;
        for (TensorEntry e : sorted) {
            if (furthest != null && e.begin() < furthest.end()) {
                throw new ModelFormatException(source + ": tensor '" + e.name() + "' bytes [" + e.begin() + ", "
                        + e.end() + ") overlap tensor '" + furthest.name() + "' bytes [" + furthest.begin() + ", "
                        + furthest.end() + ")");
            }
            if (furthest == null || e.end() > furthest.end()) {
                furthest = e;
            }
        }
    }

    /** The file (or other source) this header came from, for messages. */
    public String source() {
        return source;
    }

    /** {@code N}: the JSON's length in bytes, padding included. */
    public long headerLength() {
        return headerLength;
    }

    /** Offset in the file of the data buffer that tensor offsets are relative to. */
    public long dataStart() {
        return 8 + headerLength;
    }

    public long fileSize() {
        return fileSize;
    }

    /** Every tensor, in the header's order. */
    public Map<String, TensorEntry> entries() {
        return entries;
    }

    /** The {@code __metadata__} map (empty when absent), e.g. {@code {"format": "pt"}}. */
    public Map<String, String> metadata() {
        return metadata;
    }
}
