package dev.herd.model.safetensors;

import dev.herd.kernels.Dequant;
import dev.herd.kernels.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;

/** Builds safetensors files byte by byte for tests, independently of {@link SafetensorsWriter}. */
final class HandMade {
    private HandMade() {
    }

    /** 8-byte little-endian length of {@code json}, the JSON as UTF-8, then {@code data}. */
    static Path file(Path path, String json, byte[] data) {
        return raw(path, json.getBytes(StandardCharsets.UTF_8), data);
    }

    static Path raw(Path path, byte[] json, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + json.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(json.length).put(json).put(data);
        try {
            Files.write(path, b.array());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return path;
    }

    static byte[] f32(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) {
            b.putFloat(x);
        }
        return b.array();
    }

    static byte[] u16(int... bits) {
        ByteBuffer b = ByteBuffer.allocate(2 * bits.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int x : bits) {
            b.putShort((short) x);
        }
        return b.array();
    }

    static byte[] u8(int... v) {
        byte[] b = new byte[v.length];
        for (int i = 0; i < v.length; i++) {
            b[i] = (byte) v[i];
        }
        return b;
    }

    static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        ByteBuffer b = ByteBuffer.allocate(n);
        for (byte[] p : parts) {
            b.put(p);
        }
        return b.array();
    }

    static byte[] hex(String hex) {
        return HexFormat.of().parseHex(hex.replaceAll("\\s+", ""));
    }

    /** Row {@code r} of {@code t} as f32 through the reference dequantizer. */
    static float[] row(Tensor t, long r) {
        float[] out = new float[Math.toIntExact(t.cols())];
        Dequant.row(t, r, out, 0);
        return out;
    }

    /** All of {@code t} as f32, row by row. */
    static float[] all(Tensor t) {
        int cols = Math.toIntExact(t.cols());
        float[] out = new float[Math.toIntExact(t.elementCount())];
        for (long r = 0; r < t.rows(); r++) {
            Dequant.row(t, r, out, Math.toIntExact(r * cols));
        }
        return out;
    }
}
