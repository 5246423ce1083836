package dev.herd.shard;

import dev.herd.kernels.Backend;
import dev.herd.model.config.Architecture;
import dev.herd.model.config.ModelConfig;
import dev.herd.model.forward.KvCache;
import dev.herd.model.forward.Transformer;
import dev.herd.model.generate.GreedyDecoder;
import dev.herd.model.load.ModelFiles;
import dev.herd.model.testmodel.TestModelSpec;
import dev.herd.model.testmodel.TestModelWriter;
import dev.herd.model.weights.ModelWeights;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Generated F32 models and their single-process greedy decode: the reference distributed runs must equal. */
final class TestModels {
    static final int[] PROMPT = {1, 17, 99, 250, 3, 77, 400};

    private TestModels() {
    }

    static Path write(Path dir, Architecture arch) {
        return new TestModelWriter(TestModelSpec.small(arch)).writeGguf(dir.resolve(arch + ".gguf"),
                dev.herd.kernels.DType.F32);
    }

    /**
     * @param tokens chosen ids, the first from the prompt's prefill
     * @param logits the logits each token was chosen from
     */
    record Reference(int[] tokens, List<float[]> logits) {
    }

    /** Prefill {@link #PROMPT}, then greedy decode until {@code count} tokens, in one process. */
    static Reference decode(Path model, Backend backend, int count) {
        try (ModelFiles files = ModelFiles.open(model);
             ModelWeights w = new ModelWeights(files.config(), files.store(), files.format())) {
            ModelConfig c = files.config();
            Transformer t = new Transformer(w, backend);
            KvCache cache = new KvCache(c);
            List<float[]> logits = new ArrayList<>();
            int[] tokens = new int[count];
            float[] l = t.forward(PROMPT, cache);
            for (int i = 0; i < count; i++) {
                logits.add(l);
                tokens[i] = GreedyDecoder.argmax(l);
                if (i + 1 < count) {
                    l = t.forward(new int[]{tokens[i]}, cache);
                }
            }
            return new Reference(tokens, logits);
        }
    }
}
