package dev.herd.shard.weights;

import dev.herd.shard.PeerEndpoint;

import java.util.List;

/**
 * The peers that have the model's files and serve {@code WeightTransfer}, as known now: asked again at every
 * retry, so a holder that joined meanwhile is used and one that left is not.
 */
@FunctionalInterface
public interface WeightHolders {
    List<PeerEndpoint> holders();

    static WeightHolders of(List<PeerEndpoint> holders) {
        List<PeerEndpoint> fixed = List.copyOf(holders);
        return () -> fixed;
    }
}
