package dev.herd.shard;

import dev.herd.proto.v1.Hello;
import dev.herd.proto.v1.HelloReply;
import dev.herd.proto.v1.NodeRole;
import dev.herd.proto.v1.ProtocolVersion;
import dev.herd.proto.v1.RefusalReason;

import java.util.OptionalLong;
import java.util.Set;

/**
 * The refusal rule of the wire contracts, checked in their documented order (version, model, role, epoch) so
 * that a peer of another protocol version is always told about the version first.
 */
public final class HelloCheck {
    private HelloCheck() {
    }

    /**
     * @param self         this node
     * @param servingEpoch the epoch this node serves, empty before its first assignment is loaded
     * @param peer         the caller's hello
     * @param roles        roles allowed to make this call
     * @param checkEpoch   true on activation streams and {@code Handshake}; control calls accept any epoch
     */
    public static HelloReply answer(NodeIdentity self, OptionalLong servingEpoch, Hello peer, Set<NodeRole> roles,
                                    boolean checkEpoch) {
        int version = ProtocolVersion.PROTOCOL_VERSION_CURRENT_VALUE;
        HelloReply.Builder reply = HelloReply.newBuilder()
                .setProtocolVersion(version)
                .setModelDigest(self.modelDigest())
                .setPlanEpoch(servingEpoch.orElse(0))
                .setNodeId(self.nodeId());
        String who = "peer " + name(peer);
        if (peer.getProtocolVersion() != version) {
            return refuse(reply, RefusalReason.REFUSAL_REASON_PROTOCOL_VERSION_MISMATCH,
                    who + " speaks protocol " + peer.getProtocolVersion() + ", node " + self.nodeId()
                            + " speaks protocol " + version);
        }
        if (!peer.getModelDigest().equals(self.modelDigest())) {
            return refuse(reply, RefusalReason.REFUSAL_REASON_MODEL_MISMATCH,
                    who + " serves model " + quoted(peer.getModelDigest()) + ", node " + self.nodeId() + " serves "
                            + quoted(self.modelDigest()));
        }
        if (!roles.contains(peer.getRole())) {
            return refuse(reply, RefusalReason.REFUSAL_REASON_ROLE_NOT_ALLOWED,
                    who + " has role " + peer.getRole() + "; node " + self.nodeId() + " accepts this call only from "
                            + roles);
        }
        if (checkEpoch) {
            if (servingEpoch.isEmpty()) {
                return refuse(reply, RefusalReason.REFUSAL_REASON_PLAN_EPOCH_NOT_LOADED,
                        who + " works on plan epoch " + peer.getPlanEpoch() + ", node " + self.nodeId()
                                + " has no assignment loaded yet");
            }
            long epoch = servingEpoch.getAsLong();
            if (peer.getPlanEpoch() < epoch) {
                return refuse(reply, RefusalReason.REFUSAL_REASON_PLAN_EPOCH_STALE,
                        who + " works on plan epoch " + peer.getPlanEpoch() + ", node " + self.nodeId()
                                + " serves epoch " + epoch);
            }
            if (peer.getPlanEpoch() > epoch) {
                return refuse(reply, RefusalReason.REFUSAL_REASON_PLAN_EPOCH_NOT_LOADED,
                        who + " works on plan epoch " + peer.getPlanEpoch() + ", node " + self.nodeId()
                                + " has loaded only up to epoch " + epoch);
            }
        }
        return reply.setAccepted(true).build();
    }

    private static HelloReply refuse(HelloReply.Builder reply, RefusalReason reason, String message) {
        return reply.setAccepted(false).setReason(reason).setMessage(message).build();
    }

    private static String name(Hello peer) {
        return peer.getNodeId().isEmpty() ? "(no node id)" : peer.getNodeId();
    }

    private static String quoted(String digest) {
        return digest.isEmpty() ? "(no digest)" : digest;
    }
}
