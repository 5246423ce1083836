package dev.herd.cli;

import dev.herd.coordinator.cluster.ClusterModel;
import dev.herd.coordinator.plan.ModelShape;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Shard nodes as child processes on loopback (free ports), each advertising a third of the model's weights
 * plus a KV reserve, so that the planner has to split the model. For the demo; the processes die with it.
 */
final class LocalCluster implements AutoCloseable {
    /** As bin/herd starts the JVM: native access, and Hazelcast's opens so it does not warn. */
    private static final List<String> JVM_FLAGS = List.of("--enable-native-access=ALL-UNNAMED", "-Xmx512m",
            "--sun-misc-unsafe-memory-access=allow", "--add-modules", "java.se",
            "--add-exports", "java.base/jdk.internal.ref=ALL-UNNAMED",
            "--add-opens", "java.base/java.lang=ALL-UNNAMED", "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
            "--add-opens", "java.management/sun.management=ALL-UNNAMED",
            "--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED");

    final String name;
    final List<String> seeds;
    final int coordinatorPort;
    private final List<Process> processes = new ArrayList<>();
    private final List<Path> logs = new ArrayList<>();

    private LocalCluster(String name, List<String> seeds, int coordinatorPort) {
        this.name = name;
        this.seeds = seeds;
        this.coordinatorPort = coordinatorPort;
    }

    static LocalCluster start(Path model, int nodes, long contextTokens, String backend, Path logDir)
            throws IOException {
        return start(model, nodes, contextTokens, backend, logDir, List.of());
    }

    /** @param extraJvmFlags appended to the node JVMs' flags (a later flag wins, e.g. a smaller -Xmx) */
    static LocalCluster start(Path model, int nodes, long contextTokens, String backend, Path logDir,
                              List<String> extraJvmFlags) throws IOException {
        return start(model, nodes, contextTokens, backend, logDir, extraJvmFlags, Set.of());
    }

    /**
     * @param fetching nodes started without the model file ({@code --fetch-weights}), each with a weight cache of
     *                 its own under {@code logDir}: they fetch their parts from the others
     */
    static LocalCluster start(Path model, int nodes, long contextTokens, String backend, Path logDir,
                              List<String> extraJvmFlags, Set<Integer> fetching) throws IOException {
        ModelShape shape = ClusterModel.open(model).shape();
        long perNode = shape.totalWeightBytes() / 3 + shape.kvBytesPerToken() * contextTokens;
        int coordinatorPort = freePort();
        List<Integer> ports = new ArrayList<>();
        List<String> seeds = new ArrayList<>(List.of("127.0.0.1:" + coordinatorPort));
        for (int i = 0; i < nodes; i++) {
            ports.add(freePort());
            seeds.add("127.0.0.1:" + ports.get(i));
        }
        LocalCluster c = new LocalCluster("herd-demo-" + coordinatorPort, List.copyOf(seeds), coordinatorPort);
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Files.createDirectories(logDir);
        for (int i = 0; i < nodes; i++) {
            List<String> cmd = new ArrayList<>(List.of(java));
            cmd.addAll(JVM_FLAGS);
            cmd.addAll(extraJvmFlags);
            cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Herd.class.getName(), "shard"));
            cmd.addAll(fetching.contains(i)
                    ? List.of("--fetch-weights", "--weights-cache", logDir.resolve(c.name + "-cache-node-" + i).toString())
                    : List.of("--model", model.toString()));
            cmd.addAll(List.of("--node-id", "node-" + i, "--host", "127.0.0.1", "--grpc-port", "0",
                    "--hz-port", Integer.toString(ports.get(i)), "--seeds", String.join(",", seeds),
                    "--cluster-name", c.name, "--memory-gb", String.format(Locale.ROOT, "%.9f", perNode / 1e9),
                    "--backend", backend, "--threads", "1"));
            Path log = logDir.resolve(c.name + "-node-" + i + ".log");
            c.logs.add(log);
            c.processes.add(new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start());
        }
        return c;
    }

    /** Each node's output, in node order. */
    List<Path> logs() {
        return List.copyOf(logs);
    }

    /** Kills node {@code i} without goodbye, as a crash would. */
    void kill(int i) throws InterruptedException {
        processes.get(i).destroyForcibly().waitFor(10, java.util.concurrent.TimeUnit.SECONDS);
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() {
        for (Process p : processes) {
            p.destroy();
        }
        for (Process p : processes) {
            try {
                if (!p.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                }
            } catch (InterruptedException e) {
                // shutting down anyway: make sure the child does not outlive us
                p.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }
}
