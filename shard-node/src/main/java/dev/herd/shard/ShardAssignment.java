package dev.herd.shard;

import java.util.List;

/**
 * A node's part of a plan: what it runs, what it holds, and whom it talks to. The planner produces these; a
 * node receives one through {@code Assign} (see {@link Assignments#fromProto}) or from a test directly.
 *
 * @param planEpoch   the plan this part belongs to
 * @param layers      pipeline layers this node runs (attention, router, shared expert); empty for an
 *                    expert-only node
 * @param experts     routed experts this node holds and serves to every stage that dispatches to it, and
 *                    runs in place for its own layers
 * @param embedding   this node embeds token ids (it is the first stage)
 * @param lmHead      this node applies the final norm and LM head and samples (it is the last stage)
 * @param nextStage   where hidden states go after {@code layers}; null on the last stage and expert-only nodes
 * @param expertPeers who holds the routed experts of {@code layers} that this node does not hold
 */
public record ShardAssignment(long planEpoch, LayerRange layers, List<ExpertRef> experts, boolean embedding,
                              boolean lmHead, PeerEndpoint nextStage, List<ExpertPeer> expertPeers) {
    public ShardAssignment {
        experts = List.copyOf(experts);
        expertPeers = List.copyOf(expertPeers);
    }

    /** A pipeline stage. */
    public static ShardAssignment stage(long epoch, LayerRange layers, List<ExpertRef> experts, boolean embedding,
                                        boolean lmHead, PeerEndpoint nextStage, List<ExpertPeer> expertPeers) {
        return new ShardAssignment(epoch, layers, experts, embedding, lmHead, nextStage, expertPeers);
    }

    /** A node that only serves routed experts to stages. */
    public static ShardAssignment expertsOnly(long epoch, List<ExpertRef> experts) {
        return new ShardAssignment(epoch, new LayerRange(0, 0), experts, false, false, null, List.of());
    }

    public boolean isStage() {
        return !layers.isEmpty();
    }
}
