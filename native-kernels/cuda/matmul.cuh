/* The argument block shared by the matrix-product kernels (gemv.cu, mma.cu) and their launchers. */
#pragma once

#include <stdint.h>
#include <cuda_runtime.h>

namespace herd {

struct MatArgs {
    const uint8_t *w;               // weights (out, cols) when w_table is null
    const uint8_t *const *w_table;  // per-group weights, or null
    const uint8_t *w2;              // SWIGLU: the up weights, paired with w (the gate)
    const uint8_t *const *w2_table;
    int64_t out;
    int64_t cols;
    int64_t row_bytes;
    const float *x;                 // activation rows, x_stride floats apart
    int64_t x_stride;
    const int32_t *x_index;         // slot j reads x row x_index[j]; null: row j
    const int32_t *offsets;         // group g owns slots [offsets[g], offsets[g+1]); null: one group of n
    int32_t n;
    float *y;                       // y[slot * y_stride + output row]
    int64_t y_stride;
};

__device__ __forceinline__ void group_slots(const MatArgs &a, int g, int &begin, int &end) {
    begin = a.offsets ? a.offsets[g] : 0;
    end = a.offsets ? a.offsets[g + 1] : a.n;
}

// Launchers, in separate translation units so that the kernel families compile in parallel.
int launch_gemv_plain(int dtype, const MatArgs &a, int groups, int max_rows, cudaStream_t s);   // gemv.cu
int launch_gemv_swiglu(int dtype, const MatArgs &a, int groups, int max_rows, cudaStream_t s);  // gemv.cu again
int launch_mma_any(int dtype, const MatArgs &a, int groups, int max_rows, bool swiglu, cudaStream_t s);  // mma.cu

}  // namespace herd
