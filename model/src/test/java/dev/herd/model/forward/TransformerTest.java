package dev.herd.model.forward;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.herd.kernels.ReferenceBackend;
import dev.herd.model.config.Architecture;
import dev.herd.model.config.GgufConfigReader;
import dev.herd.model.config.HfConfigReader;
import dev.herd.model.config.ModelConfig;
import dev.herd.model.testmodel.TestModelConfigs;
import dev.herd.model.testmodel.TestModelSpec;
import dev.herd.model.testmodel.TestModelWeights;
import dev.herd.model.testmodel.TestTokenizer;
import dev.herd.model.weights.CheckpointFormat;
import dev.herd.model.weights.ModelWeights;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The forward pass against itself under different schedules (cached decoding against full recomputation,
 * chunked prefill) and across checkpoint layouts (HF against GGUF of the same weights, in memory, so only the
 * layout conversions are under test here; the file formats have their own tests).
 */
class TransformerTest {
    private static final ReferenceBackend BACKEND = new ReferenceBackend(2);
    private static final ObjectMapper JSON = new ObjectMapper();

    @AfterAll
    static void close() {
        BACKEND.close();
    }

    static Stream<TestModelSpec> specs() {
        return Stream.of(
                TestModelSpec.small(Architecture.LLAMA),
                TestModelSpec.small(Architecture.LLAMA).withRopeScaling(true),
                TestModelSpec.small(Architecture.MIXTRAL),
                TestModelSpec.small(Architecture.QWEN3_MOE),
                TestModelSpec.small(Architecture.LLAMA4),
                // a chunk of 5 and a temperature floor of 4 make a 13-token sequence cross both
                TestModelSpec.small(Architecture.LLAMA4).withChunk(5, 4).withRopeScaling(true));
    }

    static ModelConfig hfConfig(TestModelSpec spec) {
        TestTokenizer tok = TestTokenizer.build(spec.vocab());
        return HfConfigReader.parse(JSON.valueToTree(TestModelConfigs.configJson(spec, tok)), "generated");
    }

    static ModelWeights hfWeights(TestModelSpec spec) {
        return new ModelWeights(hfConfig(spec), new InMemoryWeightStore(new TestModelWeights(spec).huggingFace()),
                CheckpointFormat.HUGGING_FACE);
    }

    static ModelWeights ggufWeights(TestModelSpec spec) {
        TestTokenizer tok = TestTokenizer.build(spec.vocab());
        ModelConfig c = GgufConfigReader.parse(TestModelConfigs.ggufMetadata(spec, tok), "generated");
        return new ModelWeights(c, new InMemoryWeightStore(new TestModelWeights(spec).gguf()), CheckpointFormat.GGUF);
    }

    static int[] tokens(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = r.nextInt(vocab - TestTokenizer.SPECIALS.size());
        }
        return t;
    }

    @ParameterizedTest
    @MethodSource("specs")
    void cachedDecodingEqualsFullRecomputation(TestModelSpec spec) {
        try (ModelWeights w = hfWeights(spec)) {
            Transformer t = new Transformer(w, BACKEND);
            int n = 13;
            int[] ids = tokens(n, spec.vocab(), 7);
            int vocab = spec.vocab();
            float[] full = t.forward(ids, new KvCache(t.config()), true);

            // one token at a time through the cache
            KvCache cache = new KvCache(t.config());
            for (int i = 0; i < n; i++) {
                float[] step = t.forward(new int[]{ids[i]}, cache);
                assertClose(Arrays.copyOfRange(full, i * vocab, (i + 1) * vocab), step, 1e-5,
                        spec.arch() + " position " + i);
            }
            // a prefill in two uneven chunks
            KvCache chunked = new KvCache(t.config());
            t.forward(Arrays.copyOfRange(ids, 0, 6), chunked);
            float[] rest = t.forward(Arrays.copyOfRange(ids, 6, n), chunked, true);
            assertClose(Arrays.copyOfRange(full, 6 * vocab, n * vocab), rest, 1e-5, spec.arch() + " chunked prefill");
        }
    }

    @ParameterizedTest
    @MethodSource("specs")
    void batchedSequencesComputeWhatEachComputesAlone(TestModelSpec spec) {
        // continuous batching: prefill chunks and decode steps of different sequences share each pass
        try (ModelWeights w = hfWeights(spec)) {
            Transformer t = new Transformer(w, BACKEND);
            int vocab = spec.vocab();
            int[][] prompts = {tokens(9, vocab, 1), tokens(3, vocab, 2), tokens(14, vocab, 3)};
            int steps = 4;
            // alone: prefill then feed a fixed continuation one token at a time
            float[][][] alone = new float[prompts.length][steps + 1][];
            for (int s = 0; s < prompts.length; s++) {
                KvCache cache = new KvCache(t.config());
                alone[s][0] = t.forward(prompts[s], cache);
                for (int i = 1; i <= steps; i++) {
                    alone[s][i] = t.forward(new int[]{100 + s + i}, cache);
                }
            }
            // together: sequence 2 prefills in two chunks while the others already decode
            KvCache[] caches = {new KvCache(t.config()), new KvCache(t.config()), new KvCache(t.config())};
            float[] step0 = t.forward(List.of(new Segment(caches[0], prompts[0]), new Segment(caches[1], prompts[1]),
                    new Segment(caches[2], Arrays.copyOfRange(prompts[2], 0, 8))));
            assertArrayEquals(alone[0][0], Arrays.copyOfRange(step0, 0, vocab));
            assertArrayEquals(alone[1][0], Arrays.copyOfRange(step0, vocab, 2 * vocab));
            float[] step1 = t.forward(List.of(new Segment(caches[2], Arrays.copyOfRange(prompts[2], 8, 14)),
                    new Segment(caches[0], new int[]{101}), new Segment(caches[1], new int[]{102})));
            assertArrayEquals(alone[2][0], Arrays.copyOfRange(step1, 0, vocab));
            assertArrayEquals(alone[0][1], Arrays.copyOfRange(step1, vocab, 2 * vocab));
            assertArrayEquals(alone[1][1], Arrays.copyOfRange(step1, 2 * vocab, 3 * vocab));
            for (int i = 2; i <= steps; i++) {
                List<Segment> segs = List.of(new Segment(caches[0], new int[]{100 + i}),
                        new Segment(caches[1], new int[]{101 + i}), new Segment(caches[2], new int[]{101 + i}));
                float[] out = t.forward(segs);
                assertArrayEquals(alone[0][i], Arrays.copyOfRange(out, 0, vocab), "seq 0 step " + i);
                assertArrayEquals(alone[1][i], Arrays.copyOfRange(out, vocab, 2 * vocab), "seq 1 step " + i);
                assertArrayEquals(alone[2][i - 1], Arrays.copyOfRange(out, 2 * vocab, 3 * vocab), "seq 2 step " + i);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("specs")
    void aForkedPrefixContinuesExactlyAsFromScratch(TestModelSpec spec) {
        try (ModelWeights w = hfWeights(spec); KvBlockStore store = KvBlockStore.bounded(w.config(), 16, 16)) {
            Transformer t = new Transformer(w, BACKEND);
            int vocab = spec.vocab();
            int[] ids = tokens(40, vocab, 11);
            float[] scratch = t.forward(ids, new KvCache(t.config()), true);

            KvCache source = new KvCache(store);
            t.forward(ids, source, true);
            int used = store.usedBlocks();
            KvCache aligned = KvCache.copyOf(source, 32);
            assertEquals(used, store.usedBlocks(), "a fork of two full blocks takes none");
            float[] rest = t.forward(Arrays.copyOfRange(ids, 32, 40), aligned, true);
            assertArrayEquals(Arrays.copyOfRange(scratch, 32 * vocab, 40 * vocab), rest, spec.arch() + " fork at 32");

            KvCache unaligned = KvCache.copyOf(source, 21);
            rest = t.forward(Arrays.copyOfRange(ids, 21, 40), unaligned, true);
            assertArrayEquals(Arrays.copyOfRange(scratch, 21 * vocab, 40 * vocab), rest, spec.arch() + " fork at 21");

            // a fork cut back into a shared block and run on: the source keeps predicting what it did
            KvCache cut = KvCache.copyOf(source, 32);
            cut.truncate(25);
            t.forward(tokens(5, vocab, 12), cut);
            KvCache last = KvCache.copyOf(source, 39);
            float[] next = t.forward(new int[]{ids[39]}, last);
            assertArrayEquals(Arrays.copyOfRange(scratch, 39 * vocab, 40 * vocab), next, spec.arch() + " source intact");

            for (KvCache c : List.of(source, aligned, unaligned, cut, last)) {
                c.release();
            }
            assertEquals(0, store.usedBlocks(), "every block back");
        }
    }

    @ParameterizedTest
    @MethodSource("specs")
    void logitsDoNotDependOnWhereTheBlocksAre(TestModelSpec spec) {
        // one-position blocks shared by two interleaved sequences scatter each sequence's rows through the store
        try (ModelWeights w = hfWeights(spec); KvBlockStore store = KvBlockStore.growable(w.config(), 1)) {
            Transformer t = new Transformer(w, BACKEND);
            int vocab = spec.vocab();
            int[] a = tokens(12, vocab, 21);
            int[] b = tokens(12, vocab, 22);
            float[] aloneA = t.forward(a, new KvCache(t.config()), true);
            float[] aloneB = t.forward(b, new KvCache(t.config()), true);
            KvCache ca = new KvCache(store);
            KvCache cb = new KvCache(store);
            for (int i = 0; i < 12; i++) {
                float[] out = t.forward(List.of(new Segment(ca, new int[]{a[i]}), new Segment(cb, new int[]{b[i]})));
                assertArrayEquals(Arrays.copyOfRange(aloneA, i * vocab, (i + 1) * vocab),
                        Arrays.copyOfRange(out, 0, vocab), spec.arch() + " a at " + i);
                assertArrayEquals(Arrays.copyOfRange(aloneB, i * vocab, (i + 1) * vocab),
                        Arrays.copyOfRange(out, vocab, 2 * vocab), spec.arch() + " b at " + i);
            }
            assertEquals(24, store.usedBlocks());
        }
    }

    @ParameterizedTest
    @MethodSource("specs")
    void huggingFaceAndGgufLayoutsComputeTheSameFunction(TestModelSpec spec) {
        try (ModelWeights hf = hfWeights(spec); ModelWeights gguf = ggufWeights(spec)) {
            int[] ids = tokens(11, spec.vocab(), 3);
            float[] a = new Transformer(hf, BACKEND).forward(ids, new KvCache(hf.config()), true);
            float[] b = new Transformer(gguf, BACKEND).forward(ids, new KvCache(gguf.config()), true);
            assertClose(a, b, 1e-4, spec.arch() + " HF vs GGUF layout");
        }
    }

    @ParameterizedTest
    @MethodSource("specs")
    void contextOrderChangesThePrediction(TestModelSpec spec) {
        // guards the generator's scales: a model whose output ignored its context (saturated or vanishing
        // attention) would hide attention, RoPE and masking mistakes from every comparison test
        try (ModelWeights w = hfWeights(spec)) {
            Transformer t = new Transformer(w, BACKEND);
            float[] a = t.forward(new int[]{11, 42, 97, 7}, new KvCache(t.config()));
            float[] b = t.forward(new int[]{42, 11, 97, 7}, new KvCache(t.config()));
            double diff = 0;
            double scale = 0;
            for (int i = 0; i < a.length; i++) {
                diff = Math.max(diff, Math.abs(a[i] - b[i]));
                scale = Math.max(scale, Math.abs(a[i]));
            }
            assertTrue(diff > 1e-3 * scale, spec.arch() + ": order-blind logits, diff " + diff);
        }
    }

    static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) {
            if (x[i] > x[best]) {
                best = i;
            }
        }
        return best;
    }

    /** Max abs difference relative to the largest magnitude in the expected vector. */
    static void assertClose(float[] expected, float[] actual, double rel, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        double scale = 0;
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            scale = Math.max(scale, Math.abs(expected[i]));
            worst = Math.max(worst, Math.abs(expected[i] - actual[i]));
        }
        assertTrue(worst <= rel * Math.max(scale, 1e-6), what + ": max abs diff " + worst + " vs scale " + scale);
    }
}
