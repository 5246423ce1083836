package dev.herd.coordinator.cluster;

import dev.herd.coordinator.plan.ClusterState;
import dev.herd.coordinator.plan.NodeCapacity;
import dev.herd.coordinator.plan.NodeId;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The coordinator's view of the cluster: the shard nodes it can plan with, and members it had to reject.
 * Changed only by the pure {@link #apply(ClusterEvent)}; the side effects (re-planning, telling nodes) are
 * the supervisor's.
 *
 * @param nodes    by id: capacity and gRPC address
 * @param rejected member description to the reason it was not admitted
 * @param version  how many events changed this view; a plan records the version it was made from
 */
public record ClusterView(Map<NodeId, Node> nodes, Map<String, String> rejected, long version) {

    public record Node(NodeCapacity capacity, String grpcAddress) {
    }

    public ClusterView {
        nodes = Map.copyOf(nodes);
        rejected = Map.copyOf(rejected);
    }

    public static ClusterView empty() {
        return new ClusterView(Map.of(), Map.of(), 0);
    }

    /** The view after one event. */
    public ClusterView apply(ClusterEvent event) {
        Map<NodeId, Node> n = new TreeMap<>(nodes);
        Map<String, String> r = new TreeMap<>(rejected);
        switch (event) {
            case ClusterEvent.NodeJoined j -> n.put(j.capacity().id(), new Node(j.capacity(), j.grpcAddress()));
            case ClusterEvent.NodeLeft l -> {
                if (n.remove(l.id()) == null) {
                    return this; // a member we never admitted (or already removed): nothing changes
                }
            }
            case ClusterEvent.NodeRejected x -> r.put(x.member(), x.reason());
        }
        return new ClusterView(n, r, version + 1);
    }

    /** The planner's input: the admitted nodes' capacities. */
    public ClusterState toClusterState() {
        List<NodeCapacity> caps = nodes.values().stream().map(Node::capacity).toList();
        return ClusterState.of(caps);
    }
}
