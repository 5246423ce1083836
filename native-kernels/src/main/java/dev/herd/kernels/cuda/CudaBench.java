package dev.herd.kernels.cuda;

import dev.herd.kernels.DType;
import dev.herd.kernels.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Kernel throughput on a CUDA device, printed as JSON lines (run by {@code ops/bench/cuda.sh}):
 * <ul>
 *   <li>{@code matvec}: matrix-vector products (1 and 8 activation rows) over a set of weight matrices far
 *       larger than the L2 cache, cycled so every product streams its weights from device memory; reported as
 *       weight bytes per second and as a fraction of the device's peak bandwidth. This is what bounds decode.</li>
 *   <li>{@code matmul}: the tensor-core path at prefill sizes, in TFLOP/s.</li>
 * </ul>
 * GPU time is measured with CUDA events around the enqueued work, so host overheads are excluded.
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp herd.jar dev.herd.kernels.cuda.CudaBench [--info] [--device N]
 *      [--types F16,BF16,Q8_0,Q4_0,Q4_K,Q6_K,F32] [--out 8192] [--in 8192] [--weights-mib 2048]
 *      [--reps 10] [--prefill-rows 512]
 * </pre>
 * {@code --info} prints the device (or why CUDA is unavailable, exit status 2) and stops.
 */
public final class CudaBench {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private CudaBench() {
    }

    public static void main(String[] args) {
        int device = 0;
        List<DType> types = List.of(DType.F16, DType.BF16, DType.Q8_0, DType.Q4_0, DType.Q4_K, DType.Q6_K, DType.F32);
        int out = 8192;
        int in = 8192;
        long weightsMib = 2048;
        int reps = 10;
        int prefillRows = 512;
        boolean infoOnly = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--info" -> infoOnly = true;
                case "--device" -> device = Integer.parseInt(args[++i]);
                case "--types" -> types = java.util.Arrays.stream(args[++i].split(",")).map(DType::valueOf).toList();
                case "--out" -> out = Integer.parseInt(args[++i]);
                case "--in" -> in = Integer.parseInt(args[++i]);
                case "--weights-mib" -> weightsMib = Long.parseLong(args[++i]);
                case "--reps" -> reps = Integer.parseInt(args[++i]);
                case "--prefill-rows" -> prefillRows = Integer.parseInt(args[++i]);
                default -> {
                    System.err.println("unknown option " + args[i]);
                    System.exit(64);
                }
            }
        }
        CudaBackend cuda;
        try {
            cuda = CudaBackend.open(device);
        } catch (CudaUnavailableException e) {
            System.err.println("CUDA not available: " + e.getMessage());
            System.exit(2);
            return;
        }
        try (cuda) {
            CudaDevice d = cuda.device();
            String build = cuda.kernels().buildInfo();
            System.out.println(String.format(Locale.ROOT,
                    "{\"bench\":\"device\",\"name\":\"%s\",\"arch\":\"%s\",\"sms\":%d,\"memory_gib\":%.1f,"
                            + "\"peak_gb_per_s\":%.0f,\"l2_mib\":%.1f,\"kernels\":\"%s\",\"kernel_library\":\"%s\"}",
                    d.name(), d.arch(), d.multiprocessors(), d.totalMemory() / (double) (1L << 30), d.peakBandwidth() / 1e9,
                    d.l2Bytes() / (double) (1L << 20), build, cuda.kernels().file));
            if (infoOnly) {
                return;
            }
            for (DType t : types) {
                bench(cuda, t, out, in, weightsMib << 20, reps, prefillRows);
            }
        }
    }

    private static void bench(CudaBackend cuda, DType t, int out, int in, long weightBytes, int reps, int prefillRows) {
        long perMatrix = t.byteSize((long) out * in);
        int count = (int) Math.max(1, (weightBytes + perMatrix - 1) / perMatrix);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment host = arena.allocate(perMatrix * count, 256);
            fill(t, host, 42);
            List<Tensor> ws = new ArrayList<>();
            for (int m = 0; m < count; m++) {
                Tensor w = new Tensor(t + "#" + m, t, new long[] {out, in}, host.asSlice(m * perMatrix, perMatrix));
                cuda.prepare(w);
                ws.add(w);
            }
            int maxRows = Math.max(8, t == DType.F32 ? 8 : prefillRows);
            try (DeviceArray x = cuda.allocate((long) maxRows * in); DeviceArray y = cuda.allocate((long) maxRows * out)) {
                x.upload(gaussian(maxRows * in));
                for (int rows : new int[] {1, 8}) {
                    cuda.timeMillis(() -> ws.forEach(w -> cuda.enqueueMatmul(w, x, y, rows))); // warm-up
                    float ms = cuda.timeMillis(() -> {
                        for (int r = 0; r < reps; r++) {
                            ws.forEach(w -> cuda.enqueueMatmul(w, x, y, rows));
                        }
                    });
                    double seconds = ms / 1e3;
                    double bytes = (double) perMatrix * count * reps;
                    double gbs = bytes / seconds / 1e9;
                    double peak = cuda.device().peakBandwidth();
                    System.out.println(String.format(Locale.ROOT,
                            "{\"bench\":\"matvec\",\"type\":\"%s\",\"rows\":%d,\"out\":%d,\"in\":%d,\"matrices\":%d,"
                                    + "\"us_per_product\":%.2f,\"gb_per_s\":%.1f,\"fraction_of_peak\":%.3f}",
                            t, rows, out, in, count, seconds * 1e6 / (count * (double) reps), gbs, peak > 0 ? gbs * 1e9 / peak : 0));
                }
                if (t != DType.F32) {
                    int rows = prefillRows;
                    List<Tensor> few = ws.subList(0, Math.min(ws.size(), 4));
                    cuda.timeMillis(() -> few.forEach(w -> cuda.enqueueMatmul(w, x, y, rows)));
                    float ms = cuda.timeMillis(() -> {
                        for (int r = 0; r < reps; r++) {
                            few.forEach(w -> cuda.enqueueMatmul(w, x, y, rows));
                        }
                    });
                    double flops = 2.0 * out * in * rows * few.size() * reps;
                    System.out.println(String.format(Locale.ROOT,
                            "{\"bench\":\"matmul\",\"type\":\"%s\",\"rows\":%d,\"out\":%d,\"in\":%d,\"tflops\":%.2f}",
                            t, rows, out, in, flops / (ms / 1e3) / 1e12));
                }
            }
        } finally {
            cuda.releaseWeights();
        }
    }

    /**
     * Valid blocks of type {@code t}: random quants with small finite f16 scales, or small floats. One MiB is
     * generated and repeated (the values do not affect the kernels' speed).
     */
    static void fill(DType t, MemorySegment s, long seed) {
        Random rnd = new Random(seed);
        long unit = Math.min(s.byteSize(), (1L << 20) / t.blockBytes() * t.blockBytes());
        for (long p = 0; p + t.blockBytes() <= unit; p += t.blockBytes()) {
            switch (t) {
                case F32 -> s.set(F32, p, (float) rnd.nextGaussian() * 0.02f);
                case F16 -> s.set(I16, p, Float.floatToFloat16((float) rnd.nextGaussian() * 0.02f));
                case BF16 -> s.set(I16, p, (short) (Float.floatToRawIntBits((float) rnd.nextGaussian() * 0.02f) >>> 16));
                default -> {
                    for (int b = 0; b < t.blockBytes(); b++) {
                        s.set(ValueLayout.JAVA_BYTE, p + b, (byte) rnd.nextInt(256));
                    }
                    short scale = Float.floatToFloat16(0.001f + rnd.nextFloat() * 0.01f);
                    switch (t) {
                        case Q8_0, Q4_0 -> s.set(I16, p, scale);
                        case Q4_K -> {
                            s.set(I16, p, scale);
                            s.set(I16, p + 2, scale);
                        }
                        case Q6_K -> s.set(I16, p + 208, scale);
                        default -> throw new IllegalArgumentException("no CUDA kernels for " + t);
                    }
                }
            }
        }
        for (long p = unit; p < s.byteSize(); p += unit) {
            MemorySegment.copy(s, 0, s, p, Math.min(unit, s.byteSize() - p));
        }
    }

    private static float[] gaussian(int n) {
        Random rnd = new Random(7);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        return x;
    }
}
