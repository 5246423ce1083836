package dev.herd.model.forward;

import dev.herd.kernels.Backend;
import dev.herd.model.weights.ModelWeights;

import java.util.List;

/** Every routed expert in this process: the dispatching expert set with one local owner. */
public final class LocalExpertSet {
    private LocalExpertSet() {
    }

    public static ExpertSet of(ModelWeights weights, Backend backend) {
        var c = weights.config();
        return new DispatchingExpertSet(c.moe(), c.hiddenSize(),
                ExpertPlacement.allOn(c.numLayers(), c.moe() == null ? 0 : c.moe().numExperts()),
                List.of(new LocalExpertRunner(weights, backend)));
    }
}
