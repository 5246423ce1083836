package dev.herd.model.forward;

import dev.herd.kernels.Backend;
import dev.herd.model.config.MoeConfig;
import dev.herd.model.config.RouterGating;

/** Step one of a MoE layer: which experts each token goes to, and with what weight. */
final class Router {
    private Router() {
    }

    /**
     * @param logits (n, numExperts) router logits; overwritten
     */
    static Routing route(MoeConfig moe, Backend backend, float[] logits, int n) {
        int e = moe.numExperts();
        int k = moe.topK();
        int[] experts = new int[n * k];
        float[] weights = new float[n * k];
        for (int t = 0; t < n; t++) {
            int row = t * e;
            if (moe.gating() == RouterGating.SOFTMAX) {
                backend.softmax(logits, row, e);
            }
            topK(logits, row, e, k, experts, t * k);
            double sum = 0;
            for (int s = 0; s < k; s++) {
                float v = logits[row + experts[t * k + s]];
                // Llama 4 chooses on raw logits and gates the chosen ones with a sigmoid
                float w = moe.gating() == RouterGating.SIGMOID ? (float) (1.0 / (1.0 + Math.exp(-v))) : v;
                weights[t * k + s] = w;
                sum += w;
            }
            if (moe.normalizeTopK()) {
                for (int s = 0; s < k; s++) {
                    weights[t * k + s] = (float) (weights[t * k + s] / sum);
                }
            }
        }
        return new Routing(n, k, experts, weights);
    }

    /** Indices of the k largest of {@code v[off, off+len)}, largest first; ties go to the lower index. */
    static void topK(float[] v, int off, int len, int k, int[] out, int outOff) {
        for (int s = 0; s < k; s++) {
            int best = -1;
            for (int i = 0; i < len; i++) {
                if (taken(out, outOff, s, i)) {
                    continue;
                }
                if (best < 0 || v[off + i] > v[off + best]) {
                    best = i;
                }
            }
            out[outOff + s] = best;
        }
    }

    private static boolean taken(int[] chosen, int off, int count, int i) {
        for (int s = 0; s < count; s++) {
            if (chosen[off + s] == i) {
                return true;
            }
        }
        return false;
    }
}
