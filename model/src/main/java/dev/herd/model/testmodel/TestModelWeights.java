package dev.herd.model.testmodel;

import dev.herd.model.config.Architecture;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * The tensors of a generated model in both checkpoint layouts. Every matrix is produced from one canonical
 * key, so the Hugging Face and GGUF files hold the same function: GGUF stacks experts, renames tensors, and
 * (for the {@code llama} arch: Llama, Mixtral) permutes q/k rows for adjacent-pair RoPE exactly as llama.cpp's
 * converter does; Llama 4's Hugging Face experts are fused and stored (in, out) as in real checkpoints.
 */
public final class TestModelWeights {
    private final TestModelSpec s;
    private final RandomWeights rnd;

    public TestModelWeights(TestModelSpec spec) {
        this.s = spec;
        this.rnd = new RandomWeights(spec.seed());
    }

    private int qDim() {
        return s.heads() * s.headDim();
    }

    private int kvDim() {
        return s.kvHeads() * s.headDim();
    }

    // canonical (out, in) matrices

    private float[] embedding() {
        return rnd.uniform("embed", (long) s.vocab() * s.hidden(), 1.0);
    }

    private float[] lmHead() {
        return rnd.matrix("lm_head", s.vocab(), s.hidden(), 10.0);
    }

    private float[] wq(int l) {
        return rnd.matrix("L" + l + ".wq", qDim(), s.hidden(), 1.5);
    }

    private float[] wk(int l) {
        return rnd.matrix("L" + l + ".wk", kvDim(), s.hidden(), 1.5);
    }

    private float[] wv(int l) {
        return rnd.matrix("L" + l + ".wv", kvDim(), s.hidden(), 1.0);
    }

    private float[] wo(int l) {
        return rnd.matrix("L" + l + ".wo", s.hidden(), qDim(), 1.0);
    }

    private float[] router(int l) {
        return rnd.matrix("L" + l + ".router", s.experts(), s.hidden(), 2.0);
    }

    /** part: gate/up are (ffn, hidden), down is (hidden, ffn). */
    private float[] ffn(String key, String part, int ffn) {
        return part.equals("down") ? rnd.matrix(key + ".down", s.hidden(), ffn, 1.0)
                : rnd.matrix(key + "." + part, ffn, s.hidden(), 1.0);
    }

    private int denseFfn() {
        return s.ffn();
    }

    private boolean hasQkNorm() {
        return s.arch() == Architecture.QWEN3_MOE;
    }

    // Hugging Face layout

    public List<GeneratedTensor> huggingFace() {
        List<GeneratedTensor> out = new ArrayList<>();
        String p = s.arch() == Architecture.LLAMA4 ? "language_model." : "";
        int h = s.hidden();
        out.add(t(p + "model.embed_tokens.weight", this::embedding, s.vocab(), h));
        for (int l = 0; l < s.layers(); l++) {
            final int layer = l;
            String lp = p + "model.layers." + l + ".";
            out.add(norm(lp + "input_layernorm.weight", "L" + l + ".attn_norm", h));
            out.add(t(lp + "self_attn.q_proj.weight", () -> wq(layer), qDim(), h));
            out.add(t(lp + "self_attn.k_proj.weight", () -> wk(layer), kvDim(), h));
            out.add(t(lp + "self_attn.v_proj.weight", () -> wv(layer), kvDim(), h));
            out.add(t(lp + "self_attn.o_proj.weight", () -> wo(layer), h, qDim()));
            if (hasQkNorm()) {
                out.add(norm(lp + "self_attn.q_norm.weight", "L" + l + ".q_norm", s.headDim()));
                out.add(norm(lp + "self_attn.k_norm.weight", "L" + l + ".k_norm", s.headDim()));
            }
            out.add(norm(lp + "post_attention_layernorm.weight", "L" + l + ".ffn_norm", h));
            String ff = s.arch() == Architecture.LLAMA4 ? "feed_forward." : "mlp.";
            if (!s.isMoeLayer(l)) {
                for (String part : List.of("gate", "up", "down")) {
                    out.add(ffnTensor(lp + ff + part + "_proj.weight", "L" + l + ".dense", part, denseFfn()));
                }
                continue;
            }
            int f = s.expertFfn();
            switch (s.arch()) {
                case MIXTRAL -> {
                    out.add(t(lp + "block_sparse_moe.gate.weight", () -> router(layer), s.experts(), h));
                    for (int e = 0; e < s.experts(); e++) {
                        String ek = "L" + l + ".expert" + e;
                        String ep = lp + "block_sparse_moe.experts." + e + ".";
                        out.add(ffnTensor(ep + "w1.weight", ek, "gate", f));
                        out.add(ffnTensor(ep + "w2.weight", ek, "down", f));
                        out.add(ffnTensor(ep + "w3.weight", ek, "up", f));
                    }
                }
                case QWEN3_MOE -> {
                    out.add(t(lp + "mlp.gate.weight", () -> router(layer), s.experts(), h));
                    for (int e = 0; e < s.experts(); e++) {
                        String ek = "L" + l + ".expert" + e;
                        for (String part : List.of("gate", "up", "down")) {
                            out.add(ffnTensor(lp + "mlp.experts." + e + "." + part + "_proj.weight", ek, part, f));
                        }
                    }
                }
                case LLAMA4 -> {
                    out.add(t(lp + "feed_forward.router.weight", () -> router(layer), s.experts(), h));
                    for (String part : List.of("gate", "up", "down")) {
                        out.add(ffnTensor(lp + "feed_forward.shared_expert." + part + "_proj.weight",
                                "L" + l + ".shared", part, f));
                    }
                    out.add(t(lp + "feed_forward.experts.gate_up_proj", () -> fusedGateUp(layer), s.experts(), h,
                            2L * f));
                    out.add(t(lp + "feed_forward.experts.down_proj", () -> fusedDown(layer), s.experts(), f, h));
                }
                default -> throw new IllegalStateException("no experts in " + s.arch());
            }
        }
        out.add(norm(p + "model.norm.weight", "final_norm", h));
        out.add(t(p + "lm_head.weight", this::lmHead, s.vocab(), h));
        return out;
    }

    /** Llama 4 HF: (experts, hidden, 2*ffn), entry [e][i][o] = gate[o][i] for o < ffn, up[o-ffn][i] after. */
    private float[] fusedGateUp(int l) {
        int h = s.hidden();
        int f = s.expertFfn();
        float[] out = new float[s.experts() * h * 2 * f];
        for (int e = 0; e < s.experts(); e++) {
            float[] gate = ffn("L" + l + ".expert" + e, "gate", f);
            float[] up = ffn("L" + l + ".expert" + e, "up", f);
            int base = e * h * 2 * f;
            for (int i = 0; i < h; i++) {
                for (int o = 0; o < f; o++) {
                    out[base + i * 2 * f + o] = gate[o * h + i];
                    out[base + i * 2 * f + f + o] = up[o * h + i];
                }
            }
        }
        return out;
    }

    /** Llama 4 HF: (experts, ffn, hidden), entry [e][i][o] = down[o][i]. */
    private float[] fusedDown(int l) {
        int h = s.hidden();
        int f = s.expertFfn();
        float[] out = new float[s.experts() * f * h];
        for (int e = 0; e < s.experts(); e++) {
            float[] down = ffn("L" + l + ".expert" + e, "down", f);
            int base = e * f * h;
            for (int i = 0; i < f; i++) {
                for (int o = 0; o < h; o++) {
                    out[base + i * h + o] = down[o * f + i];
                }
            }
        }
        return out;
    }

    // GGUF layout

    public List<GeneratedTensor> gguf() {
        List<GeneratedTensor> out = new ArrayList<>();
        int h = s.hidden();
        boolean permute = s.arch().ggufArch().equals("llama");
        out.add(t("token_embd.weight", this::embedding, s.vocab(), h));
        for (int l = 0; l < s.layers(); l++) {
            final int layer = l;
            String b = "blk." + l + ".";
            out.add(norm(b + "attn_norm.weight", "L" + l + ".attn_norm", h));
            out.add(t(b + "attn_q.weight", () -> permute ? permuteRows(wq(layer), s.heads(), s.headDim(), h) : wq(layer), qDim(), h));
            out.add(t(b + "attn_k.weight", () -> permute ? permuteRows(wk(layer), s.kvHeads(), s.headDim(), h) : wk(layer), kvDim(), h));
            out.add(t(b + "attn_v.weight", () -> wv(layer), kvDim(), h));
            out.add(t(b + "attn_output.weight", () -> wo(layer), h, qDim()));
            if (hasQkNorm()) {
                out.add(norm(b + "attn_q_norm.weight", "L" + l + ".q_norm", s.headDim()));
                out.add(norm(b + "attn_k_norm.weight", "L" + l + ".k_norm", s.headDim()));
            }
            out.add(norm(b + "ffn_norm.weight", "L" + l + ".ffn_norm", h));
            if (!s.isMoeLayer(l)) {
                for (String part : List.of("gate", "up", "down")) {
                    out.add(ffnTensor(b + "ffn_" + part + ".weight", "L" + l + ".dense", part, denseFfn()));
                }
                continue;
            }
            int f = s.expertFfn();
            out.add(t(b + "ffn_gate_inp.weight", () -> router(layer), s.experts(), h));
            for (String part : List.of("gate", "up", "down")) {
                long rows = part.equals("down") ? h : f;
                long cols = part.equals("down") ? f : h;
                out.add(t(b + "ffn_" + part + "_exps.weight", () -> stacked(layer, part, f), s.experts(), rows, cols));
            }
            if (s.arch() == Architecture.LLAMA4) {
                for (String part : List.of("gate", "up", "down")) {
                    out.add(ffnTensor(b + "ffn_" + part + "_shexp.weight", "L" + l + ".shared", part, f));
                }
            }
        }
        out.add(norm("output_norm.weight", "final_norm", h));
        out.add(t("output.weight", this::lmHead, s.vocab(), h));
        if (s.ropeScaling()) {
            // converters bake Llama 3 scaling into per-frequency divisors
            out.add(new GeneratedTensor("rope_freqs.weight", new long[]{s.headDim() / 2},
                    () -> TestModelConfigs.ropeFreqFactors(s), true));
        }
        return out;
    }

    private float[] stacked(int l, String part, int f) {
        int size = s.hidden() * f;
        float[] out = new float[s.experts() * size];
        for (int e = 0; e < s.experts(); e++) {
            System.arraycopy(ffn("L" + l + ".expert" + e, part, f), 0, out, e * size, size);
        }
        return out;
    }

    /**
     * llama.cpp's converter permutation for the {@code llama} arch: within each head, row
     * {@code half * headDim/2 + i} moves to {@code 2 * i + half}, so adjacent-pair RoPE on the permuted rows
     * equals rotate-half RoPE on the original ones.
     */
    static float[] permuteRows(float[] w, int heads, int headDim, int cols) {
        float[] out = new float[w.length];
        int half = headDim / 2;
        for (int h = 0; h < heads; h++) {
            for (int part = 0; part < 2; part++) {
                for (int i = 0; i < half; i++) {
                    int from = h * headDim + part * half + i;
                    int to = h * headDim + 2 * i + part;
                    System.arraycopy(w, from * cols, out, to * cols, cols);
                }
            }
        }
        return out;
    }

    private GeneratedTensor t(String name, Supplier<float[]> data, long... shape) {
        return new GeneratedTensor(name, shape, data, false);
    }

    private GeneratedTensor norm(String name, String key, int n) {
        return new GeneratedTensor(name, new long[]{n}, () -> rnd.norm(key, n), true);
    }

    private GeneratedTensor ffnTensor(String name, String key, String part, int ffn) {
        long[] shape = part.equals("down") ? new long[]{s.hidden(), ffn} : new long[]{ffn, s.hidden()};
        return new GeneratedTensor(name, shape, () -> ffn(key, part, ffn), false);
    }
}
