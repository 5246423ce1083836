package dev.herd.cli;

import dev.herd.coordinator.cluster.ClusterEngine;
import dev.herd.coordinator.cluster.ClusterModel;
import dev.herd.coordinator.cluster.ClusterSupervisor;
import dev.herd.coordinator.plan.PlanOptions;
import dev.herd.coordinator.plan.ShardPlan;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/**
 * {@code herd cluster-generate}: the coordinator side of a cluster for one request, for tests and demos. Joins
 * the cluster as a lite member, waits for the nodes, plans, assigns, generates greedily from token ids and
 * prints one JSON line with the plan and the generated ids.
 */
@Command(name = "cluster-generate", mixinStandardHelpOptions = true,
        description = {"Coordinate running shard nodes ('herd shard') for one greedy generation: wait for the nodes,",
                "plan the model over them, assign each its part, generate from token ids and print them as JSON."})
final class ClusterGenerateCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "the model the nodes serve (read for its config and digest)")
    Path model;
    @Mixin
    ClusterOptions cluster;
    @Option(names = "--nodes", required = true, description = "shard nodes to wait for before planning")
    int nodes;
    @Option(names = "--prompt-ids", required = true, split = ",", description = "prompt token ids, e.g. 1,2,3")
    int[] promptIds;
    @Option(names = "--max-tokens", defaultValue = "64", description = "tokens to generate (default ${DEFAULT-VALUE})")
    int maxTokens;
    @Option(names = "--context-tokens", defaultValue = "4096",
            description = "KV cache the plan reserves per stage, in tokens (default ${DEFAULT-VALUE})")
    long contextTokens;
    @Option(names = "--timeout-s", defaultValue = "120",
            description = "longest wait for the nodes to join and load (default ${DEFAULT-VALUE})")
    long timeoutSeconds;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        ClusterModel m = ClusterModel.open(model);
        ClusterEngine.Settings settings = ClusterEngine.Settings.of(nodes,
                PlanOptions.defaults().withKvContextTokens(contextTokens));
        try (ClusterSupervisor supervisor = ClusterSupervisor.start(
                cluster.settings(), "herd-coordinator-" + ProcessHandle.current().pid());
             ClusterEngine engine = ClusterEngine.start(supervisor, m, settings, System.err)) {
            ShardPlan plan = engine.awaitServing(Duration.ofSeconds(timeoutSeconds));
            long t0 = System.nanoTime();
            int[] tokens = engine.generate(promptIds, maxTokens);
            double seconds = (System.nanoTime() - t0) / 1e9;
            out.println(json(plan, tokens, seconds));
            out.flush();
        }
        return 0;
    }

    /** The plan in brief and the generated ids, as one JSON object. */
    static String json(ShardPlan plan, int[] tokens, double seconds) {
        String stages = plan.stages().stream()
                .map(s -> "{\"node\":" + quote(s.node().value()) + ",\"layers\":[" + s.layers().start() + ","
                        + s.layers().end() + "]}")
                .collect(Collectors.joining(","));
        return "{\"epoch\":" + plan.epoch() + ",\"stages\":[" + stages + "],\"remote_experts\":"
                + plan.remoteExperts().size() + ",\"plan\":" + quote(ClusterEngine.describe(plan))
                + ",\"seconds\":" + String.format(java.util.Locale.ROOT, "%.3f", seconds) + ",\"tokens\":"
                + Arrays.toString(tokens).replace(" ", "") + "}";
    }

    private static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }
}
