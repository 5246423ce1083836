package dev.herd.cli;

import dev.herd.kernels.DType;
import dev.herd.model.config.Architecture;
import dev.herd.model.testmodel.TestModelSpec;
import dev.herd.model.testmodel.TestModelWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code herd serve} wiring: options to a listening, ready server that answers with the loaded model. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ServeCommandTest {
    @TempDir
    Path dir;

    private ServeCommand parse(String... args) {
        ServeCommand command = new ServeCommand();
        new CommandLine(command).parseArgs(args);
        return command;
    }

    @Test
    void servesTheModelAndPrintsItsUrl() throws Exception {
        Path gguf = new TestModelWriter(TestModelSpec.small(Architecture.MIXTRAL)).writeGguf(dir.resolve("tiny.gguf"),
                DType.F32);
        ServeCommand command = parse("--model", gguf.toString(), "--port", "0", "--backend", "reference",
                "--threads", "1", "--api-key", "k1", "--kv-blocks", "64", "--max-batch-tokens", "32");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        try (ServingOptions.Running running = command.start(new PrintStream(log, true, StandardCharsets.UTF_8))) {
            String out = log.toString(StandardCharsets.UTF_8);
            assertTrue(out.contains("ready at " + running.baseUrl + "/v1"), out);
            assertTrue(out.contains("KV budget 64 blocks of 16 tokens"), out);
            assertEquals("tiny", running.modelName);
            HttpClient http = HttpClient.newHttpClient();
            HttpResponse<String> ready = http.send(HttpRequest.newBuilder(URI.create(running.baseUrl + "/ready")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, ready.statusCode());
            HttpResponse<String> completion = http.send(HttpRequest.newBuilder(URI.create(running.baseUrl
                            + "/v1/completions")).header("Authorization", "Bearer k1")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"tiny\", \"prompt\": \"Hello\","
                            + " \"max_tokens\": 3, \"temperature\": 0}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, completion.statusCode(), completion.body());
            assertTrue(completion.body().contains("\"completion_tokens\":"), completion.body());
        }
    }

    @Test
    void aMissingModelIsAClearErrorAndReleasesThePort() {
        ServeCommand command = parse("--model", dir.resolve("absent.gguf").toString(), "--port", "0");
        RuntimeException e = assertThrows(RuntimeException.class,
                () -> command.start(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8)));
        assertTrue(e.getMessage().contains("absent.gguf"), e.getMessage());
    }

    @Test
    void theDefaultModelNameIsTheFileOrDirectoryName() {
        assertEquals("mixtral-8x7b-q8_0", ServingOptions.defaultName(Path.of("/models/mixtral-8x7b-q8_0.gguf")));
        assertEquals("Qwen3-30B-A3B", ServingOptions.defaultName(Path.of("/models/Qwen3-30B-A3B/")));
    }
}
