package dev.herd.model.forward;

import dev.herd.kernels.DType;
import dev.herd.kernels.ReferenceBackend;
import dev.herd.kernels.cuda.CudaBackend;
import dev.herd.kernels.cuda.CudaUnavailableException;
import dev.herd.model.config.Architecture;
import dev.herd.model.load.ModelFiles;
import dev.herd.model.testmodel.TestModelSpec;
import dev.herd.model.testmodel.TestModelWriter;
import dev.herd.model.weights.ModelWeights;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Whole-model logits of generated models through the forward pass on the CUDA backend against the
 * reference backend (GPU only; skipped with the reason elsewhere).
 * <ul>
 *   <li>F32 weights, every architecture (including chunked attention and batched sequences): prefill
 *       (13 rows: matrix-vector products, tiled attention), decode (split-K attention) and a batched step.
 *       Every kernel on this path computes in f32 against the reference's double sums, so logits agree to
 *       within 1e-4 of their largest magnitude (measured differences are around 1e-6).</li>
 *   <li>Quantized GGUF files (Q8_0, Q4_0, Q4_K with its Q6_K-free fallback, Q6_K, F16, BF16): a 40-token
 *       prefill runs its products on tensor cores with activations rounded to f16 or bf16 (relative error
 *       about 2⁻¹¹ or 2⁻⁸ per value), then decoding continues on the cache it wrote. The bound on the
 *       logits' NMSE, 1e-4 (3e-3 for bf16), allows that rounding to grow through the layers while a wrong
 *       kernel (an NMSE of order 1) cannot pass.</li>
 * </ul>
 */
class CudaTransformerTest {
    private static final ReferenceBackend REFERENCE = new ReferenceBackend(2);
    private static CudaBackend cuda;
    private static String unavailable;

    @BeforeAll
    static void open() {
        try {
            cuda = CudaBackend.open(0);
        } catch (CudaUnavailableException e) {
            unavailable = e.getMessage();
        }
    }

    @AfterAll
    static void close() {
        REFERENCE.close();
        if (cuda != null) {
            cuda.close();
        }
    }

    private static void assumeDevice() {
        Assumptions.assumeTrue(cuda != null, () -> "no CUDA device: " + unavailable);
    }

    static List<TestModelSpec> specs() {
        return TransformerTest.specs().toList();
    }

    @ParameterizedTest
    @MethodSource("specs")
    void f32ModelsMatchTheReference(TestModelSpec spec) {
        assumeDevice();
        try (ModelWeights w = TransformerTest.ggufWeights(spec)) {
            Transformer ref = new Transformer(w, REFERENCE);
            Transformer gpu = new Transformer(w, cuda);
            int vocab = spec.vocab();
            int[] ids = TransformerTest.tokens(13, vocab, 5);
            KvCache rc = new KvCache(ref.config());
            KvCache gc = new KvCache(gpu.config());
            TransformerTest.assertClose(ref.forward(ids, rc, true), gpu.forward(ids, gc, true), 1e-4,
                    spec.arch() + " prefill");
            for (int step = 0; step < 4; step++) {
                int[] next = {100 + step};
                TransformerTest.assertClose(ref.forward(next, rc), gpu.forward(next, gc), 1e-4,
                        spec.arch() + " decode step " + step);
            }
            // continuous batching: a new sequence's prefill beside the first one's decode step
            KvCache rc2 = new KvCache(ref.config());
            KvCache gc2 = new KvCache(gpu.config());
            int[] other = TransformerTest.tokens(6, vocab, 6);
            float[] a = ref.forward(List.of(new Segment(rc, new int[] {7}), new Segment(rc2, other)));
            float[] b = gpu.forward(List.of(new Segment(gc, new int[] {7}), new Segment(gc2, other)));
            TransformerTest.assertClose(a, b, 1e-4, spec.arch() + " batched step");
        } finally {
            release(); // heap weights of this model: do not keep them for the next one
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"Q8_0", "Q4_0", "Q4_K", "Q6_K", "F16", "BF16"})
    void quantizedModelsMatchTheReference(DType type, @TempDir Path tmp) {
        assumeDevice();
        // hidden and expert sizes of whole 256-element blocks, so K-quants are used for every matrix
        TestModelSpec spec = new TestModelSpec(Architecture.MIXTRAL, 256, 2, 4, 2, 64, 0, 4, 2, 256, 512, 1e6, 1,
                false, 8192, 8192, 3);
        Path gguf = new TestModelWriter(spec).writeGguf(tmp.resolve(type + ".gguf"), type);
        double bound = type == DType.BF16 ? 3e-3 : 1e-4;
        try (ModelFiles files = ModelFiles.open(gguf);
             ModelWeights w = new ModelWeights(files.config(), files.store(), files.format())) {
            Transformer ref = new Transformer(w, REFERENCE);
            Transformer gpu = new Transformer(w, cuda);
            int[] ids = TransformerTest.tokens(40, spec.vocab(), 9);
            KvCache rc = new KvCache(ref.config());
            KvCache gc = new KvCache(gpu.config());
            assertNmse(ref.forward(ids, rc, true), gpu.forward(ids, gc, true), bound, type + " prefill of 40");
            for (int step = 0; step < 3; step++) {
                int[] next = {200 + step};
                assertNmse(ref.forward(next, rc), gpu.forward(next, gc), bound, type + " decode step " + step);
            }
        } finally {
            release(); // the file's mapping closes with it
        }
    }

    /** Frees the model's device copies, without hiding the test's own failure if the device is unusable. */
    private static void release() {
        try {
            cuda.releaseWeights();
        } catch (IllegalStateException unusable) {
            // the failure that made it unusable is the one reported
        }
    }

    private static void assertNmse(float[] expected, float[] actual, double bound, String what) {
        double err = 0;
        double pow = 0;
        for (int i = 0; i < expected.length; i++) {
            double d = (double) actual[i] - expected[i];
            err += d * d;
            pow += (double) expected[i] * expected[i];
        }
        double nmse = err / pow;
        assertTrue(nmse <= bound, what + ": logits NMSE " + nmse + " > " + bound + " (first logits "
                + Arrays.toString(Arrays.copyOf(actual, 4)) + " vs " + Arrays.toString(Arrays.copyOf(expected, 4)) + ")");
    }
}
