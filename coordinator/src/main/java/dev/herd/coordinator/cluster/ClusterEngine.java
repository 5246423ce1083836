package dev.herd.coordinator.cluster;

import dev.herd.coordinator.plan.ExpertLoad;
import dev.herd.coordinator.plan.InfeasiblePlanException;
import dev.herd.coordinator.plan.NodeId;
import dev.herd.coordinator.plan.PlanOptions;
import dev.herd.coordinator.plan.Planner;
import dev.herd.coordinator.plan.ShardPlan;
import dev.herd.coordinator.plan.Stage;
import dev.herd.proto.v1.ActivationFrame;
import dev.herd.proto.v1.AssignReply;
import dev.herd.proto.v1.Hello;
import dev.herd.proto.v1.NodeRole;
import dev.herd.proto.v1.NodeState;
import dev.herd.proto.v1.ReadyReply;
import dev.herd.proto.v1.ReadyRequest;
import dev.herd.proto.v1.ReleaseRequest;
import dev.herd.proto.v1.SamplingParams;
import dev.herd.proto.v1.SequenceSampling;
import dev.herd.proto.v1.ShardServiceGrpc;
import dev.herd.proto.v1.StageInput;
import dev.herd.proto.v1.StepResult;
import dev.herd.shard.Assignments;
import dev.herd.shard.NodeIdentity;
import dev.herd.shard.PeerChannels;
import dev.herd.shard.ShardAssignment;
import dev.herd.shard.StageClient;
import dev.herd.shard.StepFailedException;
import dev.herd.shard.WireCounters;
import io.grpc.StatusRuntimeException;

import java.io.PrintStream;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;

/**
 * The coordinator's side of a cluster: follows the {@link ClusterSupervisor}'s view, plans the model over the
 * nodes it sees (a new epoch per view), sends each node its part over {@code Assign}, waits until every node's
 * {@code Ready} reports the epoch loaded, and then drives generation through the first stage.
 *
 * <p>Planning runs on one thread of its own, on the newest view only: views that arrive while a plan is being
 * loaded are coalesced into one re-plan. While re-planning nothing is served; a request running when the epoch
 * changes fails with an {@link IllegalStateException} saying so (the caller may retry), since the nodes drop the
 * old epoch's KV caches when they switch.
 */
public final class ClusterEngine implements AutoCloseable {
    private static final String COORDINATOR = "coordinator";

    /**
     * @param minNodes    do not make the first plan before this many nodes have joined (a cluster coming up
     *                    would otherwise be planned, loaded and re-planned once per joining node); once a plan
     *                    has been served, every later view is planned, so that losing a node re-plans over the
     *                    rest
     * @param options     planner options (KV context reserved per stage, replication, stage limit)
     * @param loadTimeout longest wait for the nodes loading an epoch to report it loaded or to make progress (a
     *                    node fetching its tensors from peers reports the bytes it has in {@code Ready})
     * @param stepTimeout longest wait for one pipeline step's result
     */
    public record Settings(int minNodes, PlanOptions options, Duration loadTimeout, Duration stepTimeout) {
        public Settings {
            if (minNodes < 1) {
                throw new IllegalArgumentException("at least one node is needed to plan, got " + minNodes);
            }
        }

        public static Settings of(int minNodes, PlanOptions options) {
            return new Settings(minNodes, options, Duration.ofSeconds(60), Duration.ofSeconds(30));
        }
    }

    /** A plan every node has loaded, and where its nodes listen. */
    private record Serving(ShardPlan plan, Map<NodeId, ShardAssignment> parts, Map<NodeId, String> addresses) {
    }

    private final ClusterModel model;
    private final Settings settings;
    private final PrintStream log;
    private final NodeIdentity self;
    private final PeerChannels channels = new PeerChannels();
    private final WireCounters sent = new WireCounters();
    private final ExecutorService planning = Executors.newSingleThreadExecutor(
            Thread.ofPlatform().daemon().name("herd-cluster-engine").factory());
    private final AtomicReference<ClusterView> latest = new AtomicReference<>();
    private final AtomicLong epochs = new AtomicLong();
    private final AtomicLong seqIds = new AtomicLong();
    private final Object changed = new Object();
    /** Touched by the planning thread only. */
    private long plannedVersion = -1;
    private boolean servedOnce;
    private volatile Serving serving;
    private volatile String status = "waiting for nodes";

    private ClusterEngine(ClusterModel model, Settings settings, PrintStream log) {
        this.model = model;
        this.settings = settings;
        this.log = log;
        this.self = new NodeIdentity(COORDINATOR, model.digest());
    }

    /** Follows {@code supervisor}'s view from now on, planning as soon as enough nodes are there. */
    public static ClusterEngine start(ClusterSupervisor supervisor, ClusterModel model, Settings settings,
                                      PrintStream log) {
        ClusterEngine e = new ClusterEngine(model, settings, log);
        supervisor.onChange(e::viewChanged);
        e.viewChanged(supervisor.view()); // nodes seen before the listener was added
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
        long epoch = epochs.incrementAndGet();
        ShardPlan plan;
        try {
            plan = Planner.plan(model.shape(), view.toClusterState(), ExpertLoad.uniform(), settings.options(), epoch);
        } catch (InfeasiblePlanException e) {
            setServing(null, "the model does not fit the " + view.nodes().size() + " node(s): " + e.getMessage());
            log.println("herd cluster: " + status);
            return;
        }
        Map<NodeId, String> addresses = new TreeMap<>();
        view.nodes().forEach((id, n) -> addresses.put(id, n.grpcAddress()));
        try {
            Map<NodeId, ShardAssignment> parts = PlanAssignments.of(plan, model.config(), addresses);
            log.println("herd cluster: " + describe(plan));
            load(parts, addresses, epoch);
            setServing(new Serving(plan, parts, addresses), "serving epoch " + epoch);
            servedOnce = true;
            log.println("herd cluster: every node has loaded epoch " + epoch);
        } catch (RuntimeException e) {
            setServing(null, "epoch " + epoch + " could not be loaded: " + e.getMessage());
            log.println("herd cluster: " + status);
        }
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
     * Greedy generation of one sequence: the prompt in one step, then one token per step, exactly
     * {@code maxTokens} tokens (no stop tokens in this version).
     *
     * @throws IllegalStateException when no plan is served, the epoch changed while generating, or a step failed
     */
    public int[] generate(int[] prompt, int maxTokens) {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt must hold at least one token");
        }
        if (maxTokens < 1) {
            throw new IllegalArgumentException("max tokens must be at least 1, got " + maxTokens);
        }
        Serving s = serving;
        if (s == null) {
            throw new IllegalStateException("the cluster serves no plan: " + status);
        }
        long epoch = s.plan().epoch();
        Stage first = s.plan().stages().getFirst();
        String address = s.addresses().get(first.node());
        long seq = seqIds.incrementAndGet();
        int[] out = new int[maxTokens];
        int count = 0;
        StageClient client = StageClient.open(channels.channel(address),
                self.hello(epoch, NodeRole.NODE_ROLE_COORDINATOR), first.node() + " (" + address + ")", sent);
        try {
            long stepId = 0;
            StageInput.Builder in = StageInput.newBuilder();
            ActivationFrame.Builder f = frame(epoch, ++stepId, prompt.length);
            for (int i = 0; i < prompt.length; i++) {
                f.addSeqIds(seq).addPositions(i);
                in.addTokenIds(prompt[i]);
            }
            in.setFrame(f).addSampleRows(prompt.length - 1).addSampling(SequenceSampling.newBuilder().setSeqId(seq)
                    .setParams(SamplingParams.newBuilder().setTemperature(0f)));
            out[count++] = step(client, in.build(), epoch, count);
            while (count < maxTokens) {
                ActivationFrame.Builder d = frame(epoch, ++stepId, 1).addSeqIds(seq)
                        .addPositions(prompt.length + count - 1);
                out[count] = step(client, StageInput.newBuilder().setFrame(d).addTokenIds(out[count - 1])
                        .addSampleRows(0).build(), epoch, count);
                count++;
            }
            return out;
        } finally {
            client.close();
            release(s, seq);
        }
    }

    private int step(StageClient client, StageInput input, long epoch, int done) {
        try {
            StepResult r = client.step(input).get(settings.stepTimeout().toMillis(), TimeUnit.MILLISECONDS);
            return r.getTokens(0).getTokenId();
        } catch (ExecutionException e) {
            Serving now = serving;
            if (now == null || now.plan().epoch() != epoch) {
                throw new IllegalStateException("the cluster left plan epoch " + epoch + " while generating ("
                        + status + "); the request stopped after " + done + " token(s) and may be retried",
                        e.getCause());
            }
            throw new IllegalStateException("generation failed after " + done + " token(s): "
                    + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("step " + input.getFrame().getStepId() + " was not answered in "
                    + settings.stepTimeout().toSeconds() + " s", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while generating", e);
        }
    }

    private static ActivationFrame.Builder frame(long epoch, long stepId, int rows) {
        return ActivationFrame.newBuilder().setPlanEpoch(epoch).setStepId(stepId).setRows(rows).setCols(0);
    }

    /** Frees the sequence's KV caches on the stages; best effort, since a node that is gone holds nothing. */
    private void release(Serving s, long seq) {
        Hello hello = self.hello(s.plan().epoch(), NodeRole.NODE_ROLE_COORDINATOR);
        for (Stage st : s.plan().stages()) {
            try {
                stub(s.addresses().get(st.node()), Duration.ofSeconds(2))
                        .releaseSequence(ReleaseRequest.newBuilder().setHello(hello).addSeqIds(seq).build());
            } catch (StatusRuntimeException e) {
                log.println("herd cluster: could not release sequence " + seq + " on " + st.node() + ": "
                        + e.getStatus());
            }
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
