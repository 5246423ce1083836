package dev.herd.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.herd.kernels.DType;
import dev.herd.model.config.Architecture;
import dev.herd.model.testmodel.TestModelSpec;
import dev.herd.model.testmodel.TestModelWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code herd demo}: generates (once) a small Mixtral-shaped model with random weights and a real tokenizer,
 * serves it on the OpenAI-compatible API, sends one streamed chat completion over HTTP and prints the reply
 * as it streams, then keeps serving until Ctrl-C (or exits with {@code --exit}).
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Generate a small Mixtral-shaped model (random weights, real BPE tokenizer and chat",
                "template) once, serve it on the OpenAI-compatible API, send one streamed chat completion and",
                "print it, then keep serving until Ctrl-C. The text is meaningless: the weights are random."})
final class DemoCommand implements Callable<Integer> {
    /** Mixtral-shaped: 8 experts, top-2, grouped-query attention; about 60M parameters. */
    static final TestModelSpec DEMO_MODEL = new TestModelSpec(Architecture.MIXTRAL, 512, 4, 8, 4, 64, 0, 8, 2, 1024,
            8192, 1e6, 1, false, 8192, 8192, 2026);
    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--dir", defaultValue = "${sys:user.home}/.cache/herd/demo",
            description = "where the demo model lives (default ${DEFAULT-VALUE})")
    Path dir;
    @Option(names = "--message", defaultValue = "Tell me about the herd that serves large models.",
            description = "the user message (default: ${DEFAULT-VALUE})")
    String message;
    @Option(names = "--max-tokens", defaultValue = "48", description = "most tokens to generate (default ${DEFAULT-VALUE})")
    int maxTokens;
    @Option(names = "--port", defaultValue = "8000", description = "HTTP port, 0 for any free one (default ${DEFAULT-VALUE})")
    int port;
    @Option(names = "--exit", description = "exit after the demo request instead of serving on")
    boolean exit;
    @Mixin
    BackendOptions backendOptions;

    @Override
    public Integer call() throws Exception {
        Path gguf = dir.resolve("mixtral-demo-q8_0.gguf");
        if (!Files.exists(gguf)) {
            System.out.println("Generating the demo model (Mixtral-shaped, 8 experts, top-2, random weights) in " + dir);
            TestModelWriter writer = new TestModelWriter(DEMO_MODEL);
            writer.writeHuggingFace(dir.resolve("hf"), DType.BF16, TestModelWriter.DEFAULT_MAX_SHARD_BYTES);
            writer.writeGguf(gguf, DType.Q8_0);
        }
        System.out.println("Model: " + gguf + " (random weights: expect meaningless text)");
        ServeCommand serve = new ServeCommand();
        List<String> args = new ArrayList<>(List.of("--model", gguf.toString(), "--host", "127.0.0.1",
                "--port", Integer.toString(port), "--served-model-name", "herd-demo", "--backend", backendOptions.backend));
        if (backendOptions.threads != null) {
            args.addAll(List.of("--threads", backendOptions.threads.toString()));
        }
        new CommandLine(serve).parseArgs(args.toArray(String[]::new));
        ServeCommand.Running running = serve.start(System.out);
        try {
            chat(running.baseUrl);
        } catch (Exception e) {
            running.close();
            throw e;
        }
        System.out.println("The model runs in this one process for now; the multi-node cluster is not wired into"
                + " serving yet.");
        if (exit) {
            running.close();
            return 0;
        }
        System.out.println("Serving at " + running.baseUrl + "/v1 (OpenAI-compatible) until Ctrl-C. Try:");
        System.out.println("  curl " + running.baseUrl + "/v1/chat/completions -H 'Content-Type: application/json'"
                + " -d '{\"model\":\"herd-demo\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'");
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            running.close();
            stopped.countDown();
        }, "herd-demo-shutdown"));
        stopped.await();
        return 0;
    }

    /** One streamed chat completion over HTTP, printed as the chunks arrive. */
    private void chat(String baseUrl) throws Exception {
        String body = JSON.writeValueAsString(Map.of("model", "herd-demo", "stream", true, "max_tokens", maxTokens,
                "stream_options", Map.of("include_usage", true),
                "messages", List.of(Map.of("role", "system", "content", "You are the Herd demo model."),
                        Map.of("role", "user", "content", message))));
        HttpRequest request = HttpRequest.newBuilder(URI.create(baseUrl + "/v1/chat/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
        System.out.println("User: " + message);
        System.out.print("Assistant: ");
        try (HttpClient client = HttpClient.newHttpClient()) {
            HttpResponse<java.io.InputStream> response = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
            if (response.statusCode() != 200) {
                throw new IllegalStateException("the demo request failed: HTTP " + response.statusCode() + " "
                        + new String(response.body().readAllBytes(), StandardCharsets.UTF_8));
            }
            JsonNode usage = null;
            String finish = null;
            try (BufferedReader in = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    if (!line.startsWith("data: ") || line.equals("data: [DONE]")) {
                        continue;
                    }
                    JsonNode chunk = JSON.readTree(line.substring(6));
                    for (JsonNode choice : chunk.path("choices")) {
                        String text = choice.path("delta").path("content").asText("");
                        System.out.print(text);
                        System.out.flush();
                        if (!choice.path("finish_reason").isNull() && choice.has("finish_reason")) {
                            finish = choice.get("finish_reason").asText();
                        }
                    }
                    if (chunk.hasNonNull("usage")) {
                        usage = chunk.get("usage");
                    }
                }
            }
            System.out.println();
            System.out.println("[finish_reason " + finish + (usage == null ? "" : ", " + usage.path("prompt_tokens")
                    + " prompt tokens, " + usage.path("completion_tokens") + " completion tokens") + "]");
        }
    }
}
