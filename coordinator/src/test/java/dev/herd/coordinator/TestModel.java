package dev.herd.coordinator;

import dev.herd.coordinator.metrics.ServingMetrics;
import dev.herd.coordinator.scheduler.ModelRunner;
import dev.herd.coordinator.scheduler.Scheduler;
import dev.herd.coordinator.scheduler.SchedulerSettings;
import dev.herd.kernels.DType;
import dev.herd.kernels.ReferenceBackend;
import dev.herd.model.config.Architecture;
import dev.herd.model.forward.Transformer;
import dev.herd.model.generate.GreedyDecoder;
import dev.herd.model.load.ModelBundle;
import dev.herd.model.testmodel.TestModelSpec;
import dev.herd.model.testmodel.TestModelWriter;
import dev.herd.model.tokenizer.Tokenizer;
import dev.herd.model.weights.ModelWeights;
import io.prometheus.client.CollectorRegistry;

import java.nio.file.Path;
import java.util.Set;

/**
 * A small generated Mixtral-shaped model (random weights, real BPE tokenizer and ChatML template) loaded for
 * serving tests, with the greedy decoder as the independent reference.
 */
public final class TestModel implements AutoCloseable {
    public final ModelBundle bundle;
    public final ModelWeights weights;
    public final ReferenceBackend backend;
    public final Transformer transformer;
    public final Set<Integer> eos;
    /** The model file. */
    public final Path file;

    private TestModel(Path file) {
        this.file = file;
        bundle = ModelBundle.open(file);
        weights = new ModelWeights(bundle.files().config(), bundle.files().store(), bundle.files().format());
        backend = new ReferenceBackend(1);
        transformer = new Transformer(weights, backend);
        eos = Scheduler.endOfSequenceIds(bundle.files().config(), bundle.tokenizer());
    }

    /** Writes the model as an F32 GGUF under {@code dir} and loads it. */
    public static TestModel create(Path dir) {
        Path file = new TestModelWriter(TestModelSpec.small(Architecture.MIXTRAL))
                .writeGguf(dir.resolve("mixtral-small-f32.gguf"), DType.F32);
        return new TestModel(file);
    }

    public Tokenizer tokenizer() {
        return bundle.tokenizer();
    }

    public Scheduler scheduler(SchedulerSettings settings) {
        return new Scheduler(ModelRunner.local(transformer), tokenizer(), eos, settings,
                new ServingMetrics(new CollectorRegistry()));
    }

    /** The reference: the prompt decoded greedily on its own, one sequence, no scheduler. */
    public int[] greedy(int[] prompt, int maxTokens) {
        return new GreedyDecoder(transformer).generate(prompt, maxTokens, eos, id -> {
        });
    }

    @Override
    public void close() {
        weights.close();
        bundle.close();
        backend.close();
    }
}
