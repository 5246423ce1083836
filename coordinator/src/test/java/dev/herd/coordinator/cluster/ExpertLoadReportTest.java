package dev.herd.coordinator.cluster;

import dev.herd.coordinator.TestModel;
import dev.herd.coordinator.plan.ExpertLoad;
import dev.herd.model.config.ModelConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The load the coordinator reads back from the nodes (what it weighs against the served plan) counts exactly the
 * rows that were routed: every row of every step goes through top-k experts in each MoE layer.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ExpertLoadReportTest {
    @TempDir
    Path dir;

    @Test
    void theReportedLoadCountsEveryRoutedRow() throws Exception {
        try (TestModel model = TestModel.create(dir);
             InProcessCluster cluster = InProcessCluster.start(model.file, 3, 1024)) {
            int[] prompt = model.tokenizer().encode("The herd serves large models", false);
            int tokens = 12;
            cluster.engine.generate(prompt, tokens);
            ModelConfig c = model.bundle.files().config();
            // the prompt in one step, then one row per generated token but the last (never run)
            long rows = prompt.length + tokens - 1L;
            ExpertLoad load = cluster.engine.reportedLoad();
            for (int l = 0; l < c.numLayers(); l++) {
                long routed = 0;
                for (int e = 0; e < c.moe().numExperts(); e++) {
                    routed += load.tokens(l, e);
                }
                assertEquals(rows * c.moe().topK(), routed, "layer " + l + ": " + load);
            }
        }
    }
}
