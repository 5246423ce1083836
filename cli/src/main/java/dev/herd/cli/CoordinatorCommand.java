package dev.herd.cli;

import dev.herd.coordinator.cluster.ClusterEngine;
import dev.herd.coordinator.cluster.ClusterModel;
import dev.herd.coordinator.cluster.ClusterSupervisor;
import dev.herd.coordinator.plan.PlanOptions;
import dev.herd.shard.discovery.ClusterSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;

/**
 * {@code herd coordinator}: serves a model over the OpenAI-compatible API from a cluster of shard nodes. Joins the
 * cluster as a lite Hazelcast member, plans the model over the nodes it sees, assigns each its part, and runs the
 * continuous-batching scheduler's steps through the pipeline; the last stage samples. /ready answers 503 while no
 * plan is served (before the nodes have loaded, and while re-planning after one left).
 */
@Command(name = "coordinator", mixinStandardHelpOptions = true,
        description = {"Serve a model over an OpenAI-compatible HTTP API from shard nodes ('herd shard'): plan the",
                "model over the nodes that join, assign each its part, and batch requests continuously through",
                "the pipeline. Re-plans when a node joins or leaves; running requests are recomputed, not lost."})
final class CoordinatorCommand implements Callable<Integer> {
    @Option(names = "--model", required = true,
            description = "the model the nodes serve (read here for its config, tokenizer, chat template and digest)")
    Path model;
    @Mixin
    ServingOptions serving;
    @Option(names = "--cluster-host",
            description = "address the Hazelcast member binds (default: --host, or 127.0.0.1 when that is a wildcard)")
    String clusterHost;
    @Mixin
    JoinOptions join;
    @Option(names = "--min-nodes", defaultValue = "1",
            description = "shard nodes to wait for before the first plan (default ${DEFAULT-VALUE})")
    int minNodes;
    @Option(names = "--load-timeout-s", defaultValue = "300",
            description = "longest wait for every node to load a plan (default ${DEFAULT-VALUE})")
    long loadTimeoutSeconds;
    @Option(names = "--step-timeout-s", defaultValue = "30",
            description = "longest wait for one pipeline step (default ${DEFAULT-VALUE})")
    long stepTimeoutSeconds;
    @Option(names = "--load-interval-s", defaultValue = "60",
            description = {"how often the nodes' expert load is weighed against the plan; a plan made for it is",
                    "served when it is estimated at least 10% faster (default ${DEFAULT-VALUE}; 0 never)"})
    long loadIntervalSeconds;

    /** The engine of the running coordinator (set by {@link #start}). */
    volatile ClusterEngine engine;

    @Override
    public Integer call() throws Exception {
        ServingOptions.serveUntilShutdown("herd coordinator", start(System.out));
        return 0;
    }

    ClusterSettings clusterSettings() {
        String bind = clusterHost != null ? clusterHost
                : serving.host.equals("0.0.0.0") || serving.host.equals("::") ? "127.0.0.1" : serving.host;
        return join.settings(bind);
    }

    /** Listens, joins the cluster and plans as soon as enough nodes are there; the URL is printed at once. */
    ServingOptions.Running start(PrintStream out) throws InterruptedException {
        return serving.start("herd coordinator", model, (bundle, settings, resources) -> {
            ClusterSupervisor supervisor = ClusterSupervisor.start(clusterSettings(),
                    "herd-coordinator-" + ProcessHandle.current().pid());
            resources.add(supervisor);
            // each stage reserves KV for as many tokens as the scheduler may hold at once
            PlanOptions plan = PlanOptions.defaults().withKvContextTokens(settings.kvTokens());
            ClusterEngine.Settings engineSettings = new ClusterEngine.Settings(minNodes, plan,
                    Duration.ofSeconds(loadTimeoutSeconds), Duration.ofSeconds(stepTimeoutSeconds),
                    Duration.ofSeconds(30), Duration.ofSeconds(loadIntervalSeconds));
            ClusterEngine e = ClusterEngine.start(supervisor, ClusterModel.open(model), engineSettings, out);
            resources.add(e);
            engine = e;
            return new ServingOptions.Loaded(e.runner(), "cluster '" + join.clusterName + "', " + e.status());
        }, out);
    }
}
