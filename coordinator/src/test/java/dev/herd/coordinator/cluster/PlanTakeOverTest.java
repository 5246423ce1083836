package dev.herd.coordinator.cluster;

import dev.herd.coordinator.TestModel;
import dev.herd.coordinator.scheduler.ModelRunner;
import dev.herd.coordinator.scheduler.ModelSequence;
import dev.herd.model.sampling.SamplingParams;
import dev.herd.proto.v1.NodeState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The served plan lives in the cluster: a coordinator that restarts over the same nodes takes it over without
 * reloading anything and generates the same tokens; one that restarts after a node went away plans again with an
 * epoch above every epoch the nodes have seen.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class PlanTakeOverTest {
    @TempDir
    Path dir;

    @Test
    void aRestartedCoordinatorTakesOverTheServedPlan() throws Exception {
        try (TestModel model = TestModel.create(dir);
             InProcessCluster cluster = InProcessCluster.start(model.file, 3, 1024)) {
            int[] prompt = model.tokenizer().encode("The herd serves large models", false);
            int[] before = cluster.engine.generate(prompt, 12);
            long epoch = cluster.engine.plan().epoch();
            // a sequence the old coordinator never released: after a take-over it is nobody's
            ModelRunner runner = cluster.engine.runner();
            ModelSequence left = runner.open(SamplingParams.greedy(), 0, prompt, prompt.length);
            runner.step(List.of(new ModelRunner.Work(left, prompt, true)));
            assertTrue(activeSequences(cluster) > 0, "the left-over sequence has caches on the stages");

            ByteArrayOutputStream log = new ByteArrayOutputStream();
            cluster.restartCoordinator(log, 3);

            assertEquals(epoch, cluster.engine.plan().epoch(), "the same plan, taken over: " + log);
            assertTrue(log.toString().contains("took over epoch " + epoch), log.toString());
            for (int i = 0; i < 3; i++) {
                var served = cluster.node(i).servingEpoch(); // a node the plan leaves idle serves nothing
                assertEquals(epoch, served.orElse(epoch), "node " + i + " kept its part");
                assertEquals(NodeState.NODE_STATE_IDLE, cluster.node(i).readiness(epoch + 1).state(),
                        "node " + i + " was assigned nothing new");
            }
            assertEquals(0, activeSequences(cluster), "the predecessor's sequences were released");
            assertArrayEquals(before, cluster.engine.generate(prompt, 12), "same tokens through the taken-over plan");
        }
    }

    @Test
    void aCoordinatorThatFindsOtherNodesPlansAboveTheKeptEpoch() throws Exception {
        try (TestModel model = TestModel.create(dir);
             InProcessCluster cluster = InProcessCluster.start(model.file, 3, 1024)) {
            int[] prompt = model.tokenizer().encode("The herd serves large models", false);
            int[] before = cluster.engine.generate(prompt, 8);
            long epoch = cluster.engine.plan().epoch();
            int lost = 2;
            ByteArrayOutputStream log = new ByteArrayOutputStream();
            cluster.lose(lost);
            cluster.restartCoordinator(log, 2);
            long next = cluster.engine.plan().epoch();
            assertTrue(next > epoch, "epoch " + next + " after the kept epoch " + epoch + ": " + log);
            assertTrue(log.toString().contains("not taking over epoch " + epoch), log.toString());
            for (int i = 0; i < 3; i++) {
                if (i != lost) {
                    var served = cluster.node(i).servingEpoch();
                    assertEquals(next, served.orElse(next), "node " + i + " serves the new plan if any part of it");
                }
            }
            assertArrayEquals(before, cluster.engine.generate(prompt, 8), "same tokens on the new plan");
        }
    }

    private static int activeSequences(InProcessCluster cluster) {
        int n = 0;
        for (int i = 0; i < 3; i++) {
            n += cluster.node(i).stats().activeSequences();
        }
        return n;
    }
}
