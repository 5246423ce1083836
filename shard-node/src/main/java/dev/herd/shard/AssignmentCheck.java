package dev.herd.shard;

import dev.herd.model.config.ModelConfig;

import java.util.HashSet;
import java.util.Set;

/**
 * Whether an assignment makes sense for the model before anything is loaded, so a bad plan is refused with the
 * field that is wrong ({@code AssignReply.accepted = false}) rather than failing half-way through a load.
 */
final class AssignmentCheck {
    private AssignmentCheck() {
    }

    /** @throws IllegalArgumentException naming what is wrong */
    static void check(ShardAssignment a, ModelConfig c) {
        String what = "assignment for epoch " + a.planEpoch();
        LayerRange r = a.layers();
        if (r.end() > c.numLayers()) {
            throw new IllegalArgumentException(what + ": layers " + r + " beyond the model's " + c.numLayers());
        }
        if (a.embedding() && (!a.isStage() || r.start() != 0)) {
            throw new IllegalArgumentException(what + ": the embedding goes with the first stage, layers start at 0,"
                    + " got " + r);
        }
        if (a.lmHead() && (!a.isStage() || r.end() != c.numLayers())) {
            throw new IllegalArgumentException(what + ": the LM head goes with the last stage, layers end at "
                    + c.numLayers() + ", got " + r);
        }
        if (a.isStage() && !a.lmHead() && a.nextStage() == null) {
            throw new IllegalArgumentException(what + ": stage " + r + " is not last but has no next stage");
        }
        if (a.nextStage() != null && (a.lmHead() || !a.isStage())) {
            throw new IllegalArgumentException(what + ": only a stage that is not last forwards to a next stage");
        }
        if (!a.isStage() && a.experts().isEmpty()) {
            throw new IllegalArgumentException(what + ": neither layers nor experts");
        }
        Set<ExpertRef> held = new HashSet<>();
        for (ExpertRef e : a.experts()) {
            checkExpert(e, c, what + ": held ");
            if (!held.add(e)) {
                throw new IllegalArgumentException(what + ": " + e + " is listed twice");
            }
        }
        Set<ExpertRef> reachable = new HashSet<>(held);
        for (ExpertPeer p : a.expertPeers()) {
            for (ExpertRef e : p.experts()) {
                checkExpert(e, c, what + ": peer " + p.peer() + " holds ");
                if (!r.contains(e.layer())) {
                    throw new IllegalArgumentException(what + ": peer " + p.peer() + " is listed for " + e
                            + ", outside this node's layers " + r);
                }
                reachable.add(e);
            }
        }
        for (int l = r.start(); l < r.end(); l++) {
            if (!c.layer(l).moe()) {
                continue;
            }
            for (int e = 0; e < c.moe().numExperts(); e++) {
                if (!reachable.contains(new ExpertRef(l, e))) {
                    throw new IllegalArgumentException(what + ": " + new ExpertRef(l, e)
                            + " is held neither here nor by any expert peer");
                }
            }
        }
    }

    private static void checkExpert(ExpertRef e, ModelConfig c, String what) {
        if (e.layer() >= c.numLayers() || !c.layer(e.layer()).moe()) {
            throw new IllegalArgumentException(what + e + ", but layer " + e.layer() + " has no routed experts");
        }
        if (e.expert() >= c.moe().numExperts()) {
            throw new IllegalArgumentException(what + e + ", but the model has " + c.moe().numExperts()
                    + " experts per layer");
        }
    }
}
