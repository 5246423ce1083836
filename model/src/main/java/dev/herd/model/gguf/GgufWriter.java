package dev.herd.model.gguf;

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
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Writes a GGUF version 3 file, streaming: tensor data goes to the file as it is handed over, so a
 * model far larger than the heap can be written.
 *
 * <p>Because GGUF puts every tensor's description (and so its offset) in the header, ahead of all data,
 * writing has two phases:
 * <ol>
 *   <li>metadata ({@code put...}) and tensor declarations ({@link #addTensor}) in any order;</li>
 *   <li>tensor data ({@code writeTensor}), one call per tensor, in declaration order. The first call writes
 *       the header; after it nothing more can be declared.</li>
 * </ol>
 * {@link #close()} finishes the file. The file is written under a temporary name beside {@code path} and
 * renamed to {@code path} only when complete, so a failed or abandoned write never leaves a truncated
 * model behind; closing before every declared tensor's data was written deletes it and throws.
 *
 * <p>The layout is what ggml's own writer produces: tensors in declaration order, each starting at a
 * multiple of the alignment and padded with zeros to the next one, the last one included.
 *
 * <p>Shapes are outermost first (as {@link dev.herd.kernels.Tensor}); the file stores them reversed, as
 * GGUF's {@code ne[]}. Misuse (wrong order, wrong sizes, bad names) is an {@link IllegalArgumentException}
 * or {@link IllegalStateException}; I/O failures are {@link UncheckedIOException}s.
 */
public final class GgufWriter implements AutoCloseable {
    private static final int VERSION = 3;
    private static final int DEFAULT_ALIGNMENT = 32;
    /** ggml's GGML_MAX_NAME is 64 including the terminating zero. */
    private static final int MAX_NAME_BYTES = 63;
    private static final String ALIGNMENT_KEY = "general.alignment";

    /** Supplies a tensor's values one row (last dimension) at a time, for {@link #writeTensor(String, RowSource)}. */
    @FunctionalInterface
    public interface RowSource {
        /** Fills {@code out} (one row long) with row {@code index}; rows are asked for in order. */
        void row(long index, float[] out);
    }

    private record Entry(GgufType type, Object value) {
    }

    private record Declared(String name, DType type, long[] shape, long offset, long bytes) {
        long rows() {
            long n = 1;
            for (int i = 0; i < shape.length - 1; i++) {
                n *= shape[i];
            }
            return n;
        }

        int cols() {
            return Math.toIntExact(shape[shape.length - 1]);
        }
    }

    private final Path path;
    private final Path temp;
    private final FileChannel channel;
    private final Sink out;
    private final Map<String, Entry> metadata = new LinkedHashMap<>();
    private final List<Declared> tensors = new ArrayList<>();
    private final Set<String> tensorNames = new HashSet<>();
    private int alignment = DEFAULT_ALIGNMENT;
    private long dataBytes;
    /** Index of the next tensor whose data is due; -1 while the header is not written yet. */
    private int next = -1;
    private long dataStart;
    private boolean closed;
    private boolean failed;

    private GgufWriter(Path path) throws IOException {
        this.path = path.toAbsolutePath();
        Path dir = this.path.getParent();
        // Not Files.createTempFile: its owner-only permissions would carry over to the finished model.
        this.temp = dir.resolve("." + this.path.getFileName() + "." + Long.toHexString(System.nanoTime()) + ".partial");
        this.channel = FileChannel.open(temp, StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW);
        this.out = new Sink(channel);
    }

    /** Starts writing {@code path} (replaced if it exists, once the new file is complete). */
    public static GgufWriter create(Path path) {
        try {
            return new GgufWriter(path);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + path + ": " + e.getMessage(), e);
        }
    }

    // ---- metadata ----

    /**
     * Adds a metadata entry of any type: integers as any {@link Number} that fits {@code type} (for UINT64
     * a long's 64 bits), floats as a {@link Number}, {@link Boolean}, {@link String}, or for
     * {@link GgufType#ARRAY} a {@link GgufArray}. Values read back by {@link GgufFile#metadata()} together
     * with {@link GgufFile#type} fit here unchanged. {@code general.alignment} sets {@link #alignment}.
     */
    public GgufWriter put(String key, GgufType type, Object value) {
        checkDeclaring();
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(value, "value of " + key);
        if (key.isEmpty()) {
            throw new IllegalArgumentException("GGUF metadata keys cannot be empty");
        }
        if (metadata.containsKey(key)) {
            throw new IllegalArgumentException("metadata key '" + key + "' is already set");
        }
        Object v = switch (type) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 ->
                    GgufArray.checkFits(type, integer(key, type, value), "metadata key '" + key + "'");
            case FLOAT32 -> number(key, type, value).floatValue();
            case FLOAT64 -> number(key, type, value).doubleValue();
            case BOOL -> cast(key, type, value, Boolean.class);
            case STRING -> cast(key, type, value, String.class);
            case ARRAY -> cast(key, type, value, GgufArray.class);
        };
        if (key.equals(ALIGNMENT_KEY)) {
            if (type != GgufType.UINT32) {
                throw new IllegalArgumentException(ALIGNMENT_KEY + " must be UINT32, as ggml requires");
            }
            setAlignment((Long) v);
        }
        metadata.put(key, new Entry(type, v));
        return this;
    }

    public GgufWriter putUInt8(String key, int value) {
        return put(key, GgufType.UINT8, value);
    }

    public GgufWriter putInt8(String key, int value) {
        return put(key, GgufType.INT8, value);
    }

    public GgufWriter putUInt16(String key, int value) {
        return put(key, GgufType.UINT16, value);
    }

    public GgufWriter putInt16(String key, int value) {
        return put(key, GgufType.INT16, value);
    }

    public GgufWriter putUInt32(String key, long value) {
        return put(key, GgufType.UINT32, value);
    }

    public GgufWriter putInt32(String key, int value) {
        return put(key, GgufType.INT32, value);
    }

    /** {@code value}'s 64 bits as an unsigned integer. */
    public GgufWriter putUInt64(String key, long value) {
        return put(key, GgufType.UINT64, value);
    }

    public GgufWriter putInt64(String key, long value) {
        return put(key, GgufType.INT64, value);
    }

    public GgufWriter putFloat32(String key, float value) {
        return put(key, GgufType.FLOAT32, value);
    }

    public GgufWriter putFloat64(String key, double value) {
        return put(key, GgufType.FLOAT64, value);
    }

    public GgufWriter putBool(String key, boolean value) {
        return put(key, GgufType.BOOL, value);
    }

    public GgufWriter putString(String key, String value) {
        return put(key, GgufType.STRING, value);
    }

    public GgufWriter putArray(String key, GgufArray value) {
        return put(key, GgufType.ARRAY, value);
    }

    public GgufWriter putStringArray(String key, List<String> values) {
        return putArray(key, GgufArray.ofStrings(values));
    }

    public GgufWriter putInt32Array(String key, int... values) {
        return putArray(key, GgufArray.ofInt32(values));
    }

    public GgufWriter putFloat32Array(String key, float... values) {
        return putArray(key, GgufArray.ofFloat32(values));
    }

    /**
     * Sets the tensor data alignment (a power of two; 32 when never set) and records it as
     * {@code general.alignment}. Must come before the first {@link #addTensor}.
     */
    public GgufWriter alignment(int bytes) {
        return put(ALIGNMENT_KEY, GgufType.UINT32, bytes);
    }

    private void setAlignment(long bytes) {
        if (bytes <= 0 || Long.bitCount(bytes) != 1 || bytes > (1 << 30)) {
            throw new IllegalArgumentException("alignment " + bytes + " is not a power of two");
        }
        if (!tensors.isEmpty()) {
            throw new IllegalStateException("set the alignment before declaring tensors");
        }
        alignment = (int) bytes;
    }

    private static long integer(String key, GgufType type, Object value) {
        if (value instanceof Long || value instanceof Integer || value instanceof Short || value instanceof Byte) {
            return ((Number) value).longValue();
        }
        throw new IllegalArgumentException("metadata key '" + key + "': " + type + " needs an integer, got " + value.getClass().getSimpleName());
    }

    private static Number number(String key, GgufType type, Object value) {
        if (value instanceof Number n) {
            return n;
        }
        throw new IllegalArgumentException("metadata key '" + key + "': " + type + " needs a number, got " + value.getClass().getSimpleName());
    }

    private static <T> T cast(String key, GgufType type, Object value, Class<T> c) {
        if (!c.isInstance(value)) {
            throw new IllegalArgumentException("metadata key '" + key + "': " + type + " needs a " + c.getSimpleName()
                    + ", got " + value.getClass().getSimpleName());
        }
        return c.cast(value);
    }

    // ---- tensors ----

    /** Declares a tensor; its data follows later through {@code writeTensor}, in declaration order. */
    public GgufWriter addTensor(String name, DType type, long... shape) {
        checkDeclaring();
        Objects.requireNonNull(name, "name");
        int nameBytes = name.getBytes(StandardCharsets.UTF_8).length;
        if (nameBytes == 0 || nameBytes > MAX_NAME_BYTES) {
            throw new IllegalArgumentException("tensor name '" + name + "' must be 1 to " + MAX_NAME_BYTES + " bytes long");
        }
        if (!tensorNames.add(name)) {
            throw new IllegalArgumentException("tensor '" + name + "' is already declared");
        }
        if (type.ggmlType() < 0) {
            tensorNames.remove(name);
            throw new IllegalArgumentException("tensor '" + name + "': GGUF has no " + type + " type");
        }
        long bytes;
        try {
            if (shape.length < 1 || shape.length > 4) {
                throw new IllegalArgumentException("tensor '" + name + "': GGUF tensors have 1 to 4 dimensions, not "
                        + shape.length);
            }
            long elements = 1;
            for (long d : shape) {
                if (d <= 0) {
                    throw new IllegalArgumentException("tensor '" + name + "': bad shape " + Arrays.toString(shape));
                }
                elements = Math.multiplyExact(elements, d);
            }
            long cols = shape[shape.length - 1];
            if (cols % type.blockSize() != 0 || cols > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("tensor '" + name + "': row length " + cols + " is not a multiple of the "
                        + type + " block size " + type.blockSize());
            }
            bytes = type.byteSize(elements);
        } catch (RuntimeException e) {
            tensorNames.remove(name);
            throw e;
        }
        long offset = GgufFile.alignUp(dataBytes, alignment);
        tensors.add(new Declared(name, type, shape.clone(), offset, bytes));
        dataBytes = offset + bytes;
        return this;
    }

    /** The data of the next declared tensor, exactly its size in bytes, as stored. */
    public void writeTensor(String name, MemorySegment data) {
        Declared t = peek(name);
        if (data.byteSize() != t.bytes) {
            throw new IllegalArgumentException("tensor '" + name + "' " + t.type + Arrays.toString(t.shape) + " takes "
                    + t.bytes + " bytes, got " + data.byteSize());
        }
        beginTensor(name);
        io(() -> out.put(data));
        endTensor();
    }

    /** The data of the next declared tensor, exactly its size in bytes, as stored. */
    public void writeTensor(String name, byte[] data) {
        writeTensor(name, MemorySegment.ofArray(data));
    }

    /** The next declared tensor from f32 values (all of them, rows in order), converted to its type. */
    public void writeTensor(String name, float[] values) {
        Declared t = peek(name);
        if (values.length != t.rows() * t.cols()) {
            throw new IllegalArgumentException("tensor '" + name + "' " + Arrays.toString(t.shape) + " has "
                    + t.rows() * t.cols() + " elements, got " + values.length);
        }
        int cols = t.cols();
        writeTensor(name, (row, out) -> System.arraycopy(values, Math.toIntExact(row * cols), out, 0, cols));
    }

    /** The next declared tensor from f32 rows produced on demand, each converted to its type and written. */
    public void writeTensor(String name, RowSource rows) {
        Declared t = beginTensor(name);
        int cols = t.cols();
        float[] row = new float[cols];
        byte[] stored = new byte[Math.toIntExact(t.type.byteSize(cols))];
        MemorySegment storedSegment = MemorySegment.ofArray(stored);
        try {
            for (long r = 0; r < t.rows(); r++) {
                rows.row(r, row);
                Quantize.quantize(t.type, row, 0, cols, storedSegment, 0);
                out.put(storedSegment);
            }
        } catch (IOException e) {
            failed = true;
            throw new UncheckedIOException("writing " + temp + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            failed = true;
            throw e;
        }
        endTensor();
    }

    private Declared peek(String name) {
        if (closed) {
            throw new IllegalStateException("the writer for " + path + " is closed");
        }
        int i = Math.max(next, 0);
        if (i >= tensors.size()) {
            throw new IllegalStateException("tensor '" + name + "': every declared tensor is already written");
        }
        Declared t = tensors.get(i);
        if (!t.name.equals(name)) {
            throw new IllegalStateException("tensor '" + name + "' written out of order: '" + t.name + "' is due next"
                    + (tensorNames.contains(name) ? "" : " (and '" + name + "' was never declared)"));
        }
        return t;
    }

    private Declared beginTensor(String name) {
        Declared t = peek(name);
        if (next < 0) {
            io(this::writeHeader);
            next = 0;
        }
        io(() -> out.zeros(dataStart + t.offset - out.position()));
        return t;
    }

    private void endTensor() {
        next++;
    }

    private void checkDeclaring() {
        if (closed) {
            throw new IllegalStateException("the writer for " + path + " is closed");
        }
        if (next >= 0) {
            throw new IllegalStateException("metadata and tensors must be declared before the first tensor's data");
        }
    }

    // ---- the file ----

    private void writeHeader() throws IOException {
        out.put(new byte[] {'G', 'G', 'U', 'F'});
        out.u32(VERSION);
        out.u64(tensors.size());
        out.u64(metadata.size());
        for (Map.Entry<String, Entry> e : metadata.entrySet()) {
            out.string(e.getKey());
            Entry v = e.getValue();
            out.u32(v.type.id());
            if (v.type == GgufType.ARRAY) {
                GgufArray a = (GgufArray) v.value;
                out.u32(a.elementType().id());
                out.u64(a.size());
                out.put(MemorySegment.ofArray(a.rawBytes()));
            } else {
                scalar(v.type, v.value);
            }
        }
        for (Declared t : tensors) {
            out.string(t.name);
            out.u32(t.shape.length);
            for (int j = t.shape.length - 1; j >= 0; j--) {
                out.u64(t.shape[j]);
            }
            out.u32(t.type.ggmlType());
            out.u64(t.offset);
        }
        dataStart = GgufFile.alignUp(out.position(), alignment);
        out.zeros(dataStart - out.position());
    }

    private void scalar(GgufType type, Object v) throws IOException {
        switch (type) {
            case UINT8, INT8 -> out.u8((int) (long) (Long) v);
            case UINT16, INT16 -> out.u16((int) (long) (Long) v);
            case UINT32, INT32 -> out.u32((int) (long) (Long) v);
            case UINT64, INT64 -> out.u64((Long) v);
            case FLOAT32 -> out.u32(Float.floatToRawIntBits((Float) v));
            case FLOAT64 -> out.u64(Double.doubleToRawLongBits((Double) v));
            case BOOL -> out.u8((Boolean) v ? 1 : 0);
            case STRING -> out.string((String) v);
            case ARRAY -> throw new IllegalStateException();
        }
    }

    /**
     * Finishes the file and moves it to its path. If the data of some declared tensor was never written, or
     * a write failed, deletes the partial file instead; in the first case it throws an
     * {@link IllegalStateException} (in the second the failed write has already thrown).
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        boolean complete = false;
        try {
            if (!failed && next < 0 && tensors.isEmpty()) {
                writeHeader();
                next = 0;
            }
            complete = !failed && next == tensors.size();
            if (complete) {
                out.zeros(GgufFile.alignUp(out.position(), alignment) - out.position());
                out.flush();
                channel.force(false);
                channel.close();
                try {
                    Files.move(temp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(temp, path, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        } catch (IOException e) {
            complete = false;
            failed = true;
            throw new UncheckedIOException("writing " + path + ": " + e.getMessage(), e);
        } finally {
            if (!complete) {
                try {
                    channel.close();
                    Files.deleteIfExists(temp);
                } catch (IOException ignored) {
                    // best effort: the reason the file is incomplete matters more
                }
            }
        }
        if (!complete && !failed) {
            int missing = Math.max(next, 0);
            throw new IllegalStateException(path + " not written: tensor '" + tensors.get(missing).name + "' and "
                    + (tensors.size() - missing - 1) + " more declared tensors have no data");
        }
    }

    private interface IoAction {
        void run() throws IOException;
    }

    private void io(IoAction a) {
        try {
            a.run();
        } catch (IOException e) {
            failed = true;
            throw new UncheckedIOException("writing " + path + ": " + e.getMessage(), e);
        }
    }

    /** Little-endian output through a 1 MiB buffer; large segments go to the channel directly. */
    private static final class Sink {
        private static final int CAPACITY = 1 << 20;
        private final FileChannel channel;
        private final ByteBuffer buf = ByteBuffer.allocateDirect(CAPACITY).order(ByteOrder.LITTLE_ENDIAN);
        private final MemorySegment bufSegment = MemorySegment.ofBuffer(buf);
        private long flushed;

        Sink(FileChannel channel) {
            this.channel = channel;
        }

        long position() {
            return flushed + buf.position();
        }

        void u8(int v) throws IOException {
            room(1);
            buf.put((byte) v);
        }

        void u16(int v) throws IOException {
            room(2);
            buf.putShort((short) v);
        }

        void u32(int v) throws IOException {
            room(4);
            buf.putInt(v);
        }

        void u64(long v) throws IOException {
            room(8);
            buf.putLong(v);
        }

        void string(String s) throws IOException {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            u64(b.length);
            put(b);
        }

        void put(byte[] b) throws IOException {
            put(MemorySegment.ofArray(b));
        }

        void put(MemorySegment s) throws IOException {
            long n = s.byteSize();
            if (n <= buf.remaining()) {
                MemorySegment.copy(s, 0, bufSegment, buf.position(), n);
                buf.position(buf.position() + (int) n);
                return;
            }
            flush();
            if (n < CAPACITY) {
                put(s);
                return;
            }
            for (long off = 0; off < n; off += 1 << 30) {
                ByteBuffer chunk = s.asSlice(off, Math.min(1 << 30, n - off)).asByteBuffer();
                while (chunk.hasRemaining()) {
                    flushed += channel.write(chunk);
                }
            }
        }

        void zeros(long n) throws IOException {
            for (long i = 0; i < n; i++) {
                u8(0);
            }
        }

        void flush() throws IOException {
            buf.flip();
            while (buf.hasRemaining()) {
                flushed += channel.write(buf);
            }
            buf.clear();
        }

        private void room(int n) throws IOException {
            if (buf.remaining() < n) {
                flush();
            }
        }
    }
}
