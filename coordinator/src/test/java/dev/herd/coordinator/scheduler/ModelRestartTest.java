package dev.herd.coordinator.scheduler;

import dev.herd.coordinator.TestModel;
import dev.herd.coordinator.metrics.ServingMetrics;
import dev.herd.model.sampling.SampledToken;
import dev.herd.model.sampling.SamplingParams;
import io.prometheus.client.CollectorRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A model that loses every sequence's state in the middle of generation (a cluster switching plans) and is then
 * unavailable for a while: accepted requests still complete, with exactly the tokens of an undisturbed run, and
 * new requests are refused while nothing can run.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ModelRestartTest {
    @TempDir
    static Path dir;
    static TestModel model;

    @BeforeAll
    static void load() {
        model = TestModel.create(dir);
    }

    @AfterAll
    static void unload() {
        model.close();
    }

    /**
     * The local model, restarting at one chosen step counted from when every request's sequences are open (so
     * that all were accepted before it restarts, however slowly the test submits them): that step throws, every sequence opened before becomes
     * unusable (stepping it fails the test), and the model reports itself unavailable for a while.
     */
    private static final class RestartingRunner implements ModelRunner {
        private final ModelRunner local = ModelRunner.local(model.transformer);
        private final int restartAtStep;
        private final int sequences;
        private final long unavailableNanos;
        private int opened;
        private final Set<ModelSequence> lost = new HashSet<>();
        private final List<ModelSequence> open = new ArrayList<>();
        private int steps;
        private volatile long availableAt;
        volatile boolean restarted;

        RestartingRunner(int restartAtStep, int sequences, Duration unavailable) {
            this.restartAtStep = restartAtStep;
            this.sequences = sequences;
            this.unavailableNanos = unavailable.toNanos();
        }

        @Override
        public ModelSequence open(SamplingParams params, long seed, int[] history, int promptLength) {
            ModelSequence s = local.open(params, seed, history, promptLength);
            open.add(s);
            opened++;
            return s;
        }

        @Override
        public List<SampledToken> step(List<Work> items) {
            for (Work w : items) {
                if (lost.contains(w.sequence())) {
                    throw new AssertionError("a sequence lost in the restart was stepped again");
                }
            }
            if (opened >= sequences && ++steps == restartAtStep) {
                lost.addAll(open);
                open.clear();
                restarted = true;
                availableAt = System.nanoTime() + unavailableNanos;
                throw new ModelRestartedException("plan epoch 1 was replaced", null);
            }
            return local.step(items);
        }

        @Override
        public void release(ModelSequence sequence) {
            open.remove(sequence);
            local.release(sequence);
        }

        @Override
        public int vocabSize() {
            return local.vocabSize();
        }

        @Override
        public int contextLength() {
            return local.contextLength();
        }

        @Override
        public String unavailable() {
            return restarted && System.nanoTime() < availableAt ? "re-planning for 3 node(s)" : null;
        }
    }

    private static Scheduler scheduler(ModelRunner runner, Duration maxUnavailable) {
        return new Scheduler(runner, model.tokenizer(), model.eos,
                SchedulerSettings.of(32, 1024).withMaxUnavailable(maxUnavailable),
                new ServingMetrics(new CollectorRegistry()));
    }

    private static List<GenerationRequest> requests() {
        List<GenerationRequest> out = new ArrayList<>();
        String[] prompts = {"The herd moves on", "Experts route tokens to", "Once upon a time there", "Hello"};
        for (int i = 0; i < prompts.length; i++) {
            SamplingParams p = i % 2 == 0 ? SamplingParams.greedy()
                    : new SamplingParams(1.5, 40, 0.95, 0, 0.3, 0.2, 1.1, null, 1000L + i, true, 2);
            out.add(new GenerationRequest("r" + i, model.tokenizer().encode(prompts[i], false), p, 12, List.of(),
                    i == 3 ? 2 : 1));
        }
        return out;
    }

    private static List<CollectingSink> run(Scheduler scheduler, List<GenerationRequest> requests) throws Exception {
        List<CollectingSink> sinks = new ArrayList<>();
        for (GenerationRequest r : requests) {
            CollectingSink sink = new CollectingSink(r.n());
            scheduler.submit(r, sink);
            sinks.add(sink);
        }
        for (CollectingSink s : sinks) {
            s.await();
        }
        return sinks;
    }

    @Test
    void requestsRunningAcrossARestartGiveTheTokensOfAnUndisturbedRun() throws Exception {
        List<GenerationRequest> requests = requests();
        List<CollectingSink> undisturbed;
        try (Scheduler s = scheduler(ModelRunner.local(model.transformer), Duration.ofSeconds(10))) {
            undisturbed = run(s, requests);
        }
        RestartingRunner runner = new RestartingRunner(5, requests.stream().mapToInt(GenerationRequest::n).sum(),
                Duration.ofSeconds(1));
        try (Scheduler s = scheduler(runner, Duration.ofSeconds(10))) {
            List<CollectingSink> disturbed = new ArrayList<>();
            for (GenerationRequest r : requests) {
                CollectingSink sink = new CollectingSink(r.n());
                s.submit(r, sink);
                disturbed.add(sink);
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!runner.restarted && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertTrue(runner.restarted, "the restart happened while the requests ran");
            // within the second the model is away, new requests are refused with its reason
            RequestRejectedException e = assertThrows(RequestRejectedException.class,
                    () -> s.submit(requests.getFirst(), new CollectingSink(1)));
            assertEquals(RequestRejectedException.Reason.MODEL_UNAVAILABLE, e.reason());
            assertTrue(e.getMessage().contains("re-planning for 3 node(s)"), e.getMessage());
            for (int i = 0; i < requests.size(); i++) {
                disturbed.get(i).await();
                for (int c = 0; c < requests.get(i).n(); c++) {
                    assertArrayEquals(undisturbed.get(i).ids(c), disturbed.get(i).ids(c), "request " + i
                            + " choice " + c);
                    assertEquals(undisturbed.get(i).text(c), disturbed.get(i).text(c));
                }
            }
            assertTrue(s.stats().preemptions() > 0, "the running sequences were recomputed: " + s.stats());
        }
    }

    @Test
    void requestsFailWithTheReasonWhenTheModelStaysUnavailable() throws Exception {
        RestartingRunner runner = new RestartingRunner(2, 1, Duration.ofHours(1));
        try (Scheduler s = scheduler(runner, Duration.ofMillis(400))) {
            CollectingSink sink = new CollectingSink(1);
            s.submit(requests().getFirst(), sink);
            ExecutionException e = assertThrows(ExecutionException.class, sink::await);
            assertTrue(e.getCause().getMessage().contains("the model could not serve for 400 ms: re-planning for 3"
                    + " node(s)"), e.getCause().getMessage());
            SchedulerTest.awaitStats(s, st -> st.runningSequences() == 0 && st.waitingSequences() == 0 && st.kvBlocksUsed() == 0);
        }
    }
}
