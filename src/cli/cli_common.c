/* Shared pieces of run/chat/perplexity (see cli_common.h). */
#include "cli/cli_common.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/file.h"
#include "base/progress.h"
#include "chat/chat.h"

#define DEMO_REL "models/ds4-demo-q2.gguf"

static bool file_exists(const char *p) { return access(p, R_OK) == 0; }

/* <dir of the running binary>/../models/... */
static char *demo_next_to_binary(void) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return NULL;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return NULL;
    *slash = 0;
    size_t need = strlen(exe) + sizeof("/../" DEMO_REL);
    char *p = ds4_xmalloc(need);
    snprintf(p, need, "%s/../%s", exe, DEMO_REL);
    if (file_exists(p)) return p;
    free(p);
    return NULL;
}

char *cli_resolve_model(const char *opt) {
    if (opt && opt[0]) return ds4_xstrdup(opt);
    const char *env = getenv("DS4_MODEL");
    if (env && env[0]) return ds4_xstrdup(env);
    if (file_exists("ds4flash.gguf")) return ds4_xstrdup("ds4flash.gguf");
    char *demo = demo_next_to_binary();
#ifdef DS4_SOURCE_DIR
    if (!demo && file_exists(DS4_SOURCE_DIR "/" DEMO_REL)) demo = ds4_xstrdup(DS4_SOURCE_DIR "/" DEMO_REL);
#endif
    if (demo) {
        fprintf(stderr, "ds4: no -m, $DS4_MODEL or ./ds4flash.gguf: using the embedded demo model %s\n", demo);
        return demo;
    }
    fprintf(stderr, "ds4: no model: pass -m FILE, set $DS4_MODEL, or put ds4flash.gguf in the current directory\n");
    return NULL;
}

/* The weights are memory-mapped, so "loading" is only the page faults of
 * the first evaluation. When the file fits comfortably in RAM, fault it in
 * now with a progress bar: the wait is visible and the first prompt runs at
 * full speed. A file larger than half the RAM is left to the page cache. */
static void warm_weights(const ds4_model *m) {
    const gguf_file *f = ds4_model_gguf(m);
    const volatile unsigned char *base = gguf_base(f);
    uint64_t size = gguf_file_size(f);
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (!base || pages <= 0 || psz <= 0 || size > (uint64_t)pages * (uint64_t)psz / 2) return;
    const uint64_t chunk = 64u << 20;
    ds4_progress p;
    ds4_progress_begin(&p, "load", size, true);
    unsigned sum = 0;
    for (uint64_t off = 0; off < size; off += chunk) {
        uint64_t n = size - off < chunk ? size - off : chunk;
        madvise((void *)(uintptr_t)(base + off), n, MADV_WILLNEED);
        for (uint64_t i = 0; i < n; i += (uint64_t)psz) sum += base[off + i];
        ds4_progress_add(&p, n);
    }
    ds4_progress_end(&p);
    (void)sum;
}

bool cli_parse_numerics(const char *cmd, const char *v, ds4_numerics *out) {
    if (ds4_numerics_parse(v, out)) return true;
    fprintf(stderr, "ds4 %s: bad value for --numerics: '%s' (exact or official)\n", cmd, v);
    return false;
}

bool cli_parse_weights(const char *cmd, const char *v, ds4_weights_mode *out) {
    if (ds4_weights_mode_parse(v, out)) return true;
    fprintf(stderr, "ds4 %s: bad value for --weights: '%s' (auto, mmap or ram)\n", cmd, v);
    return false;
}

bool cli_model_load(cli_model *cm, const char *cmd, const char *opt_path, int threads, ds4_numerics numerics,
                    ds4_weights_mode weights) {
    memset(cm, 0, sizeof *cm);
    cm->path = cli_resolve_model(opt_path);
    if (!cm->path) return false;
    ds4_model_opts o = {.n_threads = threads, .numerics = numerics, .progress = true, .weights = weights};
    ds4_error err = {{0}};
    double t0 = ds4_now();
    cm->model = ds4_model_load(cm->path, &o, &err);
    if (!cm->model) {
        fprintf(stderr, "ds4 %s: %s\n", cmd, err.msg);
        cli_model_free(cm);
        return false;
    }
    if (!ds4_model_weights_in_ram(cm->model)) warm_weights(cm->model);
    cm->tok = ds4_tokenizer_load(ds4_model_gguf(cm->model), &err);
    if (!cm->tok) {
        fprintf(stderr, "ds4 %s: %s: tokenizer: %s\n", cmd, cm->path, err.msg);
        cli_model_free(cm);
        return false;
    }
    cm->load_s = ds4_now() - t0;
    return true;
}

void cli_model_free(cli_model *cm) {
    ds4_tokenizer_free(cm->tok);
    ds4_model_free(cm->model);
    free(cm->path);
    memset(cm, 0, sizeof *cm);
}

bool cli_parse_int(const char *cmd, const char *flag, const char *v, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "ds4 %s: bad value for %s: '%s' (an integer in [%d, %d])\n", cmd, flag,
                v ? v : "", lo, hi);
        return false;
    }
    *out = (int)x;
    return true;
}

bool cli_parse_float(const char *cmd, const char *flag, const char *v, float lo, float hi, float *out) {
    char *end;
    errno = 0;
    double x = v ? strtod(v, &end) : 0;
    if (!v || !*v || *end || errno || !(x >= lo && x <= hi)) {
        fprintf(stderr, "ds4 %s: bad value for %s: '%s' (a number in [%g, %g])\n", cmd, flag,
                v ? v : "", lo, hi);
        return false;
    }
    *out = (float)x;
    return true;
}

bool cli_parse_u64(const char *cmd, const char *flag, const char *v, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long x = v ? strtoull(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || v[0] == '-') {
        fprintf(stderr, "ds4 %s: bad value for %s: '%s' (a non-negative integer)\n", cmd, flag, v ? v : "");
        return false;
    }
    *out = x;
    return true;
}

const char *cli_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "ds4 %s: %s needs a value\n", cmd, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

char *cli_read_file(const char *path, size_t *len, ds4_error *err) {
    if (!strcmp(path, "-")) return ds4_read_stream(stdin, "stdin", len, err);
    return ds4_read_file(path, len, err);
}

/* Prefill progress: the engine reports (done, total) per internal chunk. */
static void prefill_progress(void *user, int done, int total) {
    ds4_progress *p = user;
    if (done > (int)p->done) ds4_progress_add(p, (uint64_t)done - p->done);
    (void)total;
}

#define PREFILL_PROGRESS_MIN 512 /* tokens: shorter prompts finish before a bar helps */

bool cli_prefill(ds4_session *s, const int32_t *ids, int n, float *logits, ds4_error *err) {
    if (n <= 0) return ds4_fail(err, "empty prompt");
    ds4_progress p;
    bool bar = n >= PREFILL_PROGRESS_MIN;
    if (bar) {
        ds4_progress_begin(&p, "prefill", (uint64_t)n, false);
        ds4_session_set_progress(s, prefill_progress, &p);
    }
    bool ok = ds4_session_eval(s, ids, n, logits, false, err);
    if (bar) {
        ds4_session_set_progress(s, NULL, NULL);
        if (ok) ds4_progress_end(&p);
        else if (p.enabled) fputc('\n', stderr);
    }
    return ok;
}

const char *cli_finish_name(cli_finish f) {
    switch (f) {
    case CLI_FINISH_STOP: return "stop";
    case CLI_FINISH_LENGTH: return "length";
    case CLI_FINISH_INTERRUPT: return "interrupted";
    case CLI_FINISH_CALLER: return "stop";
    case CLI_FINISH_ERROR: return "error";
    }
    return "?";
}

/* Hands decoded bytes through the stop-string filter to the callback. */
static bool deliver(cli_gen *g, const char *t, size_t n, bool *stop_hit) {
    const char *o;
    size_t ol;
    *stop_hit = ds4_stopper_feed(g->stop, t, n, &o, &ol);
    if (ol && !g->on_text(g->user, o, ol)) return false;
    return !*stop_hit;
}

cli_finish cli_generate(cli_gen *g, ds4_error *err) {
    ds4_detok *dt = ds4_detok_new(g->tok);
    cli_finish fin = CLI_FINISH_LENGTH;
    double t0 = ds4_now();
    g->n_gen = 0;
    bool stop_hit = false;
    for (int i = 0; i < g->max_tokens; i++) {
        if (g->interrupt && *g->interrupt) {
            fin = CLI_FINISH_INTERRUPT;
            break;
        }
        if (ds4_session_pos(g->sess) >= ds4_session_ctx(g->sess)) {
            fin = CLI_FINISH_LENGTH;
            break;
        }
        int32_t t = ds4_sampler_sample(g->sampler, g->logits);
        ds4_sampler_accept(g->sampler, t);
        if (ds4_stopper_is_eos(g->stop, t)) { /* never evaluated */
            fin = CLI_FINISH_STOP;
            break;
        }
        g->n_gen++;
        if (!ds4_session_eval(g->sess, &t, 1, g->logits, false, err)) {
            fin = CLI_FINISH_ERROR;
            break;
        }
        size_t n;
        const char *txt = ds4_detok_push(dt, t, &n);
        if (!deliver(g, txt, n, &stop_hit)) {
            fin = stop_hit ? CLI_FINISH_STOP : CLI_FINISH_CALLER;
            break;
        }
    }
    if (fin != CLI_FINISH_ERROR && fin != CLI_FINISH_CALLER && !stop_hit) {
        size_t n;
        const char *txt = ds4_detok_flush(dt, &n);
        if (deliver(g, txt, n, &stop_hit)) {
            const char *o;
            size_t ol;
            ds4_stopper_flush(g->stop, &o, &ol);
            if (ol) g->on_text(g->user, o, ol);
        } else if (stop_hit) {
            fin = CLI_FINISH_STOP;
        }
    }
    g->gen_s = ds4_now() - t0;
    ds4_detok_free(dt);
    return fin;
}

void cli_print_stats(FILE *f, double load_s, int n_prompt, double prompt_s, int n_gen, double gen_s,
                     uint64_t seed) {
    if (load_s >= 0) fprintf(f, "load: %.2f s\n", load_s);
    fprintf(f, "prompt: %d tokens in %.2f s (%.1f tok/s)\n", n_prompt, prompt_s,
            prompt_s > 0 ? n_prompt / prompt_s : 0.0);
    fprintf(f, "generation: %d tokens in %.2f s (%.1f tok/s)\n", n_gen, gen_s, gen_s > 0 ? n_gen / gen_s : 0.0);
    fprintf(f, "seed: %llu\n", (unsigned long long)seed);
}

void cli_opts_default(cli_opts *o) {
    memset(o, 0, sizeof *o);
    o->ctx = 32768;
    o->n_tokens = 50000;
    o->think = DS4_THINK_HIGH;
    o->numerics = DS4_NUMERICS_OFFICIAL;
    o->system = "You are a helpful assistant";
    o->sp = ds4_sampler_defaults();
}

void cli_common_usage(FILE *f) {
    fprintf(f,
            "  -m, --model FILE      model GGUF (else $DS4_MODEL, ./ds4flash.gguf, the demo model)\n"
            "  -n, --tokens N        tokens to generate at most (default 50000, capped by --ctx)\n"
            "  -c, --ctx N           context size in tokens (default 32768)\n"
            "  -t, --threads N       CPU threads (default: one per physical core)\n"
            "  --numerics MODE       official (default: DeepSeek's inference rounding) | exact (plain fp32)\n"
            CLI_WEIGHTS_HELP
            "  --think MODE          none | high | max (default high; max needs --ctx >= 393216)\n"
            "  --nothink, --think-max  the same as --think none / --think max\n"
            "  -sys, --system TEXT   system prompt (default \"You are a helpful assistant\"; \"\" = none)\n"
            "  --temp T              temperature, 0 = greedy (default 1)\n"
            "  --top-p P             nucleus mass (default 1)\n"
            "  --top-k K             keep the K best tokens, 0 = off (default 0)\n"
            "  --min-p P             drop tokens below P x the best probability (default 0.05)\n"
            "  --repeat-penalty R    penalize recently seen tokens (default 1 = off)\n"
            "  --frequency-penalty F, --presence-penalty P   OpenAI-style penalties (default 0)\n"
            "  --penalty-last-n N    how many recent tokens the penalties look at (default 64, 0 = all)\n"
            "  --seed S              random seed (default: from the clock; printed on stderr)\n");
}

int cli_parse_common(const char *cmd, int argc, char **argv, int *i, cli_opts *o) {
    const char *a = argv[*i], *v;
#define VAL() do { if (!(v = cli_value(cmd, argc, argv, i))) return -1; } while (0)
#define CHK(x) do { if (!(x)) return -1; } while (0)
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) { VAL(); o->model = v; }
    else if (!strcmp(a, "-n") || !strcmp(a, "--tokens")) { VAL(); CHK(cli_parse_int(cmd, a, v, 0, 1 << 30, &o->n_tokens)); }
    else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) { VAL(); CHK(cli_parse_int(cmd, a, v, 1, 1 << 30, &o->ctx)); }
    else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { VAL(); CHK(cli_parse_int(cmd, a, v, 1, 4096, &o->threads)); }
    else if (!strcmp(a, "--think")) {
        VAL();
        ds4_think_mode m;
        if (!ds4_think_parse(v, &m)) {
            fprintf(stderr, "ds4 %s: bad value for --think: '%s' (none, high or max)\n", cmd, v);
            return -1;
        }
        o->think = m;
    }
    else if (!strcmp(a, "--nothink")) o->think = DS4_THINK_NONE;
    else if (!strcmp(a, "--numerics")) { VAL(); CHK(cli_parse_numerics(cmd, v, &o->numerics)); }
    else if (!strcmp(a, "--weights")) { VAL(); CHK(cli_parse_weights(cmd, v, &o->weights)); }
    else if (!strcmp(a, "--think-max")) o->think = DS4_THINK_MAX;
    else if (!strcmp(a, "-sys") || !strcmp(a, "--system")) { VAL(); o->system = v; }
    else if (!strcmp(a, "--temp")) { VAL(); CHK(cli_parse_float(cmd, a, v, 0, 100, &o->sp.temp)); }
    else if (!strcmp(a, "--top-p")) { VAL(); CHK(cli_parse_float(cmd, a, v, 0, 1, &o->sp.top_p)); }
    else if (!strcmp(a, "--top-k")) { VAL(); CHK(cli_parse_int(cmd, a, v, 0, DS4_SAMPLER_MAX_TOP_K, &o->sp.top_k)); }
    else if (!strcmp(a, "--min-p")) { VAL(); CHK(cli_parse_float(cmd, a, v, 0, 1, &o->sp.min_p)); }
    else if (!strcmp(a, "--repeat-penalty")) { VAL(); CHK(cli_parse_float(cmd, a, v, 0.01f, 100, &o->sp.repeat_penalty)); }
    else if (!strcmp(a, "--frequency-penalty")) { VAL(); CHK(cli_parse_float(cmd, a, v, -2, 2, &o->sp.frequency_penalty)); }
    else if (!strcmp(a, "--presence-penalty")) { VAL(); CHK(cli_parse_float(cmd, a, v, -2, 2, &o->sp.presence_penalty)); }
    else if (!strcmp(a, "--penalty-last-n")) { VAL(); CHK(cli_parse_int(cmd, a, v, 0, 1 << 30, &o->sp.penalty_last_n)); }
    else if (!strcmp(a, "--seed")) { VAL(); CHK(cli_parse_u64(cmd, a, v, &o->sp.seed)); }
    else return 0;
#undef VAL
#undef CHK
    return 1;
}
