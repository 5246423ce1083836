package dev.herd.model.forward;

import dev.herd.model.config.ModelConfig;

import java.util.Arrays;

/**
 * Keys and values of one sequence for the layers a process runs, in f32, by position. Storage grows on
 * demand (doubling) so long context windows cost only what is used.
 */
public final class KvCache {
    private final int kvDim;
    private final float[][] keys;
    private final float[][] values;
    private int length;

    public KvCache(ModelConfig config) {
        this(config.kvDim(), config.numLayers());
    }

    /**
     * A cache holding a copy of {@code source}'s first {@code positions} positions: a sequence that starts with
     * the same tokens (a shared system prompt) continues from there instead of recomputing them. Keys and values
     * at a position depend only on the tokens up to it, so the copy is exactly what recomputing would write.
     */
    public static KvCache copyOf(KvCache source, int positions) {
        if (positions < 0 || positions > source.length) {
            throw new IllegalArgumentException("cannot copy " + positions + " positions of a cache of " + source.length);
        }
        KvCache c = new KvCache(source.kvDim, source.keys.length);
        int floats = positions * source.kvDim;
        for (int l = 0; l < source.keys.length; l++) {
            if (source.keys[l] != null && positions > 0) {
                c.keys[l] = c.ensure(null, positions);
                c.values[l] = c.ensure(null, positions);
                System.arraycopy(source.keys[l], 0, c.keys[l], 0, floats);
                System.arraycopy(source.values[l], 0, c.values[l], 0, floats);
            }
        }
        c.length = positions;
        return c;
    }

    private KvCache(int kvDim, int layers) {
        this.kvDim = kvDim;
        this.keys = new float[layers][];
        this.values = new float[layers][];
    }

    /** Positions filled so far: the next token goes at this position. */
    public int length() {
        return length;
    }

    /** Marks {@code n} more positions as filled (after every layer has written them). */
    public void advance(int n) {
        length += n;
    }

    /** Forgets positions from {@code newLength} on, e.g. to re-run a suffix. */
    public void truncate(int newLength) {
        if (newLength < 0 || newLength > length) {
            throw new IllegalArgumentException("cannot truncate a cache of " + length + " to " + newLength);
        }
        length = newLength;
    }

    /** Key storage of {@code layer} holding at least {@code positions} positions. */
    float[] keys(int layer, int positions) {
        keys[layer] = ensure(keys[layer], positions);
        return keys[layer];
    }

    float[] values(int layer, int positions) {
        values[layer] = ensure(values[layer], positions);
        return values[layer];
    }

    private float[] ensure(float[] a, int positions) {
        long need = (long) positions * kvDim;
        if (a != null && a.length >= need) {
            return a;
        }
        long size = Math.max(need, a == null ? 16L * kvDim : 2L * a.length);
        if (size > Integer.MAX_VALUE - 8) {
            size = need;
        }
        return a == null ? new float[Math.toIntExact(size)] : Arrays.copyOf(a, Math.toIntExact(size));
    }

    public int kvDim() {
        return kvDim;
    }
}
