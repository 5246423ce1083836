/*
 * Herd's native CPU kernels: the C side of dev.herd.kernels.NativeBackend (bound through
 * java.lang.foreign, so every function here takes plain pointers and integers).
 *
 * A context owns a persistent worker pool; matrix products and attention are split over it.
 * Functions that take no context run on the calling thread. A context is used by one caller at
 * a time (the Java side serialises calls that use the pool).
 *
 * Return codes: 0 on success, HERD_EBADTYPE for a dtype this library does not handle,
 * HERD_ENOMEM when scratch memory could not be allocated.
 */
#ifndef HERD_KERNELS_H
#define HERD_KERNELS_H

#include <stdint.h>

#define HERD_API __attribute__((visibility("default")))

/* Weight element types; the Java side maps DType to these explicitly (never by ordinal). */
enum herd_dtype {
    HERD_F32 = 0,
    HERD_F16 = 1,
    HERD_BF16 = 2,
    HERD_Q8_0 = 3,
    HERD_Q4_0 = 4,
    HERD_Q4_K = 5,
    HERD_Q6_K = 6,
    /* Herd's own layouts, made from Q4_0 / Q8_0 by herd_repack (never found in a file): rows in groups of
     * 16, each group's blocks with the 16 rows' bytes interleaved 4 at a time, so that one 512-bit lane
     * holds one row and a block's integer dot products for 16 rows take 8 instructions. */
    HERD_Q4_0_R16 = 7,
    HERD_Q8_0_R16 = 8,
};

/* Instruction-set levels of the kernel variants built into the library. */
enum herd_isa_level {
    HERD_ISA_AUTO = 0,
    HERD_ISA_PORTABLE = 1,
    HERD_ISA_AVX2 = 2,    /* AVX2 + FMA + F16C */
    HERD_ISA_AVX512 = 3,  /* AVX-512 F/BW/VL/DQ + VNNI, with AVX2 + FMA + F16C */
};

#define HERD_EBADTYPE (-1)
#define HERD_ENOMEM (-2)

typedef struct herd_ctx herd_ctx;

/* 1 when this CPU can run the variant of that level and the library contains it. */
HERD_API int herd_isa_supported(int level);

/* threads >= 1 (the caller counts as one); level HERD_ISA_AUTO picks the best supported.
 * spin_us: how long an idle worker spins before it sleeps. NULL on failure. */
HERD_API herd_ctx *herd_create(int threads, int level, int spin_us);
HERD_API void herd_destroy(herd_ctx *ctx);
HERD_API int herd_isa_level(const herd_ctx *ctx);
HERD_API int herd_threads(const herd_ctx *ctx);

/* y (n, out) = x (n, in) · W (out, in)ᵀ; W rows are contiguous, in is a whole number of blocks. */
HERD_API int herd_matmul(herd_ctx *ctx, int dtype, const void *w, int64_t out, int64_t in,
                         const float *x, float *y, int32_t n);

/* Bytes of the repacked (HERD_*_R16) form of a (out, in) matrix of `dtype`, or 0 when this context's kernels
 * have no repacked layout for it (only the AVX-512 kernels do, for Q4_0 and Q8_0). */
HERD_API int64_t herd_repacked_size(const herd_ctx *ctx, int dtype, int64_t out, int64_t in);

/* Memory for repacked weights: anonymous, 2 MiB-aligned and asking for transparent huge pages, which
 * spare a TLB miss per 4 KiB of streamed weights and let the prefetchers run across page bounds. NULL
 * when none can be had. Free with herd_free_weights and the same size. */
HERD_API void *herd_alloc_weights(int64_t bytes);
HERD_API void herd_free_weights(void *p, int64_t bytes);

/* Writes the repacked form of w (out, in) of `dtype` into dst (herd_repacked_size bytes, 64-byte aligned
 * for best speed), on the pool. Returns the R16 type to pass to herd_matmul, or HERD_EBADTYPE. */
HERD_API int herd_repack(herd_ctx *ctx, int dtype, const void *w, int64_t out, int64_t in, void *dst);

/* SwiGLU feed-forward in one call: y (n, hidden) = down · (silu(gate · x) ⊙ (up · x)) for x (n, hidden);
 * gate and up are (ffn, hidden), down (hidden, ffn), each of its own type (R16 types included). x is
 * quantized once for both gate and up, gate and up rows are computed by the same task and gated there,
 * and the (n, ffn) intermediate stays in the context's scratch. */
HERD_API int herd_ffn_swiglu(herd_ctx *ctx, int gate_type, const void *gate, int up_type, const void *up,
                             int down_type, const void *down, int64_t ffn, int64_t hidden, const float *x,
                             int32_t n, float *y);

/* MoE routing of n rows of logits (n, experts), in place: gating 0 = softmax over the row, then the top k
 * probabilities; 1 = top k raw logits, each weighted by its sigmoid. Ties go to the lower index; chosen
 * experts largest first into experts[t·k ..], their weights into weights[t·k ..], divided by their sum
 * when normalize. */
HERD_API void herd_route(herd_ctx *ctx, float *logits, int32_t n, int32_t n_experts, int32_t k, int32_t gating,
                         int32_t normalize, int32_t *experts, float *weights);

/* One row of `cols` elements at `row` (already offset to the row) as f32. */
HERD_API int herd_get_row(herd_ctx *ctx, int dtype, const void *row, int64_t cols, float *out);

/* out = x / sqrt(mean(x²) + eps) * w, per row; w may be NULL; out may equal x. */
HERD_API void herd_rmsnorm(herd_ctx *ctx, const float *x, const float *w, float eps, int32_t dim, int32_t n,
                           float *out);

/* style 0: NEOX (i pairs with i + half), 1: adjacent (2i pairs with 2i + 1). */
HERD_API void herd_rope(float *x, int32_t n, int32_t heads, int32_t head_dim, const int32_t *positions,
                        const float *inv_freq, int32_t half, int32_t style);

HERD_API void herd_softmax(herd_ctx *ctx, float *x, int64_t len);

/* gate[i] = silu(gate[i]) * up[i] */
HERD_API void herd_swiglu(herd_ctx *ctx, float *gate, const float *up, int64_t len);

/* Causal grouped-query attention over a paged cache; see dev.herd.kernels.Backend#attention. Position t's
 * key row (n_kv_heads · head_dim floats) starts at k_cache + blocks[t / block_tokens] · block_stride +
 * (t % block_tokens) · n_kv_heads · head_dim; value rows likewise in v_cache. The caller has checked that
 * every row the positions reach lies inside the cache. */
HERD_API int herd_attention(herd_ctx *ctx, int32_t n_heads, int32_t n_kv_heads, int32_t head_dim, float scale,
                            int32_t chunk, const float *q, const int32_t *positions, int32_t n,
                            const float *k_cache, const float *v_cache, const int32_t *blocks, int32_t block_tokens,
                            int64_t block_stride, float *out);

/* STREAM-style triad a = b + s·c over three f32 arrays of `elements` each, on all pool threads;
 * returns the best of `reps` in GB/s (3 · 4 · elements bytes per pass), or a negative value when
 * the arrays could not be allocated. */
HERD_API double herd_triad(herd_ctx *ctx, int64_t elements, int32_t reps);

#endif
