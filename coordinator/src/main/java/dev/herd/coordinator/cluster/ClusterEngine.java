package dev.herd.coordinator.cluster;

import dev.herd.coordinator.plan.ExpertKey;
import dev.herd.coordinator.plan.ExpertLoad;
import dev.herd.coordinator.plan.LoadReplan;
import dev.herd.coordinator.plan.InfeasiblePlanException;
import dev.herd.coordinator.plan.NodeId;
import dev.herd.coordinator.plan.PlanOptions;
import dev.herd.coordinator.plan.Planner;
import dev.herd.coordinator.plan.ShardPlan;
import dev.herd.coordinator.plan.Stage;
import dev.herd.coordinator.scheduler.ModelRestartedException;
import dev.herd.coordinator.scheduler.ModelRunner;
import dev.herd.coordinator.scheduler.ModelSequence;
import dev.herd.model.sampling.SampledToken;
import dev.herd.model.sampling.SamplingParams;
import dev.herd.proto.v1.AssignReply;
import dev.herd.proto.v1.Hello;
import dev.herd.proto.v1.NodeRole;
import dev.herd.proto.v1.NodeState;
import dev.herd.proto.v1.ReadyReply;
import dev.herd.proto.v1.ReadyRequest;
import dev.herd.proto.v1.ReleaseReply;
import dev.herd.proto.v1.ReleaseRequest;
import dev.herd.proto.v1.ShardServiceGrpc;
import dev.herd.proto.v1.StatsReply;
import dev.herd.proto.v1.StatsRequest;
import dev.herd.shard.Assignments;
import dev.herd.shard.NodeIdentity;
import dev.herd.shard.PeerChannels;
import dev.herd.shard.ShardAssignment;
import dev.herd.shard.StageClient;
import dev.herd.shard.WireCounters;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;

import java.io.PrintStream;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;

/**
 * The coordinator's side of a cluster: follows the {@link ClusterSupervisor}'s view, plans the model over the
 * nodes it sees (a new epoch per view), sends each node its part over {@code Assign}, waits until every node's
 * {@code Ready} reports the epoch loaded, and then drives generation through the first stage.
 *
 * <p>Planning runs on one thread of its own, on the newest view only: views that arrive while a plan is being
 * loaded are coalesced into one re-plan. While re-planning nothing is served. Requests run through
 * {@link #runner()} (the scheduler's model): the nodes drop the old epoch's KV caches when they switch, so running
 * sequences are recomputed on the new plan and produce the same tokens.
 */
public final class ClusterEngine implements AutoCloseable {
    private static final String COORDINATOR = "coordinator";
    /** Routed rows to observe before the load is trusted over an even spread. */
    private static final long MIN_OBSERVED_ROWS = 4096;
    /** Re-plans one {@link #generate} call sits through before giving up. */
    private static final int MAX_RESTARTS = 8;

    /**
     * @param minNodes    do not make the first plan before this many nodes have joined (a cluster coming up
     *                    would otherwise be planned, loaded and re-planned once per joining node); once a plan
     *                    has been served, every later view is planned, so that losing a node re-plans over the
     *                    rest
     * @param options     planner options (KV context reserved per stage, replication, stage limit)
     * @param loadTimeout longest wait for the nodes loading an epoch to report it loaded or to make progress (a
     *                    node fetching its tensors from peers reports the bytes it has in {@code Ready})
     * @param stepTimeout longest wait for one pipeline step's result
     * @param replanGrace  how long a step that failed because a node became unreachable waits for the cluster to
     *                     notice the loss and re-plan (its sequences are then recomputed) before it fails
     * @param loadInterval how often the nodes' expert load is read and weighed against the served plan
     *                     ({@link LoadReplan}); zero never
     */
    public record Settings(int minNodes, PlanOptions options, Duration loadTimeout, Duration stepTimeout,
                           Duration replanGrace, Duration loadInterval) {
        public Settings {
            if (minNodes < 1) {
                throw new IllegalArgumentException("at least one node is needed to plan, got " + minNodes);
            }
        }

        public static Settings of(int minNodes, PlanOptions options) {
            return new Settings(minNodes, options, Duration.ofSeconds(60), Duration.ofSeconds(30),
                    Duration.ofSeconds(30), Duration.ofSeconds(60));
        }
    }

    /** A plan every node has loaded, and where its nodes listen. */
    record Serving(ShardPlan plan, Map<NodeId, ShardAssignment> parts, Map<NodeId, String> addresses) {
    }

    private final ClusterModel model;
    private final Settings settings;
    private final PlanStore plans;
    private final PrintStream log;
    private final NodeIdentity self;
    private final PeerChannels channels = new PeerChannels();
    private final WireCounters sent = new WireCounters();
    private final ScheduledExecutorService planning = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("herd-cluster-engine").factory());
    private final AtomicReference<ClusterView> latest = new AtomicReference<>();
    private final AtomicLong epochs = new AtomicLong();
    private final AtomicLong seqIds = new AtomicLong();
    /** Result routes must not collide with another coordinator's on the same last stage. */
    private final SecureRandom routes = new SecureRandom();
    private final Object changed = new Object();
    /** Touched by the planning thread only. */
    private long plannedVersion = -1;
    /** Routing observed on the nodes (planning thread only); plans place replicas by it. */
    private ExpertLoad observed = ExpertLoad.uniform();
    private boolean servedOnce;
    private volatile Serving serving;
    private volatile String status = "waiting for nodes";

    private ClusterEngine(ClusterModel model, Settings settings, PlanStore plans, PrintStream log) {
        this.model = model;
        this.settings = settings;
        this.plans = plans;
        this.log = log;
        this.self = new NodeIdentity(COORDINATOR, model.digest());
    }

    /** Follows {@code supervisor}'s view from now on, planning as soon as enough nodes are there. */
    public static ClusterEngine start(ClusterSupervisor supervisor, ClusterModel model, Settings settings,
                                      PrintStream log) {
        ClusterEngine e = new ClusterEngine(model, settings, supervisor.plans(), log);
        supervisor.onChange(e::viewChanged);
        e.viewChanged(supervisor.view()); // nodes seen before the listener was added
        long every = settings.loadInterval().toMillis();
        if (every > 0) {
            e.planning.scheduleWithFixedDelay(e::checkLoad, every, every, TimeUnit.MILLISECONDS);
        }
        return e;
    }

    /** Takes a new view; the planning thread acts on the newest one. */
    public void viewChanged(ClusterView view) {
        latest.accumulateAndGet(view, (a, b) -> a == null || b.version() >= a.version() ? b : a);
        planning.execute(this::replan);
    }

    /** The plan being served, or null while none is. */
    public ShardPlan plan() {
        Serving s = serving;
        return s == null ? null : s.plan();
    }

    /** The model as the scheduler runs it: steps through the served plan's pipeline. */
    public ModelRunner runner() {
        return new ClusterModelRunner(this);
    }

    /** The plan being served with its parts and addresses, or null. */
    Serving serving() {
        return serving;
    }

    ClusterModel model() {
        return model;
    }

    Settings settings() {
        return settings;
    }

    long nextSequenceId() {
        return seqIds.incrementAndGet();
    }

    /**
     * A stream into the pipeline of plan {@code s}: to its first stage, with the results of a pipeline of several
     * stages routed straight back from the last one (one hop instead of one per stage).
     */
    StageClient openPipeline(Serving s) {
        Hello hello = self.hello(s.plan().epoch(), NodeRole.NODE_ROLE_COORDINATOR);
        NodeId first = s.plan().stages().getFirst().node();
        NodeId last = s.plan().stages().getLast().node();
        StageClient c = StageClient.open(channels.channel(s.addresses().get(first)), hello,
                first + " (" + s.addresses().get(first) + ")", sent);
        if (!last.equals(first)) {
            long route;
            do {
                route = routes.nextLong();
            } while (route == 0);
            c.routeResultsFrom(channels.channel(s.addresses().get(last)), hello,
                    last + " (" + s.addresses().get(last) + ")", route);
        }
        return c;
    }

    /** Waits up to {@code timeout} for the engine to stop serving {@code s}; true when it has. */
    boolean awaitLeaving(Serving s, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (changed) {
            while (serving == s) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                try {
                    changed.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
            return true;
        }
    }

    /** What the engine is doing or why it serves nothing, for logs and errors. */
    public String status() {
        return status;
    }

    /**
     * Waits until a plan is served.
     *
     * @throws IllegalStateException with the engine's status when none is within {@code timeout}
     */
    public ShardPlan awaitServing(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (changed) {
            while (serving == null) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new IllegalStateException("no plan served after " + timeout.toSeconds() + " s: " + status);
                }
                changed.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
            }
            return serving.plan();
        }
    }

    private void replan() {
        ClusterView view = latest.get();
        if (view == null || view.version() == plannedVersion) {
            return; // coalesced: an earlier run already planned this view
        }
        plannedVersion = view.version();
        Serving old = serving;
        if (old != null && view.nodes().keySet().containsAll(old.addresses().keySet())
                && view.nodes().size() == old.addresses().size()) {
            return; // a change that keeps the nodes as they are (a rejected member): the plan stands
        }
        setServing(null, "re-planning for " + view.nodes().size() + " node(s)");
        if (!servedOnce && view.nodes().size() < settings.minNodes()) {
            setServing(null, "waiting for " + settings.minNodes() + " nodes, " + view.nodes().size() + " joined");
            log.println("herd cluster: " + status);
            return;
        }
        PlanStore.StoredPlan stored = storedPlan();
        if (!servedOnce && stored != null && takeOver(view, stored)) {
            return;
        }
        long floor = stored == null ? 0 : stored.plan().epoch();
        long epoch = epochs.updateAndGet(e -> Math.max(e, floor) + 1); // above ours and the kept one
        ShardPlan plan;
        try {
            plan = Planner.plan(model.shape(), view.toClusterState(), observed, settings.options(), epoch);
        } catch (InfeasiblePlanException e) {
            setServing(null, "the model does not fit the " + view.nodes().size() + " node(s): " + e.getMessage());
            log.println("herd cluster: " + status);
            return;
        }
        install(view, plan);
    }

    /** Assigns {@code plan} to the nodes of {@code view}, waits until all have loaded it, and serves it. */
    private void install(ClusterView view, ShardPlan plan) {
        long epoch = plan.epoch();
        Map<NodeId, String> addresses = addresses(view);
        try {
            Map<NodeId, ShardAssignment> parts = PlanAssignments.of(plan, model.config(), addresses);
            log.println("herd cluster: " + describe(plan));
            load(parts, addresses, epoch);
            setServing(new Serving(plan, parts, addresses), "serving epoch " + epoch);
            servedOnce = true;
            log.println("herd cluster: every node has loaded epoch " + epoch);
            keep(plan, addresses);
        } catch (RuntimeException e) {
            setServing(null, "epoch " + epoch + " could not be loaded: " + e.getMessage());
            log.println("herd cluster: " + status);
        }
    }

    /** Where each node of {@code view} serves gRPC, ordered by node. */
    private static Map<NodeId, String> addresses(ClusterView view) {
        Map<NodeId, String> addresses = new TreeMap<>();
        view.nodes().forEach((id, n) -> addresses.put(id, n.grpcAddress()));
        return addresses;
    }

    /** The plan kept in the cluster for this model, or null (none, or unreadable: said in the log). */
    private PlanStore.StoredPlan storedPlan() {
        try {
            return plans.served(model.digest()).orElse(null);
        } catch (RuntimeException e) {
            log.println("herd cluster: " + e.getMessage());
            return null;
        }
    }

    /** Keeps the plan now served in the cluster, for a coordinator that takes over after this one. */
    private void keep(ShardPlan plan, Map<NodeId, String> addresses) {
        try {
            plans.serving(new PlanStore.StoredPlan(model.digest(), plan, addresses));
        } catch (RuntimeException e) {
            // serving goes on; only a restarted coordinator would have to reload the nodes
            log.println("herd cluster: could not keep epoch " + plan.epoch() + " in the cluster: " + e.getMessage());
        }
    }

    /**
     * Serves the plan kept in the cluster when this coordinator starts (after a restart, or after another
     * coordinator went away) if the same nodes are there at the same addresses and every one of them still serves
     * that epoch: nothing is reloaded. The sequences the previous coordinator left on the nodes are released.
     * Otherwise returns false and the view is planned as usual, with an epoch above the kept one.
     */
    private boolean takeOver(ClusterView view, PlanStore.StoredPlan stored) {
        long epoch = stored.plan().epoch();
        Map<NodeId, String> addresses = addresses(view);
        if (!addresses.equals(stored.addresses())) {
            log.println("herd cluster: not taking over epoch " + epoch + ": it was served on " + stored.addresses()
                    + ", the cluster now has " + addresses);
            return false;
        }
        Hello hello = self.hello(epoch, NodeRole.NODE_ROLE_COORDINATOR);
        try {
            Map<NodeId, ShardAssignment> parts = PlanAssignments.of(stored.plan(), model.config(), addresses);
            for (NodeId n : parts.keySet()) {
                ReadyReply r = stub(addresses.get(n), Duration.ofSeconds(5))
                        .ready(ReadyRequest.newBuilder().setHello(hello).setPlanEpoch(epoch).build());
                if (r.getState() != NodeState.NODE_STATE_READY || r.getServingEpoch() != epoch) {
                    log.println("herd cluster: not taking over epoch " + epoch + ": node " + n + " is "
                            + r.getState() + " for it and serves epoch " + r.getServingEpoch());
                    return false;
                }
            }
            ReleaseRequest everything = ReleaseRequest.newBuilder().setHello(hello).setAllSequences(true).build();
            for (NodeId n : parts.keySet()) {
                stub(addresses.get(n), Duration.ofSeconds(5)).releaseSequence(everything);
            }
            epochs.accumulateAndGet(epoch, Math::max);
            log.println("herd cluster: took over " + describe(stored.plan()) + " (every node still serves it)");
            servedOnce = true;
            setServing(new Serving(stored.plan(), parts, addresses), "serving epoch " + epoch);
            return true;
        } catch (StatusRuntimeException | IllegalArgumentException e) {
            log.println("herd cluster: not taking over epoch " + epoch + ": " + e.getMessage());
            return false;
        }
    }

    /**
     * Reads the expert load the served plan's nodes observed and switches to a plan made for it when that is worth
     * it ({@link LoadReplan}). On the planning thread, between re-plans.
     */
    private void checkLoad() {
        try {
            Serving s = serving;
            ClusterView view = latest.get();
            if (s == null || view == null) {
                return;
            }
            ExpertLoad load = collectLoad(s);
            long seen = load.tokens().values().stream().mapToLong(Long::longValue).sum();
            if (seen < MIN_OBSERVED_ROWS) {
                return; // too little traffic to tell hot experts from chance
            }
            observed = load;
            long epoch = epochs.get() + 1;
            var better = LoadReplan.better(s.plan(), model.shape(), view.toClusterState(), load,
                    settings.options(), epoch);
            if (better.isEmpty() || serving != s) {
                return;
            }
            epochs.incrementAndGet();
            log.println("herd cluster: the observed expert load (" + seen + " routed rows) is worth a new plan: "
                    + String.format(Locale.ROOT, "%.3f ms/token estimated instead of %.3f",
                    better.get().cost().secondsPerToken() * 1e3, Planner.estimate(s.plan(), model.shape(),
                            view.toClusterState(), load, settings.options()).secondsPerToken() * 1e3));
            setServing(null, "re-planning for the observed expert load");
            install(view, better.get());
        } catch (RuntimeException e) {
            // a node that does not answer is membership's business; the served plan stands
            log.println("herd cluster: could not weigh the expert load: " + e.getMessage());
        }
    }

    /** The expert load the served plan's nodes report now (for tests and diagnostics); uniform when none. */
    ExpertLoad reportedLoad() {
        Serving s = serving;
        return s == null ? ExpertLoad.uniform() : collectLoad(s);
    }

    /** Rows per (layer, expert) the plan's nodes ran in this epoch, replicas summed. */
    private ExpertLoad collectLoad(Serving s) {
        Map<ExpertKey, Long> tokens = new TreeMap<>();
        Hello hello = self.hello(s.plan().epoch(), NodeRole.NODE_ROLE_COORDINATOR);
        for (Map.Entry<NodeId, String> n : s.addresses().entrySet()) {
            if (!s.parts().containsKey(n.getKey())) {
                continue;
            }
            StatsReply reply = stub(n.getValue(), Duration.ofSeconds(5))
                    .stats(StatsRequest.newBuilder().setHello(hello).build());
            for (var e : reply.getExpertLoadList()) {
                tokens.merge(new ExpertKey(e.getExpert().getLayer(), e.getExpert().getExpert()), e.getTokens(),
                        Long::sum);
            }
        }
        return new ExpertLoad(tokens);
    }

    /** Sends every part, then polls until each node reports the epoch ready (or failed). */
    private void load(Map<NodeId, ShardAssignment> parts, Map<NodeId, String> addresses, long epoch) {
        long current = serving == null ? 0 : serving.plan().epoch();
        Hello hello = self.hello(current, NodeRole.NODE_ROLE_COORDINATOR);
        for (Map.Entry<NodeId, ShardAssignment> p : parts.entrySet()) {
            AssignReply reply;
            try {
                reply = stub(addresses.get(p.getKey()), Duration.ofSeconds(10))
                        .assign(Assignments.toProto(p.getValue(), hello));
            } catch (StatusRuntimeException e) {
                throw new IllegalStateException("node " + p.getKey() + " at " + addresses.get(p.getKey())
                        + " did not take its assignment: " + e.getStatus(), e);
            }
            if (!reply.getAccepted()) {
                throw new IllegalStateException("node " + p.getKey() + " refused its assignment: " + reply.getMessage());
            }
        }
        long deadline = System.nanoTime() + settings.loadTimeout().toNanos();
        Map<NodeId, Long> loadedBytes = new HashMap<>();
        Map<NodeId, String> waiting = new TreeMap<>(addresses);
        waiting.keySet().retainAll(parts.keySet());
        while (!waiting.isEmpty()) {
            for (var it = waiting.entrySet().iterator(); it.hasNext(); ) {
                var n = it.next();
                ReadyReply r;
                try {
                    r = stub(n.getValue(), Duration.ofSeconds(5))
                            .ready(ReadyRequest.newBuilder().setHello(hello).setPlanEpoch(epoch).build());
                } catch (StatusRuntimeException e) {
                    throw new IllegalStateException("node " + n.getKey() + " did not answer Ready: " + e.getStatus(), e);
                }
                if (r.getLoadedBytes() > loadedBytes.getOrDefault(n.getKey(), 0L)) {
                    loadedBytes.put(n.getKey(), r.getLoadedBytes()); // still fetching, and getting on: wait on
                    deadline = System.nanoTime() + settings.loadTimeout().toNanos();
                }
                if (r.getState() == NodeState.NODE_STATE_READY) {
                    it.remove();
                } else if (r.getState() == NodeState.NODE_STATE_FAILED) {
                    throw new IllegalStateException("node " + n.getKey() + " failed to load: " + r.getMessage());
                }
            }
            if (waiting.isEmpty()) {
                break;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("nodes " + waiting.keySet() + " had not loaded epoch " + epoch
                        + " and made no progress for " + settings.loadTimeout().toSeconds() + " s");
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while nodes loaded epoch " + epoch, e);
            }
        }
    }

    private ShardServiceGrpc.ShardServiceBlockingStub stub(String address, Duration deadline) {
        return ShardServiceGrpc.newBlockingStub(channels.channel(address))
                .withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void setServing(Serving s, String why) {
        synchronized (changed) {
            serving = s;
            status = why;
            changed.notifyAll();
        }
    }

    /**
     * Greedy generation of one sequence outside any scheduler: the prompt in one step, then one token per step,
     * exactly {@code maxTokens} tokens (no stop tokens). A re-plan while it runs recomputes the sequence on the
     * new plan, as the scheduler does.
     *
     * @throws IllegalStateException when no plan is served (for longer than the re-plan grace) or a step failed
     */
    public int[] generate(int[] prompt, int maxTokens) {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt must hold at least one token");
        }
        if (maxTokens < 1) {
            throw new IllegalArgumentException("max tokens must be at least 1, got " + maxTokens);
        }
        if (serving == null) {
            throw new IllegalStateException("the cluster serves no plan: " + status);
        }
        ClusterModelRunner runner = new ClusterModelRunner(this);
        int[] known = Arrays.copyOf(prompt, prompt.length + maxTokens);
        int length = prompt.length;
        int restarts = 0;
        ModelSequence seq = runner.open(SamplingParams.greedy(), 0, prompt, prompt.length);
        try {
            while (length < known.length) {
                int from = seq.computed();
                try {
                    SampledToken t = runner.step(List.of(new ModelRunner.Work(seq,
                            Arrays.copyOfRange(known, from, length), true))).getFirst();
                    known[length++] = t.id();
                } catch (ModelRestartedException e) {
                    if (++restarts > MAX_RESTARTS) {
                        throw new IllegalStateException("the cluster re-planned " + restarts + " times while one"
                                + " request ran: " + e.getMessage(), e);
                    }
                    log.println("herd cluster: " + e.getMessage() + "; recomputing the request's "
                            + length + " tokens");
                    if (!awaitServing()) {
                        throw new IllegalStateException("the cluster serves no plan: " + status, e);
                    }
                    runner.release(seq);
                    seq = runner.open(SamplingParams.greedy(), 0, Arrays.copyOf(known, length), prompt.length);
                }
            }
            return Arrays.copyOfRange(known, prompt.length, length);
        } finally {
            runner.release(seq);
        }
    }

    /** Waits (up to the re-plan grace) until a plan is served again. */
    private boolean awaitServing() {
        try {
            awaitServing(settings.replanGrace().plus(settings.loadTimeout()));
            return true;
        } catch (IllegalStateException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Frees sequences' KV caches and samplers on the stages of {@code s}; best effort and asynchronous. */
    void release(Serving s, List<Long> seqs) {
        Hello hello = self.hello(s.plan().epoch(), NodeRole.NODE_ROLE_COORDINATOR);
        ReleaseRequest request = ReleaseRequest.newBuilder().setHello(hello).addAllSeqIds(seqs).build();
        for (Stage st : s.plan().stages()) {
            ShardServiceGrpc.newStub(channels.channel(s.addresses().get(st.node())))
                    .withDeadlineAfter(2, TimeUnit.SECONDS)
                    .releaseSequence(request, new StreamObserver<>() {
                        @Override
                        public void onNext(ReleaseReply reply) {
                        }

                        @Override
                        public void onError(Throwable t) {
                            // a node that is gone holds nothing; one that is there keeps the caches until it
                            // switches epochs, which is worth a line in the log
                            log.println("herd cluster: could not release " + seqs.size() + " sequence(s) on "
                                    + st.node() + ": " + Status.fromThrowable(t));
                        }

                        @Override
                        public void onCompleted() {
                        }
                    });
        }
    }

    /** One line: stages with their layers, where the experts live, and the estimate. */
    public static String describe(ShardPlan plan) {
        String stages = plan.stages().stream().map(s -> s.node() + " " + s.layers()).collect(Collectors.joining(", "));
        Map<NodeId, Integer> held = new HashMap<>();
        plan.experts().forEach((k, nodes) -> nodes.forEach(n -> held.merge(n, 1, Integer::sum)));
        List<String> holders = new TreeMap<>(held).entrySet().stream()
                .map(e -> e.getKey() + "=" + e.getValue()).toList();
        return String.format(Locale.ROOT, "epoch %d: %d stage(s) [%s]; %d of %d expert(s) remote from their stage;"
                        + " experts held %s; embedding on %s, LM head on %s; estimate %.3f ms/token",
                plan.epoch(), plan.stages().size(), stages, plan.remoteExperts().size(), plan.experts().size(),
                holders, plan.embedding(), plan.lmHead(), plan.cost().secondsPerToken() * 1e3);
    }

    @Override
    public void close() {
        planning.shutdownNow();
        channels.close();
    }
}
