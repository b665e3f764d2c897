/* AVX-512 (VNNI, VBMI, GFNI) Q2_K_X4 x Q8_K for one, two and four tokens,
 * and two rows at one token.
 *
 * The layout (quant.h) puts sub-block k of a block in dword k of each of its
 * four 2-bit planes, so per block:
 *   - plane 0 is the quant register and 3; planes 1-3 are one vgf2p8affineqb
 *     each (bits 2f..2f+1 of every byte to bits 0-1: a shift and a mask in
 *     one operation);
 *   - the planes meet activations permuted to match (x4_act_prep) in one
 *     chain of four vpdpbusd: lane k is sub-block k's integer dot,
 *     |sum| <= 16 x 3 x 128, so it fits 16 bits;
 *   - two blocks' sums packed into words meet their scales in one
 *     vpmaddwd, exactly; one conversion and one FMA by d x y.d per pair of
 *     blocks (ds4_x4_pair_fma: ~10% fewer cycles per block in cache than
 *     one vpmaddwd, conversion and FMA per block).
 * Per group of 4 blocks the 64 scale bytes are one register: the scales are
 * one and, the mins one vgf2p8affineqb (the high nibble down); the mins x
 * sub-block sums of all 4 blocks are two vpdpbusd against the sums split as
 * 128 h + l (l in 0..127, h signed, both bytes), and the 4 (d, dmin) pairs
 * are one load and one conversion. About 12 vector operations per block
 * against ~22 for the Q2_K layout's table lookups. (Before the pairing, at
 * 14, one Zen 5 core in cache ran 1.25x as fast as the Q2_K layout at one
 * token through ds4_matmul, 35 GB/s against 28, and 1.15x at four.)
 *
 * Per token the operations and their order do not depend on how many tokens
 * or rows share the call, so every form returns exactly dot's result. */
#include "quant/simd.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VBMI__) && \
    defined(__AVX512VNNI__) && defined(__GFNI__) && defined(__F16C__) && defined(__FMA__)

#include <immintrin.h>
#include <pthread.h>
#include <string.h>

#include "quant/quant.h"
#include "quant/simd_x4.h"

/* Prepared activation row: per group of 4 blocks (a short last group is
 * zero-filled to 4), X4_ACT_GROUP bytes:
 *   [0, 1024)     block j's plane f at 256j + 64f: byte 4k + e = y.qs[16k + 4f + e];
 *   [1024, 1088)  l of block j's sub-block k sum at 16j + k;
 *   [1088, 1152)  h of the same sum (bsum = 128 h + l, h signed);
 *   [1152, 1184)  (d, d) of each block as floats; then zero padding. */
#define X4_ACT_L 1024
#define X4_ACT_H 1088
#define X4_ACT_D 1152
#define X4_ACT_GROUP 1216

static int64_t x4_groups(int64_t n) { return (n / QK_K + DS4_X4_BLOCKS - 1) / DS4_X4_BLOCKS; }

static size_t x4_act_bytes(int64_t n) { return (size_t)x4_groups(n) * X4_ACT_GROUP; }

static void x4_act_prep(int64_t n, const void *std_act, void *out) {
    const block_q8_K *y = std_act;
    const int64_t nb = n / QK_K;
    memset(out, 0, x4_act_bytes(n));
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *a = (uint8_t *)out + (b / DS4_X4_BLOCKS) * X4_ACT_GROUP;
        const int j = (int)(b % DS4_X4_BLOCKS);
        ds4_x4_act_planes(y[b].qs, a + 256 * j);
        for (int k = 0; k < 16; k++) {
            const int s = y[b].bsums[k], h = (s >= 0 ? s : s - 127) / 128; /* floor(s / 128) */
            a[X4_ACT_L + 16 * j + k] = (uint8_t)(s - 128 * h);
            a[X4_ACT_H + 16 * j + k] = (uint8_t)(int8_t)h;
        }
        float *d = (float *)(a + X4_ACT_D);
        d[2 * j] = d[2 * j + 1] = y[b].d;
    }
}

static __m512i x4_sc_ctrl[2]; /* pair h of blocks: words <- scale bytes as vpackssdw orders the sums */
static __m512i x4_plane[4];   /* vgf2p8affineqb matrices: bits 2f..2f+1 -> bits 0-1 (f = 1..3); [0]: high nibble down */
static __m512i x4_dmin_ctrl;  /* vpermps: lane i <- dmin of block i / 4 */

/* One row's accumulators against T tokens: the two pairs of blocks of a
 * group in two FMA chains (one chain held a row's 16 blocks to 64 cycles
 * of FMA latency, which one core could not overlap with the next row). */
typedef struct {
    __m512 acc[4][2], accm[4];
} x4_state;

/* Block j of a group, its 64 quant bytes at q, against T tokens: the plane
 * sums s[t] (ds4_x4_plane_sums). */
static inline __attribute__((always_inline)) void x4_block(const uint8_t *q, int T, const uint8_t *const *act, int j,
                                                           __m512i *s) {
    __m512i qs = _mm512_loadu_si512(q);
    DS4_PIN(qs);
    const __m512i p[4] = {_mm512_and_si512(qs, _mm512_set1_epi8(3)), _mm512_gf2p8affine_epi64_epi8(qs, x4_plane[1], 0),
                          _mm512_gf2p8affine_epi64_epi8(qs, x4_plane[2], 0), _mm512_gf2p8affine_epi64_epi8(qs, x4_plane[3], 0)};
DS4_UNROLL
    for (int t = 0; t < T; t++) s[t] = ds4_x4_plane_sums(p, act[t] + 256 * j);
}

/* The group at w of m blocks (m < 4 only at the row's end) against T tokens
 * whose activation groups are act[t]. */
static inline __attribute__((always_inline)) void x4_group(const uint8_t *w, int m, int T, const uint8_t *const *act,
                                                           x4_state *st) {
    const bool full = m == DS4_X4_BLOCKS;
    __m512i sb = full ? _mm512_loadu_si512(w + 4 * m) : _mm512_maskz_loadu_epi8(~0ull >> (64 - 16 * m), w + 4 * m);
    DS4_PIN(sb);
    const __m512i sc = _mm512_and_si512(sb, _mm512_set1_epi8(15));
    const __m512i mn = _mm512_gf2p8affine_epi64_epi8(sb, x4_plane[0], 0);
    const __m128i dmh = full ? _mm_loadu_si128((const __m128i *)w) : _mm_maskz_loadu_epi16((__mmask8)((1u << (2 * m)) - 1), w);
    const __m256 dmw = _mm256_cvtph_ps(dmh); /* d0 dmin0 d1 dmin1 ... */
    float dd[4][8]; /* per token (d0, d0, d1, d1, d2, d2, d3, d3) x y.d, for ds4_x4_pair_fma */
DS4_UNROLL
    for (int t = 0; t < T; t++) {
        const __m256 dmt = _mm256_mul_ps(dmw, _mm256_loadu_ps((const float *)(act[t] + X4_ACT_D)));
        _mm256_storeu_ps(dd[t], ds4_x4_pair_factors(dmt));
        __m512i pm = _mm512_dpbusd_epi32(_mm512_setzero_si512(), mn, _mm512_loadu_si512(act[t] + X4_ACT_H));
        pm = _mm512_dpbusd_epi32(_mm512_slli_epi32(pm, 7), mn, _mm512_loadu_si512(act[t] + X4_ACT_L));
        st->accm[t] = _mm512_fmadd_ps(_mm512_permutexvar_ps(x4_dmin_ctrl, _mm512_castps256_ps512(dmt)),
                                      _mm512_cvtepi32_ps(pm), st->accm[t]);
    }
DS4_UNROLL
    for (int h = 0; h < 2; h++) {
        if (2 * h >= m) break;
        __m512i s0[4], s1[4];
        const bool two = 2 * h + 1 < m;
        x4_block(w + 20 * m + 128 * h, T, act, 2 * h, s0);
        if (two) x4_block(w + 20 * m + 128 * h + 64, T, act, 2 * h + 1, s1);
        ds4_x4_pair_step(T, s0, two ? s1 : NULL, x4_sc_ctrl[h], sc, dd, h, st->acc);
    }
}

static inline __attribute__((always_inline)) void x4_begin(int T, x4_state *st) {
DS4_UNROLL
    for (int t = 0; t < T; t++) st->acc[t][0] = st->acc[t][1] = st->accm[t] = _mm512_setzero_ps();
}

static inline __attribute__((always_inline)) void x4_end(int T, const x4_state *st, float *out) {
DS4_UNROLL
    for (int t = 0; t < T; t++)
        out[t] = _mm512_reduce_add_ps(_mm512_sub_ps(_mm512_add_ps(st->acc[t][0], st->acc[t][1]), st->accm[t]));
}

/* Group g of row w (nb blocks) into st; a short last group is its own
 * instance. No software prefetch: on the Zen 5 guest prefetches 2 and 4 KiB
 * ahead into L1 or 8 KiB into L2 streamed no faster than the hardware
 * prefetchers alone (docs/performance.md, session 11). */
static inline __attribute__((always_inline)) void x4_row(int64_t nb, const uint8_t *w, int T, const uint8_t *const *act,
                                                         x4_state *st, int64_t g) {
    const uint8_t *a[4];
    const int64_t left = nb - g * DS4_X4_BLOCKS;
DS4_UNROLL
    for (int t = 0; t < T; t++) a[t] = act[t] + g * X4_ACT_GROUP;
    const uint8_t *wg = w + g * DS4_X4_BLOCKS * sizeof(block_q2_K);
    if (left >= DS4_X4_BLOCKS) x4_group(wg, DS4_X4_BLOCKS, T, a, st);
    else x4_group(wg, (int)left, T, a, st);
}

static inline __attribute__((always_inline)) void x4_dot_rows(int64_t n, const void *w, int T,
                                                              const uint8_t *const *act, float *out, bool pf) {
    (void)pf;
    const int64_t nb = n / QK_K;
    x4_state st;
    x4_begin(T, &st);
    for (int64_t g = 0; g < x4_groups(n); g++) x4_row(nb, w, T, act, &st, g);
    x4_end(T, &st, out);
}

/* Rows w0 and w1 against one token, group by group (ds4_dot_rows2_fn). */
static void rows2_q2_k_x4(int64_t n, const void *w0, const void *w1, const void *act, float out[2]) {
    const int64_t nb = n / QK_K;
    const uint8_t *a[1] = {act};
    x4_state s0, s1;
    x4_begin(1, &s0);
    x4_begin(1, &s1);
    for (int64_t g = 0; g < x4_groups(n); g++) {
        x4_row(nb, w0, 1, a, &s0, g);
        x4_row(nb, w1, 1, a, &s1, g);
    }
    x4_end(1, &s0, out);
    x4_end(1, &s1, out + 1);
}

DS4_DOT_ENTRIES(q2_k_x4, x4_dot_rows, , false)

/* Q2_K_X4: lane k of a block's plane sums is sub-block k */
static int x4_sc_byte(int block, int dword) { return 16 * block + dword; }

static void x4_init(void) {
    uint8_t c[64];
    for (int h = 0; h < 2; h++) {
        ds4_x4_pair_sc_ctrl(c, x4_sc_byte, 2 * h);
        memcpy(&x4_sc_ctrl[h], c, 64);
    }
    x4_plane[0] = ds4_gf2p8_bit_field(4, 4);
    for (int f = 1; f < 4; f++) x4_plane[f] = ds4_gf2p8_bit_field(2 * f, 2);
    int32_t dm[16];
    for (int i = 0; i < 16; i++) dm[i] = 2 * (i / 4) + 1;
    memcpy(&x4_dmin_ctrl, dm, sizeof dm);
}

bool ds4_simd_avx512_q2_k_x4_kernel(ds4_dot_kernel *k) {
    if (!ds4_simd_cpu_has_gfni()) return false;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, x4_init);
    *k = (ds4_dot_kernel){.dot = dot_q2_k_x4, .dot2 = dot2_q2_k_x4, .dot4 = dot4_q2_k_x4, .rows2 = rows2_q2_k_x4,
                          .act_bytes = x4_act_bytes, .act_prep = x4_act_prep};
    return true;
}

#else

bool ds4_simd_avx512_q2_k_x4_kernel(ds4_dot_kernel *k) {
    (void)k;
    return false;
}

#endif
