package dev.herd.shard;

import dev.herd.model.forward.ExpertRunner;
import dev.herd.model.forward.LocalExpertRunner;
import dev.herd.proto.v1.CombineMode;
import dev.herd.proto.v1.FailureReason;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.LongAdder;

/**
 * The routed experts this node holds, served to any stage that dispatches to it (including this node's own
 * stage, which calls {@link LocalExpertRunner} directly). Refuses experts it does not hold rather than loading
 * them on demand: a request for one means the sender works from another plan.
 */
final class ExpertHost {
    private final int hidden;
    private final Map<Integer, LocalExpertRunner> runners;
    private final Map<ExpertRef, LongAdder> load = new LinkedHashMap<>();

    /** @param runners a runner over weights holding each layer that has experts here */
    ExpertHost(int hidden, Map<Integer, LocalExpertRunner> runners, Iterable<ExpertRef> held) {
        this.hidden = hidden;
        this.runners = Map.copyOf(runners);
        for (ExpertRef e : held) {
            load.put(e, new LongAdder());
        }
    }

    /** Rows run per held expert since this part was loaded (the {@code Stats} counters). */
    Map<ExpertRef, Long> load() {
        Map<ExpertRef, Long> out = new LinkedHashMap<>();
        load.forEach((e, n) -> out.put(e, n.sum()));
        return Collections.unmodifiableMap(out);
    }

    /**
     * The same experts for this node's own stage, as the local owner of its dispatcher: rows counted with the
     * remote ones, so the load the planner sees is the whole load of each expert here.
     */
    ExpertRunner asRunner() {
        return (layer, experts, rows, m) -> CompletableFuture.completedFuture(runHeld(layer, experts, rows, m,
                "the local dispatch"));
    }

    /** (m, hidden) un-weighted outputs, row i from held expert {@code experts[i]}. */
    private float[] runHeld(int layer, int[] experts, float[] rows, int m, String what) {
        LongAdder[] counters = new LongAdder[m];
        for (int i = 0; i < m; i++) {
            ExpertRef ref = new ExpertRef(layer, experts[i]);
            counters[i] = load.get(ref);
            if (counters[i] == null) {
                throw new FrameRejected(FailureReason.FAILURE_REASON_BAD_FRAME, what + " asks for " + ref
                        + ", which this node does not hold");
            }
        }
        float[] y = runners.get(layer).runNow(layer, experts, rows, m);
        for (LongAdder c : counters) {
            c.increment();
        }
        return y;
    }

    boolean holdsAny() {
        return !load.isEmpty();
    }

    /**
     * Runs a job: PER_EXPERT gives one un-weighted output row per routing entry, in entry order (the sender
     * combines, keeping a single process's summation order); WEIGHTED_SUM gives one row per distinct row, the
     * weighted sum of its entries here in entry order.
     */
    float[] run(ExpertJob job) {
        int m = job.entries();
        float[] in = new float[m * hidden];                       // (entries, hidden)
        for (int i = 0; i < m; i++) {
            System.arraycopy(job.rows(), job.entryRows()[i] * hidden, in, i * hidden, hidden);
        }
        float[] y = runHeld(job.layer(), job.entryExperts(), in, m, "request " + job.requestId()); // (entries, hidden)
        if (job.combine() == CombineMode.COMBINE_MODE_PER_EXPERT) {
            return y;
        }
        float[] sum = new float[job.distinctRows() * hidden];    // (distinct rows, hidden)
        for (int i = 0; i < m; i++) {
            float w = job.entryWeights()[i];
            int o = job.entryRows()[i] * hidden;
            for (int j = 0; j < hidden; j++) {
                sum[o + j] += w * y[i * hidden + j];
            }
        }
        return sum;
    }
}
