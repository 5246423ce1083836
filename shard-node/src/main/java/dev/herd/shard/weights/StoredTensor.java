package dev.herd.shard.weights;

import dev.herd.proto.v1.TensorInfo;

import java.util.Arrays;

/**
 * One tensor as the model files store it, described without its bytes: what a holder lists and a fetcher
 * checks every chunk against.
 *
 * @param name     the checkpoint's name (safetensors key or GGUF tensor name)
 * @param dtype    the file format's own type name ("BF16", "F8_E4M3", "Q4_K"), kept as a string because bytes
 *                 move verbatim and are decoded by the format reader that knows these names
 * @param shape    dimensions, outermost first
 * @param byteSize exact size of the stored bytes
 */
public record StoredTensor(String name, String dtype, long[] shape, long byteSize) {
    public StoredTensor {
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("a tensor needs a name");
        }
        if (dtype == null || dtype.isEmpty()) {
            throw new IllegalArgumentException("tensor '" + name + "' has no dtype");
        }
        shape = shape.clone();
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("tensor '" + name + "' has a negative dimension: "
                        + Arrays.toString(shape));
            }
        }
        if (byteSize < 0) {
            throw new IllegalArgumentException("tensor '" + name + "' has byte size " + Long.toUnsignedString(byteSize));
        }
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Whether the tensor can be cut along its outermost dimension into slices of equal, contiguous bytes. */
    public boolean sliceable() {
        return shape.length >= 2 && shape[0] > 0 && byteSize % shape[0] == 0;
    }

    /** Slices along the outermost dimension (experts of a stacked expert tensor). */
    public long sliceCount() {
        requireSliceable();
        return shape[0];
    }

    /** Bytes of one slice along the outermost dimension. */
    public long sliceBytes() {
        requireSliceable();
        return byteSize / shape[0];
    }

    private void requireSliceable() {
        if (!sliceable()) {
            throw new IllegalArgumentException("tensor '" + name + "' " + dtype + Arrays.toString(shape) + " of "
                    + byteSize + " bytes cannot be cut into slices along its outermost dimension");
        }
    }

    public TensorInfo toProto(String sha256) {
        TensorInfo.Builder b = TensorInfo.newBuilder().setName(name).setDtype(dtype).setByteSize(byteSize)
                .setSha256(sha256 == null ? "" : sha256);
        for (long d : shape) {
            b.addShape(d);
        }
        return b.build();
    }

    /** @throws IllegalArgumentException naming the tensor when the holder described it impossibly */
    public static StoredTensor fromProto(TensorInfo t) {
        long[] shape = new long[t.getShapeCount()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = t.getShape(i);
        }
        return new StoredTensor(t.getName(), t.getDtype(), shape, t.getByteSize());
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof StoredTensor t && t.name.equals(name) && t.dtype.equals(dtype)
                && Arrays.equals(t.shape, shape) && t.byteSize == byteSize;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Long.hashCode(byteSize);
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape) + " " + byteSize + " B";
    }
}
