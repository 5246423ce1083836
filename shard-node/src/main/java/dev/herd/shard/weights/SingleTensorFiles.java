package dev.herd.shard.weights;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.herd.kernels.DType;
import dev.herd.model.weights.CheckpointFormat;
import dev.herd.model.weights.ModelFormatException;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Headers of the files a {@link TensorCache} keeps one fetched tensor in: a safetensors file, or a GGUF file with
 * no metadata, holding that tensor alone, so the model module's own readers open them. A header depends only on
 * the tensor's description, so a part file's length minus its header is the number of bytes received.
 */
final class SingleTensorFiles {
    /** "GGUF" read as a little-endian u32. */
    static final int GGUF_MAGIC = 0x46554747;
    /** GGUF's default alignment of tensor data (the file has no {@code general.alignment}). */
    private static final int GGUF_ALIGNMENT = 32;
    private static final ObjectMapper JSON = new ObjectMapper();

    private SingleTensorFiles() {
    }

    /** The bytes before the tensor's data in its file. */
    static byte[] header(CheckpointFormat format, StoredTensor t) {
        return format == CheckpointFormat.GGUF ? gguf(t) : safetensors(t);
    }

    private static byte[] safetensors(StoredTensor t) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode e = root.putObject(t.name());
        e.put("dtype", t.dtype());
        var shape = e.putArray("shape");
        for (long d : t.shape()) {
            shape.add(d);
        }
        e.putArray("data_offsets").add(0).add(t.byteSize());
        byte[] json = root.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer b = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded).put(json);
        while (b.hasRemaining()) {
            b.put((byte) ' ');
        }
        return b.array();
    }

    private static byte[] gguf(StoredTensor t) {
        DType type;
        try {
            type = DType.valueOf(t.dtype());
        } catch (IllegalArgumentException e) {
            type = null;
        }
        if (type == null || type.ggmlType() < 0) {
            throw new ModelFormatException("tensor '" + t.name() + "' has type " + t.dtype()
                    + ", which a GGUF file cannot hold");
        }
        byte[] name = t.name().getBytes(StandardCharsets.UTF_8);
        long[] shape = t.shape();
        int size = 4 + 4 + 8 + 8 + 8 + name.length + 4 + 8 * shape.length + 4 + 8;
        int padded = (size + GGUF_ALIGNMENT - 1) / GGUF_ALIGNMENT * GGUF_ALIGNMENT;
        ByteBuffer b = ByteBuffer.allocate(padded).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(GGUF_MAGIC).putInt(3).putLong(1).putLong(0);
        b.putLong(name.length).put(name).putInt(shape.length);
        for (int i = shape.length - 1; i >= 0; i--) {
            b.putLong(shape[i]); // ne[0] is the innermost dimension
        }
        b.putInt(type.ggmlType()).putLong(0);
        return b.array();
    }
}
