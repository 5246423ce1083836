package dev.herd.model.safetensors;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.herd.model.weights.ModelFormatException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * A Hugging Face {@code model.safetensors.index.json}: {@code {"metadata": {"total_size": N}, "weight_map":
 * {tensor: shard file}}}. Shard names must be plain file names in the model directory (no path separators, no
 * {@code ..}), so an index cannot point outside it.
 *
 * @param weightMap tensor name to shard file name, in the file's order
 * @param metadata  the {@code metadata} object as written (e.g. {@code total_size}); empty when absent
 */
public record ShardIndex(Map<String, String> weightMap, Map<String, Object> metadata) {
    public static final String FILE_NAME = "model.safetensors.index.json";

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .build();

    public ShardIndex {
        weightMap = Collections.unmodifiableMap(new LinkedHashMap<>(weightMap));
        metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
    }

    /** Reads and checks an index file. */
    public static ShardIndex read(Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readAllBytes(file));
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(file + ": not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new ModelFormatException(file + ": cannot read shard index: " + e, e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(file + ": a shard index must be a JSON object");
        }
        JsonNode map = root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new ModelFormatException(file + ": missing or non-object \"weight_map\"");
        }
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : map.properties()) {
            JsonNode shard = e.getValue();
            if (!shard.isTextual()) {
                throw new ModelFormatException(file + ": weight_map entry for tensor '" + e.getKey()
                        + "' must be a file name, got " + shard.getNodeType());
            }
            checkShardName(file, e.getKey(), shard.textValue());
            weightMap.put(e.getKey(), shard.textValue());
        }
        Map<String, Object> metadata = new LinkedHashMap<>();
        JsonNode meta = root.get("metadata");
        if (meta != null && meta.isObject()) {
            for (Map.Entry<String, JsonNode> e : meta.properties()) {
                metadata.put(e.getKey(), JSON.convertValue(e.getValue(), Object.class));
            }
        }
        return new ShardIndex(weightMap, metadata);
    }

    private static void checkShardName(Path file, String tensor, String shard) {
        if (shard.isEmpty() || shard.contains("/") || shard.contains("\\") || shard.equals(".")
                || shard.equals("..") || shard.indexOf('\0') >= 0) {
            throw new ModelFormatException(file + ": weight_map entry for tensor '" + tensor + "' names shard '"
                    + shard + "', which is not a plain file name in the model directory");
        }
    }

    /** Writes the index as Hugging Face does: keys of the weight map sorted, two-space indentation. */
    public void write(Path file) {
        ObjectNode root = JSON.createObjectNode();
        root.set("metadata", JSON.valueToTree(metadata));
        root.set("weight_map", JSON.valueToTree(new TreeMap<>(weightMap)));
        try {
            Files.writeString(file, JSON.writeValueAsString(root) + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot write shard index", e);
        }
    }
}
