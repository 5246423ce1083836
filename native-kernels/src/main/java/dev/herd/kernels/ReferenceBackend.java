package dev.herd.kernels;

import java.util.concurrent.ForkJoinPool;
import java.util.stream.IntStream;

/**
 * The plain-Java oracle: straightforward loops, sums in double, weights dequantized row by row through
 * {@link Dequant}. Matrix products are split over output rows on its own pool, so a forward pass on it
 * is usable for small models and tests, but it makes no attempt at speed beyond that.
 */
public final class ReferenceBackend implements Backend {
    /** Below this many multiply-adds a matmul runs on the caller's thread. */
    private static final long PARALLEL_THRESHOLD = 1 << 16;
    private static final int ROWS_PER_TASK = 16;

    private final ForkJoinPool pool;

    /** @param threads worker threads for matrix products (1 keeps everything on the caller's thread) */
    public ReferenceBackend(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        }
        this.pool = threads == 1 ? null : new ForkJoinPool(threads);
    }

    public ReferenceBackend() {
        this(Runtime.getRuntime().availableProcessors());
    }

    @Override
    public String name() {
        return "reference";
    }

    @Override
    public void matmul(Tensor w, float[] x, float[] y, int n) {
        if (w.rank() != 2) {
            throw new IllegalArgumentException("matmul needs a matrix, got " + w);
        }
        int out = Math.toIntExact(w.rows());
        int in = Math.toIntExact(w.cols());
        if (x.length < (long) n * in || y.length < (long) n * out) {
            throw new IllegalArgumentException("matmul " + w + " on " + n + " rows: x has " + x.length
                    + " floats, y has " + y.length);
        }
        int tasks = (out + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
        if (pool == null || (long) out * in * n < PARALLEL_THRESHOLD) {
            matmulRows(w, x, y, n, 0, out, in, out);
        } else {
            pool.submit(() -> IntStream.range(0, tasks).parallel().forEach(t -> {
                int from = t * ROWS_PER_TASK;
                matmulRows(w, x, y, n, from, Math.min(out, from + ROWS_PER_TASK), in, out);
            })).join();
        }
    }

    private static void matmulRows(Tensor w, float[] x, float[] y, int n, int from, int to, int in, int out) {
        float[] row = new float[in];
        for (int o = from; o < to; o++) {
            Dequant.row(w, o, row, 0);
            for (int r = 0; r < n; r++) {
                double sum = 0;
                int xo = r * in;
                for (int i = 0; i < in; i++) {
                    sum += (double) row[i] * x[xo + i];
                }
                y[r * out + o] = (float) sum;
            }
        }
    }

    @Override
    public void getRow(Tensor table, long row, float[] out, int outOffset) {
        if (row < 0 || row >= table.rows()) {
            throw new IndexOutOfBoundsException("row " + row + " of " + table);
        }
        Dequant.row(table, row, out, outOffset);
    }

    @Override
    public void rmsNorm(float[] x, float[] weight, float eps, int dim, int n, float[] out) {
        for (int r = 0; r < n; r++) {
            int o = r * dim;
            double ss = 0;
            for (int i = 0; i < dim; i++) {
                ss += (double) x[o + i] * x[o + i];
            }
            float inv = (float) (1.0 / Math.sqrt(ss / dim + eps));
            for (int i = 0; i < dim; i++) {
                float v = x[o + i] * inv;
                out[o + i] = weight == null ? v : v * weight[i];
            }
        }
    }

    @Override
    public void rope(float[] x, int n, int heads, int headDim, int[] positions, float[] invFreq, RopeStyle style) {
        int half = invFreq.length;
        if (2 * half > headDim) {
            throw new IllegalArgumentException("rotary dims " + 2 * half + " exceed head dim " + headDim);
        }
        for (int r = 0; r < n; r++) {
            for (int i = 0; i < half; i++) {
                double angle = (double) positions[r] * invFreq[i];
                float cos = (float) Math.cos(angle);
                float sin = (float) Math.sin(angle);
                for (int h = 0; h < heads; h++) {
                    int base = (r * heads + h) * headDim;
                    int a = style == RopeStyle.NEOX ? base + i : base + 2 * i;
                    int b = style == RopeStyle.NEOX ? base + i + half : base + 2 * i + 1;
                    float x0 = x[a];
                    float x1 = x[b];
                    x[a] = x0 * cos - x1 * sin;
                    x[b] = x0 * sin + x1 * cos;
                }
            }
        }
    }

    @Override
    public void attention(AttentionParams p, float[] q, int[] positions, int n, PagedKv cache, float[] out) {
        cache.checkAttention(p, q, positions, n, out);
        int hd = p.headDim();
        int group = p.nHeads() / p.nKvHeads();
        for (int r = 0; r < n; r++) {
            int pos = positions[r];
            int start = p.chunkSize() == 0 ? 0 : pos - pos % p.chunkSize();
            float[] scores = new float[pos - start + 1];
            for (int h = 0; h < p.nHeads(); h++) {
                int qo = (r * p.nHeads() + h) * hd;
                int ko = (h / group) * hd;
                for (int t = start; t <= pos; t++) {
                    double dot = 0;
                    for (int i = 0; i < hd; i++) {
                        dot += (double) q[qo + i] * cache.key(t, ko + i);
                    }
                    scores[t - start] = (float) (dot * p.scale());
                }
                softmax(scores, 0, scores.length);
                for (int i = 0; i < hd; i++) {
                    double acc = 0;
                    for (int t = start; t <= pos; t++) {
                        acc += (double) scores[t - start] * cache.value(t, ko + i);
                    }
                    out[qo + i] = (float) acc;
                }
            }
        }
    }

    @Override
    public void swiglu(float[] gate, float[] up, int len) {
        for (int i = 0; i < len; i++) {
            float g = gate[i];
            gate[i] = (float) (g / (1.0 + Math.exp(-g))) * up[i];
        }
    }

    @Override
    public void softmax(float[] x, int offset, int len) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < len; i++) {
            max = Math.max(max, x[offset + i]);
        }
        double sum = 0;
        for (int i = 0; i < len; i++) {
            double e = Math.exp(x[offset + i] - max);
            x[offset + i] = (float) e;
            sum += e;
        }
        for (int i = 0; i < len; i++) {
            x[offset + i] = (float) (x[offset + i] / sum);
        }
    }

    @Override
    public void close() {
        if (pool != null) {
            pool.shutdown();
        }
    }
}
