package dev.herd.kernels;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A weight tensor: a typed view over memory Herd does not own (usually a memory-mapped model file).
 *
 * <p>{@code shape} is outermost first, as in PyTorch: a linear layer's weight is {@code (out, in)} and its
 * rows are contiguous, which is also GGUF's layout (GGUF lists the same dims innermost first). Quantized
 * blocks run along the last dimension.
 *
 * @param name  the checkpoint's name for it, for error messages
 * @param dtype element type
 * @param shape dimensions, outermost first
 * @param data  exactly {@code dtype.byteSize(elements)} bytes
 * @param scale for {@link DType#F8_E4M3} only: f32 scales of shape {@code (ceil(rows/br), ceil(cols/bc))}
 *              covering blocks of {@code br x bc} elements (one per row: {@code (rows, 1)}; one per
 *              tensor: {@code (1, 1)}); null for every other type
 */
public record Tensor(String name, DType dtype, long[] shape, MemorySegment data, Tensor scale) {

    public Tensor {
        shape = shape.clone();
        long elements = 1;
        for (long d : shape) {
            if (d <= 0) {
                throw new IllegalArgumentException("tensor " + name + ": bad shape " + Arrays.toString(shape));
            }
            elements = Math.multiplyExact(elements, d);
        }
        if (shape.length > 0 && shape[shape.length - 1] % dtype.blockSize() != 0) {
            throw new IllegalArgumentException("tensor " + name + ": row length " + shape[shape.length - 1]
                    + " is not a multiple of the " + dtype + " block size " + dtype.blockSize());
        }
        long expected = dtype.byteSize(elements);
        if (data.byteSize() != expected) {
            throw new IllegalArgumentException("tensor " + name + " " + dtype + Arrays.toString(shape) + ": expected "
                    + expected + " bytes, got " + data.byteSize());
        }
        if ((dtype == DType.F8_E4M3) != (scale != null)) {
            throw new IllegalArgumentException("tensor " + name + ": " + dtype
                    + (scale == null ? " needs a scale tensor" : " takes no scale tensor"));
        }
    }

    public Tensor(String name, DType dtype, long[] shape, MemorySegment data) {
        this(name, dtype, shape, data, null);
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long dim(int i) {
        return shape[i];
    }

    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** Length of a row (the last dimension). */
    public long cols() {
        return shape[shape.length - 1];
    }

    /** Number of rows: the product of all dimensions but the last. */
    public long rows() {
        return elementCount() / cols();
    }

    public long rowBytes() {
        return dtype.byteSize(cols());
    }

    /** The {@code index}-th sub-tensor along the first dimension, e.g. one expert of a stacked expert tensor. */
    public Tensor slice(long index) {
        if (shape.length < 2 || index < 0 || index >= shape[0]) {
            throw new IndexOutOfBoundsException("tensor " + name + Arrays.toString(shape) + ": no slice " + index);
        }
        if (scale != null) {
            throw new UnsupportedOperationException("tensor " + name + ": slicing a block-scaled FP8 tensor");
        }
        long[] sub = Arrays.copyOfRange(shape, 1, shape.length);
        long bytes = data.byteSize() / shape[0];
        return new Tensor(name + "[" + index + "]", dtype, sub, data.asSlice(index * bytes, bytes));
    }

    /** The same bytes under another shape with the same element count. */
    public Tensor reshape(String newName, long... newShape) {
        return new Tensor(newName, dtype, newShape, data, scale);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Tensor t && t.name.equals(name) && t.dtype == dtype && Arrays.equals(t.shape, shape)
                && t.data.equals(data);
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape);
    }
}
