package dev.herd.cli;

import dev.herd.kernels.Backend;
import dev.herd.model.load.ModelFiles;
import dev.herd.shard.ModelSource;
import dev.herd.shard.NodeMetrics;
import dev.herd.shard.NodeSettings;
import dev.herd.shard.PeerEndpoint;
import dev.herd.shard.ShardNode;
import dev.herd.shard.ShardServer;
import dev.herd.shard.discovery.HolderLookup;
import dev.herd.shard.discovery.NodeAdvertisement;
import dev.herd.shard.discovery.NodeMembership;
import dev.herd.shard.weights.TensorCache;
import dev.herd.shard.weights.WeightFetchException;
import dev.herd.shard.weights.WeightFetcher;
import dev.herd.shard.weights.WeightHolders;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code herd shard}: one shard node. It serves the gRPC shard service, joins the cluster through Hazelcast
 * advertising its capacity and gRPC address, and runs whatever part of the model the coordinator assigns it
 * until the process is stopped.
 *
 * <p>A node either has the model files ({@code --model}: it maps them, resolves only the tensors of its part, and
 * serves the files' tensors to other nodes, advertising the model's digest), or has none ({@code --fetch-weights}:
 * before joining it finds the nodes serving the model's files, opens the model from one of them, and then fetches
 * exactly the tensors of each assignment into its weight cache, checked, before reporting ready).
 */
@Command(name = "shard", mixinStandardHelpOptions = true,
        description = {"Run a shard node: serve the gRPC shard service, join the cluster, and load and run the part",
                "of the model the coordinator assigns. With --model the node reads its tensors from the model files",
                "and serves them to other nodes; with --fetch-weights it has no model files and fetches exactly the",
                "tensors of its part from nodes that serve them. Prints 'herd shard <id>: ready, grpc at host:port'",
                "when serving."})
final class ShardCommand implements Callable<Integer> {
    /** What a node keeps for itself (JVM, OS, KV caches beyond the plan's reserve) when no memory is given. */
    private static final double DEFAULT_MEMORY_SHARE = 0.8;

    /*
     * Where the weights come from: exactly one of --model and --fetch-weights. Checked in call() rather than by an
     * exclusive argument group, because a group must be matched on the command line, and --model may also come
     * from the environment or the config file.
     */
    @Option(names = "--model", description = "model directory or .gguf file; this node reads its tensors from it"
            + " and serves them to nodes started with --fetch-weights (this or --fetch-weights is required)")
    Path model;
    @Option(names = "--fetch-weights", description = "this node has no model files: it fetches the tensors of each"
            + " assignment from nodes started with --model, checks their SHA-256 and keeps them in --weights-cache")
    boolean fetchWeights;
    @Option(names = "--weights-cache", description = "with --fetch-weights: directory of fetched tensors, one"
            + " sub-directory per model digest; reused after a restart (default: ~/.cache/herd/weights)")
    Path weightsCache;
    @Option(names = "--weights-cache-gb", description = "with --fetch-weights: disk the weight cache may take, GB of"
            + " 10^9 bytes, all models under it; least recently used tensors no part uses, and other models' caches,"
            + " are removed beyond it (default: 100 GiB)")
    Double weightsCacheGb;
    @Option(names = "--model-digest", description = "with --fetch-weights: the model to fetch, when nodes serve the"
            + " files of several (default: the only one served)")
    String modelDigest;
    @Option(names = "--holder-wait-s", defaultValue = "60", description = "with --fetch-weights: how long to wait for"
            + " a node serving the model files to join (default ${DEFAULT-VALUE})")
    int holderWaitS;
    @Mixin
    ClusterOptions cluster;
    @Option(names = "--node-id", required = true, description = "this node's stable id in the cluster")
    String nodeId;
    @Option(names = "--grpc-port", defaultValue = "0", description = "gRPC port, 0 for any free one (default ${DEFAULT-VALUE})")
    int grpcPort;
    @Option(names = "--memory-gb", description = "usable memory for weights and KV cache, GB of 10^9 bytes"
            + " (default: 80% of this machine's physical memory)")
    Double memoryGb;
    @Option(names = "--bandwidth-gbps", defaultValue = "20",
            description = "memory bandwidth to advertise, GB/s (default ${DEFAULT-VALUE})")
    double bandwidthGBps;
    @Option(names = "--link-gbps", defaultValue = "10",
            description = "network port bandwidth to advertise, Gbit/s (default ${DEFAULT-VALUE})")
    double linkGbps;
    @Option(names = "--rtt-us", defaultValue = "100",
            description = "round trip to peers to advertise, microseconds (default ${DEFAULT-VALUE})")
    double rttMicros;
    @Option(names = "--metrics-port",
            description = "serve Prometheus metrics on this port at /metrics (0: any free port; default: none)")
    Integer metricsPort;
    @Option(names = "--advertise-grpc",
            description = "host:port the coordinator and peers use to reach this node's gRPC service, when that is"
                    + " not the address it listens on (a relay or a port forward in front of it)")
    String advertiseGrpc;
    @Mixin
    BackendOptions backendOptions;

    @Override
    public Integer call() throws Exception {
        if ((model == null) == !fetchWeights) {
            throw new IllegalArgumentException(model == null ? "give --model (the node reads the model files) or"
                    + " --fetch-weights (it fetches its tensors from nodes that have them)"
                    : "--model and --fetch-weights exclude each other: a node either has the files or fetches");
        }
        if (model != null && (weightsCache != null || modelDigest != null || weightsCacheGb != null)) {
            throw new IllegalArgumentException("--weights-cache, --weights-cache-gb and --model-digest go with"
                    + " --fetch-weights, not --model");
        }
        if (weightsCacheGb != null && !(weightsCacheGb >= 0)) {
            throw new IllegalArgumentException("--weights-cache-gb must not be negative, got " + weightsCacheGb);
        }
        if (holderWaitS < 0) {
            throw new IllegalArgumentException("--holder-wait-s must not be negative, got " + holderWaitS);
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Deque<AutoCloseable> opened = new ArrayDeque<>(); // closed last-opened first
        AtomicReference<NodeMembership> joined = new AtomicReference<>();
        String address;
        try {
            Backend backend = backendOptions.create(System.out);
            opened.push(backend);
            ModelSource source;
            if (model != null) {
                ModelFiles files = ModelFiles.open(model);
                opened.push(files);
                source = ModelSource.of(files);
            } else {
                WeightFetcher fetcher = fetcher(joined);
                opened.push(fetcher);
                source = ModelSource.fetched(fetcher);
            }
            ShardNode node = new ShardNode(NodeSettings.of(nodeId, backend), source);
            opened.push(node);
            ShardServer server = ShardServer.start(node, cluster.host, grpcPort);
            opened.push(server::kill);
            address = server.address();
            if (metricsPort != null) {
                io.prometheus.client.exporter.HTTPServer metrics = NodeMetrics.serve(node, cluster.host, metricsPort);
                opened.push(metrics::close);
                address += ", metrics at http://" + cluster.host + ":" + metrics.getPort() + "/metrics";
            }
            NodeAdvertisement ad = new NodeAdvertisement(nodeId, advertised(server), memoryBytes(), "cpu",
                    bandwidthGBps, linkGbps, rttMicros);
            // only a node with the files serves them; one that fetched its part holds no more than that part
            NodeMembership membership = NodeMembership.join(cluster.settings(),
                    model != null ? ad.servingWeights(source.digest()) : ad);
            joined.set(membership);
            // leave the cluster first, so the coordinator re-plans before the data path goes away
            opened.push(membership);
        } catch (Exception | Error e) {
            closeAll(opened);
            throw e;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            closeAll(opened);
            stopped.countDown();
        }, "herd-shard-shutdown"));
        System.out.println("herd shard " + nodeId + ": ready, grpc at " + address
                + (advertiseGrpc == null ? "" : ", advertised as " + advertiseGrpc));
        System.out.flush();
        stopped.await();
        return 0;
    }

    /** Finds the nodes serving the model's files (before joining) and opens the model from one of them. */
    private WeightFetcher fetcher(AtomicReference<NodeMembership> joined) throws InterruptedException {
        HolderLookup.Found found = HolderLookup.find(cluster.settings(), modelDigest, Duration.ofSeconds(holderWaitS));
        Map.Entry<String, List<PeerEndpoint>> chosen;
        try {
            chosen = found.choose(modelDigest);
        } catch (IllegalStateException e) {
            throw new WeightFetchException(e.getMessage() + " (after waiting " + holderWaitS + " s for one to join)");
        }
        String digest = chosen.getKey();
        List<PeerEndpoint> seen = chosen.getValue();
        // once joined, the live membership says who serves the files; before (and if none is left), who did
        WeightHolders holders = () -> {
            NodeMembership m = joined.get();
            List<PeerEndpoint> live = m == null ? List.of() : m.weightHolders(digest);
            return live.isEmpty() ? seen : live;
        };
        Path root = weightsCache != null ? weightsCache
                : TensorCache.defaultRoot(Path.of(System.getProperty("user.home")));
        WeightFetcher.Settings settings = weightsCacheGb == null ? WeightFetcher.Settings.defaults()
                : WeightFetcher.Settings.defaults().withCacheLimit((long) (weightsCacheGb * 1e9));
        return WeightFetcher.open(root, nodeId, digest, holders, settings, line -> {
            System.out.println("herd shard " + nodeId + ": " + line);
            System.out.flush();
        });
    }

    private static void closeAll(Deque<AutoCloseable> opened) {
        while (!opened.isEmpty()) {
            try {
                opened.pop().close();
            } catch (Exception e) {
                // shutting down: the remaining resources are still closed
                System.err.println("herd shard: while closing: " + e);
            }
        }
    }

    private String advertised(ShardServer server) {
        if (advertiseGrpc == null) {
            return server.address();
        }
        int colon = advertiseGrpc.lastIndexOf(':');
        if (colon <= 0 || !advertiseGrpc.substring(colon + 1).matches("[0-9]{1,5}")) {
            throw new IllegalArgumentException("--advertise-grpc must be host:port, got '" + advertiseGrpc + "'");
        }
        return advertiseGrpc;
    }

    private long memoryBytes() {
        if (memoryGb != null) {
            if (!(memoryGb > 0)) {
                throw new IllegalArgumentException("--memory-gb must be positive, got " + memoryGb);
            }
            return Math.round(memoryGb * 1e9);
        }
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        return (long) (os.getTotalMemorySize() * DEFAULT_MEMORY_SHARE);
    }
}
