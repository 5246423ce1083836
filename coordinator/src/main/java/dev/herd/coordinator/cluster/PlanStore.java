package dev.herd.coordinator.cluster;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import dev.herd.coordinator.plan.NodeId;
import dev.herd.coordinator.plan.ShardPlan;

import java.io.Serializable;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The served plan of each model, kept in the cluster (a Hazelcast map, held by the shard nodes: the coordinator is
 * a lite member) rather than only in the coordinator. A coordinator that restarts finds the plan its predecessor
 * served, takes it over when the same nodes still serve it (no reload), and otherwise continues the epochs from
 * there, so that a new plan's epoch is always above any epoch a node has seen.
 */
public final class PlanStore {
    /** The map's name; one entry per model digest. */
    static final String MAP = "herd.plans";

    private final IMap<String, StoredPlan> plans;

    /**
     * A served plan with where its nodes listened.
     *
     * @param modelDigest the model the plan is for
     * @param plan        the plan, with its epoch
     * @param addresses   gRPC address of every node the plan was served on
     */
    public record StoredPlan(String modelDigest, ShardPlan plan, Map<NodeId, String> addresses) implements Serializable {
        public StoredPlan {
            addresses = new TreeMap<>(addresses);
        }
    }

    PlanStore(HazelcastInstance hazelcast) {
        this.plans = hazelcast.getMap(MAP);
    }

    /** The plan last served for {@code modelDigest}, if any (and if it can be read by this version). */
    public Optional<StoredPlan> served(String modelDigest) {
        try {
            return Optional.ofNullable(plans.get(modelDigest));
        } catch (RuntimeException e) {
            // written by another version of the coordinator: not usable, planning starts afresh
            throw new IllegalStateException("the cluster's stored plan for model " + modelDigest
                    + " cannot be read: " + e.getMessage(), e);
        }
    }

    /** Records {@code plan} as the one served for its model; an older epoch never replaces a newer one. */
    public void serving(StoredPlan plan) {
        plans.compute(plan.modelDigest(), (k, old) -> old != null && old.plan().epoch() > plan.plan().epoch() ? old : plan);
    }
}
