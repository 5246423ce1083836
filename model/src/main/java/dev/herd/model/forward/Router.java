package dev.herd.model.forward;

import dev.herd.kernels.Backend;
import dev.herd.kernels.RouteGating;
import dev.herd.model.config.MoeConfig;

/** Step one of a MoE layer: which experts each token goes to, and with what weight. */
final class Router {
    private Router() {
    }

    /**
     * Routes {@code n} tokens on the backend's routing kernel, into the caller's arrays (reused across steps).
     *
     * @param logits  (n, numExperts) router logits; overwritten
     * @param experts room for n · topK expert ids
     * @param weights room for n · topK weights
     */
    static Routing route(MoeConfig moe, Backend backend, float[] logits, int n, int[] experts, float[] weights) {
        RouteGating gating = switch (moe.gating()) {
            case SOFTMAX -> RouteGating.SOFTMAX;
            // Llama 4 chooses on raw logits and gates the chosen ones with a sigmoid
            case SIGMOID -> RouteGating.SIGMOID;
        };
        backend.route(logits, n, moe.numExperts(), moe.topK(), gating, moe.normalizeTopK(), experts, weights);
        return new Routing(n, moe.topK(), experts, weights);
    }
}
