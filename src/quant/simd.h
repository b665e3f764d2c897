/* Internal interface between the dispatcher and the SIMD kernel files
 * (dot_avx2.c, dot_avx512.c, dot_neon.c). Not part of the public contract.
 *
 * Each file is compiled on every architecture; when the instruction set it
 * needs is not enabled by the compiler flags its getter returns false, so the
 * dispatcher falls back to the next level and finally to the scalar path. */
#ifndef DS4_QUANT_SIMD_H
#define DS4_QUANT_SIMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf/types.h"

/* Software prefetch distance of the quantized kernels' block loops (one
 * line per 64 bytes consumed, this far ahead; rows of a matvec chunk are
 * contiguous, so near a row's end it reaches into the next row). Measured
 * single-thread from DRAM, CPU time, on the shared 2-core VM, GB/s with no
 * prefetch -> 1 KiB -> 4 KiB -> 8 KiB ahead: Q8_0 6.2 8.2 8.3 8.7,
 * Q2_K 5.8 8.1 9.3 8.5, Q4_K 5.4 7.2 6.9 6.6, IQ2_XXS 4.6 5.8 5.6 5.7;
 * F16/F32 unchanged, so the float kernels leave it to the hardware. All
 * prefetch distances can be set at build time (EXTRA_CFLAGS=-DDS4_PF_DIST=N,
 * -DQ2K_PF, -DIQ2_PF, -DQ4K_PF_L2, -DQ4K_PF_L1) to tune on another machine. */
#ifndef DS4_PF_DIST
#define DS4_PF_DIST 4096
#endif
#if defined(__GNUC__)
#define DS4_PREFETCH(p) __builtin_prefetch((const char *)(p) + DS4_PF_DIST, 0, 3)
#else
#define DS4_PREFETCH(p) ((void)(p))
#endif

/* Keep a loaded vector in its register. GCC folds a load into every
 * instruction that uses the value, as a memory operand, so a weight vector
 * feeding two instructions is read from L1 twice (the Q2_K kernel read each
 * block's quant bytes three times). On Zen 5 the one-token kernels are bound
 * by vector and load throughput, and the re-reads cost ~8% (Q2_K, one token,
 * in cache). The empty asm makes the value opaque, so it stays loaded once. */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define DS4_PIN(v) __asm__("" : "+v"(v))
#else
#define DS4_PIN(v) ((void)0)
#endif

/* The one-, two- and four-token entry points dot_<name>, dot2_<name> and
 * dot4_<name> of a kernel over the standard activation layout whose row
 * function is rows(n, const wtype *w, T, const atype *const *act, out)
 * (AVX2 and NEON; atype: the weight type's activation block). */
#define DS4_TYPED_DOT_ENTRIES(name, rows, wtype, atype)                                                  \
    static float dot_##name(int64_t n, const void *wv, const void *av) {                                 \
        const atype *a[1] = {av};                                                                        \
        float r;                                                                                         \
        rows(n, (const wtype *)wv, 1, a, &r);                                                            \
        return r;                                                                                        \
    }                                                                                                    \
    static void dot2_##name(int64_t n, const void *wv, const void *a0, const void *a1, float out[2]) {   \
        const atype *a[2] = {a0, a1};                                                                    \
        rows(n, (const wtype *)wv, 2, a, out);                                                           \
    }                                                                                                    \
    static void dot4_##name(int64_t n, const void *wv, const void *const act[4], float out[4]) {         \
        const atype *a[4] = {act[0], act[1], act[2], act[3]};                                            \
        rows(n, (const wtype *)wv, 4, a, out);                                                           \
    }

/* The one-, two- and four-token entry points dot_<name><sfx>, dot2_... and
 * dot4_... of a kernel whose row function is rows(n, w, T, act, out, pf):
 * pf true or false picks the build with or without software prefetch
 * (ds4_simd_sw_prefetch). */
#define DS4_DOT_ENTRIES(name, rows, sfx, pf)                                                            \
    static float dot_##name##sfx(int64_t n, const void *wv, const void *av) {                           \
        const uint8_t *act[1] = {av};                                                                   \
        float r;                                                                                        \
        rows(n, wv, 1, act, &r, pf);                                                                    \
        return r;                                                                                       \
    }                                                                                                   \
    static void dot2_##name##sfx(int64_t n, const void *wv, const void *a0, const void *a1, float o[2]) { \
        const uint8_t *act[2] = {a0, a1};                                                               \
        rows(n, wv, 2, act, o, pf);                                                                     \
    }                                                                                                   \
    static void dot4_##name##sfx(int64_t n, const void *wv, const void *const act[4], float o[4]) {     \
        const uint8_t *a[4] = {act[0], act[1], act[2], act[3]};                                         \
        rows(n, wv, 4, a, o, pf);                                                                       \
    }

/* The same plus the eight-token entry dot8_<name><sfx>. */
#define DS4_DOT_ENTRIES8(name, rows, sfx, pf)                                                           \
    DS4_DOT_ENTRIES(name, rows, sfx, pf)                                                                \
    static void dot8_##name##sfx(int64_t n, const void *wv, const void *const act[8], float o[8]) {     \
        const uint8_t *a[8] = {act[0], act[1], act[2], act[3], act[4], act[5], act[6], act[7]};         \
        rows(n, wv, 8, a, o, pf);                                                                       \
    }

/* The two-row entries rows2_<name>_pf and rows2_<name>_hw (ds4_dot_rows2_fn,
 * with and without software prefetch) of a kernel whose two-row function is
 * two(n, w0, w1, act, out, pf). */
#define DS4_ROWS2_ENTRIES(name, two)                                                                    \
    static void rows2_##name##_pf(int64_t n, const void *w0, const void *w1, const void *act, float o[2]) { \
        two(n, w0, w1, act, o, true);                                                                   \
    }                                                                                                   \
    static void rows2_##name##_hw(int64_t n, const void *w0, const void *w1, const void *act, float o[2]) { \
        two(n, w0, w1, act, o, false);                                                                  \
    }

/* The kernel of the DS4_DOT_ENTRIES8 entries with suffix a where `first`
 * holds, else with suffix b, and the given activation layout. */
#define DS4_DOT_KERNEL8(name, a, b, first, bytes_fn, prep_fn)                                                    \
    ((ds4_dot_kernel){.dot = (first) ? dot_##name##a : dot_##name##b, .dot2 = (first) ? dot2_##name##a : dot2_##name##b, \
                      .dot4 = (first) ? dot4_##name##a : dot4_##name##b, .dot8 = (first) ? dot8_##name##a : dot8_##name##b, \
                      .act_bytes = (bytes_fn), .act_prep = (prep_fn)})

/* Before the small loops over tokens and accumulators of the multi-token
 * kernels: they must unroll so the per-token accumulators stay in registers
 * (GCC otherwise keeps such arrays in memory: F16 x 4 tokens ran at 0.7x). */
#define DS4_UNROLL _Pragma("GCC unroll 16")

/* Dot product of one weight row (n elements) with an activation row. */
typedef float (*ds4_dot_fn)(int64_t n, const void *w_row, const void *act);

/* Activation layout conversion: some kernels (AVX-512 IQ2_XXS) want the
 * activation bytes in the order their lookup produces weights, which is
 * cheaper to do once per matvec than once per row. */
typedef size_t (*ds4_act_bytes_fn)(int64_t n);
typedef void (*ds4_act_prep_fn)(int64_t n, const void *std_act, void *out);

/* One weight row against two activation rows (prefill): the row's blocks
 * are decoded once. out[t] must equal dot(n, w_row, act_t) exactly. */
typedef void (*ds4_dot2_fn)(int64_t n, const void *w_row, const void *act0, const void *act1, float out[2]);

/* The same for four and for eight activation rows. */
typedef void (*ds4_dot4_fn)(int64_t n, const void *w_row, const void *const act[4], float out[4]);
typedef void (*ds4_dot8_fn)(int64_t n, const void *w_row, const void *const act[8], float out[8]);

/* Two weight rows against one activation row (decode): out[i] must equal
 * dot(n, w_i, act) exactly. The rows come from the two halves of a chunk,
 * so a core keeps two weight streams going. */
typedef void (*ds4_dot_rows2_fn)(int64_t n, const void *w0, const void *w1, const void *act, float out[2]);

/* Two weight rows against two activation rows (prefill with float weights,
 * whose activations are the larger stream): out[2r + t] = row r . token t,
 * each equal to ds4_dot_fn's result for that pair. */
typedef void (*ds4_dot2x2_fn)(int64_t n, const void *w0, const void *w1, const void *act0, const void *act1,
                              float out[4]);

typedef struct {
    ds4_dot_fn dot;            /* consumes the prepared layout (or the standard one if prep is NULL) */
    ds4_dot2_fn dot2;          /* optional two-token form, NULL if none */
    ds4_dot4_fn dot4;          /* optional four-token form, NULL if none */
    ds4_dot8_fn dot8;          /* optional eight-token form, NULL if none */
    ds4_dot_rows2_fn rows2;    /* optional two-row form for one token, NULL if none */
    ds4_dot2x2_fn dot2x2;      /* optional two-row, two-token form; matmul prefers it */
    ds4_act_bytes_fn act_bytes; /* NULL: standard ds4_quantize_act layout */
    ds4_act_prep_fn act_prep;
} ds4_dot_kernel;

/* One weight type's entries at a SIMD level whose kernels read the standard
 * activation layout: the one-token dot and, where it has them, the two- and
 * four-token forms (NULL otherwise). */
typedef struct {
    ds4_dot_fn dot;
    ds4_dot2_fn dot2;
    ds4_dot4_fn dot4;
} ds4_dot_forms;

/* Such a level's entries per type; dot NULL where it has no kernel. */
typedef struct {
    ds4_dot_forms f32, f16, bf16, q8_0, q2_K, q4_K, iq2_xxs;
} ds4_dot_set;

/* Initializer of the forms <name> of a level that has all three entries. */
#define DS4_DOT_FORMS(name) {dot_##name, dot2_##name, dot4_##name}

/* *k = the kernel of `set` for `type`; false when it has none. */
static inline bool ds4_dot_kernel_from_set(const ds4_dot_set *set, uint32_t type, ds4_dot_kernel *k) {
    ds4_dot_forms f = {NULL, NULL, NULL};
    switch (type) {
    case DS4_TYPE_F32: f = set->f32; break;
    case DS4_TYPE_F16: f = set->f16; break;
    case DS4_TYPE_BF16: f = set->bf16; break;
    case DS4_TYPE_Q8_0: f = set->q8_0; break;
    case DS4_TYPE_Q2_K: f = set->q2_K; break;
    case DS4_TYPE_Q4_K: f = set->q4_K; break;
    case DS4_TYPE_IQ2_XXS: f = set->iq2_xxs; break;
    default: break;
    }
    *k = (ds4_dot_kernel){.dot = f.dot, .dot2 = f.dot2, .dot4 = f.dot4};
    return f.dot != NULL;
}

/* Fill *k with the kernel for weight type `type` at that SIMD level. Return
 * false when the level is not compiled in or has no kernel for the type.
 * They do not check the running CPU: the dispatcher does. */
bool ds4_simd_avx2_kernel(uint32_t type, ds4_dot_kernel *k);
bool ds4_simd_avx512_kernel(uint32_t type, ds4_dot_kernel *k);
bool ds4_simd_avx512_q8_0_kernel(ds4_dot_kernel *k, bool near_prefetch); /* dot_avx512_q8.c, used by the one above */
bool ds4_simd_avx512_q8_0_x16_kernel(ds4_dot_kernel *k, bool pf);         /* dot_avx512_q8.c, likewise */
bool ds4_simd_avx512_float_kernel(uint32_t type, ds4_dot_kernel *k); /* dot_avx512_float.c, likewise */
bool ds4_simd_avx512_q2_k_x4_kernel(ds4_dot_kernel *k); /* dot_avx512_q2kx4.c, likewise; false without GFNI */
bool ds4_simd_avx512_q4_k_x4_kernel(ds4_dot_kernel *k); /* dot_avx512_q4k.c, likewise; false without GFNI */
bool ds4_simd_avx512_q4_K_kernel(ds4_dot_kernel *k, bool pf); /* dot_avx512_q4k.c, likewise; pf: software prefetch */
void ds4_simd_avx512_q4k_init(void); /* its constant tables, from the getter's one-time init */
bool ds4_simd_neon_kernel(uint32_t type, ds4_dot_kernel *k);

/* Activation quantizer into a standard activation block row (Q8_0 or
 * Q8_K); output bit-identical to ds4_quantize_row_q8_0/_q8_K. NULL when the
 * level has none for that activation type. */
typedef void (*ds4_act_quant_fn)(const float *x, void *dst, int64_t n);
ds4_act_quant_fn ds4_simd_avx2_act_quant(uint32_t act_type);
ds4_act_quant_fn ds4_simd_avx512_act_quant(uint32_t act_type); /* act_avx512.c: Q8_K only */
/* The quantizer the dispatcher picked for an activation type (dispatch.c):
 * the fastest available, the scalar one otherwise; NULL for F32. */
ds4_act_quant_fn ds4_act_quant_for(uint32_t act_type);

/* The kernel the dispatcher picked for a weight type (dispatch.c); dot is
 * NULL for types without kernels. */
ds4_dot_kernel ds4_dot_kernel_for(uint32_t weight_type);

/* Per-thread scratch buffers (matvec.c), 64-byte aligned, reused across
 * calls and grown on demand so hot paths do not allocate; slot 0 holds the
 * quantized activation, slot 1 the kernel-layout copy. Never freed. */
void *ds4_quant_scratch(int slot, size_t bytes);

/* True when the running CPU can execute the kernels of that level
 * ("avx2", "avx512", "neon"); false for unknown names. */
bool ds4_simd_cpu_supports(const char *level);

/* True when the running CPU has GFNI (the X4 kernels' bit-field
 * extraction; every AVX-512 VBMI + VNNI CPU so far has it). */
bool ds4_simd_cpu_has_gfni(void);

/* The software prefetch policy of the AVX-512 Q2_K, Q4_K and Q8_0 kernels:
 * DS4_SW_PREFETCH=0 or 1 when set, otherwise true except on AMD CPUs.
 * True: the short-distance prefetches tuned on the Intel guest (the notes
 * above and in dot_avx512*.c). False (Zen 5): Q2_K and Q4_K leave it to the
 * hardware prefetchers, which did 5-15% better alone there, and Q8_0 issues
 * one prefetch into L2 16 KiB ahead per block pair instead of two into L1
 * 4 KiB ahead (dot_avx512_q8.c, docs/performance.md). IQ2_XXS keeps its
 * own on both. */
bool ds4_simd_sw_prefetch(void);

#endif
