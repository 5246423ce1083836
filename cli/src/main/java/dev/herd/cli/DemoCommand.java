package dev.herd.cli;

import dev.herd.kernels.Backend;
import dev.herd.kernels.DType;
import dev.herd.model.config.Architecture;
import dev.herd.model.load.ModelBundle;
import dev.herd.model.testmodel.TestModelSpec;
import dev.herd.model.testmodel.TestModelWriter;
import dev.herd.model.weights.ModelWeights;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code herd demo}: generates (once) a small Mixtral-shaped model with random weights and a real
 * tokenizer, then chats with it through its chat template, streaming the reply.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Generate a small Mixtral-shaped model (random weights, real BPE tokenizer and chat",
                "template) once, then chat with it, streaming the reply. The text is meaningless: the",
                "weights are random. Serving runs in this one process for now."})
final class DemoCommand implements Callable<Integer> {
    /** Mixtral-shaped: 8 experts, top-2, grouped-query attention; about 60M parameters. */
    static final TestModelSpec DEMO_MODEL = new TestModelSpec(Architecture.MIXTRAL, 512, 4, 8, 4, 64, 0, 8, 2, 1024,
            8192, 1e6, 1, false, 8192, 8192, 2026);

    @Option(names = "--dir", defaultValue = "${sys:user.home}/.cache/herd/demo",
            description = "where the demo model lives (default ${DEFAULT-VALUE})")
    Path dir;
    @Option(names = "--message", defaultValue = "Tell me about the herd that serves large models.",
            description = "the user message (default: ${DEFAULT-VALUE})")
    String message;
    @Option(names = "--max-tokens", defaultValue = "48", description = "most tokens to generate (default ${DEFAULT-VALUE})")
    int maxTokens;
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
        try (ModelBundle bundle = ModelBundle.open(gguf);
             ModelWeights weights = new ModelWeights(bundle.files().config(), bundle.files().store(),
                     bundle.files().format());
             Backend backend = backendOptions.create(System.out)) {
            System.out.println("User: " + message);
            System.out.print("Assistant: ");
            GenerateCommand.run(bundle, weights, backend, null, message, "You are the Herd demo model.", maxTokens,
                    System.out, System.out);
        }
        System.out.println("The cluster (coordinator, shard nodes, OpenAI-compatible API) is not built yet;"
                + " this demo ran the model in one process.");
        return 0;
    }
}
