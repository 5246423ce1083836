package dev.herd.coordinator.plan;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Where every part of a model lives, for one epoch of the cluster.
 *
 * <p>Which copy of an expert serves a token: the stage running the expert's layer uses its own copy when it
 * holds one, otherwise the first holder listed (the primary). Further holders are replicas, placed on the
 * stage to make hot experts local (see docs/planner.md); the primary elsewhere stays the fallback.
 *
 * @param epoch      version: nodes load a plan, report ready, and only then does the cluster switch to it
 * @param stages     pipeline stages in order; their layer ranges cover every layer once, in order
 * @param experts    holders of each routed expert, the primary first
 * @param embedding  the node holding the token embedding (the first stage)
 * @param lmHead     the node holding final norm and LM head (the last stage)
 * @param nodes      memory of every node in the cluster, idle ones included
 * @param cost       the cost model's estimate that chose this plan
 *
 * <p>Serializable because the served plan is kept in the cluster (see {@code PlanStore}), so that a coordinator
 * that restarts can take it over instead of reloading every node.
 */
public record ShardPlan(long epoch, List<Stage> stages, SortedMap<ExpertKey, List<NodeId>> experts, NodeId embedding,
                        NodeId lmHead, SortedMap<NodeId, NodeAllocation> nodes, CostEstimate cost)
        implements Serializable {
    public ShardPlan {
        stages = List.copyOf(stages);
        if (stages.isEmpty()) {
            throw new IllegalArgumentException("a plan needs at least one stage");
        }
        int next = 0;
        for (Stage s : stages) {
            if (s.layers().start() != next) {
                throw new IllegalArgumentException("stage " + s.node() + " starts at layer " + s.layers().start()
                        + ", expected " + next + ": stages must cover the layers in order");
            }
            next = s.layers().end();
        }
        TreeMap<ExpertKey, List<NodeId>> copy = new TreeMap<>();
        for (Map.Entry<ExpertKey, List<NodeId>> e : experts.entrySet()) {
            if (e.getValue().isEmpty()) {
                throw new IllegalArgumentException(e.getKey() + " has no holder");
            }
            if (e.getKey().layer() >= next) {
                throw new IllegalArgumentException(e.getKey() + " is beyond the last layer " + (next - 1));
            }
            copy.put(e.getKey(), List.copyOf(e.getValue()));
        }
        experts = Collections.unmodifiableSortedMap(copy);
        Objects.requireNonNull(embedding, "embedding holder");
        Objects.requireNonNull(lmHead, "LM head holder");
        nodes = Collections.unmodifiableSortedMap(new TreeMap<>(nodes));
        Objects.requireNonNull(cost, "cost");
    }

    public int numLayers() {
        return stages.getLast().layers().end();
    }

    /** The stage running {@code layer}'s attention. */
    public Stage stageOf(int layer) {
        for (Stage s : stages) {
            if (s.layers().contains(layer)) {
                return s;
            }
        }
        throw new IllegalArgumentException("layer " + layer + " is not in this plan of " + numLayers() + " layers");
    }

    public List<NodeId> holders(int layer, int expert) {
        List<NodeId> h = experts.get(new ExpertKey(layer, expert));
        if (h == null) {
            throw new IllegalArgumentException("layer " + layer + " expert " + expert + " is not in this plan");
        }
        return h;
    }

    /** The node whose copy of the expert the layer's stage uses (see the class comment). */
    public NodeId servingNode(int layer, int expert) {
        List<NodeId> h = holders(layer, expert);
        NodeId stage = stageOf(layer).node();
        return h.contains(stage) ? stage : h.getFirst();
    }

    /** Experts whose layer's stage does not hold them. */
    public List<ExpertKey> remoteExperts() {
        List<ExpertKey> remote = new ArrayList<>();
        for (Map.Entry<ExpertKey, List<NodeId>> e : experts.entrySet()) {
            if (!e.getValue().contains(stageOf(e.getKey().layer()).node())) {
                remote.add(e.getKey());
            }
        }
        return remote;
    }

    /** Every (node, tensor group) the plan assigns, replicas included. */
    public SortedSet<Assignment> assignments() {
        TreeSet<Assignment> all = new TreeSet<>();
        all.add(new Assignment(embedding, new TensorGroup.Embedding()));
        all.add(new Assignment(lmHead, new TensorGroup.LmHead()));
        for (Stage s : stages) {
            for (int l = s.layers().start(); l < s.layers().end(); l++) {
                all.add(new Assignment(s.node(), new TensorGroup.Layer(l)));
            }
        }
        for (Map.Entry<ExpertKey, List<NodeId>> e : experts.entrySet()) {
            for (NodeId n : e.getValue()) {
                all.add(new Assignment(n, new TensorGroup.Expert(e.getKey().layer(), e.getKey().expert())));
            }
        }
        return Collections.unmodifiableSortedSet(all);
    }
}
