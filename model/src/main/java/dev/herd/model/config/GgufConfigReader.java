package dev.herd.model.config;

import dev.herd.kernels.RopeStyle;
import dev.herd.model.gguf.GgufArray;
import dev.herd.model.weights.ModelFormatException;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Reads {@link ModelConfig} from GGUF metadata, with llama.cpp's key names and its fixed choices where a GGUF
 * file cannot say otherwise:
 * <ul>
 *   <li>{@code llama} with experts is Mixtral; its q/k rows are stored permuted, so RoPE pairs adjacent dims.</li>
 *   <li>{@code qwen3moe} always renormalises the top-k weights ({@code norm_topk_prob} is not stored).</li>
 *   <li>{@code llama4}: NoPE on every 4th layer, chunked attention of 8192 on the others, temperature tuning
 *       with floor 8192 and scale 0.1, q/k L2 norm unless the model has 128 experts. Herd additionally honours
 *       {@code llama4.attention.sliding_window} and {@code llama4.attention.temperature_length} /
 *       {@code temperature_scale} when present (llama.cpp reads only a zero window, meaning no chunking), so
 *       small test models can exercise chunking.</li>
 * </ul>
 */
public final class GgufConfigReader {
    private final Map<String, Object> m;
    private final String source;
    private final String a;

    private GgufConfigReader(Map<String, Object> metadata, String source, String arch) {
        this.m = metadata;
        this.source = source;
        this.a = arch;
    }

    public static ModelConfig parse(Map<String, Object> metadata, String source) {
        Object archValue = metadata.get("general.architecture");
        if (!(archValue instanceof String arch)) {
            throw new ModelFormatException(source + ": no general.architecture; supported: llama, qwen3moe, llama4");
        }
        GgufConfigReader r = new GgufConfigReader(metadata, source, arch);
        try {
            return switch (arch) {
                case "llama" -> r.llama();
                case "qwen3moe" -> r.qwen3Moe();
                case "llama4" -> r.llama4();
                default -> throw new ModelFormatException(source + ": unsupported architecture '" + arch
                        + "'; supported: llama (Llama, Mixtral), qwen3moe, llama4");
            };
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source + ": " + e.getMessage(), e);
        }
    }

    private ModelConfig llama() {
        int n = req("block_count");
        int experts = opt("expert_count", 0);
        MoeConfig moe = experts > 0
                ? new MoeConfig(experts, req("expert_used_count"), req("feed_forward_length"), 0, RouterGating.SOFTMAX,
                true, false)
                : null;
        List<LayerSpec> layers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            layers.add(new LayerSpec(moe != null, true, false));
        }
        return common(moe != null ? Architecture.MIXTRAL : Architecture.LLAMA,
                moe != null ? 0 : req("feed_forward_length"), moe, QkNorm.NONE, RopeStyle.ADJACENT, 0, null, layers);
    }

    private ModelConfig qwen3Moe() {
        int n = req("block_count");
        MoeConfig moe = new MoeConfig(req("expert_count"), req("expert_used_count"), req("expert_feed_forward_length"),
                0, RouterGating.SOFTMAX, true, false);
        List<LayerSpec> layers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            layers.add(new LayerSpec(true, true, false));
        }
        return common(Architecture.QWEN3_MOE, opt("feed_forward_length", 0), moe, QkNorm.RMS_WEIGHTED, RopeStyle.NEOX,
                0, null, layers);
    }

    private ModelConfig llama4() {
        int n = req("block_count");
        int experts = req("expert_count");
        int step = opt("interleave_moe_layer_step", 1);
        Object window = m.get(a + ".attention.sliding_window");
        boolean noChunking = window instanceof Number w && w.longValue() == 0;
        int chunk = noChunking ? 0 : window instanceof Number w ? w.intValue() : 8192;
        List<LayerSpec> layers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            boolean moeLayer = step > 0 && (i + 1) % step == 0;
            boolean rope = noChunking || (i + 1) % 4 != 0;
            layers.add(new LayerSpec(moeLayer, rope, rope && chunk > 0));
        }
        int expertFfn = req("expert_feed_forward_length");
        MoeConfig moe = new MoeConfig(experts, opt("expert_used_count", 1), expertFfn, expertFfn, RouterGating.SIGMOID,
                false, true);
        AttentionTemperature temp = noChunking ? null
                : new AttentionTemperature(optDouble("attention.temperature_length", 8192),
                optDouble("attention.temperature_scale", 0.1));
        return common(Architecture.LLAMA4, opt("feed_forward_length", 0), moe,
                experts == 128 ? QkNorm.NONE : QkNorm.L2_AFTER_ROPE, RopeStyle.ADJACENT, chunk, temp, layers);
    }

    private ModelConfig common(Architecture arch, int ffn, MoeConfig moe, QkNorm qk, RopeStyle style, int chunk,
                               AttentionTemperature temp, List<LayerSpec> layers) {
        int hidden = req("embedding_length");
        int heads = req("attention.head_count");
        int kvHeads = opt("attention.head_count_kv", heads);
        int headDim = opt("attention.key_length", hidden / heads);
        int rotary = opt("rope.dimension_count", headDim);
        RopeScaling scaling = null;
        Object type = m.get(a + ".rope.scaling.type");
        if ("linear".equals(type)) {
            scaling = new RopeScaling("linear", optDouble("rope.scaling.factor", 1.0), 0, 0, 0);
        } else if (type != null && !"none".equals(type)) {
            throw new ModelFormatException(source + ": unsupported rope scaling '" + type + "'");
        }
        RopeConfig rope = new RopeConfig(optDouble("rope.freq_base", 10000.0), rotary, style, scaling, null);
        int vocab = m.get(a + ".vocab_size") instanceof Number v ? v.intValue()
                : m.get("tokenizer.ggml.tokens") instanceof GgufArray tokens ? tokens.size()
                : m.get("tokenizer.ggml.tokens") instanceof List<?> tokens ? tokens.size() : -1;
        if (vocab <= 0) {
            throw new ModelFormatException(source + ": neither " + a + ".vocab_size nor tokenizer.ggml.tokens");
        }
        List<Integer> eos = new ArrayList<>();
        if (m.get("tokenizer.ggml.eos_token_id") instanceof Number e) {
            eos.add(e.intValue());
        }
        int bos = m.get("tokenizer.ggml.bos_token_id") instanceof Number b ? b.intValue() : -1;
        float eps = (float) optDouble("attention.layer_norm_rms_epsilon", 1e-5);
        return new ModelConfig(arch, vocab, hidden, heads, kvHeads, headDim, ffn, eps, rope, moe, qk, chunk, temp,
                false, opt("context_length", 4096), bos, eos, layers);
    }

    private int req(String key) {
        Object v = m.get(a + "." + key);
        if (!(v instanceof Number n)) {
            throw new ModelFormatException(source + ": missing or non-numeric metadata '" + a + "." + key + "'");
        }
        return n.intValue();
    }

    private int opt(String key, int dflt) {
        return m.get(a + "." + key) instanceof Number n ? n.intValue() : dflt;
    }

    private double optDouble(String key, double dflt) {
        return m.get(a + "." + key) instanceof Number n ? n.doubleValue() : dflt;
    }
}
