package dev.herd.coordinator.cluster;

import dev.herd.coordinator.scheduler.ModelRunner.Work;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** How a step is cut into micro-batches for the pipeline. */
class MicroBatchTest {

    private static List<Work> items(int... rows) {
        List<Work> out = new ArrayList<>();
        for (int r : rows) {
            out.add(new Work(null, new int[r], true));
        }
        return out;
    }

    private static int rows(List<Work> part) {
        return part.stream().mapToInt(w -> w.tokens().length).sum();
    }

    @Test
    void decodesSplitEvenlyOverTheStages() {
        List<List<Work>> parts = ClusterModelRunner.microBatches(items(ones(32)), 4);
        assertEquals(4, parts.size());
        for (List<Work> p : parts) {
            assertEquals(8, rows(p));
        }
    }

    @Test
    void smallStepsAndSingleStagesStayWhole() {
        assertEquals(1, ClusterModelRunner.microBatches(items(1, 1, 1), 3).size(), "3 rows");
        assertEquals(1, ClusterModelRunner.microBatches(items(ones(64)), 1).size(), "one stage");
        assertEquals(1, ClusterModelRunner.microBatches(items(100), 3).size(), "one item is never cut");
    }

    @Test
    void everyItemLandsOnceInOrderInANonEmptyPart() {
        Random random = new Random(3);
        for (int c = 0; c < 500; c++) {
            int n = 1 + random.nextInt(40);
            int[] rows = new int[n];
            for (int i = 0; i < n; i++) {
                rows[i] = random.nextInt(10) == 0 ? 1 + random.nextInt(200) : 1;
            }
            List<Work> items = items(rows);
            int stages = 1 + random.nextInt(6);
            List<List<Work>> parts = ClusterModelRunner.microBatches(items, stages);
            assertTrue(parts.size() <= stages && parts.size() <= n, parts.size() + " parts");
            List<Work> joined = new ArrayList<>();
            for (List<Work> p : parts) {
                assertFalse(p.isEmpty(), "case " + c);
                joined.addAll(p);
            }
            assertEquals(items, joined, "case " + c);
        }
    }

    private static int[] ones(int n) {
        int[] a = new int[n];
        java.util.Arrays.fill(a, 1);
        return a;
    }
}
