/*
 * Causal grouped-query attention over f32 key/value caches (positions, n_kv_heads * head_dim).
 *
 *  - Decode (n <= HERD_CUDA_DECODE_MAX_ROWS): split-K ("flash-decoding"). Each (query row, head) range of
 *    keys is cut into splits of HERD_CUDA_ATTN_SPLIT keys, one block each, so a single query still fills
 *    the GPU; each block writes its local max, sum of exponentials and unnormalised output, and a second
 *    kernel combines the splits with the usual rescaling by exp(m_split - m_global).
 *  - Prefill: tiled. A block takes 16 query rows of one head; tiles of 32 keys and values are staged in
 *    shared memory and shared by those rows; each warp keeps an online softmax (running max, sum and
 *    output) for 4 rows, one key per lane.
 * Rows may have any positions (a query sees keys [start, pos], start = 0 or its chunk's first position);
 * keys outside a row's range are masked, so rows of one block need not be consecutive.
 */
#include "common.cuh"

namespace herd {

struct AttnArgs {
    int32_t n_heads, n_kv_heads, head_dim, chunk;
    float scale;
    const float *q;
    const int32_t *positions;
    int32_t n;
    const float *k, *v;
    float *out;
};

__device__ __forceinline__ int key_start(const AttnArgs &a, int pos) {
    return a.chunk ? pos - pos % a.chunk : 0;
}

constexpr int SPLIT_THREADS = 128;

__global__ void __launch_bounds__(SPLIT_THREADS) attn_split_kernel(AttnArgs a, int splits, float *ml, float *po) {
    extern __shared__ float sm[];
    const int hd = a.head_dim;
    float *qs = sm;                           // hd
    float *ps = sm + hd;                      // HERD_CUDA_ATTN_SPLIT
    float *red = ps + HERD_CUDA_ATTN_SPLIT;   // 32
    const int s = blockIdx.x, h = blockIdx.y, r = blockIdx.z;
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, warps = blockDim.x / 32;
    const int pos = a.positions[r];
    const int t0 = key_start(a, pos) + s * HERD_CUDA_ATTN_SPLIT;
    const int t1 = min(t0 + HERD_CUDA_ATTN_SPLIT, pos + 1);
    const int64_t part = (static_cast<int64_t>(r) * a.n_heads + h) * splits + s;
    if (t0 >= t1) {  // this row's range is shorter than the longest: an empty split
        if (tid == 0) {
            ml[2 * part] = -INFINITY;
            ml[2 * part + 1] = 0.f;
        }
        for (int d = tid; d < hd; d += blockDim.x) po[part * hd + d] = 0.f;
        return;
    }
    const int kv_dim = a.n_kv_heads * hd;
    const int kvh = h / (a.n_heads / a.n_kv_heads);
    const float *q = a.q + (static_cast<int64_t>(r) * a.n_heads + h) * hd;
    for (int d = tid; d < hd; d += blockDim.x) qs[d] = q[d];
    __syncthreads();
    for (int t = t0 + warp; t < t1; t += warps) {
        const float *kr = a.k + static_cast<int64_t>(t) * kv_dim + static_cast<int64_t>(kvh) * hd;
        float dot = 0.f;
        for (int d = lane; d < hd; d += 32) dot += qs[d] * kr[d];
        dot = warp_sum(dot);
        if (lane == 0) ps[t - t0] = dot * a.scale;
    }
    __syncthreads();
    const int len = t1 - t0;
    float m = -INFINITY;
    for (int i = tid; i < len; i += blockDim.x) m = fmaxf(m, ps[i]);
    m = block_max(m, red);
    float l = 0.f;
    for (int i = tid; i < len; i += blockDim.x) {
        float p = expf(ps[i] - m);
        ps[i] = p;
        l += p;
    }
    l = block_sum(l, red);  // its barriers also publish ps
    for (int d = tid; d < hd; d += blockDim.x) {
        const float *vr = a.v + static_cast<int64_t>(t0) * kv_dim + static_cast<int64_t>(kvh) * hd + d;
        float o = 0.f;
        for (int i = 0; i < len; i++) o += ps[i] * vr[static_cast<int64_t>(i) * kv_dim];
        po[part * hd + d] = o;
    }
    if (tid == 0) {
        ml[2 * part] = m;
        ml[2 * part + 1] = l;
    }
}

__global__ void __launch_bounds__(128) attn_combine_kernel(AttnArgs a, int splits, const float *ml, const float *po) {
    const int h = blockIdx.x, r = blockIdx.y;
    const int hd = a.head_dim;
    const int64_t base = (static_cast<int64_t>(r) * a.n_heads + h) * splits;
    float gm = -INFINITY;
    for (int s = 0; s < splits; s++) gm = fmaxf(gm, ml[2 * (base + s)]);
    float gl = 0.f;
    for (int s = 0; s < splits; s++) {
        float l = ml[2 * (base + s) + 1];
        if (l > 0.f) gl += l * expf(ml[2 * (base + s)] - gm);
    }
    float *out = a.out + (static_cast<int64_t>(r) * a.n_heads + h) * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float o = 0.f;
        for (int s = 0; s < splits; s++) {
            if (ml[2 * (base + s) + 1] > 0.f) o += po[(base + s) * hd + d] * expf(ml[2 * (base + s)] - gm);
        }
        out[d] = o / gl;
    }
}

constexpr int PF_ROWS = 16;         // query rows per block
constexpr int PF_WARPS = 4;
constexpr int PF_ROWS_PER_WARP = PF_ROWS / PF_WARPS;
constexpr int PF_KEYS = 32;         // keys per tile: one per lane
constexpr int PF_DCH = HERD_CUDA_MAX_HEAD_DIM / 32;  // output dims per lane

inline size_t prefill_smem(int hd) {
    return sizeof(float) * (static_cast<size_t>(PF_ROWS) * hd + static_cast<size_t>(PF_KEYS) * (hd + 1) +
                            static_cast<size_t>(PF_KEYS) * hd);
}

__global__ void __launch_bounds__(PF_WARPS * 32) attn_prefill_kernel(AttnArgs a) {
    extern __shared__ float sm[];
    const int hd = a.head_dim;
    float *qs = sm;                     // [PF_ROWS][hd]
    float *ks = qs + PF_ROWS * hd;      // [PF_KEYS][hd + 1]: the pad keeps lanes on different banks
    float *vs = ks + PF_KEYS * (hd + 1);  // [PF_KEYS][hd]
    const int h = blockIdx.y;
    const int r0 = blockIdx.x * PF_ROWS;
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    const int kv_dim = a.n_kv_heads * hd;
    const int kvh = h / (a.n_heads / a.n_kv_heads);

    // the keys any row of this block sees
    int kbeg = 0x7FFFFFFF, kend = -1;
    for (int i = 0; i < PF_ROWS; i++) {
        if (r0 + i < a.n) {
            int pos = a.positions[r0 + i];
            kbeg = min(kbeg, key_start(a, pos));
            kend = max(kend, pos);
        }
    }
    for (int e = tid; e < PF_ROWS * hd; e += blockDim.x) {
        int i = e / hd, d = e % hd;
        qs[e] = r0 + i < a.n ? a.q[(static_cast<int64_t>(r0 + i) * a.n_heads + h) * hd + d] : 0.f;
    }

    int pos[PF_ROWS_PER_WARP], start[PF_ROWS_PER_WARP];
    float m[PF_ROWS_PER_WARP], l[PF_ROWS_PER_WARP], o[PF_ROWS_PER_WARP][PF_DCH];
#pragma unroll
    for (int i = 0; i < PF_ROWS_PER_WARP; i++) {
        int row = r0 + warp * PF_ROWS_PER_WARP + i;
        pos[i] = row < a.n ? a.positions[row] : -1;  // -1: no keys, the row is skipped
        start[i] = row < a.n ? key_start(a, pos[i]) : 0;
        m[i] = -INFINITY;
        l[i] = 0.f;
#pragma unroll
        for (int c = 0; c < PF_DCH; c++) o[i][c] = 0.f;
    }

    for (int t0 = kbeg; t0 <= kend; t0 += PF_KEYS) {
        __syncthreads();  // the previous tile is consumed (and, the first time, qs is written)
        for (int e = tid; e < PF_KEYS * hd; e += blockDim.x) {
            int j = e / hd, d = e % hd;
            int t = t0 + j;
            float kv = 0.f, vv = 0.f;
            if (t <= kend) {
                int64_t off = static_cast<int64_t>(t) * kv_dim + static_cast<int64_t>(kvh) * hd + d;
                kv = a.k[off];
                vv = a.v[off];
            }
            ks[j * (hd + 1) + d] = kv;
            vs[j * hd + d] = vv;
        }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < PF_ROWS_PER_WARP; i++) {
            const int t = t0 + lane;
            const bool valid = t >= start[i] && t <= pos[i];
            float s = -INFINITY;
            if (valid) {
                const float *qr = qs + (warp * PF_ROWS_PER_WARP + i) * hd;
                const float *kr = ks + lane * (hd + 1);
                float dot = 0.f;
                for (int d = 0; d < hd; d++) dot += qr[d] * kr[d];
                s = dot * a.scale;
            }
            const float mn = fmaxf(m[i], warp_max(s));
            if (mn == -INFINITY) continue;  // no key of this row in the tile yet (uniform over the warp)
            const float p = valid ? expf(s - mn) : 0.f;
            const float corr = expf(m[i] - mn);  // 0 while m is still -inf
            l[i] = l[i] * corr + warp_sum(p);
#pragma unroll
            for (int c = 0; c < PF_DCH; c++) o[i][c] *= corr;
            for (int j = 0; j < PF_KEYS; j++) {
                const float pj = __shfl_sync(FULL_MASK, p, j);
                if (pj == 0.f) continue;  // masked key (uniform: every lane got the same pj)
#pragma unroll
                for (int c = 0; c < PF_DCH; c++) {
                    const int d = lane + 32 * c;
                    if (d < hd) o[i][c] += pj * vs[j * hd + d];
                }
            }
            m[i] = mn;
        }
    }
#pragma unroll
    for (int i = 0; i < PF_ROWS_PER_WARP; i++) {
        int row = r0 + warp * PF_ROWS_PER_WARP + i;
        if (row >= a.n) continue;
        float *out = a.out + (static_cast<int64_t>(row) * a.n_heads + h) * hd;
#pragma unroll
        for (int c = 0; c < PF_DCH; c++) {
            const int d = lane + 32 * c;
            if (d < hd) out[d] = o[i][c] / l[i];
        }
    }
}

inline int split_count(int max_keys) {
    return max(1, (max_keys + HERD_CUDA_ATTN_SPLIT - 1) / HERD_CUDA_ATTN_SPLIT);
}

}  // namespace herd

using namespace herd;

HERD_CUDA_API int64_t herd_cuda_attention_scratch(int32_t n_heads, int32_t head_dim, int32_t n, int32_t max_keys) {
    if (n > HERD_CUDA_DECODE_MAX_ROWS) return 0;  // the tiled kernel needs none
    return static_cast<int64_t>(n) * n_heads * split_count(max_keys) * (2 + head_dim);
}

HERD_CUDA_API int herd_cuda_attention(int32_t n_heads, int32_t n_kv_heads, int32_t head_dim, float scale,
                                      int32_t chunk, const float *q, const int32_t *positions, int32_t n,
                                      int32_t max_keys, const float *k, const float *v, float *out, float *scratch,
                                      herd_stream stream) {
    if (n_heads <= 0 || n_kv_heads <= 0 || n_heads % n_kv_heads != 0 || head_dim <= 0 ||
        head_dim > HERD_CUDA_MAX_HEAD_DIM || chunk < 0 || n < 0 || max_keys < 0 || n_heads > 65535) {
        return HERD_CUDA_EINVAL;
    }
    if (n == 0) return 0;
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    AttnArgs a{n_heads, n_kv_heads, head_dim, chunk, scale, q, positions, n, k, v, out};
    if (n <= HERD_CUDA_DECODE_MAX_ROWS) {
        int splits = split_count(max_keys);
        float *ml = scratch;
        float *po = scratch + 2L * n * n_heads * splits;
        size_t smem = sizeof(float) * (head_dim + HERD_CUDA_ATTN_SPLIT + 32);
        attn_split_kernel<<<dim3(splits, n_heads, n), SPLIT_THREADS, smem, s>>>(a, splits, ml, po);
        int rc = launch_status();
        if (rc != 0) return rc;
        attn_combine_kernel<<<dim3(n_heads, n), 128, 0, s>>>(a, splits, ml, po);
        return launch_status();
    }
    size_t smem = prefill_smem(head_dim);
    if (smem > 48 * 1024) {  // above the default limit: opt in (every supported GPU allows ~100 KB)
        cudaError_t e = cudaFuncSetAttribute(attn_prefill_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(smem));
        if (e != cudaSuccess) return static_cast<int>(e);
    }
    attn_prefill_kernel<<<dim3(ceil_div(n, PF_ROWS), n_heads), PF_WARPS * 32, smem, s>>>(a);
    return launch_status();
}
