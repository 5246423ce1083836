package dev.herd.kernels.cuda;

import dev.herd.kernels.AttentionParams;
import dev.herd.kernels.Backend;
import dev.herd.kernels.DType;
import dev.herd.kernels.PagedKv;
import dev.herd.kernels.ReferenceBackend;
import dev.herd.kernels.RopeStyle;
import dev.herd.kernels.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The {@link Backend} ops on one CUDA device, with Herd's kernels ({@code native-kernels/cuda}) called
 * through {@code java.lang.foreign}.
 *
 * <p><b>Data movement.</b> Weights stay on the device: each weight tensor is uploaded once, in its stored
 * (GGUF block) layout, and found again by the host memory it came from (see {@link ResidentWeights});
 * products run on the quantized data. Activations are host arrays in this interface, so each op copies
 * its inputs through a pinned staging buffer into one device buffer with a single transfer, runs, and
 * copies its outputs back the same way; both buffers grow to the largest op and are reused. Attention
 * keeps a contiguous device copy of each sequence's paged key/value cache per layer and uploads only the
 * rows that changed (see {@link KvMirrors} for the contract, and {@link Options} to turn it off).
 *
 * <p><b>Kernels.</b> Matrix products with few activation rows use a matrix-vector kernel that dequantizes
 * exactly and sums in f32; from {@value CudaKernels#MMA_MIN_ROWS} rows on, a tensor-core (WMMA) kernel
 * that rounds weights and activations to f16 (bf16 for BF16 weights) and accumulates in f32 (F32 weights
 * always take the first). Attention: split-K ("flash-decoding") for up to
 * {@value CudaKernels#DECODE_MAX_ROWS} query rows, tiled causal GQA above. Types without CUDA kernels
 * ({@link DType#F8_E4M3}) and head dimensions above {@value CudaKernels#MAX_HEAD_DIM} run on an internal
 * {@link ReferenceBackend}.
 *
 * <p><b>Beyond the interface.</b> {@link #routerTopK} (MoE routing), {@link #expertFfn} (all local experts'
 * SwiGLU FFNs in one launch per stage), and device-resident {@code enqueue*} ops on {@link DeviceArray}s,
 * which only enqueue work on this backend's stream and so can be captured into a {@link CudaGraph}.
 *
 * <p>Calls on one instance are serialised; any thread may call (the device is made current per call).
 */
public final class CudaBackend implements Backend {

    /**
     * @param incrementalKvUpload keep device copies of key/value caches and upload only rows at or after a
     *                            call's lowest query position (the forward pass's usage; see {@link KvMirrors});
     *                            false uploads every row up to the highest position on every call
     */
    public record Options(boolean incrementalKvUpload) {
        public static final Options DEFAULT = new Options(true);
    }

    /** How {@link #routerTopK} turns logits into expert weights. */
    public enum Gating {
        /** Softmax over all experts; choose the k most probable and weigh by probability (Mixtral, Qwen3-MoE). */
        SOFTMAX,
        /** Choose the k largest logits; weigh each by its sigmoid (Llama 4). */
        SIGMOID
    }

    private static final long ALIGN = 256;
    /** Weight uploads go through pinned memory in chunks of this size. */
    private static final long UPLOAD_CHUNK = 16L << 20;
    /** Cache rows up to this size are uploaded with the op's other inputs instead of separately. */
    private static final long DEFERRED_UPLOAD_LIMIT = 4L << 20;

    private final CudaKernels k;
    private final CudaRuntime rt;
    private final CudaDevice device;
    private final Options options;
    private final MemorySegment stream;
    private final ReentrantLock lock = new ReentrantLock();
    private final ResidentWeights weights;
    private final KvMirrors kv;
    private final PinnedBuffer pinned;
    private final PinnedBuffer uploadStage;
    private final DeviceBuffer ioDevice = new DeviceBuffer("staged activations");
    private final DeviceBuffer attnScratch = new DeviceBuffer("attention partial results");
    private final DeviceBuffer ffnScratch = new DeviceBuffer("expert FFN intermediate");
    private final List<DeviceArray> arrays = new ArrayList<>();
    private boolean closed;
    private boolean capturing;
    private String broken;
    private ReferenceBackend fallback;

    // the current op's staging: inputs at [0, ioInputEnd) of the pinned buffer and the device buffer, outputs after
    private long ioUsed;
    private long ioStaged;          // end of the inputs that go up in the op's one bulk copy
    private long ioInputEnd = -1;   // -1 until the op's inputs are sent
    private final List<long[]> deferred = new ArrayList<>();   // {pinned offset, device address, bytes}
    private final List<Object[]> pending = new ArrayList<>();  // {array, array offset, pinned offset, length}

    private CudaBackend(CudaKernels k, CudaDevice device, Options options) {
        this.k = k;
        this.rt = k.runtime;
        this.device = device;
        this.options = options;
        rt.useDevice(device.ordinal());
        this.stream = rt.streamCreate();
        this.pinned = new PinnedBuffer(rt);
        this.uploadStage = new PinnedBuffer(rt);
        this.weights = new ResidentWeights(new DeviceMemory() {
            @Override
            public long allocate(long bytes, String what) {
                return rt.malloc(bytes, what);
            }

            @Override
            public void free(long d) {
                freeDevice(d);
            }

            @Override
            public void upload(MemorySegment host, long d) {
                uploadNow(host, d);
            }

            @Override
            public void copy(long dst, long src, long bytes) {
                rt.memcpyAsync(dst, src, bytes, CudaRuntime.MEMCPY_DEVICE_TO_DEVICE, stream);
            }
        });
        this.kv = new KvMirrors(new DeviceMemory() {
            @Override
            public long allocate(long bytes, String what) {
                return rt.malloc(bytes, what);
            }

            @Override
            public void free(long d) {
                freeDevice(d);
            }

            @Override
            public void upload(MemorySegment host, long d) {
                if (host.byteSize() <= DEFERRED_UPLOAD_LIMIT && ioInputEnd < 0) {
                    stageTo(host, d); // goes with the op's inputs: no extra synchronisation
                } else {
                    uploadNow(host, d);
                }
            }

            @Override
            public void copy(long dst, long src, long bytes) {
                rt.memcpyAsync(dst, src, bytes, CudaRuntime.MEMCPY_DEVICE_TO_DEVICE, stream);
            }
        });
    }

    /** The first CUDA device, with default options. */
    public static CudaBackend open() throws CudaUnavailableException {
        return open(0, Options.DEFAULT);
    }

    public static CudaBackend open(int ordinal) throws CudaUnavailableException {
        return open(ordinal, Options.DEFAULT);
    }

    /** A backend on device {@code ordinal}, or why CUDA cannot be used here. */
    public static CudaBackend open(int ordinal, Options options) throws CudaUnavailableException {
        CudaDevice d = Cuda.device(ordinal);
        CudaKernels k = CudaKernels.load();
        if (d.major() < 8) {
            throw new CudaUnavailableException(d.describe() + " is older than sm_80, which the kernels need");
        }
        try {
            return new CudaBackend(k, d, options);
        } catch (CudaException e) {
            throw new CudaUnavailableException("cannot start CUDA on " + d.describe() + ": " + e.getMessage(), e);
        }
    }

    @Override
    public String name() {
        return "cuda";
    }

    public CudaDevice device() {
        return device;
    }

    /** Device bytes held by resident weights. */
    public long residentWeightBytes() {
        return locked(weights::bytes);
    }

    /** Device bytes held by key/value cache copies. */
    public long kvCopyBytes() {
        return locked(kv::bytes);
    }

    /** Frees every resident weight; they are uploaded again when next used. Captured graphs become invalid. */
    public void releaseWeights() {
        hostLocked(() -> {
            synchronize("release weights");
            weights.clear();
            return null;
        });
    }

    /** Frees every key/value cache copy; caches are uploaded whole when next used. */
    public void releaseKvCopies() {
        hostLocked(() -> {
            synchronize("release cache copies");
            kv.clear();
            return null;
        });
    }

    /** Uploads {@code w} now (weights must be resident before a graph that uses them is captured). */
    public void prepare(Tensor w) {
        locked(() -> {
            if (CudaKernels.code(w.dtype()) < 0) {
                throw new IllegalArgumentException("no CUDA kernels for " + w.dtype() + " (" + w + ")");
            }
            weights.device(w, !capturing);
            return null;
        });
    }

    // ---- the Backend ops --------------------------------------------------------------------------------------

    @Override
    public void matmul(Tensor w, float[] x, float[] y, int n) {
        if (w.rank() != 2) {
            throw new IllegalArgumentException("matmul needs a matrix, got " + w);
        }
        int type = CudaKernels.code(w.dtype());
        long out = w.rows();
        long in = w.cols();
        if (n < 0 || x.length < n * in || y.length < n * out) {
            throw new IllegalArgumentException("matmul " + w + " on " + n + " rows: x has " + x.length
                    + " floats, y has " + y.length);
        }
        if (type < 0) {
            fallback().matmul(w, x, y, n);
            return;
        }
        if (n == 0) {
            return;
        }
        hostLocked(() -> {
            long wd = weights.device(w, true);
            begin();
            long xo = stage(x, 0, Math.toIntExact(n * in));
            long yo = reserve(4L * n * out);
            commit();
            k.check(k.matmul(type, wd, out, in, dev(xo), dev(yo), n, stream), "matmul " + w + " on " + n + " rows");
            fetch(yo, y, 0, Math.toIntExact(n * out));
            finish("matmul " + w);
            return null;
        });
    }

    @Override
    public void getRow(Tensor table, long row, float[] out, int outOffset) {
        if (row < 0 || row >= table.rows()) {
            throw new IndexOutOfBoundsException("row " + row + " of " + table);
        }
        int type = CudaKernels.code(table.dtype());
        int cols = Math.toIntExact(table.cols());
        if (outOffset < 0 || (long) outOffset + cols > out.length) {
            throw new IndexOutOfBoundsException("row of " + cols + " floats at " + outOffset + " in an array of "
                    + out.length);
        }
        if (type < 0) {
            fallback().getRow(table, row, out, outOffset);
            return;
        }
        hostLocked(() -> {
            long td = weights.device(table, true);
            begin();
            long oo = reserve(4L * cols);
            commit();
            k.check(k.getRow(type, td + row * table.rowBytes(), cols, dev(oo), stream), "row " + row + " of " + table);
            fetch(oo, out, outOffset, cols);
            finish("row " + row + " of " + table);
            return null;
        });
    }

    @Override
    public void rmsNorm(float[] x, float[] weight, float eps, int dim, int n, float[] out) {
        long size = (long) dim * n;
        if (dim <= 0 || n < 0 || x.length < size || out.length < size || (weight != null && weight.length < dim)) {
            throw new IllegalArgumentException("rmsNorm of " + n + " rows of " + dim + ": x has " + x.length
                    + ", out " + out.length + (weight == null ? "" : ", weight " + weight.length) + " floats");
        }
        if (n == 0) {
            return;
        }
        hostLocked(() -> {
            begin();
            long xo = stage(x, 0, Math.toIntExact(size));
            long wo = weight == null ? -1 : stage(weight, 0, dim);
            commit();
            k.check(k.rmsnorm(dev(xo), wo < 0 ? 0 : dev(wo), eps, dim, n, dev(xo), stream), "rmsNorm");
            fetch(xo, out, 0, Math.toIntExact(size));
            finish("rmsNorm");
            return null;
        });
    }

    @Override
    public void rope(float[] x, int n, int heads, int headDim, int[] positions, float[] invFreq, RopeStyle style) {
        int half = invFreq.length;
        if (2 * half > headDim) {
            throw new IllegalArgumentException("rotary dims " + 2 * half + " exceed head dim " + headDim);
        }
        long size = (long) n * heads * headDim;
        if (n < 0 || heads < 0 || x.length < size || positions.length < n) {
            throw new IllegalArgumentException("rope on " + n + " rows of " + heads + " heads of " + headDim
                    + ": x has " + x.length + " floats, " + positions.length + " positions");
        }
        if (n == 0 || heads == 0 || half == 0) {
            return;
        }
        hostLocked(() -> {
            begin();
            long xo = stage(x, 0, Math.toIntExact(size));
            long po = stage(positions, 0, n);
            long fo = stage(invFreq, 0, half);
            commit();
            k.check(k.rope(dev(xo), n, heads, headDim, dev(po), dev(fo), half, style == RopeStyle.NEOX ? 0 : 1, stream),
                    "rope");
            fetch(xo, x, 0, Math.toIntExact(size));
            finish("rope");
            return null;
        });
    }

    /**
     * The kernels read a contiguous cache, so the paged cache is gathered: each layer's keys and values of a
     * sequence have a device copy in position order ({@link KvMirrors}, keyed by the block table's identity
     * and the layer), filled block by block from the host blocks, only the rows at or after the lowest query
     * position (plus any the copy never held) on each call.
     */
    @Override
    public void attention(AttentionParams p, float[] q, int[] positions, int n, PagedKv cache, float[] out) {
        int maxPos = cache.checkAttention(p, q, positions, n, out);
        long rows = (long) n * p.qDim();
        int minPos = Integer.MAX_VALUE;
        int maxKeys = 0;
        for (int r = 0; r < n; r++) {
            int pos = positions[r];
            minPos = Math.min(minPos, pos);
            int start = p.chunkSize() == 0 ? 0 : pos - pos % p.chunkSize();
            maxKeys = Math.max(maxKeys, pos - start + 1);
        }
        if (n == 0) {
            return;
        }
        if (p.headDim() > CudaKernels.MAX_HEAD_DIM || p.nHeads() > 65535) {
            fallback().attention(p, q, positions, n, cache, out);
            return;
        }
        int keys = maxKeys;
        int firstChanged = options.incrementalKvUpload() ? minPos : 0;
        int cacheRows = maxPos + 1;
        long maxRows = (long) cache.blocks().length * cache.blockTokens();
        hostLocked(() -> {
            begin();
            long qo = stage(q, 0, Math.toIntExact(rows));
            long po = stage(positions, 0, n);
            // changed rows go with the inputs; tags tell this layer's keys and values apart
            long kd = kv.sync(cache.blocks(), 2 * cache.offset(), p.kvDim(), cacheRows, maxRows, firstChanged,
                    KvMirrors.blockRows(cache, cache.keys()));
            long vd = kv.sync(cache.blocks(), 2 * cache.offset() + 1, p.kvDim(), cacheRows, maxRows, firstChanged,
                    KvMirrors.blockRows(cache, cache.values()));
            long oo = reserve(4L * rows);
            long scratchFloats = k.attentionScratch(p.nHeads(), p.headDim(), n, keys);
            long scratch = scratchFloats > 0 ? attnScratch.ensure(4L * scratchFloats) : 0;
            commit();
            k.check(k.attention(p.nHeads(), p.nKvHeads(), p.headDim(), p.scale(), p.chunkSize(), dev(qo), dev(po), n,
                    keys, kd, vd, dev(oo), scratch, stream), "attention " + p);
            fetch(oo, out, 0, Math.toIntExact(rows));
            finish("attention " + p);
            return null;
        });
    }

    @Override
    public void swiglu(float[] gate, float[] up, int len) {
        if (len < 0 || gate.length < len || up.length < len) {
            throw new IllegalArgumentException("swiglu over " + len + ": gate has " + gate.length + ", up "
                    + up.length + " floats");
        }
        if (len == 0) {
            return;
        }
        hostLocked(() -> {
            begin();
            long go = stage(gate, 0, len);
            long uo = stage(up, 0, len);
            commit();
            k.check(k.swiglu(dev(go), dev(uo), len, stream), "swiglu");
            fetch(go, gate, 0, len);
            finish("swiglu");
            return null;
        });
    }

    @Override
    public void softmax(float[] x, int offset, int len) {
        if (offset < 0 || len < 0 || (long) offset + len > x.length) {
            throw new IndexOutOfBoundsException("softmax over [" + offset + ", " + ((long) offset + len)
                    + ") of " + x.length + " floats");
        }
        if (len == 0) {
            return;
        }
        hostLocked(() -> {
            begin();
            long xo = stage(x, offset, len);
            commit();
            k.check(k.softmax(dev(xo), 1, len, stream), "softmax");
            fetch(xo, x, offset, len);
            finish("softmax");
            return null;
        });
    }

    // ---- beyond the interface -------------------------------------------------------------------------------

    /**
     * MoE routing of {@code n} tokens: for each row of {@code logits (n, experts)}, the {@code k} best experts,
     * largest first with ties to the lower index, into {@code outExperts (n, k)}, and their weights into
     * {@code outWeights (n, k)}: softmax probabilities or sigmoids of the logits as {@code gating} says,
     * divided by their sum when {@code normalize}. {@code logits} is left unchanged.
     */
    public void routerTopK(float[] logits, int n, int experts, int k, Gating gating, boolean normalize,
                           int[] outExperts, float[] outWeights) {
        if (n < 0 || experts <= 0 || k <= 0 || k > experts || k > CudaKernels.MAX_TOP_K
                || logits.length < (long) n * experts || outExperts.length < (long) n * k
                || outWeights.length < (long) n * k) {
            throw new IllegalArgumentException("router top-" + k + " of " + experts + " experts over " + n
                    + " rows (at most " + CudaKernels.MAX_TOP_K + "): logits " + logits.length + ", outputs "
                    + outExperts.length + " and " + outWeights.length);
        }
        if (n == 0) {
            return;
        }
        hostLocked(() -> {
            begin();
            long lo = stage(logits, 0, n * experts);
            long eo = reserve(4L * n * k);
            long wo = reserve(4L * n * k);
            commit();
            this.k.check(this.k.routerTopk(dev(lo), n, experts, k, gating == Gating.SOFTMAX ? 0 : 1, normalize,
                    dev(eo), dev(wo), stream), "router top-" + k);
            fetch(eo, outExperts, 0, n * k);
            fetch(wo, outWeights, 0, n * k);
            finish("router top-" + k);
            return null;
        });
    }

    /**
     * The SwiGLU feed-forward of many experts over their routed rows, in two launches in all (gate/up with
     * SwiGLU fused, then down), whatever the number of experts:
     * {@code out[j] = down_e · (silu(gate_e · x[rowToken[j]]) * (up_e · x[rowToken[j]]))} for every routed
     * row j of expert e, the rows of expert e being {@code [offsets[e], offsets[e + 1])}.
     *
     * @param experts  weights of the experts (all gate/up matrices of one type and shape, all down of one type)
     * @param x        (tokens, hidden) the tokens' inputs
     * @param offsets  experts.size() + 1 non-decreasing row offsets from 0; {@code m = offsets[experts.size()]}
     * @param rowToken (m) the token (row of x) each routed row reads
     * @param out      (m, hidden) each routed row's output, unweighted (the caller combines them per token)
     */
    public void expertFfn(List<ExpertWeights> experts, float[] x, int tokens, int[] offsets, int[] rowToken,
                          float[] out) {
        int e = experts.size();
        if (e == 0) {
            throw new IllegalArgumentException("no experts");
        }
        ExpertWeights first = experts.getFirst();
        int hidden = first.hidden();
        int ffn = first.ffn();
        DType gateType = first.gate().dtype();
        DType downType = first.down().dtype();
        for (ExpertWeights w : experts) {
            if (w.hidden() != hidden || w.ffn() != ffn || w.gate().dtype() != gateType || w.down().dtype() != downType) {
                throw new IllegalArgumentException("experts differ in shape or type: " + first + " and " + w);
            }
        }
        if (offsets.length != e + 1 || offsets[0] != 0) {
            throw new IllegalArgumentException("offsets must hold " + (e + 1) + " row offsets starting at 0");
        }
        int maxRows = 0;
        for (int i = 0; i < e; i++) {
            if (offsets[i + 1] < offsets[i]) {
                throw new IllegalArgumentException("offsets decrease at expert " + i);
            }
            maxRows = Math.max(maxRows, offsets[i + 1] - offsets[i]);
        }
        int m = offsets[e];
        if (rowToken.length < m || x.length < (long) tokens * hidden || out.length < (long) m * hidden) {
            throw new IllegalArgumentException("expert FFN of " + m + " routed rows over " + tokens + " tokens: rowToken "
                    + rowToken.length + ", x " + x.length + ", out " + out.length);
        }
        for (int j = 0; j < m; j++) {
            if (rowToken[j] < 0 || rowToken[j] >= tokens) {
                throw new IndexOutOfBoundsException("routed row " + j + " reads token " + rowToken[j] + " of " + tokens);
            }
        }
        if (m == 0) {
            return;
        }
        int gt = CudaKernels.code(gateType);
        int dt = CudaKernels.code(downType);
        if (gt < 0 || dt < 0) {
            expertFfnByOps(experts, x, offsets, rowToken, out, hidden, ffn);
            return;
        }
        int rowsMax = maxRows;
        hostLocked(() -> {
            long[] gate = new long[e];
            long[] up = new long[e];
            long[] down = new long[e];
            for (int i = 0; i < e; i++) {
                ExpertWeights w = experts.get(i);
                gate[i] = weights.device(w.gate(), true);
                up[i] = weights.device(w.up(), true);
                down[i] = weights.device(w.down(), true);
            }
            long h = ffnScratch.ensure(4L * m * ffn);
            begin();
            long go = stage(gate);
            long uo = stage(up);
            long dox = stage(down);
            long oo = stage(offsets, 0, e + 1);
            long ro = stage(rowToken, 0, m);
            long xo = stage(x, 0, tokens * hidden);
            long yo = reserve(4L * m * hidden);
            commit();
            k.check(k.expertFfn(gt, dev(go), dev(uo), dt, dev(dox), hidden, ffn, e, dev(oo), dev(ro), m, rowsMax,
                    dev(xo), h, dev(yo), stream), "expert FFN of " + e + " experts");
            fetch(yo, out, 0, m * hidden);
            finish("expert FFN of " + e + " experts");
            return null;
        });
    }

    /** The same through the op-by-op interface, for weight types without CUDA kernels. */
    private void expertFfnByOps(List<ExpertWeights> experts, float[] x, int[] offsets, int[] rowToken, float[] out,
                                int hidden, int ffn) {
        for (int i = 0; i < experts.size(); i++) {
            int c = offsets[i + 1] - offsets[i];
            if (c == 0) {
                continue;
            }
            float[] in = new float[c * hidden];
            for (int r = 0; r < c; r++) {
                System.arraycopy(x, rowToken[offsets[i] + r] * hidden, in, r * hidden, hidden);
            }
            float[] g = new float[c * ffn];
            float[] u = new float[c * ffn];
            float[] y = new float[c * hidden];
            ExpertWeights w = experts.get(i);
            matmul(w.gate(), in, g, c);
            matmul(w.up(), in, u, c);
            swiglu(g, u, c * ffn);
            matmul(w.down(), g, y, c);
            System.arraycopy(y, 0, out, offsets[i] * hidden, c * hidden);
        }
    }

    // ---- device-resident ops (capturable) ----------------------------------------------------------------------

    /** A device array of {@code floats} f32 values (contents undefined until written). */
    public DeviceArray allocate(long floats) {
        if (floats <= 0) {
            throw new IllegalArgumentException("device array of " + floats + " floats");
        }
        return locked(() -> {
            if (capturing) {
                throw new IllegalStateException("allocate device arrays before capturing a graph");
            }
            DeviceArray a = new DeviceArray(this, rt.malloc(4L * floats, "device array of " + floats + " floats"), floats);
            arrays.add(a);
            return a;
        });
    }

    /** Enqueues {@code y (n, out) = x (n, in) · wᵀ} on device arrays; {@code w} must be resident while capturing. */
    public void enqueueMatmul(Tensor w, DeviceArray x, DeviceArray y, int n) {
        int type = CudaKernels.code(w.dtype());
        if (type < 0 || w.rank() != 2) {
            throw new IllegalArgumentException("no CUDA kernels for " + w);
        }
        require(x, n * w.cols(), "x");
        require(y, n * w.rows(), "y");
        locked(() -> {
            long wd = weights.device(w, !capturing);
            k.check(k.matmul(type, wd, w.rows(), w.cols(), x.address(), y.address(), n, stream), "matmul " + w);
            return null;
        });
    }

    /** Enqueues RMSNorm of {@code n} rows of {@code dim}; {@code weight} may be null, {@code out} may be {@code x}. */
    public void enqueueRmsNorm(DeviceArray x, DeviceArray weight, float eps, int dim, int n, DeviceArray out) {
        require(x, (long) dim * n, "x");
        require(out, (long) dim * n, "out");
        if (weight != null) {
            require(weight, dim, "weight");
        }
        locked(() -> {
            k.check(k.rmsnorm(x.address(), weight == null ? 0 : weight.address(), eps, dim, n, out.address(), stream),
                    "rmsNorm");
            return null;
        });
    }

    /** Enqueues {@code gate[i] = silu(gate[i]) * up[i]}. */
    public void enqueueSwiglu(DeviceArray gate, DeviceArray up, long len) {
        require(gate, len, "gate");
        require(up, len, "up");
        locked(() -> {
            k.check(k.swiglu(gate.address(), up.address(), len, stream), "swiglu");
            return null;
        });
    }

    /** Enqueues {@code x[i] += y[i]}. */
    public void enqueueAdd(DeviceArray x, DeviceArray y, long len) {
        require(x, len, "x");
        require(y, len, "y");
        locked(() -> {
            k.check(k.add(x.address(), y.address(), len, stream), "add");
            return null;
        });
    }

    /** Waits until everything enqueued so far has run. */
    public void synchronize() {
        hostLocked(() -> {
            synchronize("synchronize");
            return null;
        });
    }

    private static void require(DeviceArray a, long floats, String what) {
        if (floats < 0 || a.length() < floats) {
            throw new IllegalArgumentException(what + ": device array of " + a.length() + " floats, " + floats
                    + " needed");
        }
    }

    // ---- package-private services for DeviceArray, CudaGraph and the benchmark --------------------------------

    void upload(DeviceArray a, float[] src, int offset, int len) {
        hostLocked(() -> {
            begin();
            long so = stage(src, offset, len);
            commit();
            rt.memcpyAsync(a.address(), dev(so), 4L * len, CudaRuntime.MEMCPY_DEVICE_TO_DEVICE, stream);
            finish("upload to a device array");
            return null;
        });
    }

    void download(DeviceArray a, float[] dst, int offset, int len) {
        hostLocked(() -> {
            begin();
            long oo = reserve(4L * len);
            commit();
            rt.memcpyAsync(dev(oo), a.address(), 4L * len, CudaRuntime.MEMCPY_DEVICE_TO_DEVICE, stream);
            fetch(oo, dst, offset, len);
            finish("download from a device array");
            return null;
        });
    }

    void free(DeviceArray a) {
        hostLocked(() -> {
            if (arrays.remove(a)) {
                freeDevice(a.address());
            }
            return null;
        });
    }

    /** Records {@code enqueue}'s work on this backend's stream into an executable graph. */
    CudaGraph capture(Runnable enqueue) {
        lock.lock();
        try {
            checkUsable();
            if (capturing) {
                throw new IllegalStateException("already capturing a graph");
            }
            rt.useDevice(device.ordinal());
            rt.beginCapture(stream);
            capturing = true;
            Throwable failure = null;
            try {
                enqueue.run();
            } catch (RuntimeException | Error e) {
                failure = e;
            } finally {
                capturing = false;
            }
            MemorySegment graph;
            try {
                graph = rt.endCapture(stream); // always ended, so the stream is usable again
            } catch (CudaException e) {
                if (failure != null) {
                    failure.addSuppressed(e);
                    throw CudaRuntime.rethrow(failure);
                }
                throw e;
            }
            if (failure != null) {
                if (!graph.equals(MemorySegment.NULL)) {
                    rt.graphDestroy(graph);
                }
                throw CudaRuntime.rethrow(failure);
            }
            try {
                return new CudaGraph(this, rt.graphInstantiate(graph));
            } finally {
                rt.graphDestroy(graph);
            }
        } finally {
            lock.unlock();
        }
    }

    void launch(MemorySegment exec) {
        locked(() -> {
            rt.graphLaunch(exec, stream);
            return null;
        });
    }

    void destroy(MemorySegment exec) {
        hostLocked(() -> {
            synchronize("graph destroy");
            rt.graphExecDestroy(exec);
            return null;
        });
    }

    /** Milliseconds of GPU time that {@code enqueue}'s work takes, measured with events around it. */
    float timeMillis(Runnable enqueue) {
        return hostLocked(() -> {
            MemorySegment start = rt.eventCreate();
            MemorySegment end = rt.eventCreate();
            try {
                rt.eventRecord(start, stream);
                enqueue.run();
                rt.eventRecord(end, stream);
                rt.eventSynchronize(end);
                return rt.eventElapsedMillis(start, end);
            } finally {
                rt.eventDestroy(start);
                rt.eventDestroy(end);
            }
        });
    }

    CudaKernels kernels() {
        return k;
    }

    // ---- staging ------------------------------------------------------------------------------------------------

    private void begin() {
        ioUsed = 0;
        ioStaged = 0;
        ioInputEnd = -1;
        deferred.clear();
        pending.clear();
    }

    private long reserve(long bytes) {
        long at = (ioUsed + ALIGN - 1) / ALIGN * ALIGN;
        pinned.ensure(at + bytes, ioUsed);
        ioUsed = at + bytes;
        return at;
    }

    private long stage(float[] a, int from, int len) {
        long at = reserve(4L * len);
        MemorySegment.copy(a, from, pinned.segment(), ValueLayout.JAVA_FLOAT, at, len);
        ioStaged = ioUsed;
        return at;
    }

    private long stage(int[] a, int from, int len) {
        long at = reserve(4L * len);
        MemorySegment.copy(a, from, pinned.segment(), ValueLayout.JAVA_INT, at, len);
        ioStaged = ioUsed;
        return at;
    }

    private long stage(long[] a) {
        long at = reserve(8L * a.length);
        MemorySegment.copy(a, 0, pinned.segment(), ValueLayout.JAVA_LONG, at, a.length);
        ioStaged = ioUsed;
        return at;
    }

    /** Stages {@code host} for a copy straight to {@code device} when the op's inputs go up. */
    private void stageTo(MemorySegment host, long device) {
        long at = reserve(host.byteSize());
        MemorySegment.copy(host, 0, pinned.segment(), at, host.byteSize());
        deferred.add(new long[] {at, device, host.byteSize()});
    }

    /**
     * Sends the staged inputs: one copy of the inputs into the device buffer (laid out as in the pinned
     * buffer, outputs reserved after them), plus the copies aimed elsewhere. Stage every input before
     * reserving outputs, so the bulk copy carries no output space.
     */
    private void commit() {
        ioInputEnd = ioStaged;
        ioDevice.ensure(Math.max(ioUsed, 1));
        rt.memcpyAsync(ioDevice.address, pinned.address(), ioStaged, CudaRuntime.MEMCPY_HOST_TO_DEVICE, stream);
        for (long[] d : deferred) {
            rt.memcpyAsync(d[1], pinned.address() + d[0], d[2], CudaRuntime.MEMCPY_HOST_TO_DEVICE, stream);
        }
    }

    private long dev(long offset) {
        return ioDevice.address + offset;
    }

    /** Enqueues the copy of a result back into pinned memory; it lands in {@code dst} at {@link #finish}. */
    private void fetch(long offset, Object dst, int dstOffset, int len) {
        rt.memcpyAsync(pinned.address() + offset, dev(offset), 4L * len, CudaRuntime.MEMCPY_DEVICE_TO_HOST, stream);
        pending.add(new Object[] {dst, dstOffset, offset, len});
    }

    private void finish(String what) {
        synchronize(what);
        for (Object[] p : pending) {
            int dstOffset = (Integer) p[1];
            long offset = (Long) p[2];
            int len = (Integer) p[3];
            if (p[0] instanceof float[] f) {
                MemorySegment.copy(pinned.segment(), ValueLayout.JAVA_FLOAT, offset, f, dstOffset, len);
            } else {
                MemorySegment.copy(pinned.segment(), ValueLayout.JAVA_INT, offset, (int[]) p[0], dstOffset, len);
            }
        }
        pending.clear();
        ioInputEnd = -1;
    }

    private void synchronize(String what) {
        try {
            rt.streamSynchronize(stream, what);
        } catch (CudaException e) {
            // a fault inside a kernel is sticky: the context cannot run anything after it
            broken = e.getMessage();
            throw e;
        }
    }

    /** Copies {@code host} to {@code device} through pinned chunks, synchronously (large, one-off uploads). */
    private void uploadNow(MemorySegment host, long device) {
        long size = host.byteSize();
        uploadStage.ensure(Math.min(size, UPLOAD_CHUNK), 0);
        for (long done = 0; done < size; ) {
            long chunk = Math.min(UPLOAD_CHUNK, size - done);
            MemorySegment.copy(host, done, uploadStage.segment(), 0, chunk);
            rt.memcpyAsync(device + done, uploadStage.address(), chunk, CudaRuntime.MEMCPY_HOST_TO_DEVICE, stream);
            synchronize("upload of " + size + " bytes");
            done += chunk;
        }
    }

    private void freeDevice(long d) {
        synchronize("free device memory"); // nothing queued may still read it
        rt.free(d);
    }

    /** A device allocation that grows (never shrinks) to the largest request; its contents do not survive growth. */
    private final class DeviceBuffer {
        private final String what;
        long address;
        long bytes;

        DeviceBuffer(String what) {
            this.what = what;
        }

        long ensure(long need) {
            if (need > bytes) {
                if (capturing) {
                    throw new IllegalStateException(what + " must grow, which cannot happen while capturing a graph");
                }
                long size = Math.max(need, bytes + bytes / 2);
                if (address != 0) {
                    freeDevice(address);
                    address = 0;
                    bytes = 0;
                }
                address = rt.malloc(size, what);
                bytes = size;
            }
            return address;
        }

        void free() {
            if (address != 0) {
                rt.free(address);
                address = 0;
                bytes = 0;
            }
        }
    }

    // ---- lifecycle ------------------------------------------------------------------------------------------------

    private interface Body<T> {
        T run();
    }

    /** For work that copies host arrays or waits for the device, which a graph capture cannot contain. */
    private <T> T hostLocked(Body<T> body) {
        lock.lock();
        try {
            if (capturing) { // refused before touching the stream: a wait would invalidate the capture
                throw new IllegalStateException("host-array ops, copies and waits cannot run while a CUDA graph is"
                        + " being captured: only the enqueue* ops can");
            }
            try {
                return locked(body);
            } catch (RuntimeException | Error e) {
                settleAfterFailure();
                throw e;
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * After an op failed half-way, waits for whatever it had enqueued, so no copy is still reading or writing
     * the staging buffers when the next op reuses (or regrows) them.
     */
    private void settleAfterFailure() {
        pending.clear();
        ioInputEnd = -1;
        if (broken == null && !closed) {
            try {
                synchronize("recovery after a failed op");
            } catch (CudaException ignored) {
                // recorded as broken by synchronize
            }
        }
    }

    private <T> T locked(Body<T> body) {
        lock.lock();
        try {
            checkUsable();
            rt.useDevice(device.ordinal());
            return body.run();
        } finally {
            lock.unlock();
        }
    }

    private void checkUsable() {
        if (closed) {
            throw new IllegalStateException("CUDA backend on " + device.describe() + " is closed");
        }
        if (broken != null) {
            throw new IllegalStateException("CUDA backend on " + device.describe()
                    + " is unusable after an earlier failure: " + broken);
        }
    }

    private synchronized ReferenceBackend fallback() {
        if (fallback == null) {
            fallback = new ReferenceBackend(Math.max(1, Runtime.getRuntime().availableProcessors()));
        }
        return fallback;
    }

    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            rt.useDevice(device.ordinal());
            // best effort after a fault: the context may refuse these calls
            try {
                rt.streamSynchronize(stream, "close");
            } catch (CudaException ignored) {
                // freed below regardless
            }
            for (Runnable release : List.<Runnable>of(weights::clear, kv::clear, ioDevice::free, attnScratch::free,
                    ffnScratch::free, pinned::free, uploadStage::free, () -> {
                        for (DeviceArray a : arrays) {
                            rt.free(a.address());
                        }
                        arrays.clear();
                    }, () -> rt.streamDestroy(stream))) {
                try {
                    release.run();
                } catch (CudaException ignored) {
                    // keep releasing the rest
                }
            }
            ReferenceBackend fb;
            synchronized (this) {
                fb = fallback;
            }
            if (fb != null) {
                fb.close();
            }
        } finally {
            lock.unlock();
        }
    }
}
