/* AVX-512 helpers shared by the kernels of the grouped load-time layouts
 * (Q2_K_X4 in dot_avx512_q2kx4.c, Q4_K_X4 in dot_avx512_q4k.c). Include
 * only where AVX-512 VBMI/VNNI and GFNI are compiled in. */
#ifndef DS4_QUANT_SIMD_X4_H
#define DS4_QUANT_SIMD_X4_H

#include <immintrin.h>
#include <stdint.h>

#include "quant/simd.h" /* DS4_UNROLL */

/* The four activation planes of one Q8_K block's 256 quants, as the X4
 * layouts' weight planes hold their elements: plane f (at out + 64f) has at
 * byte 4k + e the element 16k + 4f + e. So dword k of plane f is dword f of
 * the quants' 16-byte piece k: a 4 x 4 dword transpose inside each
 * register's 128-bit lanes, then a 4 x 4 transpose of lanes across the four
 * registers. */
static inline void ds4_x4_act_planes(const int8_t *qs, uint8_t *out) {
    const __m512i tr = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    __m512i z[4];
    for (int i = 0; i < 4; i++) z[i] = _mm512_permutexvar_epi32(tr, _mm512_loadu_si512(qs + 64 * i));
    const __m512i t0 = _mm512_shuffle_i32x4(z[0], z[1], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i t1 = _mm512_shuffle_i32x4(z[0], z[1], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512i t2 = _mm512_shuffle_i32x4(z[2], z[3], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i t3 = _mm512_shuffle_i32x4(z[2], z[3], _MM_SHUFFLE(3, 2, 3, 2));
    _mm512_storeu_si512(out, _mm512_shuffle_i32x4(t0, t2, _MM_SHUFFLE(2, 0, 2, 0)));
    _mm512_storeu_si512(out + 64, _mm512_shuffle_i32x4(t0, t2, _MM_SHUFFLE(3, 1, 3, 1)));
    _mm512_storeu_si512(out + 128, _mm512_shuffle_i32x4(t1, t3, _MM_SHUFFLE(2, 0, 2, 0)));
    _mm512_storeu_si512(out + 192, _mm512_shuffle_i32x4(t1, t3, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* One X4 block against one token: its four weight planes p (unsigned)
 * against the matching 64-byte activation planes at y, in one vpdpbusd
 * chain. Lane k holds a partial dot of one sub-block, small enough for 16
 * bits (both layouts bound it below 2^15). (Two chains of two, added,
 * measured faster once; in cycles per block, normalised by the core's
 * clock, one chain is as fast in cache with two fewer instructions.) */
static inline __attribute__((always_inline)) __m512i ds4_x4_plane_sums(const __m512i p[4], const uint8_t *y) {
    __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), p[0], _mm512_loadu_si512(y));
    s = _mm512_dpbusd_epi32(s, p[1], _mm512_loadu_si512(y + 64));
    s = _mm512_dpbusd_epi32(s, p[2], _mm512_loadu_si512(y + 128));
    return _mm512_dpbusd_epi32(s, p[3], _mm512_loadu_si512(y + 192));
}

/* Four floats at p repeated over a register: one load-port broadcast.
 * (GCC turns the intrinsic over a value just stored into three shuffles,
 * which cost Q2_K_X4 ~10% of its cycles.) */
static inline __attribute__((always_inline)) __m512 ds4_x4_bcast4(const float *p) {
    __m512 r;
    __asm__("vbroadcastf32x4 %1, %0" : "=v"(r) : "m"(*(const float(*)[4])p));
    return r;
}

/* acc + the scaled sums of a pair of blocks: s0 and s1 are the two blocks'
 * ds4_x4_plane_sums, packed into words (vpackssdw: 128-bit lane i holds
 * dwords 4i..4i+3 of s0, then of s1), so one vpmaddwd against the scales
 * as words (scw, in that order) applies both blocks' scales: dword lanes
 * 4i, 4i+1 belong to the first block and 4i+2, 4i+3 to the second. d4 is
 * (d0, d0, d1, d1), the blocks' factors as those lanes want them. One
 * pack, multiply, conversion and FMA per two blocks instead of per block;
 * the sums fit 16 bits, so the packing never saturates, and scale x sum
 * pairs fit 32. */
static inline __attribute__((always_inline)) __m512 ds4_x4_pair_fma(__m512i s0, __m512i s1, __m512i scw, const float *d4,
                                                                     __m512 acc) {
    const __m512i v = _mm512_madd_epi16(_mm512_packs_epi32(s0, s1), scw);
    return _mm512_fmadd_ps(ds4_x4_bcast4(d4), _mm512_cvtepi32_ps(v), acc);
}

/* vpermb control that spreads the scale bytes of a pair of blocks as
 * ds4_x4_pair_fma's scw wants them (as the low bytes of words; the high
 * bytes are zeroed by ds4_x4_pair_step's mask): word 8i + e takes scale
 * byte sc(block, dword) for dword 4i + e of the first block (e < 4), else
 * dword 4i + e - 4 of the second. */
static inline void ds4_x4_pair_sc_ctrl(uint8_t ctrl[64], int (*sc)(int block, int dword), int first) {
    for (int p = 0; p < 64; p++) {
        const int word = p / 2, i = word / 8, e = word % 8;
        ctrl[p] = (uint8_t)(e < 4 ? sc(first, 4 * i + e) : sc(first + 1, 4 * i + e - 4));
    }
}

/* (d0, d0, d1, d1, d2, d2, d3, d3) from a group's (d0, dmin0, d1, dmin1,
 * ...) factors: the pair factors ds4_x4_pair_fma reads, pair h at 4h. */
static inline __m256 ds4_x4_pair_factors(__m256 d_dmin) {
    return _mm256_permutexvar_ps(_mm256_setr_epi32(0, 0, 2, 2, 4, 4, 6, 6), d_dmin);
}

/* Pair h of a group against T tokens: the blocks' plane sums s0[t] and
 * s1[t] (s1 NULL when the group ends after the first block), the scales
 * picked from the group's scale register by ctrl (ds4_x4_pair_sc_ctrl),
 * the factors d[t] (ds4_x4_pair_factors), into acc[t][h]. */
static inline __attribute__((always_inline)) void ds4_x4_pair_step(int T, const __m512i *s0, const __m512i *s1,
                                                                   __m512i ctrl, __m512i scales, const float (*d)[8],
                                                                   int h, __m512 (*acc)[2]) {
    const __m512i scw = _mm512_maskz_permutexvar_epi8(0x5555555555555555ull, ctrl, scales);
DS4_UNROLL
    for (int t = 0; t < T; t++)
        acc[t][h] = ds4_x4_pair_fma(s0[t], s1 ? s1[t] : _mm512_setzero_si512(), scw, d[t] + 4 * h, acc[t][h]);
}

/* vgf2p8affineqb matrix that moves bits lo..lo + width - 1 of every byte to
 * bits 0.. and clears the rest (a shift and a mask in one operation):
 * result bit i is the parity of (byte 7 - i of the matrix) & x. */
static inline __m512i ds4_gf2p8_bit_field(int lo, int width) {
    uint64_t a = 0;
    for (int i = 0; i < width; i++) a |= (uint64_t)1 << (lo + i) << (8 * (7 - i));
    return _mm512_set1_epi64((long long)a);
}

#endif
