package dev.herd.cli;

import dev.herd.cli.bench.DecodeLoop;
import dev.herd.cli.bench.InterfaceCounters;
import dev.herd.cli.bench.NodeWire;
import dev.herd.cli.bench.StepLatencies;
import dev.herd.coordinator.cluster.ClusterEngine;
import dev.herd.coordinator.cluster.ClusterModel;
import dev.herd.coordinator.cluster.ClusterSupervisor;
import dev.herd.coordinator.plan.PlanOptions;
import dev.herd.coordinator.plan.ShardPlan;
import dev.herd.coordinator.scheduler.ModelRunner;
import dev.herd.kernels.Backend;
import dev.herd.model.forward.Transformer;
import dev.herd.model.load.ModelFiles;
import dev.herd.model.weights.ModelWeights;
import dev.herd.proto.v1.WireBytes;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import java.util.stream.LongStream;

/**
 * {@code herd cluster-bench}: decode speed of one greedy sequence, in this process ({@code --local}) or through
 * running shard nodes as their coordinator, measured the same way: per decode step on the caller's side. For the
 * cluster it also reports the plan and the bytes per decoded token: gRPC message bytes from every node's
 * {@code Stats}, and, when interface counters are given, the kernel's bytes on the wire.
 */
@Command(name = "cluster-bench", mixinStandardHelpOptions = true,
        description = {"Measure decode tokens/s and per-token latency of one greedy sequence in this process",
                "(--local) or through running shard nodes ('herd shard'), with wire bytes per token for a cluster.",
                "Prints one JSON line."})
final class ClusterBenchCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "model directory or .gguf file (the nodes' model)")
    Path model;
    @Option(names = "--label", defaultValue = "", description = "a name for this run, copied to the output")
    String label;
    @Option(names = "--local", description = "run the model in this process instead of through a cluster")
    boolean local;
    @Mixin
    BackendOptions backendOptions;
    @Mixin
    ClusterOptions cluster;
    @Option(names = "--nodes", defaultValue = "1", description = "shard nodes to wait for before planning (default ${DEFAULT-VALUE})")
    int nodes;
    @Option(names = "--max-stages", description = "the most pipeline stages the plan may have (default: no limit)")
    Integer maxStages;
    @Option(names = "--context-tokens", defaultValue = "512",
            description = "KV cache each stage reserves, in tokens (default ${DEFAULT-VALUE})")
    long contextTokens;
    @Option(names = "--expect-stages", description = "fail unless the plan has this many stages")
    Integer expectStages;
    @Option(names = "--expect-remote-experts", arity = "1", description = "fail unless the plan has (true) or has no (false) remote experts")
    Boolean expectRemote;
    @Option(names = "--prompt-tokens", defaultValue = "16", description = "prompt length (default ${DEFAULT-VALUE})")
    int promptTokens;
    @Option(names = "--gen-tokens", defaultValue = "64", description = "decode steps per repetition (default ${DEFAULT-VALUE})")
    int genTokens;
    @Option(names = "--warmup-tokens", defaultValue = "32",
            description = "decode steps of an untimed first sequence (JIT, page cache) (default ${DEFAULT-VALUE})")
    int warmupTokens;
    @Option(names = "--repetitions", defaultValue = "3", description = "timed sequences (default ${DEFAULT-VALUE})")
    int repetitions;
    @Option(names = "--netdev", split = ",",
            description = "interface counters to read around the decode, FILE:IFACE (e.g. /proc/1234/net/dev:eth0)")
    List<String> netdevs = new ArrayList<>();
    @Option(names = "--timeout-s", defaultValue = "180",
            description = "longest wait for the nodes to join and load (default ${DEFAULT-VALUE})")
    long timeoutSeconds;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (repetitions < 1) {
            throw new IllegalArgumentException("--repetitions must be at least 1, got " + repetitions);
        }
        if (promptTokens < 1) {
            throw new IllegalArgumentException("--prompt-tokens must be at least 1, got " + promptTokens);
        }
        PrintWriter out = spec.commandLine().getOut();
        List<InterfaceCounters> counters = netdevs.stream().map(InterfaceCounters::parse).toList();
        if (local) {
            try (ModelFiles files = ModelFiles.open(model);
                 ModelWeights weights = new ModelWeights(files.config(), files.store(), files.format());
                 Backend backend = backendOptions.create(System.err)) {
                ModelRunner runner = ModelRunner.local(new Transformer(weights, backend));
                int threads = backendOptions.threads != null ? backendOptions.threads
                        : Runtime.getRuntime().availableProcessors();
                Measured m = measure(runner, files.config().vocabSize(), () -> null, counters);
                out.println(json("local", "\"threads\":" + threads + ",\"backend\":" + quote(backend.name()), m));
            }
        } else {
            ClusterModel m = ClusterModel.open(model);
            PlanOptions options = PlanOptions.defaults().withKvContextTokens(contextTokens);
            if (maxStages != null) {
                options = options.withMaxStages(maxStages);
            }
            try (ClusterSupervisor supervisor = ClusterSupervisor.start(cluster.settings(),
                    "herd-cluster-bench-" + ProcessHandle.current().pid());
                 ClusterEngine engine = ClusterEngine.start(supervisor, m, ClusterEngine.Settings.of(nodes, options),
                         System.err);
                 NodeWire wire = new NodeWire(m.digest())) {
                ShardPlan plan = engine.awaitServing(Duration.ofSeconds(timeoutSeconds));
                check(plan);
                Measured r = measure(engine.runner(), m.config().vocabSize(), () -> wire.sum(supervisor.view()),
                        counters);
                if (engine.plan() == null || engine.plan().epoch() != plan.epoch()) {
                    throw new IllegalStateException("the cluster re-planned during the measurement ("
                            + engine.status() + "); the figures mix two plans");
                }
                String head = "\"nodes\":" + supervisor.view().nodes().size() + ",\"stages\":" + plan.stages().size()
                        + ",\"remote_experts\":" + plan.remoteExperts().size() + ",\"plan\":"
                        + quote(ClusterEngine.describe(plan));
                out.println(json("cluster", head, r));
            }
        }
        out.flush();
        return 0;
    }

    private void check(ShardPlan plan) {
        if (expectStages != null && plan.stages().size() != expectStages) {
            throw new IllegalStateException("the plan has " + plan.stages().size() + " stage(s), " + expectStages
                    + " expected: " + ClusterEngine.describe(plan));
        }
        if (expectRemote != null && expectRemote == plan.remoteExperts().isEmpty()) {
            throw new IllegalStateException("the plan has " + plan.remoteExperts().size() + " remote expert(s), "
                    + (expectRemote ? "some" : "none") + " expected: " + ClusterEngine.describe(plan));
        }
    }

    /** Node counters, or null where there are none (in this process). */
    private interface WireSource {
        NodeWire.Counters read();
    }

    /** All timed repetitions together. */
    private record Measured(List<DecodeLoop.Run> runs, NodeWire.Counters wire, InterfaceCounters.Sent ip) {
    }

    private Measured measure(ModelRunner runner, int vocab, WireSource wire, List<InterfaceCounters> counters) {
        int[] prompt = new SplittableRandom(1).ints(promptTokens, 0, vocab).toArray();
        if (warmupTokens > 0) {
            DecodeLoop.run(runner, prompt, warmupTokens, decodeStarts -> { });
        }
        List<DecodeLoop.Run> runs = new ArrayList<>();
        NodeWire.Counters[] wireTotal = {NodeWire.Counters.ZERO};
        InterfaceCounters.Sent[] ipTotal = {new InterfaceCounters.Sent(0, 0)};
        for (int i = 0; i < repetitions; i++) {
            NodeWire.Counters[] wireBefore = {null};
            InterfaceCounters.Sent[] ipBefore = {null};
            // the Stats calls are traffic too: read them before the interface counters start and after they stop
            DecodeLoop.Run run = DecodeLoop.run(runner, prompt, genTokens, decodeStarts -> {
                if (decodeStarts) {
                    wireBefore[0] = wire.read();
                    ipBefore[0] = sent(counters);
                } else {
                    ipTotal[0] = ipTotal[0].plus(sent(counters).minus(ipBefore[0]));
                    NodeWire.Counters w = wire.read();
                    if (w != null) {
                        wireTotal[0] = wireTotal[0].plus(w.minus(wireBefore[0]));
                    }
                }
            });
            if (!runs.isEmpty() && !Arrays.equals(runs.getFirst().tokens(), run.tokens())) {
                throw new IllegalStateException("repetition " + (i + 1) + " generated other tokens than the first: "
                        + Arrays.toString(run.tokens()) + " vs " + Arrays.toString(runs.getFirst().tokens()));
            }
            runs.add(run);
        }
        return new Measured(runs, wire.read() == null ? null : wireTotal[0], counters.isEmpty() ? null : ipTotal[0]);
    }

    private static InterfaceCounters.Sent sent(List<InterfaceCounters> counters) {
        InterfaceCounters.Sent s = new InterfaceCounters.Sent(0, 0);
        for (InterfaceCounters c : counters) {
            s = s.plus(c.read());
        }
        return s;
    }

    private String json(String mode, String head, Measured m) {
        long[] all = m.runs().stream().flatMapToLong(r -> LongStream.of(r.stepNanos())).toArray();
        StepLatencies lat = StepLatencies.of(all);
        double[] tps = m.runs().stream().mapToDouble(DecodeLoop.Run::decodeTokensPerSecond).toArray();
        double steps = (double) genTokens * repetitions;
        StringBuilder b = new StringBuilder("{");
        b.append("\"label\":").append(quote(label)).append(",\"mode\":").append(quote(mode)).append(',').append(head);
        b.append(String.format(Locale.ROOT, ",\"prompt_tokens\":%d,\"gen_tokens\":%d,\"repetitions\":%d",
                promptTokens, genTokens, repetitions));
        b.append(",\"tokens_per_s\":").append(numbers(tps, "%.2f"));
        b.append(String.format(Locale.ROOT, ",\"tokens_per_s_mean\":%.2f", Arrays.stream(tps).average().orElse(0)));
        b.append(String.format(Locale.ROOT, ",\"step_ms\":{\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
                + "\"min\":%.3f,\"max\":%.3f}", lat.meanMs(), lat.p50Ms(), lat.p90Ms(), lat.p99Ms(), lat.minMs(),
                lat.maxMs()));
        b.append(",\"prefill_ms\":").append(numbers(m.runs().stream().mapToDouble(r -> r.prefillNanos() / 1e6)
                .toArray(), "%.2f"));
        if (m.wire() != null) {
            WireBytes w = m.wire().wire();
            b.append(String.format(Locale.ROOT, ",\"grpc_bytes_per_token\":{\"stage_inputs\":%.1f,\"expert_requests\":%.1f,"
                            + "\"expert_responses\":%.1f,\"total\":%.1f,\"stage_messages\":%.2f,\"expert_calls\":%.2f}",
                    w.getStageInputBytes() / steps, w.getExpertRequestBytes() / steps,
                    w.getExpertResponseBytes() / steps,
                    (w.getStageInputBytes() + w.getExpertRequestBytes() + w.getExpertResponseBytes()) / steps,
                    w.getStageInputs() / steps, w.getExpertRequests() / steps));
            // the stages' share of a step: what is left of the step time is the hops between them
            var t = m.wire().stages();
            b.append(String.format(Locale.ROOT, ",\"stage_ms_per_token\":{\"queued\":%.3f,\"run\":%.3f,\"steps\":%.2f}",
                    t.getQueuedNanos() / 1e6 / steps, t.getRunNanos() / 1e6 / steps, t.getSteps() / steps));
        }
        if (m.ip() != null) {
            b.append(String.format(Locale.ROOT, ",\"ip_bytes_per_token\":%.1f,\"ip_packets_per_token\":%.2f",
                    m.ip().bytes() / steps, m.ip().packets() / steps));
        }
        b.append(",\"tokens\":").append(Arrays.toString(m.runs().getFirst().tokens()).replace(" ", ""));
        return b.append('}').toString();
    }

    private static String numbers(double[] values, String format) {
        return Arrays.stream(values).mapToObj(v -> String.format(Locale.ROOT, format, v))
                .collect(Collectors.joining(",", "[", "]"));
    }

    private static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }
}
