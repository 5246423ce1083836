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
     * @param rows    (m, hidden) inputs, already weighted where the architecture weights before the expert;
     *                the caller may reuse both arrays once this returns, so a runner copies what it keeps
     * @param m       number of rows
     * @return (m, hidden) un-weighted expert outputs, row i from expert {@code experts[i]}
     */
    CompletableFuture<float[]> run(int layer, int[] experts, float[] rows, int m);

    /**
     * The same, with an array the answer may be written into: at least {@code m * hidden} floats the caller
     * owns and reuses step after step, so a runner that computes in place (a local one) allocates nothing.
     * The result is {@code out} or an array of the runner's own (the default: {@link #run(int, int[], float[], int)}).
     */
    default CompletableFuture<float[]> run(int layer, int[] experts, float[] rows, int m, float[] out) {
        return run(layer, experts, rows, m);
    }
}
