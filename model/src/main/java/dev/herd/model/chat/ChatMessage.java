package dev.herd.model.chat;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One message of a conversation, shaped like an OpenAI chat message, as a chat template sees it.
 *
 * <p>Templates test keys with {@code is defined} and {@code 'tool_calls' in message}, so optional fields that are
 * null are left out of the template's dict entirely (as they are from the JSON a client sends), while {@code
 * content} is always present (None when null: DeepSeek's template tests {@code message['content'] is none}).
 *
 * @param role "system", "user", "assistant", "tool", ...
 * @param content the text, a list of parts, or null (e.g. an assistant message that only calls tools)
 * @param name optional participant name
 * @param toolCalls tool calls made by an assistant message, or null
 * @param toolCallId for a "tool" message, the id of the call it answers, or null
 * @param reasoningContent an assistant's separate reasoning text (Qwen3 reads it), or null
 */
public record ChatMessage(String role, Content content, String name, List<ToolCall> toolCalls, String toolCallId,
    String reasoningContent) {

  public ChatMessage {
    Objects.requireNonNull(role, "role");
    toolCalls = toolCalls == null ? null : List.copyOf(toolCalls);
  }

  /** Message content: plain text or OpenAI-style parts. */
  public sealed interface Content permits Text, Parts {}

  public record Text(String text) implements Content {
    public Text {
      Objects.requireNonNull(text, "text");
    }
  }

  /** Content as a list of parts ({@code [{"type": "text", "text": "..."}]}). */
  public record Parts(List<Part> parts) implements Content {
    public Parts {
      parts = List.copyOf(parts);
    }
  }

  /** One content part: {@code type} is "text" for text parts; {@code text} may be null for other types. */
  public record Part(String type, String text) {
    public Part {
      Objects.requireNonNull(type, "type");
    }

    public static Part text(String text) {
      return new Part("text", text);
    }
  }

  /**
   * A function call made by the assistant.
   *
   * @param id the call's id (Mistral's template wants 9 alphanumeric characters), or null
   * @param type normally "function"
   * @param name the function's name
   * @param arguments the arguments as the template expects them: a JSON string (DeepSeek V3 concatenates it) or a
   *     Map/JsonNode (Qwen and Llama print it with {@code tojson})
   */
  public record ToolCall(String id, String type, String name, Object arguments) {
    public ToolCall {
      Objects.requireNonNull(name, "name");
      type = type == null ? "function" : type;
    }
  }

  public static ChatMessage of(String role, String content) {
    return new ChatMessage(role, content == null ? null : new Text(content), null, null, null, null);
  }

  public static ChatMessage system(String content) {
    return of("system", content);
  }

  public static ChatMessage user(String content) {
    return of("user", content);
  }

  public static ChatMessage assistant(String content) {
    return of("assistant", content);
  }

  /** An assistant turn that only calls tools (content null, as OpenAI clients send it). */
  public static ChatMessage assistantToolCalls(List<ToolCall> toolCalls) {
    return new ChatMessage("assistant", null, null, toolCalls, null, null);
  }

  /** A tool's result answering the call {@code toolCallId}. */
  public static ChatMessage tool(String content, String toolCallId) {
    return new ChatMessage("tool", new Text(content), null, null, toolCallId, null);
  }

  public ChatMessage withToolCalls(List<ToolCall> calls) {
    return new ChatMessage(role, content, name, calls, toolCallId, reasoningContent);
  }

  public ChatMessage withName(String newName) {
    return new ChatMessage(role, content, newName, toolCalls, toolCallId, reasoningContent);
  }

  public ChatMessage withReasoningContent(String reasoning) {
    return new ChatMessage(role, content, name, toolCalls, toolCallId, reasoning);
  }

  /** The text of this message: the text itself, or the text parts joined with newlines; null when there is none. */
  public String text() {
    return switch (content) {
      case null -> null;
      case Text t -> t.text();
      case Parts p -> {
        List<String> texts = new ArrayList<>();
        for (Part part : p.parts()) {
          if (part.type().equals("text") && part.text() != null) {
            texts.add(part.text());
          }
        }
        yield String.join("\n", texts);
      }
    };
  }

  /**
   * The dict a template iterates over. With {@code keepParts} false a list of parts is flattened to its text (most
   * templates concatenate {@code message.content} as a string and would fail on a list).
   */
  Map<String, Object> toTemplateValue(boolean keepParts) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("role", role);
    m.put("content", switch (content) {
      case null -> null;
      case Text t -> t.text();
      case Parts p when keepParts -> {
        List<Object> parts = new ArrayList<>();
        for (Part part : p.parts()) {
          Map<String, Object> pm = new LinkedHashMap<>();
          pm.put("type", part.type());
          if (part.text() != null) {
            pm.put("text", part.text());
          }
          parts.add(pm);
        }
        yield parts;
      }
      case Parts p -> text();
    });
    if (name != null) {
      m.put("name", name);
    }
    if (toolCalls != null) {
      List<Object> calls = new ArrayList<>();
      for (ToolCall call : toolCalls) {
        Map<String, Object> cm = new LinkedHashMap<>();
        if (call.id() != null) {
          cm.put("id", call.id());
        }
        cm.put("type", call.type());
        Map<String, Object> fn = new LinkedHashMap<>();
        fn.put("name", call.name());
        fn.put("arguments", PyValues.fromJava(call.arguments()));
        cm.put("function", fn);
        calls.add(cm);
      }
      m.put("tool_calls", calls);
    }
    if (toolCallId != null) {
      m.put("tool_call_id", toolCallId);
    }
    if (reasoningContent != null) {
      m.put("reasoning_content", reasoningContent);
    }
    return m;
  }
}
