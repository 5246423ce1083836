package dev.herd.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

/**
 * Paged copies of contiguous key/value rows for attention tests: blocks placed in a shuffled order in native
 * memory that also holds other layers' rows and unused blocks, every float not a row of the cache set to NaN,
 * so a kernel that reads a wrong row or block yields NaN instead of a plausible number.
 */
final class PagedLayouts {
    private PagedLayouts() {
    }

    /**
     * The rows of {@code keys} and {@code values} ({@code rows} rows of {@code kvDim}) in blocks of
     * {@code blockTokens}, as layer {@code layer} of a store of {@code layers} layers per block with
     * {@code spare} unused blocks mixed in.
     */
    static PagedKv paged(float[] keys, float[] values, int kvDim, int blockTokens, int layers, int layer, int spare,
                         long seed, Arena arena) {
        int rows = Math.min(keys.length, values.length) / kvDim;
        int used = (rows + blockTokens - 1) / blockTokens;
        int total = used + spare;
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < total; i++) {
            order.add(i);
        }
        Collections.shuffle(order, new Random(seed));
        int[] table = new int[used];
        for (int b = 0; b < used; b++) {
            table[b] = order.get(b);
        }
        long blockStride = (long) layers * blockTokens * kvDim;
        long offset = (long) layer * blockTokens * kvDim;
        MemorySegment k = arena.allocate(4L * total * blockStride, 64);
        MemorySegment v = arena.allocate(4L * total * blockStride, 64);
        k.elements(JAVA_FLOAT).forEach(e -> e.set(JAVA_FLOAT, 0, Float.NaN));
        v.elements(JAVA_FLOAT).forEach(e -> e.set(JAVA_FLOAT, 0, Float.NaN));
        PagedKv kv = new PagedKv(k, v, table, blockTokens, blockStride, offset, kvDim);
        for (int t = 0; t < rows; t++) {
            MemorySegment.copy(keys, t * kvDim, k, JAVA_FLOAT, 4L * kv.row(t), kvDim);
            MemorySegment.copy(values, t * kvDim, v, JAVA_FLOAT, 4L * kv.row(t), kvDim);
        }
        return kv;
    }
}
