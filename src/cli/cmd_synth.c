/* ds4 synth: write a synthetic DeepSeek V4 GGUF (real shape, random weights)
 * for benchmarks: ds4 synth --layers L --recipe q2-asym --out FILE.gguf
 *                 [--shape flash|tiny] [--seed N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "cli/commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ds4 synth --layers L --out FILE.gguf [--recipe q2-asym|q4] [--shape flash|tiny] [--seed N]\n\n"
            "Writes a DeepSeek V4 GGUF with the real dimensions and random weights of realistic scale\n"
            "(rows N(0, 1/sqrt(fan_in)) quantized with the recipe's types), valid for the engine.\n"
            "The L layers are the last L of the Flash layout (HCA and CSA layers alternate), so a\n"
            "2-layer model has one layer of each compressed attention kind. A Flash layer is about\n"
            "1.85 GB at q2-asym; the embedding and output head add about 1.6 GB.\n");
}

int cmd_synth(int argc, char **argv) {
    ds4_synth_opts o = {0, "q2-asym", "flash", NULL, 0};
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "ds4 synth: %s needs a value (or is unknown)\n\n", a);
            usage(stderr);
            return 2;
        }
        char *end;
        if (!strcmp(a, "--layers")) {
            long l = strtol(v, &end, 10);
            if (*end || l < 1 || l > 43) {
                fprintf(stderr, "ds4 synth: --layers needs an integer in [1, 43]\n");
                return 2;
            }
            o.layers = (int)l;
        } else if (!strcmp(a, "--recipe")) {
            o.recipe = v;
        } else if (!strcmp(a, "--shape")) {
            o.shape = v;
        } else if (!strcmp(a, "--out")) {
            o.out = v;
        } else if (!strcmp(a, "--seed")) {
            o.seed = strtoull(v, &end, 10);
            if (*end) {
                fprintf(stderr, "ds4 synth: --seed needs an integer\n");
                return 2;
            }
        } else {
            fprintf(stderr, "ds4 synth: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!o.layers || !o.out) {
        fprintf(stderr, "ds4 synth: --layers and --out are required\n\n");
        usage(stderr);
        return 2;
    }
    ds4_error err;
    if (!ds4_synth(&o, &err)) {
        fprintf(stderr, "ds4 synth: %s\n", err.msg);
        return 1;
    }
    return 0;
}
