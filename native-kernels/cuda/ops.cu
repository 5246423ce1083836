/*
 * Element-wise and per-row kernels: RMSNorm, rotary embedding, softmax, SwiGLU, residual add, and the
 * MoE router's top-k. Where the reference backend computes in double (norm sums, rope angles, softmax
 * exponentials) these do too: the work is small next to the matrix products, and it keeps them within
 * f32 rounding of the reference (rope angles need it: position x frequency loses whole radians in f32
 * at long contexts).
 */
#include <climits>

#include "common.cuh"

#ifndef HERD_CUDA_ARCHS
#define HERD_CUDA_ARCHS "unknown"
#endif

namespace herd {

constexpr int ROW_THREADS = 256;

__global__ void __launch_bounds__(ROW_THREADS) rmsnorm_kernel(const float *x, const float *w, float eps, int dim,
                                                              float *out) {
    __shared__ double red[32];
    const int64_t o = static_cast<int64_t>(blockIdx.x) * dim;
    double ss = 0.0;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        double v = x[o + i];
        ss += v * v;
    }
    ss = block_sum_d(ss, red);  // every thread has read its x before anyone writes out (out may be x)
    const float inv = static_cast<float>(1.0 / sqrt(ss / dim + static_cast<double>(eps)));
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float v = __fmul_rn(x[o + i], inv);
        out[o + i] = w ? __fmul_rn(v, w[i]) : v;
    }
}

__global__ void rope_kernel(float *x, int n, int heads, int head_dim, const int32_t *positions,
                            const float *inv_freq, int half, int style) {
    const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t total = static_cast<int64_t>(n) * heads * half;
    if (idx >= total) return;
    const int i = static_cast<int>(idx % half);
    const int h = static_cast<int>((idx / half) % heads);
    const int r = static_cast<int>(idx / (static_cast<int64_t>(half) * heads));
    double sn, cs;
    sincos(static_cast<double>(positions[r]) * static_cast<double>(inv_freq[i]), &sn, &cs);
    const float c = static_cast<float>(cs), s = static_cast<float>(sn);
    const int64_t base = (static_cast<int64_t>(r) * heads + h) * head_dim;
    const int64_t ia = style == 0 ? base + i : base + 2 * i;
    const int64_t ib = style == 0 ? base + i + half : base + 2 * i + 1;
    const float x0 = x[ia], x1 = x[ib];
    x[ia] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
    x[ib] = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
}

__global__ void __launch_bounds__(ROW_THREADS) softmax_kernel(float *x, int len) {
    __shared__ float redf[32];
    __shared__ double redd[32];
    float *row = x + static_cast<int64_t>(blockIdx.x) * len;
    float m = -INFINITY;
    for (int i = threadIdx.x; i < len; i += blockDim.x) m = fmaxf(m, row[i]);
    m = block_max(m, redf);
    double sum = 0.0;
    for (int i = threadIdx.x; i < len; i += blockDim.x) {
        double e = exp(static_cast<double>(row[i] - m));
        row[i] = static_cast<float>(e);
        sum += e;
    }
    sum = block_sum_d(sum, redd);
    for (int i = threadIdx.x; i < len; i += blockDim.x) row[i] = static_cast<float>(row[i] / sum);
}

__global__ void swiglu_kernel(float *gate, const float *up, int64_t len) {
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < len;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        gate[i] = silu_mul(gate[i], up[i]);
    }
}

__global__ void add_kernel(float *x, const float *y, int64_t len) {
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < len;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        x[i] += y[i];
    }
}

constexpr int TOPK_WARPS = 4;

__global__ void __launch_bounds__(TOPK_WARPS * 32) router_topk_kernel(const float *logits, int n, int experts, int k,
                                                                      int gating, int normalize, int32_t *out_experts,
                                                                      float *out_weights) {
    const int lane = threadIdx.x % 32;
    const int r = blockIdx.x * TOPK_WARPS + threadIdx.x / 32;
    if (r >= n) return;  // whole warp
    const float *row = logits + static_cast<int64_t>(r) * experts;
    float mx = -INFINITY;
    for (int i = lane; i < experts; i += 32) mx = fmaxf(mx, row[i]);
    mx = warp_max(mx);
    float sum = 0.f;
    if (gating == 0) {
        for (int i = lane; i < experts; i += 32) sum += expf(row[i] - mx);
        sum = warp_sum(sum);
    }
    int chosen[HERD_CUDA_MAX_TOP_K];
    float weight[HERD_CUDA_MAX_TOP_K];
    float wsum = 0.f;
    for (int s = 0; s < k; s++) {
        float bv = -INFINITY;
        int bi = INT_MAX;
        for (int i = lane; i < experts; i += 32) {
            bool taken = false;
            for (int c = 0; c < s; c++) taken |= chosen[c] == i;
            if (taken) continue;
            float v = gating == 0 ? expf(row[i] - mx) / sum : row[i];
            if (v > bv || (v == bv && i < bi)) {
                bv = v;
                bi = i;
            }
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {  // largest value, ties to the lower index
            float ov = __shfl_xor_sync(FULL_MASK, bv, o);
            int oi = __shfl_xor_sync(FULL_MASK, bi, o);
            if (ov > bv || (ov == bv && oi < bi)) {
                bv = ov;
                bi = oi;
            }
        }
        chosen[s] = bi;
        float raw = row[bi];
        float w = gating == 0 ? expf(raw - mx) / sum : 1.0f / (1.0f + expf(-raw));
        weight[s] = w;
        wsum += w;
    }
    if (lane == 0) {
        for (int s = 0; s < k; s++) {
            out_experts[static_cast<int64_t>(r) * k + s] = chosen[s];
            out_weights[static_cast<int64_t>(r) * k + s] = normalize ? weight[s] / wsum : weight[s];
        }
    }
}

inline unsigned elementwise_blocks(int64_t len) {
    unsigned blocks = ceil_div(len, 256);
    return blocks < 65535u ? blocks : 65535u;
}

}  // namespace herd

using namespace herd;

#define HERD_STR2(x) #x
#define HERD_STR(x) HERD_STR2(x)

HERD_CUDA_API const char *herd_cuda_build_info(void) {
    return "herd-cuda 1; CUDA " HERD_STR(CUDART_VERSION) "; targets " HERD_CUDA_ARCHS;
}

HERD_CUDA_API int herd_cuda_rmsnorm(const float *x, const float *w, float eps, int32_t dim, int32_t n, float *out,
                                    herd_stream stream) {
    if (dim <= 0 || n < 0) return HERD_CUDA_EINVAL;
    if (n == 0) return 0;
    rmsnorm_kernel<<<n, ROW_THREADS, 0, static_cast<cudaStream_t>(stream)>>>(x, w, eps, dim, out);
    return launch_status();
}

HERD_CUDA_API int herd_cuda_rope(float *x, int32_t n, int32_t heads, int32_t head_dim, const int32_t *positions,
                                 const float *inv_freq, int32_t half, int32_t style, herd_stream stream) {
    if (n < 0 || heads < 0 || half < 0 || 2 * half > head_dim || (style != 0 && style != 1)) return HERD_CUDA_EINVAL;
    int64_t total = static_cast<int64_t>(n) * heads * half;
    if (total == 0) return 0;
    rope_kernel<<<ceil_div(total, 256), 256, 0, static_cast<cudaStream_t>(stream)>>>(x, n, heads, head_dim, positions,
                                                                                     inv_freq, half, style);
    return launch_status();
}

HERD_CUDA_API int herd_cuda_softmax(float *x, int32_t rows, int32_t len, herd_stream stream) {
    if (rows < 0 || len < 0) return HERD_CUDA_EINVAL;
    if (rows == 0 || len == 0) return 0;
    softmax_kernel<<<rows, ROW_THREADS, 0, static_cast<cudaStream_t>(stream)>>>(x, len);
    return launch_status();
}

HERD_CUDA_API int herd_cuda_swiglu(float *gate, const float *up, int64_t len, herd_stream stream) {
    if (len < 0) return HERD_CUDA_EINVAL;
    if (len == 0) return 0;
    swiglu_kernel<<<elementwise_blocks(len), 256, 0, static_cast<cudaStream_t>(stream)>>>(gate, up, len);
    return launch_status();
}

HERD_CUDA_API int herd_cuda_add(float *x, const float *y, int64_t len, herd_stream stream) {
    if (len < 0) return HERD_CUDA_EINVAL;
    if (len == 0) return 0;
    add_kernel<<<elementwise_blocks(len), 256, 0, static_cast<cudaStream_t>(stream)>>>(x, y, len);
    return launch_status();
}

HERD_CUDA_API int herd_cuda_router_topk(const float *logits, int32_t n, int32_t experts, int32_t k, int32_t gating,
                                        int32_t normalize, int32_t *out_experts, float *out_weights,
                                        herd_stream stream) {
    if (n < 0 || experts <= 0 || k <= 0 || k > experts || k > HERD_CUDA_MAX_TOP_K || (gating != 0 && gating != 1)) {
        return HERD_CUDA_EINVAL;
    }
    if (n == 0) return 0;
    router_topk_kernel<<<ceil_div(n, TOPK_WARPS), TOPK_WARPS * 32, 0, static_cast<cudaStream_t>(stream)>>>(
            logits, n, experts, k, gating, normalize, out_experts, out_weights);
    return launch_status();
}
