#include <criterion/criterion.h>
#include <math.h>

#include "base/fp16.h"

Test(fp16, every_half_roundtrips) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ds4_f16_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        cr_assert_eq(ds4_f32_to_f16(f), h, "half 0x%04x -> %g -> 0x%04x", h, f, ds4_f32_to_f16(f));
    }
}

Test(fp16, rounding_edges) {
    cr_assert_eq(ds4_f32_to_f16(65504.0f), 0x7bff);
    cr_assert_eq(ds4_f32_to_f16(65520.0f), 0x7c00);         /* ties to even -> inf */
    cr_assert_eq(ds4_f32_to_f16(65519.99f), 0x7bff);
    cr_assert_eq(ds4_f32_to_f16(ldexpf(1.0f, -25)), 0x0000); /* tie to even (zero) */
    cr_assert_eq(ds4_f32_to_f16(ldexpf(1.5f, -25)), 0x0001);
    cr_assert_eq(ds4_f32_to_f16(ldexpf(1.0f, -24)), 0x0001);
    cr_assert_eq(ds4_f32_to_f16(-0.0f), 0x8000);
    cr_assert_eq(ds4_f32_to_f16(NAN) & 0x7e00, 0x7e00);
    /* 1 + 2^-11 is halfway between 1 and the next half: ties to even (1). */
    cr_assert_eq(ds4_f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3c00);
    cr_assert_eq(ds4_f32_to_f16(1.0f + 3 * ldexpf(1.0f, -11)), 0x3c02);
}

Test(fp16, bf16_encode) {
    cr_assert_eq(ds4_f32_to_bf16(1.0f), 0x3f80);
    cr_assert_eq(ds4_f32_to_bf16(ds4_bits_f32(0x3f808000u)), 0x3f80); /* tie, even */
    cr_assert_eq(ds4_f32_to_bf16(ds4_bits_f32(0x3f818000u)), 0x3f82); /* tie, odd -> up */
    cr_assert_eq(ds4_f32_to_bf16(ds4_bits_f32(0x7fc00001u)), 0x7fc0);
    cr_assert_eq(ds4_bf16_to_f32(0x4049), ds4_bits_f32(0x40490000u));
}

Test(fp16, table_matches_scalar) {
    ds4_fp16_init();
    for (uint32_t h = 0; h < 65536; h++) {
        float a = ds4_f16_lookup((uint16_t)h), b = ds4_f16_to_f32((uint16_t)h);
        cr_assert(memcmp(&a, &b, 4) == 0);
    }
}
