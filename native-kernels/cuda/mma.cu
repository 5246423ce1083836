/*
 * Matrix products for many activation rows (prefill, busy experts) on tensor cores: 64 x 64 output tiles,
 * WMMA 16x16x16 with f32 accumulation. Weight tiles are dequantized into shared memory as f16 (bf16 for
 * BF16 weights, whose range f16 lacks) and activation tiles rounded to the same type. F32 weights never
 * come here (they take the matrix-vector kernel at any row count).
 */
#include <mma.h>
#include <type_traits>

#include "common.cuh"
#include "matmul.cuh"
#include "quant.cuh"

namespace herd {

constexpr int MMA_BM = 64;   // weight rows (outputs) per block
constexpr int MMA_BN = 64;   // activation rows (slots) per block
constexpr int MMA_BK = 32;   // inner dimension per step
constexpr int MMA_LD = MMA_BK + 8;  // padded row of a shared tile: 80 bytes, keeps WMMA pointers 32-byte aligned
constexpr int MMA_CLD = MMA_BM + 4;

template <typename E> __device__ __forceinline__ E to_elem(float v);
template <> __device__ __forceinline__ half to_elem<half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 to_elem<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

__device__ __forceinline__ void load_x16(const float *row, int64_t k, int64_t cols, bool vec, float *v) {
    if (vec && k + 16 <= cols) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float4 f = ld_f4(row + k + 4 * i);
            v[4 * i] = f.x;
            v[4 * i + 1] = f.y;
            v[4 * i + 2] = f.z;
            v[4 * i + 3] = f.w;
        }
        return;
    }
#pragma unroll
    for (int i = 0; i < 16; i++) v[i] = k + i < cols ? row[k + i] : 0.f;
}

template <int T, bool SWIGLU>
__global__ void __launch_bounds__(128) mma_kernel(MatArgs a) {
    using namespace nvcuda;
    using E = typename std::conditional<T == HERD_CUDA_BF16, __nv_bfloat16, half>::type;
    int sb, se;
    group_slots(a, blockIdx.z, sb, se);
    const int s0 = sb + static_cast<int>(blockIdx.y) * MMA_BN;
    if (s0 >= se) return;  // uniform over the block, before any barrier
    const int64_t o0 = static_cast<int64_t>(blockIdx.x) * MMA_BM;
    const uint8_t *w = a.w_table ? a.w_table[blockIdx.z] : a.w;
    const uint8_t *w2 = SWIGLU ? (a.w2_table ? a.w2_table[blockIdx.z] : a.w2) : nullptr;

    __shared__ __align__(128) E ws[MMA_BM][MMA_LD];
    __shared__ __align__(128) E us[SWIGLU ? MMA_BM : 1][MMA_LD];
    __shared__ __align__(128) E xs[MMA_BN][MMA_LD];
    __shared__ __align__(128) float cs[MMA_BN][MMA_CLD];

    const int tid = threadIdx.x, warp = tid / 32;
    const int wm = warp / 2, wn = warp % 2;  // this warp's 32 x 32 quarter of the tile
    const int lr = tid / 2, lh = tid % 2;    // the tile row this thread loads, and which 16 of its 32
    const bool wok = o0 + lr < a.out;
    const uint8_t *wrow = w + (wok ? o0 + lr : 0) * a.row_bytes;
    const uint8_t *urow = SWIGLU ? w2 + (wok ? o0 + lr : 0) * a.row_bytes : nullptr;
    const bool xok = s0 + lr < se;
    const int xi = xok ? (a.x_index ? a.x_index[s0 + lr] : s0 + lr) : 0;
    const float *xrow = a.x + static_cast<int64_t>(xi) * a.x_stride;
    const bool xvec = a.x_stride % 4 == 0 && (reinterpret_cast<uintptr_t>(a.x) & 15) == 0;

    // accumulators: acc for the product (the gate under SWIGLU), accu for the up product
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2], accu[SWIGLU ? 2 : 1][SWIGLU ? 2 : 1];
#pragma unroll
    for (int i = 0; i < 2; i++) {
#pragma unroll
        for (int j = 0; j < 2; j++) {
            wmma::fill_fragment(acc[i][j], 0.f);
            if constexpr (SWIGLU) wmma::fill_fragment(accu[i][j], 0.f);
        }
    }

    for (int64_t k0 = 0; k0 < a.cols; k0 += MMA_BK) {
        const int64_t k = k0 + 16 * lh;
        const bool kin = k < a.cols;
        float v[16];
        if (wok && kin) {
            deq16<T>(wrow, k, a.cols, v);
        } else {
#pragma unroll
            for (int i = 0; i < 16; i++) v[i] = 0.f;
        }
#pragma unroll
        for (int i = 0; i < 16; i++) ws[lr][16 * lh + i] = to_elem<E>(v[i]);
        if constexpr (SWIGLU) {
            if (wok && kin) {
                deq16<T>(urow, k, a.cols, v);
            } else {
#pragma unroll
                for (int i = 0; i < 16; i++) v[i] = 0.f;
            }
#pragma unroll
            for (int i = 0; i < 16; i++) us[lr][16 * lh + i] = to_elem<E>(v[i]);
        }
        if (xok && kin) {
            load_x16(xrow, k, a.cols, xvec, v);
        } else {
#pragma unroll
            for (int i = 0; i < 16; i++) v[i] = 0.f;
        }
#pragma unroll
        for (int i = 0; i < 16; i++) xs[lr][16 * lh + i] = to_elem<E>(v[i]);
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < MMA_BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, E, wmma::row_major> fa[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, E, wmma::col_major> fb[2];
#pragma unroll
            for (int i = 0; i < 2; i++) wmma::load_matrix_sync(fa[i], &ws[32 * wm + 16 * i][kk], MMA_LD);
#pragma unroll
            for (int j = 0; j < 2; j++) wmma::load_matrix_sync(fb[j], &xs[32 * wn + 16 * j][kk], MMA_LD);
#pragma unroll
            for (int i = 0; i < 2; i++) {
#pragma unroll
                for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
            }
            if constexpr (SWIGLU) {
#pragma unroll
                for (int i = 0; i < 2; i++) wmma::load_matrix_sync(fa[i], &us[32 * wm + 16 * i][kk], MMA_LD);
#pragma unroll
                for (int i = 0; i < 2; i++) {
#pragma unroll
                    for (int j = 0; j < 2; j++) wmma::mma_sync(accu[i][j], fa[i], fb[j], accu[i][j]);
                }
            }
        }
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < 2; i++) {
#pragma unroll
        for (int j = 0; j < 2; j++) {
            if constexpr (SWIGLU) {
                // gate and up fragments of the same shape and type map their elements identically
#pragma unroll
                for (int e = 0; e < acc[i][j].num_elements; e++) {
                    acc[i][j].x[e] = silu_mul(acc[i][j].x[e], accu[i][j].x[e]);
                }
            }
            // C is (weight row, slot); stored column-major it lands as cs[slot][weight row]
            wmma::store_matrix_sync(&cs[32 * wn + 16 * j][32 * wm + 16 * i], acc[i][j], MMA_CLD, wmma::mem_col_major);
        }
    }
    __syncthreads();
    for (int e = tid; e < MMA_BN * MMA_BM; e += 128) {
        int s = e / MMA_BM, o = e % MMA_BM;
        if (s0 + s < se && o0 + o < a.out) {
            a.y[static_cast<int64_t>(s0 + s) * a.y_stride + o0 + o] = cs[s][o];
        }
    }
}

template <int T>
int launch_mma(const MatArgs &a, int groups, int max_rows, bool swiglu, cudaStream_t s) {
    dim3 grid(ceil_div(a.out, MMA_BM), ceil_div(max_rows, MMA_BN), groups);
    if (swiglu) {
        mma_kernel<T, true><<<grid, 128, 0, s>>>(a);
    } else {
        mma_kernel<T, false><<<grid, 128, 0, s>>>(a);
    }
    return launch_status();
}

int launch_mma_any(int dtype, const MatArgs &a, int groups, int max_rows, bool swiglu, cudaStream_t s) {
    switch (dtype) {
        case HERD_CUDA_F16: return launch_mma<HERD_CUDA_F16>(a, groups, max_rows, swiglu, s);
        case HERD_CUDA_BF16: return launch_mma<HERD_CUDA_BF16>(a, groups, max_rows, swiglu, s);
        case HERD_CUDA_Q8_0: return launch_mma<HERD_CUDA_Q8_0>(a, groups, max_rows, swiglu, s);
        case HERD_CUDA_Q4_0: return launch_mma<HERD_CUDA_Q4_0>(a, groups, max_rows, swiglu, s);
        case HERD_CUDA_Q4_K: return launch_mma<HERD_CUDA_Q4_K>(a, groups, max_rows, swiglu, s);
        case HERD_CUDA_Q6_K: return launch_mma<HERD_CUDA_Q6_K>(a, groups, max_rows, swiglu, s);
        default: return HERD_CUDA_EBADTYPE;
    }
}

}  // namespace herd
