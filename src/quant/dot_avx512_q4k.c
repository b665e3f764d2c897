/* AVX-512 (VBMI + VNNI) Q4_K x Q8_K for one, two and four tokens.
 *
 * The AVX2 kernel is compute-bound at 16-19 GB/s of weights per core, too
 * close to the DRAM share of one core to stream at the memory's rate with
 * two threads (`ds4 bench kernels --resident --types Q4_K --shape 512x4096`,
 * one core, best of 5 on the shared VM: AVX2 19.5 GB/s; this kernel 32.9
 * for one token, 43.8 for two, 51.6 for four). Here:
 *   - the 128 quant bytes are two registers; each gives a low-nibble (and)
 *     and a high-nibble register (vpmultishiftqb + and: port 5, where a
 *     shift would take port 0, which the VNNI uops already fill), 4 weight
 *     registers per block; the activations are permuted once per matvec
 *     (q4k_act_prep) so one 64-byte load meets each weight register;
 *   - vpdpbusd (nibbles unsigned x activations signed) sums 4 products per
 *     dword, and every dword lies within one 32-element sub-block (lanes
 *     0-7 one sub-block, 8-15 another); its value fits 16 bits
 *     (|4 x 15 x 128| < 2^15), so the low- and high-nibble sums of a half
 *     are packed into words (vpackssdw, exact) and one vpmaddwd / vpdpwssd
 *     per half against 16-bit sub-block scales applies the 6-bit scales and
 *     accumulates in integers: one conversion and one FMA per block;
 *   - the 12 scale bytes of 4 blocks are unpacked together on dword lanes
 *     (q4k_unpack4: two vpshufd, two shifts, three logic ops); each scale-
 *     word vector is then one zero-masked vpermb of that register, and the
 *     mins of two blocks as words one more; mins x sub-block bsum pairs
 *     (summed in the prepared activations), two blocks per vpmaddwd.
 *     Unpacking per block in scalar code instead was ~5% slower for one
 *     token, ~3% faster for four (spills of the mins accumulators in dot4);
 *   - the 16-byte loads that bring the scale bytes start at the block, so
 *     they carry d and dmin too: one vpermd collects the four blocks' f16
 *     pairs, one vcvtph2ps converts them, and d x y.d, dmin x y.d go to a
 *     stack array read as broadcast FMA operands (this replaced a gather of
 *     8 blocks' pairs a run of 32 blocks ahead, which waited on DRAM lines
 *     the stream had not brought yet: ~13% faster per core in cache on
 *     Zen 5, and faster from DRAM);
 *   - per token the operations and their order do not depend on how many
 *     tokens share the decode, so dot2/dot4 return exactly dot's result. */
#include "quant/simd.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VBMI__) && \
    defined(__AVX512VNNI__) && defined(__F16C__) && defined(__FMA__)

#include <immintrin.h>
#include <string.h>

#include "quant/quant.h"

/* Prepared activation row of nb Q8_K blocks: nb x 256 quant bytes in
 * register order, then nb x 8 int16 sub-block sums (bsums[2k] +
 * bsums[2k+1]), then nb pairs (d, d) as floats. Register r = 2h + s of a
 * block (h: quant half, s: 0 low nibbles, 1 high) holds at byte p the
 * element 64 (2h + p / 32) + 32 s + p % 32. */
#define Q4K_ACT_QS 256
#define Q4K_ACT_BS 16
#define Q4K_ACT_D2 8

static size_t q4k_act_bytes(int64_t n) {
    return ((size_t)(n / QK_K) * (Q4K_ACT_QS + Q4K_ACT_BS + Q4K_ACT_D2) + 63) & ~(size_t)63;
}

/* The sub-block sums, the (d, d) pairs and the padding of a prepared row;
 * the quants are the caller's (their order is the kernel's). */
static void q4k_act_sums(int64_t n, const block_q8_K *y, uint8_t *o) {
    const int64_t nb = n / QK_K;
    uint8_t *bs = o + nb * Q4K_ACT_QS;
    float *d2 = (float *)(bs + nb * Q4K_ACT_BS);
    for (int64_t b = 0; b < nb; b++) {
        for (int k = 0; k < 8; k++) {
            int16_t s = (int16_t)(y[b].bsums[2 * k] + y[b].bsums[2 * k + 1]);
            memcpy(bs + Q4K_ACT_BS * b + 2 * k, &s, 2);
        }
        d2[2 * b] = d2[2 * b + 1] = y[b].d;
    }
    const size_t used = (size_t)nb * (Q4K_ACT_QS + Q4K_ACT_BS + Q4K_ACT_D2);
    memset(o + used, 0, q4k_act_bytes(n) - used);
}

static void q4k_act_prep(int64_t n, const void *std_act, void *out) {
    const block_q8_K *y = std_act;
    uint8_t *o = out;
    for (int64_t b = 0; b < n / QK_K; b++)
        for (int r = 0; r < 4; r++)
            for (int half = 0; half < 2; half++)
                memcpy(o + Q4K_ACT_QS * b + 64 * r + 32 * half, y[b].qs + 64 * ((r / 2) * 2 + half) + 32 * (r % 2), 32);
    q4k_act_sums(n, y, o);
}

static __m512i q4k_sc_ctrl[4][2]; /* block j of 4, half h: word w of 128-bit lane L <- byte 16j + 4h + 2 (L / 2) + (w >= 4) */
static __m512i q4k_mn_ctrl[2];    /* blocks 2p, 2p + 1: word w <- byte 16 (2p + w / 8) + 8 + w % 8 */
static __m512i q4k_un_m1, q4k_un_m2, q4k_un_sh; /* q4k_unpack4 masks and shift counts */
static __m512i q4k_dm_ctrl;       /* vpermd: dword 0 of each 128-bit lane to dwords 0-3 */

/* The scale bytes of four blocks (block j in 128-bit lane j: the block's
 * first 16 bytes, d and dmin, then the scale bytes in dwords a, b, c) as
 * bytes: lane j = 8 scales, then 8 mins (formats.md B.3):
 *   scales 0-3 = a & 63, scales 4-7 = (c & 15) | ((a >> 6) << 4),
 *   mins 0-3   = b & 63, mins 4-7   = (c >> 4) | ((b >> 6) << 4),
 * four blocks at once on dword lanes. */
static inline __attribute__((always_inline)) __m512i q4k_unpack4(__m512i r) {
    const __m512i p = _mm512_srlv_epi32(_mm512_shuffle_epi32(r, _MM_SHUFFLE(3, 2, 3, 1)), q4k_un_sh); /* a c b c>>4 */
    const __m512i q = _mm512_srli_epi32(_mm512_shuffle_epi32(r, _MM_SHUFFLE(2, 2, 1, 1)), 2);        /* . a>>2 . b>>2 */
    return _mm512_or_si512(_mm512_and_si512(p, q4k_un_m1), _mm512_and_si512(q, q4k_un_m2));
}

/* Block j's four nibble registers and its per-lane scale words (from u,
 * q4k_unpack4's result). */
static inline __attribute__((always_inline)) void q4k_weights(const block_q4_K *x, __m512i u, int j, __m512i w[4],
                                                               __m512i sv[2]) {
    const __m512i m4 = _mm512_set1_epi8(15);
    __m512i q0 = _mm512_loadu_si512(x->qs), q1 = _mm512_loadu_si512(x->qs + 64);
    DS4_PIN(q0);
    DS4_PIN(q1);
    w[0] = _mm512_and_si512(q0, m4);
    const __m512i hs = _mm512_set1_epi64(0x3C342C241C140C04ll); /* byte j of a qword <- bits 8j+4.. */
    w[1] = _mm512_and_si512(_mm512_multishift_epi64_epi8(hs, q0), m4);
    w[2] = _mm512_and_si512(q1, m4);
    w[3] = _mm512_and_si512(_mm512_multishift_epi64_epi8(hs, q1), m4);
    sv[0] = _mm512_maskz_permutexvar_epi8(0x5555555555555555ull, q4k_sc_ctrl[j][0], u);
    sv[1] = _mm512_maskz_permutexvar_epi8(0x5555555555555555ull, q4k_sc_ctrl[j][1], u);
}

/* acc += dall x (sum over the block's sub-blocks of scale x integer dot). */
static inline __attribute__((always_inline)) __m512 q4k_acc(const __m512i w[4], const __m512i sv[2], const uint8_t *y,
                                                            const float *dall, __m512 acc) {
    const __m512i z = _mm512_setzero_si512();
    __m512i p[4];
DS4_UNROLL
    for (int r = 0; r < 4; r++) p[r] = _mm512_dpbusd_epi32(z, w[r], _mm512_loadu_si512((const void *)(y + 64 * r)));
    /* low- and high-nibble sums of a half packed into words (they fit):
     * each dword then holds two sums of one sub-block */
    __m512i s = _mm512_madd_epi16(_mm512_packs_epi32(p[0], p[1]), sv[0]);
    s = _mm512_dpwssd_epi32(s, _mm512_packs_epi32(p[2], p[3]), sv[1]);
    return _mm512_fmadd_ps(_mm512_set1_ps(*dall), _mm512_cvtepi32_ps(s), acc);
}

/* Software prefetch: into L2 (prefetcht1) 8 KiB ahead and into L1 512 B
 * ahead. This kernel consumes weights ~1.7x as fast as the AVX2 one, and
 * with the usual L1 prefetch 4 KiB ahead it streamed from DRAM *slower*
 * than AVX2 (one thread, `ds4 bench kernels --threads 1 --types Q4_K`,
 * pfrac over the four Flash shapes: 0.60-0.71 vs 0.82-0.87; L1 only at
 * 1 KiB 0.68-0.85, at 8 KiB 0.59-0.68; L2 only at 6-16 KiB 0.77-0.84; L2
 * 8 KiB + L1 512 B 0.85-0.88, the AVX2 kernel's rate). L1 prefetches hold
 * a fill buffer for the whole DRAM latency, so far ones limit the misses in
 * flight; L2 ones do not. Those runs were on the Intel guest; on Zen 5 the
 * kernel streams faster with no software prefetch at all (two threads,
 * pfrac 0.69-0.85 against 0.62-0.78), so it is issued only where
 * ds4_simd_sw_prefetch() says so. */
#ifndef Q4K_PF_L2
#define Q4K_PF_L2 8192
#endif
#ifndef Q4K_PF_L1
#define Q4K_PF_L1 512
#endif

/* (d, dmin) x y.d of a group of nq blocks into dd[t] (d of block j at
 * 2j, dmin at 2j + 1), from the f16 pairs in dword 0 of r's lanes,
 * converted together; stored for the broadcast FMA operands that read them
 * (a plain store forwards to those loads). */
static inline __attribute__((always_inline)) void q4k_factors(__m512i r, int nq, int T, const float *const *yd2,
                                                               int64_t b, float dd[][8]) {
    const __m256 dm = _mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutexvar_epi32(q4k_dm_ctrl, r)));
DS4_UNROLL
    for (int t = 0; t < T; t++)
        _mm256_storeu_ps(dd[t], _mm256_mul_ps(dm, _mm256_maskz_loadu_ps((__mmask8)((1u << (2 * nq)) - 1), yd2[t] + 2 * b)));
}

/* accm[t] += dmin x y.d x (mins . sub-block sums) for the nq blocks of a
 * group, two blocks per vpmaddwd (16 mins x 16 sums); u is q4k_unpack4's
 * result, dd q4k_factors'. */
static inline __attribute__((always_inline)) void q4k_mins(__m512i u, int nq, int T, const uint8_t *const *bs, int64_t b,
                                                            float dd[][8], __m256 *accm) {
DS4_UNROLL
    for (int j = 0; j < 4; j += 2) {
        if (j >= nq) break;
        const bool two = j + 1 < nq;
        const __m256i mins = _mm512_castsi512_si256(_mm512_maskz_permutexvar_epi8(0x5555555555555555ull, q4k_mn_ctrl[j / 2], u));
        const __mmask16 bsm = two ? 0xFFFF : 0x00FF;
DS4_UNROLL
        for (int t = 0; t < T; t++) {
            const __m256i pm = _mm256_madd_epi16(mins, _mm256_maskz_loadu_epi16(bsm, bs[t] + (b + j) * Q4K_ACT_BS));
            /* (dmin_j x 4, dmin_j+1 x 4) x y.d by one vpermps (GCC made two
             * broadcasts from dd and a blend into five shuffles) */
            const __m256i ctrl = _mm256_setr_epi32(2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 3, 2 * j + 3,
                                                   2 * j + 3, 2 * j + 3);
            const __m256 dmin = _mm256_maskz_permutexvar_ps(two ? 0xFF : 0x0F, ctrl, _mm256_loadu_ps(dd[t]));
            accm[t] = _mm256_fmadd_ps(dmin, _mm256_cvtepi32_ps(pm), accm[t]);
        }
    }
}

/* Blocks b .. b + nq - 1 (nq <= 4) against T tokens. r holds the first 16
 * bytes of block j in 128-bit lane j (d, dmin and the 12 scale bytes; a
 * missing block repeats block 0). */
static inline __attribute__((always_inline)) void q4k_group(const block_q4_K *x, __m512i r, int nq, int T,
                                                             const uint8_t *const *act, int64_t b,
                                                             const float *const *yd2, const uint8_t *const *bs,
                                                             __m512 *acc, __m256 *accm) {
    const __m512i u = q4k_unpack4(r);
    float dd[4][8];
    q4k_factors(r, nq, T, yd2, b, dd);
DS4_UNROLL
    for (int j = 0; j < nq; j++) {
        /* one block's weights at a time: 6 registers live besides the accumulators */
        __m512i w[4], sv[2];
        q4k_weights(x + j, u, j, w, sv);
DS4_UNROLL
        for (int t = 0; t < T; t++) acc[t] = q4k_acc(w, sv, act[t] + (b + j) * Q4K_ACT_QS, dd[t] + 2 * j, acc[t]);
    }
    q4k_mins(u, nq, T, bs, b, dd, accm);
}

/* Row x against T prepared activation rows (T <= 4); out[t] per row. */
static inline __attribute__((always_inline)) void q4k_dot_rows(int64_t n, const block_q4_K *x, int T,
                                                                const uint8_t *const *act, float *out, bool pf) {
    const int64_t nb = n / QK_K;
    const uint8_t *bs[4];
    const float *yd2[4];
    __m512 acc[4];
    __m256 accm[4];
DS4_UNROLL
    for (int t = 0; t < T; t++) {
        bs[t] = act[t] + nb * Q4K_ACT_QS;
        yd2[t] = (const float *)(bs[t] + nb * Q4K_ACT_BS);
        acc[t] = _mm512_setzero_ps();
        accm[t] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b += 4) {
        const int nq = nb - b < 4 ? (int)(nb - b) : 4; /* below 4 only at the row's end */
        for (int o = 0; pf && o < nq * (int)sizeof *x; o += 64) {
            __builtin_prefetch((const uint8_t *)(x + b) + o + Q4K_PF_L2, 0, 2);
            __builtin_prefetch((const uint8_t *)(x + b) + o + Q4K_PF_L1, 0, 3);
        }
        /* the first 16 bytes of the 4 blocks (a missing one repeats block b) */
        __m512i r = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)&x[b]));
        r = _mm512_inserti32x4(r, _mm_loadu_si128((const __m128i *)&x[b + (nq > 1)]), 1);
        r = _mm512_inserti32x4(r, _mm_loadu_si128((const __m128i *)&x[b + (nq > 2 ? 2 : 0)]), 2);
        r = _mm512_inserti32x4(r, _mm_loadu_si128((const __m128i *)&x[b + (nq > 3 ? 3 : 0)]), 3);
        if (nq == 4) q4k_group(x + b, r, 4, T, act, b, yd2, bs, acc, accm);
        else q4k_group(x + b, r, nq, T, act, b, yd2, bs, acc, accm);
    }
DS4_UNROLL
    for (int t = 0; t < T; t++)
        out[t] = _mm512_reduce_add_ps(_mm512_sub_ps(acc[t], _mm512_zextps256_ps512(accm[t])));
}

/* entry points with software prefetch (pf) and without (hw: the hardware
 * prefetchers alone) */
DS4_DOT_ENTRIES(q4_K, q4k_dot_rows, _pf, true)
DS4_DOT_ENTRIES(q4_K, q4k_dot_rows, _hw, false)

/* ---- Q4_K_X4: Q4_K grouped at load (quant.h) ----
 * Each dword of the four nibble planes lies in one sub-block (k / 2 for
 * dword k), so a block's planes against activations permuted to match
 * (ds4_x4_act_planes) meet in one vpdpbusd chain that has sub-block
 * k / 2's partial dot in lane k (|sum| <= 16 x 15 x 128 < 2^15); two
 * blocks' sums packed into words meet the 6-bit scales in one vpmaddwd,
 * exactly, then one conversion and FMA per pair (ds4_x4_pair_fma). The
 * high nibbles are one vgf2p8affineqb each. A group's 4 (d, dmin) pairs
 * and 48 scale bytes are one 64-byte load, arranged by one vpermd into the
 * lanes q4k_unpack4 reads. The mins are the
 * stored layout's. Per token the operations do not depend on how many
 * tokens or rows share the call. */
#if defined(__GFNI__)

#include <pthread.h>

#include "quant/simd_x4.h"

static __m512i q4x_hdr_ctrl[4]; /* m blocks: lane j <- dword j ((d, dmin)), dwords m + 3j .. m + 3j + 2 (scales) */
static __m512i q4x_sc_ctrl[2];  /* pair h of blocks: words <- scale bytes of q4k_unpack4's result, as vpackssdw orders the sums */
static __m512i q4x_hi;          /* vgf2p8affineqb: high nibble down */

/* The stored layout's prepared activations with the quants in plane order. */
static void q4x_act_prep(int64_t n, const void *std_act, void *out) {
    const block_q8_K *y = std_act;
    for (int64_t b = 0; b < n / QK_K; b++) ds4_x4_act_planes(y[b].qs, (uint8_t *)out + Q4K_ACT_QS * b);
    q4k_act_sums(n, y, out);
}

typedef struct {
    __m512 acc[4][2]; /* the two pairs of blocks of a group: two FMA chains */
    __m256 accm[4];
} q4x_state;

/* Block b of the row, its 128 quant bytes at q, against T tokens: the
 * plane sums s[t] (ds4_x4_plane_sums). */
static inline __attribute__((always_inline)) void q4x_block(const uint8_t *q, int T, const uint8_t *const *act, int64_t b,
                                                            __m512i *s) {
    __m512i q0 = _mm512_loadu_si512(q), q1 = _mm512_loadu_si512(q + 64);
    DS4_PIN(q0);
    DS4_PIN(q1);
    const __m512i m4 = _mm512_set1_epi8(15);
    const __m512i p[4] = {_mm512_and_si512(q0, m4), _mm512_gf2p8affine_epi64_epi8(q0, q4x_hi, 0), _mm512_and_si512(q1, m4),
                          _mm512_gf2p8affine_epi64_epi8(q1, q4x_hi, 0)};
DS4_UNROLL
    for (int t = 0; t < T; t++) s[t] = ds4_x4_plane_sums(p, act[t] + b * Q4K_ACT_QS);
}

/* The group at w of m blocks (m < 4 only at the row's end), blocks b.. of
 * the row, against T tokens. */
static inline __attribute__((always_inline)) void q4x_group(const uint8_t *w, int m, int T, const uint8_t *const *act,
                                                            int64_t b, const float *const *yd2,
                                                            const uint8_t *const *bs, q4x_state *st) {
    const bool full = m == DS4_X4_BLOCKS;
    __m512i h = full ? _mm512_loadu_si512(w) : _mm512_maskz_loadu_epi8(~0ull >> (64 - 16 * m), w);
    DS4_PIN(h);
    const __m512i r = _mm512_permutexvar_epi32(q4x_hdr_ctrl[m - 1], h);
    const __m512i u = q4k_unpack4(r);
    float dd[4][8], dp[4][8]; /* q4k_factors; dp: (d0, d0, d1, d1, ...) x y.d for ds4_x4_pair_fma */
    q4k_factors(r, m, T, yd2, b, dd);
DS4_UNROLL
    for (int t = 0; t < T; t++) _mm256_storeu_ps(dp[t], ds4_x4_pair_factors(_mm256_loadu_ps(dd[t])));
DS4_UNROLL
    for (int h = 0; h < 2; h++) {
        if (2 * h >= m) break;
        __m512i s0[4], s1[4];
        const bool two = 2 * h + 1 < m;
        q4x_block(w + 16 * m + 256 * h, T, act, b + 2 * h, s0);
        if (two) q4x_block(w + 16 * m + 256 * h + 128, T, act, b + 2 * h + 1, s1);
        ds4_x4_pair_step(T, s0, two ? s1 : NULL, q4x_sc_ctrl[h], u, dp, h, st->acc);
    }
    q4k_mins(u, m, T, bs, b, dd, st->accm);
}

static inline __attribute__((always_inline)) void q4x_begin(int64_t nb, int T, const uint8_t *const *act,
                                                            const uint8_t **bs, const float **yd2, q4x_state *st) {
DS4_UNROLL
    for (int t = 0; t < T; t++) {
        bs[t] = act[t] + nb * Q4K_ACT_QS;
        yd2[t] = (const float *)(bs[t] + nb * Q4K_ACT_BS);
        st->acc[t][0] = st->acc[t][1] = _mm512_setzero_ps();
        st->accm[t] = _mm256_setzero_ps();
    }
}

static inline __attribute__((always_inline)) void q4x_step(int64_t nb, const uint8_t *w, int T, const uint8_t *const *act,
                                                           const float *const *yd2, const uint8_t *const *bs,
                                                           q4x_state *st, int64_t b) {
    const uint8_t *wg = w + b * sizeof(block_q4_K);
    if (nb - b >= DS4_X4_BLOCKS) q4x_group(wg, DS4_X4_BLOCKS, T, act, b, yd2, bs, st);
    else q4x_group(wg, (int)(nb - b), T, act, b, yd2, bs, st);
}

static inline __attribute__((always_inline)) void q4x_end(int T, const q4x_state *st, float *out) {
DS4_UNROLL
    for (int t = 0; t < T; t++)
        out[t] = _mm512_reduce_add_ps(_mm512_sub_ps(_mm512_add_ps(st->acc[t][0], st->acc[t][1]),
                                                    _mm512_zextps256_ps512(st->accm[t])));
}

/* Row w against T prepared activation rows (T <= 4). No software prefetch
 * (the hardware prefetchers alone, as for the stored layout on Zen 5). */
static inline __attribute__((always_inline)) void q4x_dot_rows(int64_t n, const void *w, int T,
                                                               const uint8_t *const *act, float *out, bool pf) {
    (void)pf;
    const int64_t nb = n / QK_K;
    const uint8_t *bs[4];
    const float *yd2[4];
    q4x_state st;
    q4x_begin(nb, T, act, bs, yd2, &st);
    for (int64_t b = 0; b < nb; b += DS4_X4_BLOCKS) q4x_step(nb, w, T, act, yd2, bs, &st, b);
    q4x_end(T, &st, out);
}

/* Rows w0 and w1 against one token, group by group (ds4_dot_rows2_fn). */
static void rows2_q4_k_x4(int64_t n, const void *w0, const void *w1, const void *act, float out[2]) {
    const int64_t nb = n / QK_K;
    const uint8_t *a[1] = {act}, *bs[1];
    const float *yd2[1];
    q4x_state s0, s1;
    q4x_begin(nb, 1, a, bs, yd2, &s0);
    q4x_begin(nb, 1, a, bs, yd2, &s1);
    for (int64_t b = 0; b < nb; b += DS4_X4_BLOCKS) {
        q4x_step(nb, w0, 1, a, yd2, bs, &s0, b);
        q4x_step(nb, w1, 1, a, yd2, bs, &s1, b);
    }
    q4x_end(1, &s0, out);
    q4x_end(1, &s1, out + 1);
}

DS4_DOT_ENTRIES(q4_k_x4, q4x_dot_rows, , false)

/* Q4_K_X4: lane k of a block's plane sums is sub-block k / 2, whose scale
 * q4k_unpack4 leaves at byte 16 x block + k / 2 */
static int q4x_sc_byte(int block, int dword) { return 16 * block + dword / 2; }

static void q4x_init(void) {
    for (int m = 1; m <= 4; m++) {
        int32_t c[16];
        for (int l = 0; l < 16; l++) {
            const int j = l / 4 < m ? l / 4 : 0, i = l % 4; /* a missing block repeats block 0 */
            c[l] = i == 0 ? j : m + 3 * j + i - 1;
        }
        memcpy(&q4x_hdr_ctrl[m - 1], c, sizeof c);
    }
    uint8_t ctrl[64];
    for (int h = 0; h < 2; h++) {
        ds4_x4_pair_sc_ctrl(ctrl, q4x_sc_byte, 2 * h);
        memcpy(&q4x_sc_ctrl[h], ctrl, 64);
    }
    q4x_hi = ds4_gf2p8_bit_field(4, 4);
}

bool ds4_simd_avx512_q4_k_x4_kernel(ds4_dot_kernel *k) {
    if (!ds4_simd_cpu_has_gfni()) return false;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, q4x_init);
    *k = (ds4_dot_kernel){.dot = dot_q4_k_x4, .dot2 = dot2_q4_k_x4, .dot4 = dot4_q4_k_x4, .rows2 = rows2_q4_k_x4,
                          .act_bytes = q4k_act_bytes, .act_prep = q4x_act_prep};
    return true;
}

#else

bool ds4_simd_avx512_q4_k_x4_kernel(ds4_dot_kernel *k) {
    (void)k;
    return false;
}

#endif

void ds4_simd_avx512_q4k_init(void) {
    uint8_t ctrl[64];
    for (int j = 0; j < 4; j++)
        for (int h = 0; h < 2; h++) {
            for (int p = 0; p < 64; p++) ctrl[p] = (uint8_t)(16 * j + 4 * h + 2 * (p / 32) + (p % 16 >= 8));
            memcpy(&q4k_sc_ctrl[j][h], ctrl, 64);
        }
    for (int pr = 0; pr < 2; pr++) {
        for (int p = 0; p < 64; p++) ctrl[p] = (uint8_t)(16 * (2 * pr + (p / 2) / 8) + 8 + (p / 2) % 8);
        memcpy(&q4k_mn_ctrl[pr], ctrl, 64);
    }
    uint32_t m1[16], m2[16], sh[16];
    for (int l = 0; l < 16; l++) {
        m1[l] = l % 2 ? 0x0f0f0f0fu : 0x3f3f3f3fu;
        m2[l] = l % 2 ? 0x30303030u : 0;
        sh[l] = l % 4 == 3 ? 4 : 0;
    }
    memcpy(&q4k_un_m1, m1, 64);
    memcpy(&q4k_un_m2, m2, 64);
    memcpy(&q4k_un_sh, sh, 64);
    int32_t dm[16];
    for (int i = 0; i < 16; i++) dm[i] = 4 * (i % 4);
    memcpy(&q4k_dm_ctrl, dm, sizeof dm);
}

bool ds4_simd_avx512_q4_K_kernel(ds4_dot_kernel *k, bool pf) {
    *k = (ds4_dot_kernel){.dot = pf ? dot_q4_K_pf : dot_q4_K_hw, .dot2 = pf ? dot2_q4_K_pf : dot2_q4_K_hw,
                          .dot4 = pf ? dot4_q4_K_pf : dot4_q4_K_hw, .act_bytes = q4k_act_bytes, .act_prep = q4k_act_prep};
    return true;
}

#else

void ds4_simd_avx512_q4k_init(void) {}

bool ds4_simd_avx512_q4_k_x4_kernel(ds4_dot_kernel *k) {
    (void)k;
    return false;
}

bool ds4_simd_avx512_q4_K_kernel(ds4_dot_kernel *k, bool pf) {
    (void)k;
    (void)pf;
    return false;
}

#endif
