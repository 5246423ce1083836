package dev.herd.kernels;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

/**
 * One layer's keys and values of one sequence as attention reads them: fixed-size blocks of
 * {@code blockTokens} positions, found through a block table (PagedAttention's layout). The row of
 * position {@code t} is the {@code kvDim} floats starting at float index {@link #row(int) row(t)} =
 * {@code offset + blocks[t / blockTokens] * blockStride + (t % blockTokens) * kvDim} of {@code keys} (the
 * same index into {@code values}). Blocks need not be contiguous nor in order, so sequences can share
 * blocks (a common prompt prefix) and a cache grows without copying.
 *
 * <p>The block table is read, not copied: it is the caller's live array, of which the entries up to the
 * highest position attended are used.
 *
 * @param keys        key storage (native, or a heap segment over a float array)
 * @param values      value storage, laid out like {@code keys}
 * @param blocks      block table: the block holding positions {@code [i * blockTokens, (i + 1) * blockTokens)}
 * @param blockTokens positions per block
 * @param blockStride floats from one block to the next (at least {@code blockTokens * kvDim}: a store that keeps
 *                    several layers in a block leaves the other layers' rows in between)
 * @param offset      floats from the start of the storage to this layer's first row in block 0
 * @param kvDim       floats per row: {@code nKvHeads * headDim}
 */
public record PagedKv(MemorySegment keys, MemorySegment values, int[] blocks, int blockTokens, long blockStride,
                      long offset, int kvDim) {
    public PagedKv {
        if (blockTokens < 1 || kvDim < 1 || offset < 0 || blockStride < (long) blockTokens * kvDim) {
            throw new IllegalArgumentException("bad paged cache layout: " + blockTokens + " positions per block, "
                    + kvDim + " floats per row, block stride " + blockStride + ", offset " + offset);
        }
    }

    /**
     * A cache that is one contiguous array of rows for keys and one for values: a single block as long as
     * the shorter array holds rows (tests and callers that keep their own arrays).
     */
    public static PagedKv contiguous(float[] keys, float[] values, int kvDim) {
        int rows = Math.max(1, Math.min(keys.length, values.length) / Math.max(1, kvDim));
        return new PagedKv(MemorySegment.ofArray(keys), MemorySegment.ofArray(values), new int[] {0}, rows,
                (long) rows * kvDim, 0, kvDim);
    }

    /** Float index of position {@code t}'s row in {@link #keys} and {@link #values}. */
    public long row(int t) {
        return offset + blocks[t / blockTokens] * blockStride + (long) (t % blockTokens) * kvDim;
    }

    /** Key {@code i} of position {@code t}'s row. */
    public float key(int t, int i) {
        return keys.getAtIndex(JAVA_FLOAT, row(t) + i);
    }

    public float value(int t, int i) {
        return values.getAtIndex(JAVA_FLOAT, row(t) + i);
    }

    /**
     * Checks {@link Backend#attention}'s arguments against this cache: shapes, positions, and that every row the
     * queries reach lies inside the storage. Returns the highest query position (-1 for no rows).
     */
    public int checkAttention(AttentionParams p, float[] q, int[] positions, int n, float[] out) {
        long rows = (long) n * p.qDim();
        if (n < 0 || q.length < rows || out.length < rows || positions.length < n) {
            throw new IllegalArgumentException("attention on " + n + " rows of " + p.qDim() + ": q has " + q.length
                    + ", out " + out.length + " floats, " + positions.length + " positions");
        }
        if (p.kvDim() != kvDim) {
            throw new IllegalArgumentException("attention with " + p.kvDim() + " floats per key row over a cache of "
                    + kvDim);
        }
        int max = -1;
        for (int r = 0; r < n; r++) {
            if (positions[r] < 0) {
                throw new IllegalArgumentException("attention at position " + positions[r]);
            }
            max = Math.max(max, positions[r]);
        }
        checkRows(max);
        return max;
    }

    /**
     * Makes sure every row of positions {@code [0, maxPosition]} lies inside both storages, so a kernel
     * that reads them without checks stays in bounds.
     *
     * @throws IllegalArgumentException naming the first position that does not
     */
    public void checkRows(int maxPosition) {
        if (maxPosition < 0) {
            return;
        }
        int lastBlock = maxPosition / blockTokens;
        if (lastBlock >= blocks.length) {
            throw new IllegalArgumentException("position " + maxPosition + " needs block table entry " + lastBlock
                    + ", the table has " + blocks.length);
        }
        long floats = Math.min(keys.byteSize(), values.byteSize()) / Float.BYTES;
        for (int b = 0; b <= lastBlock; b++) {
            int rows = b < lastBlock ? blockTokens : maxPosition % blockTokens + 1;
            long end = offset + (long) blocks[b] * blockStride + (long) rows * kvDim;
            if (blocks[b] < 0 || end > floats) {
                throw new IllegalArgumentException("block " + blocks[b] + " (positions from " + (long) b * blockTokens
                        + ") reaches float " + end + " of a cache of " + floats + " floats");
            }
        }
    }
}
