package dev.herd.coordinator.scheduler;

import dev.herd.coordinator.TestModel;
import dev.herd.model.sampling.SamplingParams;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The scheduler against the one-sequence greedy decoder on a generated model. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SchedulerTest {
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

    private static int[] prompt(int i) {
        String[] words = {"The herd", "Serving large models", "A quick brown fox", "Experts route tokens",
                "Once upon a time", "Continuous batching keeps", "Hello", "Why is the sky"};
        StringBuilder text = new StringBuilder(words[i % words.length]);
        for (int k = 0; k < i % 5; k++) {
            text.append(" and then ").append(words[(i + k) % words.length].toLowerCase());
        }
        return model.tokenizer().encode(text.toString(), false);
    }

    private static GenerationRequest greedy(String id, int[] prompt, int maxTokens) {
        return new GenerationRequest(id, prompt, SamplingParams.greedy(), maxTokens, List.of(), 1);
    }

    /** The finish reason the reference implies: EOS last means stop, else the budget ran out. */
    private static FinishReason expectedFinish(int[] reference) {
        return model.eos.contains(reference[reference.length - 1]) ? FinishReason.STOP : FinishReason.LENGTH;
    }

    @Test
    void thirtyTwoConcurrentGreedyRequestsEachEqualTheRequestRunAlone() throws Exception {
        // a small step budget so prompts are prefilled in chunks beside running decodes
        try (Scheduler scheduler = model.scheduler(SchedulerSettings.of(48, 1024))) {
            int count = 32;
            List<CollectingSink> sinks = new ArrayList<>();
            List<int[]> prompts = new ArrayList<>();
            List<Integer> maxTokens = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                prompts.add(prompt(i));
                maxTokens.add(6 + i % 11);
                CollectingSink sink = new CollectingSink(1);
                sinks.add(sink);
                scheduler.submit(greedy("r" + i, prompts.get(i), maxTokens.get(i)), sink);
            }
            for (int i = 0; i < count; i++) {
                Usage usage = sinks.get(i).await();
                int[] reference = model.greedy(prompts.get(i), maxTokens.get(i));
                assertArrayEquals(reference, sinks.get(i).ids(0), "request " + i);
                assertEquals(expectedFinish(reference), sinks.get(i).finishes.get(0), "request " + i);
                assertEquals(new Usage(prompts.get(i).length, reference.length), usage, "request " + i);
                assertEquals(model.tokenizer().decode(reference, true), sinks.get(i).text(0), "request " + i);
            }
            SchedulerStats stats = awaitStats(scheduler, SchedulerStats::idle);
            assertEquals(1024, stats.kvBlocksFree() + stats.kvBlocksCached(), "every block free or cached: " + stats);
            assertTrue(stats.steps() < 32 * 16, "requests shared steps: " + stats.steps());
        }
    }

    @Test
    void preemptionUnderATinyKvBudgetGivesTheSameTokens() throws Exception {
        // 12 blocks of 4 tokens: three sequences of ~8 prompt + 24 generated tokens cannot all stay resident
        SchedulerSettings tiny = SchedulerSettings.of(64, 12).withBlockSize(4);
        try (Scheduler scheduler = model.scheduler(tiny)) {
            List<CollectingSink> sinks = new ArrayList<>();
            List<int[]> prompts = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                prompts.add(java.util.Arrays.copyOf(prompt(i + 1), 8));
                sinks.add(new CollectingSink(1));
                scheduler.submit(greedy("p" + i, prompts.get(i), 24), sinks.get(i));
            }
            // a sampled request too: its sampler state survives the recompute
            SamplingParams sampled = SamplingParams.sampled(0.9, 1234);
            int[] samplePrompt = java.util.Arrays.copyOf(prompt(6), 6);
            CollectingSink sampledSink = new CollectingSink(1);
            scheduler.submit(new GenerationRequest("s", samplePrompt, sampled, 24, List.of(), 1), sampledSink);
            for (int i = 0; i < 3; i++) {
                sinks.get(i).await();
                assertArrayEquals(model.greedy(prompts.get(i), 24), sinks.get(i).ids(0), "request " + i);
            }
            sampledSink.await();
            SchedulerStats stats = awaitStats(scheduler, SchedulerStats::idle);
            assertTrue(stats.preemptions() > 0, "the budget forced preemptions: " + stats);
            assertEquals(12, stats.kvBlocksFree() + stats.kvBlocksCached(), "every block free or cached: " + stats);

            try (Scheduler roomy = model.scheduler(SchedulerSettings.of(64, 1024))) {
                CollectingSink alone = new CollectingSink(1);
                roomy.submit(new GenerationRequest("s", samplePrompt, sampled, 24, List.of(), 1), alone);
                alone.await();
                assertArrayEquals(alone.ids(0), sampledSink.ids(0), "seeded sampling across preemption");
                assertEquals(0, roomy.stats().preemptions());
            }
        }
    }

    @Test
    void aPromptStartingLikeAnEarlierOneCopiesItsCachedPrefixAndGivesTheSameTokens() throws Exception {
        String system = "You are the Herd test model. Experts route tokens, the herd serves large models, and"
                + " continuous batching keeps every core busy while long prompts are prefilled in chunks.";
        int[] first = model.tokenizer().encode(system + " Tell me about foxes.", false);
        int[] second = model.tokenizer().encode(system + " Why is the sky blue?", false);
        int shared = 0;
        while (first[shared] == second[shared]) {
            shared++;
        }
        int blockSize = 8;
        assertTrue(shared >= 3 * blockSize, "a shared prefix of several blocks: " + shared);
        try (Scheduler scheduler = model.scheduler(SchedulerSettings.of(64, 256).withBlockSize(blockSize))) {
            CollectingSink a = new CollectingSink(1);
            submitAndAwait(scheduler, greedy("a", first, 6), a);
            SchedulerStats afterA = awaitStats(scheduler, SchedulerStats::idle);
            assertEquals(0, afterA.cachedTokens(), "nothing to copy from yet");
            assertTrue(afterA.kvBlocksCached() > 0, "the finished sequence is kept: " + afterA);

            CollectingSink b = new CollectingSink(1);
            submitAndAwait(scheduler, greedy("b", second, 6), b);
            assertArrayEquals(model.greedy(second, 6), b.ids(0), "tokens after a copied prefix");
            long copied = awaitStats(scheduler, SchedulerStats::idle).cachedTokens();
            assertEquals(shared / blockSize * blockSize, copied, "every full block of the shared prefix is copied");

            // a sampled request from the cache draws what it draws computed from scratch
            SamplingParams sampled = SamplingParams.sampled(1.0, 11);
            CollectingSink c = new CollectingSink(1);
            submitAndAwait(scheduler, new GenerationRequest("c", first, sampled, 8, List.of(), 1), c);
            assertTrue(awaitStats(scheduler, SchedulerStats::idle).cachedTokens() > copied, "the third request copied too");
            try (Scheduler fresh = model.scheduler(SchedulerSettings.of(64, 256).withBlockSize(blockSize))) {
                CollectingSink alone = new CollectingSink(1);
                submitAndAwait(fresh, new GenerationRequest("c", first, sampled, 8, List.of(), 1), alone);
                assertArrayEquals(alone.ids(0), c.ids(0));
            }
        }
        // a budget that holds one request at a time: the next one takes the kept cache's blocks back
        try (Scheduler tight = model.scheduler(SchedulerSettings.of(64, 15).withBlockSize(blockSize))) {
            for (int[] p : List.of(first, second, first)) {
                CollectingSink sink = new CollectingSink(1);
                submitAndAwait(tight, greedy("t", p, 6), sink);
                assertArrayEquals(model.greedy(p, 6), sink.ids(0));
            }
            SchedulerStats stats = awaitStats(tight, SchedulerStats::idle);
            assertEquals(15, stats.kvBlocksFree() + stats.kvBlocksCached(), stats.toString());
        }
    }

    @Test
    void cancellationFreesTheBlocksAtOnce() throws Exception {
        try (Scheduler scheduler = model.scheduler(SchedulerSettings.of(64, 256))) {
            CountDownLatch started = new CountDownLatch(3);
            CollectingSink sink = new CollectingSink(1, generated -> started.countDown());
            RequestHandle handle = scheduler.submit(greedy("long", prompt(3), 3000), sink);
            assertTrue(started.await(20, TimeUnit.SECONDS));
            SchedulerStats busy = scheduler.stats();
            assertEquals(1, busy.runningSequences());
            assertTrue(busy.kvBlocksUsed() > 0);
            handle.cancel();
            SchedulerStats stats = awaitStats(scheduler, SchedulerStats::idle);
            assertEquals(256, stats.kvBlocksFree());
            assertFalse(sink.done.isDone(), "a cancelled request gets no completion");
            int seen = sink.ids(0).length;
            Thread.sleep(50);
            assertEquals(seen, sink.ids(0).length, "no tokens after the cancellation was acted on");
        }
    }

    @Test
    void stopStringsEndTheChoiceAndAreNotReturned() throws Exception {
        int[] p = prompt(4);
        int[] reference = model.greedy(p, 24);
        String full = model.tokenizer().decode(reference, true);
        assertTrue(full.length() > 12, "reference text long enough: " + full);
        String stop = full.substring(full.length() / 2, full.length() / 2 + 3);
        String expected = full.substring(0, full.indexOf(stop));
        try (Scheduler scheduler = model.scheduler(SchedulerSettings.of(64, 256))) {
            CollectingSink sink = new CollectingSink(1);
            scheduler.submit(new GenerationRequest("stop", p, SamplingParams.greedy(), 24,
                    List.of("never appears \u2603", stop), 1), sink);
            Usage usage = sink.await();
            assertEquals(expected, sink.text(0));
            assertEquals(FinishReason.STOP, sink.finishes.get(0));
            assertTrue(usage.completionTokens() < reference.length, "generation stopped early: " + usage);
            // the tokens returned are the reference's prefix up to the one that completed the stop string
            int[] ids = sink.ids(0);
            assertArrayEquals(java.util.Arrays.copyOf(reference, ids.length), ids);
            assertTrue(model.tokenizer().decode(ids, true).contains(stop));
            assertFalse(model.tokenizer().decode(java.util.Arrays.copyOf(ids, ids.length - 1), true).contains(stop));
        }
    }

    @Test
    void maxTokensEndsWithLength() throws Exception {
        try (Scheduler scheduler = model.scheduler(SchedulerSettings.of(64, 256))) {
            for (int i = 0; i < 8; i++) {
                int[] p = prompt(i);
                int[] reference = model.greedy(p, 5);
                if (expectedFinish(reference) != FinishReason.LENGTH) {
                    continue;
                }
                CollectingSink sink = new CollectingSink(1);
                scheduler.submit(greedy("len", p, 5), sink);
                assertEquals(new Usage(p.length, 5), sink.await());
                assertEquals(FinishReason.LENGTH, sink.finishes.get(0));
                assertArrayEquals(reference, sink.ids(0));
                return;
            }
            throw new AssertionError("every prompt hit EOS within 5 tokens");
        }
    }

    @Test
    void nChoicesAreSeparateSequencesWithTheirOwnSeeds() throws Exception {
        try (Scheduler scheduler = model.scheduler(SchedulerSettings.of(64, 256))) {
            int[] p = prompt(2);
            // a high temperature: the random model's distributions are peaked, and the choices should differ
            SamplingParams params = SamplingParams.sampled(2.0, 42);
            CollectingSink three = new CollectingSink(3);
            Usage usage = submitAndAwait(scheduler, new GenerationRequest("n3", p, params, 16, List.of(), 3), three);
            for (int i = 0; i < 3; i++) {
                // choice i draws with the seed spread from the request's by i golden-ratio increments
                CollectingSink one = new CollectingSink(1);
                submitAndAwait(scheduler, new GenerationRequest("n1", p, params.withSeed(42 + i * 0x9E3779B97F4A7C15L),
                        16, List.of(), 1), one);
                assertArrayEquals(one.ids(0), three.ids(i), "choice " + i + " is the request alone with its seed");
            }
            assertTrue(!java.util.Arrays.equals(three.ids(0), three.ids(1))
                    || !java.util.Arrays.equals(three.ids(1), three.ids(2)), "three choices, one text");
            int generated = three.ids(0).length + three.ids(1).length + three.ids(2).length;
            assertEquals(new Usage(p.length, generated), usage);
        }
    }

    @Test
    void aFullQueueAndAnOversizedPromptAreRefused() throws Exception {
        SchedulerSettings one = SchedulerSettings.of(64, 256).withMaxQueuedRequests(1).withMaxRunningSequences(1);
        try (Scheduler scheduler = model.scheduler(one)) {
            CountDownLatch started = new CountDownLatch(1);
            RequestHandle running = scheduler.submit(greedy("a", prompt(1), 3000),
                    new CollectingSink(1, g -> started.countDown()));
            assertTrue(started.await(20, TimeUnit.SECONDS));
            RequestHandle queued = scheduler.submit(greedy("b", prompt(2), 4), new CollectingSink(1));
            RequestRejectedException full = assertThrows(RequestRejectedException.class,
                    () -> scheduler.submit(greedy("c", prompt(3), 4), new CollectingSink(1)));
            assertEquals(RequestRejectedException.Reason.QUEUE_FULL, full.reason());
            queued.cancel();
            running.cancel();
            awaitStats(scheduler, SchedulerStats::idle);

            int[] huge = new int[4096];
            RequestRejectedException tooLong = assertThrows(RequestRejectedException.class,
                    () -> scheduler.submit(greedy("d", huge, 4), new CollectingSink(1)));
            assertEquals(RequestRejectedException.Reason.PROMPT_TOO_LONG, tooLong.reason());
        }
        try (Scheduler small = model.scheduler(SchedulerSettings.of(64, 8))) {
            RequestRejectedException overBudget = assertThrows(RequestRejectedException.class,
                    () -> small.submit(greedy("e", new int[128], 4), new CollectingSink(1)));
            assertEquals(RequestRejectedException.Reason.PROMPT_TOO_LONG, overBudget.reason());
            assertTrue(overBudget.getMessage().contains("9 KV blocks"), overBudget.getMessage());
        }
    }

    @Test
    void closingFailsOpenRequestsAndRefusesNewOnes() throws Exception {
        Scheduler scheduler = model.scheduler(SchedulerSettings.of(64, 256).withMaxRunningSequences(1));
        CountDownLatch started = new CountDownLatch(1);
        CollectingSink running = new CollectingSink(1, g -> started.countDown());
        scheduler.submit(greedy("running", prompt(1), 3000), running);
        CollectingSink waiting = new CollectingSink(1);
        scheduler.submit(greedy("waiting", prompt(2), 4), waiting);
        assertTrue(started.await(20, TimeUnit.SECONDS));
        scheduler.close();
        for (CollectingSink sink : List.of(running, waiting)) {
            java.util.concurrent.ExecutionException e = assertThrows(java.util.concurrent.ExecutionException.class,
                    sink::await);
            assertTrue(e.getCause().getMessage().contains("shutting down"), e.getCause().getMessage());
        }
        RequestRejectedException late = assertThrows(RequestRejectedException.class,
                () -> scheduler.submit(greedy("late", prompt(3), 4), new CollectingSink(1)));
        assertEquals(RequestRejectedException.Reason.SHUTTING_DOWN, late.reason());
        assertEquals(256, scheduler.stats().kvBlocksFree());
    }

    private static Usage submitAndAwait(Scheduler scheduler, GenerationRequest request, CollectingSink sink)
            throws Exception {
        scheduler.submit(request, sink);
        return sink.await();
    }

    /** Polls (bounded) until the scheduler's published state satisfies {@code condition}. */
    static SchedulerStats awaitStats(Scheduler scheduler, Predicate<SchedulerStats> condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            SchedulerStats s = scheduler.stats();
            if (condition.test(s)) {
                return s;
            }
            Thread.sleep(5);
        }
        throw new AssertionError("scheduler never reached the expected state: " + scheduler.stats());
    }
}
