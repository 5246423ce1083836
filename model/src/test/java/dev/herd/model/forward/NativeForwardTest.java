package dev.herd.model.forward;

import dev.herd.kernels.AttentionParams;
import dev.herd.kernels.PagedKv;
import dev.herd.kernels.Backend;
import dev.herd.kernels.DType;
import dev.herd.kernels.NativeBackend;
import dev.herd.kernels.NativeUnavailableException;
import dev.herd.kernels.ReferenceBackend;
import dev.herd.kernels.RopeStyle;
import dev.herd.kernels.Tensor;
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
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Whole models on the native kernels, as served (weights repacked where the kernels have a layout for
 * them, one fused call per feed-forward, routing in C), on quantized GGUF files: a prefill's logits at every
 * position, then decode steps, against
 * <ul>
 *   <li>the same kernels one product at a time on the file's layout, with routing and the feed-forward
 *       composed in Java ({@link OneOpAtATime}): both round activations identically and sum the same
 *       integers, so they differ only in the order of f32 additions: NMSE below {@value #SAME_BOUND}
 *       (measured about 1e-14), where one wrong row, expert or gate is orders of magnitude more;</li>
 *   <li>the plain-Java reference, which keeps activations in f32 where the native products round them to
 *       8 bits per block: NMSE below {@value #REFERENCE_BOUND}. These small models (hidden 64: two blocks
 *       per activation row) measure 6e-5 to 6e-4, on every native level alike.</li>
 * </ul>
 */
class NativeForwardTest {
    private static final double SAME_BOUND = 1e-10;
    private static final double REFERENCE_BOUND = 1.5e-3;
    private static final int[] PROMPT = {17, 250, 3, 99, 401, 12, 77, 8, 300, 41, 5};
    private static final int[] CONTINUATION = {60, 2, 311, 140};

    private static NativeBackend served;
    private static NativeBackend inPlace;
    private static ReferenceBackend reference;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void load() {
        try {
            served = NativeBackend.load(2);
            inPlace = NativeBackend.load(2, NativeBackend.Isa.AUTO, NativeBackend.DEFAULT_SPIN_MICROS, false);
        } catch (NativeUnavailableException e) {
            Assumptions.abort("native kernels unavailable: " + e.getMessage());
        }
        reference = new ReferenceBackend(2);
    }

    @AfterAll
    static void close() {
        for (AutoCloseable c : new AutoCloseable[] {served, inPlace, reference}) {
            if (c != null) {
                try {
                    c.close();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
        }
    }

    static Stream<Arguments> models() {
        return Stream.of(Architecture.MIXTRAL, Architecture.QWEN3_MOE, Architecture.LLAMA4, Architecture.LLAMA)
                .flatMap(a -> Stream.of(DType.Q4_0, DType.Q8_0).map(t -> Arguments.of(a, t)));
    }

    @ParameterizedTest
    @MethodSource("models")
    void servedKernelsComputeWhatSingleProductsCompute(Architecture arch, DType type) {
        Path gguf = new TestModelWriter(TestModelSpec.small(arch)).writeGguf(tmp.resolve(arch + "-" + type + ".gguf"),
                type);
        int packedBefore = served.repackStats().made();
        float[][] actual = run(gguf, served);
        float[][] single = run(gguf, new OneOpAtATime(inPlace));
        float[][] expected = run(gguf, reference);
        for (int i = 0; i < expected.length; i++) {
            String what = arch + " " + type + (i == 0 ? " prefill" : " decode step " + i);
            double same = nmse(actual[i], single[i]);
            assertTrue(same < SAME_BOUND, () -> what + ": against single products, NMSE " + same);
            double ref = nmse(actual[i], expected[i]);
            assertTrue(ref < REFERENCE_BOUND, () -> what + ": against the reference, NMSE " + ref);
        }
        if (served.isa() == NativeBackend.Isa.AVX512) {
            assertTrue(served.repackStats().made() > packedBefore, "the weights were repacked");
        }
    }

    /** All logits of the prompt, then each decode step's. */
    private static float[][] run(Path gguf, Backend backend) {
        try (ModelFiles files = ModelFiles.open(gguf);
             ModelWeights w = new ModelWeights(files.config(), files.store(), files.format())) {
            Transformer t = new Transformer(w, backend);
            KvCache cache = new KvCache(files.config());
            float[][] out = new float[CONTINUATION.length + 1][];
            out[0] = t.forward(PROMPT, cache, true);
            for (int i = 0; i < CONTINUATION.length; i++) {
                out[i + 1] = t.forward(new int[] {CONTINUATION[i]}, cache);
            }
            return out;
        }
    }

    private static double nmse(float[] actual, float[] expected) {
        double err = 0;
        double ref = 0;
        for (int i = 0; i < expected.length; i++) {
            double d = (double) actual[i] - expected[i];
            err += d * d;
            ref += (double) expected[i] * expected[i];
        }
        return actual.length != expected.length || Double.isNaN(err) ? Double.POSITIVE_INFINITY : err / ref;
    }

    /** A backend's kernels with {@link Backend}'s defaults for the feed-forward and routing. */
    private record OneOpAtATime(Backend b) implements Backend {
        @Override
        public String name() {
            return "single-" + b.name();
        }

        @Override
        public void matmul(Tensor w, float[] x, float[] y, int n) {
            b.matmul(w, x, y, n);
        }

        @Override
        public void getRow(Tensor table, long row, float[] out, int outOffset) {
            b.getRow(table, row, out, outOffset);
        }

        @Override
        public void rmsNorm(float[] x, float[] weight, float eps, int dim, int n, float[] out) {
            b.rmsNorm(x, weight, eps, dim, n, out);
        }

        @Override
        public void rope(float[] x, int n, int heads, int headDim, int[] positions, float[] invFreq, RopeStyle style) {
            b.rope(x, n, heads, headDim, positions, invFreq, style);
        }

        @Override
        public void attention(AttentionParams p, float[] q, int[] positions, int n, PagedKv cache, float[] out) {
            b.attention(p, q, positions, n, cache, out);
        }

        @Override
        public void swiglu(float[] gate, float[] up, int len) {
            b.swiglu(gate, up, len);
        }

        @Override
        public void softmax(float[] x, int offset, int len) {
            b.softmax(x, offset, len);
        }
    }
}
