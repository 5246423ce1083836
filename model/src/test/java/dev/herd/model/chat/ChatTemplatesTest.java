package dev.herd.model.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.herd.model.weights.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Where templates and special tokens are read from, and how a model without a template is reported. */
class ChatTemplatesTest {
  @TempDir
  Path dir;

  private Path write(String name, String content) throws IOException {
    return Files.writeString(dir.resolve(name), content);
  }

  @Test
  void stringTemplateWithPlainAndAddedTokenSpecialTokens() throws IOException {
    Path config = write("tokenizer_config.json", """
        {"chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}",
         "bos_token": {"__type": "AddedToken", "content": "<B>", "lstrip": false},
         "eos_token": "<E>"}
        """);
    ChatTemplate t = ChatTemplates.fromTokenizerConfig(config);
    assertEquals("<B>", t.bosToken());
    assertEquals("<E>", t.eosToken());
    assertEquals("<B>hi<E>", t.render(List.of(ChatMessage.user("hi")), false, Map.of()));
  }

  @Test
  void listFormPicksTheTemplateNamedDefault() throws IOException {
    Path config = write("tokenizer_config.json", """
        {"chat_template": [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": "plain"}],
         "bos_token": null}
        """);
    ChatTemplate t = ChatTemplates.fromTokenizerConfig(config);
    assertEquals("plain", t.source());
    assertNull(t.bosToken());
  }

  @Test
  void missingOrMalformedTemplatesNameTheFileAndKey() throws IOException {
    Path none = write("tokenizer_config.json", "{\"bos_token\": \"<s>\"}");
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> ChatTemplates.fromTokenizerConfig(none));
    assertTrue(e.getMessage().contains(none.toString()) && e.getMessage().contains("no 'chat_template'"),
        e.getMessage());

    Path noDefault = write("b.json", "{\"chat_template\": [{\"name\": \"rag\", \"template\": \"x\"}]}");
    e = assertThrows(ModelFormatException.class, () -> ChatTemplates.fromTokenizerConfig(noDefault));
    assertTrue(e.getMessage().contains("none named 'default'") && e.getMessage().contains("rag"), e.getMessage());

    Path number = write("c.json", "{\"chat_template\": 7}");
    e = assertThrows(ModelFormatException.class, () -> ChatTemplates.fromTokenizerConfig(number));
    assertTrue(e.getMessage().contains("must be a string or a list"), e.getMessage());

    Path broken = write("d.json", "{\"chat_template\": \"{% for x in %}\"}");
    e = assertThrows(ModelFormatException.class, () -> ChatTemplates.fromTokenizerConfig(broken));
    assertTrue(e.getMessage().contains("does not compile"), e.getMessage());

    Path notJson = write("e.json", "{not json");
    e = assertThrows(ModelFormatException.class, () -> ChatTemplates.fromTokenizerConfig(notJson));
    assertTrue(e.getMessage().contains(notJson.toString()), e.getMessage());
  }

  @Test
  void findIsEmptyOnlyWhereNoPlaceHoldsATemplate() throws IOException {
    write("tokenizer_config.json", "{\"eos_token\": \"<E>\"}");
    assertTrue(ChatTemplates.find(dir).isEmpty(), "a base model: no template anywhere");
    write("chat_template.jinja", "{{ jinja }}");
    assertEquals("{{ jinja }}", ChatTemplates.find(dir).orElseThrow().source(),
        "the file beside a config without a template");
  }

  @Test
  void modelDirectoryPrefersChatTemplateJinjaThenJsonThenTokenizerConfig() throws IOException {
    write("tokenizer_config.json", "{\"chat_template\": \"from config\", \"eos_token\": \"<E>\"}");
    assertEquals("from config", ChatTemplates.fromModelDirectory(dir).source());
    write("chat_template.json", "{\"chat_template\": \"from json\"}");
    assertEquals("from json", ChatTemplates.fromModelDirectory(dir).source());
    write("chat_template.jinja", "from jinja {{ eos_token }}\n");
    ChatTemplate t = ChatTemplates.fromModelDirectory(dir);
    assertEquals("from jinja <E>", t.render(List.of(), false, Map.of()));

    Path empty = Files.createDirectory(dir.resolve("empty"));
    ModelFormatException e = assertThrows(ModelFormatException.class, () -> ChatTemplates.fromModelDirectory(empty));
    assertTrue(e.getMessage().contains("has no chat template"), e.getMessage());
  }
}
