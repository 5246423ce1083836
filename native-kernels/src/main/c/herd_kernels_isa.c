/*
 * The compute kernels, compiled once per instruction-set level (HERD_LEVEL 1 portable, 2 AVX2,
 * 3 AVX-512) into a table named herd_isa_<variant>. Only the dispatcher in herd_kernels.c picks a
 * table, after checking the CPU, so code here may use whatever its level's flags allow.
 *
 * Quantized weights (Q8_0, Q4_0, Q4_K, Q6_K) are multiplied with activations quantized to 8 bits
 * (herd_q8a / herd_q8k blocks) by integer dot products, as llama.cpp does: the weights' bytes are
 * used as they are, and each block's integer sum is scaled once. Float weights (F32, F16, BF16) are
 * widened to f32 in registers and multiplied with f32 activations.
 */
#include <math.h>
#include <string.h>

#include "herd_internal.h"
#include "herd_kernels.h"

#if HERD_LEVEL >= 2
#include <immintrin.h>
#endif

#if HERD_LEVEL == 1
#define VARIANT herd_isa_portable
#elif HERD_LEVEL == 2
#define VARIANT herd_isa_avx2
#elif HERD_LEVEL == 3
#define VARIANT herd_isa_avx512
#else
#error "HERD_LEVEL must be 1, 2 or 3"
#endif

static inline uint16_t rd16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline float f16(uint16_t h) {
#if HERD_LEVEL >= 2
    return _cvtsh_ss(h);
#else
    return herd_f16_to_f32_soft(h);
#endif
}

static inline float bf16(uint16_t h) {
    union { uint32_t u; float f; } v = { (uint32_t)h << 16 };
    return v.f;
}

/* ------------------------------------------------------------------------------------------------
 * Horizontal sums and vector exp
 * --------------------------------------------------------------------------------------------- */
#if HERD_LEVEL >= 2
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* e^x to about 1 ulp: x = n·ln2 + r with |r| <= ln2/2, e^r by a degree-7 Taylor polynomial (its
 * truncation error, |r|^8/8! < 3e-9, is below f32 rounding), scaled by 2^n through the exponent.
 * Below -87.3 the result is 0 (e^x is subnormal there); NaN stays NaN. */
static inline __m256 exp8(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.3f);
    const __m256 lo = _mm256_set1_ps(-87.3f);
    __m256 xc = _mm256_min_ps(hi, x); /* min(a, b) returns b when either is NaN: NaN survives */
    __m256 under = _mm256_cmp_ps(xc, lo, _CMP_LT_OQ);
    xc = _mm256_max_ps(lo, xc);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-06f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 res = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(under, res);
}
#endif

/* ------------------------------------------------------------------------------------------------
 * Dot product of two f32 rows (attention scores)
 * --------------------------------------------------------------------------------------------- */
static float dot_f32(const float *w, const float *x, int64_t n) {
    int64_t i = 0;
#if HERD_LEVEL >= 3
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), _mm512_loadu_ps(x + i + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 32), _mm512_loadu_ps(x + i + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 48), _mm512_loadu_ps(x + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + i), _mm512_maskz_loadu_ps(m, x + i), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
#elif HERD_LEVEL == 2
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    }
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) {
        s += w[i] * x[i];
    }
    return s;
#else
    float acc[8] = {0};
    for (; i + 8 <= n; i += 8) {
        for (int k = 0; k < 8; k++) {
            acc[k] += w[i + k] * x[i + k];
        }
    }
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++) {
        s += w[i] * x[i];
    }
    return s;
#endif
}

#if HERD_LEVEL == 1
/* Software f16 is slow; the portable build converts through a table filled once (256 KiB). */
static float f16_table[65536];

/* Called once per process (pthread_once in the dispatcher) before the table is used. */
static void fill_f16_table(void) {
    for (uint32_t i = 0; i < 65536; i++) {
        f16_table[i] = herd_f16_to_f32_soft((uint16_t)i);
    }
}
#endif

/* ------------------------------------------------------------------------------------------------
 * Float weights (F32, F16, BF16) times f32 activation rows, in tiles of W weight rows × R activation
 * rows: each weight vector is loaded (and widened to f32) once and multiplied with all R rows' vectors
 * held in registers, so a batch of rows costs about one weight load per R FMAs instead of two loads
 * per FMA, and the weights are streamed from memory once per batch.
 *
 * Batching invariance: every (weight row, activation row) pair has its own vector accumulator, fed the
 * same FMAs in the same order along the row (whole vectors, then one zero-padded tail vector) and
 * reduced by the same horizontal sum, whatever the tile's shape and wherever the pair sits in it. A
 * row's product is therefore bit for bit the same alone (decode) as in a batch of any size, and the
 * split of output rows over threads changes nothing either. A lone activation row takes tiles of
 * several weight rows, for independent FMA chains and concurrent memory streams.
 * --------------------------------------------------------------------------------------------- */
#define TILE_INLINE static inline __attribute__((always_inline))

#if HERD_LEVEL >= 2
#if HERD_LEVEL >= 3
/* 4 × 6 tiles: 24 accumulators, 4 weight vectors and an activation vector of the 32 zmm registers */
#define TILE_W 4
#define TILE_R 6
/* Weight rows per tile for a lone activation row (decode, memory-bound): 8 rows streamed at once keep more
 * loads in flight than 4 or 16 (measured on Zen 4, both levels) */
#define TILE_W1 8
#define FV 16     /* floats per vector */
typedef __m512 fvec;

TILE_INLINE fvec fv_zero(void) { return _mm512_setzero_ps(); }
TILE_INLINE fvec fv_fma(fvec a, fvec b, fvec c) { return _mm512_fmadd_ps(a, b, c); }
TILE_INLINE float fv_sum(fvec a) { return _mm512_reduce_add_ps(a); }
TILE_INLINE fvec fx_load(const float *x) { return _mm512_loadu_ps(x); }
TILE_INLINE fvec fx_tail(const float *x, int64_t t) { return _mm512_maskz_loadu_ps((__mmask16)((1u << t) - 1), x); }

TILE_INLINE fvec bf16_widen(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* FV weights from element i of a row, as f32 */
TILE_INLINE fvec fw_load(int dtype, const uint8_t *row, int64_t i) {
    switch (dtype) {
    case HERD_F32: return _mm512_loadu_ps((const float *)row + i);
    case HERD_F16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + i)));
    default: return bf16_widen(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + i)));
    }
}

/* the last t < FV weights from element i, zeros after */
TILE_INLINE fvec fw_tail(int dtype, const uint8_t *row, int64_t i, int64_t t) {
    __mmask16 m = (__mmask16)((1u << t) - 1);
    switch (dtype) {
    case HERD_F32: return _mm512_maskz_loadu_ps(m, (const float *)row + i);
    case HERD_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + i));
    default: return bf16_widen(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + i));
    }
}
#else
/* 3 × 4 tiles: 12 accumulators, 3 weight vectors and an activation vector: all 16 ymm registers */
#define TILE_W 3
#define TILE_R 4
#define TILE_W1 8
#define FV 8
typedef __m256 fvec;

TILE_INLINE fvec fv_zero(void) { return _mm256_setzero_ps(); }
TILE_INLINE fvec fv_fma(fvec a, fvec b, fvec c) { return _mm256_fmadd_ps(a, b, c); }
TILE_INLINE float fv_sum(fvec a) { return hsum8(a); }
TILE_INLINE fvec fx_load(const float *x) { return _mm256_loadu_ps(x); }

TILE_INLINE __m256i tail_mask8(int64_t t) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)t), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

TILE_INLINE fvec fx_tail(const float *x, int64_t t) { return _mm256_maskload_ps(x, tail_mask8(t)); }

TILE_INLINE fvec fw_load(int dtype, const uint8_t *row, int64_t i) {
    const __m128i *h = (const __m128i *)((const uint16_t *)row + i);
    switch (dtype) {
    case HERD_F32: return _mm256_loadu_ps((const float *)row + i);
    case HERD_F16: return _mm256_cvtph_ps(_mm_loadu_si128(h));
    default: return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(h)), 16));
    }
}

TILE_INLINE fvec fw_tail(int dtype, const uint8_t *row, int64_t i, int64_t t) {
    if (dtype == HERD_F32) {
        return _mm256_maskload_ps((const float *)row + i, tail_mask8(t));
    }
    uint16_t h[8] = {0}; /* no masked 16-bit loads in AVX2 */
    memcpy(h, (const uint16_t *)row + i, (size_t)t * 2);
    return fw_load(dtype, (const uint8_t *)h, 0);
}
#endif

/* y[r·ystride + a] = weight row a · activation row r for a < W, r < R (constants at every call) */
TILE_INLINE void float_tile(int dtype, int W, int R, const uint8_t *w, int64_t row_bytes, const uint8_t *xb,
                            int64_t xa_stride, int64_t in, float *y, int64_t ystride) {
    fvec acc[TILE_W1 > TILE_W ? TILE_W1 : TILE_W][TILE_R];
    const float *x[TILE_R];
    for (int r = 0; r < R; r++) {
        x[r] = (const float *)(xb + r * xa_stride);
        for (int a = 0; a < W; a++) {
            acc[a][r] = fv_zero();
        }
    }
    int64_t i = 0;
    for (; i + FV <= in; i += FV) {
        fvec wv[TILE_W1 > TILE_W ? TILE_W1 : TILE_W];
        for (int a = 0; a < W; a++) {
            wv[a] = fw_load(dtype, w + a * row_bytes, i);
        }
        for (int r = 0; r < R; r++) {
            fvec xv = fx_load(x[r] + i);
            for (int a = 0; a < W; a++) {
                acc[a][r] = fv_fma(wv[a], xv, acc[a][r]);
            }
        }
    }
    if (i < in) {
        fvec wv[TILE_W1 > TILE_W ? TILE_W1 : TILE_W];
        for (int a = 0; a < W; a++) {
            wv[a] = fw_tail(dtype, w + a * row_bytes, i, in - i);
        }
        for (int r = 0; r < R; r++) {
            fvec xv = fx_tail(x[r] + i, in - i);
            for (int a = 0; a < W; a++) {
                acc[a][r] = fv_fma(wv[a], xv, acc[a][r]);
            }
        }
    }
    for (int r = 0; r < R; r++) {
        for (int a = 0; a < W; a++) {
            y[r * ystride + a] = fv_sum(acc[a][r]);
        }
    }
}
#else
/* Portable: one weight row × up to 4 activation rows, 8 partial sums per pair (which compilers keep in
 * vector registers), summed pairwise, then the scalar tail. */
#define TILE_W 1
#define TILE_R 4
#define TILE_W1 1

TILE_INLINE float fw_elem(int dtype, const uint8_t *row, int64_t i) {
    switch (dtype) {
    case HERD_F32: return ((const float *)row)[i];
    case HERD_F16: return f16_table[((const uint16_t *)row)[i]];
    default: return bf16(((const uint16_t *)row)[i]);
    }
}

TILE_INLINE void float_tile(int dtype, int W, int R, const uint8_t *w, int64_t row_bytes, const uint8_t *xb,
                            int64_t xa_stride, int64_t in, float *y, int64_t ystride) {
    (void)W;
    (void)row_bytes;
    float acc[TILE_R][8];
    const float *x[TILE_R];
    for (int r = 0; r < R; r++) {
        x[r] = (const float *)(xb + r * xa_stride);
        for (int k = 0; k < 8; k++) {
            acc[r][k] = 0;
        }
    }
    int64_t i = 0;
    for (; i + 8 <= in; i += 8) {
        float wv[8];
        for (int k = 0; k < 8; k++) {
            wv[k] = fw_elem(dtype, w, i + k);
        }
        for (int r = 0; r < R; r++) {
            for (int k = 0; k < 8; k++) {
                acc[r][k] += wv[k] * x[r][i + k];
            }
        }
    }
    for (int r = 0; r < R; r++) {
        const float *a = acc[r];
        float s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
        for (int64_t j = i; j < in; j++) {
            s += fw_elem(dtype, w, j) * x[r][j];
        }
        y[r * ystride] = s;
    }
}
#endif

/* float_tile with W and R turned into constants: the tile shapes the row loop below asks for */
#define TILE_ARGS w, row_bytes, xb, xa_stride, in, y, ystride
#if TILE_R == 8
#define TILE_RS(dtype, W)                                                                                     \
    switch (R) {                                                                                              \
    case 8: float_tile(dtype, W, 8, TILE_ARGS); break;                                                        \
    case 7: float_tile(dtype, W, 7, TILE_ARGS); break;                                                        \
    case 6: float_tile(dtype, W, 6, TILE_ARGS); break;                                                        \
    case 5: float_tile(dtype, W, 5, TILE_ARGS); break;                                                        \
    case 4: float_tile(dtype, W, 4, TILE_ARGS); break;                                                        \
    case 3: float_tile(dtype, W, 3, TILE_ARGS); break;                                                        \
    case 2: float_tile(dtype, W, 2, TILE_ARGS); break;                                                        \
    default: float_tile(dtype, W, 1, TILE_ARGS); break;                                                       \
    }
#elif TILE_R == 6
#define TILE_RS(dtype, W)                                                                                     \
    switch (R) {                                                                                              \
    case 6: float_tile(dtype, W, 6, TILE_ARGS); break;                                                        \
    case 5: float_tile(dtype, W, 5, TILE_ARGS); break;                                                        \
    case 4: float_tile(dtype, W, 4, TILE_ARGS); break;                                                        \
    case 3: float_tile(dtype, W, 3, TILE_ARGS); break;                                                        \
    case 2: float_tile(dtype, W, 2, TILE_ARGS); break;                                                        \
    default: float_tile(dtype, W, 1, TILE_ARGS); break;                                                       \
    }
#elif TILE_R == 4
#define TILE_RS(dtype, W)                                                                                     \
    switch (R) {                                                                                              \
    case 4: float_tile(dtype, W, 4, TILE_ARGS); break;                                                        \
    case 3: float_tile(dtype, W, 3, TILE_ARGS); break;                                                        \
    case 2: float_tile(dtype, W, 2, TILE_ARGS); break;                                                        \
    default: float_tile(dtype, W, 1, TILE_ARGS); break;                                                       \
    }
#else
#error "TILE_R must be 4, 6 or 8"
#endif

#define FLOAT_TILES(name, dtype)                                                                              \
    static void name(int W, int R, const uint8_t *w, int64_t row_bytes, const uint8_t *xb, int64_t xa_stride, \
                     int64_t in, float *y, int64_t ystride) {                                                 \
        if (W == TILE_W) {                                                                                    \
            TILE_RS(dtype, TILE_W)                                                                            \
        } else if (W == TILE_W1) { /* R is 1 */                                                               \
            float_tile(dtype, TILE_W1, 1, TILE_ARGS);                                                         \
        } else {                                                                                              \
            TILE_RS(dtype, 1)                                                                                 \
        }                                                                                                     \
    }
FLOAT_TILES(f32_tiles, HERD_F32)
FLOAT_TILES(f16_tiles, HERD_F16)
FLOAT_TILES(bf16_tiles, HERD_BF16)
#undef FLOAT_TILES
#undef TILE_RS
#undef TILE_ARGS

/* Output rows [o0, o1) of a float-weight product: tiles of TILE_W rows (TILE_W1 for one activation row),
 * then single rows; each weight tile against all activation rows while it is in cache, in as few tiles as
 * TILE_R allows and those of even sizes (8 rows as 4 + 4, not 6 + 2: a 2-row tile loads more per FMA). */
static void float_rows(int dtype, const uint8_t *w, int64_t row_bytes, const uint8_t *xb, int64_t xa_stride,
                       int32_t n, int64_t in, float *y, int64_t ystride, int64_t o0, int64_t o1) {
    void (*tiles)(int, int, const uint8_t *, int64_t, const uint8_t *, int64_t, int64_t, float *, int64_t) =
        dtype == HERD_F32 ? f32_tiles : dtype == HERD_F16 ? f16_tiles : bf16_tiles;
    int tw = n == 1 ? TILE_W1 : TILE_W;
    int32_t row_tiles = (n + TILE_R - 1) / TILE_R;
    for (int64_t o = o0; o < o1;) {
        int W = o1 - o >= tw ? tw : 1;
        int32_t r = 0;
        for (int32_t left = row_tiles; left > 0; left--) {
            int R = (n - r + left - 1) / left;
            tiles(W, R, w + o * row_bytes, row_bytes, xb + r * xa_stride, xa_stride, in, y + r * ystride + o, ystride);
            r += R;
        }
        o += W;
    }
}

/* ------------------------------------------------------------------------------------------------
 * Activation quantization: d = max|x| / 127, q = round(x / d), so q stays in [-127, 127] and its
 * negation never overflows (the sign trick below relies on that).
 * --------------------------------------------------------------------------------------------- */
#if HERD_LEVEL >= 2
/* 32 floats to 32 int8 (x · inv, rounded to nearest even), in order. */
static inline __m256i quant32(const float *x, __m256 inv) {
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), inv));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), inv));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), inv));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), inv));
    /* packs work within 128-bit lanes; the permute puts the 4-byte groups back in order */
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static inline float absmax(const float *x, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) {
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
    }
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#else
static inline float absmax(const float *x, int64_t n) {
    float m = 0;
    for (int64_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        m = a > m ? a : m;
    }
    return m;
}
#endif

static void quant_q8a(const float *x, herd_q8a *y, int64_t blocks) {
    for (int64_t b = 0; b < blocks; b++, x += 32) {
        float amax = absmax(x, 32);
        float d = amax / 127.0f;
        float inv = amax > 0 ? 127.0f / amax : 0.0f;
        y[b].d = d;
#if HERD_LEVEL >= 2
        __m256i q = quant32(x, _mm256_set1_ps(inv));
        _mm256_storeu_si256((__m256i *)y[b].q, q);
        __m256i s4 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(8), q), _mm256_set1_epi16(1));
        _mm256_storeu_si256((__m256i *)y[b].m8s4, _mm256_sub_epi32(_mm256_setzero_si256(), s4));
#else
        for (int j = 0; j < 32; j++) {
            y[b].q[j] = (int8_t)lrintf(x[j] * inv);
        }
        for (int k = 0; k < 8; k++) {
            y[b].m8s4[k] = -8 * (y[b].q[4 * k] + y[b].q[4 * k + 1] + y[b].q[4 * k + 2] + y[b].q[4 * k + 3]);
        }
#endif
    }
}

static void quant_q8k(const float *x, herd_q8k *y, int64_t blocks) {
    for (int64_t b = 0; b < blocks; b++, x += 256) {
        float amax = absmax(x, 256);
        float inv = amax > 0 ? 127.0f / amax : 0.0f;
        y[b].d = amax / 127.0f;
#if HERD_LEVEL >= 2
        __m256 vinv = _mm256_set1_ps(inv);
        for (int j = 0; j < 256; j += 32) {
            __m256i q = quant32(x + j, vinv);
            _mm256_storeu_si256((__m256i *)(y[b].q + j), q);
            /* two sums of 16: widen to int16, then add adjacent pairs down to one value per half */
            __m256i s16 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(q)), _mm256_set1_epi16(1));
            __m256i t16 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1)), _mm256_set1_epi16(1));
            int32_t a[8], c[8];
            _mm256_storeu_si256((__m256i *)a, s16);
            _mm256_storeu_si256((__m256i *)c, t16);
            y[b].bsums[j / 16] = (int16_t)(a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7]);
            y[b].bsums[j / 16 + 1] = (int16_t)(c[0] + c[1] + c[2] + c[3] + c[4] + c[5] + c[6] + c[7]);
        }
#else
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int j = 0; j < 16; j++) {
                int q = (int)lrintf(x[g * 16 + j] * inv);
                y[b].q[g * 16 + j] = (int8_t)q;
                s += q;
            }
            y[b].bsums[g] = (int16_t)s;
        }
#endif
    }
}

/* ------------------------------------------------------------------------------------------------
 * Quantized weights · quantized activations
 * --------------------------------------------------------------------------------------------- */
#if HERD_LEVEL >= 2
/* Sum over groups of 4 of u8 · s8 into 8 int32 lanes. */
static inline __m256i dot_u8s8(__m256i u, __m256i s) {
#if HERD_LEVEL >= 3
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

/* start + (sum over groups of 4 of u8 · s8), in 8 int32 lanes */
static inline __m256i dot_u8s8_from(__m256i start, __m256i u, __m256i s) {
#if HERD_LEVEL >= 3
    return _mm256_dpbusd_epi32(start, u, s);
#else
    return _mm256_add_epi32(start, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

/* Signed · signed through the unsigned·signed instructions: |w| · (x with w's sign). */
static inline __m256i dot_s8s8(__m256i w, __m256i x) {
    return dot_u8s8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
}

/* acc += madd(scales, p16): int16 pairs times int16 scales summed into int32 lanes. */
static inline __m256i madd_acc(__m256i acc, __m256i scales, __m256i p16) {
#if HERD_LEVEL >= 3
    return _mm256_dpwssd_epi32(acc, scales, p16);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(scales, p16));
#endif
}
#endif

#if HERD_LEVEL >= 2
/* ------------------------------------------------------------------------------------------------
 * Q8_0 and Q4_0 rows: one order of float work per (weight row, activation row) pair
 *
 * Batching invariance: a pair's product must be bit for bit the same whether its activation row is
 * multiplied alone (decode) or with others (prefill, batched decode), wherever it sits in a tile. So
 * the lone row and the batched kernels share these functions and one order of float operations: even
 * blocks multiply-added in order into one accumulator, odd blocks into another, then the two added and
 * summed across lanes. One float operation per block: the products are bound by the integer and float
 * work per block, and an extra operation per block cost the batched kernels 8-10%.
 * --------------------------------------------------------------------------------------------- */

#define ROWS_MAX 4 /* activation rows per pass over a weight row in the batched kernels */

/* One Q8_0 block's 8 int32 partial dot products with the activation block. */
static inline __m256i q8_0_block(const uint8_t *blk, const herd_q8a *a) {
    return dot_s8s8(_mm256_loadu_si256((const __m256i *)(blk + 2)), _mm256_loadu_si256((const __m256i *)a->q));
}

/* One Q4_0 block's, the -8 offset included (the activation's -8·Σq per group of 4). */
static inline __m256i q4_0_block(const uint8_t *blk, const herd_q8a *a) {
    /* byte j holds element j in its low nibble and j + 16 in its high one: the 16 bytes go to both
     * halves of a register and the upper half is shifted down by 4 */
    __m256i raw = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(blk + 2)));
    __m256i q = _mm256_and_si256(_mm256_srlv_epi64(raw, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0F));
    return dot_u8s8_from(_mm256_loadu_si256((const __m256i *)a->m8s4), q, _mm256_loadu_si256((const __m256i *)a->q));
}

/* the block's scale times the activation block's */
static inline __m256 q_scale(const uint8_t *blk, const herd_q8a *a) {
    return _mm256_set1_ps(f16(rd16(blk)) * a->d);
}

/* One Q8_0/Q4_0 weight row against R activation rows x[r] (R a constant at every call; bb bytes per
 * weight block). The weight bytes are the same for every r, so the compiler loads and unpacks them once
 * per block. Two accumulators per pair, one for the even blocks and one for the odd ones, one
 * multiply-add per block: a lone row has two independent chains (enough to keep up with memory) and
 * four rows' eight accumulators still leave AVX2 registers for the weights and the constants. */
#define Q_ROWS(block, bb)                                                                                     \
    __m256 acc0[ROWS_MAX], acc1[ROWS_MAX];                                                                    \
    for (int r = 0; r < R; r++) {                                                                             \
        acc0[r] = _mm256_setzero_ps();                                                                        \
        acc1[r] = _mm256_setzero_ps();                                                                        \
    }                                                                                                         \
    int64_t b = 0;                                                                                            \
    for (; b + 2 <= blocks; b += 2, w += 2 * (bb)) {                                                          \
        for (int r = 0; r < R; r++) {                                                                         \
            acc0[r] = _mm256_fmadd_ps(q_scale(w, x[r] + b), _mm256_cvtepi32_ps(block(w, x[r] + b)), acc0[r]); \
        }                                                                                                     \
        for (int r = 0; r < R; r++) {                                                                         \
            acc1[r] = _mm256_fmadd_ps(q_scale(w + (bb), x[r] + b + 1),                                        \
                                      _mm256_cvtepi32_ps(block(w + (bb), x[r] + b + 1)), acc1[r]);            \
        }                                                                                                     \
    }                                                                                                         \
    if (b < blocks) {                                                                                         \
        for (int r = 0; r < R; r++) {                                                                         \
            acc0[r] = _mm256_fmadd_ps(q_scale(w, x[r] + b), _mm256_cvtepi32_ps(block(w, x[r] + b)), acc0[r]); \
        }                                                                                                     \
    }                                                                                                         \
    for (int r = 0; r < R; r++) {                                                                             \
        out[r] = hsum8(_mm256_add_ps(acc0[r], acc1[r]));                                                      \
    }

static inline __attribute__((always_inline)) void q8_0_rows(const uint8_t *w, const herd_q8a *const *x, int R,
                                                            int64_t blocks, float *out) {
    Q_ROWS(q8_0_block, 34)
}

static inline __attribute__((always_inline)) void q4_0_rows(const uint8_t *w, const herd_q8a *const *x, int R,
                                                            int64_t blocks, float *out) {
    Q_ROWS(q4_0_block, 18)
}
#undef Q_ROWS
#endif

static float dot_q8_0(const uint8_t *w, const herd_q8a *x, int64_t blocks) {
#if HERD_LEVEL >= 2
    float v;
    q8_0_rows(w, &x, 1, blocks, &v);
    return v;
#else
    float s = 0;
    for (int64_t b = 0; b < blocks; b++, w += 34) {
        const int8_t *q = (const int8_t *)(w + 2);
        int32_t sum = 0;
        for (int j = 0; j < 32; j++) {
            sum += q[j] * x[b].q[j];
        }
        s += f16(rd16(w)) * x[b].d * (float)sum;
    }
    return s;
#endif
}

/* Q4_0: x = d·(nibble - 8). The nibbles are used as unsigned bytes, and each block's dot starts from
 * the activation's precomputed -8·Σq, which takes care of the offset in the same instruction(s). */
static float dot_q4_0(const uint8_t *w, const herd_q8a *x, int64_t blocks) {
#if HERD_LEVEL >= 2
    float v;
    q4_0_rows(w, &x, 1, blocks, &v);
    return v;
#else
    float s = 0;
    for (int64_t b = 0; b < blocks; b++, w += 18) {
        const uint8_t *q = w + 2;
        int32_t sum = 0;
        for (int j = 0; j < 16; j++) {
            sum += (q[j] & 0xF) * x[b].q[j] + (q[j] >> 4) * x[b].q[j + 16];
        }
        for (int k = 0; k < 8; k++) {
            sum += x[b].m8s4[k];
        }
        s += f16(rd16(w)) * x[b].d * (float)sum;
    }
    return s;
#endif
}

/* Q4_K's 12 packed bytes to 8 six-bit scales (sc) and 8 six-bit mins (m). Bytes 0-3 and 4-7 hold
 * scales and mins 0-3 in their low 6 bits and the top 2 bits of scales/mins 4-7 in their high 2 bits;
 * bytes 8-11 hold the low 4 bits of scales 4-7 (low nibble) and mins 4-7 (high nibble). */
static inline void q4k_scales(const uint8_t *p, uint8_t sc[8], uint8_t m[8]) {
    uint32_t a, b, c;
    memcpy(&a, p, 4);
    memcpy(&b, p + 4, 4);
    memcpy(&c, p + 8, 4);
    uint32_t s0 = a & 0x3F3F3F3Fu;
    uint32_t m0 = b & 0x3F3F3F3Fu;
    uint32_t s1 = (c & 0x0F0F0F0Fu) | (((a >> 6) & 0x03030303u) << 4);
    uint32_t m1 = ((c >> 4) & 0x0F0F0F0Fu) | (((b >> 6) & 0x03030303u) << 4);
    memcpy(sc, &s0, 4);
    memcpy(sc + 4, &s1, 4);
    memcpy(m, &m0, 4);
    memcpy(m + 4, &m1, 4);
}

/* x = d·sc·q - dmin·m over sub-blocks of 32:
 * Σ x·a = d·da·Σ_j sc_j·(Σ q·qa) - dmin·da·Σ_j m_j·(Σ qa), the last sums from the activation's bsums. */
static float dot_q4_k(const uint8_t *w, const herd_q8k *x, int64_t blocks) {
#if HERD_LEVEL >= 2
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t b = 0; b < blocks; b++, w += 144) {
        uint8_t sc8[8], m8[8];
        q4k_scales(w + 4, sc8, m8);
        float d = f16(rd16(w)) * x[b].d;
        float dmin = f16(rd16(w + 2)) * x[b].d;
        /* mins: 8 int16 mins · 8 pair-summed bsums */
        __m128i bs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)x[b].bsums),
                                    _mm_loadu_si128((const __m128i *)(x[b].bsums + 8)));
        __m128i mins = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)m8));
        accm = _mm_fmadd_ps(_mm_set1_ps(-dmin), _mm_cvtepi32_ps(_mm_madd_epi16(mins, bs)), accm);
        /* the 8 scales as int16 in both halves; a byte shuffle then spreads scale k over a register */
        __m128i s128 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc8));
        __m256i sc = _mm256_broadcastsi128_si256(s128);
        const uint8_t *q4 = w + 16;
        const int8_t *q8 = x[b].q;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            __m256i bits = _mm256_loadu_si256((const __m256i *)(q4 + 32 * j));
            __m256i lo = _mm256_and_si256(bits, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            __m256i pl = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(q8 + 64 * j)));
            __m256i ph = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 64 * j + 32)));
            sumi = madd_acc(sumi, _mm256_shuffle_epi8(sc, _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * j)))), pl);
            sumi = madd_acc(sumi, _mm256_shuffle_epi8(sc, _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * j + 1)))), ph);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    accm = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
    accm = _mm_add_ss(accm, _mm_movehdup_ps(accm));
    return hsum8(acc) + _mm_cvtss_f32(accm);
#else
    float s = 0;
    for (int64_t b = 0; b < blocks; b++, w += 144) {
        uint8_t sc[8], m[8];
        q4k_scales(w + 4, sc, m);
        const uint8_t *q4 = w + 16;
        const int8_t *q8 = x[b].q;
        int32_t sumi = 0, summ = 0;
        for (int j = 0; j < 4; j++) {
            int32_t lo = 0, hi = 0;
            for (int l = 0; l < 32; l++) {
                lo += (q4[32 * j + l] & 0xF) * q8[64 * j + l];
                hi += (q4[32 * j + l] >> 4) * q8[64 * j + 32 + l];
            }
            sumi += sc[2 * j] * lo + sc[2 * j + 1] * hi;
        }
        for (int j = 0; j < 8; j++) {
            summ += m[j] * (x[b].bsums[2 * j] + x[b].bsums[2 * j + 1]);
        }
        s += f16(rd16(w)) * x[b].d * (float)sumi - f16(rd16(w + 2)) * x[b].d * (float)summ;
    }
    return s;
#endif
}

/* Q6_K: q = 6-bit (0..63) from a low nibble in ql and 2 high bits in qh, x = d·sc·(q - 32), 16 scales
 * of 16 elements. Σ x·a = d·da·(Σ_g sc_g·Σ q·qa - 32·Σ_g sc_g·bsum_g). Within each half of 128:
 * elements [0,32) take ql[0..32) low nibbles and qh bits 0-1, [32,64) ql[32..64) low and bits 2-3,
 * [64,96) ql[0..32) high nibbles and bits 4-5, [96,128) ql[32..64) high and bits 6-7. */
#if HERD_LEVEL >= 2
/* int16 scales g (low 128 bits) and g + 1 (high 128 bits) from the 16 int8 scales */
static inline __m256i q6k_scale_pair(__m128i sc, int g) {
    const long long ones = 0x0101010101010101LL;
    return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc, _mm_set_epi64x(ones * (g + 1), ones * g)));
}
#endif

static float dot_q6_k(const uint8_t *w, const herd_q8k *x, int64_t blocks) {
#if HERD_LEVEL >= 2
    const __m256i m15 = _mm256_set1_epi8(15);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < blocks; b++, w += 210) {
        const uint8_t *ql = w;
        const uint8_t *qh = w + 128;
        const int8_t *scales = (const int8_t *)(w + 192);
        const int8_t *q8 = x[b].q;
        float d = f16(rd16(w + 208)) * x[b].d;
        __m128i sc = _mm_loadu_si128((const __m128i *)scales);
        __m256i sc16 = _mm256_cvtepi8_epi16(sc);
        __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)x[b].bsums), sc16), 5);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(ql + 64 * h));
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 64 * h + 32));
            __m256i hb = _mm256_loadu_si256((const __m256i *)(qh + 32 * h));
            __m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, m15), _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(3)), 4));
            __m256i q1 = _mm256_or_si256(_mm256_and_si256(l1, m15), _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(12)), 2));
            __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m15), _mm256_and_si256(hb, _mm256_set1_epi8(48)));
            __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m15),
                                         _mm256_srli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8((char)0xC0)), 2));
            const int8_t *a = q8 + 128 * h;
            __m256i p0 = _mm256_maddubs_epi16(q0, _mm256_loadu_si256((const __m256i *)a));
            __m256i p1 = _mm256_maddubs_epi16(q1, _mm256_loadu_si256((const __m256i *)(a + 32)));
            __m256i p2 = _mm256_maddubs_epi16(q2, _mm256_loadu_si256((const __m256i *)(a + 64)));
            __m256i p3 = _mm256_maddubs_epi16(q3, _mm256_loadu_si256((const __m256i *)(a + 96)));
            /* each 32-element vector spans two groups of 16: low 128 bits take scale g, high g + 1 */
            sumi = madd_acc(sumi, q6k_scale_pair(sc, 8 * h), p0);
            sumi = madd_acc(sumi, q6k_scale_pair(sc, 8 * h + 2), p1);
            sumi = madd_acc(sumi, q6k_scale_pair(sc, 8 * h + 4), p2);
            sumi = madd_acc(sumi, q6k_scale_pair(sc, 8 * h + 6), p3);
        }
        sumi = _mm256_sub_epi32(sumi, offset);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc);
#else
    float s = 0;
    for (int64_t b = 0; b < blocks; b++, w += 210) {
        const uint8_t *ql = w;
        const uint8_t *qh = w + 128;
        const int8_t *sc = (const int8_t *)(w + 192);
        const int8_t *q8 = x[b].q;
        int32_t g[16] = {0};
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 32; l++) {
                int hb = qh[32 * h + l];
                int q0 = (ql[64 * h + l] & 0xF) | ((hb & 3) << 4);
                int q1 = (ql[64 * h + l + 32] & 0xF) | (((hb >> 2) & 3) << 4);
                int q2 = (ql[64 * h + l] >> 4) | (((hb >> 4) & 3) << 4);
                int q3 = (ql[64 * h + l + 32] >> 4) | (((hb >> 6) & 3) << 4);
                int e = 128 * h + l;
                g[e / 16] += q0 * q8[e];
                g[(e + 32) / 16] += q1 * q8[e + 32];
                g[(e + 64) / 16] += q2 * q8[e + 64];
                g[(e + 96) / 16] += q3 * q8[e + 96];
            }
        }
        int32_t sumi = 0;
        for (int j = 0; j < 16; j++) {
            sumi += sc[j] * (g[j] - 32 * x[b].bsums[j]);
        }
        s += f16(rd16(w + 208)) * x[b].d * (float)sumi;
    }
    return s;
#endif
}

#if HERD_LEVEL >= 2
/* ------------------------------------------------------------------------------------------------
 * Several activation rows at once (prefill): each weight block is unpacked once and multiplied with
 * up to 4 rows' blocks, so the unpacking and scale work is shared. R is a constant at every call.
 * Each row's float work is that of the lone-row kernels above, in the same order (Q8_0/Q4_0 through the
 * shared functions; Q4_K/Q6_K: one accumulator, one multiply-add per block, integer sums exact in any
 * order), so a row's product does not depend on the batch it is in.
 * --------------------------------------------------------------------------------------------- */
#define INLINE static inline __attribute__((always_inline))

INLINE void dot_q8_0_rows(const uint8_t *w, const herd_q8a *const *x, int R, int64_t blocks, float *out) {
    q8_0_rows(w, x, R, blocks, out);
}

INLINE void dot_q4_0_rows(const uint8_t *w, const herd_q8a *const *x, int R, int64_t blocks, float *out) {
    q4_0_rows(w, x, R, blocks, out);
}

INLINE void dot_q4_k_rows(const uint8_t *w, const herd_q8k *const *x, int R, int64_t blocks, float *out) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc[ROWS_MAX];
    __m128 accm[ROWS_MAX];
    for (int r = 0; r < R; r++) {
        acc[r] = _mm256_setzero_ps();
        accm[r] = _mm_setzero_ps();
    }
    for (int64_t b = 0; b < blocks; b++, w += 144) {
        uint8_t sc8[8], m8[8];
        q4k_scales(w + 4, sc8, m8);
        float d = f16(rd16(w)), dmin = f16(rd16(w + 2));
        __m128i mins = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)m8));
        __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc8)));
        __m256i sumi[ROWS_MAX];
        for (int r = 0; r < R; r++) {
            __m128i bs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)x[r][b].bsums),
                                        _mm_loadu_si128((const __m128i *)(x[r][b].bsums + 8)));
            accm[r] = _mm_fmadd_ps(_mm_set1_ps(-dmin * x[r][b].d), _mm_cvtepi32_ps(_mm_madd_epi16(mins, bs)), accm[r]);
            sumi[r] = _mm256_setzero_si256();
        }
        for (int j = 0; j < 4; j++) {
            __m256i bits = _mm256_loadu_si256((const __m256i *)(w + 16 + 32 * j));
            __m256i lo = _mm256_and_si256(bits, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            __m256i sl = _mm256_shuffle_epi8(sc, _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * j))));
            __m256i sh = _mm256_shuffle_epi8(sc, _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * j + 1))));
            for (int r = 0; r < R; r++) {
                const int8_t *q8 = x[r][b].q + 64 * j;
                sumi[r] = madd_acc(sumi[r], sl, _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)q8)));
                sumi[r] = madd_acc(sumi[r], sh, _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 32))));
            }
        }
        for (int r = 0; r < R; r++) {
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d * x[r][b].d), _mm256_cvtepi32_ps(sumi[r]), acc[r]);
        }
    }
    for (int r = 0; r < R; r++) {
        __m128 m = _mm_add_ps(accm[r], _mm_movehl_ps(accm[r], accm[r]));
        m = _mm_add_ss(m, _mm_movehdup_ps(m));
        out[r] = hsum8(acc[r]) + _mm_cvtss_f32(m);
    }
}

INLINE void dot_q6_k_rows(const uint8_t *w, const herd_q8k *const *x, int R, int64_t blocks, float *out) {
    const __m256i m15 = _mm256_set1_epi8(15);
    __m256 acc[ROWS_MAX];
    for (int r = 0; r < R; r++) {
        acc[r] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < blocks; b++, w += 210) {
        const uint8_t *ql = w, *qh = w + 128;
        float d = f16(rd16(w + 208));
        __m128i sc = _mm_loadu_si128((const __m128i *)(w + 192));
        __m256i sc16 = _mm256_cvtepi8_epi16(sc);
        __m256i sumi[ROWS_MAX];
        for (int r = 0; r < R; r++) { /* start from -32 · Σ_g sc_g · bsum_g: the "- 32" of every q */
            __m256i off = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)x[r][b].bsums), sc16);
            sumi[r] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5));
        }
        for (int h = 0; h < 2; h++) {
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(ql + 64 * h));
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 64 * h + 32));
            __m256i hb = _mm256_loadu_si256((const __m256i *)(qh + 32 * h));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m15), _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(3)), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m15), _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(12)), 2));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m15), _mm256_and_si256(hb, _mm256_set1_epi8(48)));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m15),
                                   _mm256_srli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8((char)0xC0)), 2));
            for (int k = 0; k < 4; k++) {
                __m256i s = q6k_scale_pair(sc, 8 * h + 2 * k);
                for (int r = 0; r < R; r++) {
                    __m256i a = _mm256_loadu_si256((const __m256i *)(x[r][b].q + 128 * h + 32 * k));
                    sumi[r] = madd_acc(sumi[r], s, _mm256_maddubs_epi16(q[k], a));
                }
            }
        }
        for (int r = 0; r < R; r++) {
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d * x[r][b].d), _mm256_cvtepi32_ps(sumi[r]), acc[r]);
        }
    }
    for (int r = 0; r < R; r++) {
        out[r] = hsum8(acc[r]);
    }
}

/* One weight row against R activation rows of a quantized type. */
INLINE void quant_rows(int dtype, const uint8_t *row, const uint8_t *xb, int64_t xa_stride, int R, int64_t in,
                       float *out) {
    const void *x[ROWS_MAX];
    for (int r = 0; r < R; r++) {
        x[r] = xb + r * xa_stride;
    }
    switch (dtype) {
    case HERD_Q8_0: dot_q8_0_rows(row, (const herd_q8a *const *)x, R, in / 32, out); break;
    case HERD_Q4_0: dot_q4_0_rows(row, (const herd_q8a *const *)x, R, in / 32, out); break;
    case HERD_Q4_K: dot_q4_k_rows(row, (const herd_q8k *const *)x, R, in / 256, out); break;
    case HERD_Q6_K: dot_q6_k_rows(row, (const herd_q8k *const *)x, R, in / 256, out); break;
    default: break;
    }
}

static void quant_rows_n(int dtype, const uint8_t *row, const uint8_t *xb, int64_t xa_stride, int R, int64_t in,
                         float *out) {
    switch (R) { /* a constant R per call lets the compiler keep the per-row state in registers */
    case 4: quant_rows(dtype, row, xb, xa_stride, 4, in, out); break;
    case 3: quant_rows(dtype, row, xb, xa_stride, 3, in, out); break;
    case 2: quant_rows(dtype, row, xb, xa_stride, 2, in, out); break;
    default: quant_rows(dtype, row, xb, xa_stride, 1, in, out); break;
    }
}
#endif

#if HERD_LEVEL >= 3
/* ------------------------------------------------------------------------------------------------
 * Row-interleaved layouts (R16, made by herd_repack): rows in groups of 16, and in each block of a
 * group, 64-byte chunks in which bytes [4r, 4r + 4) belong to row r. One VNNI instruction then takes
 * 4 elements of each of the 16 rows against 4 activation values broadcast to every lane, so a lane
 * sums one row, the block's 16 row sums come out as one vector, and one conversion and one
 * multiply-add per block and activation row scale them: no per-row horizontal work at all.
 *   Q4_0_R16 chunk k (0..3): bytes 4k..4k+3 of each row's 16 nibble bytes, i.e. elements 4k..4k+3 in
 *            the low nibbles and 16+4k..16+4k+3 in the high ones.
 *   Q8_0_R16 chunk k (0..7): bytes 4k..4k+3 of each row's 32 values, stored as q + 128 (unsigned, as
 *            the instruction's first operand must be); the activation's -128·Σq takes the bias out.
 * Blocks go in pairs with their scales in front (see herd_internal.h), so a group is one stream: with
 * the scales in a separate region the prefetchers kept up with neither (a third less bandwidth).
 * A lone activation row and every row of a tile of any size get the same operations in the same order
 * (own accumulator, one multiply-add per block): products are the same alone as in a batch.
 * --------------------------------------------------------------------------------------------- */
#define R16_TILE 8 /* activation rows per pass over a group's weights: enough to hide the unpacking */

static inline __m512i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

static void quant_q8r(const float *x, herd_q8r *y, int64_t blocks) {
    for (int64_t b = 0; b < blocks; b++, x += 32) {
        float amax = absmax(x, 32);
        float inv = amax > 0 ? 127.0f / amax : 0.0f;
        y[b].d = amax / 127.0f;
        __m256i q = quant32(x, _mm256_set1_ps(inv));
        _mm256_storeu_si256((__m256i *)y[b].q, q);
        /* Σq: q + 128 as unsigned bytes summed by SAD, less 32 · 128 */
        __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)), _mm256_setzero_si256());
        __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(sad), _mm256_extracti128_si256(sad, 1));
        int32_t sum = (int32_t)(_mm_cvtsi128_si64(s2) + _mm_extract_epi64(s2, 1)) - 32 * 128;
        y[b].off4 = -8 * sum;
        y[b].off8 = -128 * sum;
        y[b].pad = 0;
    }
}

/* One R16 group against R activation rows (rows r at xa + r·blocks), 16 outputs per row under `keep`. */
INLINE void q4_0_r16_tile(const uint8_t *gq, int64_t blocks, const herd_q8r *xa, int R,
                          float *y, int64_t ystride, __mmask16 keep) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512 acc[R16_TILE];
    for (int r = 0; r < R; r++) {
        acc[r] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *q = gq + r16_quants_at(b, R16_Q4_0_QBYTES);
        const uint8_t *sc = gq + r16_scales_at(b, R16_Q4_0_QBYTES);
        __m512i lo[4], hi[4];
        for (int k = 0; k < 4; k++) {
            __m512i raw = _mm512_loadu_si512((const void *)(q + 64 * k));
            lo[k] = _mm512_and_si512(raw, m4);
            hi[k] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
        }
        __m512 ws = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)sc));
        for (int r = 0; r < R; r++) {
            const herd_q8r *a = xa + r * blocks + b;
            /* two chains: a lone activation row (decode) is otherwise one long dependency per block */
            __m512i s = _mm512_set1_epi32(a->off4);
            __m512i t = _mm512_setzero_si512();
            for (int k = 0; k < 4; k++) {
                s = _mm512_dpbusd_epi32(s, lo[k], bcast4(a->q + 4 * k));
                t = _mm512_dpbusd_epi32(t, hi[k], bcast4(a->q + 16 + 4 * k));
            }
            s = _mm512_add_epi32(s, t);
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(ws, _mm512_set1_ps(a->d)), acc[r]);
        }
    }
    for (int r = 0; r < R; r++) {
        _mm512_mask_storeu_ps(y + r * ystride, keep, acc[r]);
    }
}

INLINE void q8_0_r16_tile(const uint8_t *gq, int64_t blocks, const herd_q8r *xa, int R,
                          float *y, int64_t ystride, __mmask16 keep) {
    __m512 acc[R16_TILE];
    for (int r = 0; r < R; r++) {
        acc[r] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *q = gq + r16_quants_at(b, R16_Q8_0_QBYTES);
        const uint8_t *sc = gq + r16_scales_at(b, R16_Q8_0_QBYTES);
        __m512i w[8];
        for (int k = 0; k < 8; k++) {
            w[k] = _mm512_loadu_si512((const void *)(q + 64 * k));
        }
        __m512 ws = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)sc));
        for (int r = 0; r < R; r++) {
            const herd_q8r *a = xa + r * blocks + b;
            __m512i s = _mm512_set1_epi32(a->off8);
            __m512i t = _mm512_setzero_si512();
            for (int k = 0; k < 8; k += 2) {
                s = _mm512_dpbusd_epi32(s, w[k], bcast4(a->q + 4 * k));
                t = _mm512_dpbusd_epi32(t, w[k + 1], bcast4(a->q + 4 * k + 4));
            }
            s = _mm512_add_epi32(s, t);
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(ws, _mm512_set1_ps(a->d)), acc[r]);
        }
    }
    for (int r = 0; r < R; r++) {
        _mm512_mask_storeu_ps(y + r * ystride, keep, acc[r]);
    }
}

#define R16_TILES(fn, R, ...)                                                                                 \
    switch (R) { /* a constant R per call keeps the accumulators in registers */                           \
    case 8: fn(__VA_ARGS__, 8, y_, ystride, keep); break;                                                     \
    case 7: fn(__VA_ARGS__, 7, y_, ystride, keep); break;                                                     \
    case 6: fn(__VA_ARGS__, 6, y_, ystride, keep); break;                                                     \
    case 5: fn(__VA_ARGS__, 5, y_, ystride, keep); break;                                                     \
    case 4: fn(__VA_ARGS__, 4, y_, ystride, keep); break;                                                     \
    case 3: fn(__VA_ARGS__, 3, y_, ystride, keep); break;                                                     \
    case 2: fn(__VA_ARGS__, 2, y_, ystride, keep); break;                                                     \
    default: fn(__VA_ARGS__, 1, y_, ystride, keep); break;                                                    \
    }

static void matmul_r16(int dtype, const uint8_t *w, int64_t blocks, const herd_q8r *xa, int32_t n, float *y,
                       int64_t ystride, int64_t out, int64_t g0, int64_t g1) {
    int64_t qbytes = dtype == HERD_Q4_0_R16 ? R16_Q4_0_QBYTES : R16_Q8_0_QBYTES;
    int64_t gbytes = r16_group_bytes(blocks, qbytes);
    for (int64_t g = g0; g < g1; g++) {
        const uint8_t *gq = w + g * gbytes;
        int64_t o = 16 * g;
        __mmask16 keep = out - o >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (out - o)) - 1);
        for (int32_t r = 0; r < n; r += R16_TILE) {
            int R = n - r < R16_TILE ? n - r : R16_TILE;
            float *y_ = y + r * ystride + o;
            const herd_q8r *xr = xa + r * blocks;
            if (dtype == HERD_Q4_0_R16) {
                R16_TILES(q4_0_r16_tile, R, gq, blocks, xr)
            } else {
                R16_TILES(q8_0_r16_tile, R, gq, blocks, xr)
            }
        }
    }
}
#undef R16_TILES
#endif

static void matmul_rows(int dtype, const uint8_t *w, int64_t row_bytes, const void *xa, int64_t xa_stride,
                        int32_t n, int64_t in, float *y, int64_t ystride, int64_t o0, int64_t o1) {
    const uint8_t *xb = (const uint8_t *)xa;
#if HERD_LEVEL >= 2
    if (n > 1 && (dtype == HERD_Q8_0 || dtype == HERD_Q4_0 || dtype == HERD_Q4_K || dtype == HERD_Q6_K)) {
        for (int64_t o = o0; o < o1; o++) {
            for (int32_t r = 0; r < n; r += ROWS_MAX) {
                int R = n - r < ROWS_MAX ? n - r : ROWS_MAX;
                float v[ROWS_MAX];
                quant_rows_n(dtype, w + o * row_bytes, xb + r * xa_stride, xa_stride, R, in, v);
                for (int k = 0; k < R; k++) {
                    y[(r + k) * ystride + o] = v[k];
                }
            }
        }
        return;
    }
#endif
    if (dtype == HERD_F32 || dtype == HERD_F16 || dtype == HERD_BF16) {
        float_rows(dtype, w, row_bytes, xb, xa_stride, n, in, y, ystride, o0, o1);
        return;
    }
    /* Each weight row is read from memory once and then reused from L1 for the other activation rows. */
    for (int64_t o = o0; o < o1; o++) {
        const uint8_t *row = w + o * row_bytes;
        for (int32_t r = 0; r < n; r++) {
            const void *a = xb + r * xa_stride;
            float v;
            switch (dtype) {
            case HERD_Q8_0: v = dot_q8_0(row, (const herd_q8a *)a, in / 32); break;
            case HERD_Q4_0: v = dot_q4_0(row, (const herd_q8a *)a, in / 32); break;
            case HERD_Q4_K: v = dot_q4_k(row, (const herd_q8k *)a, in / 256); break;
            case HERD_Q6_K: v = dot_q6_k(row, (const herd_q8k *)a, in / 256); break;
            default: v = 0; break;
            }
            y[r * ystride + o] = v;
        }
    }
}

/* ------------------------------------------------------------------------------------------------
 * Dequantization of one row (embedding lookups): the same arithmetic as the Java reference, in f32.
 * --------------------------------------------------------------------------------------------- */
static void dequant_row(int dtype, const uint8_t *w, int64_t cols, float *out) {
    switch (dtype) {
    case HERD_F32:
        memcpy(out, w, (size_t)cols * 4);
        break;
    case HERD_F16:
        for (int64_t i = 0; i < cols; i++) {
            out[i] = f16(rd16(w + 2 * i));
        }
        break;
    case HERD_BF16:
        for (int64_t i = 0; i < cols; i++) {
            out[i] = bf16(rd16(w + 2 * i));
        }
        break;
    case HERD_Q8_0:
        for (int64_t b = 0; b < cols / 32; b++, w += 34, out += 32) {
            float d = f16(rd16(w));
            for (int j = 0; j < 32; j++) {
                out[j] = d * (float)(int8_t)w[2 + j];
            }
        }
        break;
    case HERD_Q4_0:
        for (int64_t b = 0; b < cols / 32; b++, w += 18, out += 32) {
            float d = f16(rd16(w));
            for (int j = 0; j < 16; j++) {
                out[j] = d * (float)((w[2 + j] & 0xF) - 8);
                out[j + 16] = d * (float)((w[2 + j] >> 4) - 8);
            }
        }
        break;
    case HERD_Q4_K:
        for (int64_t b = 0; b < cols / 256; b++, w += 144, out += 256) {
            uint8_t sc[8], m[8];
            q4k_scales(w + 4, sc, m);
            float d = f16(rd16(w)), dmin = f16(rd16(w + 2));
            for (int j = 0; j < 4; j++) {
                float d1 = d * sc[2 * j], m1 = dmin * m[2 * j];
                float d2 = d * sc[2 * j + 1], m2 = dmin * m[2 * j + 1];
                const uint8_t *q = w + 16 + 32 * j;
                for (int l = 0; l < 32; l++) {
                    out[64 * j + l] = d1 * (float)(q[l] & 0xF) - m1;
                    out[64 * j + 32 + l] = d2 * (float)(q[l] >> 4) - m2;
                }
            }
        }
        break;
    case HERD_Q6_K:
        for (int64_t b = 0; b < cols / 256; b++, w += 210, out += 256) {
            const uint8_t *ql = w, *qh = w + 128;
            const int8_t *sc = (const int8_t *)(w + 192);
            float d = f16(rd16(w + 208));
            for (int h = 0; h < 2; h++) {
                for (int l = 0; l < 32; l++) {
                    int is = l / 16, hb = qh[32 * h + l];
                    int q0 = ((ql[64 * h + l] & 0xF) | ((hb & 3) << 4)) - 32;
                    int q1 = ((ql[64 * h + l + 32] & 0xF) | (((hb >> 2) & 3) << 4)) - 32;
                    int q2 = ((ql[64 * h + l] >> 4) | (((hb >> 4) & 3) << 4)) - 32;
                    int q3 = ((ql[64 * h + l + 32] >> 4) | (((hb >> 6) & 3) << 4)) - 32;
                    out[128 * h + l] = d * sc[8 * h + is] * q0;
                    out[128 * h + l + 32] = d * sc[8 * h + is + 2] * q1;
                    out[128 * h + l + 64] = d * sc[8 * h + is + 4] * q2;
                    out[128 * h + l + 96] = d * sc[8 * h + is + 6] * q3;
                }
            }
        }
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------------------------------------
 * Element-wise and row kernels
 * --------------------------------------------------------------------------------------------- */
static double sumsq(const float *x, int64_t n) {
    int64_t i = 0;
    double s = 0;
#if HERD_LEVEL >= 2
    /* f32 partial sums over 32-element stretches, summed in double: f64-like accuracy at f32 speed */
    for (; i + 32 <= n; i += 32) {
        __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        __m256 c = _mm256_loadu_ps(x + i + 16), e = _mm256_loadu_ps(x + i + 24);
        __m256 t = _mm256_add_ps(_mm256_fmadd_ps(a, a, _mm256_mul_ps(b, b)), _mm256_fmadd_ps(c, c, _mm256_mul_ps(e, e)));
        __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(t));
        __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(t, 1));
        __m256d sum = _mm256_add_pd(lo, hi);
        __m128d q = _mm_add_pd(_mm256_castpd256_pd128(sum), _mm256_extractf128_pd(sum, 1));
        s += _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
    }
#endif
    for (; i < n; i++) {
        s += (double)x[i] * x[i];
    }
    return s;
}

static void rmsnorm_row(const float *x, const float *w, float eps, int64_t dim, float *out) {
    float inv = (float)(1.0 / sqrt(sumsq(x, dim) / (double)dim + eps));
    int64_t i = 0;
#if HERD_LEVEL >= 2
    __m256 vi = _mm256_set1_ps(inv);
    for (; i + 8 <= dim; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vi);
        _mm256_storeu_ps(out + i, w ? _mm256_mul_ps(v, _mm256_loadu_ps(w + i)) : v);
    }
#endif
    for (; i < dim; i++) {
        float v = x[i] * inv;
        out[i] = w ? v * w[i] : v;
    }
}

/* x[i] = e^(x[i] - max) in place; returns the sum (in double: attention rows reach 10^5 terms). */
static double exp_sum(float *x, int64_t n, float max) {
    double sum = 0;
    int64_t i = 0;
#if HERD_LEVEL >= 2
    __m256 vm = _mm256_set1_ps(max);
    for (; i + 64 <= n; i += 64) { /* f32 partial sums of 64 terms, each batch added in double */
        __m256 vs = _mm256_setzero_ps();
        for (int j = 0; j < 64; j += 8) {
            __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i + j), vm));
            _mm256_storeu_ps(x + i + j, e);
            vs = _mm256_add_ps(vs, e);
        }
        sum += hsum8(vs);
    }
#endif
    for (; i < n; i++) {
        float e = expf(x[i] - max);
        x[i] = e;
        sum += e;
    }
    return sum;
}

static float max_of(const float *x, int64_t n) {
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        max = x[i] > max ? x[i] : max;
    }
    return max;
}

static void softmax(float *x, int64_t n) {
    if (n <= 0) {
        return;
    }
    double sum = exp_sum(x, n, max_of(x, n));
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) {
        x[i] *= inv;
    }
}

static void swiglu(float *g, const float *u, int64_t n) {
    int64_t i = 0;
#if HERD_LEVEL >= 2
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i);
        __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
    }
#endif
    for (; i < n; i++) {
        float x = g[i];
        g[i] = x / (1.0f + expf(-x)) * u[i];
    }
}

/* out_h += a · v over one head */
static inline void axpy(float a, const float *v, float *out, int64_t n) {
    int64_t i = 0;
#if HERD_LEVEL >= 3
    __m512 wa = _mm512_set1_ps(a);
    for (; i + 16 <= n; i += 16) {
        _mm512_storeu_ps(out + i, _mm512_fmadd_ps(wa, _mm512_loadu_ps(v + i), _mm512_loadu_ps(out + i)));
    }
#endif
#if HERD_LEVEL >= 2
    __m256 va = _mm256_set1_ps(a);
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(out + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(v + i), _mm256_loadu_ps(out + i)));
    }
#endif
    for (; i < n; i++) {
        out[i] += a * v[i];
    }
}

static void attn_heads(const float *q, int32_t nh, int32_t hd, const herd_kv *kv, int64_t ko, int64_t t0, int64_t t1,
                       float scale, float *scores, float *out) {
    int64_t len = t1 - t0 + 1;
    /* A kv head's slice of each cache row is short (head_dim floats) and rows are a row or a block apart,
     * usually a page or more: the hardware prefetchers do not follow that, so ask for rows ahead. */
    const int64_t ahead = 32;
    /* each key row is loaded once for all heads of its group */
    for (int64_t t = t0; t <= t1; t++) {
        const float *kr = kv->k + herd_kv_row(kv, t) + ko;
        if (t + ahead <= t1) {
            const float *pf = kv->k + herd_kv_row(kv, t + ahead) + ko;
            for (int32_t l = 0; l < hd; l += 16) {
                __builtin_prefetch(pf + l);
            }
        }
        for (int32_t h = 0; h < nh; h++) {
            scores[h * len + (t - t0)] = dot_f32(kr, q + (int64_t)h * hd, hd) * scale;
        }
    }
    for (int32_t h = 0; h < nh; h++) {
        softmax(scores + h * len, len);
        memset(out + (int64_t)h * hd, 0, sizeof(float) * (size_t)hd);
    }
    for (int64_t t = t0; t <= t1; t++) {
        const float *vr = kv->v + herd_kv_row(kv, t) + ko;
        if (t + ahead <= t1) {
            const float *pf = kv->v + herd_kv_row(kv, t + ahead) + ko;
            for (int32_t l = 0; l < hd; l += 16) {
                __builtin_prefetch(pf + l);
            }
        }
        for (int32_t h = 0; h < nh; h++) {
            axpy(scores[h * len + (t - t0)], vr, out + (int64_t)h * hd, hd);
        }
    }
}

/* One query row, all heads, keys [t0, t1] (a slice of the row's causal range), without normalising:
 * per head h, m[h] = max score, l[h] = Σ e^(score - m[h]) and acc[h] = Σ e^(score - m[h]) · v_t. Cache
 * rows are read whole and in order (all kv heads together), which the prefetchers stream well within a
 * block; the caller merges slices. */
#if HERD_LEVEL >= 2
/* The 8 dot products of q with rows[0..7] + off (hd a multiple of 8) as one vector: the per-row partial
 * vectors are summed by a transposing tree, which costs far less than 8 horizontal sums. The rows are
 * given one by one because consecutive positions may sit in different cache blocks. */
static inline __m256 dot8_rows(const float *q, const float *const rows[8], int64_t off, int32_t hd) {
    __m256 a[8];
    for (int k = 0; k < 8; k++) {
        a[k] = _mm256_setzero_ps();
    }
    for (int32_t i = 0; i < hd; i += 8) {
        __m256 qv = _mm256_loadu_ps(q + i);
        for (int k = 0; k < 8; k++) {
            a[k] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(rows[k] + off + i), a[k]);
        }
    }
    __m256 h01 = _mm256_hadd_ps(a[0], a[1]), h23 = _mm256_hadd_ps(a[2], a[3]);
    __m256 h45 = _mm256_hadd_ps(a[4], a[5]), h67 = _mm256_hadd_ps(a[6], a[7]);
    __m256 q0123 = _mm256_hadd_ps(h01, h23), q4567 = _mm256_hadd_ps(h45, h67);
    /* each 128-bit half now holds partial sums of rows 0-3 (resp. 4-7): add the halves */
    return _mm256_add_ps(_mm256_permute2f128_ps(q0123, q4567, 0x20), _mm256_permute2f128_ps(q0123, q4567, 0x31));
}
#endif

static void attn_partial(const float *q, int32_t n_heads, int32_t group, int32_t hd, const herd_kv *kv, int64_t t0,
                         int64_t t1, float scale, float *scores, float *m, float *l, float *acc) {
    int64_t len = t1 - t0 + 1;
    int64_t t = t0;
#if HERD_LEVEL >= 2
    if (hd % 8 == 0) {
        __m256 vs = _mm256_set1_ps(scale);
        for (; t + 8 <= t1 + 1; t += 8) {
            const float *rows[8];
            for (int k = 0; k < 8; k++) {
                rows[k] = kv->k + herd_kv_row(kv, t + k);
            }
            for (int32_t h = 0; h < n_heads; h++) {
                __m256 d = dot8_rows(q + (int64_t)h * hd, rows, (int64_t)(h / group) * hd, hd);
                _mm256_storeu_ps(scores + h * len + (t - t0), _mm256_mul_ps(d, vs));
            }
        }
    }
#endif
    for (; t <= t1; t++) {
        const float *kr = kv->k + herd_kv_row(kv, t);
        for (int32_t h = 0; h < n_heads; h++) {
            scores[h * len + (t - t0)] = dot_f32(kr + (int64_t)(h / group) * hd, q + (int64_t)h * hd, hd) * scale;
        }
    }
    for (int32_t h = 0; h < n_heads; h++) {
        m[h] = max_of(scores + h * len, len);
        l[h] = (float)exp_sum(scores + h * len, len, m[h]);
    }
    memset(acc, 0, sizeof(float) * (size_t)n_heads * (size_t)hd);
    for (int64_t t = t0; t <= t1; t++) {
        const float *vr = kv->v + herd_kv_row(kv, t);
        for (int32_t h = 0; h < n_heads; h++) {
            axpy(scores[h * len + (t - t0)], vr + (int64_t)(h / group) * hd, acc + (int64_t)h * hd, hd);
        }
    }
}

const herd_isa VARIANT = {
    .level = HERD_LEVEL,
#if HERD_LEVEL == 1
    .init = fill_f16_table,
#else
    .init = 0,
#endif
    .quant_q8a = quant_q8a,
    .quant_q8k = quant_q8k,
    .matmul_rows = matmul_rows,
#if HERD_LEVEL >= 3
    .quant_q8r = quant_q8r,
    .matmul_r16 = matmul_r16,
#endif
    .dequant_row = dequant_row,
    .rmsnorm_row = rmsnorm_row,
    .softmax = softmax,
    .swiglu = swiglu,
    .attn_heads = attn_heads,
    .attn_partial = attn_partial,
};
