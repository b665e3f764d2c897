/* Small numeric building blocks of the V4 forward pass (architecture.md
 * §4-§9, §13): norms, RoPE, activations, the HC mixing maths, and the
 * rounding steps of the "official" numerics mode. All fp32 in/out. */
#ifndef DS4_ENGINE_CPU_OPS_H
#define DS4_ENGINE_CPU_OPS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* y = w ⊙ x / sqrt(mean(x²) + eps); w may be NULL (unweighted). y may alias x. */
void ds4_rmsnorm(float *y, const float *x, const float *w, int n, float eps);

/* o[i] = a * x[i] (o may be x), and o[i] += a * x[i] (o must not overlap
 * x), as vector loops. */
void ds4_vec_scale(float *o, float a, const float *x, int n);
void ds4_vec_axpy(float *o, float a, const float *x, int n);

/* RoPE frequency table of n_rot/2 angles per position unit.
 * Main: theta^(-2i/R). Compress: YaRN-blended (§4), computed in float as the
 * reference does so angles agree to the last bit where possible. */
void ds4_rope_freqs_main(float *omega, int n_rot, float theta);
void ds4_rope_freqs_yarn(float *omega, int n_rot, float theta, float factor, double orig_ctx, float beta_fast,
                         float beta_slow);

/* Rotates the last n_rot channels of v[0..n) (consecutive pairs) by
 * pos·omega; inverse rotates by -pos·omega. */
void ds4_rope(float *v, int n, int n_rot, const float *omega, int64_t pos, int inverse);
/* ds4_rope of count vectors v + k·stride at one position (every head of a
 * token), the angles computed once for all of them. */
void ds4_rope_many(float *v, size_t stride, int count, int n, int n_rot, const float *omega, int64_t pos, int inverse);

static inline float ds4_sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }

/* y[i] = e^x[i] (y may be x), as a vector loop: within 2 ulp of expf for
 * normal results, 0 below the subnormal range, +inf above FLT_MAX, NaN for
 * NaN. For the hot softmaxes and gates, where a libm call per element
 * costs more than the arithmetic around it. */
void ds4_vec_exp(float *y, const float *x, int n);
float ds4_softplus(float z);

/* FP8-E4M3 round trip of x[0..n) in blocks of 64 (official numerics, §13 row 1). */
void ds4_fp8_round_trip(float *x, int n);
/* Walsh-Hadamard transform of x[0..n) scaled by 1/sqrt(n); n a power of two. */
void ds4_hadamard(float *x, int n);
/* FP4-E2M1 round trip of x[0..n) in blocks of 32 (official numerics, §13 row 2). */
void ds4_fp4_round_trip(float *x, int n);

/* Value of an E4M3 round trip of one already-scaled value (|v| <= 448 after clamp). */
float ds4_e4m3_round(float v);
/* Value of an E2M1 round trip of one already-scaled value (clamped to ±6). */
float ds4_e2m1_round(float v);

/* Indices of the min(k, n) largest scores (in no particular order); among
 * equal scores the lowest index wins (architecture.md §8). heap_s: k floats
 * of scratch. Returns the count. */
int ds4_topk(const float *score, int n, int k, int32_t *idx, float *heap_s);

#endif
