package dev.herd.cli;

import dev.herd.kernels.DType;
import dev.herd.model.config.Architecture;
import dev.herd.model.testmodel.TestModelSpec;
import dev.herd.model.testmodel.TestModelWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code herd make-test-model}: a deterministic random-weight model as a Hugging Face directory and GGUF files. */
@Command(name = "make-test-model", mixinStandardHelpOptions = true,
        description = {"Write a deterministic random-weight model of a supported architecture, as a Hugging Face",
                "directory (safetensors, config.json, tokenizer.json) and as GGUF files of the same weights.",
                "The weights are random: the model computes a real function but says nothing meaningful."})
final class MakeTestModelCommand implements Callable<Integer> {
    @Option(names = "--arch", required = true, description = "llama, mixtral, qwen3_moe or llama4")
    String arch;
    @Option(names = "--out", required = true, description = "output directory")
    Path out;
    @Option(names = "--hidden", defaultValue = "256", description = "hidden size (default ${DEFAULT-VALUE})")
    int hidden;
    @Option(names = "--layers", defaultValue = "4", description = "decoder layers (default ${DEFAULT-VALUE})")
    int layers;
    @Option(names = "--heads", defaultValue = "8", description = "attention heads (default ${DEFAULT-VALUE})")
    int heads;
    @Option(names = "--kv-heads", defaultValue = "4", description = "key/value heads (default ${DEFAULT-VALUE})")
    int kvHeads;
    @Option(names = "--head-dim", description = "dims per head (default hidden / heads)")
    Integer headDim;
    @Option(names = "--ffn", defaultValue = "512", description = "dense FFN size (default ${DEFAULT-VALUE})")
    int ffn;
    @Option(names = "--experts", defaultValue = "8", description = "routed experts (default ${DEFAULT-VALUE})")
    int experts;
    @Option(names = "--top-k", description = "experts per token (default 2; 1 for llama4)")
    Integer topK;
    @Option(names = "--expert-ffn", defaultValue = "512", description = "expert FFN size (default ${DEFAULT-VALUE})")
    int expertFfn;
    @Option(names = "--vocab", defaultValue = "4096", description = "vocabulary size (default ${DEFAULT-VALUE})")
    int vocab;
    @Option(names = "--moe-step", defaultValue = "1", description = "llama4: every n-th layer is MoE (default ${DEFAULT-VALUE})")
    int moeStep;
    @Option(names = "--rope-theta", description = "rotary base (default per family)")
    Double ropeTheta;
    @Option(names = "--rope-scaling", description = "add Llama 3 rope scaling")
    boolean ropeScaling;
    @Option(names = "--seed", defaultValue = "1", description = "weight seed (default ${DEFAULT-VALUE})")
    long seed;
    @Option(names = "--hf-dtype", defaultValue = "F32", description = "safetensors dtype: F32, F16, BF16 (default ${DEFAULT-VALUE})")
    DType hfDtype;
    @Option(names = "--gguf", split = ",", defaultValue = "F32,Q8_0",
            description = "GGUF types to write: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K (default ${DEFAULT-VALUE}); 'none' for none")
    List<String> ggufTypes;
    @Option(names = "--no-hf", description = "skip the Hugging Face directory")
    boolean noHf;

    @Override
    public Integer call() {
        Architecture a = Architectures.parse(arch);
        int k = topK != null ? topK : a == Architecture.LLAMA4 ? 1 : 2;
        double theta = ropeTheta != null ? ropeTheta : switch (a) {
            case LLAMA, LLAMA4 -> 500000.0;
            default -> 1000000.0;
        };
        TestModelSpec spec = new TestModelSpec(a, hidden, layers, heads, kvHeads,
                headDim != null ? headDim : hidden / heads, ffn, a == Architecture.LLAMA ? 0 : experts,
                a == Architecture.LLAMA ? 0 : k, expertFfn, vocab, theta, moeStep, ropeScaling, 8192, 8192, seed);
        TestModelWriter writer = new TestModelWriter(spec);
        if (!noHf) {
            Path hf = writer.writeHuggingFace(out.resolve("hf"), hfDtype, TestModelWriter.DEFAULT_MAX_SHARD_BYTES);
            System.out.println("wrote " + hf);
        }
        for (String t : ggufTypes) {
            if (t.equalsIgnoreCase("none")) {
                continue;
            }
            DType type = DType.valueOf(t.toUpperCase());
            Path file = writer.writeGguf(out.resolve("model-" + type.name().toLowerCase() + ".gguf"), type);
            System.out.println("wrote " + file);
        }
        return 0;
    }
}
