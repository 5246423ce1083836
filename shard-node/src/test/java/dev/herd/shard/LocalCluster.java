package dev.herd.shard;

import dev.herd.kernels.Backend;
import dev.herd.model.config.ModelConfig;
import dev.herd.model.load.ModelFiles;
import dev.herd.shard.weights.WeightFetcher;
import dev.herd.shard.weights.WeightHolders;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * Several shard nodes in one JVM, each with its own mapping of the model file (or, for a node started with
 * {@link #startFetching}, no model file at all: its own cache of tensors fetched from holders) and its own server
 * on a free loopback port, as separate processes would have.
 */
final class LocalCluster implements AutoCloseable {
    private final Path model;
    private final Backend backend;
    private final ModelConfig config;
    private final List<Node> nodes = new ArrayList<>();

    /**
     * @param files   the node's mapping of the model file; null on a fetching node
     * @param fetcher the fetching node's way to its tensors; null on a node with the file
     */
    record Node(String id, ModelFiles files, WeightFetcher fetcher, RecordingWeightStore store, ShardNode node,
                ShardServer server) {
        PeerEndpoint endpoint() {
            return new PeerEndpoint(id, server.address());
        }
    }

    LocalCluster(Path model, Backend backend) {
        this.model = model;
        this.backend = backend;
        try (ModelFiles files = ModelFiles.open(model)) {
            this.config = files.config();
        }
    }

    ModelConfig config() {
        return config;
    }

    Node start(String id, UnaryOperator<NodeSettings> settings) {
        ModelFiles files = ModelFiles.open(model);
        RecordingWeightStore store = new RecordingWeightStore(files.store());
        ModelSource source = ModelSource.of(files).withStore(store);
        ShardNode node = new ShardNode(settings.apply(NodeSettings.of(id, backend)), source);
        ShardServer server = ShardServer.start(node, "127.0.0.1", 0);
        Node n = new Node(id, files, null, store, node, server);
        nodes.add(n);
        return n;
    }

    /** A node without the model file: it fetches each assignment's tensors from {@code holders} into its cache. */
    Node startFetching(String id, List<PeerEndpoint> holders, Path cacheRoot, UnaryOperator<NodeSettings> settings) {
        String digest;
        try (ModelFiles files = ModelFiles.open(model)) {
            digest = ModelDigest.of(files.config(), files.store()); // as the holders advertise it
        }
        WeightFetcher fetcher = WeightFetcher.open(cacheRoot, id, digest, WeightHolders.of(holders),
                WeightFetcher.Settings.defaults(), line -> System.out.println("node " + id + ": " + line));
        ModelSource fetched = ModelSource.fetched(fetcher);
        RecordingWeightStore store = new RecordingWeightStore(fetched.store());
        ShardNode node = new ShardNode(settings.apply(NodeSettings.of(id, backend)), fetched.withStore(store));
        ShardServer server = ShardServer.start(node, "127.0.0.1", 0);
        Node n = new Node(id, null, fetcher, store, node, server);
        nodes.add(n);
        return n;
    }

    Node start(String id) {
        return start(id, s -> s);
    }

    /** A node started again on the port of one that was stopped, as a restarted process would be. */
    Node restart(Node old, UnaryOperator<NodeSettings> settings) {
        ModelFiles files = ModelFiles.open(model);
        RecordingWeightStore store = new RecordingWeightStore(files.store());
        ShardNode node = new ShardNode(settings.apply(NodeSettings.of(old.id(), backend)),
                ModelSource.of(files).withStore(store));
        ShardServer server = ShardServer.start(node, "127.0.0.1", old.server().port());
        Node n = new Node(old.id(), files, null, store, node, server);
        nodes.add(n);
        return n;
    }

    @Override
    public void close() {
        for (Node n : nodes) {
            n.server().kill();
        }
        for (Node n : nodes) {
            n.node().close();
            if (n.files() != null) {
                n.files().close();
            }
            if (n.fetcher() != null) {
                n.fetcher().close();
            }
        }
    }
}
