package dev.herd.model.gguf;

import dev.herd.kernels.DType;
import dev.herd.kernels.Tensor;
import dev.herd.model.weights.ModelFormatException;
import dev.herd.model.weights.WeightStore;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/**
 * A GGUF file (versions 2 and 3, little-endian), memory-mapped: its metadata and its tensors.
 *
 * <p>{@link #open} checks the whole header, every metadata entry and every tensor's description and
 * extent before it returns, so a truncated or corrupt file fails there with a {@link ModelFormatException}
 * naming the file (and the key or tensor) and never half-loads. Tensor data is not read, only mapped.
 *
 * <p>Tensor shapes are outermost first, which is GGUF's {@code ne[]} reversed ({@code ne[0]} is the row
 * length), so a linear layer stored as {@code ne = [in, out]} becomes a {@code (out, in)} {@link Tensor}.
 *
 * <p>Metadata values in {@link #metadata()}: every integer type as {@link Long} ({@code UINT64} keeps its 64
 * bits), {@code FLOAT32} as {@link Float}, {@code FLOAT64} as {@link Double}, {@code BOOL} as
 * {@link Boolean}, {@code STRING} as {@link String}, arrays as {@link GgufArray}; {@link #type(String)} gives
 * the exact stored type. The typed getters convert where no value is lost and otherwise throw a
 * {@link ModelFormatException}: the {@code find...} variants are empty only when the key is absent, never
 * when it is present with the wrong type.
 */
public final class GgufFile implements WeightStore {
    /** "GGUF" read as a little-endian u32. */
    private static final int MAGIC = 0x46554747;
    private static final int DEFAULT_ALIGNMENT = 32;
    /** GGML_MAX_DIMS: ggml tensors have at most four dimensions. */
    private static final int MAX_DIMS = 4;
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** ggml type names by id, for naming the types Herd does not read; null where ggml has none. */
    private static final String[] GGML_TYPE_NAMES = {
        "F32", "F16", "Q4_0", "Q4_1", null, null, "Q5_0", "Q5_1", "Q8_0", "Q8_1",
        "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
        "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M",
        "BF16", "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0", "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8",
        "MXFP4", "NVFP4", "Q1_0", "Q2_0",
    };

    private final Path path;
    private final Arena arena;
    private final int version;
    private final long alignment;
    private final long dataOffset;
    private final Map<String, Object> metadata;
    private final Map<String, GgufType> types;
    private final Map<String, Tensor> tensors;
    private volatile boolean closed;

    private GgufFile(Path path, Arena arena, Header h) {
        this.path = path;
        this.arena = arena;
        this.version = h.version;
        this.alignment = h.alignment;
        this.dataOffset = h.dataOffset;
        this.metadata = Collections.unmodifiableMap(h.metadata);
        this.types = h.types;
        this.tensors = Collections.unmodifiableMap(h.tensors);
    }

    /**
     * Maps and checks the GGUF file at {@code path}. A {@link ModelFormatException} when it is not a valid
     * GGUF file Herd can read; an {@link UncheckedIOException} when it cannot be read at all.
     */
    public static GgufFile open(Path path) {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            MemorySegment file = size == 0 ? MemorySegment.ofArray(new byte[0])
                    : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            Header h = new Parser(path.toString(), file).parse();
            return new GgufFile(path, arena, h);
        } catch (IOException e) {
            arena.close();
            throw new UncheckedIOException("cannot read GGUF file " + path + ": " + e.getMessage(), e);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    public Path path() {
        return path;
    }

    /** The GGUF version, 2 or 3. */
    public int version() {
        return version;
    }

    /** The alignment of tensor data in bytes ({@code general.alignment}, 32 by default). */
    public long alignment() {
        return alignment;
    }

    /** Where the tensor data section starts in the file; tensor offsets count from here. */
    public long dataOffset() {
        return dataOffset;
    }

    // ---- tensors ----

    /** Tensor names in the order the file lists them. */
    @Override
    public Set<String> names() {
        return tensors.keySet();
    }

    @Override
    public Optional<Tensor> find(String name) {
        checkOpen();
        return Optional.ofNullable(tensors.get(name));
    }

    /** All tensors in the order the file lists them. */
    public List<Tensor> tensors() {
        checkOpen();
        return List.copyOf(tensors.values());
    }

    @Override
    public String describe() {
        return path.toString();
    }

    /** Unmaps the file; tensors handed out before then throw {@link IllegalStateException} when read. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException(path + " is closed");
        }
    }

    // ---- metadata ----

    /** Every metadata entry in file order (see the class comment for the value classes). */
    public Map<String, Object> metadata() {
        return metadata;
    }

    public boolean has(String key) {
        return metadata.containsKey(key);
    }

    /** The stored type of the key's value, or empty when the key is absent. */
    public Optional<GgufType> type(String key) {
        return Optional.ofNullable(types.get(key));
    }

    public String getString(String key) {
        return findString(key).orElseThrow(() -> missing(key));
    }

    public String getString(String key, String fallback) {
        return findString(key).orElse(fallback);
    }

    public Optional<String> findString(String key) {
        return typed(key, "a string", v -> v instanceof String s ? s : null);
    }

    public boolean getBool(String key) {
        return findBool(key).orElseThrow(() -> missing(key));
    }

    public boolean getBool(String key, boolean fallback) {
        return findBool(key).orElse(fallback);
    }

    public Optional<Boolean> findBool(String key) {
        return typed(key, "a bool", v -> v instanceof Boolean b ? b : null);
    }

    /** Any integer type whose value fits a signed long. */
    public long getLong(String key) {
        return findLong(key).orElseThrow(() -> missing(key));
    }

    public long getLong(String key, long fallback) {
        return findLong(key).orElse(fallback);
    }

    public Optional<Long> findLong(String key) {
        return typed(key, "an integer", v -> {
            if (!(v instanceof Long l)) {
                return null;
            }
            if (types.get(key) == GgufType.UINT64 && l < 0) {
                throw fail("metadata key '" + key + "' is UINT64 " + Long.toUnsignedString(l)
                        + ", which does not fit a signed 64-bit integer");
            }
            return l;
        });
    }

    /** Any integer type whose value fits an int. */
    public int getInt(String key) {
        return findInt(key).orElseThrow(() -> missing(key));
    }

    public int getInt(String key, int fallback) {
        return findInt(key).orElse(fallback);
    }

    public Optional<Integer> findInt(String key) {
        return findLong(key).map(l -> {
            if (l != l.intValue()) {
                throw fail("metadata key '" + key + "' is " + types.get(key) + " " + l + ", which does not fit an int");
            }
            return l.intValue();
        });
    }

    /** FLOAT64, FLOAT32 or any integer type, as a double. */
    public double getDouble(String key) {
        return findDouble(key).orElseThrow(() -> missing(key));
    }

    public double getDouble(String key, double fallback) {
        return findDouble(key).orElse(fallback);
    }

    public Optional<Double> findDouble(String key) {
        return typed(key, "a number", v -> switch (v) {
            case Double d -> d;
            case Float f -> (double) f;
            case Long l -> types.get(key) == GgufType.UINT64 && l < 0 ? 0x1p64 + l : (double) l;
            default -> null;
        });
    }

    /** FLOAT32, FLOAT64 (rounded) or any integer type, as a float. */
    public float getFloat(String key) {
        return findFloat(key).orElseThrow(() -> missing(key));
    }

    public float getFloat(String key, float fallback) {
        return findFloat(key).orElse(fallback);
    }

    public Optional<Float> findFloat(String key) {
        return findDouble(key).map(Double::floatValue);
    }

    /** An array of any element type. */
    public GgufArray getArray(String key) {
        return findArray(key).orElseThrow(() -> missing(key));
    }

    public Optional<GgufArray> findArray(String key) {
        return typed(key, "an array", v -> v instanceof GgufArray a ? a : null);
    }

    /** An array of strings, e.g. {@code tokenizer.ggml.tokens}. */
    public List<String> getStringList(String key) {
        return findStringList(key).orElseThrow(() -> missing(key));
    }

    public Optional<List<String>> findStringList(String key) {
        return findArray(key).map(a -> {
            requireElements(key, a, a.elementType() == GgufType.STRING, "strings");
            return a.strings();
        });
    }

    /** An array of any integer type whose elements all fit an int. */
    public int[] getIntArray(String key) {
        return findIntArray(key).orElseThrow(() -> missing(key));
    }

    public Optional<int[]> findIntArray(String key) {
        return findArray(key).map(a -> {
            requireElements(key, a, a.elementType().isInteger(), "integers");
            try {
                return a.ints();
            } catch (ArithmeticException e) {
                throw fail("metadata key '" + key + "': " + a.elementType() + " array " + e.getMessage());
            }
        });
    }

    /** An array of any integer type, as longs (UINT64 elements keep their 64 bits). */
    public long[] getLongArray(String key) {
        return findLongArray(key).orElseThrow(() -> missing(key));
    }

    public Optional<long[]> findLongArray(String key) {
        return findArray(key).map(a -> {
            requireElements(key, a, a.elementType().isInteger(), "integers");
            return a.longs();
        });
    }

    /** An array of any numeric type, as floats, e.g. {@code tokenizer.ggml.scores}. */
    public float[] getFloatArray(String key) {
        return findFloatArray(key).orElseThrow(() -> missing(key));
    }

    public Optional<float[]> findFloatArray(String key) {
        return findArray(key).map(a -> {
            requireElements(key, a, numeric(a.elementType()), "numbers");
            return a.floats();
        });
    }

    private static boolean numeric(GgufType t) {
        return t.isInteger() || t == GgufType.FLOAT32 || t == GgufType.FLOAT64;
    }

    private <T> Optional<T> typed(String key, String expected, Function<Object, T> convert) {
        Object v = metadata.get(key);
        if (v == null) {
            return Optional.empty();
        }
        T t = convert.apply(v);
        if (t == null) {
            throw fail("metadata key '" + key + "' holds " + describeType(key) + ", expected " + expected);
        }
        return Optional.of(t);
    }

    private void requireElements(String key, GgufArray a, boolean ok, String expected) {
        if (!ok) {
            throw fail("metadata key '" + key + "' holds an array of " + a.elementType() + ", expected " + expected);
        }
    }

    private String describeType(String key) {
        Object v = metadata.get(key);
        return v instanceof GgufArray a ? "an array of " + a.elementType() : String.valueOf(types.get(key));
    }

    private ModelFormatException missing(String key) {
        return fail("no metadata key '" + key + "'");
    }

    private ModelFormatException fail(String message) {
        return new ModelFormatException(path + ": " + message);
    }

    @Override
    public String toString() {
        return "GgufFile[" + path + ", v" + version + ", " + metadata.size() + " keys, " + tensors.size() + " tensors]";
    }

    // ---- parsing ----

    private static final class Header {
        int version;
        long alignment = DEFAULT_ALIGNMENT;
        long dataOffset;
        final Map<String, Object> metadata = new LinkedHashMap<>();
        final Map<String, GgufType> types = new HashMap<>();
        final Map<String, Tensor> tensors = new LinkedHashMap<>();
    }

    /** What a tensor's description says, before its data is located. */
    private record TensorInfo(String name, DType type, long[] shape, long offset, long bytes) {
    }

    /** Reads the header front to back; every read checks that the file holds the bytes first. */
    private static final class Parser {
        private final String file;
        private final MemorySegment s;
        private final long size;
        private long pos;

        Parser(String file, MemorySegment s) {
            this.file = file;
            this.s = s;
            this.size = s.byteSize();
        }

        Header parse() {
            Header h = new Header();
            need(4, "the magic number");
            int magic = s.get(U32, 0);
            if (magic != MAGIC) {
                throw fail("not a GGUF file: it starts with " + hexBytes(0, 4) + ", not the magic \"GGUF\"");
            }
            pos = 4;
            long version = u32("the version");
            if (version != 2 && version != 3) {
                long swapped = Integer.reverseBytes((int) version) & 0xFFFFFFFFL;
                if (swapped == 2 || swapped == 3) {
                    throw fail("big-endian GGUF files are not supported");
                }
                throw fail("unsupported GGUF version " + version + " (Herd reads versions 2 and 3)");
            }
            h.version = (int) version;
            // The smallest entries: a key-value pair is a key length, a type and a one-byte value (13 bytes); a
            // tensor description is a name length, n_dims, a type and an offset (24 bytes). Bounding the counts
            // by what the file can hold keeps a corrupt count from allocating anything.
            long nTensors = u64("the tensor count");
            long nKv = u64("the metadata entry count");
            if (nTensors < 0 || nTensors > remaining() / 24 || nTensors > Integer.MAX_VALUE) {
                throw fail("tensor count " + Long.toUnsignedString(nTensors) + " is impossible for a file of "
                        + size + " bytes");
            }
            if (nKv < 0 || nKv > remaining() / 13) {
                throw fail("metadata entry count " + Long.toUnsignedString(nKv) + " is impossible for a file of "
                        + size + " bytes");
            }

            for (long i = 0; i < nKv; i++) {
                readEntry(h, i, nKv);
            }
            Object align = h.metadata.get("general.alignment");
            if (align != null) {
                if (!(align instanceof Long a) || a <= 0 || Long.bitCount(a) != 1 || a > (1L << 30)) {
                    throw fail("metadata key 'general.alignment' is " + h.types.get("general.alignment") + " " + align
                            + ", not a power of two");
                }
                h.alignment = a;
            }

            List<TensorInfo> infos = new ArrayList<>((int) Math.min(nTensors, 1 << 16));
            Map<String, Integer> seen = new HashMap<>();
            for (int i = 0; i < nTensors; i++) {
                TensorInfo info = readTensorInfo(i, nTensors);
                Integer prev = seen.putIfAbsent(info.name, i);
                if (prev != null) {
                    throw fail("tensor '" + info.name + "' is described twice (tensors " + prev + " and " + i + ")");
                }
                infos.add(info);
            }
            h.dataOffset = alignUp(pos, h.alignment);
            locateTensors(h, infos);
            return h;
        }

        private void readEntry(Header h, long index, long count) {
            String where = "metadata entry " + index + " of " + count;
            String key = string(where + ": the key");
            if (key.isEmpty()) {
                throw fail(where + " has an empty key");
            }
            String what = "metadata key '" + key + "'";
            if (h.metadata.containsKey(key)) {
                throw fail(what + " appears twice");
            }
            GgufType type = valueType(u32(what + ": the value type"), what);
            Object value;
            if (type == GgufType.ARRAY) {
                GgufType elementType = valueType(u32(what + ": the array element type"), what + " array");
                if (elementType == GgufType.ARRAY) {
                    throw fail(what + " is an array of arrays, which GGUF does not allow");
                }
                value = array(elementType, u64(what + ": the array length"), what);
            } else {
                value = scalar(type, what);
            }
            h.metadata.put(key, value);
            h.types.put(key, type);
        }

        private GgufType valueType(long id, String what) {
            GgufType t = GgufType.fromId(id);
            if (t == null) {
                throw fail(what + " has unknown value type " + id);
            }
            return t;
        }

        private Object scalar(GgufType type, String what) {
            need(type == GgufType.STRING ? 8 : type.size(), what + ": its " + type + " value");
            return switch (type) {
                case UINT8 -> (long) (s.get(ValueLayout.JAVA_BYTE, advance(1)) & 0xFF);
                case INT8 -> (long) s.get(ValueLayout.JAVA_BYTE, advance(1));
                case UINT16 -> (long) (s.get(U16, advance(2)) & 0xFFFF);
                case INT16 -> (long) s.get(U16, advance(2));
                case UINT32 -> s.get(U32, advance(4)) & 0xFFFFFFFFL;
                case INT32 -> (long) s.get(U32, advance(4));
                case UINT64, INT64 -> s.get(U64, advance(8));
                case FLOAT32 -> Float.intBitsToFloat(s.get(U32, advance(4)));
                case FLOAT64 -> Double.longBitsToDouble(s.get(U64, advance(8)));
                case BOOL -> s.get(ValueLayout.JAVA_BYTE, advance(1)) != 0;
                case STRING -> string(what + ": its string value");
                case ARRAY -> throw new IllegalStateException();
            };
        }

        private GgufArray array(GgufType elementType, long n, String what) {
            int minSize = elementType == GgufType.STRING ? 8 : elementType.size();
            if (n < 0 || n > remaining() / minSize) {
                throw fail(what + ": array length " + Long.toUnsignedString(n) + " of " + elementType
                        + " does not fit in the " + remaining() + " bytes left in the file");
            }
            long start = pos;
            int[] starts = null;
            if (elementType == GgufType.STRING) {
                starts = new int[(int) n];
                for (int i = 0; i < n; i++) {
                    // Checked inline: this loop runs once per vocabulary entry.
                    if (remaining() < 8) {
                        throw fail(what + ": truncated in string element " + i + " of " + n);
                    }
                    long len = s.get(U64, pos);
                    if (len < 0 || len > remaining() - 8) {
                        throw fail(what + ": string element " + i + " has length " + Long.toUnsignedString(len)
                                + ", past the end of the file");
                    }
                    pos += 8;
                    long rel = pos - start;
                    if (rel + len > Integer.MAX_VALUE - 16) {
                        throw fail(what + ": string array larger than 2 GB");
                    }
                    starts[i] = (int) rel;
                    pos += len;
                }
            } else {
                long bytes = n * minSize;
                if (bytes > Integer.MAX_VALUE - 16) {
                    throw fail(what + ": array larger than 2 GB");
                }
                pos += bytes;
            }
            byte[] raw = s.asSlice(start, pos - start).toArray(ValueLayout.JAVA_BYTE);
            return new GgufArray(elementType, (int) n, raw, starts);
        }

        private TensorInfo readTensorInfo(int index, long count) {
            String name = string("tensor description " + index + " of " + count + ": the name");
            String what = "tensor '" + name + "'";
            if (name.isEmpty()) {
                throw fail("tensor description " + index + " has an empty name");
            }
            long nDims = u32(what + ": the number of dimensions");
            if (nDims > MAX_DIMS) {
                throw fail(what + " has " + nDims + " dimensions; GGUF allows at most " + MAX_DIMS);
            }
            long[] ne = new long[(int) Math.max(1, nDims)];
            ne[0] = 1; // no dimensions: a scalar, which ggml stores as one element
            for (int j = 0; j < nDims; j++) {
                ne[j] = u64(what + ": dimension " + j);
                if (ne[j] <= 0) {
                    throw fail(what + ": dimension " + j + " is " + Long.toUnsignedString(ne[j])
                            + "; every dimension must be at least 1");
                }
            }
            long typeId = u32(what + ": the type");
            DType type = typeId <= 1000 ? DType.fromGgml((int) typeId) : null;
            if (type == null) {
                String typeName = typeId < GGML_TYPE_NAMES.length ? GGML_TYPE_NAMES[(int) typeId] : null;
                throw fail(what + " has ggml type " + typeId + (typeName != null ? " (" + typeName + ")" : " (unknown)")
                        + ", which Herd does not read; it reads F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K");
            }
            long offset = u64(what + ": the data offset");
            long[] shape = new long[ne.length];
            for (int j = 0; j < ne.length; j++) {
                shape[j] = ne[ne.length - 1 - j];
            }
            if (ne[0] % type.blockSize() != 0) {
                throw fail(what + " " + type + " has rows of " + ne[0] + " elements, not a multiple of the "
                        + type.blockSize() + "-element block");
            }
            long bytes;
            try {
                long elements = 1;
                for (long d : ne) {
                    elements = Math.multiplyExact(elements, d);
                }
                bytes = Math.multiplyExact(elements / type.blockSize(), (long) type.blockBytes());
            } catch (ArithmeticException e) {
                throw fail(what + " has an impossible size: shape " + java.util.Arrays.toString(shape));
            }
            return new TensorInfo(name, type, shape, offset, bytes);
        }

        private void locateTensors(Header h, List<TensorInfo> infos) {
            long dataBytes = size - h.dataOffset; // negative when the header's padding already runs past the end
            for (TensorInfo t : infos) {
                String what = "tensor '" + t.name + "'";
                if (t.offset < 0 || t.offset % h.alignment != 0) {
                    throw fail(what + " has data offset " + Long.toUnsignedString(t.offset)
                            + ", not a multiple of the alignment " + h.alignment);
                }
                if (dataBytes < 0 || t.offset > dataBytes || t.bytes > dataBytes - t.offset) {
                    throw fail(what + " has data at file bytes [" + (h.dataOffset + t.offset) + ", "
                            + (h.dataOffset + t.offset + t.bytes) + "), past the end of the file (" + size + " bytes)");
                }
            }
            List<TensorInfo> byOffset = new ArrayList<>(infos);
            byOffset.sort(Comparator.comparingLong(TensorInfo::offset));
            for (int i = 1; i < byOffset.size(); i++) {
                TensorInfo a = byOffset.get(i - 1);
                TensorInfo b = byOffset.get(i);
                if (a.offset + a.bytes > b.offset) {
                    throw fail("tensors '" + a.name + "' (data offset " + a.offset + ", " + a.bytes
                            + " bytes) and '" + b.name + "' (data offset " + b.offset + ") overlap");
                }
            }
            for (TensorInfo t : infos) {
                MemorySegment data = s.asSlice(h.dataOffset + t.offset, t.bytes);
                h.tensors.put(t.name, new Tensor(t.name, t.type, t.shape, data));
            }
        }

        private String string(String what) {
            long len = u64(what + " length");
            if (len < 0 || len > remaining()) {
                throw fail(what + ": string length " + Long.toUnsignedString(len) + " runs past the end of the file ("
                        + remaining() + " bytes left)");
            }
            if (len > Integer.MAX_VALUE - 16) {
                throw fail(what + ": string longer than 2 GB");
            }
            byte[] bytes = s.asSlice(advance(len), len).toArray(ValueLayout.JAVA_BYTE);
            return new String(bytes, StandardCharsets.UTF_8);
        }

        private long u32(String what) {
            need(4, what);
            return s.get(U32, advance(4)) & 0xFFFFFFFFL;
        }

        /** A u64 as its 64 bits: values of 2^63 and more come back negative, and callers refuse them. */
        private long u64(String what) {
            need(8, what);
            return s.get(U64, advance(8));
        }

        private long advance(long n) {
            long p = pos;
            pos += n;
            return p;
        }

        private long remaining() {
            return size - pos;
        }

        private void need(long n, String what) {
            if (n > size - pos) {
                throw fail("truncated: the file ends at byte " + size + " while reading " + what + " at byte " + pos);
            }
        }

        private String hexBytes(long from, int n) {
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < n; i++) {
                b.append(String.format("%02x", s.get(ValueLayout.JAVA_BYTE, from + i) & 0xFF));
            }
            return "0x" + b;
        }

        private ModelFormatException fail(String message) {
            return new ModelFormatException(file + ": " + message);
        }
    }

    static long alignUp(long n, long alignment) {
        return (n + alignment - 1) / alignment * alignment;
    }
}
