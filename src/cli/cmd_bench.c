/* ds4 bench: memory bandwidth and kernel throughput.
 *   ds4 bench kernels [--threads N] [--csv] [--types T1,T2] [--reps R]
 *                     [--seconds S] [--pool-mb M] [--triad-mb M] [--shape RxC] [--resident] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "bench/bench.h"
#include "cli/cli_common.h"
#include "cli/commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ds4 bench -m|--model FILE.gguf [--threads N] [--gen N] [--ctx-start N] [--ctx-max N]\n"
            "                 [--prefill 512,2048] [--csv] [--triad-mb M] [--weights auto|mmap|ram]\n"
            "       ds4 bench kernels [options]\n\n"
            "ds4 bench -m: memory bandwidth (triad and a read-only stream, same thread count), decode tok/s\n"
            "with the weight bytes per token counted by the engine (achieved GB/s and fraction of each\n"
            "bandwidth), prefill tok/s at each --prefill length, and the per-stage time split.\n"
            "Weights read into RAM are regrouped for the kernels as in every command (Q8_0, Q4_K\n"
            "and Q2_K on AVX-512; DS4_REPACK=0 keeps the stored layouts).\n"
            "Defaults: --gen 16, --ctx-start 0, --prefill 512,2048.\n\n"
            "ds4 bench kernels:\n"
            "Matvec throughput per weight type at the DeepSeek V4 Flash shapes with DRAM-resident\n"
            "weights, as GB/s of weights and as fractions of a STREAM triad and of a read-only stream\n"
            "measured in the same run: one matrix per call, and the routed experts as decode issues\n"
            "them (the 12 gate/up matrices of 6 experts in one batch against one activation row,\n"
            "the 6 down matrices in one batch, each against its own row).\n\n"
            "  --threads N     thread count for the multi-thread rows (default: all CPUs)\n"
            "  --csv           machine-readable output\n"
            "  --types LIST    comma-separated types (default: F32,F16,BF16,Q8_0,Q8_0_X16,Q4_K,Q4_K_X4,\n"
            "                  Q2_K,Q2_K_X4,IQ2_XXS; Q8_0_X16, Q4_K_X4 and Q2_K_X4, the layouts Q8_0,\n"
            "                  Q4_K and Q2_K take at load, only where their kernels run)\n"
            "  --reps R        timed repetitions per point, best and median reported (default 5)\n"
            "  --seconds S     minimum seconds per repetition (default 0.2)\n"
            "  --pool-mb M     weight MiB per type cycled through (default 1.5x the LLC, >= 512)\n"
            "  --triad-mb M    MiB per triad array (default: 3 arrays = 8x the LLC)\n"
            "  --shape RxC     one matrix shape instead of the Flash shapes (with a small --pool-mb\n"
            "                  this measures the kernel in cache)\n"
            "  --resident      per-core compute ceiling instead: one cache-resident matrix (default\n"
            "                  64x4096, or --shape), one thread, CPU time, 1, 2 and 4 tokens; no triad;\n"
            "                  also core cycles per 256 weights, the clock measured per repetition\n");
}

static bool parse_long(const char *opt, const char *v, long lo, long hi, long *out) {
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || x < lo || x > hi) {
        fprintf(stderr, "ds4 bench: %s needs an integer in [%ld, %ld]\n", opt, lo, hi);
        return false;
    }
    *out = x;
    return true;
}

static int bench_kernels(int argc, char **argv) {
    ds4_bench_kernels_opts o = {ds4_cpu_count(), false, 5, 0.2, 0, 0, NULL, 0, 0, false};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long x;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--csv")) {
            o.csv = true;
        } else if (!strcmp(a, "--resident")) {
            o.resident = true;
        } else if (!strcmp(a, "--threads")) {
            if (!parse_long(a, v, 1, 1024, &x)) return 2;
            o.threads = (int)x;
            i++;
        } else if (!strcmp(a, "--reps")) {
            if (!parse_long(a, v, 1, 1000, &x)) return 2;
            o.reps = (int)x;
            i++;
        } else if (!strcmp(a, "--seconds")) {
            char *end;
            double s = v ? strtod(v, &end) : 0;
            if (!v || *end || !(s > 0 && s <= 60)) {
                fprintf(stderr, "ds4 bench: --seconds needs a number in (0, 60]\n");
                return 2;
            }
            o.min_seconds = s;
            i++;
        } else if (!strcmp(a, "--pool-mb")) {
            if (!parse_long(a, v, 1, 1 << 20, &x)) return 2;
            o.pool_bytes = (size_t)x << 20;
            i++;
        } else if (!strcmp(a, "--triad-mb")) {
            if (!parse_long(a, v, 1, 1 << 20, &x)) return 2;
            o.triad_bytes = (size_t)x << 20;
            i++;
        } else if (!strcmp(a, "--shape")) {
            long long r, c;
            char tail;
            if (!v || sscanf(v, "%lldx%lld%c", &r, &c, &tail) != 2 || r < 1 || c < 1 || r > (1 << 20) || c > (1 << 20)) {
                fprintf(stderr, "ds4 bench: --shape needs ROWSxCOLS, e.g. 4096x4096\n");
                return 2;
            }
            o.rows = r;
            o.cols = c;
            i++;
        } else if (!strcmp(a, "--types")) {
            if (!v) {
                fprintf(stderr, "ds4 bench: --types needs a list\n");
                return 2;
            }
            o.types = v;
            i++;
        } else {
            fprintf(stderr, "ds4 bench kernels: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    return ds4_bench_kernels(&o, stdout);
}

static int bench_model(int argc, char **argv) {
    ds4_bench_model_opts o = {.gen = 16, .prefill = {512, 2048}, .n_prefill = 2};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long x;
        if (!strcmp(a, "--csv")) {
            o.csv = true;
            continue;
        }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!v) {
                fprintf(stderr, "ds4 bench: -m needs a file\n");
                return 2;
            }
            o.model = v;
        } else if (!strcmp(a, "--threads")) {
            if (!parse_long(a, v, 1, 1024, &x)) return 2;
            o.threads = (int)x;
        } else if (!strcmp(a, "--weights")) {
            if (!v || !cli_parse_weights("bench", v, &o.weights)) return 2;
        } else if (!strcmp(a, "--gen")) {
            if (!parse_long(a, v, 0, 1 << 20, &x)) return 2;
            o.gen = (int)x;
        } else if (!strcmp(a, "--ctx-start")) {
            if (!parse_long(a, v, 0, 1 << 22, &x)) return 2;
            o.ctx_start = (int)x;
        } else if (!strcmp(a, "--ctx-max")) {
            if (!parse_long(a, v, 1, 1 << 22, &x)) return 2;
            o.ctx_max = (int)x;
        } else if (!strcmp(a, "--triad-mb")) {
            if (!parse_long(a, v, 1, 1 << 20, &x)) return 2;
            o.triad_bytes = (size_t)x << 20;
        } else if (!strcmp(a, "--prefill")) {
            o.n_prefill = 0;
            const char *p = v ? v : "";
            while (*p) {
                char *end;
                long n = strtol(p, &end, 10);
                if (end == p || n < 0 || n > (1 << 22) || o.n_prefill == 8 || (*end && *end != ',')) {
                    fprintf(stderr, "ds4 bench: --prefill needs up to 8 comma-separated token counts (0 for none)\n");
                    return 2;
                }
                if (n > 0) o.prefill[o.n_prefill++] = (int)n;
                p = *end ? end + 1 : end;
            }
        } else {
            fprintf(stderr, "ds4 bench: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (!o.model) {
        usage(stderr);
        return 2;
    }
    return ds4_bench_model(&o, stdout);
}

int cmd_bench(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "kernels")) return bench_kernels(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2) return bench_model(argc, argv);
    usage(stderr);
    return 2;
}
