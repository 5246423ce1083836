package dev.herd.model.gguf;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * An array value of GGUF metadata: its element type and the elements as stored in the file
 * (little-endian; each string as a u64 byte length and its UTF-8 bytes). Keeping the stored bytes makes
 * reading a 200k-entry vocabulary one copy, and each view ({@link #strings()}, {@link #ints()}, ...)
 * decodes them only when asked. Immutable; it stays valid after its file is closed.
 */
public final class GgufArray {
    private final GgufType elementType;
    private final int size;
    private final byte[] raw;
    /** For strings: where each string's UTF-8 bytes start in {@code raw}. */
    private final int[] stringStarts;
    private volatile List<String> strings;

    GgufArray(GgufType elementType, int size, byte[] raw, int[] stringStarts) {
        if (elementType == GgufType.ARRAY) {
            throw new IllegalArgumentException("GGUF has no arrays of arrays");
        }
        this.elementType = elementType;
        this.size = size;
        this.raw = raw;
        this.stringStarts = stringStarts;
    }

    public GgufType elementType() {
        return elementType;
    }

    public int size() {
        return size;
    }

    /** The elements of a {@link GgufType#STRING} array (invalid UTF-8 decodes to U+FFFD). */
    public List<String> strings() {
        require(elementType == GgufType.STRING, "strings");
        List<String> s = strings;
        if (s == null) {
            String[] out = new String[size];
            for (int i = 0; i < size; i++) {
                int start = stringStarts[i];
                int len = (int) buffer().getLong(start - 8);
                out[i] = new String(raw, start, len, StandardCharsets.UTF_8);
            }
            s = List.of(out);
            strings = s;
        }
        return s;
    }

    /**
     * The elements of an integer array as longs; unsigned values are widened without sign, except
     * {@link GgufType#UINT64} values, which keep their 64 bits (read them with {@link Long#toUnsignedString}).
     */
    public long[] longs() {
        require(elementType.isInteger(), "integers");
        ByteBuffer b = buffer();
        long[] out = new long[size];
        for (int i = 0; i < size; i++) {
            out[i] = switch (elementType) {
                case UINT8 -> b.get(i) & 0xFFL;
                case INT8 -> b.get(i);
                case UINT16 -> b.getShort(2 * i) & 0xFFFFL;
                case INT16 -> b.getShort(2 * i);
                case UINT32 -> b.getInt(4 * i) & 0xFFFFFFFFL;
                case INT32 -> b.getInt(4 * i);
                default -> b.getLong(8 * i);
            };
        }
        return out;
    }

    /**
     * The elements of an integer array as ints; an {@link ArithmeticException} naming the index when one
     * does not fit.
     */
    public int[] ints() {
        require(elementType.isInteger(), "integers");
        if (elementType == GgufType.INT32) {
            int[] out = new int[size];
            buffer().asIntBuffer().get(out);
            return out;
        }
        long[] wide = longs();
        int[] out = new int[size];
        for (int i = 0; i < size; i++) {
            long v = wide[i];
            if (v != (int) v || (elementType == GgufType.UINT64 && v < 0)) {
                throw new ArithmeticException("element " + i + " = "
                        + (elementType == GgufType.UINT64 ? Long.toUnsignedString(v) : v) + " does not fit an int");
            }
            out[i] = (int) v;
        }
        return out;
    }

    /** The elements of a numeric array as floats (f64 and integers are converted, possibly rounding). */
    public float[] floats() {
        if (elementType == GgufType.FLOAT32) {
            float[] out = new float[size];
            buffer().asFloatBuffer().get(out);
            return out;
        }
        double[] d = doubles();
        float[] out = new float[size];
        for (int i = 0; i < size; i++) {
            out[i] = (float) d[i];
        }
        return out;
    }

    /** The elements of a numeric array as doubles. */
    public double[] doubles() {
        double[] out = new double[size];
        switch (elementType) {
            case FLOAT64 -> buffer().asDoubleBuffer().get(out);
            case FLOAT32 -> {
                ByteBuffer b = buffer();
                for (int i = 0; i < size; i++) {
                    out[i] = b.getFloat(4 * i);
                }
            }
            default -> {
                require(elementType.isInteger(), "numbers");
                long[] l = longs();
                for (int i = 0; i < size; i++) {
                    out[i] = elementType == GgufType.UINT64 && l[i] < 0 ? 0x1p64 + l[i] : l[i];
                }
            }
        }
        return out;
    }

    /** The elements of a {@link GgufType#BOOL} array (any non-zero byte is true, as in llama.cpp). */
    public boolean[] booleans() {
        require(elementType == GgufType.BOOL, "booleans");
        boolean[] out = new boolean[size];
        for (int i = 0; i < size; i++) {
            out[i] = raw[i] != 0;
        }
        return out;
    }

    /** The elements as stored in the file, without the element type and count. */
    byte[] rawBytes() {
        return raw;
    }

    private ByteBuffer buffer() {
        return ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
    }

    private void require(boolean ok, String what) {
        if (!ok) {
            throw new IllegalStateException("a GGUF array of " + elementType + " does not hold " + what);
        }
    }

    // ---- construction, for writing ----

    public static GgufArray ofStrings(List<String> values) {
        byte[][] utf8 = new byte[values.size()][];
        long total = 0;
        for (int i = 0; i < utf8.length; i++) {
            utf8[i] = Objects.requireNonNull(values.get(i), "string element " + i).getBytes(StandardCharsets.UTF_8);
            total += 8 + utf8[i].length;
        }
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(total)).order(ByteOrder.LITTLE_ENDIAN);
        int[] starts = new int[utf8.length];
        for (int i = 0; i < utf8.length; i++) {
            b.putLong(utf8[i].length);
            starts[i] = b.position();
            b.put(utf8[i]);
        }
        return new GgufArray(GgufType.STRING, utf8.length, b.array(), starts);
    }

    public static GgufArray ofStrings(String... values) {
        return ofStrings(List.of(values));
    }

    /** An INT32 array. */
    public static GgufArray ofInt32(int... values) {
        ByteBuffer b = ByteBuffer.allocate(Math.multiplyExact(4, values.length)).order(ByteOrder.LITTLE_ENDIAN);
        b.asIntBuffer().put(values);
        return new GgufArray(GgufType.INT32, values.length, b.array(), null);
    }

    /**
     * An array of the integer type {@code type}; each value must fit it (for {@link GgufType#UINT64} any
     * long is taken as its 64 bits).
     */
    public static GgufArray ofIntegers(GgufType type, long... values) {
        if (!type.isInteger()) {
            throw new IllegalArgumentException(type + " is not an integer type");
        }
        ByteBuffer b = ByteBuffer.allocate(Math.multiplyExact(type.size(), values.length)).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < values.length; i++) {
            long v = checkFits(type, values[i], "element " + i);
            switch (type.size()) {
                case 1 -> b.put((byte) v);
                case 2 -> b.putShort((short) v);
                case 4 -> b.putInt((int) v);
                default -> b.putLong(v);
            }
        }
        return new GgufArray(type, values.length, b.array(), null);
    }

    public static GgufArray ofFloat32(float... values) {
        ByteBuffer b = ByteBuffer.allocate(Math.multiplyExact(4, values.length)).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        return new GgufArray(GgufType.FLOAT32, values.length, b.array(), null);
    }

    public static GgufArray ofFloat64(double... values) {
        ByteBuffer b = ByteBuffer.allocate(Math.multiplyExact(8, values.length)).order(ByteOrder.LITTLE_ENDIAN);
        b.asDoubleBuffer().put(values);
        return new GgufArray(GgufType.FLOAT64, values.length, b.array(), null);
    }

    public static GgufArray ofBool(boolean... values) {
        byte[] raw = new byte[values.length];
        for (int i = 0; i < raw.length; i++) {
            raw[i] = (byte) (values[i] ? 1 : 0);
        }
        return new GgufArray(GgufType.BOOL, values.length, raw, null);
    }

    /** {@code v} if it fits the integer type {@code type}, else an IllegalArgumentException. */
    static long checkFits(GgufType type, long v, String what) {
        boolean fits = switch (type) {
            case UINT8 -> v >= 0 && v <= 0xFF;
            case INT8 -> v == (byte) v;
            case UINT16 -> v >= 0 && v <= 0xFFFF;
            case INT16 -> v == (short) v;
            case UINT32 -> v >= 0 && v <= 0xFFFFFFFFL;
            case INT32 -> v == (int) v;
            default -> true;
        };
        if (!fits) {
            throw new IllegalArgumentException(what + ": " + v + " does not fit " + type);
        }
        return v;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufArray a && a.elementType == elementType && a.size == size && Arrays.equals(a.raw, raw);
    }

    @Override
    public int hashCode() {
        return elementType.hashCode() * 31 + Arrays.hashCode(raw);
    }

    @Override
    public String toString() {
        return "GgufArray[" + elementType + " x " + size + "]";
    }
}
