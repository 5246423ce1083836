package dev.herd.cli.bench;

import dev.herd.coordinator.scheduler.ModelRunner;
import dev.herd.coordinator.scheduler.ModelSequence;
import dev.herd.model.sampling.SamplingParams;

import java.util.Arrays;
import java.util.List;

/**
 * One greedy sequence through a {@link ModelRunner}: the prompt in one step, then one token per step, each step
 * timed on the caller's side. The same loop drives a model in this process and a cluster, so the two are measured
 * the same way (the cluster's figure includes every network hop of a step, the coordinator's included).
 */
public final class DecodeLoop {
    /** Called between the prefill and the first timed decode step, and after the last, outside the timing. */
    public interface Checkpoint {
        void at(boolean decodeStarts);
    }

    /**
     * @param tokens      the generated ids: the one the prompt's step chose, then one per decode step
     * @param prefillNanos the prompt's step
     * @param stepNanos   each decode step
     */
    public record Run(int[] tokens, long prefillNanos, long[] stepNanos) {
        public double decodeTokensPerSecond() {
            return stepNanos.length / (Arrays.stream(stepNanos).sum() / 1e9);
        }
    }

    private DecodeLoop() {
    }

    /** Prefills {@code prompt}, then decodes {@code steps} tokens, releasing the sequence at the end. */
    public static Run run(ModelRunner runner, int[] prompt, int steps, Checkpoint checkpoint) {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt must hold at least one token");
        }
        if (steps < 1) {
            throw new IllegalArgumentException("decode steps must be at least 1, got " + steps);
        }
        ModelSequence seq = runner.open(SamplingParams.greedy(), 0, prompt, prompt.length);
        try {
            int[] tokens = new int[steps + 1];
            long t0 = System.nanoTime();
            tokens[0] = runner.step(List.of(new ModelRunner.Work(seq, prompt, true))).getFirst().id();
            long prefill = System.nanoTime() - t0;
            checkpoint.at(true);
            long[] nanos = new long[steps];
            for (int i = 0; i < steps; i++) {
                long s = System.nanoTime();
                tokens[i + 1] = runner.step(List.of(new ModelRunner.Work(seq, new int[]{tokens[i]}, true)))
                        .getFirst().id();
                nanos[i] = System.nanoTime() - s;
            }
            checkpoint.at(false);
            return new Run(tokens, prefill, nanos);
        } finally {
            runner.release(seq);
        }
    }
}
