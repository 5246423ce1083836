package dev.herd.shard;

import dev.herd.model.config.ModelConfig;
import dev.herd.proto.v1.Hello;
import dev.herd.proto.v1.HelloReply;
import dev.herd.proto.v1.NodeRole;
import dev.herd.proto.v1.NodeState;
import dev.herd.proto.v1.RefusalReason;
import dev.herd.shard.weights.CountingWeightStore;
import dev.herd.shard.weights.FetchProgress;
import dev.herd.shard.weights.WeightCounters;
import dev.herd.shard.weights.WeightOrigin;

import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A shard node: the model it serves, the part of a plan it has loaded, and the workers that run it. The gRPC
 * service ({@link ShardGrpcService}) only converts and delegates to this class; {@link ShardServer} puts both
 * on a port.
 *
 * <p>Steps run one at a time on one stage worker (they share the KV caches), expert requests one at a time on
 * an expert worker of their own. Two workers, not one: a stage waiting for remote experts must never block
 * this node from answering another stage's expert requests, or two nodes holding experts for each other
 * would wait on each other forever.
 */
public final class ShardNode implements AutoCloseable {
    private final NodeSettings settings;
    private final ModelSource model;
    private final NodeIdentity identity;
    private final PeerChannels channels = new PeerChannels();
    private final WireCounters counters = new WireCounters();
    private final StageTimes stageTimes = new StageTimes();
    private final ResultRoutes routes = new ResultRoutes();
    private final ExecutorService stageWorker;
    private final ExecutorService expertWorker;
    private final ExecutorService loader;
    private final AtomicInteger queued = new AtomicInteger();
    private final Map<Long, Readiness> loads = new ConcurrentHashMap<>();
    private final Map<Long, FetchProgress> progress = new ConcurrentHashMap<>();
    private final WeightCounters weights = new WeightCounters();
    private final CountingWeightStore resolved;
    private volatile NodePart serving;

    public ShardNode(NodeSettings settings, ModelSource model) {
        this.settings = settings;
        this.resolved = new CountingWeightStore(model.store(), weights);
        this.model = model.withStore(resolved);
        this.identity = new NodeIdentity(settings.nodeId(), model.digest());
        this.stageWorker = Executors.newSingleThreadExecutor(Thread.ofPlatform().daemon()
                .name("herd-stage-" + settings.nodeId()).factory());
        this.expertWorker = Executors.newSingleThreadExecutor(Thread.ofPlatform().daemon()
                .name("herd-experts-" + settings.nodeId()).factory());
        this.loader = Executors.newSingleThreadExecutor(Thread.ofPlatform().daemon()
                .name("herd-loader-" + settings.nodeId()).factory());
    }

    public NodeIdentity identity() {
        return identity;
    }

    public ModelConfig config() {
        return model.config();
    }

    public NodeSettings settings() {
        return settings;
    }

    /** Bytes this node sent on the data path. */
    public WireCounters wire() {
        return counters;
    }

    public StageTimes stageTimes() {
        return stageTimes;
    }

    ResultRoutes routes() {
        return routes;
    }

    /** Weight bytes this node resolved, fetched, reused from its cache and served to peers. */
    public WeightCounters weights() {
        return weights;
    }

    /** Every tensor this node has resolved to compute with, and its stored bytes. */
    public Map<String, Long> resolvedTensors() {
        return resolved.resolved();
    }

    /** Where this node's weights come from (and, for a node with the model files, what it serves to peers). */
    public WeightOrigin origin() {
        return model.origin();
    }

    /**
     * Loads a part of a plan in the background and serves it once loaded (the previous epoch's part keeps
     * serving its open streams until they end). A node without the model files first fetches exactly the
     * part's tensors from peers ({@link AssignmentTensors}); {@link #readiness} shows the bytes as they come.
     *
     * @throws IllegalArgumentException at once when the assignment does not fit the model
     */
    public CompletableFuture<Void> assign(ShardAssignment a) {
        AssignmentCheck.check(a, model.config());
        loads.put(a.planEpoch(), new Readiness(NodeState.NODE_STATE_LOADING, servingEpoch().orElse(0), ""));
        FetchProgress p = new FetchProgress();
        progress.put(a.planEpoch(), p);
        return CompletableFuture.runAsync(() -> {
            try {
                List<String> tensors = AssignmentTensors.of(a, model.config(), model.format(), model.origin().index());
                switch (model.origin()) {
                    case WeightOrigin.FromPeers peers -> peers.fetcher().provide(tensors, p, weights);
                    case WeightOrigin.LocalFiles local -> p.start(local.index().bytes(tensors));
                }
                NodePart part = NodePart.load(a, model, settings, identity, channels, counters);
                p.finish();
                NodePart previous;
                synchronized (this) {
                    previous = serving;
                    serving = part;
                }
                if (previous != null) {
                    previous.retire();
                }
                loads.put(a.planEpoch(), new Readiness(NodeState.NODE_STATE_READY, a.planEpoch(), ""));
            } catch (RuntimeException e) {
                // reported through Ready, so the coordinator plans without this node; also rethrown to the caller
                loads.put(a.planEpoch(), new Readiness(NodeState.NODE_STATE_FAILED, servingEpoch().orElse(0),
                        "loading epoch " + a.planEpoch() + " failed: " + e.getMessage()));
                throw e;
            }
        }, loader);
    }

    /** {@link #assign} and wait for it; load failures are rethrown as they were raised. */
    public void assignAndWait(ShardAssignment a) {
        try {
            assign(a).join();
        } catch (CompletionException e) {
            // the load ran on the loader thread; give the caller the exception it raised, not the wrapper
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw e;
        }
    }

    public OptionalLong servingEpoch() {
        NodePart p = serving;
        return p == null ? OptionalLong.empty() : OptionalLong.of(p.epoch());
    }

    public Readiness readiness(long epoch) {
        Readiness r = loads.getOrDefault(epoch, new Readiness(NodeState.NODE_STATE_IDLE, servingEpoch().orElse(0), ""));
        FetchProgress p = progress.get(epoch);
        return p == null ? r : new Readiness(r.state(), r.servingEpoch(), r.message(), p.doneBytes(), p.totalBytes());
    }

    /** The hello rule for this node as it is now. */
    public HelloReply answer(Hello peer, Set<NodeRole> roles, boolean checkEpoch) {
        return HelloCheck.answer(identity, servingEpoch(), peer, roles, checkEpoch);
    }

    /** An activation stream's hello: the reply, and when accepted the part the stream is bound to (retained). */
    record Opened(HelloReply reply, NodePart part) {
    }

    Opened open(Hello peer, Set<NodeRole> roles) {
        synchronized (this) {
            NodePart p = serving;
            HelloReply reply = HelloCheck.answer(identity, p == null ? OptionalLong.empty() : OptionalLong.of(p.epoch()),
                    peer, roles, true);
            if (!reply.getAccepted()) {
                return new Opened(reply, null);
            }
            if (!p.retain()) { // closed between becoming current and now: only during shutdown
                return new Opened(reply.toBuilder().setAccepted(false)
                        .setReason(RefusalReason.REFUSAL_REASON_PLAN_EPOCH_NOT_LOADED)
                        .setMessage("node " + identity.nodeId() + " is shutting down").build(), null);
            }
            return new Opened(reply, p);
        }
    }

    /** Forgets sequences' KV caches and sampling state; returns the ids that had none here. */
    public List<Long> release(List<Long> seqIds) {
        NodePart p = serving;
        if (p == null) {
            return List.copyOf(seqIds);
        }
        return seqIds.stream().filter(id -> !p.caches().release(id)).toList();
    }

    /** Forgets every sequence's KV cache and sampling state; returns how many sequences had any. */
    public int releaseAll() {
        NodePart p = serving;
        if (p == null) {
            return 0;
        }
        return p.caches().releaseAll();
    }

    public NodeStats stats() {
        NodePart p = serving;
        Runtime rt = Runtime.getRuntime();
        return new NodeStats(p == null ? 0 : p.epoch(), p == null ? Map.of() : p.experts().load(), queued.get(),
                p == null ? 0 : p.caches().size(), rt.totalMemory() - rt.freeMemory(), rt.maxMemory(),
                p == null ? 0 : p.caches().storedBytes(), weights.snapshot());
    }

    /** Runs a stage step on the stage worker. */
    void onStageWorker(Runnable step) {
        submit(stageWorker, step);
    }

    /** Runs an expert request on the expert worker. */
    void onExpertWorker(Runnable request) {
        submit(expertWorker, request);
    }

    private void submit(ExecutorService worker, Runnable task) {
        queued.incrementAndGet();
        worker.execute(() -> {
            try {
                task.run();
            } finally {
                queued.decrementAndGet();
            }
        });
    }

    PeerChannels channels() {
        return channels;
    }

    @Override
    public void close() {
        loader.shutdownNow();
        stageWorker.shutdownNow();
        expertWorker.shutdownNow();
        NodePart p;
        synchronized (this) {
            p = serving;
            serving = null;
        }
        if (p != null) {
            p.retire();
        }
        channels.close();
        try {
            stageWorker.awaitTermination(5, TimeUnit.SECONDS);
            expertWorker.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            // closing is best effort: keep the interrupt for the caller
            Thread.currentThread().interrupt();
        }
    }
}
