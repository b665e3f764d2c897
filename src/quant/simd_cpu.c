/* Run-time CPU checks for the SIMD levels (compile-time flags decide what is
 * compiled in; this decides what the running machine can execute). */
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "quant/simd.h"

#if defined(__x86_64__) || defined(__i386__)
/* F16C straight from CPUID leaf 1 (ECX bit 29): clang before 16 does not
 * accept "f16c" in __builtin_cpu_supports, and the fuzz build uses clang 14. */
static bool cpu_has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
}
#endif

bool ds4_simd_cpu_supports(const char *level) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (!strcmp(level, "avx2"))
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    if (!strcmp(level, "avx512"))
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi") &&
               __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("fma") &&
               cpu_has_f16c();
    return false;
#elif defined(__aarch64__)
    /* Advanced SIMD is architectural on AArch64. */
    return !strcmp(level, "neon");
#else
    (void)level;
    return false;
#endif
}

bool ds4_simd_cpu_has_gfni(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (c & (1u << 8)); /* CPUID.7.0:ECX bit 8 */
#else
    return false;
#endif
}

bool ds4_simd_sw_prefetch(void) {
    const char *e = getenv("DS4_SW_PREFETCH");
    if (e && *e) return strcmp(e, "0") != 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return !__builtin_cpu_is("amd");
#else
    return true;
#endif
}
