package dev.herd.model.chat;

import dev.herd.model.chat.ChatMessage.ToolCall;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The conversations rendered by both the Java renderer and the Python-compatible reference: ~100 per template, from
 * a fixed seed, covering system/no system, multi-turn, unicode, template syntax inside content, empty and
 * whitespace-only content, tools and tool calls where the template supports them, both values of
 * add_generation_prompt, and each template's own switches and refusals.
 */
final class ReferenceCases {
  record Case(String id, String template, List<ChatMessage> messages, List<Object> tools, boolean addGenerationPrompt,
      Map<String, Object> context, LocalDateTime now, PythonOutcome python) {}

  /**
   * What Python's Jinja2 gives for a case where {@code @huggingface/jinja} 0.5.11 is known to differ from it, worked
   * out by hand from the template and Python's semantics. Exactly one of {@code text} and {@code raised} is set.
   */
  record PythonOutcome(String referenceBug, String text, String raised) {}

  /** @huggingface/jinja's str.lstrip/rstrip/strip ignore their argument and strip all whitespace. */
  static final String STRIP_BUG = "str.lstrip/rstrip/strip(chars) ignore chars";

  /** @huggingface/jinja's selectattr/rejectattr never pass an item that lacks the attribute to the test. */
  static final String SELECTATTR_BUG = "selectattr(attr, 'undefined') never selects";

  static final String MISTRAL_ALTERNATION =
      "After the optional system message, conversation roles must alternate user/assistant/user/assistant/...";

  static final LocalDateTime NOW = LocalDateTime.of(2025, 3, 7, 14, 5, 9);

  /** Texts that stress exactness: template syntax, whitespace at the edges, unicode, quotes, special tokens. */
  static final List<String> TEXTS = List.of(
      "Hello!",
      "What is 2+2?",
      "Render this literally: {{ 7*7 }} and {% if true %}yes{% endif %}",
      "{% raw %}not raw{% endraw %} {# not a comment #} {{- trimmed -}}",
      "",
      "   ",
      "  padded on both sides\n\n",
      "\n\nleading newlines",
      "line one\nline two\r\nline three\ttabbed",
      "Unicode: héllo wörld — 你好，世界 — مرحبا — 😀🚀 — e\u0301",
      "quotes ' and \" and backslash \\ and \\n literally",
      "special tokens inline <|im_end|> <|eot_id|> </s> [INST] <｜end▁of▁sentence｜>",
      "U+2028 here:\u2028 and U+0085 here:\u0085 and NBSP\u00a0end",
      "A longer paragraph that goes on for a while so that the rendered prompt contains a realistic amount of text, "
          + "with punctuation; colons: and so on.",
      "<think>\nhidden reasoning\n</think>\n\nvisible answer",
      "<tool_response>\n{\"temp\": 21}\n</tool_response>",
      "% } { % }} {{ not a tag",
      "trailing newline\n");

  static final List<Object> TOOLS = List.of(
      tool("get_weather", "Get the current weather in a given city — returns °C.",
          ordered("type", "object",
              "properties", ordered(
                  "city", ordered("type", "string", "description", "City name, e.g. Zürich"),
                  "unit", ordered("type", "string", "enum", List.of("celsius", "fahrenheit"))),
              "required", List.of("city"))),
      tool("search", "Search the web.",
          ordered("type", "object",
              "properties", ordered(
                  "query", ordered("type", "string"),
                  "limit", ordered("type", "integer", "minimum", 1, "maximum", 50),
                  "threshold", ordered("type", "number", "default", 0.25),
                  "strict", ordered("type", "boolean", "default", true),
                  "tags", ordered("type", "array", "items", ordered("type", "string"))),
              "required", List.of("query"))));

  static Map<String, Object> tool(String name, String description, Map<String, Object> parameters) {
    return ordered("type", "function", "function",
        ordered("name", name, "description", description, "parameters", parameters));
  }

  static Map<String, Object> ordered(Object... kv) {
    Map<String, Object> m = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put((String) kv[i], kv[i + 1]);
    }
    return m;
  }

  private final String template;
  private final Random random;
  private final List<Case> cases = new ArrayList<>();

  private ReferenceCases(String template, long seed) {
    this.template = template;
    this.random = new Random(seed);
  }

  static List<Case> forTemplate(String template) {
    ReferenceCases c = new ReferenceCases(template, template.hashCode());
    c.common();
    switch (template) {
      case "qwen3" -> c.qwen3();
      case "qwen2_5" -> c.qwen25();
      case "llama3_2" -> c.llama32();
      case "deepseek_v3" -> c.deepseek();
      case "mistral_nemo" -> c.mistral();
      default -> { }
    }
    return c.cases;
  }

  private String text() {
    return TEXTS.get(random.nextInt(TEXTS.size()));
  }

  private void add(List<ChatMessage> messages, List<Object> tools, boolean addGen, Map<String, Object> context) {
    cases.add(new Case(template + "-" + cases.size(), template, messages, tools, addGen, context, NOW, null));
  }

  private void addPython(List<ChatMessage> messages, boolean addGen, PythonOutcome python) {
    cases.add(new Case(template + "-" + cases.size(), template, messages, null, addGen, Map.of(), NOW, python));
  }

  /**
   * Assistant text for the random conversations. For Qwen3, whose template {@code lstrip('\n')}s assistant text,
   * text starting with spaces would only exercise the reference's strip bug; that is covered by explicit cases.
   */
  private String assistantText() {
    String t = text();
    while (template.equals("qwen3") && (t.startsWith(" ") || t.startsWith("\t"))) {
      t = text();
    }
    return t;
  }

  private void both(List<ChatMessage> messages, List<Object> tools, Map<String, Object> context) {
    add(messages, tools, true, context);
    add(messages, tools, false, context);
  }

  /** Conversations every template accepts: alternating user/assistant with an optional leading system message. */
  private void common() {
    for (String t : TEXTS) {
      both(List.of(ChatMessage.user(t)), null, Map.of());
    }
    for (int turns = 1; turns <= 6; turns++) {
      for (boolean system : new boolean[] {false, true}) {
        List<ChatMessage> messages = new ArrayList<>();
        if (system) {
          messages.add(ChatMessage.system(text()));
        }
        for (int i = 0; i < turns; i++) {
          messages.add(ChatMessage.user(text()));
          if (i < turns - 1 || random.nextBoolean()) {
            messages.add(ChatMessage.assistant(assistantText()));
          }
        }
        both(messages, null, Map.of());
      }
    }
    // Content as OpenAI parts: flattened to text for these string-only templates.
    both(List.of(ChatMessage.system("sys"), new ChatMessage("user", new ChatMessage.Parts(List.of(
        ChatMessage.Part.text("first part"), ChatMessage.Part.text("second {{ part }}"))), null, null, null, null)),
        null, Map.of());
    // Extra context a caller passes through to every template.
    both(List.of(ChatMessage.user("hi")), null, Map.of("custom_flag", true, "some_list", List.of(1, 2)));
    add(List.of(ChatMessage.system("only a system message")), null, true, Map.of());
    add(List.of(ChatMessage.user("named").withName("alice"), ChatMessage.assistant("ok")), null, true, Map.of());
  }

  private List<ChatMessage> toolConversation(Object arguments, String id, boolean system, boolean answered) {
    List<ChatMessage> messages = new ArrayList<>();
    if (system) {
      messages.add(ChatMessage.system("You can call tools."));
    }
    messages.add(ChatMessage.user("What's the weather in Zürich and Paris?"));
    messages.add(ChatMessage.assistantToolCalls(List.of(new ToolCall(id, "function", "get_weather", arguments))));
    if (answered) {
      messages.add(ChatMessage.tool("{\"temperature\": 21.5, \"sky\": \"sunny ☀\"}", id));
      messages.add(ChatMessage.assistant("It is 21.5 °C and sunny in Zürich."));
      messages.add(ChatMessage.user("Thanks! {{ and Paris }}?"));
    }
    return messages;
  }

  /** Tool-calling turns with content "" instead of None, as Qwen's templates need. */
  private static List<ChatMessage> emptyContent(List<ChatMessage> messages) {
    return messages.stream().map(m -> m.content() == null
        ? new ChatMessage(m.role(), new ChatMessage.Text(""), m.name(), m.toolCalls(), m.toolCallId(),
            m.reasoningContent())
        : m).toList();
  }

  private static Map<String, Object> weatherArgs() {
    return ordered("city", "Zürich", "unit", "celsius", "days", 3, "ratio", 0.5, "verbose", false, "extra", null);
  }

  private void qwen3() {
    for (Object thinking : new Object[] {true, false, "unset"}) {
      Map<String, Object> ctx = thinking.equals("unset") ? Map.of() : Map.of("enable_thinking", thinking);
      both(List.of(ChatMessage.user("Think about {{ this }}.")), null, ctx);
      both(List.of(ChatMessage.system("Be terse."), ChatMessage.user("q1"),
          ChatMessage.assistant("<think>\nstep 1\nstep 2\n</think>\n\nanswer 1"), ChatMessage.user("q2")), null, ctx);
    }
    // reasoning_content given separately, after and before the last user query.
    both(List.of(ChatMessage.user("q1"), ChatMessage.assistant("a1").withReasoningContent("because"),
        ChatMessage.user("q2"), ChatMessage.assistant("a2").withReasoningContent("\nthinking\n")), null, Map.of());
    both(List.of(ChatMessage.user("q1"), ChatMessage.assistant("\n\n<think>r</think>a1 with\n\n")), null, Map.of());
    // Tools: definitions, calls with structured and string arguments, multi-step tool responses.
    for (boolean system : new boolean[] {false, true}) {
      both(List.of(system ? ChatMessage.system("sys") : ChatMessage.user("x"), ChatMessage.user("weather?")),
          TOOLS, Map.of());
      List<ChatMessage> answered = new ArrayList<>(toolConversation(weatherArgs(), "call_1", system, true));
      answered.set(system ? 2 : 1, new ChatMessage("assistant", new ChatMessage.Text("Let me check."), null,
          List.of(new ToolCall("c1", "function", "get_weather", weatherArgs()),
              new ToolCall("c2", "function", "search", "{\"query\": \"paris weather\"}")), null, null));
      both(answered, TOOLS, Map.of());
      both(emptyContent(toolConversation(weatherArgs(), "call_1", system, true)), TOOLS, Map.of());
      both(emptyContent(toolConversation(weatherArgs(), "call_1", system, false)), TOOLS,
          Map.of("enable_thinking", false));
    }
    // content None on a tool-calling turn: Qwen3's template evaluates '</think>' in None, a TypeError in Python.
    add(toolConversation(weatherArgs(), "call_1", false, false), TOOLS, true, Map.of());
    List<ChatMessage> multiStep = List.of(ChatMessage.user("plan"),
        new ChatMessage("assistant", new ChatMessage.Text(""), null,
            List.of(new ToolCall("a", "function", "search", ordered("query", "x"))), null, null),
        ChatMessage.tool("r1", "a"), ChatMessage.tool("r2", "a"),
        new ChatMessage("assistant", new ChatMessage.Text("<think>\nmid\n</think>\n\n"), null,
            List.of(new ToolCall("b", "function", "search", ordered("query", "y"))), null, null),
        ChatMessage.tool("r3", "b"));
    both(multiStep, TOOLS, Map.of());
    // A user message that is itself a tool response does not count as the last query.
    both(List.of(ChatMessage.user("q"), ChatMessage.assistant("<think>x</think>a"),
        ChatMessage.user("<tool_response>\nout\n</tool_response>"), ChatMessage.assistant("<think>y</think>b")),
        null, Map.of());
    add(List.of(ChatMessage.system("s1"), ChatMessage.user("u"), ChatMessage.system("s2 mid-conversation")), null,
        true, Map.of());
    // Python: "   ".lstrip('\n') keeps the spaces; "\n \n".strip('\n') is " ".
    addPython(List.of(ChatMessage.user("q"), ChatMessage.assistant("   ")), false, new PythonOutcome(STRIP_BUG,
        "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n   <|im_end|>\n", null));
    addPython(List.of(ChatMessage.user("q"), ChatMessage.assistant("<think>\n \t\n</think>\n\n  answer  ")), true,
        new PythonOutcome(STRIP_BUG, "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\n \t\n</think>"
            + "\n\n  answer  <|im_end|>\n<|im_start|>assistant\n", null));
  }

  private void qwen25() {
    for (boolean system : new boolean[] {false, true}) {
      both(List.of(system ? ChatMessage.system("Custom system") : ChatMessage.user("x"), ChatMessage.user("q")),
          TOOLS, Map.of());
      both(toolConversation(weatherArgs(), "call_1", system, true), TOOLS, Map.of());
      both(toolConversation("{\"city\": \"Zürich\"}", "call_1", system, false), TOOLS, Map.of());
    }
    both(List.of(ChatMessage.user("q"), new ChatMessage("assistant", new ChatMessage.Text("calling two"), null,
        List.of(new ToolCall("1", "function", "get_weather", weatherArgs()),
            new ToolCall("2", "function", "search", ordered("query", "q", "tags", List.of("a", "b")))), null, null),
        ChatMessage.tool("one", "1"), ChatMessage.tool("two", "2")), TOOLS, Map.of());
    add(List.of(ChatMessage.system("s1"), ChatMessage.user("u"), ChatMessage.system("s2")), null, true, Map.of());
  }

  private void llama32() {
    both(List.of(ChatMessage.system("sys"), ChatMessage.user("date?")), null, Map.of("date_string", "26 Jul 2024"));
    both(List.of(ChatMessage.user("no date given: strftime_now is used")), null, Map.of());
    both(List.of(ChatMessage.system("  trimmed system  "), ChatMessage.user("q")), TOOLS, Map.of());
    both(List.of(ChatMessage.user("q with tools in user message")), TOOLS, Map.of("date_string", "1 Jan 2025"));
    both(List.of(ChatMessage.system("sys"), ChatMessage.user("q")), TOOLS, Map.of("tools_in_user_message", false));
    both(List.of(ChatMessage.user("custom tools")), null, Map.of("custom_tools", TOOLS));
    both(toolConversation(weatherArgs(), "c1", true, true), TOOLS, Map.of());
    both(toolConversation(weatherArgs(), "c1", false, true), TOOLS, Map.of("tools_in_user_message", false));
    // A tool message whose content is structured: the template prints it with tojson when it is a mapping.
    both(List.of(ChatMessage.user("q"), new ChatMessage("ipython", new ChatMessage.Text("plain result"), null, null,
        null, null)), null, Map.of());
    // Refusals from the template itself.
    add(List.of(ChatMessage.system("only system")), TOOLS, true, Map.of());
    add(List.of(ChatMessage.user("q"), ChatMessage.assistantToolCalls(List.of(
        new ToolCall("a", "function", "search", ordered("query", "1")),
        new ToolCall("b", "function", "search", ordered("query", "2"))))), null, true, Map.of());
  }

  private void deepseek() {
    both(List.of(ChatMessage.system("first system"), ChatMessage.system("second system"), ChatMessage.user("q")), null,
        Map.of());
    for (boolean answered : new boolean[] {false, true}) {
      both(toolConversation("{\"city\": \"Zürich\"}", "c1", true, answered), TOOLS, Map.of());
    }
    List<ChatMessage> two = List.of(ChatMessage.user("q"), ChatMessage.assistantToolCalls(List.of(
        new ToolCall("a", "function", "get_weather", "{\"city\": \"A\"}"),
        new ToolCall("b", "function", "search", "{\"query\": \"B\"}"))),
        ChatMessage.tool("ra", "a"), ChatMessage.tool("rb", "b"));
    both(two, TOOLS, Map.of());
    List<ChatMessage> twoAnswered = new ArrayList<>(two);
    twoAnswered.add(ChatMessage.assistant("done"));
    twoAnswered.add(ChatMessage.user("again"));
    both(twoAnswered, TOOLS, Map.of());
    // The template defaults add_generation_prompt itself when it is undefined; here it is always passed.
    both(List.of(ChatMessage.user("q"), ChatMessage.assistant("a"), ChatMessage.user("q2"), ChatMessage.assistant("")),
        null, Map.of());
  }

  private void mistral() {
    both(List.of(ChatMessage.user("q")), TOOLS, Map.of());
    both(List.of(ChatMessage.system("sys goes to the last user turn"), ChatMessage.user("q1"),
        ChatMessage.assistant("a1"), ChatMessage.user("q2")), TOOLS, Map.of());
    both(toolConversation(weatherArgs(), "abcDEF123", false, true), TOOLS, Map.of());
    both(toolConversation("{\"city\": \"Zürich\"}", "abcDEF123", true, false), TOOLS, Map.of());
    // Refusals: roles that do not alternate (Python raises; the reference's selectattr bug skips the check), a
    // system message later on, tool-call ids that are not 9 long.
    PythonOutcome alternation = new PythonOutcome(SELECTATTR_BUG, null, MISTRAL_ALTERNATION);
    addPython(List.of(ChatMessage.user("one"), ChatMessage.user("two")), true, alternation);
    addPython(List.of(ChatMessage.assistant("first")), true, alternation);
    addPython(List.of(ChatMessage.user("u"), ChatMessage.assistant("a"), ChatMessage.assistant("b")), false,
        alternation);
    addPython(List.of(ChatMessage.system("s"), ChatMessage.user("u"), ChatMessage.user("again")), true, alternation);
    add(List.of(ChatMessage.user("u"), ChatMessage.system("late system")), null, true, Map.of());
    add(toolConversation(weatherArgs(), "short", false, false), TOOLS, true, Map.of());
    add(toolConversation(weatherArgs(), "abcDEF123", false, true).stream()
        .map(m -> m.role().equals("tool") ? ChatMessage.tool("r", "wrong") : m).toList(), TOOLS, true, Map.of());
  }
}
