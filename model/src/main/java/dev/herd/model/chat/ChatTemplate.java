package dev.herd.model.chat;

import java.time.Clock;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A model's chat template (the Jinja source from {@code tokenizer_config.json}'s {@code chat_template} or GGUF's
 * {@code tokenizer.chat_template}), compiled once and rendered exactly as Hugging Face transformers'
 * {@code apply_chat_template} renders it.
 *
 * <p>The prompt a model sees must be byte-identical to the one it was trained with, so rendering follows Python's
 * Jinja2 as transformers configures it: {@code trim_blocks} and {@code lstrip_blocks} on, one trailing newline of the
 * source dropped, a sandbox that forbids mutating lists and dicts, the globals {@code raise_exception} and {@code
 * strftime_now}, {@code tojson} as {@code json.dumps(ensure_ascii=False)}, and the variables {@code messages},
 * {@code tools} (None unless given), {@code documents} (None), {@code add_generation_prompt}, {@code bos_token} /
 * {@code eos_token} (when the tokenizer has them) and any extra keyword arguments. Message text is data: template
 * syntax inside it ({@code {{ 7*7 }}}) is printed verbatim, never evaluated.
 *
 * <p>Instances are immutable and thread-safe; each render has its own state.
 */
public final class ChatTemplate {
  /** Templates that loop over {@code message.content} take OpenAI content parts as a list (Llama 4, Gemma 3). */
  private static final Pattern ITERATES_CONTENT = Pattern.compile(
      "\\{%[-+]?\\s*for\\s+\\w+\\s+in\\s+\\w+(?:\\.content|\\[\\s*['\"]content['\"]\\s*])");

  private final String source;
  private final String bosToken;
  private final String eosToken;
  private final Clock clock;
  private final List<JinjaAst.Node> program;
  private final boolean acceptsContentParts;

  /**
   * Compiles {@code source}.
   *
   * @param bosToken the tokenizer's BOS token text, or null when it has none (then {@code bos_token} is undefined)
   * @param eosToken the tokenizer's EOS token text, or null
   * @throws ChatTemplateException when the source is not a valid template
   */
  public ChatTemplate(String source, String bosToken, String eosToken) {
    this(source, bosToken, eosToken, Clock.systemDefaultZone());
  }

  /** As above, with the clock {@code strftime_now} reads (tests pin it). */
  public ChatTemplate(String source, String bosToken, String eosToken, Clock clock) {
    this.source = Objects.requireNonNull(source, "source");
    this.bosToken = bosToken;
    this.eosToken = eosToken;
    this.clock = Objects.requireNonNull(clock, "clock");
    this.program = JinjaParser.parse(source);
    this.acceptsContentParts = ITERATES_CONTENT.matcher(source).find();
  }

  public String source() {
    return source;
  }

  public String bosToken() {
    return bosToken;
  }

  public String eosToken() {
    return eosToken;
  }

  /**
   * Whether the template walks message content as a list of parts. When it does not, content given as parts is
   * joined into one string (text parts separated by newlines) before rendering, since such templates concatenate
   * {@code message.content} as a string.
   */
  public boolean acceptsContentParts() {
    return acceptsContentParts;
  }

  /** Renders without tools. */
  public String render(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, Object> extraContext) {
    return render(messages, null, addGenerationPrompt, extraContext);
  }

  /**
   * Renders a conversation into the prompt text.
   *
   * @param tools JSON-schema tool definitions ({@code {"type": "function", "function": {...}}}) as Maps or Jackson
   *     nodes, or null for none; an {@code extraContext} entry "tools" is used when this is null
   * @param addGenerationPrompt append the header that starts the assistant's reply
   * @param extraContext further template variables, e.g. {@code enable_thinking} (Qwen3) or {@code date_string}
   *     (Llama 3.x); values may be Java scalars, Maps, Lists or Jackson nodes
   * @throws ChatTemplateException when the template rejects the conversation ({@link
   *     ChatTemplateException#raisedByTemplate()}) or fails
   */
  public String render(List<ChatMessage> messages, List<?> tools, boolean addGenerationPrompt,
      Map<String, Object> extraContext) {
    Objects.requireNonNull(messages, "messages");
    JinjaInterpreter.Frame globals = new JinjaInterpreter.Frame(null);
    installGlobals(globals.vars);
    JinjaInterpreter.Frame context = new JinjaInterpreter.Frame(globals);
    List<Object> messageValues = new ArrayList<>();
    for (ChatMessage m : messages) {
      messageValues.add(m.toTemplateValue(acceptsContentParts));
    }
    context.vars.put("messages", messageValues);
    context.vars.put("tools", tools == null ? null : PyValues.fromJava(tools));
    context.vars.put("documents", null);
    context.vars.put("add_generation_prompt", addGenerationPrompt);
    if (bosToken != null) {
      context.vars.put("bos_token", bosToken);
    }
    if (eosToken != null) {
      context.vars.put("eos_token", eosToken);
    }
    if (extraContext != null) {
      extraContext.forEach((k, v) -> {
        if (!(k.equals("tools") && tools != null)) {
          context.vars.put(k, PyValues.fromJava(v));
        }
      });
    }
    StringBuilder out = new StringBuilder();
    try {
      new JinjaInterpreter().exec(program, context, out);
    } catch (ChatTemplateException e) {
      throw e;
    } catch (RuntimeException | StackOverflowError e) {
      throw ChatTemplateException.error("chat template failed: " + e, e);
    }
    return out.toString();
  }

  private void installGlobals(Map<String, Object> g) {
    g.put("raise_exception", (PyCallable) (args, kwargs) -> {
      throw ChatTemplateException.raised(args.isEmpty() ? "" : PyValues.str(args.getFirst()));
    });
    g.put("strftime_now", (PyCallable) (args, kwargs) ->
        PyStrftime.format(LocalDateTime.now(clock), PyStrings.requireString(
            PyMethods.arg(args, kwargs, 0, "format", null), "strftime_now")));
    g.put("range", (PyCallable) (args, kwargs) -> range(args));
    g.put("dict", (PyCallable) (args, kwargs) -> {
      Map<String, Object> d = new LinkedHashMap<>();
      if (!args.isEmpty() && args.getFirst() instanceof Map<?, ?> m) {
        m.forEach((k, v) -> d.put(String.valueOf(k), v));
      }
      d.putAll(kwargs);
      return d;
    });
    g.put("namespace", (PyCallable) (args, kwargs) -> {
      Namespace ns = new Namespace();
      if (!args.isEmpty()) {
        if (args.getFirst() instanceof Map<?, ?> m) {
          m.forEach((k, v) -> ns.attributes.put(String.valueOf(k), v));
        } else {
          for (Object pair : PyValues.iterate(args.getFirst())) {
            List<Object> kv = PyValues.iterate(pair);
            ns.attributes.put(PyValues.str(kv.get(0)), kv.get(1));
          }
        }
      }
      ns.attributes.putAll(kwargs);
      return ns;
    });
  }

  private static List<Object> range(List<Object> args) {
    long start = 0;
    long stop;
    long step = 1;
    if (args.size() == 1) {
      stop = PyValues.toIndex(args.getFirst());
    } else if (args.size() >= 2) {
      start = PyValues.toIndex(args.get(0));
      stop = PyValues.toIndex(args.get(1));
      if (args.size() > 2) {
        step = PyValues.toIndex(args.get(2));
      }
    } else {
      throw ChatTemplateException.error("range expected at least 1 argument, got 0");
    }
    if (step == 0) {
      throw ChatTemplateException.error("range() arg 3 must not be zero");
    }
    List<Object> out = new ArrayList<>();
    for (long i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (out.size() >= 100_000) {
        throw ChatTemplateException.error("range too big");
      }
      out.add(i);
    }
    return out;
  }
}
