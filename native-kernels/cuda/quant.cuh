/*
 * Block decoders for every weight type, written once for host and device (__host__ __device__) so that
 * the host-side self-checks (herd_cuda_host_*) run exactly the code the kernels run on each block.
 *
 * Two decoders per type:
 *  - deq16:   16 consecutive elements starting at k0 (k0 % 16 == 0) as f32. Used by the tensor-core
 *             tiles and get_row. 16 is the finest grain every quantized type shares one scale over.
 *  - unit_dot: one lane's share ("unit") of a row times up to NR activation rows, accumulated. The
 *             matrix-vector kernel gives consecutive units of a row to consecutive lanes, so a warp
 *             reads each block with a few contiguous loads instead of one strided load per lane.
 *
 * Layouts are those of dev.herd.kernels.DType / Dequant (ggml's), little-endian.
 */
#pragma once

#include <stdint.h>
#include <string.h>
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>

#include "herd_cuda.h"

#define HD __host__ __device__ __forceinline__

namespace herd {

// ---- loads -------------------------------------------------------------------------------------------
// Quantized blocks of 18, 34 and 210 bytes are only 2-byte aligned: 32-bit words are assembled from two
// 16-bit loads. The host path uses memcpy (no alignment or aliasing assumptions).

HD uint32_t ld_u16(const uint8_t *p) {
#ifdef __CUDA_ARCH__
    return *reinterpret_cast<const uint16_t *>(p);
#else
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
#endif
}

HD uint32_t ld_u32_a2(const uint8_t *p) {
    return ld_u16(p) | (ld_u16(p + 2) << 16);
}

HD uint32_t ld_u32(const uint8_t *p) {  // 4-byte aligned
#ifdef __CUDA_ARCH__
    return *reinterpret_cast<const uint32_t *>(p);
#else
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
#endif
}

HD uint4 ld_u128(const uint8_t *p) {  // 16-byte aligned
#ifdef __CUDA_ARCH__
    return *reinterpret_cast<const uint4 *>(p);
#else
    uint4 v;
    memcpy(&v, p, 16);
    return v;
#endif
}

HD float4 ld_f4(const float *p) {  // 16-byte aligned
#ifdef __CUDA_ARCH__
    return *reinterpret_cast<const float4 *>(p);
#else
    float4 v;
    memcpy(&v, p, 16);
    return v;
#endif
}

// ---- scalar conversions --------------------------------------------------------------------------------

HD float f16_to_f32(uint32_t h) {
#ifdef __CUDA_ARCH__
    return __half2float(__ushort_as_half(static_cast<unsigned short>(h)));
#else
    uint32_t sign = (h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t man = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {  // subnormal: man * 2^-24, exact in f32
            float v = static_cast<float>(man) * 5.9604644775390625e-8f;
            return sign ? -v : v;
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
#endif
}

HD float bf16_to_f32(uint32_t b) {
    uint32_t bits = (b & 0xFFFFu) << 16;
#ifdef __CUDA_ARCH__
    return __uint_as_float(bits);
#else
    float f;
    memcpy(&f, &bits, 4);
    return f;
#endif
}

// Products written as separate rounded operations where the reference (Dequant) rounds each step, so
// dequantized values match it bit for bit instead of differing by a fused multiply-add.
HD float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

HD float sub_rn(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}

HD int s8(uint32_t word, int byte) {
    return static_cast<int>(static_cast<int8_t>((word >> (8 * byte)) & 0xFFu));
}

HD uint32_t u8(uint32_t word, int byte) {
    return (word >> (8 * byte)) & 0xFFu;
}

// ---- type traits ----------------------------------------------------------------------------------------

template <int T> struct Layout;
template <> struct Layout<HERD_CUDA_F32> { static constexpr int block = 1, bytes = 4; };
template <> struct Layout<HERD_CUDA_F16> { static constexpr int block = 1, bytes = 2; };
template <> struct Layout<HERD_CUDA_BF16> { static constexpr int block = 1, bytes = 2; };
template <> struct Layout<HERD_CUDA_Q8_0> { static constexpr int block = 32, bytes = 34; };
template <> struct Layout<HERD_CUDA_Q4_0> { static constexpr int block = 32, bytes = 18; };
template <> struct Layout<HERD_CUDA_Q4_K> { static constexpr int block = 256, bytes = 144; };
template <> struct Layout<HERD_CUDA_Q6_K> { static constexpr int block = 256, bytes = 210; };

HD int64_t row_bytes(int dtype, int64_t cols) {
    switch (dtype) {
        case HERD_CUDA_F32: return cols * 4;
        case HERD_CUDA_F16:
        case HERD_CUDA_BF16: return cols * 2;
        case HERD_CUDA_Q8_0: return cols / 32 * 34;
        case HERD_CUDA_Q4_0: return cols / 32 * 18;
        case HERD_CUDA_Q4_K: return cols / 256 * 144;
        case HERD_CUDA_Q6_K: return cols / 256 * 210;
        default: return -1;
    }
}

// Elements one lane handles per unit in the matrix-vector kernel. Float types take 8 with 16-byte loads
// when the row length allows it (VEC), else single elements.
template <int T, bool VEC> struct Unit { static constexpr int elems = VEC ? 8 : 1; };
template <bool V> struct Unit<HERD_CUDA_Q8_0, V> { static constexpr int elems = 8; };
template <bool V> struct Unit<HERD_CUDA_Q4_0, V> { static constexpr int elems = 8; };
template <bool V> struct Unit<HERD_CUDA_Q4_K, V> { static constexpr int elems = 32; };
template <bool V> struct Unit<HERD_CUDA_Q6_K, V> { static constexpr int elems = 16; };

// Float rows use 16-byte loads when every row starts 16-byte aligned and holds whole groups of 8.
HD bool vector_rows(int dtype, int64_t cols) {
    return (dtype == HERD_CUDA_F32 || dtype == HERD_CUDA_F16 || dtype == HERD_CUDA_BF16) && cols % 8 == 0;
}

// ---- Q4_K scales ------------------------------------------------------------------------------------------

// The 6-bit scale and min of sub-block j (0..7) from Q4_K's 12 packed scale bytes (as Dequant.scaleMinK4).
HD void scale_min_k4(int j, const uint8_t *q, uint32_t &sc, uint32_t &m) {
    if (j < 4) {
        sc = q[j] & 63u;
        m = q[j + 4] & 63u;
    } else {
        sc = (q[j + 4] & 0xFu) | ((q[j - 4] >> 6) << 4);
        m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// ---- deq16: 16 consecutive elements from k0 ----------------------------------------------------------------

template <int T> HD void deq16(const uint8_t *row, int64_t k0, int64_t cols, float *out);

// Float types: bounds-checked (rows of any length), elements past the row read as 0.
template <> HD void deq16<HERD_CUDA_F32>(const uint8_t *row, int64_t k0, int64_t cols, float *out) {
    const float *r = reinterpret_cast<const float *>(row);
#pragma unroll
    for (int i = 0; i < 16; i++) {
        int64_t k = k0 + i;
        float v = 0.f;
        if (k < cols) {
#ifdef __CUDA_ARCH__
            v = r[k];
#else
            memcpy(&v, row + 4 * k, 4);
#endif
        }
        out[i] = v;
    }
}

template <> HD void deq16<HERD_CUDA_F16>(const uint8_t *row, int64_t k0, int64_t cols, float *out) {
    if (k0 + 16 <= cols && cols % 8 == 0) {  // rows 16-byte aligned: two 16-byte loads
        uint4 a = ld_u128(row + 2 * k0), b = ld_u128(row + 2 * k0 + 16);
        uint32_t w[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
        for (int i = 0; i < 8; i++) {
            out[2 * i] = f16_to_f32(w[i] & 0xFFFFu);
            out[2 * i + 1] = f16_to_f32(w[i] >> 16);
        }
        return;
    }
#pragma unroll
    for (int i = 0; i < 16; i++) {
        int64_t k = k0 + i;
        out[i] = k < cols ? f16_to_f32(ld_u16(row + 2 * k)) : 0.f;
    }
}

template <> HD void deq16<HERD_CUDA_BF16>(const uint8_t *row, int64_t k0, int64_t cols, float *out) {
    if (k0 + 16 <= cols && cols % 8 == 0) {
        uint4 a = ld_u128(row + 2 * k0), b = ld_u128(row + 2 * k0 + 16);
        uint32_t w[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
        for (int i = 0; i < 8; i++) {
            out[2 * i] = bf16_to_f32(w[i] & 0xFFFFu);
            out[2 * i + 1] = bf16_to_f32(w[i] >> 16);
        }
        return;
    }
#pragma unroll
    for (int i = 0; i < 16; i++) {
        int64_t k = k0 + i;
        out[i] = k < cols ? bf16_to_f32(ld_u16(row + 2 * k)) : 0.f;
    }
}

// Quantized types: cols is a whole number of blocks (checked on the Java side), so k0 + 16 <= cols.
template <> HD void deq16<HERD_CUDA_Q8_0>(const uint8_t *row, int64_t k0, int64_t, float *out) {
    const uint8_t *b = row + (k0 / 32) * 34;
    float d = f16_to_f32(ld_u16(b));
    const uint8_t *q = b + 2 + (k0 % 32);
#pragma unroll
    for (int w = 0; w < 4; w++) {
        uint32_t word = ld_u32_a2(q + 4 * w);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            out[4 * w + j] = mul_rn(d, static_cast<float>(s8(word, j)));
        }
    }
}

template <> HD void deq16<HERD_CUDA_Q4_0>(const uint8_t *row, int64_t k0, int64_t, float *out) {
    const uint8_t *b = row + (k0 / 32) * 18;
    float d = f16_to_f32(ld_u16(b));
    int shift = (k0 % 32) ? 4 : 0;  // elements 16..31 are the high nibbles of the same 16 bytes
#pragma unroll
    for (int w = 0; w < 4; w++) {
        uint32_t word = ld_u32_a2(b + 2 + 4 * w);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int q = static_cast<int>((u8(word, j) >> shift) & 0xFu) - 8;
            out[4 * w + j] = mul_rn(d, static_cast<float>(q));
        }
    }
}

template <> HD void deq16<HERD_CUDA_Q4_K>(const uint8_t *row, int64_t k0, int64_t, float *out) {
    const uint8_t *b = row + (k0 / 256) * 144;
    int e = static_cast<int>(k0 % 256);
    int j = e / 32;       // sub-block 0..7
    int l0 = e % 32;      // 0 or 16
    uint32_t dd = ld_u32(b);
    float d = f16_to_f32(dd & 0xFFFFu);
    float dmin = f16_to_f32(dd >> 16);
    uint32_t sc, m;
    scale_min_k4(j, b + 4, sc, m);
    float d1 = mul_rn(d, static_cast<float>(sc));
    float m1 = mul_rn(dmin, static_cast<float>(m));
    // sub-blocks 2i and 2i+1 share 32 bytes: low nibbles, then high nibbles
    uint4 qv = ld_u128(b + 16 + 32 * (j / 2) + l0);
    uint32_t w[4] = {qv.x, qv.y, qv.z, qv.w};
    int shift = (j % 2) ? 4 : 0;
#pragma unroll
    for (int i = 0; i < 4; i++) {
#pragma unroll
        for (int t = 0; t < 4; t++) {
            uint32_t q = (u8(w[i], t) >> shift) & 0xFu;
            out[4 * i + t] = sub_rn(mul_rn(d1, static_cast<float>(q)), m1);
        }
    }
}

template <> HD void deq16<HERD_CUDA_Q6_K>(const uint8_t *row, int64_t k0, int64_t, float *out) {
    const uint8_t *b = row + (k0 / 256) * 210;
    int e = static_cast<int>(k0 % 256);
    int h = e / 128;          // half of the super-block
    int m = (e % 128) / 32;   // which of the four quarter-rows of that half
    int l0 = e % 32;          // 0 or 16
    float d = f16_to_f32(ld_u16(b + 208));
    float sc = static_cast<float>(static_cast<int8_t>(b[192 + h * 8 + l0 / 16 + 2 * m]));
    float ds = mul_rn(d, sc);
    const uint8_t *ql = b + h * 64 + (m & 1) * 32 + l0;
    const uint8_t *qh = b + 128 + h * 32 + l0;
    int lshift = (m >= 2) ? 4 : 0;
    int hshift = 2 * m;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        uint32_t lw = ld_u32_a2(ql + 4 * i);
        uint32_t hw = ld_u32_a2(qh + 4 * i);
#pragma unroll
        for (int t = 0; t < 4; t++) {
            int q = static_cast<int>(((u8(lw, t) >> lshift) & 0xFu) | (((u8(hw, t) >> hshift) & 3u) << 4)) - 32;
            // Dequant computes d * scale first, then times q
            out[4 * i + t] = mul_rn(ds, static_cast<float>(q));
        }
    }
}

HD int deq16_any(int dtype, const uint8_t *row, int64_t k0, int64_t cols, float *out) {
    switch (dtype) {
        case HERD_CUDA_F32: deq16<HERD_CUDA_F32>(row, k0, cols, out); return 0;
        case HERD_CUDA_F16: deq16<HERD_CUDA_F16>(row, k0, cols, out); return 0;
        case HERD_CUDA_BF16: deq16<HERD_CUDA_BF16>(row, k0, cols, out); return 0;
        case HERD_CUDA_Q8_0: deq16<HERD_CUDA_Q8_0>(row, k0, cols, out); return 0;
        case HERD_CUDA_Q4_0: deq16<HERD_CUDA_Q4_0>(row, k0, cols, out); return 0;
        case HERD_CUDA_Q4_K: deq16<HERD_CUDA_Q4_K>(row, k0, cols, out); return 0;
        case HERD_CUDA_Q6_K: deq16<HERD_CUDA_Q6_K>(row, k0, cols, out); return 0;
        default: return HERD_CUDA_EBADTYPE;
    }
}

// ---- unit_dot: one lane's unit of a row times NR activation rows -----------------------------------------
//
// x[r] points at activation row r; acc[r] += (unit of W) . (matching elements of x[r]) for r < nr.
// Units of a row: F32/F16/BF16 VEC: 8 elements [8u, 8u+8); non-VEC: element u.
//   Q8_0: block u/4, its elements [8(u%4), +8).
//   Q4_0: block u/4, bytes 4(u%4)..+4: elements 4(u%4)+t (low nibbles) and 16+4(u%4)+t (high).
//   Q4_K: super-block u/8, 16 bytes of nibbles at 16(u%8): sub-blocks 2i and 2i+1 (i = (u%8)/2),
//         elements l0..l0+15 of each (l0 = 16(u%2)).
//   Q6_K: super-block u/16, half h = (u%16)/8, l = 4(u%8)..+4: elements h*128 + 32m + l for m = 0..3.

template <int NR>
HD void dot4(const float *const *x, int nr, int64_t k, float w0, float w1, float w2, float w3, float *acc) {
#pragma unroll
    for (int r = 0; r < NR; r++) {
        if (r < nr) {
            float4 v = ld_f4(x[r] + k);
            acc[r] += w0 * v.x + w1 * v.y + w2 * v.z + w3 * v.w;
        }
    }
}

template <int T, bool VEC, int NR> struct UnitDot;

template <int NR> struct UnitDot<HERD_CUDA_F32, true, NR> {
    static HD void run(const uint8_t *row, int64_t u, const float *const *x, int nr, float *acc) {
        const float *w = reinterpret_cast<const float *>(row) + 8 * u;
        float4 a = ld_f4(w), b = ld_f4(w + 4);
        dot4<NR>(x, nr, 8 * u, a.x, a.y, a.z, a.w, acc);
        dot4<NR>(x, nr, 8 * u + 4, b.x, b.y, b.z, b.w, acc);
    }
};

template <int NR> struct UnitDot<HERD_CUDA_F32, false, NR> {
    static HD void run(const uint8_t *row, int64_t u, const float *const *x, int nr, float *acc) {
        float w;
#ifdef __CUDA_ARCH__
        w = reinterpret_cast<const float *>(row)[u];
#else
        memcpy(&w, row + 4 * u, 4);
#endif
#pragma unroll
        for (int r = 0; r < NR; r++) {
            if (r < nr) acc[r] += w * x[r][u];
        }
    }
};

template <int NR, bool BF> HD void half8_dot(const uint8_t *row, int64_t u, const float *const *x, int nr,
                                             float *acc) {
    uint4 q = ld_u128(row + 16 * u);
    uint32_t w[4] = {q.x, q.y, q.z, q.w};
    float f[8];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        f[2 * i] = BF ? bf16_to_f32(w[i] & 0xFFFFu) : f16_to_f32(w[i] & 0xFFFFu);
        f[2 * i + 1] = BF ? bf16_to_f32(w[i] >> 16) : f16_to_f32(w[i] >> 16);
    }
    dot4<NR>(x, nr, 8 * u, f[0], f[1], f[2], f[3], acc);
    dot4<NR>(x, nr, 8 * u + 4, f[4], f[5], f[6], f[7], acc);
}

template <int NR> struct UnitDot<HERD_CUDA_F16, true, NR> {
    static HD void run(const uint8_t *row, int64_t u, const float *const *x, int nr, float *acc) {
        half8_dot<NR, false>(row, u, x, nr, acc);
    }
};

template <int NR> struct UnitDot<HERD_CUDA_BF16, true, NR> {
    static HD void run(const uint8_t *row, int64_t u, const float *const *x, int nr, float *acc) {
        half8_dot<NR, true>(row, u, x, nr, acc);
    }
};

template <int NR> struct UnitDot<HERD_CUDA_F16, false, NR> {
    static HD void run(const uint8_t *row, int64_t u, const float *const *x, int nr, float *acc) {
        float w = f16_to_f32(ld_u16(row + 2 * u));
#pragma unroll
        for (int r = 0; r < NR; r++) {
            if (r < nr) acc[r] += w * x[r][u];
        }
    }
};

template <int NR> struct UnitDot<HERD_CUDA_BF16, false, NR> {
    static HD void run(const uint8_t *row, int64_t u, const float *const *x, int nr, float *acc) {
        float w = bf16_to_f32(ld_u16(row + 2 * u));
#pragma unroll
        for (int r = 0; r < NR; r++) {
            if (r < nr) acc[r] += w * x[r][u];
        }
    }
};

template <bool V, int NR> struct UnitDot<HERD_CUDA_Q8_0, V, NR> {
    static HD void run(const uint8_t *row, int64_t u, const float *const *x, int nr, float *acc) {
        const uint8_t *b = row + (u / 4) * 34;
        int p = static_cast<int>(u % 4);
        float d = f16_to_f32(ld_u16(b));
        uint32_t w0 = ld_u32_a2(b + 2 + 8 * p), w1 = ld_u32_a2(b + 6 + 8 * p);
        int64_t k = (u / 4) * 32 + 8 * p;
        float s[NR];
#pragma unroll
        for (int r = 0; r < NR; r++) s[r] = 0.f;
        dot4<NR>(x, nr, k, (float)s8(w0, 0), (float)s8(w0, 1), (float)s8(w0, 2), (float)s8(w0, 3), s);
        dot4<NR>(x, nr, k + 4, (float)s8(w1, 0), (float)s8(w1, 1), (float)s8(w1, 2), (float)s8(w1, 3), s);
#pragma unroll
        for (int r = 0; r < NR; r++) acc[r] += d * s[r];
    }
};

template <bool V, int NR> struct UnitDot<HERD_CUDA_Q4_0, V, NR> {
    static HD void run(const uint8_t *row, int64_t u, const float *const *x, int nr, float *acc) {
        const uint8_t *b = row + (u / 4) * 18;
        int p = static_cast<int>(u % 4);
        float d = f16_to_f32(ld_u16(b));
        uint32_t w = ld_u32_a2(b + 2 + 4 * p);
        int64_t k = (u / 4) * 32 + 4 * p;
        float lo[4], hi[4];
#pragma unroll
        for (int t = 0; t < 4; t++) {
            lo[t] = static_cast<float>(static_cast<int>(u8(w, t) & 0xFu) - 8);
            hi[t] = static_cast<float>(static_cast<int>(u8(w, t) >> 4) - 8);
        }
        float s[NR];
#pragma unroll
        for (int r = 0; r < NR; r++) s[r] = 0.f;
        dot4<NR>(x, nr, k, lo[0], lo[1], lo[2], lo[3], s);
        dot4<NR>(x, nr, k + 16, hi[0], hi[1], hi[2], hi[3], s);
#pragma unroll
        for (int r = 0; r < NR; r++) acc[r] += d * s[r];
    }
};

template <bool V, int NR> struct UnitDot<HERD_CUDA_Q4_K, V, NR> {
    static HD void run(const uint8_t *row, int64_t u, const float *const *x, int nr, float *acc) {
        const uint8_t *b = row + (u / 8) * 144;
        int p = static_cast<int>(u % 8);
        int i = p / 2;          // sub-block pair
        int l0 = 16 * (p % 2);  // first element within each sub-block
        uint32_t dd = ld_u32(b);
        float d = f16_to_f32(dd & 0xFFFFu);
        float dmin = f16_to_f32(dd >> 16);
        uint32_t sc0, m0, sc1, m1;
        scale_min_k4(2 * i, b + 4, sc0, m0);
        scale_min_k4(2 * i + 1, b + 4, sc1, m1);
        uint4 qv = ld_u128(b + 16 + 16 * p);
        uint32_t w[4] = {qv.x, qv.y, qv.z, qv.w};
        int64_t k = (u / 8) * 256 + 64 * i + l0;  // first low-nibble element; high ones are 32 further
        float slo[NR], shi[NR], xlo[NR], xhi[NR];
#pragma unroll
        for (int r = 0; r < NR; r++) slo[r] = shi[r] = xlo[r] = xhi[r] = 0.f;
#pragma unroll
        for (int g = 0; g < 4; g++) {
            float lo[4], hi[4];
#pragma unroll
            for (int t = 0; t < 4; t++) {
                lo[t] = static_cast<float>(u8(w[g], t) & 0xFu);
                hi[t] = static_cast<float>(u8(w[g], t) >> 4);
            }
#pragma unroll
            for (int r = 0; r < NR; r++) {
                if (r < nr) {
                    float4 a = ld_f4(x[r] + k + 4 * g), c = ld_f4(x[r] + k + 32 + 4 * g);
                    slo[r] += lo[0] * a.x + lo[1] * a.y + lo[2] * a.z + lo[3] * a.w;
                    shi[r] += hi[0] * c.x + hi[1] * c.y + hi[2] * c.z + hi[3] * c.w;
                    xlo[r] += a.x + a.y + a.z + a.w;  // for the min term: sum of x
                    xhi[r] += c.x + c.y + c.z + c.w;
                }
            }
        }
        float d0 = d * static_cast<float>(sc0), mm0 = dmin * static_cast<float>(m0);
        float d1 = d * static_cast<float>(sc1), mm1 = dmin * static_cast<float>(m1);
#pragma unroll
        for (int r = 0; r < NR; r++) {
            acc[r] += d0 * slo[r] - mm0 * xlo[r] + d1 * shi[r] - mm1 * xhi[r];
        }
    }
};

template <bool V, int NR> struct UnitDot<HERD_CUDA_Q6_K, V, NR> {
    static HD void run(const uint8_t *row, int64_t u, const float *const *x, int nr, float *acc) {
        const uint8_t *b = row + (u / 16) * 210;
        int p = static_cast<int>(u % 16);
        int h = p / 8;
        int l = 4 * (p % 8);
        float d = f16_to_f32(ld_u16(b + 208));
        uint32_t ql0 = ld_u32_a2(b + h * 64 + l);       // m = 0 (low nibbles), m = 2 (high)
        uint32_t ql1 = ld_u32_a2(b + h * 64 + 32 + l);  // m = 1 (low), m = 3 (high)
        uint32_t qh = ld_u32_a2(b + 128 + h * 32 + l);
        const uint8_t *sc = b + 192 + h * 8 + l / 16;
        int64_t k = (u / 16) * 256 + h * 128 + l;
        float s[4][NR];
#pragma unroll
        for (int m = 0; m < 4; m++) {
            uint32_t lw = (m & 1) ? ql1 : ql0;
            int lshift = m >= 2 ? 4 : 0;
            float q[4];
#pragma unroll
            for (int t = 0; t < 4; t++) {
                q[t] = static_cast<float>(
                        static_cast<int>(((u8(lw, t) >> lshift) & 0xFu) | (((u8(qh, t) >> (2 * m)) & 3u) << 4)) - 32);
            }
#pragma unroll
            for (int r = 0; r < NR; r++) s[m][r] = 0.f;
            dot4<NR>(x, nr, k + 32 * m, q[0], q[1], q[2], q[3], s[m]);
        }
        float ds[4];
#pragma unroll
        for (int m = 0; m < 4; m++) ds[m] = d * static_cast<float>(static_cast<int8_t>(sc[2 * m]));
#pragma unroll
        for (int r = 0; r < NR; r++) {
            acc[r] += ds[0] * s[0][r] + ds[1] * s[1][r] + ds[2] * s[2][r] + ds[3] * s[3][r];
        }
    }
};

template <int T, bool VEC> HD int64_t units_per_row(int64_t cols) {
    return cols / Unit<T, VEC>::elems;
}

}  // namespace herd
