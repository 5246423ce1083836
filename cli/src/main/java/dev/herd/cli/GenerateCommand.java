package dev.herd.cli;

import dev.herd.kernels.Backend;
import dev.herd.model.chat.ChatMessage;
import dev.herd.model.chat.ChatTemplate;
import dev.herd.model.forward.Transformer;
import dev.herd.model.generate.GreedyDecoder;
import dev.herd.model.load.ModelBundle;
import dev.herd.model.tokenizer.StreamingDecoder;
import dev.herd.model.weights.ModelWeights;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

/** {@code herd generate}: greedy text generation from a model on disk, in this process. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = {"Generate text greedily from a model (a Hugging Face directory or a GGUF file),",
                "in this process, streaming tokens as they come."})
final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "model directory or .gguf file")
    Path model;
    @Option(names = "--prompt", description = "raw text to continue")
    String prompt;
    @Option(names = "--chat", description = "a user message, rendered through the model's chat template")
    String chat;
    @Option(names = "--system", description = "a system message for --chat")
    String system;
    @Option(names = "--max-tokens", defaultValue = "64", description = "most tokens to generate (default ${DEFAULT-VALUE})")
    int maxTokens;
    @Mixin
    BackendOptions backendOptions;

    @Override
    public Integer call() {
        if ((prompt == null) == (chat == null)) {
            throw new IllegalArgumentException("give exactly one of --prompt or --chat");
        }
        try (ModelBundle bundle = ModelBundle.open(model);
             ModelWeights weights = new ModelWeights(bundle.files().config(), bundle.files().store(),
                     bundle.files().format());
             Backend backend = backendOptions.create(System.err)) {
            run(bundle, weights, backend, prompt, chat, system, maxTokens, System.out, System.err);
        }
        return 0;
    }

    /** Renders, tokenizes, generates and streams; shared with {@code herd demo}. */
    static void run(ModelBundle bundle, ModelWeights weights, Backend backend, String prompt, String chat,
                    String system, int maxTokens, PrintStream out, PrintStream log) {
        String text = prompt;
        boolean addSpecial = true;
        if (chat != null) {
            ChatTemplate template = bundle.chatTemplate().orElseThrow(() -> new IllegalArgumentException(
                    bundle.files().path() + " has no chat template; use --prompt"));
            List<ChatMessage> messages = new ArrayList<>();
            if (system != null) {
                messages.add(ChatMessage.system(system));
            }
            messages.add(ChatMessage.user(chat));
            text = template.render(messages, true, Map.of());
            addSpecial = false; // the template already wrote what belongs around the conversation
        }
        int[] ids = bundle.tokenizer().encode(text, addSpecial);
        Set<Integer> stop = new HashSet<>(bundle.files().config().eosTokenIds());
        if (bundle.tokenizer().eosId() >= 0) {
            stop.add(bundle.tokenizer().eosId());
        }
        Transformer transformer = new Transformer(weights, backend);
        StreamingDecoder decoder = bundle.tokenizer().streamingDecoder(true);
        long start = System.nanoTime();
        long[] firstToken = {0};
        int[] generated = new GreedyDecoder(transformer).generate(ids, maxTokens, stop, id -> {
            if (firstToken[0] == 0) {
                firstToken[0] = System.nanoTime();
            }
            out.print(decoder.next(id));
            out.flush();
        });
        out.println(decoder.flush());
        long end = System.nanoTime();
        double prefillS = (firstToken[0] - start) / 1e9;
        double decodeS = (end - firstToken[0]) / 1e9;
        log.printf("[%d prompt tokens in %.2f s, %d generated in %.2f s (%.1f tokens/s), backend %s]%n",
                ids.length, prefillS, generated.length, decodeS,
                generated.length > 1 ? (generated.length - 1) / decodeS : 0.0, backend.name());
    }
}
