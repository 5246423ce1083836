package dev.herd.model.forward;

import dev.herd.kernels.Tensor;
import dev.herd.model.config.Architecture;
import dev.herd.model.testmodel.TestModelSpec;
import dev.herd.model.testmodel.TestModelWeights;
import dev.herd.model.weights.CheckpointFormat;
import dev.herd.model.weights.ModelWeights;
import dev.herd.model.weights.WeightStore;
import org.junit.jupiter.api.Test;

import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** A {@link ModelWeights.Part} resolves its part of the model and not one tensor more. */
class ModelWeightsPartTest {
    private static final TestModelSpec MIXTRAL = TestModelSpec.small(Architecture.MIXTRAL);

    /** Remembers every name looked up. */
    static final class Recording implements WeightStore {
        final WeightStore store;
        final Set<String> found = new TreeSet<>();

        Recording(WeightStore store) {
            this.store = store;
        }

        @Override
        public Set<String> names() {
            return store.names();
        }

        @Override
        public Optional<Tensor> find(String name) {
            found.add(name);
            return store.find(name);
        }

        @Override
        public String describe() {
            return store.describe();
        }

        @Override
        public void close() {
        }
    }

    private static Recording mixtral() {
        return new Recording(new InMemoryWeightStore(new TestModelWeights(MIXTRAL).huggingFace()));
    }

    private static Set<String> layer(int l, String... suffixes) {
        Set<String> s = new TreeSet<>();
        for (String x : suffixes) {
            s.add("model.layers." + l + "." + x);
        }
        return s;
    }

    private static final String[] OWN = {"input_layernorm.weight", "post_attention_layernorm.weight",
            "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
            "block_sparse_moe.gate.weight"};

    @Test
    void anExpertPartResolvesOnlyTheExpertsAskedFor() {
        Recording store = mixtral();
        try (ModelWeights w = ModelWeights.part(TransformerTest.hfConfig(MIXTRAL), store, CheckpointFormat.HUGGING_FACE,
                ModelWeights.Part.experts(1, 2))) {
            assertEquals(Set.of(), store.found, "nothing before an expert is asked for");
            w.expert(1, 2);
            assertEquals(layer(1, "block_sparse_moe.experts.2.w1.weight", "block_sparse_moe.experts.2.w2.weight",
                    "block_sparse_moe.experts.2.w3.weight"), store.found);
            assertThrows(IllegalStateException.class, w::embedding);
            assertThrows(IllegalStateException.class, w::lmHead);
            assertThrows(IllegalStateException.class, w::finalNorm);
            assertThrows(IllegalArgumentException.class, () -> w.layer(1), "the layer's own weights are not here");
            assertThrows(IllegalArgumentException.class, () -> w.expert(0, 2), "layer 0 is outside the part");
        }
    }

    @Test
    void aFirstStageResolvesItsLayersAndTheEmbeddingButNoExpertOrHead() {
        Recording store = mixtral();
        try (ModelWeights w = ModelWeights.part(TransformerTest.hfConfig(MIXTRAL), store, CheckpointFormat.HUGGING_FACE,
                ModelWeights.Part.stage(0, 1, true, false))) {
            Set<String> expected = layer(0, OWN);
            expected.add("model.embed_tokens.weight");
            assertEquals(expected, store.found);
            assertSame(store.get("model.embed_tokens.weight"), w.embedding());
            assertThrows(IllegalStateException.class, w::lmHead);
        }
    }

    @Test
    void aLastStageResolvesTheHeadButNotTheEmbedding() {
        Recording store = mixtral();
        try (ModelWeights w = ModelWeights.part(TransformerTest.hfConfig(MIXTRAL), store, CheckpointFormat.HUGGING_FACE,
                ModelWeights.Part.stage(1, 2, false, true))) {
            Set<String> expected = layer(1, OWN);
            expected.add("model.norm.weight");
            expected.add("lm_head.weight");
            assertEquals(expected, store.found);
            assertSame(store.get("lm_head.weight"), w.lmHead());
            assertThrows(IllegalStateException.class, w::embedding);
        }
    }

    @Test
    void theWholeRangeConstructorStillChecksEveryExpertAtLoad() {
        Recording store = mixtral();
        try (ModelWeights w = new ModelWeights(TransformerTest.hfConfig(MIXTRAL), store, CheckpointFormat.HUGGING_FACE,
                1, 2)) {
            for (int e = 0; e < MIXTRAL.experts(); e++) {
                assertEquals(true, store.found.contains("model.layers.1.block_sparse_moe.experts." + e + ".w2.weight"),
                        "expert " + e);
            }
            w.embedding();
            w.lmHead();
        }
    }
}
