package dev.herd.model.forward;

import java.util.concurrent.CompletableFuture;

/**
 * Runs routed experts of one layer on the rows sent to them: the "run experts" step of a MoE layer, for
 * one owner of experts (this process, or a node reached over the network). A remote runner returns at once
 * and completes later, so the dispatcher can keep every owner busy at the same time.
 */
public interface ExpertRunner {
    /**
     * @param layer   decoder layer
     * @param experts the expert of each row (m entries)
     * @param rows    (m, hidden) inputs, already weighted where the architecture weights before the expert
     * @param m       number of rows
     * @return (m, hidden) un-weighted expert outputs, row i from expert {@code experts[i]}
     */
    CompletableFuture<float[]> run(int layer, int[] experts, float[] rows, int m);
}
