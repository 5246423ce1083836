/* Shared between the pool/dispatch code and the per-ISA kernel variants. Not part of the API. */
#ifndef HERD_INTERNAL_H
#define HERD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Activation rows quantized on the fly for the integer dot products. These are Herd's own layouts
 * (activations never leave the process), so they are shaped for the kernels: f32 scales, and
 * per-16 sums for the K-quants' offset terms. */
typedef struct {
    float d;        /* x ≈ d · q */
    int8_t q[32];
    int32_t m8s4[8]; /* -8 · (sum of q over each group of 4): Q4_0's "- 8" offset, in the lane order of
                        the 4-way integer dot products, so a block's dot starts from it */
} herd_q8a;         /* pairs with Q8_0 and Q4_0 weight blocks (32 elements) */

typedef struct {
    float d;
    int8_t q[256];
    int16_t bsums[16]; /* sum of q over each group of 16 */
} herd_q8k;         /* pairs with Q4_K and Q6_K super-blocks (256 elements) */

/* Activation blocks for the row-interleaved (R16) weight layouts: the quantized values, their scale and
 * the block's offset terms precomputed, so each block's integer dot starts from a broadcast. */
typedef struct {
    int8_t q[32];
    float d;
    int32_t off4;  /* -8 · Σq: Q4_0's "- 8" on every nibble */
    int32_t off8;  /* -128 · Σq: the +128 bias of Q8_0 bytes stored as unsigned */
    int32_t pad;
} herd_q8r;

/* R16 layouts: a group of 16 rows is its blocks in pairs, each pair 64 bytes of f16 scales (16 for the
 * first block, 16 for the second) followed by the two blocks' quants; a lone last block keeps the pair's
 * shape with its second half of scales unused. One sequential stream per group, every load aligned. */
#define R16_Q4_0_QBYTES 256
#define R16_Q8_0_QBYTES 512
#define R16_SCALE_BYTES 32

static inline int64_t r16_group_bytes(int64_t blocks, int64_t qbytes) {
    return (blocks + 1) / 2 * 2 * R16_SCALE_BYTES + blocks * qbytes;
}

/* Offset of block b's quants in its group; its 16 scales are at r16_scales_at. */
static inline int64_t r16_quants_at(int64_t b, int64_t qbytes) {
    return (b >> 1) * (2 * R16_SCALE_BYTES + 2 * qbytes) + 2 * R16_SCALE_BYTES + (b & 1) * qbytes;
}

static inline int64_t r16_scales_at(int64_t b, int64_t qbytes) {
    return (b >> 1) * (2 * R16_SCALE_BYTES + 2 * qbytes) + (b & 1) * R16_SCALE_BYTES;
}

/* A paged key/value cache: fixed-size blocks of block_tokens rows, found through a block table. Row t of
 * keys starts at k + herd_kv_row(kv, t), of values at v + herd_kv_row(kv, t); a row is `row` floats (all
 * kv heads). The kernels read rows through this and nothing else, so a contiguous cache is one block. */
typedef struct {
    const float *k, *v;
    const int32_t *blocks;
    int32_t block_tokens;
    int64_t block_stride; /* floats from one block to the next in k and v */
    int64_t row;          /* floats per row: n_kv_heads · head_dim */
} herd_kv;

static inline int64_t herd_kv_row(const herd_kv *kv, int64_t t) {
    return (int64_t)kv->blocks[t / kv->block_tokens] * kv->block_stride + (t % kv->block_tokens) * kv->row;
}

/* One build of the kernels for one instruction-set level. */
typedef struct herd_isa {
    int level;
    void (*init)(void); /* one-time setup, or NULL */
    void (*quant_q8a)(const float *x, herd_q8a *y, int64_t blocks);
    void (*quant_q8k)(const float *x, herd_q8k *y, int64_t blocks);
    /* y[r·ystride + o] for o in [o0, o1), r in [0, n): weight rows `w + o·row_bytes`; activation row r
     * at `xa + r·xa_stride` bytes (f32 for float weights, herd_q8a/herd_q8k blocks for quantized). */
    void (*matmul_rows)(int dtype, const uint8_t *w, int64_t row_bytes, const void *xa, int64_t xa_stride,
                        int32_t n, int64_t in, float *y, int64_t ystride, int64_t o0, int64_t o1);
    /* Row-interleaved layouts; NULL in builds without them. Row groups [g0, g1) of an R16 matrix of
     * `blocks` blocks per row against n activation rows of `blocks` herd_q8r each; y as for matmul_rows,
     * rows at or past `out` (the padding of the last group) not written. */
    void (*quant_q8r)(const float *x, herd_q8r *y, int64_t blocks);
    void (*matmul_r16)(int dtype, const uint8_t *w, int64_t blocks, const herd_q8r *xa, int32_t n, float *y,
                       int64_t ystride, int64_t out, int64_t g0, int64_t g1);
    void (*dequant_row)(int dtype, const uint8_t *w, int64_t cols, float *out);
    void (*rmsnorm_row)(const float *x, const float *w, float eps, int64_t dim, float *out);
    void (*softmax)(float *x, int64_t n);
    void (*swiglu)(float *g, const float *u, int64_t n);
    /* Attention of `nh` query heads sharing one kv head over keys [t0, t1]. q and out hold the heads
     * back to back (head_dim apart); the kv head's slice of each cache row starts `ko` floats into the
     * row; scores has room for nh · (t1 - t0 + 1) floats. */
    void (*attn_heads)(const float *q, int32_t nh, int32_t head_dim, const herd_kv *kv, int64_t ko, int64_t t0,
                       int64_t t1, float scale, float *scores, float *out);
    /* Unnormalised attention of all heads of one query row over keys [t0, t1]: per head the max score m,
     * Σ e^(s - m) in l and Σ e^(s - m)·v in acc (n_heads · head_dim); scores has room for
     * n_heads · (t1 - t0 + 1) floats. */
    void (*attn_partial)(const float *q, int32_t n_heads, int32_t group, int32_t head_dim, const herd_kv *kv,
                         int64_t t0, int64_t t1, float scale, float *scores, float *m, float *l, float *acc);
} herd_isa;

extern const herd_isa herd_isa_portable;
#if defined(__x86_64__)
extern const herd_isa herd_isa_avx2;
extern const herd_isa herd_isa_avx512;
#endif

/* IEEE half to float without F16C (the portable variant; the others convert in hardware). */
static inline float herd_f16_to_f32_soft(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t man = h & 0x3FF;
    uint32_t bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13); /* inf / nan */
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal: normalise */
        int e = -1;
        do {
            e++;
            man <<= 1;
        } while ((man & 0x400) == 0);
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3FF) << 13);
    }
    union { uint32_t u; float f; } v = { bits };
    return v.f;
}

#endif
