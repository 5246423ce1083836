package dev.herd.shard;

import dev.herd.proto.v1.Hello;
import dev.herd.proto.v1.NodeRole;
import dev.herd.proto.v1.ProtocolVersion;

/**
 * Who a process is on the wire: its cluster id and the digest of the model it serves (see {@link ModelDigest}).
 * The plan epoch is not part of it: it changes with every assignment.
 */
public record NodeIdentity(String nodeId, String modelDigest) {
    public NodeIdentity {
        if (nodeId == null || nodeId.isBlank()) {
            throw new IllegalArgumentException("a node needs an id");
        }
        if (modelDigest == null || modelDigest.isBlank()) {
            throw new IllegalArgumentException("node " + nodeId + " needs a model digest");
        }
    }

    /** The hello this process opens a conversation with. */
    public Hello hello(long planEpoch, NodeRole role) {
        return Hello.newBuilder()
                .setProtocolVersion(ProtocolVersion.PROTOCOL_VERSION_CURRENT_VALUE)
                .setModelDigest(modelDigest)
                .setPlanEpoch(planEpoch)
                .setNodeId(nodeId)
                .setRole(role)
                .build();
    }
}
