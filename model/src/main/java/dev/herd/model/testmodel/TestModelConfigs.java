package dev.herd.model.testmodel;

import dev.herd.model.config.RopeConfig;
import dev.herd.model.config.RopeScaling;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The Hugging Face {@code config.json} of a generated model, with the keys real checkpoints of its family use. */
public final class TestModelConfigs {
    /** Llama 3.1's rope scaling, used when a spec asks for scaling. */
    public static final RopeScaling LLAMA3_SCALING = new RopeScaling("llama3", 8.0, 1.0, 4.0, 8192);

    private TestModelConfigs() {
    }

    public static Map<String, Object> configJson(TestModelSpec s, TestTokenizer tok) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("hidden_size", s.hidden());
        c.put("num_hidden_layers", s.layers());
        c.put("num_attention_heads", s.heads());
        c.put("num_key_value_heads", s.kvHeads());
        c.put("head_dim", s.headDim());
        c.put("vocab_size", s.vocab());
        c.put("rms_norm_eps", 1e-5);
        c.put("rope_theta", s.ropeTheta());
        c.put("max_position_embeddings", 4096);
        c.put("hidden_act", "silu");
        c.put("tie_word_embeddings", false);
        c.put("bos_token_id", tok.bosId());
        c.put("eos_token_id", tok.eosId());
        c.put("torch_dtype", "float32");
        if (s.ropeScaling()) {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("rope_type", "llama3");
            r.put("factor", LLAMA3_SCALING.factor());
            r.put("low_freq_factor", LLAMA3_SCALING.lowFreqFactor());
            r.put("high_freq_factor", LLAMA3_SCALING.highFreqFactor());
            r.put("original_max_position_embeddings", LLAMA3_SCALING.originalMaxPositions());
            c.put("rope_scaling", r);
        }
        switch (s.arch()) {
            case LLAMA -> {
                c.put("architectures", List.of("LlamaForCausalLM"));
                c.put("model_type", "llama");
                c.put("intermediate_size", s.ffn());
            }
            case MIXTRAL -> {
                c.put("architectures", List.of("MixtralForCausalLM"));
                c.put("model_type", "mixtral");
                c.put("intermediate_size", s.expertFfn());
                c.put("num_local_experts", s.experts());
                c.put("num_experts_per_tok", s.topK());
                c.put("sliding_window", null);
            }
            case QWEN3_MOE -> {
                c.put("architectures", List.of("Qwen3MoeForCausalLM"));
                c.put("model_type", "qwen3_moe");
                c.put("intermediate_size", s.ffn());
                c.put("moe_intermediate_size", s.expertFfn());
                c.put("num_experts", s.experts());
                c.put("num_experts_per_tok", s.topK());
                c.put("norm_topk_prob", true);
                c.put("decoder_sparse_step", 1);
                c.put("mlp_only_layers", List.of());
                c.put("attention_bias", false);
            }
            case LLAMA4 -> {
                c.put("model_type", "llama4_text");
                c.put("intermediate_size", s.expertFfn());
                c.put("intermediate_size_mlp", s.ffn());
                c.put("num_local_experts", s.experts());
                c.put("num_experts_per_tok", s.topK());
                c.put("interleave_moe_layer_step", s.moeStep());
                c.put("use_qk_norm", true);
                c.put("no_rope_layers", List.of());
                c.put("attention_chunk_size", s.chunk());
                c.put("attn_temperature_tuning", true);
                c.put("floor_scale", s.floorScale());
                c.put("attn_scale", 0.1);
                Map<String, Object> outer = new LinkedHashMap<>();
                outer.put("architectures", List.of("Llama4ForConditionalGeneration"));
                outer.put("model_type", "llama4");
                outer.put("text_config", c);
                return outer;
            }
        }
        return c;
    }

    /**
     * GGUF metadata of a generated model, with llama.cpp's keys: integers as {@link Integer} (written as
     * uint32), reals as {@link Float}, token lists as {@code List<String>}, token types as {@code int[]}.
     */
    public static Map<String, Object> ggufMetadata(TestModelSpec s, TestTokenizer tok) {
        String a = s.arch().ggufArch();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("general.architecture", a);
        m.put("general.name", "herd-test-" + s.arch().hfModelType());
        m.put(a + ".vocab_size", s.vocab());
        m.put(a + ".context_length", 4096);
        m.put(a + ".embedding_length", s.hidden());
        m.put(a + ".block_count", s.layers());
        m.put(a + ".attention.head_count", s.heads());
        m.put(a + ".attention.head_count_kv", s.kvHeads());
        m.put(a + ".attention.key_length", s.headDim());
        m.put(a + ".attention.value_length", s.headDim());
        m.put(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
        m.put(a + ".rope.freq_base", (float) s.ropeTheta());
        m.put(a + ".rope.dimension_count", s.headDim());
        switch (s.arch()) {
            case LLAMA -> m.put(a + ".feed_forward_length", s.ffn());
            case MIXTRAL -> {
                m.put(a + ".feed_forward_length", s.expertFfn());
                m.put(a + ".expert_count", s.experts());
                m.put(a + ".expert_used_count", s.topK());
            }
            case QWEN3_MOE -> {
                m.put(a + ".feed_forward_length", s.ffn());
                m.put(a + ".expert_feed_forward_length", s.expertFfn());
                m.put(a + ".expert_count", s.experts());
                m.put(a + ".expert_used_count", s.topK());
            }
            case LLAMA4 -> {
                m.put(a + ".feed_forward_length", s.ffn());
                m.put(a + ".expert_feed_forward_length", s.expertFfn());
                m.put(a + ".expert_count", s.experts());
                m.put(a + ".expert_used_count", s.topK());
                m.put(a + ".interleave_moe_layer_step", s.moeStep());
                if (s.chunk() != 8192) {
                    m.put(a + ".attention.sliding_window", s.chunk());
                }
                if (s.floorScale() != 8192) {
                    m.put(a + ".attention.temperature_length", s.floorScale());
                }
            }
        }
        m.put("tokenizer.ggml.model", "gpt2");
        m.put("tokenizer.ggml.pre", "llama-bpe");
        m.put("tokenizer.ggml.tokens", tok.tokens());
        m.put("tokenizer.ggml.token_type", tok.tokenTypes());
        m.put("tokenizer.ggml.merges", tok.merges());
        m.put("tokenizer.ggml.bos_token_id", tok.bosId());
        m.put("tokenizer.ggml.eos_token_id", tok.eosId());
        m.put("tokenizer.ggml.add_bos_token", false);
        m.put("tokenizer.chat_template", TestTokenizer.CHAT_TEMPLATE);
        return m;
    }

    /** Llama 3 rope divisors for a spec with scaling, as converters store them in GGUF {@code rope_freqs}. */
    public static float[] ropeFreqFactors(TestModelSpec s) {
        RopeConfig plain = new RopeConfig(s.ropeTheta(), s.headDim(), null, null, null);
        return RopeConfig.llama3Factors(plain.inverseFrequencies(), LLAMA3_SCALING);
    }

}
