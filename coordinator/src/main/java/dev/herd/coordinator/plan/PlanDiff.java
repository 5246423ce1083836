package dev.herd.coordinator.plan;

import java.util.List;

/**
 * What changes between two plans, so nodes load only what is new to them and free what they no longer hold.
 *
 * @param load assignments in the new plan that the old one did not have, sorted
 * @param drop assignments of the old plan that the new one no longer has, sorted
 */
public record PlanDiff(List<Assignment> load, List<Assignment> drop) {
    public PlanDiff {
        load = List.copyOf(load);
        drop = List.copyOf(drop);
    }

    public boolean isEmpty() {
        return load.isEmpty() && drop.isEmpty();
    }
}
