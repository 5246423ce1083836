package dev.herd.cli;

import dev.herd.coordinator.api.ApiServer;
import dev.herd.coordinator.api.ApiSettings;
import dev.herd.coordinator.api.ServedModel;
import dev.herd.coordinator.metrics.ServingMetrics;
import dev.herd.coordinator.scheduler.ModelRunner;
import dev.herd.coordinator.scheduler.Scheduler;
import dev.herd.coordinator.scheduler.SchedulerSettings;
import dev.herd.model.config.ModelConfig;
import dev.herd.model.load.ModelBundle;
import io.prometheus.client.CollectorRegistry;
import io.vertx.core.Vertx;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The HTTP API and the scheduler in front of a model, whichever runs it: this process ({@code herd serve}) or a
 * cluster of shard nodes ({@code herd coordinator}, {@code herd demo}). Listens first (503 on /ready while the
 * model loads), then prints the URL once ready.
 */
final class ServingOptions {
    @Option(names = "--host", defaultValue = "127.0.0.1", description = "HTTP address to listen on (default ${DEFAULT-VALUE})")
    String host;
    @Option(names = "--port", defaultValue = "8000", description = "HTTP port, 0 for any free one (default ${DEFAULT-VALUE})")
    int port;
    @Option(names = "--api-key", description = {"accepted bearer key (repeatable); none means no authentication.",
            "HERD_API_KEY (like every option's HERD_ variable) keeps it out of the process list."})
    List<String> apiKeys = new ArrayList<>();
    @Option(names = "--served-model-name", description = "the model id clients send (default: the file or directory name)")
    String servedName;
    @Option(names = "--max-batch-tokens", defaultValue = "512",
            description = "tokens per forward step: running decodes plus prefill chunks (default ${DEFAULT-VALUE})")
    int maxBatchTokens;
    @Option(names = "--kv-blocks", description = "KV budget in blocks (default: four full contexts, at most 4 x 32768 tokens)")
    Integer kvBlocks;
    @Option(names = "--block-size", defaultValue = "16", description = "tokens per KV block (default ${DEFAULT-VALUE})")
    int blockSize;
    @Option(names = "--max-queue", defaultValue = "256",
            description = "requests waiting to start before new ones get 429 (default ${DEFAULT-VALUE})")
    int maxQueue;
    @Option(names = "--max-running", description = "sequences running at once (default: min(256, max batch tokens))")
    Integer maxRunning;
    @Option(names = "--max-body-bytes", defaultValue = "4194304", description = "largest request body (default ${DEFAULT-VALUE})")
    long maxBodyBytes;

    /** Builds the model runner once the model's files are open; what it opens goes into {@code resources}. */
    @FunctionalInterface
    interface RunnerFactory {
        Loaded load(ModelBundle bundle, SchedulerSettings settings, List<AutoCloseable> resources) throws Exception;
    }

    /** A runner and one line describing where it runs, for the log. */
    record Loaded(ModelRunner runner, String where) {
    }

    /** A started server: its address, and everything to release when it stops. */
    static final class Running implements AutoCloseable {
        final String baseUrl;
        final String modelName;
        private final String command;
        private final Vertx vertx;
        private final ApiServer api;
        private final List<AutoCloseable> resources;

        private Running(String command, String baseUrl, String modelName, Vertx vertx, ApiServer api,
                        List<AutoCloseable> resources) {
            this.command = command;
            this.baseUrl = baseUrl;
            this.modelName = modelName;
            this.vertx = vertx;
            this.api = api;
            this.resources = resources;
        }

        @Override
        public void close() {
            try {
                api.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                // going down anyway: report and keep releasing the rest
                System.err.println(command + ": closing the HTTP server: " + e);
            }
            for (AutoCloseable r : resources.reversed()) {
                try {
                    r.close();
                } catch (Exception e) {
                    System.err.println(command + ": closing " + r + ": " + e);
                }
            }
            vertx.close();
        }
    }

    /**
     * The scheduler's limits for a model of {@code context} positions (the KV budget defaults to four full contexts).
     */
    SchedulerSettings schedulerSettings(int context) {
        int blocks = kvBlocks != null ? kvBlocks
                : (int) Math.min(Integer.MAX_VALUE, (4L * Math.min(context, 32768) + blockSize - 1) / blockSize);
        return new SchedulerSettings(maxBatchTokens, blocks, blockSize, maxQueue,
                maxRunning != null ? maxRunning : Math.min(256, maxBatchTokens),
                SchedulerSettings.DEFAULT_MAX_UNAVAILABLE);
    }

    /**
     * Listens, opens the model's files (config, tokenizer, chat template), builds its runner, and reports the URL
     * once requests are served.
     *
     * @param command how log lines start, e.g. "herd serve"
     */
    Running start(String command, Path model, RunnerFactory factory, PrintStream out) throws InterruptedException {
        List<String> keys = apiKeys.stream().map(String::trim).filter(k -> !k.isEmpty()).toList();
        ApiSettings apiSettings = new ApiSettings(host, port, keys, maxBodyBytes);
        CollectorRegistry registry = new CollectorRegistry();
        ServingMetrics metrics = new ServingMetrics(registry);
        Vertx vertx = Vertx.vertx();
        ApiServer api = new ApiServer(vertx, apiSettings, metrics, registry);
        int bound;
        try {
            bound = api.start().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
            vertx.close();
            throw new IllegalArgumentException("cannot listen on " + host + ":" + port + ": "
                    + (e.getCause() != null ? e.getCause().getMessage() : e.getMessage()), e);
        }
        String base = "http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + bound;
        out.println(command + ": listening on " + base + " (loading " + model + "; /ready answers 503 until done)");

        List<AutoCloseable> resources = new ArrayList<>();
        String name = servedName != null ? servedName : defaultName(model);
        Running running = new Running(command, base, name, vertx, api, resources);
        try {
            long start = System.nanoTime();
            ModelBundle bundle = ModelBundle.open(model);
            resources.add(bundle);
            ModelConfig config = bundle.files().config();
            int context = config.maxPositions();
            SchedulerSettings settings = schedulerSettings(context);
            Loaded loaded = factory.load(bundle, settings, resources);
            Scheduler scheduler = new Scheduler(loaded.runner(), bundle.tokenizer(),
                    Scheduler.endOfSequenceIds(config, bundle.tokenizer()), settings, metrics);
            resources.add(scheduler);
            api.ready(new ServedModel(name, bundle.tokenizer(), bundle.chatTemplate(), context, scheduler,
                    System.currentTimeMillis() / 1000));
            long kvBytes = settings.kvTokens() * config.numLayers() * config.kvDim() * 2L * Float.BYTES;
            out.printf("%s: %s loaded in %.1f s (%s, %d layers, context %d, %s); KV budget %d blocks of %d tokens"
                            + " (%d tokens, %.1f MiB of keys and values); %d tokens per step%n", command, name,
                    (System.nanoTime() - start) / 1e9, config.arch(), config.numLayers(), context, loaded.where(),
                    settings.kvBlocks(), blockSize, settings.kvTokens(), kvBytes / (1024.0 * 1024.0), maxBatchTokens);
        } catch (Exception e) {
            // nothing half-started: the port and whatever was loaded are released before the error goes up
            running.close();
            if (e instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalStateException(command + ": could not start: " + e.getMessage(), e);
        }
        out.println(command + ": ready at " + base + "/v1 (model '" + name + "'"
                + (keys.isEmpty() ? "" : ", API key required") + ")");
        out.flush();
        return running;
    }

    /** The id clients send: the GGUF file name without its extension, or the directory's name. */
    static String defaultName(Path model) {
        String file = model.toAbsolutePath().normalize().getFileName().toString();
        return file.endsWith(".gguf") ? file.substring(0, file.length() - 5) : file;
    }

    /** Blocks until the JVM shuts down (Ctrl-C), then closes {@code running}. */
    static void serveUntilShutdown(String command, Running running) throws InterruptedException {
        java.util.concurrent.CountDownLatch stopped = new java.util.concurrent.CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println(command + ": shutting down");
            running.close();
            stopped.countDown();
        }, "herd-shutdown"));
        stopped.await();
    }
}
