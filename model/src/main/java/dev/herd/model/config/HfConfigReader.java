package dev.herd.model.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.herd.kernels.RopeStyle;
import dev.herd.model.weights.ModelFormatException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Reads {@link ModelConfig} from a Hugging Face {@code config.json}, following each family's
 * {@code configuration_*.py} defaults where a key is absent.
 */
public final class HfConfigReader {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final JsonNode c;
    private final String source;

    private HfConfigReader(JsonNode c, String source) {
        this.c = c;
        this.source = source;
    }

    /** Reads {@code config.json} from a model directory, or the given file. */
    public static ModelConfig read(Path path) {
        Path file = Files.isDirectory(path) ? path.resolve("config.json") : path;
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new ModelFormatException(file + ": cannot read model config: " + e.getMessage(), e);
        }
        return parse(root, file.toString());
    }

    public static ModelConfig parse(JsonNode root, String source) {
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(source + ": model config is not a JSON object");
        }
        String type = root.path("model_type").asText("");
        // Llama 4 checkpoints are multimodal: the text model's settings sit under text_config
        if (type.equals("llama4") && root.has("text_config")) {
            root = root.get("text_config");
        }
        HfConfigReader r = new HfConfigReader(root, source);
        try {
            return switch (type) {
                case "llama" -> r.llama();
                case "mixtral" -> r.mixtral();
                case "qwen3_moe" -> r.qwen3Moe();
                case "llama4", "llama4_text" -> r.llama4();
                case "" -> throw new ModelFormatException(source + ": no model_type; supported: "
                        + Architecture.supportedList());
                default -> throw new ModelFormatException(source + ": unsupported architecture '" + type
                        + "'; supported: " + Architecture.supportedList());
            };
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source + ": " + e.getMessage(), e);
        }
    }

    private ModelConfig llama() {
        int n = req("num_hidden_layers");
        List<LayerSpec> layers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            layers.add(new LayerSpec(false, true, false));
        }
        return common(Architecture.LLAMA, req("intermediate_size"), null, QkNorm.NONE, RopeStyle.NEOX, 0, null,
                layers);
    }

    private ModelConfig mixtral() {
        int n = req("num_hidden_layers");
        MoeConfig moe = new MoeConfig(req("num_local_experts"), req("num_experts_per_tok"), req("intermediate_size"),
                0, RouterGating.SOFTMAX, true, false);
        List<LayerSpec> layers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            layers.add(new LayerSpec(true, true, false));
        }
        return common(Architecture.MIXTRAL, 0, moe, QkNorm.NONE, RopeStyle.NEOX, 0, null, layers);
    }

    private ModelConfig qwen3Moe() {
        int n = req("num_hidden_layers");
        int numExperts = req("num_experts");
        int sparseStep = c.path("decoder_sparse_step").asInt(1);
        Set<Integer> mlpOnly = new HashSet<>(intList("mlp_only_layers"));
        MoeConfig moe = new MoeConfig(numExperts, req("num_experts_per_tok"), req("moe_intermediate_size"), 0,
                RouterGating.SOFTMAX, c.path("norm_topk_prob").asBoolean(false), false);
        List<LayerSpec> layers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            boolean sparse = !mlpOnly.contains(i) && numExperts > 0 && sparseStep > 0 && (i + 1) % sparseStep == 0;
            layers.add(new LayerSpec(sparse, true, false));
        }
        return common(Architecture.QWEN3_MOE, c.path("intermediate_size").asInt(0), moe, QkNorm.RMS_WEIGHTED,
                RopeStyle.NEOX, 0, null, layers);
    }

    private ModelConfig llama4() {
        int n = req("num_hidden_layers");
        int step = c.path("interleave_moe_layer_step").asInt(1);
        Set<Integer> moeLayers = new HashSet<>();
        if (c.has("moe_layers") && c.get("moe_layers").isArray()) {
            moeLayers.addAll(intList("moe_layers"));
        } else {
            for (int i = step - 1; step > 0 && i < n; i += step) {
                moeLayers.add(i);
            }
        }
        List<Integer> noRope = intList("no_rope_layers");
        if (noRope.isEmpty()) {
            int interval = c.path("no_rope_layer_interval").asInt(4);
            for (int i = 0; i < n; i++) {
                noRope.add((i + 1) % interval != 0 ? 1 : 0);
            }
        }
        if (noRope.size() != n) {
            throw new ModelFormatException(source + ": no_rope_layers has " + noRope.size() + " entries for " + n
                    + " layers");
        }
        int chunk = c.path("attention_chunk_size").isNull() ? 0 : c.path("attention_chunk_size").asInt(8192);
        JsonNode layerTypes = c.path("layer_types");
        List<LayerSpec> layers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            boolean rope = noRope.get(i) != 0; // HF's name is inverted: 1 means this layer *uses* RoPE
            boolean chunked = layerTypes.isArray() && layerTypes.size() == n
                    ? layerTypes.get(i).asText().equals("chunked_attention") && chunk > 0
                    : rope && chunk > 0;
            layers.add(new LayerSpec(moeLayers.contains(i), rope, chunked));
        }
        int expertFfn = req("intermediate_size");
        MoeConfig moe = new MoeConfig(req("num_local_experts"), c.path("num_experts_per_tok").asInt(1), expertFfn,
                expertFfn, RouterGating.SIGMOID, false, true);
        JsonNode tuning = c.path("attn_temperature_tuning");
        boolean tune = tuning.isMissingNode() || tuning.isNull() || tuning.asBoolean(true) || tuning.asInt(0) != 0;
        AttentionTemperature temp = tune
                ? new AttentionTemperature(c.path("floor_scale").asDouble(8192), c.path("attn_scale").asDouble(0.1))
                : null;
        QkNorm qk = c.path("use_qk_norm").asBoolean(true) ? QkNorm.L2_AFTER_ROPE : QkNorm.NONE;
        return common(Architecture.LLAMA4, c.path("intermediate_size_mlp").asInt(0), moe, qk, RopeStyle.ADJACENT,
                chunk, temp, layers);
    }

    private ModelConfig common(Architecture arch, int ffnDim, MoeConfig moe, QkNorm qkNorm, RopeStyle style,
                               int chunk, AttentionTemperature temp, List<LayerSpec> layers) {
        int hidden = req("hidden_size");
        int heads = req("num_attention_heads");
        int kvHeads = c.path("num_key_value_heads").isNull() || !c.has("num_key_value_heads")
                ? heads : c.get("num_key_value_heads").asInt();
        int headDim = c.path("head_dim").isNumber() ? c.get("head_dim").asInt() : hidden / heads;
        JsonNode ropeParams = c.path("rope_parameters");
        double theta = c.path("rope_theta").isNumber() ? c.get("rope_theta").asDouble()
                : ropeParams.path("rope_theta").asDouble(10000.0);
        JsonNode scalingNode = c.path("rope_scaling").isObject() ? c.get("rope_scaling") : ropeParams;
        RopeScaling scaling = ropeScaling(scalingNode);
        double partial = c.path("partial_rotary_factor").asDouble(1.0);
        RopeConfig rope = new RopeConfig(theta, (int) (headDim * partial), style, scaling, null);
        List<Integer> eos = new ArrayList<>();
        JsonNode eosNode = c.path("eos_token_id");
        if (eosNode.isArray()) {
            eosNode.forEach(e -> eos.add(e.asInt()));
        } else if (eosNode.isNumber()) {
            eos.add(eosNode.asInt());
        }
        boolean tied = c.path("tie_word_embeddings").asBoolean(false);
        return new ModelConfig(arch, req("vocab_size"), hidden, heads, kvHeads, headDim, ffnDim,
                (float) c.path("rms_norm_eps").asDouble(1e-5), rope, moe, qkNorm, chunk, temp, tied,
                c.path("max_position_embeddings").asInt(4096), c.path("bos_token_id").asInt(-1), eos, layers);
    }

    private RopeScaling ropeScaling(JsonNode s) {
        if (s == null || !s.isObject()) {
            return null;
        }
        String type = s.path("rope_type").asText(s.path("type").asText("default"));
        return switch (type) {
            case "default" -> null;
            case "linear" -> new RopeScaling("linear", s.path("factor").asDouble(1.0), 0, 0, 0);
            case "llama3" -> new RopeScaling("llama3", s.path("factor").asDouble(8.0),
                    s.path("low_freq_factor").asDouble(1.0), s.path("high_freq_factor").asDouble(4.0),
                    s.path("original_max_position_embeddings").asInt(8192));
            default -> throw new ModelFormatException(source + ": unsupported rope scaling '" + type
                    + "' (supported: default, linear, llama3)");
        };
    }

    private int req(String key) {
        JsonNode v = c.get(key);
        if (v == null || !v.isNumber()) {
            throw new ModelFormatException(source + ": missing or non-numeric '" + key + "'");
        }
        return v.asInt();
    }

    private List<Integer> intList(String key) {
        List<Integer> out = new ArrayList<>();
        JsonNode v = c.get(key);
        if (v != null && v.isArray()) {
            v.forEach(e -> out.add(e.asInt()));
        }
        return out;
    }
}
