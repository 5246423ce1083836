package dev.herd.kernels;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Products with float weights (F32, F16, BF16), which the kernels compute in register tiles of several weight rows
 * by several activation rows (AVX-512 4 x 6, AVX2 3 x 4, portable 1 x 4, and 8 weight rows for a lone activation
 * row), on every kernel level this CPU runs:
 * <ul>
 *   <li>against {@link ReferenceBackend} for every activation row count from 1 to 70, so every partial tile of
 *       every level occurs, with row lengths that are and are not multiples of the vector widths and output
 *       counts that leave partial weight tiles, within {@link NativeBackendOpsTest#FLOAT_BOUND};</li>
 *   <li>batching invariance: row r of an n-row product (and of the fused feed-forward) is bit for bit the
 *       product of row r alone, for row counts that put r at every position of a tile and in the partial last
 *       tile. Serving relies on it: a request must generate the same tokens alone as batched with others.</li>
 * </ul>
 * Three threads (more than this machine's cores) split the larger products over output rows, so the split is
 * exercised too.
 */
class FloatMatmulTest {
    private static final int THREADS = 3;
    private static final int MAX_ROWS = 70;
    private static final List<DType> TYPES = List.of(DType.F32, DType.F16, DType.BF16);
    private static final List<NativeBackend.Isa> LEVELS =
            List.of(NativeBackend.Isa.PORTABLE, NativeBackend.Isa.AVX2, NativeBackend.Isa.AVX512);

    /** (out, in): odd and tile-sized output counts; lengths below, at and past the vector widths. */
    private static final int[][] SHAPES = {{37, 515}, {5, 37}, {12, 64}, {1, 16}, {6, 7}};

    private static Arena arena;
    private static ReferenceBackend reference;
    private static final Map<NativeBackend.Isa, NativeBackend> backends = new EnumMap<>(NativeBackend.Isa.class);
    private static final Map<NativeBackend.Isa, String> unavailable = new EnumMap<>(NativeBackend.Isa.class);

    @BeforeAll
    static void load() {
        arena = Arena.ofShared();
        reference = new ReferenceBackend(2);
        for (NativeBackend.Isa isa : LEVELS) {
            try {
                backends.put(isa, NativeBackend.load(THREADS, isa, NativeBackend.DEFAULT_SPIN_MICROS));
            } catch (NativeUnavailableException e) {
                unavailable.put(isa, e.getMessage());
            }
        }
    }

    @AfterAll
    static void close() {
        backends.values().forEach(NativeBackend::close);
        reference.close();
        arena.close();
    }

    private static NativeBackend backend(NativeBackend.Isa isa) {
        NativeBackend b = backends.get(isa);
        Assumptions.assumeTrue(b != null, () -> "native " + isa + " kernels unavailable: " + unavailable.get(isa));
        return b;
    }

    @TestFactory
    Stream<DynamicTest> matchesTheReferenceForEveryRowCount() {
        List<DynamicTest> tests = new ArrayList<>();
        for (NativeBackend.Isa isa : LEVELS) {
            for (DType type : TYPES) {
                tests.add(DynamicTest.dynamicTest(type + " [" + isa + "]", () -> {
                    NativeBackend b = backend(isa);
                    for (int[] shape : SHAPES) {
                        int out = shape[0];
                        int in = shape[1];
                        Tensor w = RandomWeights.matrix("w", type, out, in, 31L * out + in + type.ordinal(), arena);
                        float[] x = RandomWeights.gaussian(MAX_ROWS * in, 1.0, out + 7L * in);
                        // each output row depends only on its activation row: the reference's 70 rows serve every n
                        float[] expected = new float[MAX_ROWS * out];
                        reference.matmul(w, x, expected, MAX_ROWS);
                        double[] power = NativeBackendOpsTest.rowPowers(w, x, MAX_ROWS);
                        for (int n = 1; n <= MAX_ROWS; n++) {
                            float[] y = new float[n * out];
                            b.matmul(w, x, y, n);
                            double err = 0;
                            double pow = 0;
                            for (int i = 0; i < n * out; i++) {
                                double d = (double) y[i] - expected[i];
                                err += d * d;
                            }
                            for (int r = 0; r < n; r++) {
                                pow += power[r];
                            }
                            double e = Double.isNaN(err) ? Double.POSITIVE_INFINITY : err / pow;
                            int rows = n;
                            assertTrue(e <= NativeBackendOpsTest.FLOAT_BOUND, () -> type + " out=" + out + " in=" + in
                                    + " n=" + rows + " on " + isa + ": NMSE " + e);
                        }
                    }
                }));
            }
        }
        return tests.stream();
    }

    @TestFactory
    Stream<DynamicTest> rowsAreTheSameAloneAsInABatch() {
        int maxRows = 40;
        int[] counts = {2, 3, 4, 5, 6, 7, 8, 12, 13, 25, 32, 33, 40};
        List<DynamicTest> tests = new ArrayList<>();
        for (NativeBackend.Isa isa : LEVELS) {
            for (DType type : TYPES) {
                tests.add(DynamicTest.dynamicTest(type + " [" + isa + "]", () -> {
                    NativeBackend b = backend(isa);
                    // 70 x 256 is large enough for the three threads to split; 9 x 7 has only partial vectors
                    for (int[] shape : new int[][] {{37, 515}, {70, 256}, {9, 7}}) {
                        int out = shape[0];
                        int in = shape[1];
                        Tensor w = RandomWeights.matrix("w", type, out, in, 17L * out + in + type.ordinal(), arena);
                        float[] x = RandomWeights.gaussian(maxRows * in, 1.0, 3L * out + in);
                        float[][] alone = new float[maxRows][out];
                        for (int r = 0; r < maxRows; r++) {
                            b.matmul(w, Arrays.copyOfRange(x, r * in, (r + 1) * in), alone[r], 1);
                        }
                        for (int n : counts) {
                            float[] y = new float[n * out];
                            b.matmul(w, x, y, n);
                            assertRowsBitwise(alone, y, n, out, () -> type + " out=" + out + " in=" + in + " on " + isa);
                        }
                    }
                }));
            }
        }
        return tests.stream();
    }

    @TestFactory
    Stream<DynamicTest> feedForwardRowsAreTheSameAloneAsInABatch() {
        int hidden = 96;
        int ffn = 160;
        int maxRows = 13;
        List<DynamicTest> tests = new ArrayList<>();
        for (NativeBackend.Isa isa : LEVELS) {
            for (DType type : TYPES) {
                tests.add(DynamicTest.dynamicTest(type + " [" + isa + "]", () -> {
                    NativeBackend b = backend(isa);
                    Tensor gate = RandomWeights.matrix("gate", type, ffn, hidden, 1, arena);
                    Tensor up = RandomWeights.matrix("up", type, ffn, hidden, 2, arena);
                    Tensor down = RandomWeights.matrix("down", type, hidden, ffn, 3, arena);
                    float[] x = RandomWeights.gaussian(maxRows * hidden, 1.0, 4);
                    float[][] alone = new float[maxRows][hidden];
                    for (int r = 0; r < maxRows; r++) {
                        b.swigluFfn(gate, up, down, Arrays.copyOfRange(x, r * hidden, (r + 1) * hidden), 1, alone[r]);
                    }
                    for (int n : new int[] {2, 7, 13}) {
                        float[] y = new float[n * hidden];
                        b.swigluFfn(gate, up, down, x, n, y);
                        assertRowsBitwise(alone, y, n, hidden, () -> "swigluFfn " + type + " on " + isa);
                    }
                }));
            }
        }
        return tests.stream();
    }

    private static void assertRowsBitwise(float[][] alone, float[] y, int n, int out, Supplier<String> what) {
        for (int r = 0; r < n; r++) {
            for (int o = 0; o < out; o++) {
                int expected = Float.floatToRawIntBits(alone[r][o]);
                int actual = Float.floatToRawIntBits(y[r * out + o]);
                if (expected != actual) {
                    fail(what.get() + ": row " + r + " of " + n + ", output " + o + ": " + y[r * out + o]
                            + " batched, " + alone[r][o] + " alone");
                }
            }
        }
    }
}
