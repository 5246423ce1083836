package dev.herd.coordinator.plan;

import java.io.Serializable;
import java.util.Objects;

/** One pipeline stage: a node running a range of layers' attention (and whichever of their experts it holds). */
public record Stage(NodeId node, LayerRange layers) implements Serializable {
    public Stage {
        Objects.requireNonNull(node, "stage node");
        Objects.requireNonNull(layers, "stage layers");
    }
}
