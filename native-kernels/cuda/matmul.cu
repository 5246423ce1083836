/*
 * Matrix products on weights in their stored (GGUF) layout: the C entry points, which pick the kernel
 * family by activation row count (gemv.cu below HERD_CUDA_MMA_MIN_ROWS, tensor cores in mma.cu from it),
 * plus row extraction and the host-side checks of the block decoders.
 *
 * Both kernel families take an optional group table (one group per expert, with its own weights and
 * routed rows) and an optional activation index (the token each routed row reads), so the grouped expert
 * FFN is the same kernels with a grid dimension selecting the expert.
 */
#include "common.cuh"
#include "matmul.cuh"
#include "quant.cuh"

namespace herd {

int launch_product(int dtype, const MatArgs &a, int groups, int max_rows, bool swiglu, cudaStream_t s) {
    if (dtype != HERD_CUDA_F32 && max_rows >= HERD_CUDA_MMA_MIN_ROWS) {
        return launch_mma_any(dtype, a, groups, max_rows, swiglu, s);
    }
    return swiglu ? launch_gemv_swiglu(dtype, a, groups, max_rows, s) : launch_gemv_plain(dtype, a, groups, max_rows, s);
}

template <int T>
__global__ void get_row_kernel(const uint8_t *row, int64_t cols, float *out) {
    int64_t k0 = 16 * (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x);
    if (k0 >= cols) return;
    float v[16];
    deq16<T>(row, k0, cols, v);
#pragma unroll
    for (int i = 0; i < 16; i++) {
        if (k0 + i < cols) out[k0 + i] = v[i];
    }
}

template <int T>
int launch_get_row(const void *row, int64_t cols, float *out, cudaStream_t s) {
    get_row_kernel<T><<<ceil_div(ceil_div(cols, 16), 128), 128, 0, s>>>(static_cast<const uint8_t *>(row), cols, out);
    return launch_status();
}

}  // namespace herd

using namespace herd;

HERD_CUDA_API int herd_cuda_matmul(int dtype, const void *w, int64_t out, int64_t in, const float *x, float *y,
                                   int32_t n, herd_stream stream) {
    if (n < 0 || out < 0 || in <= 0 || row_bytes(dtype, in) < 0) return n < 0 || out < 0 || in <= 0 ? HERD_CUDA_EINVAL : HERD_CUDA_EBADTYPE;
    if (n == 0 || out == 0) return 0;
    MatArgs a{};
    a.w = static_cast<const uint8_t *>(w);
    a.out = out;
    a.cols = in;
    a.row_bytes = row_bytes(dtype, in);
    a.x = x;
    a.x_stride = in;
    a.n = n;
    a.y = y;
    a.y_stride = out;
    return launch_product(dtype, a, 1, n, false, static_cast<cudaStream_t>(stream));
}

HERD_CUDA_API int herd_cuda_expert_ffn(int gate_up_dtype, const void *const *gate, const void *const *up,
                                       int down_dtype, const void *const *down, int64_t hidden, int64_t ffn,
                                       int32_t n_experts, const int32_t *offsets, const int32_t *row_token,
                                       int32_t m, int32_t max_rows, const float *x, float *h, float *y,
                                       herd_stream stream) {
    if (row_bytes(gate_up_dtype, hidden) < 0 || row_bytes(down_dtype, ffn) < 0) return HERD_CUDA_EBADTYPE;
    if (n_experts < 0 || n_experts > 65535 || m < 0 || max_rows < 0 || hidden <= 0 || ffn <= 0) return HERD_CUDA_EINVAL;
    if (m == 0 || n_experts == 0 || max_rows == 0) return 0;
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    MatArgs a{};
    a.w_table = reinterpret_cast<const uint8_t *const *>(gate);
    a.w2_table = reinterpret_cast<const uint8_t *const *>(up);
    a.out = ffn;
    a.cols = hidden;
    a.row_bytes = row_bytes(gate_up_dtype, hidden);
    a.x = x;
    a.x_stride = hidden;
    a.x_index = row_token;
    a.offsets = offsets;
    a.n = m;
    a.y = h;
    a.y_stride = ffn;
    int rc = launch_product(gate_up_dtype, a, n_experts, max_rows, true, s);
    if (rc != 0) return rc;
    MatArgs b{};
    b.w_table = reinterpret_cast<const uint8_t *const *>(down);
    b.out = hidden;
    b.cols = ffn;
    b.row_bytes = row_bytes(down_dtype, ffn);
    b.x = h;
    b.x_stride = ffn;
    b.offsets = offsets;
    b.n = m;
    b.y = y;
    b.y_stride = hidden;
    return launch_product(down_dtype, b, n_experts, max_rows, false, s);
}

HERD_CUDA_API int herd_cuda_get_row(int dtype, const void *row, int64_t cols, float *out, herd_stream stream) {
    if (cols <= 0) return HERD_CUDA_EINVAL;
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    switch (dtype) {
        case HERD_CUDA_F32: return launch_get_row<HERD_CUDA_F32>(row, cols, out, s);
        case HERD_CUDA_F16: return launch_get_row<HERD_CUDA_F16>(row, cols, out, s);
        case HERD_CUDA_BF16: return launch_get_row<HERD_CUDA_BF16>(row, cols, out, s);
        case HERD_CUDA_Q8_0: return launch_get_row<HERD_CUDA_Q8_0>(row, cols, out, s);
        case HERD_CUDA_Q4_0: return launch_get_row<HERD_CUDA_Q4_0>(row, cols, out, s);
        case HERD_CUDA_Q4_K: return launch_get_row<HERD_CUDA_Q4_K>(row, cols, out, s);
        case HERD_CUDA_Q6_K: return launch_get_row<HERD_CUDA_Q6_K>(row, cols, out, s);
        default: return HERD_CUDA_EBADTYPE;
    }
}

// ---- host-side checks ----------------------------------------------------------------------------------------

HERD_CUDA_API int herd_cuda_host_dequant(int dtype, const void *row, int64_t cols, float *out) {
    if (cols <= 0) return HERD_CUDA_EINVAL;
    const uint8_t *r = static_cast<const uint8_t *>(row);
    for (int64_t k0 = 0; k0 < cols; k0 += 16) {
        float v[16];
        int rc = deq16_any(dtype, r, k0, cols, v);
        if (rc != 0) return rc;
        for (int i = 0; i < 16 && k0 + i < cols; i++) out[k0 + i] = v[i];
    }
    return 0;
}

template <int T, bool VEC>
static float host_dot(const uint8_t *row, int64_t cols, const float *x) {
    float acc = 0.f;
    const float *xr[1] = {x};
    int64_t units = units_per_row<T, VEC>(cols);
    for (int64_t u = 0; u < units; u++) UnitDot<T, VEC, 1>::run(row, u, xr, 1, &acc);
    return acc;
}

HERD_CUDA_API int herd_cuda_host_dot(int dtype, const void *row, int64_t cols, const float *x, float *out) {
    if (cols <= 0) return HERD_CUDA_EINVAL;
    const uint8_t *r = static_cast<const uint8_t *>(row);
    bool vec = vector_rows(dtype, cols);
    switch (dtype) {
        case HERD_CUDA_F32: *out = vec ? host_dot<HERD_CUDA_F32, true>(r, cols, x) : host_dot<HERD_CUDA_F32, false>(r, cols, x); return 0;
        case HERD_CUDA_F16: *out = vec ? host_dot<HERD_CUDA_F16, true>(r, cols, x) : host_dot<HERD_CUDA_F16, false>(r, cols, x); return 0;
        case HERD_CUDA_BF16: *out = vec ? host_dot<HERD_CUDA_BF16, true>(r, cols, x) : host_dot<HERD_CUDA_BF16, false>(r, cols, x); return 0;
        case HERD_CUDA_Q8_0: *out = host_dot<HERD_CUDA_Q8_0, false>(r, cols, x); return 0;
        case HERD_CUDA_Q4_0: *out = host_dot<HERD_CUDA_Q4_0, false>(r, cols, x); return 0;
        case HERD_CUDA_Q4_K: *out = host_dot<HERD_CUDA_Q4_K, false>(r, cols, x); return 0;
        case HERD_CUDA_Q6_K: *out = host_dot<HERD_CUDA_Q6_K, false>(r, cols, x); return 0;
        default: return HERD_CUDA_EBADTYPE;
    }
}
