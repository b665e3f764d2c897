/* ds4 logits: evaluate a token sequence and write the logits of every
 * position (row-major float32), optionally comparing them with reference
 * logits / hidden states (the oracle tests use this). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/progress.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "engine/engine.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: ds4 logits -m|--model FILE.gguf (--tokens 1,2,3 | --manifest M.json) [--out LOGITS.f32]\n"
            "                  [--mode prefill|decode|chunked:37,1,30,32] [--numerics exact|official]\n"
            "                  [--weights auto|mmap|ram]\n"
            "                  [--threads N] [--ctx N] [--dump-hidden FILE]\n"
            "                  [--ref REF.f32] [--max-diff X] [--ref-hidden REF.f32] [--max-hidden-diff X]\n"
            "                  [--require-argmax] [--loss]\n\n"
            "Writes n_tokens x n_vocab float32 logits (default numerics: exact).\n"
            "--manifest reads the token list from the \"prompt\" array of an oracle manifest.json.\n"
            "--ref compares with reference logits (max/mean |diff|, argmax agreement); --max-diff fails above X.\n"
            "--dump-hidden writes the embeddings and layer outputs 0..L-2 (n x N x D each), then the final\n"
            "RMSNorm output (n x D), the order of the oracle's hidden_states.f32; --ref-hidden compares\n"
            "them per stage relative to the reference's RMS (--max-hidden-diff fails above X).\n"
            "--loss prints the mean next-token loss (nats) over the sequence.\n");
}

typedef struct {
    int32_t *v;
    int n, cap;
} ivec;

static void ipush(ivec *a, int32_t x) {
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->v = realloc(a->v, sizeof(int32_t) * (size_t)a->cap);
        if (!a->v) abort();
    }
    a->v[a->n++] = x;
}

static bool parse_list(const char *s, ivec *out, const char *what) {
    while (*s) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 0 || v > INT32_MAX) {
            fprintf(stderr, "ds4 logits: bad %s list at \"%s\"\n", what, s);
            return false;
        }
        ipush(out, (int32_t)v);
        s = end;
        if (*s == ',') s++;
        else if (*s) {
            fprintf(stderr, "ds4 logits: bad %s list at \"%s\" (expected a comma)\n", what, s);
            return false;
        }
    }
    return true;
}

static bool read_manifest(const char *path, ivec *out) {
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        if (je.line > 0) fprintf(stderr, "ds4 logits: %s:%d: %s\n", path, je.line, je.text);
        else fprintf(stderr, "ds4 logits: %s: %s\n", path, je.text);
        return false;
    }
    json_t *p = json_object_get(root, "prompt");
    bool ok = json_is_array(p);
    for (size_t i = 0; ok && i < json_array_size(p); i++) {
        json_t *x = json_array_get(p, i);
        ok = json_is_integer(x) && json_integer_value(x) >= 0 && json_integer_value(x) <= INT32_MAX;
        if (ok) ipush(out, (int32_t)json_integer_value(x));
    }
    if (!ok) fprintf(stderr, "ds4 logits: %s: \"prompt\" must be an array of token ids\n", path);
    json_decref(root);
    return ok;
}

static float *read_f32(const char *path, size_t count) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "ds4 logits: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    float *buf = malloc(sizeof(float) * (count ? count : 1));
    size_t got = buf ? fread(buf, sizeof(float), count, f) : 0;
    int extra = fgetc(f);
    fclose(f);
    if (got != count || extra != EOF) {
        fprintf(stderr, "ds4 logits: %s: expected exactly %zu float32 values\n", path, count);
        free(buf);
        return NULL;
    }
    return buf;
}

static bool write_file(const char *path, const void *data, size_t bytes) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        fprintf(stderr, "ds4 logits: cannot create %s: %s\n", tmp, strerror(errno));
        return false;
    }
    bool ok = fwrite(data, 1, bytes, f) == bytes;
    ok = (fclose(f) == 0) && ok;
    if (ok) ok = rename(tmp, path) == 0;
    if (!ok) {
        fprintf(stderr, "ds4 logits: writing %s failed: %s\n", path, strerror(errno));
        remove(tmp);
    }
    return ok;
}

/* Hidden-state capture: one buffer per stage, rows by position. */
typedef struct {
    int n_stage, n_tok;
    int *width;
    float **buf;
} hidden_cap;

static void on_hidden(void *user, int stage, int pos, int n, const float *data, int width) {
    hidden_cap *h = user;
    if (stage >= h->n_stage) return;
    if (!h->buf[stage]) {
        h->width[stage] = width;
        h->buf[stage] = calloc((size_t)h->n_tok * (size_t)width, sizeof(float));
        if (!h->buf[stage]) abort();
    }
    memcpy(h->buf[stage] + (size_t)pos * width, data, sizeof(float) * (size_t)n * (size_t)width);
}

/* Session progress counts within one eval call; the bar counts tokens over
 * the whole run. */
typedef struct {
    ds4_progress bar;
    int last; /* done count of the current call at the previous report */
} progress_ctx;

static void on_progress(void *user, int done, int total) {
    progress_ctx *p = user;
    ds4_progress_add(&p->bar, (uint64_t)(done - p->last));
    p->last = done == total ? 0 : done;
}

int cmd_logits(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *mode = "prefill", *dump = NULL, *ref = NULL, *ref_hidden = NULL;
    const char *manifest = NULL;
    double max_diff = -1, max_hidden = -1;
    bool want_argmax = false, want_loss = false;
    ds4_model_opts opts;
    ds4_model_opts_default(&opts);
    opts.numerics = DS4_NUMERICS_EXACT;
    int ctx = 0;
    ivec toks = {0}, chunks = {0};
    int rc = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const bool has = i + 1 < argc;
#define ARG(name) (!strcmp(a, name) && has)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            rc = 0;
            goto out_args;
        } else if (ARG("-m") || ARG("--model")) model = argv[++i];
        else if (ARG("--tokens")) {
            if (!parse_list(argv[++i], &toks, "token")) { rc = 2; goto out_args; }
        } else if (ARG("--manifest")) manifest = argv[++i];
        else if (ARG("--out")) out = argv[++i];
        else if (ARG("--mode")) mode = argv[++i];
        else if (ARG("--numerics")) {
            if (!cli_parse_numerics("logits", argv[++i], &opts.numerics)) { rc = 2; goto out_args; }
        } else if (ARG("--weights")) {
            if (!cli_parse_weights("logits", argv[++i], &opts.weights)) { rc = 2; goto out_args; }
        } else if (ARG("--threads")) {
            if (!cli_parse_int("logits", "--threads", argv[++i], 1, 4096, &opts.n_threads)) { rc = 2; goto out_args; }
        } else if (ARG("--ctx")) {
            if (!cli_parse_int("logits", "--ctx", argv[++i], 1, 1 << 30, &ctx)) { rc = 2; goto out_args; }
        }
        else if (ARG("--dump-hidden")) dump = argv[++i];
        else if (ARG("--ref")) ref = argv[++i];
        else if (ARG("--max-diff")) max_diff = atof(argv[++i]);
        else if (ARG("--ref-hidden")) ref_hidden = argv[++i];
        else if (ARG("--max-hidden-diff")) max_hidden = atof(argv[++i]);
        else if (!strcmp(a, "--require-argmax")) want_argmax = true;
        else if (!strcmp(a, "--loss")) want_loss = true;
        else {
            fprintf(stderr, "ds4 logits: unknown or incomplete option '%s'\n\n", a);
            usage(stderr);
            rc = 2;
            goto out_args;
        }
#undef ARG
    }
    if (manifest && !read_manifest(manifest, &toks)) { rc = 2; goto out_args; }
    if (!model || toks.n == 0) {
        fprintf(stderr, "ds4 logits: need -m FILE and a non-empty --tokens or --manifest\n\n");
        usage(stderr);
        rc = 2;
        goto out_args;
    }
    /* The evaluation schedule: chunk sizes summing to the token count. */
    if (!strcmp(mode, "prefill")) ipush(&chunks, toks.n);
    else if (!strcmp(mode, "decode"))
        for (int i = 0; i < toks.n; i++) ipush(&chunks, 1);
    else if (!strncmp(mode, "chunked:", 8)) {
        if (!parse_list(mode + 8, &chunks, "chunk")) { rc = 2; goto out_args; }
        int sum = 0;
        for (int i = 0; i < chunks.n; i++) sum += chunks.v[i];
        if (sum != toks.n) {
            fprintf(stderr, "ds4 logits: chunks sum to %d, but there are %d tokens\n", sum, toks.n);
            rc = 2;
            goto out_args;
        }
    } else {
        fprintf(stderr, "ds4 logits: --mode must be prefill, decode or chunked:A,B,..., not \"%s\"\n", mode);
        rc = 2;
        goto out_args;
    }
    if (ctx <= 0) ctx = toks.n;

    ds4_error err = {{0}};
    ds4_model *m = ds4_model_load(model, &opts, &err);
    if (!m) {
        fprintf(stderr, "ds4 logits: %s\n", err.msg);
        goto out_args;
    }
    ds4_session *s = ds4_session_create(m, ctx, &err);
    const int V = ds4_model_n_vocab(m), L = ds4_model_n_layers(m);
    float *logits = malloc(sizeof(float) * (size_t)toks.n * (size_t)V);
    hidden_cap hc = {L + 2, toks.n, calloc((size_t)L + 2, sizeof(int)), calloc((size_t)L + 2, sizeof(float *))};
    if (!s || !logits) {
        fprintf(stderr, "ds4 logits: %s\n", s ? "out of memory" : err.msg);
        goto done;
    }
    if (dump || ref_hidden) ds4_session_set_hidden_hook(s, on_hidden, &hc);
    char mb[32], wb[32];
    fprintf(stderr, "ds4 logits: %d tokens, %s numerics, %d threads, ctx %d, weights %s, session %s\n", toks.n,
            ds4_model_numerics(m) == DS4_NUMERICS_EXACT ? "exact" : "official", ds4_model_threads(m), ctx,
            ds4_format_bytes((double)ds4_model_weight_bytes(m), wb, sizeof wb),
            ds4_format_bytes((double)ds4_session_memory_bytes(s), mb, sizeof mb));
    progress_ctx prog = {.last = 0};
    ds4_progress_begin(&prog.bar, "logits", (uint64_t)toks.n, false);
    ds4_session_set_progress(s, on_progress, &prog);
    const double t0 = ds4_now();
    for (int c = 0, done = 0; c < chunks.n; done += chunks.v[c++]) {
        if (!ds4_session_eval(s, toks.v + done, chunks.v[c], logits + (size_t)done * V, true, &err)) {
            fprintf(stderr, "ds4 logits: %s\n", err.msg);
            goto done;
        }
    }
    ds4_progress_end(&prog.bar);
    const double dt = ds4_now() - t0;
    fprintf(stderr, "ds4 logits: %.3f s (%.1f tokens/s)\n", dt, toks.n / (dt > 0 ? dt : 1e-9));
    if (out && !write_file(out, logits, sizeof(float) * (size_t)toks.n * V)) goto done;

    /* Stages in the reference's order: embeddings, layers 0..L-2, final norm. */
    int order[DS4_MAX_LAYERS + 2], n_order = 0;
    for (int st = 0; st < L; st++) order[n_order++] = st;
    order[n_order++] = L + 1;
    if (dump) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", dump);
        FILE *f = fopen(tmp, "wb");
        bool ok = f != NULL;
        for (int k = 0; ok && k < n_order; k++)
            ok = fwrite(hc.buf[order[k]], sizeof(float), (size_t)toks.n * hc.width[order[k]], f) ==
                 (size_t)toks.n * hc.width[order[k]];
        if (f) ok = (fclose(f) == 0) && ok;
        if (!ok || rename(tmp, dump) != 0) {
            fprintf(stderr, "ds4 logits: writing %s failed\n", dump);
            remove(tmp);
            goto done;
        }
    }
    bool fail = false;
    if (ref_hidden) {
        size_t total = 0;
        for (int k = 0; k < n_order; k++) total += (size_t)toks.n * hc.width[order[k]];
        float *rh = read_f32(ref_hidden, total);
        if (!rh) goto done;
        size_t off = 0;
        for (int k = 0; k < n_order; k++) {
            const size_t cnt = (size_t)toks.n * hc.width[order[k]];
            double ss = 0, md = 0;
            for (size_t i = 0; i < cnt; i++) ss += (double)rh[off + i] * rh[off + i];
            const double rms = sqrt(ss / (double)cnt);
            for (size_t i = 0; i < cnt; i++) md = fmax(md, fabs((double)hc.buf[order[k]][i] - rh[off + i]));
            const double rel = md / (rms > 0 ? rms : 1);
            printf("hidden stage %d: max |diff| %.3g, rms %.3g, relative %.3g\n", k, md, rms, rel);
            if (max_hidden >= 0 && !(rel <= max_hidden)) fail = true;
            off += cnt;
        }
        free(rh);
    }
    if (ref) {
        float *r = read_f32(ref, (size_t)toks.n * V);
        if (!r) goto done;
        double md = 0, sum = 0;
        int agree = 0;
        for (int t = 0; t < toks.n; t++) {
            const float *a = logits + (size_t)t * V, *b = r + (size_t)t * V;
            int ia = 0, ib = 0;
            for (int v = 0; v < V; v++) {
                const double d = fabs((double)a[v] - b[v]);
                md = isnan(d) ? INFINITY : fmax(md, d);
                sum += d;
                if (a[v] > a[ia]) ia = v;
                if (b[v] > b[ib]) ib = v;
            }
            agree += ia == ib;
        }
        printf("logits vs reference: max |diff| %.6g, mean |diff| %.6g, argmax agree %d/%d\n", md,
               sum / ((double)toks.n * V), agree, toks.n);
        if (max_diff >= 0 && !(md <= max_diff)) fail = true;
        if (want_argmax && agree != toks.n) fail = true;
        free(r);
    }
    if (want_loss) {
        double nll = 0;
        for (int t = 0; t + 1 < toks.n; t++) {
            const float *a = logits + (size_t)t * V;
            double mx = a[0], se = 0;
            for (int v = 1; v < V; v++) mx = fmax(mx, a[v]);
            for (int v = 0; v < V; v++) se += exp(a[v] - mx);
            nll += mx + log(se) - a[toks.v[t + 1]];
        }
        printf("loss: %.6f nats/token over %d predictions (perplexity %.4f)\n", nll / (toks.n - 1), toks.n - 1,
               exp(nll / (toks.n - 1)));
    }
    rc = fail ? 1 : 0;
    if (fail) fprintf(stderr, "ds4 logits: comparison outside tolerance\n");
done:
    for (int k = 0; k < L + 2; k++) free(hc.buf[k]);
    free(hc.buf);
    free(hc.width);
    free(logits);
    ds4_session_free(s);
    ds4_model_free(m);
out_args:
    free(toks.v);
    free(chunks.v);
    return rc;
}
