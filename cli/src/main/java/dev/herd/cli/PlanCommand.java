package dev.herd.cli;

import dev.herd.coordinator.cluster.ClusterEngine;
import dev.herd.coordinator.cluster.ClusterModel;
import dev.herd.coordinator.plan.ClusterState;
import dev.herd.coordinator.plan.ExpertLoad;
import dev.herd.coordinator.plan.InfeasiblePlanException;
import dev.herd.coordinator.plan.Link;
import dev.herd.coordinator.plan.ModelShape;
import dev.herd.coordinator.plan.NodeAllocation;
import dev.herd.coordinator.plan.NodeBackend;
import dev.herd.coordinator.plan.NodeCapacity;
import dev.herd.coordinator.plan.NodeId;
import dev.herd.coordinator.plan.PlanOptions;
import dev.herd.coordinator.plan.ShardPlan;
import dev.herd.coordinator.plan.WeightTypes;
import dev.herd.kernels.DType;
import dev.herd.model.config.HfConfigReader;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code herd plan}: what the coordinator would do with a model on a set of machines, without the machines: the
 * planner's stages, expert placement, memory per node and estimated speed, or why the model does not fit. The
 * model is a model directory or GGUF file (sized by its stored types), or just a Hugging Face {@code config.json}
 * with the type the weights would have.
 */
@Command(name = "plan", mixinStandardHelpOptions = true,
        description = {"Plan a model over machines that need not exist yet: stages, expert placement, memory per node",
                "and estimated decode speed, or the memory that is missing.",
                "Example: herd plan --model config.json --dtype Q4_K --node a=64 --node b=64,bw=40 --node gpu=80,cuda,bw=3000"})
final class PlanCommand implements Callable<Integer> {
    @Option(names = "--model", required = true,
            description = "a model directory, a .gguf file, or a Hugging Face config.json (then give --dtype)")
    Path model;
    @Option(names = "--dtype", description = "stored type of the weights when --model is a config.json: F32, F16,"
            + " BF16, F8_E4M3, Q8_0, Q4_0, Q4_K, Q6_K (default BF16)")
    String dtype;
    @Option(names = "--node", required = true,
            description = {"a machine: NAME=GB[,cuda][,bw=GB/s][,link=Gbit/s][,rtt=us] (repeatable). GB: memory it",
                    "offers for weights and KV; bw: memory bandwidth (default 50, or 2000 with cuda); link and rtt:",
                    "its network port (default 10 Gbit/s, 100 us)"})
    List<String> nodes = new ArrayList<>();
    @Option(names = "--context-tokens", defaultValue = "4096",
            description = "KV cache each stage reserves, in tokens (default ${DEFAULT-VALUE})")
    long contextTokens;
    @Option(names = "--max-stages", description = "most pipeline stages (default: as many as help)")
    Integer maxStages;
    @Option(names = "--no-replicas", description = "never replicate hot experts")
    boolean noReplicas;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        ModelShape shape = shape();
        ClusterState cluster = ClusterState.of(nodes.stream().map(PlanCommand::node).toList());
        PlanOptions options = PlanOptions.defaults().withKvContextTokens(contextTokens).withReplication(!noReplicas);
        if (maxStages != null) {
            options = options.withMaxStages(maxStages);
        }
        out.printf(Locale.ROOT, "model: %.1f GB of weights, %d layers; %d node(s), %.1f GB offered%n",
                shape.totalWeightBytes() / 1e9, shape.numLayers(), cluster.size(), cluster.totalUsableBytes() / 1e9);
        out.printf(Locale.ROOT, "needs: %d bytes in all (weights and KV for %d tokens; every stage reserves KV for"
                + " its layers)%n", shape.totalWeightBytes() + shape.kvBytesPerToken() * contextTokens, contextTokens);
        ShardPlan plan;
        try {
            plan = dev.herd.coordinator.plan.Planner.plan(shape, cluster, ExpertLoad.uniform(), options, 1);
        } catch (InfeasiblePlanException e) {
            out.println("does not fit: " + e.getMessage());
            out.flush();
            return 1;
        }
        out.println(ClusterEngine.describe(plan));
        for (Map.Entry<NodeId, NodeAllocation> n : plan.nodes().entrySet()) {
            NodeAllocation a = n.getValue();
            out.printf(Locale.ROOT, "  %-12s weights %7.2f GB, KV reserve %6.2f GB, free %7.2f GB of %7.2f GB%n",
                    n.getKey(), a.weightBytes() / 1e9, a.kvReserveBytes() / 1e9, a.freeBytes() / 1e9,
                    a.usableBytes() / 1e9);
        }
        out.printf(Locale.ROOT, "estimate: %.1f tokens/s for one stream; %.0f bytes and %.1f round trips on the"
                        + " network per token%n", plan.cost().tokensPerSecond(), plan.cost().networkBytesPerToken(),
                plan.cost().roundTripsPerToken());
        out.flush();
        return 0;
    }

    private ModelShape shape() {
        if (model.getFileName().toString().endsWith(".json")) {
            if (!Files.isRegularFile(model)) {
                throw new IllegalArgumentException(model + ": no such config file");
            }
            DType type = dtype == null ? DType.BF16 : parseType(dtype);
            return ModelShape.of(HfConfigReader.read(model), WeightTypes.all(type));
        }
        if (dtype != null) {
            throw new IllegalArgumentException("--dtype is for a config.json; " + model + " is sized by its stored types");
        }
        return ClusterModel.open(model).shape();
    }

    private static DType parseType(String name) {
        try {
            return DType.valueOf(name.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown --dtype " + name + "; one of " + List.of(DType.values()));
        }
    }

    /** NAME=GB[,cuda][,bw=GB/s][,link=Gbit/s][,rtt=us] */
    static NodeCapacity node(String spec) {
        int eq = spec.indexOf('=');
        if (eq <= 0) {
            throw new IllegalArgumentException("--node " + spec + ": expected NAME=GB[,cuda][,bw=..][,link=..][,rtt=..]");
        }
        String[] parts = spec.substring(eq + 1).split(",");
        NodeBackend backend = NodeBackend.CPU;
        Double bandwidth = null;
        double link = 10;
        double rtt = 100;
        double gb = number(spec, "GB", parts[0]);
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i].trim();
            if (p.equalsIgnoreCase("cuda") || p.equalsIgnoreCase("gpu")) {
                backend = NodeBackend.CUDA;
            } else if (p.equalsIgnoreCase("cpu")) {
                backend = NodeBackend.CPU;
            } else if (p.startsWith("bw=")) {
                bandwidth = number(spec, "bw", p.substring(3));
            } else if (p.startsWith("link=")) {
                link = number(spec, "link", p.substring(5));
            } else if (p.startsWith("rtt=")) {
                rtt = number(spec, "rtt", p.substring(4));
            } else {
                throw new IllegalArgumentException("--node " + spec + ": unknown setting '" + p
                        + "' (cuda, cpu, bw=, link=, rtt=)");
            }
        }
        double bw = bandwidth != null ? bandwidth : backend == NodeBackend.CUDA ? 2000 : 50;
        return new NodeCapacity(NodeId.of(spec.substring(0, eq).trim()), Math.round(gb * 1e9), backend, bw,
                new Link(link, rtt));
    }

    private static double number(String spec, String what, String text) {
        try {
            double v = Double.parseDouble(text.trim());
            if (!(v >= 0) || Double.isInfinite(v)) {
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--node " + spec + ": " + what + " must be a non-negative number, got '"
                    + text + "'");
        }
    }
}
