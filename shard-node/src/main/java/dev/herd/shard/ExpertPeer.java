package dev.herd.shard;

import java.util.List;

/** A node holding some of the routed experts of this node's layers, and which ones. */
public record ExpertPeer(PeerEndpoint peer, List<ExpertRef> experts) {
    public ExpertPeer {
        experts = List.copyOf(experts);
    }
}
