package dev.herd.model.forward;

import dev.herd.kernels.Backend;
import dev.herd.model.weights.ModelWeights;

import java.util.concurrent.CompletableFuture;

/**
 * Experts whose weights this process holds. Rows are grouped by expert so that each expert runs once per
 * call on all of its rows (a matrix product rather than many vector products), through the backend's fused
 * feed-forward.
 */
public final class LocalExpertRunner implements ExpertRunner {
    private final ModelWeights weights;
    private final Backend backend;
    private final int hidden;
    /** Per thread (a shard node serves requests on several): grouping state and one expert's rows. */
    private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);

    /** Grown to the largest call seen, so steady-state calls allocate nothing. */
    private static final class Scratch {
        boolean[] done = new boolean[0];
        int[] idx = new int[0];
        float[] in = new float[0];
        float[] out = in;

        Scratch ensure(int m, int hidden) {
            if (done.length < m) {
                int rows = Math.max(m, 2 * done.length);
                done = new boolean[rows];
                idx = new int[rows];
                in = new float[rows * hidden];
                out = new float[rows * hidden];
            }
            return this;
        }
    }

    public LocalExpertRunner(ModelWeights weights, Backend backend) {
        this.weights = weights;
        this.backend = backend;
        this.hidden = weights.config().hiddenSize();
    }

    @Override
    public CompletableFuture<float[]> run(int layer, int[] experts, float[] rows, int m) {
        return CompletableFuture.completedFuture(runNow(layer, experts, rows, m));
    }

    @Override
    public CompletableFuture<float[]> run(int layer, int[] experts, float[] rows, int m, float[] out) {
        runInto(layer, experts, rows, m, out);
        return CompletableFuture.completedFuture(out);
    }

    /** The same, on the caller's thread, into a new array. */
    public float[] runNow(int layer, int[] experts, float[] rows, int m) {
        float[] out = new float[m * hidden];
        runInto(layer, experts, rows, m, out);
        return out;
    }

    /** On the caller's thread: (m, hidden) outputs into {@code out}, row i from expert {@code experts[i]}. */
    public void runInto(int layer, int[] experts, float[] rows, int m, float[] out) {
        if (rows.length < (long) m * hidden || out.length < (long) m * hidden || experts.length < m) {
            throw new IllegalArgumentException(m + " rows of " + hidden + ": rows has " + rows.length + ", out "
                    + out.length + " floats, " + experts.length + " experts");
        }
        Scratch s = scratch.get().ensure(m, hidden);
        boolean[] done = s.done;
        int[] idx = s.idx;
        java.util.Arrays.fill(done, 0, m, false);
        for (int i = 0; i < m; i++) {
            if (done[i]) {
                continue;
            }
            int e = experts[i];
            int count = 0;
            for (int j = i; j < m; j++) {
                if (!done[j] && experts[j] == e) {
                    idx[count++] = j;
                    done[j] = true;
                }
            }
            // (count, hidden) rows of this expert, gathered; its outputs scattered back
            for (int r = 0; r < count; r++) {
                System.arraycopy(rows, idx[r] * hidden, s.in, r * hidden, hidden);
            }
            FeedForward.swiglu(backend, weights.expert(layer, e), s.in, count, s.out);
            for (int r = 0; r < count; r++) {
                System.arraycopy(s.out, r * hidden, out, idx[r] * hidden, hidden);
            }
        }
    }
}
