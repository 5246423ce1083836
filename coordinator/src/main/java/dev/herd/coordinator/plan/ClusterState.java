package dev.herd.coordinator.plan;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * The nodes the planner may use, as the coordinator sees them now.
 *
 * @param nodes nodes in {@link NodeId} order (sorted here, so the caller's order never changes a plan)
 * @param links measured paths between particular pairs; any pair not listed goes through one switch
 *              ({@link Link#throughSwitch})
 */
public record ClusterState(List<NodeCapacity> nodes, Map<Pair, Link> links) {

    /** An unordered pair of nodes, stored smaller id first. */
    public record Pair(NodeId a, NodeId b) implements Comparable<Pair> {
        public Pair {
            Objects.requireNonNull(a);
            Objects.requireNonNull(b);
            if (a.equals(b)) {
                throw new IllegalArgumentException("a link joins two different nodes, not " + a + " to itself");
            }
            if (a.compareTo(b) > 0) {
                NodeId t = a;
                a = b;
                b = t;
            }
        }

        @Override
        public int compareTo(Pair o) {
            int c = a.compareTo(o.a);
            return c != 0 ? c : b.compareTo(o.b);
        }
    }

    public ClusterState {
        List<NodeCapacity> sorted = new ArrayList<>(nodes);
        sorted.sort(Comparator.comparing(NodeCapacity::id));
        for (int i = 1; i < sorted.size(); i++) {
            if (sorted.get(i).id().equals(sorted.get(i - 1).id())) {
                throw new IllegalArgumentException("node " + sorted.get(i).id() + " is listed twice");
            }
        }
        nodes = List.copyOf(sorted);
        TreeMap<Pair, Link> copy = new TreeMap<>(links);
        for (Pair p : copy.keySet()) {
            if (indexIn(nodes, p.a()) < 0 || indexIn(nodes, p.b()) < 0) {
                throw new IllegalArgumentException("link " + p.a() + " - " + p.b() + " names a node not in the cluster");
            }
        }
        links = Collections.unmodifiableSortedMap(copy);
    }

    /** A cluster on one switch: every pair's path follows from the two nodes' ports. */
    public static ClusterState of(List<NodeCapacity> nodes) {
        return new ClusterState(nodes, Map.of());
    }

    public int size() {
        return nodes.size();
    }

    public NodeCapacity node(int index) {
        return nodes.get(index);
    }

    /** Position of {@code id} in {@link #nodes()}, or -1. */
    public int indexOf(NodeId id) {
        return indexIn(nodes, id);
    }

    public Link link(NodeId a, NodeId b) {
        Link known = links.get(new Pair(a, b));
        if (known != null) {
            return known;
        }
        return Link.throughSwitch(nodes.get(indexOf(a)).network(), nodes.get(indexOf(b)).network());
    }

    public long totalUsableBytes() {
        long sum = 0;
        for (NodeCapacity n : nodes) {
            sum += n.usableMemoryBytes();
        }
        return sum;
    }

    /** The cluster after {@code id} left: its node and its measured links are gone. */
    public ClusterState without(NodeId id) {
        if (indexOf(id) < 0) {
            throw new IllegalArgumentException("node " + id + " is not in the cluster");
        }
        List<NodeCapacity> rest = nodes.stream().filter(n -> !n.id().equals(id)).toList();
        Map<Pair, Link> restLinks = new TreeMap<>(links);
        restLinks.keySet().removeIf(p -> p.a().equals(id) || p.b().equals(id));
        return new ClusterState(rest, restLinks);
    }

    private static int indexIn(List<NodeCapacity> sorted, NodeId id) {
        int lo = 0;
        int hi = sorted.size() - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            int c = sorted.get(mid).id().compareTo(id);
            if (c == 0) {
                return mid;
            }
            if (c < 0) {
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        return -1;
    }
}
