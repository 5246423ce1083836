package dev.herd.kernels;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * Attention through a block table gives bit for bit what it gives over the same rows stored contiguously, on
 * the reference and on every native kernel level: the kernels walk the same positions in the same order with
 * the same arithmetic, only the addresses differ. Blocks are shuffled in a store that holds other layers and
 * unused blocks filled with NaN, so any misplaced read shows.
 */
class PagedAttentionTest {
    private static Arena arena;
    private static final List<Backend> backends = new ArrayList<>();

    @BeforeAll
    static void load() {
        arena = Arena.ofShared();
        backends.add(new ReferenceBackend());
        for (NativeBackend.Isa isa : List.of(NativeBackend.Isa.PORTABLE, NativeBackend.Isa.AVX2,
                NativeBackend.Isa.AVX512)) {
            try {
                backends.add(NativeBackend.load(3, isa, NativeBackend.DEFAULT_SPIN_MICROS));
            } catch (NativeUnavailableException e) {
                // this CPU or build lacks the level: the others still run
            }
        }
    }

    @AfterAll
    static void close() {
        backends.forEach(Backend::close);
        arena.close();
    }

    @TestFactory
    Stream<DynamicTest> pagedEqualsContiguousExactly() {
        List<DynamicTest> tests = new ArrayList<>();
        AttentionParams gqa = new AttentionParams(8, 2, 64, 0.125f, 0);
        AttentionParams chunked = new AttentionParams(8, 2, 64, 0.125f, 24);
        AttentionParams odd = new AttentionParams(3, 3, 17, (float) (1 / Math.sqrt(17)), 0);
        for (Backend b : backends) {
            for (AttentionParams p : List.of(gqa, chunked, odd)) {
                for (int bt : new int[] {1, 5, 16}) {
                    // decode (one row: split over the key range), a few rows, a prefill chunk (per-head path)
                    for (int[] rows : new int[][] {{1, 200}, {3, 97}, {17, 40}, {9, 0}}) {
                        int n = rows[0];
                        int first = rows[1];
                        tests.add(DynamicTest.dynamicTest(b.name() + " " + p + " bt=" + bt + " n=" + n + " from "
                                + first, () -> {
                            long seed = 31L * bt + 7L * n + first + p.headDim();
                            int capacity = first + n;
                            float[] q = RandomWeights.gaussian(n * p.qDim(), 1.5, seed);
                            float[] k = RandomWeights.gaussian(capacity * p.kvDim(), 1.5, seed + 1);
                            float[] v = RandomWeights.gaussian(capacity * p.kvDim(), 1.0, seed + 2);
                            int[] positions = new int[n];
                            for (int r = 0; r < n; r++) {
                                positions[r] = first + r;
                            }
                            float[] contiguous = new float[n * p.qDim()];
                            b.attention(p, q, positions, n, PagedKv.contiguous(k, v, p.kvDim()), contiguous);
                            float[] paged = new float[n * p.qDim()];
                            PagedKv cache = PagedLayouts.paged(k, v, p.kvDim(), bt, 3, 2, 5, seed, arena);
                            b.attention(p, q, positions, n, cache, paged);
                            for (float f : paged) {
                                assertFalse(Float.isNaN(f), "a row outside the cache was read");
                            }
                            assertArrayEquals(contiguous, paged);
                        }));
                    }
                }
            }
        }
        return tests.stream();
    }
}
