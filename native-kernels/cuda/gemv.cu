/*
 * Matrix-vector products for few activation rows (decode, lightly loaded experts). One warp computes
 * GEMV_ROWS output rows; its lanes take consecutive units of each weight row (see quant.cuh), so each
 * load instruction of the warp reads a contiguous stretch of the row. The GEMV_ROWS rows read the same
 * activation values (no store intervenes, so the repeated loads can be merged, and they hit L1 if not),
 * which keeps activation traffic below weight traffic. Activation rows go NR at a time (NR = 1 or 8);
 * weights are dequantized exactly and summed in f32.
 */
#include "common.cuh"
#include "matmul.cuh"
#include "quant.cuh"

#ifndef HERD_GEMV_SWIGLU
#error "compile with -DHERD_GEMV_SWIGLU=0 (plain products) or 1 (fused gate/up with SwiGLU)"
#endif

namespace herd {

constexpr int GEMV_WARPS = 4;
constexpr int GEMV_ROWS = 2;

template <int T, bool VEC, int NR, bool SWIGLU>
__global__ void __launch_bounds__(GEMV_WARPS * 32) gemv_kernel(MatArgs a) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int64_t o0 = (static_cast<int64_t>(blockIdx.x) * GEMV_WARPS + warp) * GEMV_ROWS;
    int sb, se;
    group_slots(a, blockIdx.y, sb, se);
    if (o0 >= a.out || sb >= se) return;  // uniform over the warp: no lane is left out of the shuffles below
    const uint8_t *w = a.w_table ? a.w_table[blockIdx.y] : a.w;
    const uint8_t *w2 = SWIGLU ? (a.w2_table ? a.w2_table[blockIdx.y] : a.w2) : nullptr;
    const int64_t units = units_per_row<T, VEC>(a.cols);

    const uint8_t *wr[GEMV_ROWS];
    const uint8_t *ur[GEMV_ROWS];
    bool ok[GEMV_ROWS];
#pragma unroll
    for (int rr = 0; rr < GEMV_ROWS; rr++) {
        ok[rr] = o0 + rr < a.out;
        int64_t o = ok[rr] ? o0 + rr : o0;
        wr[rr] = w + o * a.row_bytes;
        ur[rr] = SWIGLU ? w2 + o * a.row_bytes : nullptr;
    }

    for (int s0 = sb; s0 < se; s0 += NR) {
        const int nr = min(NR, se - s0);
        const float *xr[NR];
#pragma unroll
        for (int r = 0; r < NR; r++) {
            int slot = s0 + min(r, nr - 1);
            int xi = a.x_index ? a.x_index[slot] : slot;
            xr[r] = a.x + static_cast<int64_t>(xi) * a.x_stride;
        }
        float acc[GEMV_ROWS][NR];
        float acc2[GEMV_ROWS][NR];
#pragma unroll
        for (int rr = 0; rr < GEMV_ROWS; rr++) {
#pragma unroll
            for (int r = 0; r < NR; r++) acc[rr][r] = acc2[rr][r] = 0.f;
        }
        for (int64_t u = lane; u < units; u += 32) {
#pragma unroll
            for (int rr = 0; rr < GEMV_ROWS; rr++) {
                if (ok[rr]) {
                    UnitDot<T, VEC, NR>::run(wr[rr], u, xr, nr, acc[rr]);
                    if (SWIGLU) UnitDot<T, VEC, NR>::run(ur[rr], u, xr, nr, acc2[rr]);
                }
            }
        }
#pragma unroll
        for (int rr = 0; rr < GEMV_ROWS; rr++) {
#pragma unroll
            for (int r = 0; r < NR; r++) {
                float v = warp_sum(acc[rr][r]);
                float v2 = SWIGLU ? warp_sum(acc2[rr][r]) : 0.f;
                if (lane == 0 && ok[rr] && r < nr) {
                    a.y[static_cast<int64_t>(s0 + r) * a.y_stride + o0 + rr] = SWIGLU ? silu_mul(v, v2) : v;
                }
            }
        }
    }
}

template <int T, bool VEC, bool SWIGLU>
int launch_gemv(const MatArgs &a, int groups, int max_rows, cudaStream_t s) {
    dim3 grid(ceil_div(a.out, GEMV_WARPS * GEMV_ROWS), groups);
    if (max_rows <= 1) {
        gemv_kernel<T, VEC, 1, SWIGLU><<<grid, GEMV_WARPS * 32, 0, s>>>(a);
    } else {
        gemv_kernel<T, VEC, 8, SWIGLU><<<grid, GEMV_WARPS * 32, 0, s>>>(a);
    }
    return launch_status();
}

template <int T, bool SWIGLU>
int launch_gemv_typed(const MatArgs &a, int groups, int max_rows, cudaStream_t s) {
    if constexpr (T == HERD_CUDA_F32 || T == HERD_CUDA_F16 || T == HERD_CUDA_BF16) {
        if (vector_rows(T, a.cols)) return launch_gemv<T, true, SWIGLU>(a, groups, max_rows, s);
    }
    return launch_gemv<T, false, SWIGLU>(a, groups, max_rows, s);
}

template <bool SWIGLU>
int launch_gemv_dtype(int dtype, const MatArgs &a, int groups, int max_rows, cudaStream_t s) {
    switch (dtype) {
        case HERD_CUDA_F32: return launch_gemv_typed<HERD_CUDA_F32, SWIGLU>(a, groups, max_rows, s);
        case HERD_CUDA_F16: return launch_gemv_typed<HERD_CUDA_F16, SWIGLU>(a, groups, max_rows, s);
        case HERD_CUDA_BF16: return launch_gemv_typed<HERD_CUDA_BF16, SWIGLU>(a, groups, max_rows, s);
        case HERD_CUDA_Q8_0: return launch_gemv_typed<HERD_CUDA_Q8_0, SWIGLU>(a, groups, max_rows, s);
        case HERD_CUDA_Q4_0: return launch_gemv_typed<HERD_CUDA_Q4_0, SWIGLU>(a, groups, max_rows, s);
        case HERD_CUDA_Q4_K: return launch_gemv_typed<HERD_CUDA_Q4_K, SWIGLU>(a, groups, max_rows, s);
        case HERD_CUDA_Q6_K: return launch_gemv_typed<HERD_CUDA_Q6_K, SWIGLU>(a, groups, max_rows, s);
        default: return HERD_CUDA_EBADTYPE;
    }
}

// This file is compiled twice, with HERD_GEMV_SWIGLU 0 and 1 (build.sh), so the plain and the fused
// gate/up kernels build in parallel: together they are the largest part of the library's compile time.
#if HERD_GEMV_SWIGLU
int launch_gemv_swiglu(int dtype, const MatArgs &a, int groups, int max_rows, cudaStream_t s) {
    return launch_gemv_dtype<true>(dtype, a, groups, max_rows, s);
}
#else
int launch_gemv_plain(int dtype, const MatArgs &a, int groups, int max_rows, cudaStream_t s) {
    return launch_gemv_dtype<false>(dtype, a, groups, max_rows, s);
}
#endif

}  // namespace herd
