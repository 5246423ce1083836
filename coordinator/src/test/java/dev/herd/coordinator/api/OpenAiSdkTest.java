package dev.herd.coordinator.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.herd.coordinator.TestModel;
import dev.herd.coordinator.cluster.InProcessCluster;
import dev.herd.coordinator.scheduler.ModelRunner;
import dev.herd.coordinator.scheduler.SchedulerSettings;
import dev.herd.model.chat.ChatMessage;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * End to end with the official OpenAI SDK for Node ({@code openai}, pinned in src/test/node/package.json): the
 * server runs in this JVM on a free loopback port (its model in this process, or split over a cluster of three
 * shard nodes that sample on the last stage), the SDK script runs chats and completions (streamed and not)
 * against it and compares content, usage and finish reasons with a greedy decoding computed here without the
 * server. The SDK is installed once into target/openai-sdk; the test skips, saying why, where node or npm is absent.
 */
@Timeout(value = 400, unit = TimeUnit.SECONDS)
class OpenAiSdkTest {
    private static final String KEY = "sk-herd-test-key";
    private static final Path SOURCE = Path.of("src/test/node");
    private static final Path WORK = Path.of("target/openai-sdk");

    @TempDir
    Path dir;

    @Test
    void theOfficialSdkTalksToTheServer() throws Exception {
        assumeNodeAndInstallSdk();
        try (TestModel model = TestModel.create(dir)) {
            runScript(model, ModelRunner.local(model.transformer));
        }
    }

    @Test
    void theOfficialSdkTalksToAServerOnAClusterOfShardNodes() throws Exception {
        assumeNodeAndInstallSdk();
        try (TestModel model = TestModel.create(dir);
             InProcessCluster cluster = InProcessCluster.start(model.file, 3, 512 * 16)) {
            assertTrue(cluster.engine.plan().stages().size() > 1, "the model is split over stages");
            runScript(model, cluster.engine.runner());
        }
    }

    private static void assumeNodeAndInstallSdk() throws IOException, InterruptedException {
        Assumptions.assumeTrue(runs("node", "--version"), "node is not installed: the OpenAI SDK test needs Node 20+");
        Assumptions.assumeTrue(runs("npm", "--version"), "npm is not installed: the OpenAI SDK test needs it to install the SDK");
        installSdk();
    }

    /** The SDK script against a server whose scheduler runs {@code runner}; its expectations come from here. */
    private static void runScript(TestModel model, ModelRunner runner) throws Exception {
        Vertx vertx = Vertx.vertx();
        ApiSettings settings = new ApiSettings("127.0.0.1", 0, List.of(KEY), ApiSettings.DEFAULT_MAX_BODY_BYTES);
        try (TestServer server = new TestServer(vertx, model, runner, settings, SchedulerSettings.of(64, 512), true)) {
            String expect = new ObjectMapper().writeValueAsString(expectations(model));
            ProcessBuilder pb = new ProcessBuilder("node", "openai-e2e.mjs").directory(WORK.toFile())
                    .redirectErrorStream(true).redirectOutput(WORK.resolve("e2e.log").toFile());
            pb.environment().put("HERD_BASE_URL", server.url("/v1"));
            pb.environment().put("HERD_API_KEY", KEY);
            pb.environment().put("HERD_MODEL", TestServer.MODEL);
            pb.environment().put("HERD_EXPECT", expect);
            Process p = pb.start();
            boolean done = p.waitFor(120, TimeUnit.SECONDS);
            if (!done) {
                p.destroyForcibly();
            }
            String log = Files.readString(WORK.resolve("e2e.log"));
            assertTrue(done, "the SDK script did not finish in time:\n" + log);
            assertEquals(0, p.exitValue(), "the SDK script failed:\n" + log);
            assertTrue(log.contains("openai-sdk e2e ok"), log);
        } finally {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    /** What the script must see, from the template, the tokenizer and the greedy decoder alone. */
    private static Map<String, Object> expectations(TestModel model) {
        String user = "Say something about herds.";
        int chatMax = 12;
        String rendered = model.bundle.chatTemplate().orElseThrow().render(List.of(ChatMessage.user(user)), true,
                Map.of());
        int[] chatPrompt = model.tokenizer().encode(rendered, false, true);
        int[] chatIds = model.greedy(chatPrompt, chatMax);
        String chatText = model.tokenizer().decode(chatIds, true);
        assertTrue(chatText.length() >= 8, "a reference long enough to cut a stop string from: " + chatText);
        String stop = chatText.substring(chatText.length() / 2, chatText.length() / 2 + 2);

        String prompt = "The herd";
        int textMax = 10;
        int[] textPrompt = model.tokenizer().encode(prompt, true, true);
        int[] textIds = model.greedy(textPrompt, textMax);

        Map<String, Object> chat = new LinkedHashMap<>();
        chat.put("user", user);
        chat.put("maxTokens", chatMax);
        chat.put("text", chatText);
        chat.put("finish", finish(model, chatIds, chatMax));
        chat.put("promptTokens", chatPrompt.length);
        chat.put("completionTokens", chatIds.length);
        Map<String, Object> text = new LinkedHashMap<>();
        text.put("prompt", prompt);
        text.put("maxTokens", textMax);
        text.put("text", model.tokenizer().decode(textIds, true));
        text.put("finish", finish(model, textIds, textMax));
        text.put("promptTokens", textPrompt.length);
        text.put("completionTokens", textIds.length);
        return Map.of("chat", chat, "text", text,
                "stop", Map.of("stop", stop, "text", chatText.substring(0, chatText.indexOf(stop))));
    }

    private static String finish(TestModel model, int[] ids, int max) {
        return model.eos.contains(ids[ids.length - 1]) ? "stop" : ids.length == max ? "length" : "unexpected";
    }

    /** npm ci into target/openai-sdk, unless the pinned SDK is already there from an earlier run. */
    private static void installSdk() throws IOException, InterruptedException {
        Files.createDirectories(WORK);
        boolean sameLock = Files.exists(WORK.resolve("package-lock.json"))
                && Files.mismatch(SOURCE.resolve("package-lock.json"), WORK.resolve("package-lock.json")) == -1;
        for (String f : List.of("package.json", "package-lock.json", "openai-e2e.mjs")) {
            Files.copy(SOURCE.resolve(f), WORK.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }
        Path installed = WORK.resolve("node_modules/openai/package.json");
        if (sameLock && Files.exists(installed)) {
            return;
        }
        Process p = new ProcessBuilder("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
                .directory(WORK.toFile()).redirectErrorStream(true).redirectOutput(WORK.resolve("npm.log").toFile())
                .start();
        boolean done = p.waitFor(300, TimeUnit.SECONDS);
        if (!done) {
            p.destroyForcibly();
        }
        String log = Files.readString(WORK.resolve("npm.log"), StandardCharsets.UTF_8);
        assertTrue(done && p.exitValue() == 0, "npm ci of the pinned OpenAI SDK failed:\n" + log);
    }

    private static boolean runs(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor(20, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            // not on the PATH: the caller skips with its reason
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
