/* Small device helpers shared by the kernel files. */
#pragma once

#include <cuda_runtime.h>
#include <math.h>

#include "herd_cuda.h"

namespace herd {

constexpr unsigned FULL_MASK = 0xFFFFFFFFu;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

__device__ __forceinline__ double warp_sum_d(double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

// Block-wide reductions for blocks of whole warps (at most 32 of them). `scratch` holds 32 values;
// every thread gets the result. Ends with a barrier, so scratch may be reused right after.
__device__ __forceinline__ float block_sum(float v, float *scratch) {
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    v = warp_sum(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float t = lane < warps ? scratch[lane] : 0.f;
    t = warp_sum(t);
    __syncthreads();
    return t;
}

__device__ __forceinline__ float block_max(float v, float *scratch) {
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    v = warp_max(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float t = lane < warps ? scratch[lane] : -INFINITY;
    t = warp_max(t);
    __syncthreads();
    return t;
}

__device__ __forceinline__ double block_sum_d(double v, double *scratch) {
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    v = warp_sum_d(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    double t = lane < warps ? scratch[lane] : 0.0;
    t = warp_sum_d(t);
    __syncthreads();
    return t;
}

// silu(g) * u in f32, as the reference's swiglu (which rounds silu(g) to f32 before the product).
__device__ __forceinline__ float silu_mul(float g, float u) {
    return (g / (1.0f + expf(-g))) * u;
}

// The launch's error, if any (clears CUDA's non-sticky error state so the next call starts clean).
inline int launch_status() {
    return static_cast<int>(cudaGetLastError());
}

inline unsigned ceil_div(int64_t a, int64_t b) {
    return static_cast<unsigned>((a + b - 1) / b);
}

}  // namespace herd
