package dev.herd.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.herd.coordinator.cluster.ClusterEngine;
import dev.herd.coordinator.plan.ShardPlan;
import dev.herd.coordinator.scheduler.Scheduler;
import dev.herd.kernels.Backend;
import dev.herd.kernels.DType;
import dev.herd.model.chat.ChatMessage;
import dev.herd.model.forward.Transformer;
import dev.herd.model.generate.GreedyDecoder;
import dev.herd.model.load.ModelBundle;
import dev.herd.model.weights.ModelWeights;
import dev.herd.model.config.Architecture;
import dev.herd.model.testmodel.TestModelSpec;
import dev.herd.model.testmodel.TestModelWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code herd demo}: generates (once) a small Mixtral-shaped model with random weights and a real tokenizer,
 * starts three shard node processes on loopback that find each other and this coordinator through Hazelcast,
 * plans the model over them, serves it on the OpenAI-compatible API through the cluster, sends one streamed chat
 * completion over HTTP and prints the reply as it streams, checks it against the same request computed in this
 * process alone, then keeps serving until Ctrl-C (or exits with {@code --exit}).
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Generate a small Mixtral-shaped model (random weights, real BPE tokenizer and chat",
                "template) once, start three shard node processes and a coordinator on loopback, serve the model",
                "through them on the OpenAI-compatible API, send one streamed chat completion and print it, then",
                "keep serving until Ctrl-C. The text is meaningless: the weights are random."})
final class DemoCommand implements Callable<Integer> {
    /** Mixtral-shaped: 8 experts, top-2, grouped-query attention; about 60M parameters. */
    static final TestModelSpec DEMO_MODEL = new TestModelSpec(Architecture.MIXTRAL, 512, 4, 8, 4, 64, 0, 8, 2, 1024,
            8192, 1e6, 1, false, 8192, 8192, 2026);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String SYSTEM = "You are the Herd demo model.";
    private static final int NODES = 3;
    /** KV the demo's scheduler may hold (and each stage reserves): 64 blocks of 16 tokens. */
    private static final int KV_BLOCKS = 64;

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
    @Option(names = "--no-cluster", description = "serve from this process alone instead of three shard nodes")
    boolean noCluster;
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
        List<AutoCloseable> open = new ArrayList<>();
        try {
            ServingOptions.Running running = noCluster ? serveHere(gguf) : serveOnCluster(gguf, open);
            open.add(running);
            Reply reply = chat(running.baseUrl);
            checkAgainstOneProcess(gguf, reply);
            if (exit) {
                return 0;
            }
            System.out.println("Serving at " + running.baseUrl + "/v1 (OpenAI-compatible) until Ctrl-C. Try:");
            System.out.println("  curl " + running.baseUrl + "/v1/chat/completions -H 'Content-Type: application/json'"
                    + " -d '{\"model\":\"herd-demo\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'");
            CountDownLatch stopped = new CountDownLatch(1);
            List<AutoCloseable> toClose = List.copyOf(open);
            open.clear();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                closeAll(toClose);
                stopped.countDown();
            }, "herd-demo-shutdown"));
            stopped.await();
            return 0;
        } finally {
            closeAll(open);
        }
    }

    private static void closeAll(List<AutoCloseable> resources) {
        for (AutoCloseable r : resources.reversed()) {
            try {
                r.close();
            } catch (Exception e) {
                System.err.println("herd demo: closing " + r + ": " + e);
            }
        }
    }

    private List<String> servingArgs(Path gguf) {
        List<String> args = new ArrayList<>(List.of("--model", gguf.toString(), "--host", "127.0.0.1",
                "--port", Integer.toString(port), "--served-model-name", "herd-demo",
                "--kv-blocks", Integer.toString(KV_BLOCKS)));
        return args;
    }

    private ServingOptions.Running serveHere(Path gguf) throws InterruptedException {
        ServeCommand serve = new ServeCommand();
        List<String> args = servingArgs(gguf);
        args.addAll(List.of("--backend", backendOptions.backend));
        if (backendOptions.threads != null) {
            args.addAll(List.of("--threads", backendOptions.threads.toString()));
        }
        new CommandLine(serve).parseArgs(args.toArray(String[]::new));
        return serve.start(System.out);
    }

    /**
     * Three shard node processes, each offering a third of the model's memory so that the planner must split it,
     * and a coordinator in this process serving the API through them.
     */
    private ServingOptions.Running serveOnCluster(Path gguf, List<AutoCloseable> open) throws Exception {
        Path logs = dir.resolve("logs");
        Files.createDirectories(logs);
        System.out.println("Starting " + NODES + " shard node processes on loopback (logs in " + logs + "), found"
                + " through Hazelcast, each offering a third of the model's memory...");
        LocalCluster cluster = LocalCluster.start(gguf, NODES, (long) KV_BLOCKS * 16, backendOptions.backend, logs);
        open.add(cluster);
        PrintStream coordinatorLog = new PrintStream(Files.newOutputStream(logs.resolve("coordinator.log")), true,
                StandardCharsets.UTF_8);
        open.add(coordinatorLog);
        CoordinatorCommand coordinator = new CoordinatorCommand();
        List<String> args = servingArgs(gguf);
        args.addAll(List.of("--cluster-name", cluster.name, "--hz-port", Integer.toString(cluster.coordinatorPort),
                "--seeds", String.join(",", cluster.seeds), "--min-nodes", Integer.toString(NODES)));
        new CommandLine(coordinator).parseArgs(args.toArray(String[]::new));
        ServingOptions.Running running = coordinator.start(coordinatorLog);
        ShardPlan plan = coordinator.engine.awaitServing(Duration.ofSeconds(120));
        System.out.println("Plan: " + ClusterEngine.describe(plan));
        return running;
    }

    /** What the server answered: the text and how many tokens it generated. */
    record Reply(String text, int completionTokens) {
    }

    /** The same greedy request computed by this process alone: the served reply must be the same text. */
    private void checkAgainstOneProcess(Path gguf, Reply reply) {
        try (ModelBundle bundle = ModelBundle.open(gguf);
             ModelWeights weights = new ModelWeights(bundle.files().config(), bundle.files().store(),
                     bundle.files().format());
             Backend backend = backendOptions.create(new PrintStream(OutputStream.nullOutputStream()))) {
            String prompt = bundle.chatTemplate().orElseThrow().render(List.of(ChatMessage.system(SYSTEM),
                    ChatMessage.user(message)), true, Map.of());
            int[] ids = bundle.tokenizer().encode(prompt, false);
            int[] out = new GreedyDecoder(new Transformer(weights, backend)).generate(ids, reply.completionTokens(),
                    Scheduler.endOfSequenceIds(bundle.files().config(), bundle.tokenizer()), t -> {
                    });
            String text = bundle.tokenizer().decode(out, true);
            System.out.println("[the same request in this process alone: " + (text.equals(reply.text())
                    ? "identical reply" : "DIFFERENT reply: " + text) + "]");
        }
    }

    /** One streamed chat completion over HTTP, printed as the chunks arrive. */
    private Reply chat(String baseUrl) throws Exception {
        String body = JSON.writeValueAsString(Map.of("model", "herd-demo", "stream", true, "max_tokens", maxTokens,
                "temperature", 0,
                "stream_options", Map.of("include_usage", true),
                "messages", List.of(Map.of("role", "system", "content", SYSTEM),
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
            StringBuilder text = new StringBuilder();
            try (BufferedReader in = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    if (!line.startsWith("data: ") || line.equals("data: [DONE]")) {
                        continue;
                    }
                    JsonNode chunk = JSON.readTree(line.substring(6));
                    for (JsonNode choice : chunk.path("choices")) {
                        String piece = choice.path("delta").path("content").asText("");
                        System.out.print(piece);
                        System.out.flush();
                        text.append(piece);
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
            return new Reply(text.toString(), usage == null ? maxTokens : usage.path("completion_tokens").asInt());
        }
    }
}
