package dev.herd.shard;

/**
 * How to reach another node.
 *
 * @param nodeId  the peer's cluster id, checked against the id in its hello reply
 * @param address gRPC target "host:port"
 */
public record PeerEndpoint(String nodeId, String address) {
    public PeerEndpoint {
        if (nodeId == null || nodeId.isBlank() || address == null || address.isBlank()) {
            throw new IllegalArgumentException("a peer needs a node id and an address, got " + nodeId + " at " + address);
        }
    }

    @Override
    public String toString() {
        return nodeId + " (" + address + ")";
    }
}
