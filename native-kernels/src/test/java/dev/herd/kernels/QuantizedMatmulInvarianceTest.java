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
 * Batching invariance of products with quantized weights (Q8_0, Q4_0, Q4_K, Q6_K): row r of an n-row product,
 * and of the fused feed-forward, is bit for bit the product of row r alone, on every kernel level this CPU runs
 * and on AVX-512 both with Q4_0/Q8_0 weights repacked into 16-row groups and multiplied where they are. Serving
 * relies on it: a request must generate the same tokens alone as batched with others, yet a lone row (decode)
 * and a batch (prefill, or several sequences' decode steps together) take different kernels and tiles.
 * <p>
 * The row counts put a row at every position of the batched kernels' tiles (4 rows for unpacked weights, 8 for
 * repacked ones) and in partial last tiles. Three threads split the larger products over output rows. The lone
 * rows are also checked against {@link ReferenceBackend} within {@link NativeBackendOpsTest}'s bounds, so that
 * making the kernels agree with each other cannot make them wrong.
 */
class QuantizedMatmulInvarianceTest {
    private static final int THREADS = 3;
    private static final int MAX_ROWS = 33;
    private static final int[] COUNTS = {2, 3, 4, 5, 6, 7, 8, 12, 13, 16, 17, 25, 32, 33};
    private static final List<DType> TYPES = List.of(DType.Q8_0, DType.Q4_0, DType.Q4_K, DType.Q6_K);

    private static Arena arena;
    private static ReferenceBackend reference;
    private static final Map<NativeBackendOpsTest.Variant, NativeBackend> backends =
            new EnumMap<>(NativeBackendOpsTest.Variant.class);
    private static final Map<NativeBackendOpsTest.Variant, String> unavailable =
            new EnumMap<>(NativeBackendOpsTest.Variant.class);

    @BeforeAll
    static void load() {
        arena = Arena.ofShared();
        reference = new ReferenceBackend(2);
        for (NativeBackendOpsTest.Variant v : NativeBackendOpsTest.Variant.values()) {
            try {
                backends.put(v, NativeBackend.load(THREADS, v.isa, NativeBackend.DEFAULT_SPIN_MICROS, v.repack));
            } catch (NativeUnavailableException e) {
                unavailable.put(v, e.getMessage());
            }
        }
    }

    @AfterAll
    static void close() {
        backends.values().forEach(NativeBackend::close);
        reference.close();
        arena.close();
    }

    private static NativeBackend backend(NativeBackendOpsTest.Variant v) {
        NativeBackend b = backends.get(v);
        Assumptions.assumeTrue(b != null, () -> "native " + v + " kernels unavailable: " + unavailable.get(v));
        return b;
    }

    private static double bound(DType type) {
        return type == DType.Q8_0 || type == DType.Q4_0
                ? NativeBackendOpsTest.QUANT_ACT_BOUND
                : NativeBackendOpsTest.QUANT_K_ACT_BOUND;
    }

    @TestFactory
    Stream<DynamicTest> rowsAreTheSameAloneAsInABatch() {
        List<DynamicTest> tests = new ArrayList<>();
        for (NativeBackendOpsTest.Variant v : NativeBackendOpsTest.Variant.values()) {
            for (DType type : TYPES) {
                tests.add(DynamicTest.dynamicTest(type + " [" + v + "]", () -> {
                    NativeBackend b = backend(v);
                    int unit = type.blockSize() == 32 ? 512 : 256;
                    // 70 x 1024 is large enough for the three threads to split (and is not a multiple of 16 rows);
                    // 17 blocks and 1 block leave an odd final block, summed apart from the pairs
                    int block = type.blockSize();
                    for (int[] shape : new int[][] {{37, 2 * unit}, {70, 4 * unit}, {16, unit}, {9, 17 * block},
                            {5, block}}) {
                        int out = shape[0];
                        int in = shape[1];
                        Tensor w = RandomWeights.matrix("w", type, out, in, 13L * out + in + type.ordinal(), arena);
                        float[] x = RandomWeights.gaussian(MAX_ROWS * in, 1.0, 5L * out + in);
                        float[][] alone = new float[MAX_ROWS][out];
                        float[] aloneAll = new float[MAX_ROWS * out];
                        for (int r = 0; r < MAX_ROWS; r++) {
                            b.matmul(w, Arrays.copyOfRange(x, r * in, (r + 1) * in), alone[r], 1);
                            System.arraycopy(alone[r], 0, aloneAll, r * out, out);
                        }
                        float[] expected = new float[MAX_ROWS * out];
                        reference.matmul(w, x, expected, MAX_ROWS);
                        double e = NativeBackendOpsTest.squaredError(aloneAll, expected)
                                / NativeBackendOpsTest.productPower(w, x, MAX_ROWS);
                        assertTrue(e <= bound(type), () -> type + " out=" + out + " in=" + in + " alone on " + v
                                + ": NMSE " + e + " against the reference");
                        for (int n : COUNTS) {
                            float[] y = new float[n * out];
                            b.matmul(w, x, y, n);
                            assertRowsBitwise(alone, y, n, out, () -> type + " out=" + out + " in=" + in + " on " + v);
                        }
                    }
                }));
            }
        }
        return tests.stream();
    }

    /** gate, up and down types and sizes: the fused feed-forward quantizes its input and then the gated rows. */
    private record Ffn(DType gate, DType up, DType down, int hidden, int ffn) {
    }

    @TestFactory
    Stream<DynamicTest> feedForwardRowsAreTheSameAloneAsInABatch() {
        List<Ffn> ffns = List.of(
                new Ffn(DType.Q8_0, DType.Q8_0, DType.Q8_0, 256, 352),
                new Ffn(DType.Q4_0, DType.Q4_0, DType.Q4_0, 224, 288),
                new Ffn(DType.Q4_K, DType.Q4_K, DType.Q6_K, 256, 512),
                new Ffn(DType.Q4_0, DType.F16, DType.Q4_K, 256, 512));
        int maxRows = 17;
        List<DynamicTest> tests = new ArrayList<>();
        for (NativeBackendOpsTest.Variant v : NativeBackendOpsTest.Variant.values()) {
            for (Ffn f : ffns) {
                String what = "swigluFfn " + f.gate() + "/" + f.up() + "/" + f.down();
                tests.add(DynamicTest.dynamicTest(what + " [" + v + "]", () -> {
                    NativeBackend b = backend(v);
                    Tensor gate = RandomWeights.matrix("gate", f.gate(), f.ffn(), f.hidden(), 1, arena);
                    Tensor up = RandomWeights.matrix("up", f.up(), f.ffn(), f.hidden(), 2, arena);
                    Tensor down = RandomWeights.matrix("down", f.down(), f.hidden(), f.ffn(), 3, arena);
                    float[] x = RandomWeights.gaussian(maxRows * f.hidden(), 1.0, 4);
                    float[][] alone = new float[maxRows][f.hidden()];
                    float[] aloneAll = new float[maxRows * f.hidden()];
                    for (int r = 0; r < maxRows; r++) {
                        b.swigluFfn(gate, up, down, Arrays.copyOfRange(x, r * f.hidden(), (r + 1) * f.hidden()), 1,
                                alone[r]);
                        System.arraycopy(alone[r], 0, aloneAll, r * f.hidden(), f.hidden());
                    }
                    float[] expected = new float[maxRows * f.hidden()];
                    reference.swigluFfn(gate, up, down, x, maxRows, expected);
                    double e = NativeBackendOpsTest.nmse(aloneAll, expected);
                    assertTrue(e <= NativeBackendOpsTest.FFN_QUANT_BOUND,
                            () -> what + " alone on " + v + ": NMSE " + e + " against the reference");
                    for (int n : new int[] {2, 5, 8, 9, 13, 17}) {
                        float[] y = new float[n * f.hidden()];
                        b.swigluFfn(gate, up, down, x, n, y);
                        assertRowsBitwise(alone, y, n, f.hidden(), () -> what + " on " + v);
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
