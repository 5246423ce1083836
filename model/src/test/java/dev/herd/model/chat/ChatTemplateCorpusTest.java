package dev.herd.model.chat;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import dev.herd.model.chat.ChatMessage.ToolCall;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Breadth check over the ~70 real chat templates llama.cpp keeps in {@code models/templates} (Llama 3.x/4-style,
 * gpt-oss, Mistral Small, Qwen3-Coder, DeepSeek V3.x, Kimi, GLM, Gemma, Granite, ...), taken from the llama.cpp
 * source that the pinned {@code node-llama-cpp} npm package ships as a git bundle. Each is rendered for a handful of
 * conversations by the Java renderer and by {@code @huggingface/jinja}; wherever the reference renders, Java must
 * produce the same string, and wherever a template refuses through {@code raise_exception}, Java must refuse with
 * the same message.
 *
 * <p>Where the reference cannot render at all (it lacks {@code str.format}, {@code |min}, tuple unpacking, {@code
 * |string} on dicts...), the case is only counted. Where Python's Jinja2 itself fails but the reference renders, the
 * expected Python error is listed in {@link #PYTHON_FAILS}.
 */
class ChatTemplateCorpusTest {
  private static final String NODE_LLAMA_CPP = "node-llama-cpp@3.22.1";
  private static final Path CORPUS = NodeReference.WORK.resolve("corpus");

  /**
   * Templates written for llama.cpp's own engine that Python's Jinja2 cannot render for some inputs, with the error
   * Python gives: {@code tools | map(attribute='function') | tojson} hands json.dumps a generator.
   */
  private static final Map<String, String> PYTHON_FAILS =
      Map.of("llama-cpp-deepseek-r1/tools", "Object of type generator is not JSON serializable",
          "llama-cpp-deepseek-r1/tool-call", "Object of type generator is not JSON serializable");

  /**
   * Cases where @huggingface/jinja renders but prints differently from Python: it prints a boolean from the tool
   * schema ({@code "default": true}) as "true" where Python's {@code str(True)} is "True". Java must equal the
   * reference's text with exactly that correction.
   */
  private static final Map<String, List<String>> REFERENCE_PRINTS_BOOL_LOWERCASE = Map.of(
      "Qwen3-Coder/tools", List.of("<default>true</default>", "<default>True</default>"),
      "Qwen3-Coder/tool-call", List.of("<default>true</default>", "<default>True</default>"),
      "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16/tools", List.of("<default>true</default>", "<default>True</default>"),
      "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16/tool-call", List.of("<default>true</default>", "<default>True</default>"));

  @BeforeAll
  static void prepareCorpus() throws IOException {
    NodeReference.install();
    NodeReference.requireTools("git", "tar");
    Path templates = CORPUS.resolve("templates");
    if (Files.isDirectory(templates)) {
      return;
    }
    Path scratch = CORPUS.resolve("scratch");
    NodeReference.deleteTree(scratch);
    Files.createDirectories(scratch);
    NodeReference.Result pack = NodeReference.run(List.of("npm", "pack", NODE_LLAMA_CPP, "--silent"), scratch, 240);
    Assumptions.assumeTrue(pack.exit() == 0, () -> "skipped: npm pack " + NODE_LLAMA_CPP + " failed: " + pack.output());
    String tarball = new String(pack.stdout()).strip();
    for (List<String> step : List.of(
        List.of("tar", "xzf", tarball, "package/llama/gitRelease.bundle"),
        List.of("git", "clone", "-q", "--no-checkout", "package/llama/gitRelease.bundle", "llama.cpp"),
        List.of("git", "-C", "llama.cpp", "checkout", "-q", "HEAD", "--", "models/templates"))) {
      NodeReference.Result r = NodeReference.run(step, scratch, 120);
      if (r.exit() != 0) {
        throw new AssertionError(String.join(" ", step) + " failed: " + r.output());
      }
    }
    Path extracted = Files.createDirectories(CORPUS.resolve("templates.partial"));
    try (Stream<Path> files = Files.list(scratch.resolve("llama.cpp/models/templates"))) {
      for (Path f : files.filter(f -> f.toString().endsWith(".jinja")).toList()) {
        Files.copy(f, extracted.resolve(f.getFileName()));
      }
    }
    Files.move(extracted, templates);
    NodeReference.deleteTree(scratch);
  }

  private record Conversation(String name, List<ChatMessage> messages, boolean tools, boolean addGenerationPrompt,
      Map<String, Object> context) {}

  private static List<Conversation> conversations() {
    ToolCall call = new ToolCall("abcDEF123", "function", "get_weather", ReferenceCases.ordered("city", "Paris"));
    return List.of(
        new Conversation("hello", List.of(ChatMessage.user("Hello")), false, true, Map.of()),
        new Conversation("multi-turn", List.of(ChatMessage.system("Sys"), ChatMessage.user("Hi"),
            ChatMessage.assistant("Hey there"), ChatMessage.user("Bye {{ x }} {% raw %}")), false, true, Map.of()),
        new Conversation("no-prompt", List.of(ChatMessage.system("Sys"), ChatMessage.user("Hi"),
            ChatMessage.assistant("Hey there")), false, false, Map.of()),
        new Conversation("tools", List.of(ChatMessage.user("weather in Paris?")), true, true, Map.of()),
        new Conversation("tool-call", List.of(ChatMessage.user("weather in Paris?"),
            new ChatMessage("assistant", new ChatMessage.Text(""), null, List.of(call), null, null),
            ChatMessage.tool("{\"t\": 20}", "abcDEF123"), ChatMessage.assistant("It is 20.")), true, true, Map.of()),
        new Conversation("no-thinking", List.of(ChatMessage.user("Hi")), false, true,
            Map.of("enable_thinking", false)),
        new Conversation("unicode", List.of(ChatMessage.user("héllo — 你好 — 😀 \u2028 \u00a0 \"q\" 'q' \\")), false,
            false, Map.of()),
        new Conversation("reasoning", List.of(ChatMessage.user("q1"),
            ChatMessage.assistant("<think>\nr\n</think>\n\nanswer"), ChatMessage.user("q2")), false, true, Map.of()),
        new Conversation("parts", List.of(new ChatMessage("user", new ChatMessage.Parts(List.of(
            ChatMessage.Part.text("part one"), ChatMessage.Part.text("part two"))), null, null, null, null)), false,
            true, Map.of()),
        new Conversation("not-alternating", List.of(ChatMessage.user("one"), ChatMessage.user("two")), false, true,
            Map.of()));
  }

  @Test
  void realTemplatesRenderAsTheReferenceDoes() throws Exception {
    List<Path> files;
    try (Stream<Path> list = Files.list(CORPUS.resolve("templates"))) {
      files = list.sorted().toList();
    }
    assertTrue(files.size() >= 50, "the corpus has its ~70 templates, found " + files.size());
    Path configs = Files.createDirectories(CORPUS.resolve("configs"));
    Clock clock = Clock.fixed(ReferenceCases.NOW.toInstant(ZoneOffset.UTC), ZoneOffset.UTC);
    List<Map<String, Object>> requests = new ArrayList<>();
    List<String> ids = new ArrayList<>();
    Map<String, ChatTemplate> templates = new LinkedHashMap<>();
    Map<String, Conversation> conversations = new LinkedHashMap<>();
    for (Path file : files) {
      String name = file.getFileName().toString().replaceFirst("\\.jinja$", "");
      Path config = configs.resolve(name + ".json");
      NodeReference.JSON.writeValue(config.toFile(), Map.of("chat_template", Files.readString(file),
          "bos_token", "<s>", "eos_token", "</s>"));
      ChatTemplate loaded = ChatTemplates.fromTokenizerConfig(config);
      ChatTemplate template = new ChatTemplate(loaded.source(), loaded.bosToken(), loaded.eosToken(), clock);
      templates.put(name, template);
      for (Conversation c : conversations()) {
        String id = name + "/" + c.name();
        ids.add(id);
        conversations.put(id, c);
        Map<String, Object> request = new LinkedHashMap<>();
        request.put("id", id);
        request.put("config", config.toAbsolutePath().toString());
        request.put("messages", c.messages().stream().map(m -> m.toTemplateValue(template.acceptsContentParts()))
            .toList());
        request.put("add_generation_prompt", c.addGenerationPrompt());
        Map<String, Object> context = new LinkedHashMap<>(c.context());
        if (c.tools()) {
          context.put("tools", ReferenceCases.TOOLS);
        }
        request.put("context", context);
        request.put("now", ReferenceCases.NOW.toString());
        requests.add(request);
      }
    }
    JsonNode results = NodeReference.render(requests, "corpus-cases.json");

    int agreed = 0;
    int refusalsAgreed = 0;
    int pythonFails = 0;
    int pythonFixes = 0;
    List<String> referenceCannot = new ArrayList<>();
    List<String> failures = new ArrayList<>();
    for (int i = 0; i < ids.size(); i++) {
      String id = ids.get(i);
      Conversation c = conversations.get(id);
      JsonNode expected = results.get(i);
      String actual = null;
      ChatTemplateException error = null;
      try {
        actual = templates.get(id.substring(0, id.indexOf('/')))
            .render(c.messages(), c.tools() ? ReferenceCases.TOOLS : null, c.addGenerationPrompt(), c.context());
      } catch (ChatTemplateException e) {
        error = e;
      }
      String pythonError = PYTHON_FAILS.get(id);
      if (pythonError != null) {
        if (error != null && error.getMessage().contains(pythonError)) {
          pythonFails++;
        } else {
          failures.add(id + ": Python fails with '" + pythonError + "', Java gave "
              + (error != null ? error.getMessage() : NodeReference.quote(actual)));
        }
      } else if (expected.get("ok").booleanValue()) {
        String want = expected.get("text").textValue();
        List<String> fix = REFERENCE_PRINTS_BOOL_LOWERCASE.get(id);
        if (fix != null) {
          assertTrue(want.contains(fix.get(0)), id + ": the reference still prints the boolean in lower case");
          want = want.replace(fix.get(0), fix.get(1));
          pythonFixes++;
        }
        if (want.equals(actual)) {
          agreed++;
        } else {
          failures.add(id + ": " + (error != null ? "Java failed: " + error.getMessage()
              : NodeReference.difference(want, actual)));
        }
      } else if (!expected.get("raised").isNull()) {
        String raised = expected.get("raised").textValue();
        if (error != null && error.raisedByTemplate() && raised.equals(error.templateMessage())) {
          refusalsAgreed++;
        } else {
          failures.add(id + ": the template refused (" + raised + "), Java gave "
              + (error != null ? error.getMessage() : NodeReference.quote(actual)));
        }
      } else {
        referenceCannot.add(id + " (" + expected.get("error").textValue() + "; Java: "
            + (error != null ? "failed: " + error.getMessage() : "rendered") + ")");
      }
    }
    String report = String.format("llama.cpp template corpus: %d templates, %d cases: %d identical renders (%d of "
            + "them after correcting the reference's bool printing), %d identical refusals, %d Python failures "
            + "reproduced, %d the reference cannot render:%n  %s%n",
        templates.size(), ids.size(), agreed, pythonFixes, refusalsAgreed, pythonFails, referenceCannot.size(),
        String.join("\n  ", referenceCannot));
    System.out.print(report);
    if (!failures.isEmpty()) {
      fail(report + failures.size() + " disagreements:\n" + String.join("\n", failures.subList(0,
          Math.min(15, failures.size()))));
    }
  }
}
