package dev.herd.coordinator.plan;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A plan while it is being built: stages fixed, experts being placed. Nodes are indices into
 * {@link ClusterState#nodes()}. Mutable, and never leaves the planner.
 */
final class Draft {
    private final ModelShape shape;
    private final ClusterState cluster;
    private final int[] stageNodes;
    private final int[] stageEnds;
    private final int[] layerNode;
    private final long[] weights;
    private final long[] kv;
    /** [layer][expert] -> holders, primary first; empty rows for dense layers. */
    private final int[][][] holders;

    Draft(ModelShape shape, ClusterState cluster, PlanOptions options, int[] stageNodes, int[] stageEnds) {
        this.shape = shape;
        this.cluster = cluster;
        this.stageNodes = stageNodes.clone();
        this.stageEnds = stageEnds.clone();
        int layers = shape.numLayers();
        this.layerNode = new int[layers];
        this.weights = new long[cluster.size()];
        this.kv = new long[cluster.size()];
        this.holders = new int[layers][][];
        for (int i = 0; i < stageNodes.length; i++) {
            int node = stageNodes[i];
            for (int l = stageStart(i); l < stageEnd(i); l++) {
                layerNode[l] = node;
                weights[node] += shape.layer(l).nonExpertBytes();
                kv[node] += options.kvContextTokens() * shape.layer(l).kvBytesPerToken();
            }
        }
        weights[embeddingNode()] += shape.embeddingBytes();
        weights[headNode()] += shape.lmHeadBytesOn(embeddingNode() == headNode());
        for (int l = 0; l < layers; l++) {
            holders[l] = new int[shape.layer(l).numExperts()][];
        }
    }

    int stageCount() {
        return stageNodes.length;
    }

    int stageNode(int stage) {
        return stageNodes[stage];
    }

    int stageStart(int stage) {
        return stage == 0 ? 0 : stageEnds[stage - 1];
    }

    int stageEnd(int stage) {
        return stageEnds[stage];
    }

    int layerNode(int layer) {
        return layerNode[layer];
    }

    int embeddingNode() {
        return stageNodes[0];
    }

    int headNode() {
        return stageNodes[stageNodes.length - 1];
    }

    int nodeCount() {
        return cluster.size();
    }

    /** Routed experts of {@code layer} (0 for a dense layer). */
    int holdersCount(int layer) {
        return holders[layer].length;
    }

    long free(int node) {
        return cluster.node(node).usableMemoryBytes() - weights[node] - kv[node];
    }

    boolean placed(int layer, int expert) {
        return holders[layer][expert] != null;
    }

    int copies(int layer, int expert) {
        return holders[layer][expert] == null ? 0 : holders[layer][expert].length;
    }

    boolean holds(int node, int layer, int expert) {
        int[] h = holders[layer][expert];
        if (h != null) {
            for (int x : h) {
                if (x == node) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Puts a copy on {@code node}: as the primary when {@code primary}, else after the existing holders. */
    void add(int layer, int expert, int node, boolean primary) {
        long bytes = shape.layer(layer).expertBytes();
        if (free(node) < bytes || holds(node, layer, expert)) {
            throw new IllegalStateException("planner bug: " + new ExpertKey(layer, expert) + " does not fit on "
                    + cluster.node(node).id() + " or is there already");
        }
        int[] old = holders[layer][expert];
        int[] next;
        if (old == null) {
            next = new int[]{node};
        } else if (primary) {
            next = new int[old.length + 1];
            next[0] = node;
            System.arraycopy(old, 0, next, 1, old.length);
        } else {
            next = Arrays.copyOf(old, old.length + 1);
            next[old.length] = node;
        }
        holders[layer][expert] = next;
        weights[node] += bytes;
    }

    /** The node serving each expert of {@code layer}: the stage's own copy if any, else the primary. */
    int[] servingOf(int layer) {
        int[] serving = new int[holders[layer].length];
        for (int e = 0; e < serving.length; e++) {
            serving[e] = holds(layerNode[layer], layer, e) ? layerNode[layer] : holders[layer][e][0];
        }
        return serving;
    }

    ShardPlan toPlan(long epoch, CostEstimate cost) {
        List<Stage> stages = new ArrayList<>(stageNodes.length);
        for (int i = 0; i < stageNodes.length; i++) {
            stages.add(new Stage(id(stageNodes[i]), new LayerRange(stageStart(i), stageEnd(i))));
        }
        Map<ExpertKey, List<NodeId>> experts = new TreeMap<>();
        for (int l = 0; l < holders.length; l++) {
            for (int e = 0; e < holders[l].length; e++) {
                List<NodeId> ids = new ArrayList<>(holders[l][e].length);
                for (int node : holders[l][e]) {
                    ids.add(id(node));
                }
                experts.put(new ExpertKey(l, e), ids);
            }
        }
        Map<NodeId, NodeAllocation> nodes = new TreeMap<>();
        for (int n = 0; n < cluster.size(); n++) {
            nodes.put(id(n), new NodeAllocation(cluster.node(n).usableMemoryBytes(), weights[n], kv[n]));
        }
        return new ShardPlan(epoch, stages, new TreeMap<>(experts), id(embeddingNode()), id(headNode()),
                new TreeMap<>(nodes), cost);
    }

    private NodeId id(int node) {
        return cluster.node(node).id();
    }
}
