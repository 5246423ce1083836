package dev.herd.shard.discovery;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * What a shard node tells the cluster about itself, carried as Hazelcast member attributes so that the
 * coordinator learns it from the membership event itself, with no extra round trip.
 *
 * @param nodeId              stable name of the node
 * @param grpcAddress         host:port of its gRPC shard service
 * @param usableMemoryBytes   memory for weights and KV cache
 * @param backend             "cpu" or "cuda"
 * @param memoryBandwidthGBps measured streaming bandwidth
 * @param linkGbps            network port bandwidth
 * @param roundTripMicros     typical round trip to peers
 * @param weightsDigest       digest of the model whose files this node has and serves over {@code WeightTransfer};
 *                            empty for a node that fetches its tensors from others. Nodes without the model files
 *                            find their holders by it.
 */
public record NodeAdvertisement(String nodeId, String grpcAddress, long usableMemoryBytes, String backend,
                                double memoryBandwidthGBps, double linkGbps, double roundTripMicros,
                                String weightsDigest) {
    static final String PREFIX = "herd.";
    static final String WEIGHTS = PREFIX + "weights";

    public NodeAdvertisement {
        if (nodeId == null || nodeId.isBlank()) {
            throw new IllegalArgumentException("a node id is required");
        }
        if (grpcAddress == null || !grpcAddress.contains(":")) {
            throw new IllegalArgumentException("node " + nodeId + ": gRPC address must be host:port, got " + grpcAddress);
        }
        if (usableMemoryBytes <= 0 || !(memoryBandwidthGBps > 0) || !(linkGbps > 0) || roundTripMicros < 0) {
            throw new IllegalArgumentException("node " + nodeId + ": memory, bandwidth and link must be positive");
        }
        if (!backend.equals("cpu") && !backend.equals("cuda")) {
            throw new IllegalArgumentException("node " + nodeId + ": backend must be cpu or cuda, got " + backend);
        }
        if (weightsDigest == null || !(weightsDigest.isEmpty() || weightsDigest.matches("[0-9a-f]{64}"))) {
            throw new IllegalArgumentException("node " + nodeId + ": the weights it serves must be named by a model"
                    + " digest (64 hex digits), got '" + weightsDigest + "'");
        }
    }

    /** A node that serves no model files. */
    public NodeAdvertisement(String nodeId, String grpcAddress, long usableMemoryBytes, String backend,
                             double memoryBandwidthGBps, double linkGbps, double roundTripMicros) {
        this(nodeId, grpcAddress, usableMemoryBytes, backend, memoryBandwidthGBps, linkGbps, roundTripMicros, "");
    }

    /** The same node, serving the files of model {@code digest}. */
    public NodeAdvertisement servingWeights(String digest) {
        return new NodeAdvertisement(nodeId, grpcAddress, usableMemoryBytes, backend, memoryBandwidthGBps, linkGbps,
                roundTripMicros, digest);
    }

    public Map<String, String> toAttributes() {
        Map<String, String> a = new LinkedHashMap<>();
        a.put(PREFIX + "node", nodeId);
        a.put(PREFIX + "grpc", grpcAddress);
        a.put(PREFIX + "memory", Long.toString(usableMemoryBytes));
        a.put(PREFIX + "backend", backend);
        a.put(PREFIX + "bandwidth", String.format(Locale.ROOT, "%.3f", memoryBandwidthGBps));
        a.put(PREFIX + "link", String.format(Locale.ROOT, "%.3f", linkGbps));
        a.put(PREFIX + "rtt", String.format(Locale.ROOT, "%.1f", roundTripMicros));
        if (!weightsDigest.isEmpty()) {
            a.put(WEIGHTS, weightsDigest);
        }
        return a;
    }

    /** True when a member carries a node advertisement (the coordinator and other tools do not). */
    public static boolean isShardNode(Map<String, String> attributes) {
        return attributes.containsKey(PREFIX + "node");
    }

    /** Parses a member's attributes; an attribute missing or malformed is an error naming it and the member. */
    public static NodeAdvertisement fromAttributes(Map<String, String> a) {
        String node = a.getOrDefault(PREFIX + "node", "?");
        try {
            return new NodeAdvertisement(node, require(a, "grpc", node), Long.parseLong(require(a, "memory", node)),
                    require(a, "backend", node), Double.parseDouble(require(a, "bandwidth", node)),
                    Double.parseDouble(require(a, "link", node)), Double.parseDouble(require(a, "rtt", node)),
                    a.getOrDefault(WEIGHTS, "")); // absent: the node serves no model files
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("node " + node + " advertises a malformed number: " + e.getMessage(), e);
        }
    }

    private static String require(Map<String, String> a, String key, String node) {
        String v = a.get(PREFIX + key);
        if (v == null) {
            throw new IllegalArgumentException("node " + node + " does not advertise '" + PREFIX + key + "'");
        }
        return v;
    }
}
