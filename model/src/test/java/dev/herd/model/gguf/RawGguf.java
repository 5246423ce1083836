package dev.herd.model.gguf;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Byte-level GGUF assembly for tests, written from the format description (docs/gguf.md in ggml) and
 * independent of {@link GgufWriter}: it writes whatever it is told, so tests can build malformed files.
 */
final class RawGguf {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    private RawGguf le(int n, long v) {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v);
        out.write(b.array(), 0, n);
        return this;
    }

    RawGguf bytes(byte... b) {
        out.write(b, 0, b.length);
        return this;
    }

    RawGguf u8(int v) {
        return le(1, v);
    }

    RawGguf u32(long v) {
        return le(4, v);
    }

    RawGguf u64(long v) {
        return le(8, v);
    }

    RawGguf f32(float v) {
        return le(4, Float.floatToRawIntBits(v));
    }

    RawGguf str(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return u64(b.length).bytes(b);
    }

    /** Magic, version, tensor count, key-value count. */
    RawGguf header(long version, long tensors, long kvs) {
        return bytes((byte) 'G', (byte) 'G', (byte) 'U', (byte) 'F').u32(version).u64(tensors).u64(kvs);
    }

    RawGguf kvString(String key, String value) {
        return str(key).u32(8).str(value);
    }

    RawGguf kvU32(String key, long value) {
        return str(key).u32(4).u32(value);
    }

    /** A tensor description: ne innermost first, as GGUF stores it. */
    RawGguf tensor(String name, int ggmlType, long offset, long... ne) {
        str(name).u32(ne.length);
        for (long d : ne) {
            u64(d);
        }
        return u32(ggmlType).u64(offset);
    }

    RawGguf padTo(int alignment) {
        while (out.size() % alignment != 0) {
            u8(0);
        }
        return this;
    }

    RawGguf zeros(int n) {
        return bytes(new byte[n]);
    }

    int size() {
        return out.size();
    }

    byte[] build() {
        return out.toByteArray();
    }

    Path write(Path file) {
        try {
            return Files.write(file, build());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
