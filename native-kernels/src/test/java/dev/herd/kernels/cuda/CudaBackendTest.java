package dev.herd.kernels.cuda;

import dev.herd.kernels.AttentionParams;
import dev.herd.kernels.Backend;
import dev.herd.kernels.DType;
import dev.herd.kernels.PagedKv;
import dev.herd.kernels.RandomWeights;
import dev.herd.kernels.ReferenceBackend;
import dev.herd.kernels.RopeStyle;
import dev.herd.kernels.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.Stream;

import static dev.herd.kernels.cuda.CudaTestSupport.nmse;
import static dev.herd.kernels.cuda.CudaTestSupport.productPower;
import static dev.herd.kernels.cuda.CudaTestSupport.squaredError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every op x type x shape of {@link CudaBackend} against {@link ReferenceBackend} (GPU only; skipped with
 * the reason elsewhere). Errors are normalised mean squared errors ({@code Σ(cuda - ref)² / Σ ref²}; for
 * products, over the expected output power, see {@link CudaTestSupport#productPower}), with bounds:
 * <ul>
 *   <li>{@value #F32_BOUND}: kernels computing in f32 against the reference's double sums, i.e. the
 *       matrix-vector products (weights dequantized exactly), attention, the router weights. f32 sums of
 *       up to ~4k products have relative errors around 1e-7..1e-6, an NMSE of 1e-13..1e-11; a layout or
 *       indexing mistake gives 1e-3 or more.</li>
 *   <li>{@value #MMA_F16_BOUND}: tensor-core products on F16 and quantized weights. Weights and activations
 *       are rounded to f16 (11-bit significand): each rounding has a relative error uniform within ±2⁻¹¹
 *       of magnitude, variance about (2⁻¹¹)²/3 ≈ 8e-8, so a product of two carries an NMSE of about 1.6e-7
 *       against the output power; the bound leaves 6x room.</li>
 *   <li>{@value #MMA_BF16_BOUND}: the same for BF16 weights, where activations are rounded to bf16
 *       (8-bit significand, (2⁻⁸)²/3 ≈ 5e-6).</li>
 *   <li>{@value #CLOSE_BOUND}: element-wise and per-row ops that compute as the reference does (double
 *       sums and exponentials for norms and softmax, double angles for rope): only the last bit may differ.</li>
 *   <li>Row extraction: exactly the reference's values.</li>
 * </ul>
 * Shapes include odd lengths (no vector width divides them), one/few/many blocks, output counts that
 * leave partial warps and tiles, and activation-row counts on both sides of the kernel switch (1, 3, 9
 * matrix-vector; 16, 70 tensor-core).
 */
class CudaBackendTest {
    static final double F32_BOUND = 1e-10;
    static final double MMA_F16_BOUND = 1e-6;
    static final double MMA_BF16_BOUND = 3e-5;
    static final double CLOSE_BOUND = 1e-12;

    private static Arena arena;
    private static ReferenceBackend reference;

    @BeforeAll
    static void setUp() {
        arena = Arena.ofShared();
        reference = new ReferenceBackend(2);
    }

    @AfterAll
    static void tearDown() {
        reference.close();
        // weights in this arena are resident on the shared device backend: release them before the memory goes
        CudaBackend cuda = CudaTestSupport.opened();
        if (cuda != null) {
            cuda.releaseWeights();
        }
        arena.close();
    }

    static boolean tensorCores(DType t, int n) {
        return t != DType.F32 && n >= CudaKernels.MMA_MIN_ROWS;
    }

    static double productBound(DType t, int n) {
        if (!tensorCores(t, n)) {
            return F32_BOUND;
        }
        return t == DType.BF16 ? MMA_BF16_BOUND : MMA_F16_BOUND;
    }

    @TestFactory
    Stream<DynamicTest> matmul() {
        CudaTestSupport.backend(); // skips the whole family, with the reason, where there is no GPU
        List<DynamicTest> tests = new ArrayList<>();
        for (DType t : DType.values()) {
            int[] ins = switch (t) {
                case F32, F16, BF16 -> new int[] {1, 7, 33, 64, 4099};
                case F8_E4M3 -> new int[] {33};
                case Q8_0, Q4_0 -> new int[] {32, 96, 4096};
                case Q4_K, Q6_K -> new int[] {256, 768, 4096};
            };
            for (int out : new int[] {1, 33, 130}) {
                for (int in : ins) {
                    for (int n : new int[] {1, 3, 9, 16, 70}) {
                        if (t == DType.F8_E4M3 && (n != 3 || out != 33)) {
                            continue; // delegated to the reference: one shape proves the delegation
                        }
                        long seed = 31L * out + 7L * in + n + t.ordinal() * 1000L;
                        tests.add(DynamicTest.dynamicTest("matmul " + t + " out=" + out + " in=" + in + " n=" + n, () -> {
                            CudaBackend cuda = CudaTestSupport.backend();
                            Tensor w = RandomWeights.matrix("w", t, out, in, seed, arena);
                            float[] x = RandomWeights.gaussian(n * in, 1.0, seed + 1);
                            float[] expected = new float[n * out];
                            float[] actual = new float[n * out];
                            reference.matmul(w, x, expected, n);
                            cuda.matmul(w, x, actual, n);
                            double e = squaredError(actual, expected) / productPower(w, x, n);
                            double bound = productBound(t, n);
                            assertTrue(e <= bound, "NMSE " + e + " > " + bound);
                        }));
                    }
                }
            }
        }
        return tests.stream();
    }

    @Test
    void weightsAreUploadedOnceAndReused() {
        CudaBackend cuda = CudaTestSupport.backend();
        Tensor w = RandomWeights.matrix("resident", DType.Q8_0, 64, 256, 99, arena);
        float[] x = RandomWeights.gaussian(256, 1.0, 1);
        float[] y1 = new float[64];
        float[] y2 = new float[64];
        cuda.matmul(w, x, y1, 1);
        long held = cuda.residentWeightBytes();
        cuda.matmul(w, x, y2, 1);
        assertEquals(held, cuda.residentWeightBytes());
        assertArrayEquals(y1, y2, "deterministic");
    }

    @TestFactory
    Stream<DynamicTest> getRow() {
        CudaTestSupport.backend(); // skips the whole family, with the reason, where there is no GPU
        List<DynamicTest> tests = new ArrayList<>();
        for (DType t : DType.values()) {
            for (int cols : TestWeights.lengths(t)) {
                tests.add(DynamicTest.dynamicTest("getRow " + t + " cols=" + cols, () -> {
                    CudaBackend cuda = CudaTestSupport.backend();
                    Tensor w = RandomWeights.matrix("emb", t, 5, cols, cols * 13L + t.ordinal(), arena);
                    for (int row : new int[] {0, 3, 4}) {
                        float[] expected = new float[cols + 3];
                        float[] actual = new float[cols + 3];
                        reference.getRow(w, row, expected, 3);
                        cuda.getRow(w, row, actual, 3);
                        assertArrayEquals(expected, actual, "row " + row);
                    }
                }));
            }
        }
        return tests.stream();
    }

    /** A case of a host-array op: its result on a backend, compared by NMSE. */
    private static DynamicTest close(String name, double bound, Function<Backend, float[]> run) {
        return DynamicTest.dynamicTest(name, () -> {
            CudaBackend cuda = CudaTestSupport.backend();
            float[] expected = run.apply(reference);
            float[] actual = run.apply(cuda);
            double e = nmse(actual, expected);
            assertTrue(e <= bound, name + ": NMSE " + e + " > " + bound);
        });
    }

    @TestFactory
    Stream<DynamicTest> elementwiseAndRowOps() {
        CudaTestSupport.backend(); // skips the whole family, with the reason, where there is no GPU
        List<DynamicTest> tests = new ArrayList<>();
        for (int dim : new int[] {1, 33, 4096}) {
            for (int n : new int[] {1, 3}) {
                for (boolean weighted : new boolean[] {true, false}) {
                    tests.add(close("rmsNorm dim=" + dim + " n=" + n + (weighted ? "" : " no weight"), CLOSE_BOUND, b -> {
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
        for (RopeStyle style : RopeStyle.values()) {
            for (int headDim : new int[] {6, 64, 128}) {
                for (int half : new int[] {headDim / 2, headDim / 4}) {
                    for (int heads : new int[] {1, 3}) {
                        tests.add(close("rope " + style + " headDim=" + headDim + " rotary=" + 2 * half + " heads=" + heads,
                                CLOSE_BOUND, b -> {
                                    float[] x = RandomWeights.gaussian(3 * heads * headDim, 1.0, headDim * 7L + heads);
                                    float[] invFreq = new float[half];
                                    for (int i = 0; i < half; i++) {
                                        invFreq[i] = (float) Math.pow(500000.0, -2.0 * i / (2 * half));
                                    }
                                    b.rope(x, 3, heads, headDim, new int[] {0, 17, 131071}, invFreq, style);
                                    return x;
                                }));
                    }
                }
            }
        }
        for (int len : new int[] {1, 33, 4097}) {
            tests.add(close("softmax len=" + len, CLOSE_BOUND, b -> {
                float[] x = RandomWeights.gaussian(len + 5, 4.0, len);
                b.softmax(x, 5, len);
                return x;
            }));
        }
        for (int len : new int[] {1, 33, 100_003}) {
            tests.add(close("swiglu len=" + len, CLOSE_BOUND, b -> {
                float[] g = RandomWeights.gaussian(len, 3.0, len);
                float[] u = RandomWeights.gaussian(len, 1.0, len + 1);
                b.swiglu(g, u, len);
                return g;
            }));
        }
        return tests.stream();
    }

    record AttentionCase(String name, AttentionParams p, int[] positions) {
    }

    static List<AttentionCase> attentionCases() {
        List<AttentionCase> cases = new ArrayList<>();
        int[][] shapes = {{4, 4, 64}, {8, 2, 128}, {4, 1, 80}, {2, 2, 256}, {6, 3, 40}};
        for (int[] s : shapes) {
            for (int chunk : new int[] {0, 5}) {
                AttentionParams p = new AttentionParams(s[0], s[1], s[2], (float) (1 / Math.sqrt(s[2])), chunk);
                String shape = "heads=" + s[0] + " kv=" + s[1] + " dim=" + s[2] + " chunk=" + chunk;
                for (int pos : new int[] {0, 1, 300, 700}) { // 300 and 700 keys take 2 and 3 splits
                    cases.add(new AttentionCase("decode at " + pos + " " + shape, p, new int[] {pos}));
                }
                cases.add(new AttentionCase("3 decode rows " + shape, p, new int[] {40, 41, 42}));
                cases.add(new AttentionCase("prefill 37 " + shape, p, range(0, 37)));
                cases.add(new AttentionCase("prefill 20 after 100 " + shape, p, range(100, 120)));
                cases.add(new AttentionCase("scattered rows " + shape, p, new int[] {5, 3, 9, 0, 12, 7}));
            }
        }
        return cases;
    }

    @TestFactory
    Stream<DynamicTest> attention() {
        CudaTestSupport.backend(); // skips the whole family, with the reason, where there is no GPU
        return attentionCases().stream().map(c -> close("attention " + c.name(), F32_BOUND, b -> {
            AttentionParams p = c.p();
            int n = c.positions().length;
            int rows = Arrays.stream(c.positions()).max().orElseThrow() + 3;
            float[] q = RandomWeights.gaussian(n * p.qDim(), 1.0, rows);
            // fresh caches per backend call: the CUDA backend keeps copies by array identity
            float[] k = RandomWeights.gaussian(rows * p.kvDim(), 1.0, rows + 1);
            float[] v = RandomWeights.gaussian(rows * p.kvDim(), 1.0, rows + 2);
            float[] out = new float[n * p.qDim()];
            b.attention(p, q, c.positions(), n, PagedKv.contiguous(k, v, p.kvDim()), out);
            return out;
        }));
    }

    @Test
    void decodingAppendsToTheDeviceCopiesOfTheCache() {
        CudaBackend cuda = CudaTestSupport.backend();
        AttentionParams p = new AttentionParams(8, 2, 64, 0.125f, 0);
        int capacity = 64;
        float[] k = new float[capacity * p.kvDim()];
        float[] v = new float[capacity * p.kvDim()];
        // one view for all steps: its block table's identity is what the device copy is kept by
        PagedKv cache = PagedKv.contiguous(k, v, p.kvDim());
        Random rnd = new Random(3);
        // prefill 20 positions, then decode one at a time, writing each step's row before attending
        for (int step = 0; step < 40; step++) {
            int from = step == 0 ? 0 : 19 + step;
            int to = step == 0 ? 20 : from + 1;
            for (int i = from * p.kvDim(); i < to * p.kvDim(); i++) {
                k[i] = (float) rnd.nextGaussian();
                v[i] = (float) rnd.nextGaussian();
            }
            int[] pos = range(from, to);
            float[] q = RandomWeights.gaussian(pos.length * p.qDim(), 1.0, step);
            float[] expected = new float[q.length];
            float[] actual = new float[q.length];
            reference.attention(p, q, pos, pos.length, cache, expected);
            cuda.attention(p, q, pos, pos.length, cache, actual);
            double e = nmse(actual, expected);
            assertTrue(e <= F32_BOUND, "step " + step + ": NMSE " + e);
        }
        assertTrue(cuda.kvCopyBytes() > 0);
    }

    @TestFactory
    Stream<DynamicTest> routerTopK() {
        CudaTestSupport.backend(); // skips the whole family, with the reason, where there is no GPU
        List<DynamicTest> tests = new ArrayList<>();
        for (int experts : new int[] {8, 60, 128}) {
            for (int k : new int[] {1, 2, 8}) {
                for (CudaBackend.Gating g : CudaBackend.Gating.values()) {
                    for (boolean normalize : new boolean[] {true, false}) {
                        int n = 5;
                        tests.add(DynamicTest.dynamicTest("router " + g + " top-" + k + " of " + experts
                                + (normalize ? " normalized" : ""), () -> {
                            CudaBackend cuda = CudaTestSupport.backend();
                            float[] logits = distinctLogits(n, experts, experts * 100L + k);
                            int[] expectedIdx = new int[n * k];
                            float[] expectedW = new float[n * k];
                            routeOnHost(logits, n, experts, k, g, normalize, expectedIdx, expectedW);
                            int[] idx = new int[n * k];
                            float[] w = new float[n * k];
                            float[] before = logits.clone();
                            cuda.routerTopK(logits, n, experts, k, g, normalize, idx, w);
                            assertArrayEquals(expectedIdx, idx);
                            assertTrue(nmse(w, expectedW) <= F32_BOUND, "weights " + Arrays.toString(w) + " vs "
                                    + Arrays.toString(expectedW));
                            assertArrayEquals(before, logits, "logits untouched");
                        }));
                    }
                }
            }
        }
        tests.add(DynamicTest.dynamicTest("router ties go to the lower index", () -> {
            CudaBackend cuda = CudaTestSupport.backend();
            float[] logits = {1, 3, 3, 0, 3, -1};
            int[] idx = new int[3];
            float[] w = new float[3];
            cuda.routerTopK(logits, 1, 6, 3, CudaBackend.Gating.SIGMOID, false, idx, w);
            assertArrayEquals(new int[] {1, 2, 4}, idx);
        }));
        return tests.stream();
    }

    /** Logits whose values differ by at least 0.02 within a row, in random order (no near-ties to flip). */
    static float[] distinctLogits(int n, int experts, long seed) {
        Random rnd = new Random(seed);
        float[] out = new float[n * experts];
        for (int r = 0; r < n; r++) {
            List<Integer> order = new ArrayList<>();
            for (int i = 0; i < experts; i++) {
                order.add(i);
            }
            java.util.Collections.shuffle(order, rnd);
            for (int i = 0; i < experts; i++) {
                out[r * experts + order.get(i)] = (float) (i * 0.05 - experts * 0.025 + rnd.nextDouble() * 0.01);
            }
        }
        return out;
    }

    /** The router as the forward pass defines it (dev.herd.model.forward.Router), written out plainly. */
    static void routeOnHost(float[] logits, int n, int experts, int k, CudaBackend.Gating g, boolean normalize,
                            int[] idx, float[] w) {
        for (int r = 0; r < n; r++) {
            float[] row = Arrays.copyOfRange(logits, r * experts, (r + 1) * experts);
            if (g == CudaBackend.Gating.SOFTMAX) {
                reference.softmax(row, 0, experts);
            }
            boolean[] taken = new boolean[experts];
            double sum = 0;
            for (int s = 0; s < k; s++) {
                int best = -1;
                for (int i = 0; i < experts; i++) {
                    if (!taken[i] && (best < 0 || row[i] > row[best])) {
                        best = i;
                    }
                }
                taken[best] = true;
                idx[r * k + s] = best;
                float v = row[best];
                w[r * k + s] = g == CudaBackend.Gating.SIGMOID ? (float) (1 / (1 + Math.exp(-v))) : v;
                sum += w[r * k + s];
            }
            if (normalize) {
                for (int s = 0; s < k; s++) {
                    w[r * k + s] = (float) (w[r * k + s] / sum);
                }
            }
        }
    }

    @TestFactory
    Stream<DynamicTest> expertFfn() {
        CudaTestSupport.backend(); // skips the whole family, with the reason, where there is no GPU
        List<DynamicTest> tests = new ArrayList<>();
        record Shape(DType gateUp, DType down, int hidden, int ffn) {
        }
        List<Shape> shapes = List.of(new Shape(DType.F32, DType.F32, 33, 50), new Shape(DType.F16, DType.F16, 64, 96),
                new Shape(DType.F16, DType.F16, 33, 50), new Shape(DType.BF16, DType.BF16, 64, 96),
                new Shape(DType.Q8_0, DType.Q8_0, 96, 160), new Shape(DType.Q4_0, DType.Q4_0, 96, 160),
                new Shape(DType.Q4_K, DType.Q6_K, 256, 512), new Shape(DType.Q6_K, DType.Q4_K, 256, 512),
                new Shape(DType.F8_E4M3, DType.F8_E4M3, 32, 48));
        for (Shape s : shapes) {
            for (int experts : new int[] {1, 3, 8}) {
                for (int perExpert : new int[] {1, 3, 40}) { // 40 rows per expert: tensor cores
                    tests.add(DynamicTest.dynamicTest("expert FFN " + s.gateUp() + "/" + s.down() + " hidden="
                            + s.hidden() + " ffn=" + s.ffn() + " experts=" + experts + " rows<=" + perExpert, () -> {
                        CudaBackend cuda = CudaTestSupport.backend();
                        long seed = experts * 1000L + perExpert + s.hashCode();
                        Random rnd = new Random(seed);
                        List<ExpertWeights> ws = new ArrayList<>();
                        for (int e = 0; e < experts; e++) {
                            ws.add(new ExpertWeights(
                                    RandomWeights.matrix("gate" + e, s.gateUp(), s.ffn(), s.hidden(), seed + 3 * e, arena),
                                    RandomWeights.matrix("up" + e, s.gateUp(), s.ffn(), s.hidden(), seed + 3 * e + 1, arena),
                                    RandomWeights.matrix("down" + e, s.down(), s.hidden(), s.ffn(), seed + 3 * e + 2, arena)));
                        }
                        int tokens = perExpert + 2;
                        int[] offsets = new int[experts + 1];
                        List<Integer> tokenOfRow = new ArrayList<>();
                        for (int e = 0; e < experts; e++) {
                            int rows = e == 1 ? 0 : 1 + rnd.nextInt(perExpert); // expert 1 gets nothing
                            for (int r = 0; r < rows; r++) {
                                tokenOfRow.add(rnd.nextInt(tokens));
                            }
                            offsets[e + 1] = tokenOfRow.size();
                        }
                        int[] rowToken = tokenOfRow.stream().mapToInt(Integer::intValue).toArray();
                        float[] x = RandomWeights.gaussian(tokens * s.hidden(), 1.0, seed + 7);
                        float[] expected = expertsOnHost(ws, x, offsets, rowToken, s.hidden(), s.ffn());
                        float[] actual = new float[expected.length];
                        cuda.expertFfn(ws, x, tokens, offsets, rowToken, actual);
                        int maxRows = 0;
                        for (int e = 0; e < experts; e++) {
                            maxRows = Math.max(maxRows, offsets[e + 1] - offsets[e]);
                        }
                        // two chained products: twice the single-product bound, and the h rounding on top
                        double bound = tensorCores(s.gateUp(), maxRows) || tensorCores(s.down(), maxRows)
                                ? (s.gateUp() == DType.BF16 ? 10 * MMA_BF16_BOUND : 10 * MMA_F16_BOUND) : F32_BOUND;
                        double e = nmse(actual, expected);
                        assertTrue(e <= bound, "NMSE " + e + " > " + bound);
                    }));
                }
            }
        }
        return tests.stream();
    }

    /** Each expert through the reference backend on its gathered rows. */
    static float[] expertsOnHost(List<ExpertWeights> ws, float[] x, int[] offsets, int[] rowToken, int hidden, int ffn) {
        float[] out = new float[offsets[ws.size()] * hidden];
        for (int e = 0; e < ws.size(); e++) {
            int c = offsets[e + 1] - offsets[e];
            if (c == 0) {
                continue;
            }
            float[] in = new float[c * hidden];
            for (int r = 0; r < c; r++) {
                System.arraycopy(x, rowToken[offsets[e] + r] * hidden, in, r * hidden, hidden);
            }
            float[] g = new float[c * ffn];
            float[] u = new float[c * ffn];
            float[] y = new float[c * hidden];
            reference.matmul(ws.get(e).gate(), in, g, c);
            reference.matmul(ws.get(e).up(), in, u, c);
            reference.swiglu(g, u, c * ffn);
            reference.matmul(ws.get(e).down(), g, y, c);
            System.arraycopy(y, 0, out, offsets[e] * hidden, c * hidden);
        }
        return out;
    }

    @Test
    void badArgumentsAreRefusedBeforeAnyLaunch() {
        CudaBackend cuda = CudaTestSupport.backend();
        Tensor w = RandomWeights.matrix("w", DType.F16, 4, 8, 1, arena);
        assertThrows(IllegalArgumentException.class, () -> cuda.matmul(w, new float[7], new float[4], 1));
        assertThrows(IndexOutOfBoundsException.class, () -> cuda.getRow(w, 4, new float[8], 0));
        assertThrows(IllegalArgumentException.class, () -> cuda.routerTopK(new float[8], 1, 8, 33,
                CudaBackend.Gating.SOFTMAX, true, new int[33], new float[33]));
        ExpertWeights e = new ExpertWeights(w, w, RandomWeights.matrix("d", DType.F16, 8, 4, 2, arena));
        assertThrows(IndexOutOfBoundsException.class, () -> cuda.expertFfn(List.of(e), new float[8], 1,
                new int[] {0, 1}, new int[] {1}, new float[8]));
        // and the backend still works afterwards
        float[] y = new float[4];
        cuda.matmul(w, new float[8], y, 1);
        assertArrayEquals(new float[4], y);
    }

    static int[] range(int from, int to) {
        int[] r = new int[to - from];
        for (int i = 0; i < r.length; i++) {
            r[i] = from + i;
        }
        return r;
    }

    static float[] concat(float[] a, float[] b) {
        float[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }
}
