package dev.herd.model.forward;

import dev.herd.kernels.DType;
import dev.herd.kernels.NativeBackend;
import dev.herd.kernels.NativeUnavailableException;
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
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Whole quantized models on the native kernels: a sequence's logits are bit for bit the same whether it runs
 * alone or in a batch with other sequences, for its prefill (its rows among the other prompts' rows) and for
 * every decode step (one row among the others' rows). The scheduler batches all running sequences into one
 * pass, and a request must generate the same tokens however many others share the machine.
 * <p>
 * Both with Q4_0/Q8_0 weights repacked (as served; on AVX-512 the 16-row layout) and multiplied where they are
 * mapped, which take different kernels. A wider MoE model (hidden and expert width 256) runs in every type:
 * K-quant blocks are 256 long (narrower matrices would fall back to Q8_0), and its rows are 8 Q8_0/Q4_0 blocks
 * long where the small models' are 2 to 4.
 */
class NativeBatchingInvarianceTest {
    private static final int SEQUENCES = 9; // past the batched kernels' tiles of 4 and 8 rows
    private static final int STEPS = 3;

    private static NativeBackend served;
    private static NativeBackend inPlace;

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
    }

    @AfterAll
    static void close() {
        if (served != null) {
            served.close();
        }
        if (inPlace != null) {
            inPlace.close();
        }
    }

    static Stream<Arguments> models() {
        TestModelSpec wide = new TestModelSpec(Architecture.MIXTRAL, 256, 2, 4, 2, 64, 0, 4, 2, 256, 512, 1e6, 1,
                false, 8192, 8192, 3);
        List<Arguments> cases = new ArrayList<>();
        for (boolean repack : new boolean[] {true, false}) {
            for (Architecture arch : List.of(Architecture.MIXTRAL, Architecture.LLAMA)) {
                for (DType type : List.of(DType.Q8_0, DType.Q4_0)) {
                    cases.add(Arguments.of(TestModelSpec.small(arch), type, repack));
                }
            }
            for (DType type : List.of(DType.Q8_0, DType.Q4_0, DType.Q4_K, DType.Q6_K)) {
                cases.add(Arguments.of(wide, type, repack));
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} {1} repack={2}")
    @MethodSource("models")
    void sequencesComputeTheSameAloneAsInABatch(TestModelSpec spec, DType type, boolean repack) {
        Path gguf = new TestModelWriter(spec).writeGguf(tmp.resolve(spec.arch() + "-" + spec.hidden() + "-" + type
                + ".gguf"), type);
        try (ModelFiles files = ModelFiles.open(gguf);
             ModelWeights w = new ModelWeights(files.config(), files.store(), files.format())) {
            Transformer t = new Transformer(w, repack ? served : inPlace);
            int vocab = files.config().vocabSize();
            int[][] prompts = new int[SEQUENCES][];
            for (int s = 0; s < SEQUENCES; s++) {
                prompts[s] = tokens(1 + (5 * s) % 7, vocab, s); // 1 to 7 tokens: rows land everywhere in tiles
            }
            float[][][] alone = new float[SEQUENCES][STEPS + 1][];
            for (int s = 0; s < SEQUENCES; s++) {
                KvCache cache = new KvCache(t.config());
                alone[s][0] = t.forward(prompts[s], cache);
                for (int i = 1; i <= STEPS; i++) {
                    alone[s][i] = t.forward(new int[] {next(s, i, vocab)}, cache);
                }
            }
            KvCache[] caches = new KvCache[SEQUENCES];
            List<Segment> prefill = new ArrayList<>();
            for (int s = 0; s < SEQUENCES; s++) {
                caches[s] = new KvCache(t.config());
                prefill.add(new Segment(caches[s], prompts[s]));
            }
            assertSame(alone, 0, t.forward(prefill), vocab, spec.arch() + " " + type + " prefill");
            for (int i = 1; i <= STEPS; i++) {
                List<Segment> decode = new ArrayList<>();
                for (int s = 0; s < SEQUENCES; s++) {
                    decode.add(new Segment(caches[s], new int[] {next(s, i, vocab)}));
                }
                assertSame(alone, i, t.forward(decode), vocab, spec.arch() + " " + type + " decode step " + i);
            }
        }
    }

    private static void assertSame(float[][][] alone, int step, float[] batched, int vocab, String what) {
        for (int s = 0; s < alone.length; s++) {
            float[] a = alone[s][step];
            float[] b = Arrays.copyOfRange(batched, s * vocab, (s + 1) * vocab);
            for (int v = 0; v < vocab; v++) {
                if (Float.floatToRawIntBits(a[v]) != Float.floatToRawIntBits(b[v])) {
                    fail(what + ", sequence " + s + " of " + alone.length + ", logit " + v + ": " + b[v]
                            + " batched, " + a[v] + " alone");
                }
            }
        }
    }

    private static int next(int sequence, int step, int vocab) {
        return (37 * sequence + 101 * step + 7) % vocab;
    }

    private static int[] tokens(int n, int vocab, int seed) {
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = (int) ((seed * 7919L + i * 104729L + 13) % vocab);
        }
        return ids;
    }
}
