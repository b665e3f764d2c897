#include "base/fp16.h"

#include <pthread.h>

float ds4_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {
            /* Subnormal: renormalise the mantissa. */
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400));
            man &= 0x3ff;
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | (man << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    return ds4_bits_f32(bits);
}

uint16_t ds4_f32_to_f16(float f) {
    uint32_t x = ds4_f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t absx = x & 0x7fffffffu;
    if (absx > 0x7f800000u) return sign | 0x7e00;        /* NaN */
    if (absx >= 0x477ff000u) return sign | 0x7c00;        /* rounds to inf */
    if (absx < 0x38800000u) {                             /* subnormal or zero */
        if (absx < 0x33000000u) return sign;              /* below half of min subnormal */
        uint32_t e = absx >> 23;
        uint32_t m = (absx & 0x7fffff) | 0x800000;
        int shift = 126 - (int)e;                         /* 14 + (113 - e) - 1 */
        /* value = m * 2^(e-150); subnormal unit = 2^-24 -> q = m >> (126 - e) */
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return sign | (uint16_t)q;
    }
    uint32_t e = (absx >> 23) - 127 + 15;
    uint32_t m = absx & 0x7fffff;
    uint32_t h = (e << 10) | (m >> 13);
    uint32_t rem = m & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;  /* may carry into exponent: correct */
    return sign | (uint16_t)h;
}

uint16_t ds4_f32_to_bf16(float f) {
    uint32_t bits = ds4_f32_bits(f);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40);
    return (uint16_t)((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

float ds4_f16_table[65536];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void fill_table(void) {
    for (uint32_t i = 0; i < 65536; i++) ds4_f16_table[i] = ds4_f16_to_f32((uint16_t)i);
}

void ds4_fp16_init(void) { pthread_once(&table_once, fill_table); }
