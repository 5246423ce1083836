package dev.herd.model.weights;

import dev.herd.model.config.Architecture;

/**
 * Every checkpoint tensor name Herd reads, for both formats, in one place.
 *
 * <p>GGUF names follow llama.cpp ({@code blk.N.attn_q.weight}, stacked experts {@code blk.N.ffn_gate_exps.weight}
 * of shape (experts, ffn, hidden)). Hugging Face names follow each family's {@code modeling_*.py}; Llama 4's
 * multimodal checkpoints put the text model under {@code language_model.}.
 */
public final class TensorNames {
    private final Architecture arch;
    private final CheckpointFormat format;
    private final String hfPrefix;

    public TensorNames(Architecture arch, CheckpointFormat format, String hfPrefix) {
        this.arch = arch;
        this.format = format;
        this.hfPrefix = hfPrefix;
    }

    /**
     * Chooses the Hugging Face prefix ("" or "language_model.") by the names the store holds (names only, so no
     * tensor is resolved, and a store holding part of a model answers as the whole model would).
     */
    public static TensorNames of(Architecture arch, CheckpointFormat format, WeightStore store) {
        String prefix = format == CheckpointFormat.HUGGING_FACE
                && store.names().contains("language_model.model.embed_tokens.weight") ? "language_model." : "";
        return new TensorNames(arch, format, prefix);
    }

    public CheckpointFormat format() {
        return format;
    }

    private boolean gguf() {
        return format == CheckpointFormat.GGUF;
    }

    private String hfLayer(int l) {
        return hfPrefix + "model.layers." + l + ".";
    }

    public String embedding() {
        return gguf() ? "token_embd.weight" : hfPrefix + "model.embed_tokens.weight";
    }

    public String finalNorm() {
        return gguf() ? "output_norm.weight" : hfPrefix + "model.norm.weight";
    }

    public String lmHead() {
        return gguf() ? "output.weight" : hfPrefix + "lm_head.weight";
    }

    /** GGUF only: Llama 3 style rope frequency divisors. */
    public String ropeFreqs() {
        return "rope_freqs.weight";
    }

    public String attnNorm(int l) {
        return gguf() ? "blk." + l + ".attn_norm.weight" : hfLayer(l) + "input_layernorm.weight";
    }

    public String ffnNorm(int l) {
        return gguf() ? "blk." + l + ".ffn_norm.weight" : hfLayer(l) + "post_attention_layernorm.weight";
    }

    public String wq(int l) {
        return gguf() ? "blk." + l + ".attn_q.weight" : hfLayer(l) + "self_attn.q_proj.weight";
    }

    public String wk(int l) {
        return gguf() ? "blk." + l + ".attn_k.weight" : hfLayer(l) + "self_attn.k_proj.weight";
    }

    public String wv(int l) {
        return gguf() ? "blk." + l + ".attn_v.weight" : hfLayer(l) + "self_attn.v_proj.weight";
    }

    public String wo(int l) {
        return gguf() ? "blk." + l + ".attn_output.weight" : hfLayer(l) + "self_attn.o_proj.weight";
    }

    public String qNorm(int l) {
        return gguf() ? "blk." + l + ".attn_q_norm.weight" : hfLayer(l) + "self_attn.q_norm.weight";
    }

    public String kNorm(int l) {
        return gguf() ? "blk." + l + ".attn_k_norm.weight" : hfLayer(l) + "self_attn.k_norm.weight";
    }

    private String hfFfnModule(int l) {
        return hfLayer(l) + (arch == Architecture.LLAMA4 ? "feed_forward." : "mlp.");
    }

    /** Dense feed-forward projection: part is "gate", "up" or "down". */
    public String dense(int l, String part) {
        return gguf() ? "blk." + l + ".ffn_" + part + ".weight" : hfFfnModule(l) + part + "_proj.weight";
    }

    public String router(int l) {
        if (gguf()) {
            return "blk." + l + ".ffn_gate_inp.weight";
        }
        return switch (arch) {
            case MIXTRAL -> hfLayer(l) + "block_sparse_moe.gate.weight";
            case LLAMA4 -> hfLayer(l) + "feed_forward.router.weight";
            default -> hfLayer(l) + "mlp.gate.weight";
        };
    }

    /** Shared expert projection: part is "gate", "up" or "down". */
    public String shared(int l, String part) {
        return gguf() ? "blk." + l + ".ffn_" + part + "_shexp.weight"
                : hfLayer(l) + "feed_forward.shared_expert." + part + "_proj.weight";
    }

    /** GGUF stacked experts (experts, out, in): part is "gate", "up" or "down". */
    public String stackedExperts(int l, String part) {
        return "blk." + l + ".ffn_" + part + "_exps.weight";
    }

    /** A Hugging Face per-expert projection: part is "gate", "up" or "down". */
    public String expert(int l, int e, String part) {
        return switch (arch) {
            case MIXTRAL -> hfLayer(l) + "block_sparse_moe.experts." + e + "."
                    + switch (part) {
                        case "gate" -> "w1";
                        case "down" -> "w2";
                        default -> "w3";
                    } + ".weight";
            case LLAMA4 -> hfLayer(l) + "feed_forward.experts." + e + "." + part + "_proj.weight";
            default -> hfLayer(l) + "mlp.experts." + e + "." + part + "_proj.weight";
        };
    }

    /** Llama 4's fused expert tensors: (experts, hidden, 2 * ffn) and (experts, ffn, hidden), stored as (in, out). */
    public String fusedGateUp(int l) {
        return hfLayer(l) + "feed_forward.experts.gate_up_proj";
    }

    public String fusedDown(int l) {
        return hfLayer(l) + "feed_forward.experts.down_proj";
    }
}
