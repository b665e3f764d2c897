/* ds4 serve: OpenAI- and Anthropic-compatible HTTP server (src/server). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "server/server.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: ds4 serve -m MODEL.gguf [options]\n\n"
            "  -m, --model FILE        DS4 GGUF model (required)\n"
            "  --host ADDR             IPv4 address to bind (default 127.0.0.1, loopback only)\n"
            "  --port N                port (default 8000; 0 = any free port)\n"
            "  -c, --ctx N             context size in tokens (default 32768)\n"
            "  -t, --threads N         compute threads (default: one per physical core)\n"
            "  --numerics MODE         official (default: DeepSeek's inference rounding) | exact (plain fp32)\n"
            "  --weights MODE          auto (default: read into huge-page RAM when it fits, else map) | mmap | ram\n"
            "  --api-key KEY           require Authorization: Bearer KEY or x-api-key: KEY\n"
            "  --cors                  add Access-Control-Allow-* headers\n"
            "  --max-request-mb N      largest request body (default 64)\n"
            "  --max-queue N           waiting requests before 429 (default 64)\n"
            "  --trace FILE            append every prompt and output to FILE\n"
            "  --port-file FILE        write the bound port to FILE once listening\n"
            "  --tool-memory-max-ids N call ids remembered for exact DSML replay (default 100000)\n"
            "disk KV cache:\n"
            "  --kv-disk-dir DIR                      enable, storing snapshots in DIR\n"
            "  --kv-disk-space-mb N                   space budget (default 4096)\n"
            "  --kv-cache-min-tokens N                smallest snapshot (default 512)\n"
            "  --kv-cache-cold-max-tokens N           cold saves for prompts up to N tokens (default 30000; 0 = off)\n"
            "  --kv-cache-continued-interval-tokens N snapshot every N tokens (default 10000; 0 = off)\n"
            "  --kv-cache-boundary-trim-tokens N      cold save this far before the end (default 32)\n"
            "  --kv-cache-boundary-align-tokens N     align cold/continued saves (default 2048; 0 = off)\n");
}

int cmd_serve(int argc, char **argv) {
    srv_config c;
    srv_config_defaults(&c);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
        int x;
#define INT_FLAG(name, lo, hi, dst)                                       \
    if (!strcmp(a, name)) {                                               \
        if (!(v = cli_value("serve", argc, argv, &i))) return 2;          \
        if (!cli_parse_int("serve", a, v, lo, hi, &x)) return 2;          \
        dst;                                                              \
        continue;                                                         \
    }
#define STR_FLAG(cond, dst)                                          \
    if (cond) {                                                      \
        if (!(v = cli_value("serve", argc, argv, &i))) return 2;     \
        dst = v;                                                     \
        continue;                                                    \
    }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (!strcmp(a, "--cors")) { c.cors = true; continue; }
        STR_FLAG(!strcmp(a, "-m") || !strcmp(a, "--model"), c.model_path)
        STR_FLAG(!strcmp(a, "--host"), c.host)
        STR_FLAG(!strcmp(a, "--api-key"), c.api_key)
        STR_FLAG(!strcmp(a, "--trace"), c.trace_path)
        STR_FLAG(!strcmp(a, "--port-file"), c.port_file)
        if (!strcmp(a, "--numerics")) {
            if (!(v = cli_value("serve", argc, argv, &i)) || !cli_parse_numerics("serve", v, &c.numerics)) return 2;
            continue;
        }
        if (!strcmp(a, "--weights")) {
            if (!(v = cli_value("serve", argc, argv, &i)) || !cli_parse_weights("serve", v, &c.weights)) return 2;
            continue;
        }
        if (!strcmp(a, "--kv-disk-dir")) {
            if (!(v = cli_value("serve", argc, argv, &i))) return 2;
            c.kv.dir = v;
            c.kv_enabled = true;
            continue;
        }
        INT_FLAG("--port", 0, 65535, c.port = (int)x)
        INT_FLAG("-c", 16, INT_MAX, c.ctx = (int)x)
        INT_FLAG("--ctx", 16, INT_MAX, c.ctx = (int)x)
        INT_FLAG("-t", 1, 1024, c.threads = (int)x)
        INT_FLAG("--threads", 1, 1024, c.threads = (int)x)
        INT_FLAG("--max-request-mb", 1, 1 << 20, c.max_body = (size_t)x << 20)
        INT_FLAG("--max-queue", 0, 1 << 20, c.max_queue = (int)x)
        INT_FLAG("--tool-memory-max-ids", 1, 1 << 24, c.tool_memory_max_ids = (int)x)
        INT_FLAG("--kv-disk-space-mb", 1, 1 << 30, c.kv.budget_bytes = (uint64_t)x << 20)
        INT_FLAG("--kv-cache-min-tokens", 1, INT_MAX, c.kv.min_tokens = (int)x)
        INT_FLAG("--kv-cache-cold-max-tokens", 0, INT_MAX, c.kv.cold_max_tokens = (int)x)
        INT_FLAG("--kv-cache-continued-interval-tokens", 0, INT_MAX, c.kv.continued_interval = (int)x)
        INT_FLAG("--kv-cache-boundary-trim-tokens", 0, INT_MAX, c.kv.boundary_trim = (int)x)
        INT_FLAG("--kv-cache-boundary-align-tokens", 0, INT_MAX, c.kv.boundary_align = (int)x)
        fprintf(stderr, "ds4 serve: unknown option '%s' (ds4 serve --help)\n", a);
        return 2;
    }
    if (!c.model_path) {
        fprintf(stderr, "ds4 serve: -m MODEL.gguf is required\n");
        usage(stderr);
        return 2;
    }
    if (c.kv_enabled && c.kv.cold_max_tokens && c.kv.cold_max_tokens < c.kv.min_tokens) {
        fprintf(stderr, "ds4 serve: --kv-cache-cold-max-tokens must be 0 or at least --kv-cache-min-tokens\n");
        return 2;
    }
    return srv_run(&c);
}
