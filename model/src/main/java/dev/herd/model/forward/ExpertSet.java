package dev.herd.model.forward;

/**
 * Where a MoE layer's routed experts run. The forward pass routes; an expert set dispatches the routed
 * tokens to wherever each expert lives (in this process, or on another node), runs them and combines the
 * weighted results. Only dispatch and combine know whether an expert is local or remote.
 */
public interface ExpertSet {
    /**
     * Adds the combined routed-expert output for {@code n} token rows into {@code out}.
     *
     * @param layer   decoder layer index
     * @param x       (n, hidden) normalised inputs
     * @param routing the router's choice per token
     * @param out     (n, hidden), accumulated into
     */
    void forward(int layer, float[] x, int n, Routing routing, float[] out);
}
