package dev.herd.shard;

/**
 * Decoder layers {@code [start, end)}, 0-based as in the checkpoint's tensor names. Half-open so consecutive
 * stages share a boundary value and an expert-only node has the empty range.
 */
public record LayerRange(int start, int end) {
    public LayerRange {
        if (start < 0 || end < start) {
            throw new IllegalArgumentException("bad layer range [" + start + ", " + end + ")");
        }
    }

    public boolean isEmpty() {
        return start == end;
    }

    public boolean contains(int layer) {
        return layer >= start && layer < end;
    }

    @Override
    public String toString() {
        return "[" + start + ", " + end + ")";
    }
}
