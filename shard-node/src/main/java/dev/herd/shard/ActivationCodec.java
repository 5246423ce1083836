package dev.herd.shard;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.herd.kernels.Dequant;
import dev.herd.kernels.Quantize;
import dev.herd.proto.v1.DType;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ShortBuffer;

/**
 * Rows of activations to and from {@code ActivationFrame.data}: row-major, little-endian, F32 or BF16. F32 is
 * the bit-exact wire (a distributed run then computes what one process computes); BF16 halves the bytes and
 * rounds each value to nearest even, as the kernels' own converter does.
 */
public final class ActivationCodec {
    private ActivationCodec() {
    }

    public static int elementBytes(DType type) {
        return switch (type) {
            case DTYPE_F32 -> Float.BYTES;
            case DTYPE_BF16 -> Short.BYTES;
            default -> throw new IllegalArgumentException("no activation element type " + type);
        };
    }

    /** The first {@code count} values of {@code x} as wire bytes. */
    public static ByteString encode(float[] x, int count, DType type) {
        ByteBuffer buf = ByteBuffer.allocate(count * elementBytes(type)).order(ByteOrder.LITTLE_ENDIAN);
        switch (type) {
            case DTYPE_F32 -> buf.asFloatBuffer().put(x, 0, count);
            case DTYPE_BF16 -> {
                ShortBuffer s = buf.asShortBuffer();
                for (int i = 0; i < count; i++) {
                    s.put(i, Quantize.bf16(x[i]));
                }
            }
            default -> throw new IllegalArgumentException("no activation element type " + type);
        }
        // the array is never touched again, so the message may share it instead of copying
        return UnsafeByteOperations.unsafeWrap(buf.array());
    }

    /**
     * {@code rows * cols} values from wire bytes; {@link FrameRejected} (a bad frame) when the byte count does
     * not match the shape.
     */
    public static float[] decode(ByteString data, DType type, int rows, int cols, String what) {
        if (type != DType.DTYPE_F32 && type != DType.DTYPE_BF16) {
            throw FrameRejected.badFrame(what + " has element type " + type + "; F32 or BF16 expected");
        }
        long count = (long) rows * cols;
        long expected = count * elementBytes(type);
        if (expected != data.size()) {
            throw FrameRejected.badFrame(what + " is " + rows + " x " + cols + " " + type + " (" + expected
                    + " bytes) but carries " + data.size() + " bytes");
        }
        float[] out = new float[Math.toIntExact(count)];
        ByteBuffer buf = data.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        if (type == DType.DTYPE_F32) {
            buf.asFloatBuffer().get(out);
        } else {
            ShortBuffer s = buf.asShortBuffer();
            for (int i = 0; i < out.length; i++) {
                out[i] = Dequant.bf16(s.get(i));
            }
        }
        return out;
    }
}
