/* ds4 version: the version and the SIMD kernel level the dispatcher picked
 * for this CPU (after any DS4_SIMD cap), the first thing to check when
 * speeds look wrong. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "quant/quant.h"

#ifndef DS4_VERSION
#define DS4_VERSION "0.1.0"
#endif

int cmd_version(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: ds4 version\n\n"
               "Prints the version and the SIMD kernel level in use (scalar, avx2, avx512 or neon;\n"
               "DS4_SIMD=scalar|avx2|avx512|neon caps it).\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "ds4 version: unexpected argument '%s' (see ds4 version --help)\n", argv[1]);
        return 2;
    }
    printf("ds4 %s\nsimd: %s\n", DS4_VERSION, ds4_simd_level());
    return 0;
}
