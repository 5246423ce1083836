package dev.herd.shard;

import dev.herd.proto.v1.AssignRequest;
import dev.herd.proto.v1.Hello;

import java.util.ArrayList;
import java.util.List;

/** {@code AssignRequest} to and from {@link ShardAssignment}. */
public final class Assignments {
    private Assignments() {
    }

    /** @throws IllegalArgumentException naming the field when a value cannot be an assignment at all */
    public static ShardAssignment fromProto(AssignRequest r) {
        // an unset range reads as [0, 0), the empty range of an expert-only node, as proto3 defines it
        LayerRange layers = new LayerRange(r.getLayers().getStart(), r.getLayers().getEnd());
        List<ExpertRef> experts = new ArrayList<>();
        for (var e : r.getExpertsList()) {
            experts.add(expert(e));
        }
        List<ExpertPeer> peers = new ArrayList<>();
        for (var p : r.getExpertPeersList()) {
            List<ExpertRef> held = new ArrayList<>();
            for (var e : p.getExpertsList()) {
                held.add(expert(e));
            }
            peers.add(new ExpertPeer(peer(p.getPeer()), held));
        }
        PeerEndpoint next = r.hasNextStage() ? peer(r.getNextStage()) : null;
        return new ShardAssignment(r.getPlanEpoch(), layers, experts, r.getEmbedding(), r.getLmHead(), next, peers);
    }

    public static AssignRequest toProto(ShardAssignment a, Hello coordinator) {
        AssignRequest.Builder b = AssignRequest.newBuilder()
                .setHello(coordinator)
                .setPlanEpoch(a.planEpoch())
                .setLayers(dev.herd.proto.v1.LayerRange.newBuilder().setStart(a.layers().start()).setEnd(a.layers().end()))
                .setEmbedding(a.embedding())
                .setLmHead(a.lmHead());
        for (ExpertRef e : a.experts()) {
            b.addExperts(expert(e));
        }
        if (a.nextStage() != null) {
            b.setNextStage(peer(a.nextStage()));
        }
        for (ExpertPeer p : a.expertPeers()) {
            var pb = dev.herd.proto.v1.ExpertPeer.newBuilder().setPeer(peer(p.peer()));
            for (ExpertRef e : p.experts()) {
                pb.addExperts(expert(e));
            }
            b.addExpertPeers(pb);
        }
        return b.build();
    }

    private static ExpertRef expert(dev.herd.proto.v1.ExpertRef e) {
        if (e.getLayer() < 0 || e.getExpert() < 0) { // uint32 beyond 2^31 - 1
            throw new IllegalArgumentException("expert (" + Integer.toUnsignedString(e.getLayer()) + ", "
                    + Integer.toUnsignedString(e.getExpert()) + ") is out of range");
        }
        return new ExpertRef(e.getLayer(), e.getExpert());
    }

    private static dev.herd.proto.v1.ExpertRef expert(ExpertRef e) {
        return dev.herd.proto.v1.ExpertRef.newBuilder().setLayer(e.layer()).setExpert(e.expert()).build();
    }

    private static PeerEndpoint peer(dev.herd.proto.v1.PeerEndpoint p) {
        return new PeerEndpoint(p.getNodeId(), p.getAddress());
    }

    private static dev.herd.proto.v1.PeerEndpoint peer(PeerEndpoint p) {
        return dev.herd.proto.v1.PeerEndpoint.newBuilder().setNodeId(p.nodeId()).setAddress(p.address()).build();
    }
}
