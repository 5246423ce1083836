package dev.herd.coordinator.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeType;
import dev.herd.model.sampling.InvalidSamplingParameterException;
import dev.herd.model.sampling.SamplingParams;
import dev.herd.model.chat.ChatMessage;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads OpenAI request bodies field by field into records, so that every error names its field. Fields this
 * server does not implement are refused by name rather than ignored (a client asking for tools must not get a
 * plain answer silently); {@code user} is accepted as OpenAI defines it, an end-user id with no effect on output.
 * The non-OpenAI sampling fields {@code top_k}, {@code min_p} and {@code repetition_penalty} are read as vLLM does.
 */
public final class OpenAiRequests {
    /** Most choices per request. */
    public static final int MAX_N = 64;
    /** Most stop strings per request. */
    public static final int MAX_STOP = 16;

    private OpenAiRequests() {
    }

    /** What both endpoints share. */
    public record Options(String model, SamplingParams sampling, Integer maxTokens, List<String> stop, int n,
                          boolean stream, boolean includeUsage, String user) {
    }

    /** {@code POST /v1/chat/completions}. */
    public record ChatRequest(Options options, List<ChatMessage> messages) {
    }

    /** {@code POST /v1/completions}: the prompt as text, or as token ids (then text is null). */
    public record TextRequest(Options options, String prompt, int[] promptIds) {
    }

    /** Parses a body; 400 naming the position when it is not JSON or not an object. */
    public static JsonNode parseJson(byte[] body) {
        JsonNode node;
        try {
            node = OpenAiDto.MAPPER.readTree(body);
        } catch (JsonProcessingException e) {
            throw ApiError.invalid(null, "the body is not valid JSON: " + e.getOriginalMessage()
                    + " at line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr());
        } catch (IOException e) {
            throw ApiError.invalid(null, "the body could not be read: " + e.getMessage());
        }
        if (node == null || !node.isObject()) {
            throw ApiError.invalid(null, "the body must be a JSON object");
        }
        return node;
    }

    public static ChatRequest chat(JsonNode body) {
        Fields f = new Fields(body);
        JsonNode messagesNode = f.required("messages", JsonNodeType.ARRAY);
        if (messagesNode.isEmpty()) {
            throw ApiError.invalid("messages", "messages must not be empty");
        }
        List<ChatMessage> messages = new ArrayList<>();
        for (int i = 0; i < messagesNode.size(); i++) {
            messages.add(message(messagesNode.get(i), "messages[" + i + "]"));
        }
        boolean logprobs = f.bool("logprobs", false);
        int topLogprobs = f.integer("top_logprobs", 0);
        if (f.has("top_logprobs") && !logprobs) {
            throw ApiError.invalid("top_logprobs", "top_logprobs needs logprobs set to true");
        }
        Integer maxTokens = f.optionalPositive("max_completion_tokens");
        Integer legacyMax = f.optionalPositive("max_tokens");
        if (maxTokens != null && legacyMax != null && !maxTokens.equals(legacyMax)) {
            throw ApiError.invalid("max_tokens", "max_tokens (" + legacyMax + ") and max_completion_tokens ("
                    + maxTokens + ") disagree; send one");
        }
        Options options = options(f, maxTokens != null ? maxTokens : legacyMax, logprobs, topLogprobs);
        if (f.has("tools")) {
            JsonNode tools = f.get("tools");
            if (!tools.isNull() && !(tools.isArray() && tools.isEmpty())) {
                throw ApiError.invalid("tools", "tool calling is not supported by this server yet");
            }
        }
        if (f.has("tool_choice") && !f.get("tool_choice").isNull() && !"none".equals(f.get("tool_choice").asText())) {
            throw ApiError.invalid("tool_choice", "tool calling is not supported by this server yet");
        }
        if (f.has("response_format")) {
            JsonNode rf = f.get("response_format");
            if (!rf.isNull() && !(rf.isObject() && "text".equals(rf.path("type").asText()) && rf.size() == 1)) {
                throw ApiError.invalid("response_format", "only {\"type\": \"text\"} is supported");
            }
        }
        f.rejectUnknown();
        return new ChatRequest(options, messages);
    }

    public static TextRequest text(JsonNode body) {
        Fields f = new Fields(body);
        if (!f.has("prompt")) {
            throw ApiError.invalid("prompt", "prompt is required");
        }
        JsonNode p = f.get("prompt");
        String text = null;
        int[] ids = null;
        if (p.isTextual()) {
            text = p.asText();
        } else if (p.isArray() && p.size() == 1 && p.get(0).isTextual()) {
            text = p.get(0).asText();
        } else if (p.isArray() && !p.isEmpty() && p.get(0).isIntegralNumber()) {
            ids = tokenIds(p, "prompt");
        } else if (p.isArray() && p.size() == 1 && p.get(0).isArray()) {
            ids = tokenIds(p.get(0), "prompt[0]");
        } else if (p.isArray() && p.size() > 1) {
            throw ApiError.invalid("prompt", "one prompt per request is supported; send the others separately");
        } else {
            throw ApiError.invalid("prompt", "prompt must be a string, a list of one string, or a list of token ids");
        }
        if (text != null && text.isEmpty()) {
            throw ApiError.invalid("prompt", "prompt must not be empty");
        }
        Integer logprobs = null;
        if (f.has("logprobs") && !f.get("logprobs").isNull()) {
            logprobs = f.integer("logprobs", 0);
            if (logprobs < 0 || logprobs > 5) {
                throw ApiError.invalid("logprobs", "logprobs must be between 0 and 5, got " + logprobs);
            }
        }
        if (f.bool("echo", false)) {
            throw ApiError.invalid("echo", "echo is not supported");
        }
        if (f.has("suffix") && !f.get("suffix").isNull()) {
            throw ApiError.invalid("suffix", "suffix is not supported");
        }
        if (f.has("best_of") && f.integer("best_of", 1) != 1) {
            throw ApiError.invalid("best_of", "best_of other than 1 is not supported; use n");
        }
        Options options = options(f, f.optionalPositive("max_tokens"), logprobs != null,
                logprobs == null ? 0 : logprobs);
        f.rejectUnknown();
        return new TextRequest(options, text, ids);
    }

    private static Options options(Fields f, Integer maxTokens, boolean logprobs, int topLogprobs) {
        String model = f.required("model", JsonNodeType.STRING).asText();
        int n = f.integer("n", 1);
        if (n < 1 || n > MAX_N) {
            throw ApiError.invalid("n", "n must be between 1 and " + MAX_N + ", got " + n);
        }
        boolean stream = f.bool("stream", false);
        boolean includeUsage = false;
        if (f.has("stream_options") && !f.get("stream_options").isNull()) {
            if (!stream) {
                throw ApiError.invalid("stream_options", "stream_options is only allowed when stream is true");
            }
            Fields so = new Fields(f.required("stream_options", JsonNodeType.OBJECT), "stream_options.");
            includeUsage = so.bool("include_usage", false);
            so.rejectUnknown();
        }
        List<String> stop = stop(f);
        String user = f.has("user") && !f.get("user").isNull() ? f.required("user", JsonNodeType.STRING).asText() : null;
        Map<Integer, Float> bias = logitBias(f);
        Long seed = f.has("seed") && !f.get("seed").isNull() ? f.longValue("seed") : null;
        try {
            SamplingParams sampling = new SamplingParams(
                    f.number("temperature", 1.0), f.integer("top_k", 0), f.number("top_p", 1.0),
                    f.number("min_p", 0.0), f.number("presence_penalty", 0.0), f.number("frequency_penalty", 0.0),
                    f.number("repetition_penalty", 1.0), bias, seed, logprobs, topLogprobs);
            return new Options(model, sampling, maxTokens, stop, n, stream, includeUsage, user);
        } catch (InvalidSamplingParameterException e) {
            throw ApiError.invalid(e.param(), e.getMessage());
        }
    }

    private static List<String> stop(Fields f) {
        if (!f.has("stop") || f.get("stop").isNull()) {
            return List.of();
        }
        JsonNode s = f.get("stop");
        List<String> out = new ArrayList<>();
        if (s.isTextual()) {
            out.add(s.asText());
        } else if (s.isArray()) {
            for (JsonNode e : s) {
                if (!e.isTextual()) {
                    throw ApiError.invalid("stop", "stop must be a string or a list of strings");
                }
                out.add(e.asText());
            }
        } else {
            throw ApiError.invalid("stop", "stop must be a string or a list of strings");
        }
        if (out.size() > MAX_STOP) {
            throw ApiError.invalid("stop", "at most " + MAX_STOP + " stop strings, got " + out.size());
        }
        if (out.stream().anyMatch(String::isEmpty)) {
            throw ApiError.invalid("stop", "stop strings must not be empty");
        }
        return out;
    }

    private static Map<Integer, Float> logitBias(Fields f) {
        if (!f.has("logit_bias") || f.get("logit_bias").isNull()) {
            return Map.of();
        }
        JsonNode b = f.required("logit_bias", JsonNodeType.OBJECT);
        Map<Integer, Float> out = new HashMap<>();
        for (Map.Entry<String, JsonNode> e : b.properties()) {
            int id;
            try {
                id = Integer.parseInt(e.getKey());
            } catch (NumberFormatException ex) {
                throw ApiError.invalid("logit_bias", "logit_bias keys must be token ids, got '" + e.getKey() + "'");
            }
            if (!e.getValue().isNumber()) {
                throw ApiError.invalid("logit_bias", "logit_bias values must be numbers");
            }
            out.put(id, e.getValue().floatValue());
        }
        return out;
    }

    private static int[] tokenIds(JsonNode array, String field) {
        int[] ids = new int[array.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode e = array.get(i);
            if (!e.isIntegralNumber() || !e.canConvertToInt() || e.asInt() < 0) {
                throw ApiError.invalid("prompt", field + "[" + i + "] must be a non-negative token id");
            }
            ids[i] = e.asInt();
        }
        if (ids.length == 0) {
            throw ApiError.invalid("prompt", "prompt must not be empty");
        }
        return ids;
    }

    private static ChatMessage message(JsonNode node, String where) {
        if (!node.isObject()) {
            throw ApiError.invalid(where, where + " must be an object");
        }
        Fields f = new Fields(node, where + ".");
        String role = f.required("role", JsonNodeType.STRING).asText();
        role = switch (role) {
            // templates know no "developer" role; it is OpenAI's newer name for system instructions
            case "developer" -> "system";
            case "system", "user", "assistant", "tool" -> role;
            default -> throw ApiError.invalid(where + ".role", where + ".role must be system, developer, user,"
                    + " assistant or tool, got '" + role + "'");
        };
        ChatMessage.Content content = content(f, where, role);
        String name = f.has("name") && !f.get("name").isNull() ? f.required("name", JsonNodeType.STRING).asText() : null;
        List<ChatMessage.ToolCall> toolCalls = null;
        if (f.has("tool_calls") && !f.get("tool_calls").isNull()) {
            if (!role.equals("assistant")) {
                throw ApiError.invalid(where + ".tool_calls", "only assistant messages carry tool_calls");
            }
            toolCalls = toolCalls(f.required("tool_calls", JsonNodeType.ARRAY), where + ".tool_calls");
        }
        String toolCallId = null;
        if (f.has("tool_call_id") && !f.get("tool_call_id").isNull()) {
            toolCallId = f.required("tool_call_id", JsonNodeType.STRING).asText();
        }
        if (role.equals("tool") && toolCallId == null) {
            throw ApiError.invalid(where + ".tool_call_id", "a tool message needs tool_call_id");
        }
        String reasoning = null;
        if (f.has("reasoning_content") && !f.get("reasoning_content").isNull()) {
            reasoning = f.required("reasoning_content", JsonNodeType.STRING).asText();
        }
        // clients send earlier answers back as they received them: these two response fields carry nothing a
        // template reads (refusal is null or a refusal text, annotations are citations)
        f.get("refusal");
        f.get("annotations");
        f.rejectUnknown();
        return new ChatMessage(role, content, name, toolCalls, toolCallId, reasoning);
    }

    private static ChatMessage.Content content(Fields f, String where, String role) {
        JsonNode c = f.has("content") ? f.get("content") : null;
        if (c == null || c.isNull()) {
            if (!role.equals("assistant")) {
                throw ApiError.invalid(where + ".content", where + ".content is required");
            }
            return null;
        }
        if (c.isTextual()) {
            return new ChatMessage.Text(c.asText());
        }
        if (!c.isArray()) {
            throw ApiError.invalid(where + ".content", where + ".content must be a string or a list of parts");
        }
        List<ChatMessage.Part> parts = new ArrayList<>();
        for (int i = 0; i < c.size(); i++) {
            String partWhere = where + ".content[" + i + "]";
            JsonNode part = c.get(i);
            if (!part.isObject()) {
                throw ApiError.invalid(partWhere, partWhere + " must be an object");
            }
            Fields pf = new Fields(part, partWhere + ".");
            String type = pf.required("type", JsonNodeType.STRING).asText();
            if (!type.equals("text")) {
                throw ApiError.invalid(partWhere + ".type", partWhere + ".type '" + type
                        + "' is not supported: this server reads text only");
            }
            parts.add(ChatMessage.Part.text(pf.required("text", JsonNodeType.STRING).asText()));
            pf.rejectUnknown();
        }
        return new ChatMessage.Parts(parts);
    }

    private static List<ChatMessage.ToolCall> toolCalls(JsonNode array, String where) {
        List<ChatMessage.ToolCall> calls = new ArrayList<>();
        for (int i = 0; i < array.size(); i++) {
            String w = where + "[" + i + "]";
            if (!array.get(i).isObject()) {
                throw ApiError.invalid(w, w + " must be an object");
            }
            Fields f = new Fields(array.get(i), w + ".");
            String id = f.has("id") ? f.required("id", JsonNodeType.STRING).asText() : null;
            String type = f.has("type") ? f.required("type", JsonNodeType.STRING).asText() : "function";
            Fields fn = new Fields(f.required("function", JsonNodeType.OBJECT), w + ".function.");
            String name = fn.required("name", JsonNodeType.STRING).asText();
            String arguments = fn.required("arguments", JsonNodeType.STRING).asText();
            fn.rejectUnknown();
            f.rejectUnknown();
            calls.add(new ChatMessage.ToolCall(id, type, name, arguments));
        }
        return calls;
    }

    /** An object's fields, remembering which were read so the rest can be refused by name. */
    private static final class Fields {
        private final JsonNode node;
        private final String prefix;
        private final Set<String> read = new HashSet<>();

        Fields(JsonNode node) {
            this(node, "");
        }

        Fields(JsonNode node, String prefix) {
            this.node = node;
            this.prefix = prefix;
        }

        boolean has(String name) {
            read.add(name);
            return node.has(name);
        }

        JsonNode get(String name) {
            read.add(name);
            return node.get(name);
        }

        JsonNode required(String name, JsonNodeType type) {
            JsonNode v = get(name);
            if (v == null || v.isNull()) {
                throw ApiError.invalid(prefix + name, prefix + name + " is required");
            }
            if (v.getNodeType() != type) {
                throw ApiError.invalid(prefix + name, prefix + name + " must be " + article(type) + ", got "
                        + v.getNodeType().name().toLowerCase());
            }
            return v;
        }

        double number(String name, double absent) {
            JsonNode v = get(name);
            if (v == null || v.isNull()) {
                return absent;
            }
            if (!v.isNumber()) {
                throw ApiError.invalid(prefix + name, prefix + name + " must be a number");
            }
            return v.doubleValue();
        }

        int integer(String name, int absent) {
            JsonNode v = get(name);
            if (v == null || v.isNull()) {
                return absent;
            }
            if (!v.isIntegralNumber() || !v.canConvertToInt()) {
                throw ApiError.invalid(prefix + name, prefix + name + " must be an integer");
            }
            return v.intValue();
        }

        long longValue(String name) {
            JsonNode v = get(name);
            if (!v.isIntegralNumber() || !v.canConvertToLong()) {
                throw ApiError.invalid(prefix + name, prefix + name + " must be a 64-bit integer");
            }
            return v.longValue();
        }

        Integer optionalPositive(String name) {
            JsonNode v = get(name);
            if (v == null || v.isNull()) {
                return null;
            }
            int i = integer(name, 0);
            if (i < 1) {
                throw ApiError.invalid(prefix + name, prefix + name + " must be at least 1, got " + i);
            }
            return i;
        }

        boolean bool(String name, boolean absent) {
            JsonNode v = get(name);
            if (v == null || v.isNull()) {
                return absent;
            }
            if (!v.isBoolean()) {
                throw ApiError.invalid(prefix + name, prefix + name + " must be true or false");
            }
            return v.booleanValue();
        }

        void rejectUnknown() {
            for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
                String name = it.next();
                if (!read.contains(name)) {
                    throw ApiError.invalid(prefix + name, "unsupported parameter '" + prefix + name + "'");
                }
            }
        }

        private static String article(JsonNodeType type) {
            return switch (type) {
                case ARRAY -> "an array";
                case OBJECT -> "an object";
                case STRING -> "a string";
                case NUMBER -> "a number";
                case BOOLEAN -> "a boolean";
                default -> type.name().toLowerCase();
            };
        }
    }
}
