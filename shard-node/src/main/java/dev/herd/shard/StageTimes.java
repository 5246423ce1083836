package dev.herd.shard;

import java.util.concurrent.atomic.LongAdder;

/**
 * Where this node's pipeline steps spent their time: waiting for the stage worker, and running. Together with
 * the coordinator's step time they separate what the hops cost from what the layers cost.
 */
public final class StageTimes {
    private final LongAdder steps = new LongAdder();
    private final LongAdder queuedNanos = new LongAdder();
    private final LongAdder runNanos = new LongAdder();

    void record(long receivedNanos, long startedNanos, long doneNanos) {
        steps.increment();
        queuedNanos.add(startedNanos - receivedNanos);
        runNanos.add(doneNanos - startedNanos);
    }

    public Snapshot snapshot() {
        return new Snapshot(steps.sum(), queuedNanos.sum(), runNanos.sum());
    }

    /** Counters at one moment, monotonic since the node started. */
    public record Snapshot(long steps, long queuedNanos, long runNanos) {
    }
}
