package dev.herd.coordinator.cluster;

import com.hazelcast.cluster.Member;
import com.hazelcast.cluster.MembershipEvent;
import com.hazelcast.cluster.MembershipListener;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import dev.herd.coordinator.plan.Link;
import dev.herd.coordinator.plan.NodeBackend;
import dev.herd.coordinator.plan.NodeCapacity;
import dev.herd.coordinator.plan.NodeId;
import dev.herd.shard.discovery.ClusterSettings;
import dev.herd.shard.discovery.NodeAdvertisement;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Consumer;

/**
 * The coordinator's embedded Hazelcast member (a lite member: it stores no data) and the single thread that
 * turns membership events into {@link ClusterEvent}s, applies them to the {@link ClusterView} and tells
 * listeners. Hazelcast's own threads only enqueue, so listeners never race each other.
 */
public final class ClusterSupervisor implements AutoCloseable {
    private final HazelcastInstance hazelcast;
    private final ExecutorService loop = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "herd-cluster-supervisor");
        t.setDaemon(true);
        return t;
    });
    private final List<Consumer<ClusterView>> listeners = new CopyOnWriteArrayList<>();
    private volatile ClusterView view = ClusterView.empty();

    private ClusterSupervisor(HazelcastInstance hazelcast) {
        this.hazelcast = hazelcast;
    }

    public static ClusterSupervisor start(ClusterSettings settings, String instanceName) {
        HazelcastInstance hz = Hazelcast.newHazelcastInstance(settings.toConfig(instanceName, true, Map.of()));
        ClusterSupervisor s = new ClusterSupervisor(hz);
        hz.getCluster().addMembershipListener(new MembershipListener() {
            @Override
            public void memberAdded(MembershipEvent e) {
                s.loop.execute(() -> s.admit(e.getMember()));
            }

            @Override
            public void memberRemoved(MembershipEvent e) {
                s.loop.execute(() -> s.remove(e.getMember()));
            }
        });
        for (Member m : hz.getCluster().getMembers()) {
            if (!m.localMember()) {
                s.loop.execute(() -> s.admit(m));
            }
        }
        return s;
    }

    /** Called on the supervisor thread with every new view. */
    public void onChange(Consumer<ClusterView> listener) {
        listeners.add(listener);
    }

    public ClusterView view() {
        return view;
    }

    /** The plans kept in the cluster. */
    public PlanStore plans() {
        return new PlanStore(hazelcast);
    }

    private void admit(Member m) {
        Map<String, String> attrs = m.getAttributes();
        if (!NodeAdvertisement.isShardNode(attrs)) {
            return; // another coordinator or a tool: not a node to plan with
        }
        ClusterEvent event;
        try {
            NodeAdvertisement a = NodeAdvertisement.fromAttributes(attrs);
            NodeCapacity cap = new NodeCapacity(NodeId.of(a.nodeId()), a.usableMemoryBytes(),
                    a.backend().equals("cuda") ? NodeBackend.CUDA : NodeBackend.CPU, a.memoryBandwidthGBps(),
                    new Link(a.linkGbps(), a.roundTripMicros()));
            event = new ClusterEvent.NodeJoined(cap, a.grpcAddress());
        } catch (IllegalArgumentException e) {
            // a node of another version or a misconfigured one: shown, never planned with
            event = new ClusterEvent.NodeRejected(m.getAddress().toString(), e.getMessage());
        }
        publish(event);
    }

    private void remove(Member m) {
        String node = m.getAttribute("herd.node");
        if (node != null) {
            publish(new ClusterEvent.NodeLeft(NodeId.of(node)));
        }
    }

    private void publish(ClusterEvent event) {
        ClusterView next = view.apply(event);
        if (next == view) {
            return;
        }
        view = next;
        for (Consumer<ClusterView> l : listeners) {
            l.accept(next);
        }
    }

    @Override
    public void close() {
        loop.shutdownNow();
        hazelcast.shutdown();
    }
}
