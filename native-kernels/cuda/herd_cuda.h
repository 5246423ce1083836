/*
 * Herd's CUDA kernels: the native side of dev.herd.kernels.cuda.CudaBackend, bound through
 * java.lang.foreign. Every function here is extern "C" and takes plain pointers and integers, so
 * Java needs neither JNI nor the CUDA driver API: it allocates and copies with the CUDA runtime
 * (bound separately) and calls these wrappers to enqueue kernels.
 *
 * Launch functions only enqueue work on `stream`; they never synchronise. All data pointers are
 * device pointers unless a comment says otherwise. They return 0 when the launch was accepted, a
 * cudaError_t code (> 0) when CUDA refused it, or one of the negative HERD_CUDA_E* codes below
 * when the arguments are outside what the kernels handle (nothing is enqueued then).
 *
 * Weight element types use the numbering of dev.herd.kernels.NativeBackend / herd_kernels.h,
 * mapped explicitly on the Java side; weights stay in their GGUF block layout (see
 * dev.herd.kernels.DType), rows contiguous.
 */
#ifndef HERD_CUDA_H
#define HERD_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
#define HERD_CUDA_EXTERN extern "C"
#else
#define HERD_CUDA_EXTERN
#endif
#define HERD_CUDA_API HERD_CUDA_EXTERN __attribute__((visibility("default")))

#define HERD_CUDA_F32 0
#define HERD_CUDA_F16 1
#define HERD_CUDA_BF16 2
#define HERD_CUDA_Q8_0 3
#define HERD_CUDA_Q4_0 4
#define HERD_CUDA_Q4_K 5
#define HERD_CUDA_Q6_K 6

#define HERD_CUDA_EBADTYPE (-1)
#define HERD_CUDA_EINVAL (-3)

/* Activation rows at and above which matrix products use the tensor-core (WMMA) kernel instead of
 * the matrix-vector one; F32 weights always take the matrix-vector kernel. */
#define HERD_CUDA_MMA_MIN_ROWS 16
/* Query rows up to which attention uses the split-K (flash-decoding) kernel; above, the tiled one. */
#define HERD_CUDA_DECODE_MAX_ROWS 4
/* Keys per split of the split-K attention kernel. */
#define HERD_CUDA_ATTN_SPLIT 256
/* Largest head dimension the attention kernels take. */
#define HERD_CUDA_MAX_HEAD_DIM 256
/* Largest top-k the router kernel takes. */
#define HERD_CUDA_MAX_TOP_K 32

typedef void *herd_stream;

/* The build's description: kernel version, CUDA version and target architectures (static string). */
HERD_CUDA_API const char *herd_cuda_build_info(void);

/* y (n, out) = x (n, in) . W (out, in)^T. */
HERD_CUDA_API int herd_cuda_matmul(int dtype, const void *w, int64_t out, int64_t in, const float *x, float *y,
                                   int32_t n, herd_stream stream);

/* One row of `cols` elements (row already offset to its first block) as f32. */
HERD_CUDA_API int herd_cuda_get_row(int dtype, const void *row, int64_t cols, float *out, herd_stream stream);

/* out = x / sqrt(mean(x^2) + eps) * w per row of dim; w may be NULL (no weight); out may equal x. */
HERD_CUDA_API int herd_cuda_rmsnorm(const float *x, const float *w, float eps, int32_t dim, int32_t n, float *out,
                                    herd_stream stream);

/* In place on x (n, heads, head_dim); style 0: NEOX (i with i + half), 1: adjacent (2i with 2i + 1). */
HERD_CUDA_API int herd_cuda_rope(float *x, int32_t n, int32_t heads, int32_t head_dim, const int32_t *positions,
                                 const float *inv_freq, int32_t half, int32_t style, herd_stream stream);

/* Softmax in place over each of `rows` contiguous rows of `len`. */
HERD_CUDA_API int herd_cuda_softmax(float *x, int32_t rows, int32_t len, herd_stream stream);

/* gate[i] = silu(gate[i]) * up[i]. */
HERD_CUDA_API int herd_cuda_swiglu(float *gate, const float *up, int64_t len, herd_stream stream);

/* x[i] += y[i]. */
HERD_CUDA_API int herd_cuda_add(float *x, const float *y, int64_t len, herd_stream stream);

/* Floats of scratch herd_cuda_attention needs for n query rows whose longest key range is max_keys. */
HERD_CUDA_API int64_t herd_cuda_attention_scratch(int32_t n_heads, int32_t head_dim, int32_t n, int32_t max_keys);

/*
 * Causal grouped-query attention of n query rows (see dev.herd.kernels.Backend#attention):
 * q (n, n_heads * head_dim), positions (n), k/v (positions, n_kv_heads * head_dim), out like q.
 * chunk 0: global causal; otherwise a query at p sees keys [p - p % chunk, p]. max_keys: the longest
 * key range of any row (host-computed; sizes the split-K grid). scratch: herd_cuda_attention_scratch floats.
 */
HERD_CUDA_API int herd_cuda_attention(int32_t n_heads, int32_t n_kv_heads, int32_t head_dim, float scale,
                                      int32_t chunk, const float *q, const int32_t *positions, int32_t n,
                                      int32_t max_keys, const float *k, const float *v, float *out, float *scratch,
                                      herd_stream stream);

/*
 * Router: for each of n rows of `experts` logits, the k best experts (largest first, ties to the lower
 * index) and their weights. gating 0: softmax over all experts, choose and weigh by probability;
 * 1: choose on the raw logits and weigh by sigmoid(logit). normalize: divide the k weights by their sum.
 */
HERD_CUDA_API int herd_cuda_router_topk(const float *logits, int32_t n, int32_t experts, int32_t k, int32_t gating,
                                        int32_t normalize, int32_t *out_experts, float *out_weights,
                                        herd_stream stream);

/*
 * Grouped expert feed-forward, all local experts in one launch per stage:
 *   h[j] = silu(gate_e . x[row_token[j]]) * (up_e . x[row_token[j]])     (one launch)
 *   y[j] = down_e . h[j]                                                 (one launch)
 * for the routed rows j of expert e, which are [offsets[e], offsets[e + 1]). gate/up/down are device
 * arrays of n_experts weight pointers; gate_up_dtype is the type of every gate and up matrix
 * (ffn, hidden), down_dtype of every down matrix (hidden, ffn). max_rows: the largest row count of
 * one expert (host-computed; sizes the grid). x (tokens, hidden); h scratch (m, ffn); y (m, hidden).
 */
HERD_CUDA_API int herd_cuda_expert_ffn(int gate_up_dtype, const void *const *gate, const void *const *up,
                                       int down_dtype, const void *const *down, int64_t hidden, int64_t ffn,
                                       int32_t n_experts, const int32_t *offsets, const int32_t *row_token,
                                       int32_t m, int32_t max_rows, const float *x, float *h, float *y,
                                       herd_stream stream);

/*
 * Host-side checks of the block decoders, for tests on machines without a GPU: the very functions the
 * kernels run on each block, compiled for the host too. All pointers are host pointers.
 *   dequant: the row as f32 through the decoder the tensor-core tiles and get_row use;
 *   dot:     row . x through the per-lane decoder the matrix-vector kernel uses (all lanes' units summed).
 */
HERD_CUDA_API int herd_cuda_host_dequant(int dtype, const void *row, int64_t cols, float *out);
HERD_CUDA_API int herd_cuda_host_dot(int dtype, const void *row, int64_t cols, const float *x, float *out);

#endif
