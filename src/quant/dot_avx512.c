/* AVX-512 kernels where they pay over AVX2.
 *
 * IQ2_XXS is the compute-bound type (66 bytes decode into 256 values through
 * a 2 KB grid table). The AVX2 kernel assembles the grid rows with scalar
 * loads; here two blocks are decoded at once with byte permutes (VBMI):
 *   - two masked in-lane vpshufd pull the 64 grid indices and the 16
 *     sign/scale words of two blocks into two registers;
 *   - each index maps to its 16-bit level code (ds4_kgrid_2bit_256: 2 bits per
 *     element) through 256-entry byte tables (two vpermi2b + blend per byte);
 *   - vpmultishiftqb cuts the 7-bit sign indices out of the sign words and a
 *     128-entry vpermi2b maps them to sign bytes (bit j: element j negative);
 *   - the signs go into the weights, not the activations: per element pair
 *     one vpternlogd merges the two level codes and the two sign bits into
 *     a 6-bit index, and two 64-entry vpermb tables give 43 + sign x level
 *     (0..86, unsigned as vpdpbusd wants it); the bias 43 x sum(y) of each
 *     group is prepared with the activations and starts the dword sum. This
 *     replaced 8 vptestmb sign masks and 8 masked negations per pair (and
 *     per token), 16 of the ~60 vector uops that bound this kernel;
 *   - vpdpbusd (VNNI) sums 4 products per dword, and every dword then holds
 *     exactly one 32-value group (the two blocks' groups alternate), so one
 *     float vector d x (2t+1) per pair (vcvtph2ps of the broadcast f16 pair
 *     (d0, d1), times a 16-entry vpermps table of 2t+1) scales it: no scalar
 *     f16 conversions and no vpmulld.
 * The decoded weights come out in "lookup order" (element j of all 64
 * octets per register), so the activations are permuted once per matvec
 * into that order (iq2_act_prep) instead of permuting weights per row.
 *
 * Q8_0 (dot_avx512_q8.c), Q4_K (dot_avx512_q4k.c) and F32/F16/BF16 (dot_avx512_float.c) live in
 * their own files. */
#include "quant/simd.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VBMI__) && \
    defined(__AVX512VNNI__) && defined(__F16C__) && defined(__FMA__)

#include <immintrin.h>
#include <pthread.h>
#include <string.h>

#include "quant/iq2xxs_tables.h"
#include "quant/quant.h"

/* ---- IQ2_XXS x Q8_K (prepared activation layout) ---- */

/* Activation layout for a pair of Q8_K blocks: 8 registers of 64 bytes,
 * register 4h+m holding element j = 4h+m of every octet, octet p = 4(2g+b)
 * + k (group g, block b of the pair, octet k: the two blocks' groups
 * interleave, so dword lane l holds group l/2 of block l%2); then 16 floats
 * 0.125 x the block scale of lane l's block (one vector operand per pair);
 * then 16 int32 -43 x (sum of the group's 32 activations) per lane: the
 * weights enter vpdpbusd as 43 + sign x level (unsigned), so each group
 * sum starts from that correction. */
#define IQ2_PAIR_BYTES 640
#define IQ2_PAIR_SCALES 512
#define IQ2_PAIR_CORR 576
#define IQ2_BIAS 43

static size_t iq2_act_bytes(int64_t n) {
    int64_t pairs = (n / QK_K + 1) / 2;
    return (size_t)pairs * IQ2_PAIR_BYTES;
}

static __m512i iq2_octet_transpose; /* vpermb control: byte 8j + p <- byte 8p + j */

/* Per pair, each block's 32 octets are transposed 8 at a time (one vpermb
 * per 64 bytes: qword j then holds element j of 8 octets, i.e. of groups
 * 2i and 2i + 1), and the dwords (4 octets of one group) are then dealt
 * into the 8 registers, the blocks alternating. The group sums come from
 * the Q8_K bsums (16 elements each). */
static void iq2_act_prep(int64_t n, const void *std_act, void *out) {
    const block_q8_K *y = std_act;
    const int64_t nb = n / QK_K, pairs = (nb + 1) / 2;
    uint8_t *o = out;
    for (int64_t pi = 0; pi < pairs; pi++, o += IQ2_PAIR_BYTES) {
        float d[16] = {0.0f};
        int32_t corr[16] = {0};
        uint32_t tr[2][4][16]; /* [block][64-byte part i][dword 2j + h]: group 2i + h, element j */
        uint32_t *dst = (uint32_t *)(void *)o;
        for (int b = 0; b < 2; b++) {
            const int64_t bi = 2 * pi + b;
            if (bi >= nb) {
                memset(tr[b], 0, sizeof tr[b]);
                continue;
            }
            for (int i = 0; i < 4; i++)
                _mm512_storeu_si512(tr[b][i], _mm512_permutexvar_epi8(iq2_octet_transpose, _mm512_loadu_si512(y[bi].qs + 64 * i)));
            for (int g = 0; g < 8; g++) {
                d[2 * g + b] = 0.125f * y[bi].d;
                corr[2 * g + b] = -IQ2_BIAS * (y[bi].bsums[2 * g] + y[bi].bsums[2 * g + 1]);
            }
        }
        for (int j = 0; j < 8; j++)
            for (int i = 0; i < 4; i++)
                for (int h = 0; h < 2; h++)
                    for (int b = 0; b < 2; b++) dst[16 * j + 4 * i + 2 * h + b] = tr[b][i][2 * j + h];
        memcpy(o + IQ2_PAIR_SCALES, d, sizeof d);
        memcpy(o + IQ2_PAIR_CORR, corr, sizeof corr);
    }
}

static __m512i iq2_code_lo[4], iq2_code_hi[4]; /* 256-entry byte tables, low/high byte of the level code */
static __m512i iq2_signs[2];                   /* ksigns, 128 entries */
static __m512i iq2_wa, iq2_wb;                 /* 64 entries: 43 + sign x level, see iq2_pair */
static __m512 iq2_gscale;                      /* 16 floats: 2t + 1, the group scale of a 4-bit t */
static __m512i iq2_ms_ctrl;

static inline __m512i lut256(const __m512i t[4], __m512i idx, __mmask64 high) {
    __m512i lo = _mm512_permutex2var_epi8(t[0], idx, t[1]);
    __m512i hi = _mm512_permutex2var_epi8(t[2], idx, t[3]);
    return _mm512_mask_blend_epi8(high, lo, hi);
}

/* Decodes a pair of blocks once and accumulates it against T activation
 * rows (T = 1 for decode, 2 or 4 for prefill's token groups): per group
 * (one dword lane) the integer sum(G * sign * q8) times the float factor
 * d x (2t+1) x 0.125 y.d. dh holds the two blocks' f16 d, alternating
 * (iq2_dh). Per token the operations and their order are the same for any
 * T, so ds4_matmul's token groups give exactly ds4_vec_dot's result. */
static inline __attribute__((always_inline)) void iq2_pair(__m512i z0, __m512i z1, __m256i dh, int T,
                                                            const uint8_t *const *act, __m512 *acc) {
    DS4_PIN(z0); /* each feeds two vpshufd */
    DS4_PIN(z1);
    /* Group g of a block is qword g: its four index bytes, then its sign/scale
     * word. Dword lane 2g + b takes block b's, by an in-lane vpshufd merged
     * under a mask (the cross-lane vpermt2b it replaces shares the two pipes
     * of the vpermb lookups, which bound this kernel: +6%). */
    const __m512i idx = _mm512_mask_shuffle_epi32(z0, 0xAAAA, z1, (_MM_PERM_ENUM)0xA0);
    const __m512i sw = _mm512_mask_shuffle_epi32(z1, 0x5555, z0, (_MM_PERM_ENUM)0xF5);
    const __mmask64 high = _mm512_movepi8_mask(idx);
    const __m512i clo = lut256(iq2_code_lo, idx, high);
    const __m512i chi = lut256(iq2_code_hi, idx, high);
    const __m512i sb = _mm512_permutex2var_epi8(iq2_signs[0], _mm512_multishift_epi64_epi8(iq2_ms_ctrl, sw), iq2_signs[1]);
    /* Element pair (2P, 2P+1) of every octet: a 6-bit vpermb index with
     * their level codes at bits 0-3 (from the code bytes, P odd: shifted by
     * 4) and their sign bits at 4-5 (the sign byte shifted by 4 - 2P);
     * iq2_wa reads (bits 0-1, bit 4), iq2_wb (bits 2-3, bit 5). */
    const __m512i m0f = _mm512_set1_epi8(0x0F);
    const __m512i ix[4] = {
        _mm512_ternarylogic_epi32(clo, _mm512_slli_epi16(sb, 4), m0f, 0xE4),
        _mm512_ternarylogic_epi32(_mm512_srli_epi16(clo, 4), _mm512_slli_epi16(sb, 2), m0f, 0xE4),
        _mm512_ternarylogic_epi32(chi, sb, m0f, 0xE4),
        _mm512_ternarylogic_epi32(_mm512_srli_epi16(chi, 4), _mm512_srli_epi16(sb, 2), m0f, 0xE4),
    };
    __m512i w[8];
    DS4_UNROLL
    for (int p = 0; p < 4; p++) {
        w[2 * p] = _mm512_permutexvar_epi8(ix[p], iq2_wa);
        w[2 * p + 1] = _mm512_permutexvar_epi8(ix[p], iq2_wb);
    }
    /* lanes alternate between the blocks: f16 pair (d0, d1) in every dword */
    const __m512 dg = _mm512_mul_ps(_mm512_cvtph_ps(dh),
                                    _mm512_permutexvar_ps(_mm512_srli_epi32(sw, 28), iq2_gscale));
    DS4_UNROLL
    for (int t = 0; t < T; t++) {
        /* two dependency chains of four vpdpbusd (one chain of eight was
         * latency-bound); integer sums, so the result does not change */
        __m512i s = _mm512_loadu_si512((const void *)(act[t] + IQ2_PAIR_CORR)), s1 = _mm512_setzero_si512();
        DS4_UNROLL
        for (int j = 0; j < 8; j += 2) {
            s = _mm512_dpbusd_epi32(s, w[j], _mm512_loadu_si512((const void *)(act[t] + 64 * j)));
            s1 = _mm512_dpbusd_epi32(s1, w[j + 1], _mm512_loadu_si512((const void *)(act[t] + 64 * (j + 1))));
        }
        s = _mm512_add_epi32(s, s1);
        const __m512 f = _mm512_mul_ps(dg, _mm512_loadu_ps((const float *)(act[t] + IQ2_PAIR_SCALES)));
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), f, acc[t]);
    }
}

/* The f16 d of blocks x[0] and x[1] (zero if !two) alternating in 16 halves,
 * two broadcasts straight from the blocks. Assembling the pair in a general
 * register and moving it over cost 2-6% (one to four tokens, in cache) and
 * 4-7% from DRAM at two threads on the Zen 5 guest. */
static inline __m256i iq2_dh(const block_iq2_xxs *x, bool two) {
    const __m256i d0 = _mm256_set1_epi16((short)x[0].d);
    return two ? _mm256_mask_set1_epi16(d0, 0xAAAA, (short)x[1].d) : _mm256_maskz_set1_epi16(0x5555, (short)x[0].d);
}

/* Prefetch distance of this kernel (DS4_PF_DIST is 4 KiB): measured with
 * `ds4 bench kernels --threads 1 --types IQ2_XXS --shape RxC` on the 2-core
 * VM after the sign folding, GB/s at 2048x4096 / 4096x2048 / 1024x32768
 * (one-thread triad ~15.3): 1 KiB 10.8 / 10.9 / 11.0, 2 KiB 11.1 / 10.9 /
 * 11.5, 3 KiB 11.5 / 10.9 / 11.5, 4 KiB 8.6 / 8.3 / 9.8, 8 KiB 8.1 at
 * 2048x4096. */
#ifndef IQ2_PF
#define IQ2_PF 2048
#endif

/* Row x against T prepared activation rows (T <= 4); out[t] per row. */
static inline __attribute__((always_inline)) void iq2_dot_rows(int64_t n, const block_iq2_xxs *x, int T,
                                                                const uint8_t *const *act0, float *out) {
    const int64_t nb = n / QK_K;
    __m512 acc0[4], acc1[4];
    const uint8_t *act[4];
    DS4_UNROLL
    for (int t = 0; t < 4; t++) {
        acc0[t] = acc1[t] = _mm512_setzero_ps();
        act[t] = act0[t < T ? t : 0];
    }
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        for (int o = 0; o < 4 * 66; o += 64) __builtin_prefetch((const uint8_t *)(x + b) + o + IQ2_PF, 0, 3);
        const uint8_t *a0[4], *a1[4];
        DS4_UNROLL
        for (int t = 0; t < T; t++) {
            a0[t] = act[t] + (b / 2) * IQ2_PAIR_BYTES;
            a1[t] = a0[t] + IQ2_PAIR_BYTES;
        }
        iq2_pair(_mm512_loadu_si512(x[b].qs), _mm512_loadu_si512(x[b + 1].qs), iq2_dh(x + b, true), T, a0, acc0);
        iq2_pair(_mm512_loadu_si512(x[b + 2].qs), _mm512_loadu_si512(x[b + 3].qs), iq2_dh(x + b + 2, true), T, a1, acc1);
    }
    for (; b < nb; b += 2) {
        const bool two = b + 1 < nb;
        const uint8_t *a[4];
        DS4_UNROLL
        for (int t = 0; t < T; t++) a[t] = act[t] + (b / 2) * IQ2_PAIR_BYTES;
        __m512i z1 = two ? _mm512_loadu_si512(x[b + 1].qs) : _mm512_setzero_si512();
        iq2_pair(_mm512_loadu_si512(x[b].qs), z1, iq2_dh(x + b, two), T, a, acc0);
    }
    DS4_UNROLL
    for (int t = 0; t < T; t++) out[t] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[t], acc1[t]));
}

static float dot_iq2_xxs(int64_t n, const void *wv, const void *av) {
    const uint8_t *act[1] = {av};
    float r;
    iq2_dot_rows(n, wv, 1, act, &r);
    return r;
}

static void dot2_iq2_xxs(int64_t n, const void *wv, const void *a0, const void *a1, float out[2]) {
    const uint8_t *act[2] = {a0, a1};
    iq2_dot_rows(n, wv, 2, act, out);
}

static void dot4_iq2_xxs(int64_t n, const void *wv, const void *const act[4], float out[4]) {
    const uint8_t *a[4] = {act[0], act[1], act[2], act[3]};
    iq2_dot_rows(n, wv, 4, a, out);
}

/* ---- Q2_K x Q8_K (prepared activation layout) ----
 * The 64 quant bytes are one register; shift j (0..3) holds the 2-bit
 * quants of elements 128h + 32j + l (h = byte / 32, l = byte % 32), which
 * belong to sub-block 8h + 2j + l / 16. The activations are permuted once per
 * matvec so that one 64-byte load gives exactly those elements for shift j
 * (q2k_act_prep). The 4-bit sub-block scale is folded into the weights by a
 * byte table lookup: per block one 64-entry table holds q * scale for each
 * (sub-block, q), built with one vpermb from a constant product table, and
 * each shift's quants become indices into it with one vpternlogd ((quant bits
 * & mask) | sub-block bits) and one vpermb. vpdpbusd then sums scaled
 * weight x activation products 4 per dword: no maddubs/madd chain and no
 * per-sub-block multiply. Two layouts of the block table (quant bits at
 * 0-1 or at 4-5; vpermb ignores index bits 6-7) let shifts 0 and 2 use the
 * raw quant byte and shifts 1 and 3 one shared 16-bit shift by 2.
 *
 * With 512-bit code in flight only ports 0 and 5 execute vector uops (port
 * 1 is fused off, measured), so the kernel is counted in vector uops per
 * block (~22, was ~45 with maddubs/madd): the mins (nibbles x bsums,
 * vpmaddwd) are done for two blocks per register, and the float factors
 * d x y.d, dmin x y.d of a block pair are converted together (q2k_dmin)
 * into a small stack array that the FMAs read as broadcast memory operands.
 * (Gathering them 8 blocks at a time for a run of 32 blocks ahead, as
 * before, stalled on DRAM lines the stream had not brought yet: on Zen 5
 * the pair form streamed ~5% faster from DRAM at two threads and ran ~8%
 * faster at 2048 columns in cache.) */

/* Prepared activation row of nb Q8_K blocks: nb x 256 activation bytes in
 * shift order, then nb x 16 bsums (int16), then nb pairs (d, d) (float). */
#define Q2K_ACT_QS 256
#define Q2K_ACT_BS 32
#define Q2K_ACT_D2 8

static size_t q2k_act_bytes(int64_t n) {
    return ((size_t)(n / QK_K) * (Q2K_ACT_QS + Q2K_ACT_BS + Q2K_ACT_D2) + 63) & ~(size_t)63;
}

static void q2k_act_prep(int64_t n, const void *std_act, void *out) {
    const block_q8_K *y = std_act;
    const int64_t nb = n / QK_K;
    uint8_t *o = out, *bs = o + nb * Q2K_ACT_QS;
    float *d2 = (float *)(bs + nb * Q2K_ACT_BS);
    for (int64_t b = 0; b < nb; b++) {
        for (int j = 0; j < 4; j++) {
            memcpy(o + Q2K_ACT_QS * b + 64 * j, y[b].qs + 32 * j, 32);
            memcpy(o + Q2K_ACT_QS * b + 64 * j + 32, y[b].qs + 128 + 32 * j, 32);
        }
        memcpy(bs + Q2K_ACT_BS * b, y[b].bsums, Q2K_ACT_BS);
        d2[2 * b] = d2[2 * b + 1] = y[b].d;
    }
    memset(o + nb * (Q2K_ACT_QS + Q2K_ACT_BS + Q2K_ACT_D2), 0, q2k_act_bytes(n) - (size_t)nb * (Q2K_ACT_QS + Q2K_ACT_BS + Q2K_ACT_D2));
}

static __m512i q2k_prod;  /* [(q << 4) | s] = q * s: the product table, q in bits 4-5 */
static __m512i q2k_qpat;  /* [i] = i & 0x30: q of entry i of the high-layout table */
static __m512i q2k_to_lo; /* vpermb control: table with q at bits 4-5 -> q at bits 0-1 */
static __m512i q2k_sb[4]; /* shift j: sub-block of byte p, at bits 2-5 (j = 0, 1) or 0-3 (j = 2, 3) */

/* Scaled weights of one block for the four shifts. */
static inline __attribute__((always_inline)) void q2k_weights(const block_q2_K *x, __m512i w[4]) {
    __m512i q2 = _mm512_loadu_si512(x->qs);
    DS4_PIN(q2);
    /* Block table, q at bits 4-5 and sub-block at 0-3 ("hi"), and the same
     * with q at bits 0-1 and sub-block at 2-5 ("lo"). */
    __m512i sc4 = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)x->scales));
    DS4_PIN(sc4);
    const __m512i thi = _mm512_permutexvar_epi8(_mm512_ternarylogic_epi32(sc4, _mm512_set1_epi8(15), q2k_qpat, 0xEA), q2k_prod);
    const __m512i tlo = _mm512_permutexvar_epi8(q2k_to_lo, thi);
    const __m512i q2s = _mm512_srli_epi16(q2, 2);
    const __m512i m03 = _mm512_set1_epi8(3), m30 = _mm512_set1_epi8(0x30);
    w[0] = _mm512_permutexvar_epi8(_mm512_ternarylogic_epi32(q2, m03, q2k_sb[0], 0xEA), tlo);
    w[1] = _mm512_permutexvar_epi8(_mm512_ternarylogic_epi32(q2s, m03, q2k_sb[1], 0xEA), tlo);
    w[2] = _mm512_permutexvar_epi8(_mm512_ternarylogic_epi32(q2, m30, q2k_sb[2], 0xEA), thi);
    w[3] = _mm512_permutexvar_epi8(_mm512_ternarylogic_epi32(q2s, m30, q2k_sb[3], 0xEA), thi);
}

/* acc += dall x (integer dot of the block's scaled weights with y). The
 * thi-based shifts come first: their weights are ready earliest. */
static inline __attribute__((always_inline)) __m512 q2k_acc(const __m512i w[4], const uint8_t *y, const float *dall,
                                                            __m512 acc) {
    __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[2], _mm512_loadu_si512((const void *)(y + 128)));
    s = _mm512_dpbusd_epi32(s, w[3], _mm512_loadu_si512((const void *)(y + 192)));
    s = _mm512_dpbusd_epi32(s, w[0], _mm512_loadu_si512((const void *)y));
    s = _mm512_dpbusd_epi32(s, w[1], _mm512_loadu_si512((const void *)(y + 64)));
    return _mm512_fmadd_ps(_mm512_set1_ps(*dall), _mm512_cvtepi32_ps(s), acc);
}

/* Prefetch distance of this kernel (DS4_PF_DIST is 4 KiB): measured with
 * `ds4 bench kernels --threads 2 --types Q2_K` on the 2-core VM, pfrac at
 * 2 threads, 4096x4096: none 0.67, 1 KiB 0.76, 8 KiB 0.57, 16 KiB 0.72;
 * over the four Flash shapes, two runs each: 2 KiB 0.73-0.82, 3 KiB
 * 0.75-0.81, 4 KiB 0.74-0.78 (this kernel consumes weights about twice as
 * fast as the one DS4_PF_DIST was tuned on). That was the Intel guest; on
 * Zen 5 it streams 5-10% faster with none, so it is issued only where
 * ds4_simd_sw_prefetch() says so. */
#ifndef Q2K_PF
#define Q2K_PF 2048
#endif

/* (d, dmin) x y.d of blocks b and b + 1 (two = false: b alone) into dd[t]
 * [0..3], per token. The f16 pairs are read with their blocks, not gathered
 * for a run ahead: a gather reaching a run of blocks ahead waits on DRAM
 * lines the stream has not brought yet and stalls the FMAs behind it. A
 * plain store forwards to the broadcast loads that read dd. */
static inline __attribute__((always_inline)) void q2k_dmin(const block_q2_K *x, bool two, int T, const float *const *yd2,
                                                            int64_t b, float dd[][4]) {
    uint32_t h0, h1 = 0;
    memcpy(&h0, &x[0].d, 4);
    if (two) memcpy(&h1, &x[1].d, 4);
    const __m128 f = _mm_cvtph_ps(_mm_unpacklo_epi32(_mm_cvtsi32_si128((int)h0), _mm_cvtsi32_si128((int)h1)));
DS4_UNROLL
    for (int t = 0; t < T; t++)
        _mm_storeu_ps(dd[t], _mm_mul_ps(f, _mm_maskz_loadu_ps(two ? 0xF : 0x3, yd2[t] + 2 * b)));
}

/* One row's accumulators against T tokens, and where its activations are. */
typedef struct {
    const uint8_t *bs[4];
    const float *yd2[4];
    __m512 acc[4], accm[4];
    __m256 accm1[4];
} q2k_state;

static inline __attribute__((always_inline)) void q2k_begin(int64_t nb, int T, const uint8_t *const *act, q2k_state *st) {
DS4_UNROLL
    for (int t = 0; t < T; t++) {
        st->bs[t] = act[t] + nb * Q2K_ACT_QS;
        st->yd2[t] = (const float *)(st->bs[t] + nb * Q2K_ACT_BS);
        st->acc[t] = st->accm[t] = _mm512_setzero_ps();
        st->accm1[t] = _mm256_setzero_ps();
    }
}

/* Blocks b and b + 1 of row x into st. */
static inline __attribute__((always_inline)) void q2k_block_pair(const block_q2_K *x, int64_t b, int T,
                                                                  const uint8_t *const *act, q2k_state *st, bool pf) {
    float dd[4][4];
    if (pf)
        for (int o = 0; o < 2 * (int)sizeof *x; o += 64) __builtin_prefetch((const uint8_t *)(x + b) + o + Q2K_PF, 0, 3);
    q2k_dmin(x + b, true, T, st->yd2, b, dd);
    __m512i wa[4], wb[4];
    q2k_weights(x + b, wa);
    q2k_weights(x + b + 1, wb);
    /* mins of both blocks: 32 nibbles x 32 bsums in one vpmaddwd */
    const __m256i sc2 = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)x[b].scales)),
                                                _mm_loadu_si128((const __m128i *)x[b + 1].scales), 1);
    const __m512i mins = _mm512_srli_epi16(_mm512_cvtepu8_epi16(sc2), 4);
DS4_UNROLL
    for (int t = 0; t < T; t++) {
        const uint8_t *y = act[t] + b * Q2K_ACT_QS;
        st->acc[t] = q2k_acc(wa, y, dd[t], st->acc[t]);
        st->acc[t] = q2k_acc(wb, y + Q2K_ACT_QS, dd[t] + 2, st->acc[t]);
        const __m512i pm = _mm512_madd_epi16(mins, _mm512_loadu_si512((const void *)(st->bs[t] + b * Q2K_ACT_BS)));
        const __m512 dmin = _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(dd[t][1]), _mm512_set1_ps(dd[t][3]));
        st->accm[t] = _mm512_fmadd_ps(dmin, _mm512_cvtepi32_ps(pm), st->accm[t]);
    }
}

/* An odd block count's last block b, then the row's results into out. */
static inline __attribute__((always_inline)) void q2k_end(const block_q2_K *x, int64_t nb, int T,
                                                           const uint8_t *const *act, q2k_state *st, float *out) {
    if (nb % 2) { /* odd block count: the row's last block alone */
        const int64_t b = nb - 1;
        float dd[4][4];
        q2k_dmin(x + b, false, T, st->yd2, b, dd);
        __m512i w[4];
        q2k_weights(x + b, w);
        const __m256i mins = _mm256_srli_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)x[b].scales)), 4);
DS4_UNROLL
        for (int t = 0; t < T; t++) {
            st->acc[t] = q2k_acc(w, act[t] + b * Q2K_ACT_QS, dd[t], st->acc[t]);
            const __m256i pm = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)(st->bs[t] + b * Q2K_ACT_BS)));
            st->accm1[t] = _mm256_fmadd_ps(_mm256_set1_ps(dd[t][1]), _mm256_cvtepi32_ps(pm), st->accm1[t]);
        }
    }
DS4_UNROLL
    for (int t = 0; t < T; t++)
        out[t] = _mm512_reduce_add_ps(
            _mm512_sub_ps(st->acc[t], _mm512_add_ps(st->accm[t], _mm512_zextps256_ps512(st->accm1[t]))));
}

/* Row x against T prepared activation rows (T <= 4); out[t] per row. The
 * operations per token are the same for any T, so the two- and four-token
 * forms give exactly the one-token result. */
static inline __attribute__((always_inline)) void q2k_dot_rows(int64_t n, const block_q2_K *x, int T,
                                                                const uint8_t *const *act, float *out, bool pf) {
    const int64_t nb = n / QK_K;
    q2k_state st;
    q2k_begin(nb, T, act, &st);
    for (int64_t b = 0; b + 2 <= nb; b += 2) q2k_block_pair(x, b, T, act, &st, pf);
    q2k_end(x, nb, T, act, &st, out);
}

/* Rows x0 and x1 against one token, block pair by block pair: per row the
 * one-token steps above, so out[i] is dot(n, x_i, act) bit for bit. Two
 * weight streams per core (ds4_dot_rows2_fn). */
static inline __attribute__((always_inline)) void q2k_two_rows(int64_t n, const block_q2_K *x0, const block_q2_K *x1,
                                                                const uint8_t *act, float out[2], bool pf) {
    const int64_t nb = n / QK_K;
    const uint8_t *a[1] = {act};
    q2k_state s0, s1;
    q2k_begin(nb, 1, a, &s0);
    q2k_begin(nb, 1, a, &s1);
    for (int64_t b = 0; b + 2 <= nb; b += 2) {
        q2k_block_pair(x0, b, 1, a, &s0, pf);
        q2k_block_pair(x1, b, 1, a, &s1, pf);
    }
    q2k_end(x0, nb, 1, a, &s0, out);
    q2k_end(x1, nb, 1, a, &s1, out + 1);
}

DS4_ROWS2_ENTRIES(q2_K, q2k_two_rows)

/* entry points with software prefetch (pf) and without (hw: the hardware
 * prefetchers alone) */
DS4_DOT_ENTRIES(q2_K, q2k_dot_rows, _pf, true)
DS4_DOT_ENTRIES(q2_K, q2k_dot_rows, _hw, false)

/* ---- tables and getter ---- */

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void init_tables(void) {
    uint8_t lo[256], hi[256], wa[64], wb[64], ms[64];
    for (int a = 0; a < 256; a++) {
        lo[a] = (uint8_t)(ds4_kgrid_2bit_256[a] & 0xFF);
        hi[a] = (uint8_t)(ds4_kgrid_2bit_256[a] >> 8);
    }
    for (int t = 0; t < 4; t++) {
        memcpy(&iq2_code_lo[t], lo + 64 * t, 64);
        memcpy(&iq2_code_hi[t], hi + 64 * t, 64);
    }
    memcpy(&iq2_signs[0], ds4_ksigns_iq2xs, 64);
    memcpy(&iq2_signs[1], ds4_ksigns_iq2xs + 64, 64);
    static const int level[4] = {8, 25, 43, 0};
    for (int i = 0; i < 64; i++) {
        wa[i] = (uint8_t)(IQ2_BIAS + ((i >> 4) & 1 ? -level[i & 3] : level[i & 3]));
        wb[i] = (uint8_t)(IQ2_BIAS + ((i >> 5) & 1 ? -level[(i >> 2) & 3] : level[(i >> 2) & 3]));
        int q = i % 8;                                    /* byte within the qword: dword q/4, octet q%4 */
        ms[i] = (uint8_t)(32 * (q / 4) + 7 * (q % 4));
    }
    uint8_t tp[64];
    for (int i = 0; i < 64; i++) tp[i] = (uint8_t)(8 * (i % 8) + i / 8);
    memcpy(&iq2_octet_transpose, tp, 64);
    memcpy(&iq2_wa, wa, 64);
    memcpy(&iq2_wb, wb, 64);
    float gs[16];
    for (int t = 0; t < 16; t++) gs[t] = (float)(2 * t + 1);
    memcpy(&iq2_gscale, gs, sizeof gs);
    memcpy(&iq2_ms_ctrl, ms, 64);
    uint8_t prod[64], qpat[64], to_lo[64], sb[4][64];
    for (int i = 0; i < 64; i++) {
        prod[i] = (uint8_t)((i >> 4) * (i & 15));
        qpat[i] = (uint8_t)(i & 0x30);
        to_lo[i] = (uint8_t)(((i & 3) << 4) | (i >> 2)); /* lo entry (sb << 2 | q) = hi entry (q << 4 | sb) */
        for (int j = 0; j < 4; j++) {
            int s = 8 * (i / 32) + 2 * j + ((i >> 4) & 1);
            sb[j][i] = (uint8_t)(j < 2 ? s << 2 : s);
        }
    }
    memcpy(&q2k_prod, prod, 64);
    memcpy(&q2k_qpat, qpat, 64);
    memcpy(&q2k_to_lo, to_lo, 64);
    for (int j = 0; j < 4; j++) memcpy(&q2k_sb[j], sb[j], 64);
    ds4_simd_avx512_q4k_init();
}

bool ds4_simd_avx512_kernel(uint32_t type, ds4_dot_kernel *k) {
    pthread_once(&tables_once, init_tables);
    const bool pf = ds4_simd_sw_prefetch();
    switch (type) {
    case DS4_TYPE_Q4_K: return ds4_simd_avx512_q4_K_kernel(k, pf);
    case DS4_TYPE_Q8_0: return ds4_simd_avx512_q8_0_kernel(k, pf);
    case DS4_TYPE_Q8_0_X16: return ds4_simd_avx512_q8_0_x16_kernel(k, pf);
    case DS4_TYPE_Q2_K_X4: return ds4_simd_avx512_q2_k_x4_kernel(k);
    case DS4_TYPE_Q4_K_X4: return ds4_simd_avx512_q4_k_x4_kernel(k);
    case DS4_TYPE_F32:
    case DS4_TYPE_F16:
    case DS4_TYPE_BF16: return ds4_simd_avx512_float_kernel(type, k);
    case DS4_TYPE_Q2_K:
        /* activations permuted once per matvec into shift order; two- and four-token forms for
         * prefill, a two-row form for decode */
        *k = (ds4_dot_kernel){.dot = pf ? dot_q2_K_pf : dot_q2_K_hw, .dot2 = pf ? dot2_q2_K_pf : dot2_q2_K_hw,
                              .dot4 = pf ? dot4_q2_K_pf : dot4_q2_K_hw, .rows2 = pf ? rows2_q2_K_pf : rows2_q2_K_hw,
                              .act_bytes = q2k_act_bytes, .act_prep = q2k_act_prep};
        return true;
    case DS4_TYPE_IQ2_XXS:
        /* activations permuted once per matvec into the lookup order; two- and four-token forms for prefill */
        *k = (ds4_dot_kernel){.dot = dot_iq2_xxs, .dot2 = dot2_iq2_xxs, .dot4 = dot4_iq2_xxs, .act_bytes = iq2_act_bytes,
                              .act_prep = iq2_act_prep};
        return true;
    default: return false;
    }
}

#else

bool ds4_simd_avx512_kernel(uint32_t type, ds4_dot_kernel *k) {
    (void)type;
    (void)k;
    return false;
}

#endif
