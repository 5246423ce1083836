package dev.herd.model.chat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.herd.model.weights.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Finds a model's chat template where Hugging Face keeps it: {@code chat_template.jinja} next to the tokenizer
 * (what newer transformers versions save), {@code chat_template.json}, or the {@code chat_template} key of {@code
 * tokenizer_config.json}, which is either a string or a list of {@code {"name", "template"}} entries of which the
 * one named "default" is used (as transformers does when no name is asked for).
 */
public final class ChatTemplates {
  private static final ObjectMapper JSON = new ObjectMapper();

  private ChatTemplates() {}

  /**
   * The template of a Hugging Face model directory if it has one (any of the places {@link #fromModelDirectory}
   * reads), else empty: a base model without a chat template is served for completions only.
   */
  public static Optional<ChatTemplate> find(Path dir) {
    Path config = dir.resolve("tokenizer_config.json");
    boolean inConfig = Files.exists(config) && readJson(config).hasNonNull("chat_template");
    if (Files.exists(dir.resolve("chat_template.jinja")) || Files.exists(dir.resolve("chat_template.json"))
        || inConfig) {
      return Optional.of(fromModelDirectory(dir));
    }
    return Optional.empty();
  }

  /** The template of a Hugging Face model directory, with BOS/EOS from its {@code tokenizer_config.json}. */
  public static ChatTemplate fromModelDirectory(Path dir) {
    Path config = dir.resolve("tokenizer_config.json");
    JsonNode tokenizerConfig = Files.exists(config) ? readJson(config) : JSON.createObjectNode();
    Path jinja = dir.resolve("chat_template.jinja");
    Path json = dir.resolve("chat_template.json");
    String source;
    if (Files.exists(jinja)) {
      try {
        source = Files.readString(jinja);
      } catch (IOException e) {
        throw new ModelFormatException("cannot read " + jinja + ": " + e.getMessage(), e);
      }
    } else if (Files.exists(json)) {
      source = templateSource(readJson(json).get("chat_template"), json);
    } else if (Files.exists(config)) {
      source = templateSource(tokenizerConfig.get("chat_template"), config);
    } else {
      throw new ModelFormatException(dir + " has no chat template: none of chat_template.jinja, "
          + "chat_template.json or tokenizer_config.json exists");
    }
    return compile(source, tokenizerConfig, config);
  }

  /** The template in a {@code tokenizer_config.json} file, with its BOS and EOS tokens. */
  public static ChatTemplate fromTokenizerConfig(Path tokenizerConfigJson) {
    JsonNode config = readJson(tokenizerConfigJson);
    return compile(templateSource(config.get("chat_template"), tokenizerConfigJson), config, tokenizerConfigJson);
  }

  /**
   * The template source from a {@code chat_template} value: a string, or a list of {@code {name, template}} from
   * which "default" is taken.
   *
   * @param origin the file the value came from, for error messages
   * @throws ModelFormatException when the model has no template or the value has an unexpected shape
   */
  public static String templateSource(JsonNode chatTemplate, Path origin) {
    if (chatTemplate == null || chatTemplate.isNull()) {
      throw new ModelFormatException(origin + " has no 'chat_template': this model ships no chat template "
          + "(base models usually do not), so chat requests cannot be formatted for it");
    }
    if (chatTemplate.isTextual()) {
      return chatTemplate.textValue();
    }
    if (chatTemplate.isArray()) {
      StringBuilder names = new StringBuilder();
      for (JsonNode entry : chatTemplate) {
        JsonNode name = entry.get("name");
        JsonNode template = entry.get("template");
        if (name == null || !name.isTextual() || template == null || !template.isTextual()) {
          throw new ModelFormatException(origin + ": 'chat_template' list entries must be {\"name\": string, "
              + "\"template\": string}, got " + entry);
        }
        if (name.textValue().equals("default")) {
          return template.textValue();
        }
        names.append(names.isEmpty() ? "" : ", ").append(name.textValue());
      }
      throw new ModelFormatException(origin + ": 'chat_template' lists templates [" + names
          + "] but none named 'default'");
    }
    throw new ModelFormatException(origin + ": 'chat_template' must be a string or a list of {name, template}, got "
        + chatTemplate.getNodeType());
  }

  /** A special token's text from tokenizer_config.json: a string or an AddedToken object with "content". */
  static String tokenText(JsonNode config, String key, Path origin) {
    JsonNode token = config.get(key);
    if (token == null || token.isNull()) {
      return null;
    }
    if (token.isTextual()) {
      return token.textValue();
    }
    if (token.isObject() && token.path("content").isTextual()) {
      return token.get("content").textValue();
    }
    throw new ModelFormatException(origin + ": '" + key + "' must be a string or an object with 'content', got "
        + token);
  }

  private static ChatTemplate compile(String source, JsonNode config, Path origin) {
    String bos = tokenText(config, "bos_token", origin);
    String eos = tokenText(config, "eos_token", origin);
    try {
      return new ChatTemplate(source, bos, eos);
    } catch (ChatTemplateException e) {
      throw new ModelFormatException(origin + ": the chat template does not compile: " + e.getMessage(), e);
    }
  }

  private static JsonNode readJson(Path file) {
    try {
      JsonNode node = JSON.readTree(file.toFile());
      if (node == null || !node.isObject()) {
        throw new ModelFormatException(file + " is not a JSON object");
      }
      return node;
    } catch (IOException e) {
      throw new ModelFormatException("cannot read " + file + ": " + e.getMessage(), e);
    }
  }
}
