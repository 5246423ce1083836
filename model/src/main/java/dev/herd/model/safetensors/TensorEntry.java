package dev.herd.model.safetensors;

import java.util.Arrays;
import java.util.Optional;

/**
 * One tensor as a safetensors header describes it, before any data is touched.
 *
 * @param name  the checkpoint's name
 * @param dtype the element type as the header spells it (also names Herd does not know)
 * @param shape dimensions, outermost first, as stored; empty for a scalar
 * @param begin first byte, relative to the start of the data buffer (after the header)
 * @param end   one past the last byte, relative to the data buffer
 */
public record TensorEntry(String name, String dtype, long[] shape, long begin, long end) {

    public TensorEntry {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** The element type, or empty when the header names one this implementation does not know. */
    public Optional<SafetensorsDtype> knownDtype() {
        return SafetensorsDtype.parse(dtype);
    }

    public long byteSize() {
        return end - begin;
    }

    /** Product of the dimensions (1 for a scalar); the header was checked not to overflow it. */
    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorEntry e && e.name.equals(name) && e.dtype.equals(dtype)
                && Arrays.equals(e.shape, shape) && e.begin == begin && e.end == end;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Long.hashCode(begin);
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape) + " @[" + begin + ", " + end + ")";
    }
}
