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
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The local runner's block store against the scheduler's account of the same blocks: sharing a cached prefix
 * shares storage, finishing and cancelling give storage back, and when the scheduler stops every block is free
 * before the store is freed.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LocalModelRunnerKvTest {
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

    /** The local runner, noting how many store blocks were still in use when the scheduler freed the store. */
    private static final class Observed implements ModelRunner {
        final LocalModelRunner local = (LocalModelRunner) ModelRunner.local(model.transformer);
        volatile int usedAtFree = -1;
        int allocatedBlocks;
        int allocatedTokens;

        @Override
        public ModelSequence open(SamplingParams params, long seed, int[] history, int promptLength) {
            return local.open(params, seed, history, promptLength);
        }

        @Override
        public ModelSequence openFrom(ModelSequence prefix, int positions, SamplingParams params, long seed,
                                      int[] history, int promptLength) {
            return local.openFrom(prefix, positions, params, seed, history, promptLength);
        }

        @Override
        public boolean copiesPrefixes() {
            return local.copiesPrefixes();
        }

        @Override
        public List<SampledToken> step(List<Work> items) {
            return local.step(items);
        }

        @Override
        public void release(ModelSequence sequence) {
            local.release(sequence);
        }

        @Override
        public void allocateKv(int blocks, int blockTokens) {
            allocatedBlocks = blocks;
            allocatedTokens = blockTokens;
            local.allocateKv(blocks, blockTokens);
        }

        @Override
        public void freeKv() {
            usedAtFree = local.storedBlocks();
            local.freeKv();
        }

        @Override
        public int vocabSize() {
            return local.vocabSize();
        }

        @Override
        public int contextLength() {
            return local.contextLength();
        }
    }

    private static GenerationRequest greedy(String id, int[] prompt, int maxTokens) {
        return new GenerationRequest(id, prompt, SamplingParams.greedy(), maxTokens, List.of(), 1);
    }

    @Test
    void storageFollowsTheAccountAndAllOfItComesBack() throws Exception {
        String system = "You are the Herd test model. Experts route tokens, the herd serves large models, and"
                + " every answer is short and plain.";
        int[] first = model.tokenizer().encode(system + " Tell me about foxes.", false);
        int[] second = model.tokenizer().encode(system + " Why is the sky blue?", false);
        Observed runner = new Observed();
        SchedulerSettings settings = SchedulerSettings.of(64, 96).withBlockSize(8);
        Scheduler scheduler = new Scheduler(runner, model.tokenizer(), model.eos, settings,
                new ServingMetrics(new CollectorRegistry()));
        try {
            assertEquals(96, runner.allocatedBlocks, "the store is the scheduler's budget");
            assertEquals(8, runner.allocatedTokens, "in the scheduler's blocks");

            CollectingSink a = new CollectingSink(1);
            scheduler.submit(greedy("a", first, 6), a);
            a.await();
            SchedulerStats afterA = SchedulerTest.awaitStats(scheduler, SchedulerStats::idle);
            assertTrue(runner.local.storedBlocks() > 0, "the finished sequence is kept for its prefix");
            assertEquals(afterA.kvBlocksCached(), runner.local.storedBlocks(), "one kept sequence: storage = account");

            CollectingSink b = new CollectingSink(1);
            scheduler.submit(greedy("b", second, 6), b);
            b.await();
            assertArrayEquals(model.greedy(second, 6), b.ids(0), "tokens after a shared prefix");
            SchedulerStats afterB = SchedulerTest.awaitStats(scheduler, SchedulerStats::idle);
            int stored = runner.local.storedBlocks();
            assertTrue(afterB.cachedTokens() > 0, "b copied a's prefix");
            assertTrue(stored < afterB.kvBlocksCached(), "the shared prefix is stored once, charged twice: "
                    + stored + " stored, " + afterB);

            // a long decode cancelled midway gives its blocks back to the store, not just to the account
            CountDownLatch started = new CountDownLatch(3);
            CollectingSink sink = new CollectingSink(1, generated -> started.countDown());
            RequestHandle handle = scheduler.submit(greedy("long", new int[] {5, 6, 7, 8, 9, 10, 11}, 3000), sink);
            assertTrue(started.await(20, TimeUnit.SECONDS));
            assertTrue(runner.local.storedBlocks() > stored, "the running sequence holds blocks");
            handle.cancel();
            SchedulerTest.awaitStats(scheduler, SchedulerStats::idle);
            assertEquals(stored, runner.local.storedBlocks(), "the cancelled sequence's blocks are free again");
        } finally {
            scheduler.close();
        }
        assertEquals(0, runner.usedAtFree, "every block, kept prefixes included, was free when the store was freed");
        assertEquals(0, runner.local.storedBlocks());
    }
}
