package dev.herd.cli;

import dev.herd.kernels.Backend;
import dev.herd.model.load.ModelFiles;
import dev.herd.shard.ModelSource;
import dev.herd.shard.NodeSettings;
import dev.herd.shard.ShardNode;
import dev.herd.shard.ShardServer;
import dev.herd.shard.discovery.NodeAdvertisement;
import dev.herd.shard.discovery.NodeMembership;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code herd shard}: one shard node. It serves the gRPC shard service, joins the cluster through Hazelcast
 * advertising its capacity and gRPC address, and runs whatever part of the model the coordinator assigns it
 * until the process is stopped. Every node maps the same model file in this version and resolves only the
 * tensors of its part.
 */
@Command(name = "shard", mixinStandardHelpOptions = true,
        description = {"Run a shard node: serve the gRPC shard service, join the cluster, and load and run the part",
                "of the model the coordinator assigns. Prints 'herd shard <id>: ready, grpc at host:port' when serving."})
final class ShardCommand implements Callable<Integer> {
    /** What a node keeps for itself (JVM, OS, KV caches beyond the plan's reserve) when no memory is given. */
    private static final double DEFAULT_MEMORY_SHARE = 0.8;

    @Option(names = "--model", required = true, description = "model directory or .gguf file (the same on every node)")
    Path model;
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
    @Option(names = "--advertise-grpc",
            description = "host:port the coordinator and peers use to reach this node's gRPC service, when that is"
                    + " not the address it listens on (a relay or a port forward in front of it)")
    String advertiseGrpc;
    @Mixin
    BackendOptions backendOptions;

    @Override
    public Integer call() throws Exception {
        CountDownLatch stopped = new CountDownLatch(1);
        Backend backend = backendOptions.create(System.out);
        ModelFiles files = ModelFiles.open(model);
        ShardNode node = new ShardNode(NodeSettings.of(nodeId, backend), ModelSource.of(files));
        ShardServer server = ShardServer.start(node, cluster.host, grpcPort);
        NodeMembership membership;
        try {
            membership = NodeMembership.join(cluster.settings(),
                    new NodeAdvertisement(nodeId, advertised(server), memoryBytes(), "cpu", bandwidthGBps, linkGbps,
                            rttMicros));
        } catch (RuntimeException e) {
            server.kill();
            node.close();
            files.close();
            backend.close();
            throw e;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            // leave the cluster first, so the coordinator re-plans before the data path goes away
            membership.close();
            server.kill();
            node.close();
            files.close();
            backend.close();
            stopped.countDown();
        }, "herd-shard-shutdown"));
        System.out.println("herd shard " + nodeId + ": ready, grpc at " + server.address()
                + (advertiseGrpc == null ? "" : ", advertised as " + advertiseGrpc));
        System.out.flush();
        stopped.await();
        return 0;
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
