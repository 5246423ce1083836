package dev.herd.shard;

import dev.herd.kernels.Backend;
import dev.herd.model.config.ModelConfig;
import dev.herd.model.load.ModelFiles;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * Several shard nodes in one JVM, each with its own mapping of the model file and its own server on a free
 * loopback port, as separate processes would have.
 */
final class LocalCluster implements AutoCloseable {
    private final Path model;
    private final Backend backend;
    private final ModelConfig config;
    private final List<Node> nodes = new ArrayList<>();

    record Node(String id, ModelFiles files, RecordingWeightStore store, ShardNode node, ShardServer server) {
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
        Node n = new Node(id, files, store, node, server);
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
        Node n = new Node(old.id(), files, store, node, server);
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
            n.files().close();
        }
    }
}
