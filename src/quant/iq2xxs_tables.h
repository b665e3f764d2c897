/* IQ2_XXS tables (formats.md B.4, B.9), generated into iq2xxs_tables.c by
 * tools/gen_iq2xxs_tables.sh from shared/docs/iq2xxs_tables.txt. */
#ifndef DS4_QUANT_IQ2XXS_TABLES_H
#define DS4_QUANT_IQ2XXS_TABLES_H

#include <stdint.h>

/* Grid index -> 8 magnitudes (byte j = element j; each 8, 25 or 43). */
extern const uint64_t ds4_iq2xxs_grid[256];
/* 7-bit sign index -> 8-bit sign mask (bit 7 = parity of bits 0..6). */
extern const uint8_t ds4_ksigns_iq2xs[128];
/* Grid index -> quantizer code: 2-bit level l_j of element j at bits 2j. */
extern const uint16_t ds4_kgrid_2bit_256[256];

#endif
