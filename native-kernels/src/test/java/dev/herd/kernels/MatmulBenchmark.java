package dev.herd.kernels;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Collection;
import java.util.Locale;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * Matrix products on the native kernels: by default decode-shaped (one activation row times a 4096 x 4096
 * weight), where the interesting figure is GB/s of weight bytes next to the machine's triad bandwidth;
 * with {@code -p n=32} and up, prefill- or expert-shaped, where it is GMAC/s. The product cycles over
 * enough copies of the weight (at least 512 MiB) that none is still in a cache when it comes round again;
 * {@code -p repack=false} multiplies them in the file's layout instead of the kernels' repacked one. Float
 * weights batch through register tiles: {@code -p type=F32,F16,BF16 -p n=1,8,32 -p threads=1} shows what a
 * batch of rows gains over one.
 *
 * <p>Run through {@code ops/bench/kernels.sh} (or this class's {@code main}, which takes JMH's options
 * and prints the GB/s table after JMH's own); it is never part of the build's tests. The machine's
 * other load skews single runs: compare numbers from one run, and note the load average.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime) // a distribution: on a shared machine the median and the best say more than the mean
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class MatmulBenchmark {
    private static final long WORKING_SET = 512L << 20;

    @Param({"Q8_0", "Q4_0", "Q4_K", "Q6_K", "F16", "BF16", "F32"})
    public DType type;

    @Param({"1", "2"})
    public int threads;

    /** Kernel level: AUTO picks the best for this CPU; PORTABLE or AVX2 show what older CPUs get. */
    @Param({"AUTO"})
    public NativeBackend.Isa isa;

    /** Whether weights are repacked into the kernels' row-interleaved layout (where there is one). */
    @Param({"true"})
    public boolean repack;

    /** Activation rows: 1 is decode; more is a prefill chunk or the rows routed to one expert. */
    @Param({"1"})
    public int n;

    @Param({"4096"})
    public int rows;

    @Param({"4096"})
    public int cols;

    private Arena arena;
    private NativeBackend backend;
    private Tensor[] weights;
    private float[] x;
    private float[] y;
    private int next;

    @Setup(Level.Trial)
    public void setUp() throws NativeUnavailableException {
        backend = NativeBackend.load(threads, isa, NativeBackend.DEFAULT_SPIN_MICROS, repack);
        arena = Arena.ofShared();
        Tensor first = RandomWeights.matrix("w", type, rows, cols, 42, arena);
        int copies = (int) Math.max(2, (WORKING_SET + first.data().byteSize() - 1) / first.data().byteSize());
        weights = new Tensor[copies];
        weights[0] = first;
        for (int i = 1; i < copies; i++) {
            MemorySegment s = arena.allocate(first.data().byteSize(), 64);
            s.copyFrom(first.data());
            weights[i] = new Tensor("w" + i, type, first.shape(), s);
        }
        x = RandomWeights.gaussian(n * cols, 1.0, 7);
        y = new float[n * rows];
        for (Tensor w : weights) { // the first product of each repacks it: not part of the measurement
            backend.matmul(w, x, y, n);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        backend.close();
        arena.close();
    }

    @Benchmark
    public float[] matmul() {
        Tensor w = weights[next];
        next = next + 1 == weights.length ? 0 : next + 1;
        backend.matmul(w, x, y, n);
        return y;
    }

    /** JMH with the given options (defaults to this benchmark), then GB/s and the triad bandwidth. */
    public static void main(String[] args) throws Exception {
        CommandLineOptions cli = new CommandLineOptions(args);
        org.openjdk.jmh.runner.options.Options opts = cli.getIncludes().isEmpty()
                ? new org.openjdk.jmh.runner.options.OptionsBuilder().parent(cli)
                        .include(MatmulBenchmark.class.getName()).build()
                : cli;
        Collection<RunResult> results = new Runner(opts).run();

        TreeMap<Integer, Double> triad = new TreeMap<>();
        for (RunResult r : results) {
            triad.putIfAbsent(Integer.parseInt(r.getParams().getParam("threads")), 0.0);
        }
        for (int t : triad.keySet()) {
            try (NativeBackend b = NativeBackend.load(t)) {
                triad.put(t, b.triadBandwidth(32L << 20, 10)); // 3 x 128 MiB
            }
        }
        System.out.println();
        System.out.printf(Locale.ROOT, "%-6s %-8s %-6s %4s %4s %7s %9s %9s %8s %8s %8s %9s%n", "type", "isa", "repack",
                "n", "thr", "MiB", "p50 us", "best us", "GB/s", "best", "triad%", "GMAC/s");
        for (RunResult r : results) {
            var p = r.getParams();
            DType type = DType.valueOf(p.getParam("type"));
            int threads = Integer.parseInt(p.getParam("threads"));
            long elements = Long.parseLong(p.getParam("rows")) * Long.parseLong(p.getParam("cols"));
            long bytes = type.byteSize(elements);
            int n = Integer.parseInt(p.getParam("n"));
            var stats = r.getPrimaryResult().getStatistics();
            double median = stats.getPercentile(50);
            double best = stats.getMin();
            double gbs = bytes / (median * 1e3);
            System.out.printf(Locale.ROOT, "%-6s %-8s %-6s %4d %4d %7.1f %9.1f %9.1f %8.1f %8.1f %7.0f%% %9.1f%n", type,
                    p.getParam("isa"), p.getParam("repack"), n, threads, bytes / 1048576.0, median, best, gbs,
                    bytes / (best * 1e3), 100 * gbs / triad.get(threads), (double) elements * n / (median * 1e3));
        }
        System.out.println("GB/s: weight bytes over the median time (best: over the fastest call); triad%: median"
                + " GB/s against the triad on the same threads; GMAC/s: multiply-adds (rows x cols x n) per second");
        triad.forEach((t, g) -> System.out.printf(Locale.ROOT, "triad (f32, 3 x 128 MiB) on %d thread(s): %.1f GB/s%n", t, g));
    }
}
