package dev.herd.cli;

import dev.herd.shard.discovery.ClusterSettings;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** How a shard node or a one-off coordinator joins the cluster: the address it binds and the join options. */
final class ClusterOptions {
    @Option(names = "--host", defaultValue = "127.0.0.1", description = "address to bind to (default ${DEFAULT-VALUE})")
    String host;
    @Mixin
    JoinOptions join;

    ClusterSettings settings() {
        return join.settings(host);
    }
}
