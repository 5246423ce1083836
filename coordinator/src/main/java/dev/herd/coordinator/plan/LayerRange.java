package dev.herd.coordinator.plan;

import java.io.Serializable;

/** Decoder layers {@code start} (inclusive) to {@code end} (exclusive). */
public record LayerRange(int start, int end) implements Serializable {
    public LayerRange {
        if (start < 0 || end <= start) {
            throw new IllegalArgumentException("layer range [" + start + ", " + end + ") must be non-empty and start at 0 or later");
        }
    }

    public int size() {
        return end - start;
    }

    public boolean contains(int layer) {
        return layer >= start && layer < end;
    }

    @Override
    public String toString() {
        return "[" + start + ", " + end + ")";
    }
}
