/* Scalar conversions between binary32 and the 16-bit float formats.
 * Exact IEEE semantics (formats.md B.0): round-to-nearest-even, subnormals,
 * inf and NaN handled. SIMD code may use F16C instead; these are the
 * reference and what every test compares against. */
#ifndef DS4_BASE_FP16_H
#define DS4_BASE_FP16_H

#include <stdint.h>
#include <string.h>

static inline uint32_t ds4_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float ds4_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float ds4_f16_to_f32(uint16_t h);
uint16_t ds4_f32_to_f16(float f);

static inline float ds4_bf16_to_f32(uint16_t h) { return ds4_bits_f32((uint32_t)h << 16); }
uint16_t ds4_f32_to_bf16(float f);

/* Table-driven fast path for hot loops: F16 decode via a 64K-entry table,
 * filled on first use by ds4_fp16_init() (idempotent, thread-safe). */
extern float ds4_f16_table[65536];
void ds4_fp16_init(void);
static inline float ds4_f16_lookup(uint16_t h) { return ds4_f16_table[h]; }

#endif
