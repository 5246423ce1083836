package dev.herd.model.forward;

import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The rows of one forward step: segments laid out one after another, each row with its token and position.
 * A pipeline stage receives the same layout with hidden states instead of tokens.
 */
public final class Batch {
    private final List<Segment> segments;
    private final int[] tokens;
    private final int[] positions;
    private final int[] starts;

    private Batch(List<Segment> segments) {
        this.segments = List.copyOf(segments);
        int rows = 0;
        Map<KvCache, Boolean> seen = new IdentityHashMap<>();
        for (Segment s : segments) {
            if (seen.put(s.cache(), Boolean.TRUE) != null) {
                throw new IllegalArgumentException("a sequence may appear only once in a batch");
            }
            rows += s.tokens().length;
        }
        tokens = new int[rows];
        positions = new int[rows];
        starts = new int[segments.size() + 1];
        int r = 0;
        for (int i = 0; i < segments.size(); i++) {
            Segment s = segments.get(i);
            starts[i] = r;
            for (int j = 0; j < s.tokens().length; j++) {
                tokens[r] = s.tokens()[j];
                positions[r++] = s.cache().length() + j;
            }
        }
        starts[segments.size()] = r;
    }

    public static Batch of(List<Segment> segments) {
        if (segments.isEmpty()) {
            throw new IllegalArgumentException("an empty batch");
        }
        return new Batch(segments);
    }

    public int rows() {
        return tokens.length;
    }

    public int segments() {
        return segments.size();
    }

    int[] tokens() {
        return tokens;
    }

    /** The position of each row (shared, do not modify). */
    public int[] positions() {
        return positions;
    }

    public int start(int segment) {
        return starts[segment];
    }

    public int end(int segment) {
        return starts[segment + 1];
    }

    public KvCache cache(int segment) {
        return segments.get(segment).cache();
    }

    /** Marks every segment's tokens as stored, once all layers ran. */
    void advanceCaches() {
        for (Segment s : segments) {
            s.cache().advance(s.tokens().length);
        }
    }
}
