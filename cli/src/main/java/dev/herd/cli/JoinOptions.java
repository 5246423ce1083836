package dev.herd.cli;

import dev.herd.shard.discovery.ClusterSettings;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;

/** Which cluster a process joins and how it finds the other members: shared by every cluster command. */
final class JoinOptions {
    @Option(names = "--hz-port", defaultValue = "0",
            description = "Hazelcast port, 0 to let Hazelcast pick from 5701 up (default ${DEFAULT-VALUE})")
    int hzPort;
    @Option(names = "--seeds", split = ",", description = "host:port of cluster members to join through")
    List<String> seeds = new ArrayList<>();
    @Option(names = "--cluster-name", defaultValue = "herd", description = "cluster to join (default ${DEFAULT-VALUE})")
    String clusterName;
    @Option(names = "--kubernetes-service",
            description = "find members as the pods of this Kubernetes service (NAME or NAME.NAMESPACE) instead of --seeds")
    String kubernetesService;

    /** The Hazelcast settings of a member bound to {@code bindHost}. */
    ClusterSettings settings(String bindHost) {
        return new ClusterSettings(clusterName, bindHost, hzPort, seeds, kubernetesService);
    }
}
