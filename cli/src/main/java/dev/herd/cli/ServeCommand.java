package dev.herd.cli;

import dev.herd.coordinator.scheduler.ModelRunner;
import dev.herd.kernels.Backend;
import dev.herd.model.forward.Transformer;
import dev.herd.model.weights.ModelWeights;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;

/**
 * {@code herd serve}: one process serving one model over the OpenAI-compatible HTTP API, with continuous
 * batching. It listens first (answering 503 on /ready while the model loads), then prints the URL once ready.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Serve a model (a Hugging Face directory or a GGUF file) over an OpenAI-compatible HTTP API",
                "(/v1/chat/completions, /v1/completions, /v1/models; /health, /ready, /metrics) from this process,",
                "batching concurrent requests continuously."})
final class ServeCommand implements java.util.concurrent.Callable<Integer> {
    @Option(names = "--model", required = true, description = "model directory or .gguf file")
    Path model;
    @Mixin
    ServingOptions serving;
    @Mixin
    BackendOptions backendOptions;

    @Override
    public Integer call() throws Exception {
        ServingOptions.serveUntilShutdown("herd serve", start(System.out));
        return 0;
    }

    /** Listens, loads the model into this process, and reports the URL once requests are served. */
    ServingOptions.Running start(PrintStream out) throws InterruptedException {
        return serving.start("herd serve", model, (bundle, settings, resources) -> {
            ModelWeights weights = new ModelWeights(bundle.files().config(), bundle.files().store(),
                    bundle.files().format());
            resources.add(weights);
            Backend backend = backendOptions.create(out);
            resources.add(backend);
            return new ServingOptions.Loaded(ModelRunner.local(new Transformer(weights, backend)),
                    "backend " + backend.name());
        }, out);
    }
}
