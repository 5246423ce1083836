package dev.herd.coordinator.plan;

import java.util.Optional;

/**
 * Whether observed expert load is worth a new plan. Switching plans is not free (nodes load replicas, running
 * sequences are recomputed), so the served plan is kept unless the plan made for the observed load changes
 * assignments and is estimated at least {@link #MIN_GAIN} faster per token than the served plan under that
 * same load. Pure, like the planner.
 */
public final class LoadReplan {
    /** The least relative saving per token that pays for a switch. */
    public static final double MIN_GAIN = 0.10;

    private LoadReplan() {
    }

    /**
     * The plan for {@code observed} when it is worth switching to, else empty.
     *
     * @param epoch the epoch the new plan would carry
     */
    public static Optional<ShardPlan> better(ShardPlan served, ModelShape shape, ClusterState cluster,
                                             ExpertLoad observed, PlanOptions options, long epoch) {
        ShardPlan candidate;
        CostEstimate now;
        try {
            candidate = Planner.plan(shape, cluster, observed, options, epoch);
            now = Planner.estimate(served, shape, cluster, observed, options);
        } catch (InfeasiblePlanException | IllegalArgumentException e) {
            return Optional.empty(); // the cluster changed under the plan: membership re-plans, not load
        }
        if (Planner.diff(served, candidate).isEmpty()) {
            return Optional.empty();
        }
        return candidate.cost().secondsPerToken() <= now.secondsPerToken() * (1 - MIN_GAIN)
                ? Optional.of(candidate) : Optional.empty();
    }
}
