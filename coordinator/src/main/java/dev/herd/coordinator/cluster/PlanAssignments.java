package dev.herd.coordinator.cluster;

import dev.herd.coordinator.plan.ExpertKey;
import dev.herd.coordinator.plan.NodeId;
import dev.herd.coordinator.plan.ShardPlan;
import dev.herd.coordinator.plan.Stage;
import dev.herd.model.config.ModelConfig;
import dev.herd.shard.ExpertPeer;
import dev.herd.shard.ExpertRef;
import dev.herd.shard.LayerRange;
import dev.herd.shard.PeerEndpoint;
import dev.herd.shard.ShardAssignment;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A {@link ShardPlan} as the parts its nodes load: each stage its layer range, the experts it holds, where its
 * hidden states go next and which peer serves each of its layers' experts it does not hold; each other holder
 * of experts an expert-only part. Nodes the plan leaves idle get nothing.
 */
public final class PlanAssignments {
    private PlanAssignments() {
    }

    /**
     * @param addresses gRPC address of every node the plan uses
     * @return the part of each node the plan uses, by node
     * @throws IllegalArgumentException when a node the plan uses has no address
     */
    public static Map<NodeId, ShardAssignment> of(ShardPlan plan, ModelConfig config, Map<NodeId, String> addresses) {
        Map<NodeId, List<ExpertRef>> held = new TreeMap<>();
        for (Map.Entry<ExpertKey, List<NodeId>> e : plan.experts().entrySet()) {
            for (NodeId n : e.getValue()) {
                held.computeIfAbsent(n, k -> new ArrayList<>()).add(ref(e.getKey()));
            }
        }
        Map<NodeId, ShardAssignment> parts = new TreeMap<>();
        List<Stage> stages = plan.stages();
        for (int s = 0; s < stages.size(); s++) {
            Stage stage = stages.get(s);
            NodeId node = stage.node();
            PeerEndpoint next = s + 1 < stages.size() ? endpoint(stages.get(s + 1).node(), addresses) : null;
            parts.put(node, ShardAssignment.stage(plan.epoch(),
                    new LayerRange(stage.layers().start(), stage.layers().end()),
                    held.getOrDefault(node, List.of()), node.equals(plan.embedding()), node.equals(plan.lmHead()),
                    next, expertPeers(plan, config, stage, addresses)));
        }
        for (Map.Entry<NodeId, List<ExpertRef>> h : held.entrySet()) {
            if (!parts.containsKey(h.getKey())) {
                endpoint(h.getKey(), addresses); // fails early, naming the node, when it cannot be reached
                parts.put(h.getKey(), ShardAssignment.expertsOnly(plan.epoch(), h.getValue()));
            }
        }
        return parts;
    }

    /** For each expert of the stage's layers held elsewhere, the copy the plan says serves it (its primary). */
    private static List<ExpertPeer> expertPeers(ShardPlan plan, ModelConfig config, Stage stage,
                                                Map<NodeId, String> addresses) {
        Map<NodeId, List<ExpertRef>> byPeer = new TreeMap<>();
        for (int l = stage.layers().start(); l < stage.layers().end(); l++) {
            if (!config.layer(l).moe()) {
                continue;
            }
            for (int e = 0; e < config.moe().numExperts(); e++) {
                NodeId serving = plan.servingNode(l, e);
                if (!serving.equals(stage.node())) {
                    byPeer.computeIfAbsent(serving, k -> new ArrayList<>()).add(new ExpertRef(l, e));
                }
            }
        }
        List<ExpertPeer> peers = new ArrayList<>();
        byPeer.forEach((n, refs) -> peers.add(new ExpertPeer(endpoint(n, addresses), refs)));
        return peers;
    }

    private static ExpertRef ref(ExpertKey k) {
        return new ExpertRef(k.layer(), k.expert());
    }

    private static PeerEndpoint endpoint(NodeId node, Map<NodeId, String> addresses) {
        String address = addresses.get(node);
        if (address == null) {
            throw new IllegalArgumentException("the plan uses node " + node + ", whose gRPC address is unknown");
        }
        return new PeerEndpoint(node.value(), address);
    }
}
