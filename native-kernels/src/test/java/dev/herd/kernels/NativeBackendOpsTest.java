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
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every op x type x shape of {@link NativeBackend} against {@link ReferenceBackend}, for each kernel
 * level this CPU runs (portable, AVX2, AVX-512; AVX-512 both with Q4_0/Q8_0 weights repacked into its
 * row-interleaved layout, the default, and multiplied where they are), compared by normalised mean squared error
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
 * quantized types, one, three and many blocks per row; row counts that are not multiples of the 16-row
 * groups of the repacked layout (1, 33, 511), and activation row counts that leave partial tiles (3, 17).
 * The fused feed-forward quantizes twice (its input, then the gated hidden rows), hence
 * {@value #FFN_QUANT_BOUND}; routing must choose exactly the reference's experts (an index off by one
 * in a single row is an NMSE above 1e-6).
 */
class NativeBackendOpsTest {
    static final double QUANT_ACT_BOUND = 2e-4;
    static final double QUANT_K_ACT_BOUND = 3e-4;
    static final double FLOAT_BOUND = 1e-11;
    static final double EXACT_BOUND = 1e-13;
    static final double FFN_QUANT_BOUND = 5e-4;

    private static final int THREADS = 3; // more than this machine's cores: exercises descheduled workers

    private static Arena arena;
    private static ReferenceBackend reference;
    private static final Map<Variant, NativeBackend> backends = new EnumMap<>(Variant.class);
    private static final Map<String, Tensor> weightCache = new java.util.concurrent.ConcurrentHashMap<>();
    private static final Map<Variant, String> unavailable = new EnumMap<>(Variant.class);

    /** The native backends under test: kernel level, and whether weights are repacked. */
    enum Variant {
        PORTABLE(NativeBackend.Isa.PORTABLE, true),
        AVX2(NativeBackend.Isa.AVX2, true),
        AVX512(NativeBackend.Isa.AVX512, true),
        AVX512_UNPACKED(NativeBackend.Isa.AVX512, false);

        final NativeBackend.Isa isa;
        final boolean repack;

        Variant(NativeBackend.Isa isa, boolean repack) {
            this.isa = isa;
            this.repack = repack;
        }
    }

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
        for (Variant v : Variant.values()) {
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
        weightCache.clear();
        arena.close();
    }

    @TestFactory
    Stream<DynamicTest> opsAgainstReference() {
        List<DynamicTest> tests = new ArrayList<>();
        for (Case c : cases()) {
            float[][] expected = new float[1][];
            double[] power = new double[1];
            for (Variant isa : Variant.values()) {
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
        // the fused SwiGLU feed-forward: like and mixed types, serial and split over the pool, partial tiles
        record Ffn(DType gate, DType up, DType down, int hidden, int ffn) {
        }
        for (Ffn f : List.of(new Ffn(DType.Q4_0, DType.Q4_0, DType.Q4_0, 96, 160),
                new Ffn(DType.Q4_0, DType.Q4_0, DType.Q4_0, 512, 1024),
                new Ffn(DType.Q8_0, DType.Q8_0, DType.Q8_0, 256, 352),
                new Ffn(DType.Q4_0, DType.Q8_0, DType.Q4_0, 224, 288),
                new Ffn(DType.Q4_K, DType.Q4_K, DType.Q6_K, 256, 512),
                new Ffn(DType.Q4_0, DType.F16, DType.Q4_K, 256, 512),
                new Ffn(DType.F32, DType.F32, DType.F32, 33, 47),
                new Ffn(DType.F8_E4M3, DType.F8_E4M3, DType.F8_E4M3, 32, 48))) {
            boolean quantized = f.gate() != DType.F32 && f.gate() != DType.F8_E4M3;
            for (int n : new int[] {1, 3, 17}) {
                long seed = f.hidden() * 31L + f.ffn() + n + f.gate().ordinal() * 7L + f.down().ordinal() * 1000L;
                cases.add(new Case("swigluFfn " + f.gate() + "/" + f.up() + "/" + f.down() + " hidden=" + f.hidden()
                        + " ffn=" + f.ffn() + " n=" + n, quantized ? FFN_QUANT_BOUND : FLOAT_BOUND, b -> {
                    Tensor gate = weights(f.gate(), f.ffn(), f.hidden(), seed);
                    Tensor up = weights(f.up(), f.ffn(), f.hidden(), seed + 1);
                    Tensor down = weights(f.down(), f.hidden(), f.ffn(), seed + 2);
                    float[] x = RandomWeights.gaussian(n * f.hidden(), 1.0, seed + 3);
                    float[] y = new float[n * f.hidden()];
                    b.swigluFfn(gate, up, down, x, n, y);
                    return y;
                }));
            }
        }
        // routing: both gatings, with and without normalisation, few and many experts, rows full of ties
        for (RouteGating gating : RouteGating.values()) {
            for (int[] ek : new int[][] {{8, 2}, {3, 1}, {3, 3}, {128, 8}, {16, 1}}) {
                for (boolean normalize : new boolean[] {true, false}) {
                    for (boolean ties : new boolean[] {false, true}) {
                        int experts = ek[0];
                        int k = ek[1];
                        int n = 7;
                        cases.add(new Case("route " + gating + " experts=" + experts + " k=" + k
                                + (normalize ? " normalized" : "") + (ties ? " with ties" : ""), FLOAT_BOUND, b -> {
                            float[] logits = RandomWeights.gaussian(n * experts, 2.0, experts * 31L + k);
                            if (ties) { // a coarse grid: many equal logits per row, and one row all equal
                                for (int i = 0; i < logits.length; i++) {
                                    logits[i] = i < experts ? 0.5f : Math.round(logits[i]) / 2f;
                                }
                            }
                            int[] chosen = new int[n * k];
                            float[] weights = new float[n * k];
                            b.route(logits, n, experts, k, gating, normalize, chosen, weights);
                            float[] r = new float[chosen.length];
                            for (int i = 0; i < chosen.length; i++) {
                                r[i] = chosen[i];
                            }
                            return concat(concat(r, weights), logits);
                        }));
                    }
                }
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
                                + " chunk=" + chunk + " from=" + first, FLOAT_BOUND, b -> attention(b, p, n, first, 0)));
                        // paged: blocks of 16, and of 5 (so runs of 8 rows cross blocks), shuffled in the store
                        for (int bt : new int[] {16, 5}) {
                            cases.add(new Case("attention paged bt=" + bt + " heads=" + l[0] + " kv=" + l[1] + " hd="
                                    + l[2] + " n=" + n + " chunk=" + chunk + " from=" + first, FLOAT_BOUND,
                                    b -> attention(b, p, n, first, bt)));
                        }
                    }
                }
            }
        }
        // long rows: decode splits each row's keys into slices merged afterwards (up to 4 rows);
        // more rows take the per-head path
        AttentionParams decode = new AttentionParams(8, 2, 64, 0.125f, 0);
        cases.add(new Case("attention decode at position 1000", FLOAT_BOUND, b -> attention(b, decode, 1, 1000, 0)));
        cases.add(new Case("attention paged bt=16 decode at position 1000", FLOAT_BOUND,
                b -> attention(b, decode, 1, 1000, 16)));
        AttentionParams gqa = new AttentionParams(32, 8, 128, (float) (1 / Math.sqrt(128)), 0);
        AttentionParams local = new AttentionParams(32, 8, 128, (float) (1 / Math.sqrt(128)), 256);
        for (int n : new int[] {1, 3, 4, 5}) {
            cases.add(new Case("attention GQA 32/8 n=" + n + " from 998", FLOAT_BOUND, b -> attention(b, gqa, n, 998, 0)));
            cases.add(new Case("attention GQA 32/8 chunk=256 n=" + n + " from 998", FLOAT_BOUND,
                    b -> attention(b, local, n, 998, 0)));
            cases.add(new Case("attention paged bt=16 GQA 32/8 n=" + n + " from 998", FLOAT_BOUND,
                    b -> attention(b, gqa, n, 998, 16)));
        }
        return cases;
    }

    /** Weights are made once per case and shared by all backends that run it. */
    private static Tensor weights(DType t, int rows, int cols, long seed) {
        return weightCache.computeIfAbsent(t + "/" + rows + "/" + cols + "/" + seed,
                k -> RandomWeights.matrix("w", t, rows, cols, seed, arena));
    }

    /** Attention over a contiguous cache ({@code blockTokens} 0) or a paged one with shuffled blocks. */
    private static float[] attention(Backend b, AttentionParams p, int n, int first, int blockTokens) {
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
        PagedKv cache = blockTokens == 0 ? PagedKv.contiguous(k, v, p.kvDim())
                : PagedLayouts.paged(k, v, p.kvDim(), blockTokens, 3, 1, 4, seed, arena);
        b.attention(p, q, positions, n, cache, out);
        return out;
    }

    /** {@code Σ_{r,o} Σ_i (w_oi·x_ri)²} in double. */
    static double productPower(Tensor w, float[] x, int n) {
        return Arrays.stream(rowPowers(w, x, n)).sum();
    }

    /** Per activation row r, {@code Σ_o Σ_i (w_oi·x_ri)²}: what a product's squared error is measured against. */
    static double[] rowPowers(Tensor w, float[] x, int n) {
        int in = Math.toIntExact(w.cols());
        float[] row = new float[in];
        double[] power = new double[n];
        for (long o = 0; o < w.rows(); o++) {
            Dequant.row(w, o, row, 0);
            for (int r = 0; r < n; r++) {
                double s = 0;
                for (int i = 0; i < in; i++) {
                    double p = (double) row[i] * x[r * in + i];
                    s += p * p;
                }
                power[r] += s;
            }
        }
        return power;
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
