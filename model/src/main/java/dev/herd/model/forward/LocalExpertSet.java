package dev.herd.model.forward;

import dev.herd.kernels.Backend;
import dev.herd.model.config.MoeConfig;
import dev.herd.model.weights.ModelWeights;

/**
 * Routed experts that all live in this process. Dispatch groups the tokens of each chosen expert so that
 * every expert runs once per layer on all of its tokens (a matrix product rather than n vector products);
 * combine adds each result, weighted, into its token's row.
 */
public final class LocalExpertSet implements ExpertSet {
    private final ModelWeights weights;
    private final Backend backend;
    private final MoeConfig moe;
    private final int hidden;

    public LocalExpertSet(ModelWeights weights, Backend backend) {
        this.weights = weights;
        this.backend = backend;
        this.moe = weights.config().moe();
        this.hidden = weights.config().hiddenSize();
    }

    @Override
    public void forward(int layer, float[] x, int n, Routing routing, float[] out) {
        int k = routing.k();
        int[] tokens = new int[n * k];
        int[] slots = new int[n * k];
        for (int e = 0; e < moe.numExperts(); e++) {
            int count = 0;
            for (int t = 0; t < n; t++) {
                for (int s = 0; s < k; s++) {
                    if (routing.expert(t, s) == e) {
                        tokens[count] = t;
                        slots[count++] = s;
                    }
                }
            }
            if (count == 0) {
                continue;
            }
            // dispatch: gather the rows of this expert's tokens, pre-scaled where the architecture says so
            float[] in = new float[count * hidden];
            for (int i = 0; i < count; i++) {
                System.arraycopy(x, tokens[i] * hidden, in, i * hidden, hidden);
                if (moe.weightBeforeExpert()) {
                    float w = routing.weight(tokens[i], slots[i]);
                    for (int j = 0; j < hidden; j++) {
                        in[i * hidden + j] *= w;
                    }
                }
            }
            float[] y = new float[count * hidden];
            FeedForward.swiglu(backend, weights.expert(layer, e), in, count, y);
            // combine
            for (int i = 0; i < count; i++) {
                float w = moe.weightBeforeExpert() ? 1f : routing.weight(tokens[i], slots[i]);
                int o = tokens[i] * hidden;
                for (int j = 0; j < hidden; j++) {
                    out[o + j] += w * y[i * hidden + j];
                }
            }
        }
    }
}
