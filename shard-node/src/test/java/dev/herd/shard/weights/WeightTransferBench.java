package dev.herd.shard.weights;

import dev.herd.kernels.DType;
import dev.herd.model.config.Architecture;
import dev.herd.model.load.ModelFiles;
import dev.herd.model.testmodel.TestModelSpec;
import dev.herd.model.testmodel.TestModelWriter;
import dev.herd.shard.ModelDigest;
import dev.herd.shard.NodeIdentity;
import dev.herd.shard.PeerEndpoint;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Weight transfer throughput on loopback, in one process: a holder serving a generated Mixtral-shaped F32 GGUF
 * (large stacked expert tensors) in 1 MiB chunks, a fetcher receiving every tensor (SHA-256 on both sides, written
 * to its cache and flushed), then a restarted fetcher reusing the cache (every tensor hashed again). Not a test:
 * run it through {@code ops/bench/weight-transfer.sh}.
 *
 * <p>Arguments: hidden size, expert FFN size (default 1024 2048: about 400 MiB of weights).
 */
public final class WeightTransferBench {
    public static void main(String[] args) throws Exception {
        int hidden = args.length > 0 ? Integer.parseInt(args[0]) : 1024;
        int expertFfn = args.length > 1 ? Integer.parseInt(args[1]) : 2048;
        Path dir = Files.createTempDirectory("herd-weight-bench");
        try {
            run(dir, hidden, expertFfn);
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    private static void run(Path dir, int hidden, int expertFfn) throws Exception {
        TestModelSpec spec = new TestModelSpec(Architecture.MIXTRAL, hidden, 2, 8, 2, hidden / 8, 0, 8, 2, expertFfn,
                512, 1e6, 1, false, 8192, 8192, 1);
        long g0 = System.nanoTime();
        Path model = new TestModelWriter(spec).writeGguf(dir.resolve("bench.gguf"), DType.F32);
        System.out.printf(Locale.ROOT, "model: %.0f MiB written in %.1f s%n", Files.size(model) / 1048576.0,
                (System.nanoTime() - g0) / 1e9);
        try (ModelFiles files = ModelFiles.open(model)) {
            String digest = ModelDigest.of(files.config(), files.store());
            HeldTensors held = HeldTensors.of(files);
            WeightCounters served = new WeightCounters();
            Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                    .addService(new WeightTransferService(held, new NodeIdentity("holder", digest), served))
                    .build().start();
            List<String> names = List.copyOf(held.index().names());
            long bytes = held.index().bytes(names);
            WeightHolders holders = WeightHolders.of(List.of(new PeerEndpoint("holder", "127.0.0.1:" + server.getPort())));
            try {
                for (int round = 0; round < 2; round++) {
                    try (WeightFetcher f = WeightFetcher.open(dir.resolve("cache"), "fetcher", digest, holders,
                            new WeightFetcher.Settings(Duration.ofSeconds(30), Duration.ofSeconds(30)), line -> { })) {
                        WeightCounters counters = new WeightCounters();
                        long t0 = System.nanoTime();
                        f.provide(names, new FetchProgress(), counters);
                        double s = (System.nanoTime() - t0) / 1e9;
                        var c = counters.snapshot();
                        System.out.printf(Locale.ROOT, "%s: %d tensors, %.0f MiB in %.2f s = %.0f MiB/s (received %.0f"
                                        + " MiB, reused %.0f MiB)%n",
                                round == 0 ? "fetch over loopback" : "restart, reuse from cache", names.size(),
                                bytes / 1048576.0, s, bytes / 1048576.0 / s, c.receivedBytes() / 1048576.0,
                                c.cachedBytes() / 1048576.0);
                    }
                }
            } finally {
                server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
    }
}
