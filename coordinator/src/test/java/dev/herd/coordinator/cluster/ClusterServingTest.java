package dev.herd.coordinator.cluster;

import dev.herd.coordinator.TestModel;
import dev.herd.coordinator.metrics.ServingMetrics;
import dev.herd.coordinator.plan.ShardPlan;
import dev.herd.coordinator.scheduler.FinishReason;
import dev.herd.coordinator.scheduler.GenerationRequest;
import dev.herd.coordinator.scheduler.GenerationSink;
import dev.herd.coordinator.scheduler.ModelRunner;
import dev.herd.coordinator.scheduler.Scheduler;
import dev.herd.coordinator.scheduler.SchedulerSettings;
import dev.herd.coordinator.scheduler.Usage;
import dev.herd.model.sampling.SampledToken;
import dev.herd.model.sampling.SamplingParams;
import io.prometheus.client.CollectorRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The scheduler over a cluster of four shard nodes (separate instances in this JVM, each with room for about a
 * third of the model) against the scheduler over one process: 32 concurrent requests, greedy and sampled (seeds,
 * temperature, top-k/p, min-p, penalties, logit bias, log-probabilities, several choices), give the same tokens and
 * log-probabilities, half of them copying a shared system prompt's KV from earlier sequences on the stages); and
 * while they run, a node is lost: the cluster re-plans over the other three, the running
 * sequences are recomputed there, and every request still completes with the tokens one process gives.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class ClusterServingTest {
    private static final int REQUESTS = 32;

    @TempDir
    Path dir;

    /** Every sampled token of one request, per choice, and how each choice finished. */
    private static final class Recording implements GenerationSink {
        final List<List<SampledToken>> tokens = new ArrayList<>();
        final List<FinishReason> finishes = new ArrayList<>();
        final CompletableFuture<Usage> done = new CompletableFuture<>();

        Recording(int n) {
            for (int i = 0; i < n; i++) {
                tokens.add(new ArrayList<>());
                finishes.add(null);
            }
        }

        @Override
        public synchronized void onToken(int choice, String text, SampledToken token) {
            if (token != null) {
                tokens.get(choice).add(token);
            }
        }

        @Override
        public synchronized void onFinish(int choice, FinishReason reason) {
            finishes.set(choice, reason);
        }

        @Override
        public void onComplete(Usage usage) {
            done.complete(usage);
        }

        @Override
        public void onError(String message) {
            done.completeExceptionally(new AssertionError("request failed: " + message));
        }
    }

    private static List<GenerationRequest> requests(TestModel model) {
        String[] words = {"The herd", "Serving large models", "A quick brown fox", "Experts route tokens",
                "Once upon a time", "Continuous batching keeps", "Hello", "Why is the sky"};
        List<GenerationRequest> out = new ArrayList<>();
        for (int i = 0; i < REQUESTS; i++) {
            // half the prompts share a system prompt of several KV blocks: later ones copy it (prefix caching)
            String system = i % 2 == 0 ? "You are the Herd test model; experts route tokens and the herd serves"
                    + " large models on ordinary machines. " : "";
            int[] prompt = model.tokenizer().encode(system + words[i % words.length] + " number " + i, false);
            SamplingParams p = switch (i % 4) {
                case 0 -> SamplingParams.greedy();
                case 1 -> SamplingParams.sampled(1.0, 100 + i);
                case 2 -> new SamplingParams(1.4, 50, 0.9, 0.02, 0.5, 0.3, 1.2, Map.of(7, 3.5f), 200L + i, true, 3);
                default -> new SamplingParams(0, 0, 1, 0, 0, 0, 1.3, null, null, true, 2);
            };
            out.add(new GenerationRequest("r" + i, prompt, p, 6 + i % 9, List.of(), i % 8 == 1 ? 2 : 1));
        }
        return out;
    }

    private static List<Recording> run(Scheduler scheduler, List<GenerationRequest> requests, Runnable whileRunning)
            throws Exception {
        List<Recording> out = new ArrayList<>();
        for (GenerationRequest r : requests) {
            Recording rec = new Recording(r.n());
            scheduler.submit(r, rec);
            out.add(rec);
        }
        whileRunning.run();
        for (Recording r : out) {
            r.done.get(180, TimeUnit.SECONDS);
        }
        return out;
    }

    private static Scheduler scheduler(TestModel model, ModelRunner runner) {
        return new Scheduler(runner, model.tokenizer(), model.eos, SchedulerSettings.of(64, 256),
                new ServingMetrics(new CollectorRegistry()));
    }

    @Test
    void concurrentRequestsThroughTheClusterEqualOneProcessAcrossALostNode() throws Exception {
        try (TestModel model = TestModel.create(dir)) {
            List<GenerationRequest> requests = requests(model);
            List<Recording> expected;
            try (Scheduler local = scheduler(model, ModelRunner.local(model.transformer))) {
                expected = run(local, requests, () -> {
                });
            }
            try (InProcessCluster cluster = InProcessCluster.start(model.file, 4, 256 * 16);
                 Scheduler served = scheduler(model, cluster.engine.runner())) {
                ShardPlan first = cluster.engine.plan();
                assertTrue(first.stages().size() > 1, ClusterEngine.describe(first));
                List<Recording> actual = run(served, requests, () -> {
                    try {
                        // some tokens out, then the node holding the first stage is gone
                        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                        while (served.stats().steps() < 4 && System.nanoTime() < deadline) {
                            Thread.sleep(5);
                        }
                        cluster.lose(Integer.parseInt(first.stages().getFirst().node().value().substring(5)));
                    } catch (InterruptedException e) {
                        throw new AssertionError(e);
                    }
                });
                ShardPlan now = cluster.engine.plan();
                assertNotEquals(first.epoch(), now.epoch(), "the cluster re-planned: " + ClusterEngine.describe(now));
                assertTrue(served.stats().preemptions() > 0, "running sequences were recomputed: " + served.stats());
                assertTrue(served.stats().cachedTokens() > 0, "prompts copied shared prefixes on the stages: "
                        + served.stats());
                for (int i = 0; i < REQUESTS; i++) {
                    for (int c = 0; c < requests.get(i).n(); c++) {
                        List<SampledToken> want = expected.get(i).tokens.get(c);
                        List<SampledToken> got = actual.get(i).tokens.get(c);
                        String what = "request " + i + " choice " + c;
                        assertEquals(want.stream().map(SampledToken::id).toList(),
                                got.stream().map(SampledToken::id).toList(), what);
                        assertEquals(expected.get(i).finishes.get(c), actual.get(i).finishes.get(c), what);
                        for (int t = 0; t < want.size(); t++) {
                            // log-probabilities travel as f32
                            assertEquals((float) want.get(t).logprob(), (float) got.get(t).logprob(), what);
                            assertEquals(want.get(t).topLogprobs().size(), got.get(t).topLogprobs().size(), what);
                            for (int k = 0; k < want.get(t).topLogprobs().size(); k++) {
                                assertEquals(want.get(t).topLogprobs().get(k).id(), got.get(t).topLogprobs().get(k).id());
                                assertEquals((float) want.get(t).topLogprobs().get(k).logprob(),
                                        (float) got.get(t).topLogprobs().get(k).logprob(), what);
                            }
                        }
                    }
                }
            }
        }
    }
}
