package dev.herd.model.forward;

import dev.herd.kernels.Backend;
import dev.herd.model.weights.ModelWeights;

import java.util.concurrent.CompletableFuture;

/**
 * Experts whose weights this process holds. Rows are grouped by expert so that each expert runs once per
 * call on all of its rows (a matrix product rather than many vector products).
 */
public final class LocalExpertRunner implements ExpertRunner {
    private final ModelWeights weights;
    private final Backend backend;
    private final int hidden;

    public LocalExpertRunner(ModelWeights weights, Backend backend) {
        this.weights = weights;
        this.backend = backend;
        this.hidden = weights.config().hiddenSize();
    }

    @Override
    public CompletableFuture<float[]> run(int layer, int[] experts, float[] rows, int m) {
        return CompletableFuture.completedFuture(runNow(layer, experts, rows, m));
    }

    /** The same, on the caller's thread. */
    public float[] runNow(int layer, int[] experts, float[] rows, int m) {
        float[] out = new float[m * hidden];
        boolean[] done = new boolean[m];
        int[] idx = new int[m];
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
            float[] in = new float[count * hidden];   // (count, hidden)
            for (int r = 0; r < count; r++) {
                System.arraycopy(rows, idx[r] * hidden, in, r * hidden, hidden);
            }
            float[] y = new float[count * hidden];    // (count, hidden)
            FeedForward.swiglu(backend, weights.expert(layer, e), in, count, y);
            for (int r = 0; r < count; r++) {
                System.arraycopy(y, r * hidden, out, idx[r] * hidden, hidden);
            }
        }
        return out;
    }
}
