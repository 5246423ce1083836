package dev.herd.model.safetensors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.herd.kernels.DType;
import dev.herd.kernels.Quantize;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes safetensors files the way the reference implementation lays them out: tensors sorted by descending
 * element alignment, then by name (so every tensor starts aligned to its element size), compact header JSON
 * with {@code __metadata__} first, padded with spaces to a multiple of 8 bytes.
 *
 * <p>Streaming: the header is computed from the tensors' sizes alone and written first, then each tensor is
 * encoded and written in chunks of at most {@value #CHUNK} bytes, so a file of any size never exists in memory
 * (a {@link RowSource} need not hold its tensor in memory either). A file is written under a temporary name and
 * moved into place when complete, so a failed write leaves no half-written model behind.
 */
public final class SafetensorsWriter {
    /** Produces row {@code row} (length: the last dimension) of a tensor into {@code out}. */
    @FunctionalInterface
    public interface RowSource {
        void row(long row, float[] out);
    }

    static final int CHUNK = 1 << 20;
    private static final ObjectMapper JSON = new ObjectMapper();

    private record Pending(String name, SafetensorsDtype dtype, long[] shape, long byteSize, Payload payload) {
    }

    private sealed interface Payload {
    }

    /** Rows of f32 encoded into F32, F16 or BF16 while writing. */
    private record Encoded(RowSource rows, long rowCount, int cols) implements Payload {
    }

    /** Bytes as stored. */
    private record Bytes(MemorySegment data) implements Payload {
    }

    private final List<Pending> tensors = new ArrayList<>();
    private final Set<String> names = new HashSet<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    /** Adds an entry to {@code __metadata__}, e.g. {@code ("format", "pt")}. */
    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /** A tensor given as f32 values (row-major), stored as {@code dtype} (F32, F16 or BF16, rounded to nearest even). */
    public SafetensorsWriter add(String name, DType dtype, long[] shape, float[] values) {
        long elements = elements(name, shape);
        if (values.length != elements) {
            throw new IllegalArgumentException("tensor " + name + Arrays.toString(shape) + ": " + elements
                    + " elements expected, " + values.length + " given");
        }
        int cols = Math.toIntExact(cols(shape));
        return add(name, dtype, shape, (row, out) -> System.arraycopy(values, Math.toIntExact(row * cols), out, 0, cols));
    }

    /** A tensor whose rows are produced while writing, stored as {@code dtype} (F32, F16 or BF16). */
    public SafetensorsWriter add(String name, DType dtype, long[] shape, RowSource rows) {
        if (dtype != DType.F32 && dtype != DType.F16 && dtype != DType.BF16) {
            throw new IllegalArgumentException("tensor " + name + ": f32 values can be stored as F32, F16 or BF16, not "
                    + dtype + " (FP8 needs a scale: use addFp8RowScaled or addFp8BlockScaled)");
        }
        long elements = elements(name, shape);
        long cols = cols(shape);
        long rowCount = cols == 0 ? 0 : elements / cols;
        SafetensorsDtype st = SafetensorsDtype.of(dtype);
        return put(new Pending(name, st, shape, st.byteSize(elements), new Encoded(rows, rowCount, Math.toIntExact(cols))));
    }

    /**
     * A tensor given as the bytes it is stored as, of any element type the format defines (e.g. {@code "I64"});
     * {@code data} is read when the file is written and must stay valid until then.
     */
    public SafetensorsWriter addRaw(String name, String dtype, long[] shape, MemorySegment data) {
        SafetensorsDtype st = SafetensorsDtype.parse(dtype)
                .orElseThrow(() -> new IllegalArgumentException("tensor " + name + ": unknown safetensors dtype " + dtype));
        long bytes = st.byteSize(elements(name, shape));
        if (bytes != data.byteSize()) {
            throw new IllegalArgumentException("tensor " + name + " " + dtype + Arrays.toString(shape) + ": expected "
                    + bytes + " bytes, got " + data.byteSize());
        }
        return put(new Pending(name, st, shape, bytes, new Bytes(data)));
    }

    /**
     * {@code name} as F8_E4M3 with one f32 scale per row in {@code name + "_scale"} of shape (rows, 1), the
     * row-wise layout of FBGEMM / compressed-tensors checkpoints: scale = max|row| / 448, q = e4m3(v / scale),
     * and a reader multiplies back. An all-zero row gets scale 1.
     */
    public SafetensorsWriter addFp8RowScaled(String name, long[] shape, float[] values) {
        return addFp8(name, name + "_scale", shape, values, 1, Math.max(cols(shape), 1));
    }

    /**
     * {@code name} as F8_E4M3 with one f32 scale per block of {@code blockRows x blockCols} in
     * {@code name + "_scale_inv"} of shape (ceil(rows/blockRows), ceil(cols/blockCols)), the DeepSeek V3 layout
     * (blocks of 128 x 128; edge blocks are partial). The scale is multiplied back despite its name.
     */
    public SafetensorsWriter addFp8BlockScaled(String name, long[] shape, float[] values, int blockRows, int blockCols) {
        if (blockRows < 1 || blockCols < 1) {
            throw new IllegalArgumentException("tensor " + name + ": block sizes must be positive");
        }
        return addFp8(name, name + "_scale_inv", shape, values, blockRows, blockCols);
    }

    private SafetensorsWriter addFp8(String name, String scaleName, long[] shape, float[] values, long br, long bc) {
        long elements = elements(name, shape);
        if (values.length != elements || elements == 0) {
            throw new IllegalArgumentException("tensor " + name + Arrays.toString(shape) + ": " + elements
                    + " elements expected, " + values.length + " given");
        }
        int cols = Math.toIntExact(cols(shape));
        int rows = values.length / cols;
        int sRows = Math.toIntExact((rows + br - 1) / br);
        int sCols = Math.toIntExact((cols + bc - 1) / bc);
        float[] scales = new float[sRows * sCols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                int s = (int) (r / br) * sCols + (int) (c / bc);
                scales[s] = Math.max(scales[s], Math.abs(values[r * cols + c]));
            }
        }
        for (int s = 0; s < scales.length; s++) {
            scales[s] = scales[s] == 0 ? 1f : scales[s] / Quantize.E4M3_MAX;
        }
        byte[] q = new byte[values.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                float scale = scales[(int) (r / br) * sCols + (int) (c / bc)];
                q[r * cols + c] = Quantize.e4m3(values[r * cols + c] / scale);
            }
        }
        addRaw(name, "F8_E4M3", shape, MemorySegment.ofArray(q));
        return add(scaleName, DType.F32, new long[] {sRows, sCols}, scales);
    }

    private SafetensorsWriter put(Pending p) {
        if (p.name().equals(SafetensorsHeader.METADATA_KEY) || !names.add(p.name())) {
            throw new IllegalArgumentException("tensor name " + p.name() + " is reserved or already added");
        }
        tensors.add(p);
        return this;
    }

    private static long elements(String name, long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("tensor " + name + ": negative dimension in " + Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    private static long cols(long[] shape) {
        return shape.length == 0 ? 1 : shape[shape.length - 1];
    }

    /** Bytes of tensor data added so far (the sum of all tensors' sizes). */
    public long dataBytes() {
        long sum = 0;
        for (Pending p : tensors) {
            sum += p.byteSize();
        }
        return sum;
    }

    /** Writes every tensor added into one file. */
    public void write(Path file) {
        writeFile(file, tensors);
    }

    /**
     * Writes the tensors as a Hugging Face sharded directory: consecutive tensors (in the order added) packed
     * into {@code model-0000i-of-0000n.safetensors} files of at most {@code maxShardBytes} of data each (a
     * tensor larger than that gets a shard of its own), with {@code model.safetensors.index.json}. When all fit
     * in one shard, writes {@code model.safetensors} alone, as Hugging Face does. Returns the files written.
     */
    public List<Path> writeSharded(Path dir, long maxShardBytes) {
        List<List<Pending>> shards = new ArrayList<>();
        List<Pending> current = new ArrayList<>();
        long size = 0;
        for (Pending p : tensors) {
            if (!current.isEmpty() && size + p.byteSize() > maxShardBytes) {
                shards.add(current);
                current = new ArrayList<>();
                size = 0;
            }
            current.add(p);
            size += p.byteSize();
        }
        shards.add(current);
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot create directory", e);
        }
        List<Path> written = new ArrayList<>();
        if (shards.size() == 1) {
            Path file = dir.resolve("model.safetensors");
            writeFile(file, shards.getFirst());
            written.add(file);
            return written;
        }
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (int i = 0; i < shards.size(); i++) {
            String shardName = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
            Path file = dir.resolve(shardName);
            writeFile(file, shards.get(i));
            written.add(file);
            for (Pending p : shards.get(i)) {
                weightMap.put(p.name(), shardName);
            }
        }
        Path index = dir.resolve(ShardIndex.FILE_NAME);
        new ShardIndex(weightMap, Map.of("total_size", dataBytes())).write(index);
        written.add(index);
        return written;
    }

    private void writeFile(Path file, List<Pending> subset) {
        List<Pending> ordered = new ArrayList<>(subset);
        // the reference's layout: descending alignment rank, then name
        ordered.sort(Comparator.comparing((Pending p) -> p.dtype().ordinal()).reversed()
                .thenComparing(Pending::name));
        byte[] header = header(ordered);
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
                buf.putLong(header.length);
                writeAll(ch, buf.flip());
                writeAll(ch, ByteBuffer.wrap(header));
                for (Pending p : ordered) {
                    long before = ch.position();
                    writeData(ch, p, buf);
                    if (ch.position() - before != p.byteSize()) {
                        throw new IllegalStateException("tensor " + p.name() + ": wrote " + (ch.position() - before)
                                + " bytes, header promised " + p.byteSize());
                    }
                }
            }
            try {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw new UncheckedIOException(file + ": cannot write safetensors file", e);
        } catch (RuntimeException e) {
            deleteQuietly(tmp);
            throw e;
        }
    }

    private static void deleteQuietly(Path tmp) {
        try {
            Files.deleteIfExists(tmp);
        } catch (IOException ignored) {
            // the original failure is the one worth reporting; a stray temporary file is secondary
        }
    }

    private byte[] header(List<Pending> ordered) {
        ObjectNode root = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = root.putObject(SafetensorsHeader.METADATA_KEY);
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Pending p : ordered) {
            ObjectNode t = root.putObject(p.name());
            t.put("dtype", p.dtype().name());
            ArrayNode shape = t.putArray("shape");
            for (long d : p.shape()) {
                shape.add(d);
            }
            t.putArray("data_offsets").add(offset).add(offset + p.byteSize());
            offset += p.byteSize();
        }
        byte[] json;
        try {
            json = JSON.writeValueAsString(root).getBytes(StandardCharsets.UTF_8);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise a safetensors header", e);
        }
        int padded = (json.length + 7) / 8 * 8; // aligns the data buffer to 8 bytes in the file
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    private static void writeData(FileChannel ch, Pending p, ByteBuffer buf) throws IOException {
        switch (p.payload()) {
            case Bytes(MemorySegment data) -> {
                // copied through the scratch buffer: works for mapped, native and any heap array segment
                MemorySegment scratch = MemorySegment.ofBuffer(buf.clear());
                for (long off = 0; off < data.byteSize(); off += CHUNK) {
                    int len = (int) Math.min(CHUNK, data.byteSize() - off);
                    MemorySegment.copy(data, off, scratch, 0, len);
                    writeAll(ch, buf.clear().limit(len));
                }
                buf.clear();
            }
            case Encoded(RowSource rows, long rowCount, int cols) -> {
                float[] row = new float[cols];
                int width = p.dtype().bits() / 8;
                buf.clear();
                for (long r = 0; r < rowCount; r++) {
                    rows.row(r, row);
                    for (float v : row) {
                        if (buf.remaining() < width) {
                            writeAll(ch, buf.flip());
                            buf.clear();
                        }
                        switch (p.dtype()) {
                            case F32 -> buf.putFloat(v);
                            case F16 -> buf.putShort(Quantize.f16(v));
                            case BF16 -> buf.putShort(Quantize.bf16(v));
                            default -> throw new IllegalStateException(p.dtype().name());
                        }
                    }
                }
                writeAll(ch, buf.flip());
                buf.clear();
            }
        }
    }

    private static void writeAll(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }
}
