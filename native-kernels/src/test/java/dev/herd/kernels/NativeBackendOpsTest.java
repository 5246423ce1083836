package dev.herd.kernels;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every op x type x shape of {@link NativeBackend} against {@link ReferenceBackend}, for each kernel
 * level this CPU runs (portable, AVX2, AVX-512), compared by normalised mean squared error
 * {@code Σ(native - ref)² / Σ ref²} (for matrix products: over the expected output power, see
 * {@link Case#power()}) with per-kind bounds:
 * <ul>
 *   <li>{@value #QUANT_ACT_BOUND} for Q8_0/Q4_0 x activations rounded to 8 bits per 32 and
 *       {@value #QUANT_K_ACT_BOUND} for Q4_K/Q6_K x 8 bits per 256: rounding to a step of max|x|/127
 *       has variance step²/12, which for Gaussian activations is an NMSE of about 2.5e-5 (blocks of 32,
 *       max ≈ 2.2σ) and 5e-5 (blocks of 256, max ≈ 3σ). Measured here: mean 3e-5 and 4e-5, worst
 *       case 8e-5 and 1.1e-4 (short rows average over few blocks), while a layout mistake (a wrong
 *       nibble, scale or offset) gives 1e-2 or more.</li>
 *   <li>{@value #FLOAT_BOUND} for float weights, attention, norms and element-wise ops: f32
 *       arithmetic against the reference's double sums (errors ~1e-7 relative; measured NMSE at most 4e-13).</li>
 *   <li>{@value #EXACT_BOUND} for row dequantization and rope: the same f32 operations as the
 *       reference, differing at most by a fused multiply-add.</li>
 * </ul>
 * Shapes include lengths that are not multiples of any vector width (1, 33, 511, 4099) and, for
 * quantized types, one, three and many blocks per row.
 */
class NativeBackendOpsTest {
    static final double QUANT_ACT_BOUND = 2e-4;
    static final double QUANT_K_ACT_BOUND = 3e-4;
    static final double FLOAT_BOUND = 1e-11;
    static final double EXACT_BOUND = 1e-13;

    private static final int THREADS = 3; // more than this machine's cores: exercises descheduled workers

    private static Arena arena;
    private static ReferenceBackend reference;
    private static final Map<NativeBackend.Isa, NativeBackend> backends = new EnumMap<>(NativeBackend.Isa.class);
    private static final Map<String, Tensor> weightCache = new java.util.concurrent.ConcurrentHashMap<>();
    private static final Map<NativeBackend.Isa, String> unavailable = new EnumMap<>(NativeBackend.Isa.class);

    /**
     * One row of the table: how to compute it on a backend, and how close native must be.
     *
     * @param power the denominator of the error: null for {@code Σ ref²}; for matrix products the
     *              expected output power {@code Σ_{r,o} Σ_i (w_oi·x_ri)²}, which is what {@code Σ ref²}
     *              averages to over random signs. A single dot product can cancel to nearly zero by
     *              chance, and then its realised square says nothing about how large an error is fair.
     */
    record Case(String name, double bound, Function<Backend, float[]> run, Supplier<Double> power) {
        Case(String name, double bound, Function<Backend, float[]> run) {
            this(name, bound, run, null);
        }
    }

    @BeforeAll
    static void load() {
        arena = Arena.ofShared();
        reference = new ReferenceBackend(2);
        for (NativeBackend.Isa isa : List.of(NativeBackend.Isa.PORTABLE, NativeBackend.Isa.AVX2, NativeBackend.Isa.AVX512)) {
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
        weightCache.clear();
        arena.close();
    }

    @TestFactory
    Stream<DynamicTest> opsAgainstReference() {
        List<DynamicTest> tests = new ArrayList<>();
        for (Case c : cases()) {
            float[][] expected = new float[1][];
            double[] power = new double[1];
            for (NativeBackend.Isa isa : List.of(NativeBackend.Isa.PORTABLE, NativeBackend.Isa.AVX2,
                    NativeBackend.Isa.AVX512)) {
                tests.add(DynamicTest.dynamicTest(c.name() + " [" + isa + "]", () -> {
                    NativeBackend b = backends.get(isa);
                    Assumptions.assumeTrue(b != null, () -> "native " + isa + " kernels unavailable: " + unavailable.get(isa));
                    if (expected[0] == null) {
                        expected[0] = c.run().apply(reference);
                        power[0] = c.power() == null ? 0 : c.power().get();
                    }
                    float[] actual = c.run().apply(b);
                    double e = c.power() == null ? nmse(actual, expected[0]) : squaredError(actual, expected[0]) / power[0];
                    assertTrue(e <= c.bound(), () -> c.name() + " on " + isa + ": NMSE " + e + " > " + c.bound());
                }));
            }
        }
        return tests.stream();
    }

    static List<Case> cases() {
        List<Case> cases = new ArrayList<>();
        // matmul: every type, rows 1/33/511, several row lengths, 1/3/17 activation rows
        for (DType t : DType.values()) {
            int[] ins = switch (t) {
                case F32, F16, BF16, F8_E4M3 -> new int[] {1, 33, 511, 4099};
                case Q8_0, Q4_0 -> new int[] {32, 96, 4096};
                case Q4_K, Q6_K -> new int[] {256, 768, 4096};
            };
            double bound = switch (t) {
                case Q8_0, Q4_0 -> QUANT_ACT_BOUND;
                case Q4_K, Q6_K -> QUANT_K_ACT_BOUND;
                default -> FLOAT_BOUND;
            };
            for (int out : new int[] {1, 33, 511}) {
                for (int in : ins) {
                    for (int n : new int[] {1, 3, 17}) {
                        if (t == DType.F8_E4M3 && (n != 3 || out != 33)) {
                            continue; // delegated to the reference: one shape proves the delegation
                        }
                        long seed = 31L * out + 7L * in + n + t.ordinal() * 1000L;
                        cases.add(new Case("matmul " + t + " out=" + out + " in=" + in + " n=" + n, bound, b -> {
                            Tensor w = weights(t, out, in, seed);
                            float[] x = RandomWeights.gaussian(n * in, 1.0, seed + 1);
                            float[] y = new float[n * out];
                            b.matmul(w, x, y, n);
                            return y;
                        }, () -> {
                            Tensor w = weights(t, out, in, seed);
                            float[] x = RandomWeights.gaussian(n * in, 1.0, seed + 1);
                            return productPower(w, x, n);
                        }));
                    }
                }
            }
            // getRow: rows dequantized exactly as the reference does
            for (int cols : switch (t) {
                case F32, F16, BF16, F8_E4M3 -> new int[] {1, 33, 4099};
                case Q8_0, Q4_0 -> new int[] {32, 96, 4096};
                case Q4_K, Q6_K -> new int[] {256, 4096};
            }) {
                cases.add(new Case("getRow " + t + " cols=" + cols, EXACT_BOUND, b -> {
                    Tensor w = RandomWeights.matrix("emb", t, 5, cols, cols * 13L + t.ordinal(), arena);
                    float[] out = new float[3 + 2 * cols];
                    b.getRow(w, 3, out, 3);
                    b.getRow(w, 0, out, 3 + cols);
                    return out;
                }));
            }
        }
        // rmsNorm
        for (int dim : new int[] {1, 33, 4096}) {
            for (int n : new int[] {1, 3}) {
                for (boolean weighted : new boolean[] {true, false}) {
                    cases.add(new Case("rmsNorm dim=" + dim + " n=" + n + (weighted ? "" : " no weight"), FLOAT_BOUND, b -> {
                        float[] x = RandomWeights.gaussian(dim * n, 3.0, dim + n);
                        float[] w = weighted ? RandomWeights.gaussian(dim, 1.0, dim) : null;
                        float[] out = new float[dim * n];
                        b.rmsNorm(x, w, 1e-5f, dim, n, out);
                        b.rmsNorm(x, w, 1e-5f, dim, n, x); // in place
                        return concat(out, x);
                    }));
                }
            }
        }
        // rope: both pairings, full and partial rotary dims, odd head dims, large positions
        for (RopeStyle style : RopeStyle.values()) {
            for (int headDim : new int[] {6, 64, 128}) {
                for (int half : new int[] {headDim / 2, headDim / 4}) {
                    for (int heads : new int[] {1, 3}) {
                        int n = 3;
                        cases.add(new Case("rope " + style + " headDim=" + headDim + " rotary=" + 2 * half + " heads="
                                + heads, EXACT_BOUND, b -> {
                            float[] x = RandomWeights.gaussian(n * heads * headDim, 1.0, headDim * 7L + heads);
                            float[] invFreq = new float[half];
                            for (int i = 0; i < half; i++) {
                                invFreq[i] = (float) Math.pow(500000.0, -2.0 * i / (2 * half));
                            }
                            b.rope(x, n, heads, headDim, new int[] {0, 17, 131071}, invFreq, style);
                            return x;
                        }));
                    }
                }
            }
        }
        // softmax and swiglu
        for (int len : new int[] {1, 33, 4097}) {
            cases.add(new Case("softmax len=" + len, FLOAT_BOUND, b -> {
                float[] x = RandomWeights.gaussian(len + 7, 10.0, len);
                b.softmax(x, 5, len);
                return x;
            }));
            cases.add(new Case("swiglu len=" + len, FLOAT_BOUND, b -> {
                float[] g = RandomWeights.gaussian(len, 4.0, len + 1);
                float[] u = RandomWeights.gaussian(len, 1.0, len + 2);
                b.swiglu(g, u, len);
                return g;
            }));
        }
        // attention: head layouts (MHA, GQA, MQA, odd head dim), prefill and decode rows, chunked
        int[][] layouts = {{4, 4, 64}, {8, 2, 128}, {6, 1, 32}, {3, 3, 17}, {32, 8, 8}};
        for (int[] l : layouts) {
            for (int n : new int[] {1, 3, 17}) {
                for (int chunk : new int[] {0, 16}) {
                    for (int first : new int[] {0, 37}) {
                        AttentionParams p = new AttentionParams(l[0], l[1], l[2], (float) (1 / Math.sqrt(l[2])), chunk);
                        cases.add(new Case("attention heads=" + l[0] + " kv=" + l[1] + " hd=" + l[2] + " n=" + n
                                + " chunk=" + chunk + " from=" + first, FLOAT_BOUND, b -> attention(b, p, n, first)));
                    }
                }
            }
        }
        // long rows: decode splits each row's keys into slices merged afterwards (up to 4 rows);
        // more rows take the per-head path
        AttentionParams decode = new AttentionParams(8, 2, 64, 0.125f, 0);
        cases.add(new Case("attention decode at position 1000", FLOAT_BOUND, b -> attention(b, decode, 1, 1000)));
        AttentionParams gqa = new AttentionParams(32, 8, 128, (float) (1 / Math.sqrt(128)), 0);
        AttentionParams local = new AttentionParams(32, 8, 128, (float) (1 / Math.sqrt(128)), 256);
        for (int n : new int[] {1, 3, 4, 5}) {
            cases.add(new Case("attention GQA 32/8 n=" + n + " from 998", FLOAT_BOUND, b -> attention(b, gqa, n, 998)));
            cases.add(new Case("attention GQA 32/8 chunk=256 n=" + n + " from 998", FLOAT_BOUND,
                    b -> attention(b, local, n, 998)));
        }
        return cases;
    }

    /** Weights are made once per case and shared by all backends that run it. */
    private static Tensor weights(DType t, int rows, int cols, long seed) {
        return weightCache.computeIfAbsent(t + "/" + rows + "/" + cols + "/" + seed,
                k -> RandomWeights.matrix("w", t, rows, cols, seed, arena));
    }

    private static float[] attention(Backend b, AttentionParams p, int n, int first) {
        int capacity = first + n + 5;
        long seed = p.nHeads() * 1000L + p.headDim() * 10L + n + first;
        float[] q = RandomWeights.gaussian(n * p.qDim(), 1.5, seed);
        float[] k = RandomWeights.gaussian(capacity * p.kvDim(), 1.5, seed + 1);
        float[] v = RandomWeights.gaussian(capacity * p.kvDim(), 1.0, seed + 2);
        int[] positions = new int[n];
        for (int r = 0; r < n; r++) {
            positions[r] = first + r;
        }
        float[] out = new float[n * p.qDim()];
        b.attention(p, q, positions, n, k, v, out);
        return out;
    }

    /** {@code Σ_{r,o} Σ_i (w_oi·x_ri)²} in double. */
    private static double productPower(Tensor w, float[] x, int n) {
        int in = Math.toIntExact(w.cols());
        float[] row = new float[in];
        double sum = 0;
        for (long o = 0; o < w.rows(); o++) {
            Dequant.row(w, o, row, 0);
            for (int r = 0; r < n; r++) {
                for (int i = 0; i < in; i++) {
                    double p = (double) row[i] * x[r * in + i];
                    sum += p * p;
                }
            }
        }
        return sum;
    }

    static double squaredError(float[] actual, float[] expected) {
        if (actual.length != expected.length) {
            return Double.POSITIVE_INFINITY;
        }
        double err = 0;
        for (int i = 0; i < actual.length; i++) {
            double d = (double) actual[i] - expected[i];
            err += d * d;
        }
        return Double.isNaN(err) ? Double.POSITIVE_INFINITY : err;
    }

    static double nmse(float[] actual, float[] expected) {
        if (actual.length != expected.length) {
            return Double.POSITIVE_INFINITY;
        }
        double err = 0;
        double ref = 0;
        for (int i = 0; i < actual.length; i++) {
            double d = (double) actual[i] - expected[i];
            err += d * d;
            ref += (double) expected[i] * expected[i];
        }
        if (Double.isNaN(err)) {
            return Double.POSITIVE_INFINITY;
        }
        return ref == 0 ? err : err / ref;
    }

    private static float[] concat(float[] a, float[] b) {
        float[] r = new float[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
