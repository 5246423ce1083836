package dev.herd.coordinator.cluster;

import dev.herd.coordinator.plan.ModelShape;
import dev.herd.coordinator.plan.PlanOptions;
import dev.herd.kernels.ReferenceBackend;
import dev.herd.model.load.ModelFiles;
import dev.herd.shard.ModelSource;
import dev.herd.shard.NodeSettings;
import dev.herd.shard.ShardNode;
import dev.herd.shard.ShardServer;
import dev.herd.shard.discovery.ClusterSettings;
import dev.herd.shard.discovery.NodeAdvertisement;
import dev.herd.shard.discovery.NodeMembership;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Shard nodes as separate instances in this JVM (each with its own gRPC server, Hazelcast member and reference
 * backend) on loopback free ports, with a coordinator's supervisor and engine over them. Each node offers about
 * a third of the model's weights plus the KV reserve, so the planner has to split the model.
 */
public final class InProcessCluster implements AutoCloseable {
    private final List<Node> nodes = new ArrayList<>();
    private final Path model;
    private final String name;
    private final List<String> seeds;
    private ClusterEngine.Settings settings;
    private ClusterSupervisor supervisor;
    /** The coordinator's engine (a new one after {@link #restartCoordinator}). */
    public ClusterEngine engine;

    private record Node(ModelFiles files, ReferenceBackend backend, ShardNode node, ShardServer server,
                        NodeMembership membership) implements AutoCloseable {
        @Override
        public void close() {
            membership.close();
            server.kill();
            node.close();
            files.close();
            backend.close();
        }
    }

    private InProcessCluster(Path model, String name, List<String> seeds, ClusterEngine.Settings settings) {
        this.model = model;
        this.name = name;
        this.seeds = seeds;
        this.settings = settings;
    }

    private void startCoordinator(int port, ByteArrayOutputStream log) {
        supervisor = ClusterSupervisor.start(new ClusterSettings(name, "127.0.0.1", port, seeds),
                name + "-coordinator-" + System.nanoTime());
        engine = ClusterEngine.start(supervisor, ClusterModel.open(model), settings, new PrintStream(log, true));
    }

    /**
     * The coordinator process goes away (engine and Hazelcast member) and a new one starts over the same nodes,
     * with its log in {@code log}, waiting for {@code minNodes} nodes before it plans; waits until it serves a plan.
     */
    public void restartCoordinator(ByteArrayOutputStream log, int minNodes) throws Exception {
        engine.close();
        supervisor.close();
        settings = new ClusterEngine.Settings(minNodes, settings.options(), settings.loadTimeout(),
                settings.stepTimeout(), settings.replanGrace(), settings.loadInterval());
        startCoordinator(freePort(), log); // joins through the nodes' addresses in the seed list
        engine.awaitServing(Duration.ofSeconds(60));
    }

    /** Node {@code i}'s shard node. */
    public ShardNode node(int i) {
        return nodes.get(i).node();
    }

    /** Starts {@code count} nodes and a coordinator, and waits until the first plan is served. */
    public static InProcessCluster start(Path model, int count, long contextTokens) throws Exception {
        ModelShape shape = ClusterModel.open(model).shape();
        long perNode = shape.totalWeightBytes() / 3 + shape.kvBytesPerToken() * contextTokens;
        String name = "herd-test-" + freePort();
        int coordinatorPort = freePort();
        List<Integer> ports = new ArrayList<>();
        List<String> seeds = new ArrayList<>(List.of("127.0.0.1:" + coordinatorPort));
        for (int i = 0; i < count; i++) {
            ports.add(freePort());
            seeds.add("127.0.0.1:" + ports.get(i));
        }
        InProcessCluster c = new InProcessCluster(model, name, seeds, new ClusterEngine.Settings(count,
                PlanOptions.defaults().withKvContextTokens(contextTokens), Duration.ofSeconds(60),
                Duration.ofSeconds(30), Duration.ofSeconds(30), Duration.ZERO));
        c.startCoordinator(coordinatorPort, new ByteArrayOutputStream());
        ClusterEngine engine = c.engine;
        try {
            for (int i = 0; i < count; i++) {
                ModelFiles files = ModelFiles.open(model);
                ReferenceBackend backend = new ReferenceBackend(1);
                ShardNode node = new ShardNode(NodeSettings.of("node-" + i, backend), ModelSource.of(files));
                ShardServer server = ShardServer.start(node, "127.0.0.1", 0);
                NodeMembership membership = NodeMembership.join(new ClusterSettings(name, "127.0.0.1", ports.get(i),
                        seeds), new NodeAdvertisement("node-" + i, server.address(), perNode, "cpu", 20, 10, 100));
                c.nodes.add(new Node(files, backend, node, server, membership));
            }
            engine.awaitServing(Duration.ofSeconds(60));
        } catch (Exception | Error e) {
            c.close();
            throw e;
        }
        return c;
    }

    /**
     * Node {@code i} goes away: its gRPC server dies at once (steps in flight fail as with a crash), then it leaves
     * the Hazelcast cluster, so the coordinator sees it gone and re-plans.
     */
    public void lose(int i) {
        nodes.get(i).server().kill();
        nodes.get(i).membership().close();
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() {
        engine.close();
        for (Node n : nodes.reversed()) {
            n.close();
        }
        supervisor.close();
    }
}
