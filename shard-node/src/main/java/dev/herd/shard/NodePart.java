package dev.herd.shard;

import dev.herd.model.config.ModelConfig;
import dev.herd.model.forward.DispatchingExpertSet;
import dev.herd.model.forward.ExpertPlacement;
import dev.herd.model.forward.ExpertRunner;
import dev.herd.model.forward.ExpertSet;
import dev.herd.model.forward.LocalExpertRunner;
import dev.herd.model.forward.LocalExpertSet;
import dev.herd.model.forward.Transformer;
import dev.herd.model.weights.ModelWeights;
import dev.herd.proto.v1.NodeRole;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * What a node has loaded for one plan epoch: the weights of its layers and experts (resolved from the store,
 * only its part), the stage math with its KV caches, the expert host, and the dispatchers to remote experts.
 * Streams hold the part they said hello under; a part replaced by a newer epoch is closed when its last stream
 * ends, so in-flight steps finish under the plan they started with.
 */
final class NodePart {
    private final ShardAssignment assignment;
    private final ModelConfig config;
    private final List<ModelWeights> weights;
    private final StageRunner stage;
    private final ExpertHost experts;
    private final SequenceCaches caches;
    private final List<RemoteExpertRunner> remotes;
    private int streams;
    private boolean retired;
    private boolean closed;

    private NodePart(ShardAssignment assignment, ModelConfig config, List<ModelWeights> weights, StageRunner stage,
                     ExpertHost experts, SequenceCaches caches, List<RemoteExpertRunner> remotes) {
        this.assignment = assignment;
        this.config = config;
        this.weights = weights;
        this.stage = stage;
        this.experts = experts;
        this.caches = caches;
        this.remotes = remotes;
    }

    /**
     * Resolves the assignment's weights and connects its expert dispatchers. The assignment must have passed
     * {@link AssignmentCheck}. On failure nothing stays mapped or connected.
     */
    static NodePart load(ShardAssignment a, ModelSource model, NodeSettings settings, NodeIdentity identity,
                         PeerChannels channels, WireCounters counters) {
        ModelConfig c = model.config();
        List<ModelWeights> opened = new ArrayList<>();
        List<RemoteExpertRunner> remotes = new ArrayList<>();
        try {
            ModelWeights stageWeights = null;
            if (a.isStage()) {
                stageWeights = ModelWeights.part(c, model.store(), model.format(),
                        ModelWeights.Part.stage(a.layers().start(), a.layers().end(), a.embedding(), a.lmHead()));
                opened.add(stageWeights);
            }
            // Held experts of layers outside the stage's range get weights of their own, one per contiguous run
            // of such layers, holding nothing but those experts (no attention, no router), so an expert node
            // resolves exactly the experts it holds.
            Map<Integer, LocalExpertRunner> hostRunners = new HashMap<>();
            TreeSet<Integer> expertLayers = new TreeSet<>();
            for (ExpertRef e : a.experts()) {
                expertLayers.add(e.layer());
            }
            Map<Integer, ModelWeights> weightsOfLayer = new HashMap<>();
            for (int l : expertLayers) {
                if (a.layers().contains(l)) {
                    weightsOfLayer.put(l, stageWeights);
                    continue;
                }
                if (weightsOfLayer.containsKey(l)) {
                    continue;
                }
                int end = l + 1;
                while (expertLayers.contains(end) && !a.layers().contains(end)) {
                    end++;
                }
                ModelWeights w = ModelWeights.part(c, model.store(), model.format(), ModelWeights.Part.experts(l, end));
                opened.add(w);
                for (int k = l; k < end; k++) {
                    weightsOfLayer.put(k, w);
                }
            }
            Map<ModelWeights, LocalExpertRunner> runnerOf = new HashMap<>();
            for (int l : expertLayers) {
                hostRunners.put(l, runnerOf.computeIfAbsent(weightsOfLayer.get(l),
                        w -> new LocalExpertRunner(w, settings.backend())));
            }
            // resolve every held expert now: a broken tensor fails the load, not the first token routed to it
            for (ExpertRef e : a.experts()) {
                weightsOfLayer.get(e.layer()).expert(e.layer(), e.expert());
            }
            ExpertHost host = new ExpertHost(c.hiddenSize(), hostRunners, a.experts());

            SequenceCaches caches = new SequenceCaches(c, a.layers());
            StageRunner stage = null;
            if (a.isStage()) {
                ExpertSet expertSet;
                if (c.moe() == null) {
                    expertSet = LocalExpertSet.of(stageWeights, settings.backend());
                } else {
                    // remote owners first: the dispatcher sends requests in owner order and the local runner computes
                    // on the calling thread, so putting it last lets remote nodes work while local experts run
                    List<ExpertRunner> owners = new ArrayList<>();
                    for (ExpertPeer p : a.expertPeers()) {
                        RemoteExpertRunner r = new RemoteExpertRunner(channels.channel(p.peer().address()),
                                identity.hello(a.planEpoch(), NodeRole.NODE_ROLE_SHARD), p.peer(), c.hiddenSize(),
                                settings.wire(), settings.peerDeadline(), counters);
                        remotes.add(r);
                        owners.add(r);
                    }
                    owners.add(host.asRunner());
                    expertSet = new DispatchingExpertSet(c.moe(), c.hiddenSize(), placement(a, c), owners);
                }
                Transformer t = new Transformer(stageWeights, settings.backend(), expertSet, settings.probe());
                stage = new StageRunner(t, a.layers(), a.embedding(), a.lmHead(), caches);
            }
            return new NodePart(a, c, List.copyOf(opened), stage, host, caches, List.copyOf(remotes));
        } catch (RuntimeException e) {
            // a half-loaded part is never served: release what was mapped and connected before reporting
            remotes.forEach(RemoteExpertRunner::close);
            opened.forEach(ModelWeights::close);
            throw e;
        }
    }

    /**
     * Owner of each routed expert of the stage's MoE layers: this node (the last owner index) when held here,
     * else the first expert peer listing it (peer i is owner i). {@link AssignmentCheck} has made sure every one has an owner.
     */
    private static ExpertPlacement placement(ShardAssignment a, ModelConfig c) {
        int[][] table = new int[c.numLayers()][];
        for (int l = a.layers().start(); l < a.layers().end(); l++) {
            if (!c.layer(l).moe()) {
                continue;
            }
            table[l] = new int[c.moe().numExperts()];
            Arrays.fill(table[l], -1);
        }
        for (int p = a.expertPeers().size() - 1; p >= 0; p--) { // backwards, so the first listing wins
            for (ExpertRef e : a.expertPeers().get(p).experts()) {
                table[e.layer()][e.expert()] = p;
            }
        }
        for (ExpertRef e : a.experts()) {
            if (a.layers().contains(e.layer())) {
                table[e.layer()][e.expert()] = a.expertPeers().size(); // held here: no traffic at all
            }
        }
        return ExpertPlacement.of(table);
    }

    ShardAssignment assignment() {
        return assignment;
    }

    long epoch() {
        return assignment.planEpoch();
    }

    ModelConfig config() {
        return config;
    }

    /** The stage math; null on an expert-only node. */
    StageRunner stage() {
        return stage;
    }

    ExpertHost experts() {
        return experts;
    }

    SequenceCaches caches() {
        return caches;
    }

    /** A stream starts using this part; false when it has already been closed. */
    synchronized boolean retain() {
        if (closed) {
            return false;
        }
        streams++;
        return true;
    }

    synchronized void release() {
        streams--;
        closeIfUnused();
    }

    /** A newer part serves new streams from now on; this one closes when its last stream ends. */
    synchronized void retire() {
        retired = true;
        closeIfUnused();
    }

    private void closeIfUnused() {
        if (retired && streams <= 0 && !closed) {
            closed = true;
            remotes.forEach(RemoteExpertRunner::close);
            weights.forEach(ModelWeights::close);
            caches.close();
        }
    }
}
