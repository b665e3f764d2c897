/* ds4 perplexity: mean negative log-likelihood of a text under the model.
 *
 * Protocol (the demo model's reference): the text (optionally only its last
 * floor(len * F) bytes) is tokenized without BOS; windows of W input tokens
 * with their next-token targets start at 0, every S tokens, as long as a
 * full window plus one target fits; each window starts from an empty state.
 * The first window scores all W targets; later windows score only the
 * targets no earlier window scored (all W when S >= W). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/progress.h"
#include "cli/cli_common.h"
#include "cli/commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ds4 perplexity [-m MODEL] -f FILE [options]\n\n"
            "Mean NLL (nats/token) and perplexity of FILE under the model.\n\n"
            "  -m, --model FILE      model GGUF (else $DS4_MODEL, ./ds4flash.gguf, the demo model)\n"
            "  -f, --file FILE       the text ('-' = stdin)\n"
            "  --window W            input tokens per window (default 256)\n"
            "  --stride S            tokens between window starts (default: W)\n"
            "  --tail-fraction F     score only the last floor(len*F) bytes of the file (default 1)\n"
            "  --max-windows N       stop after N windows (0 = all)\n"
            "  -t, --threads N       CPU threads (default: one per physical core)\n"
            "  --numerics MODE       exact (default: plain fp32, the reference protocol) | official\n"
            CLI_WEIGHTS_HELP
            "  --json                print the result as JSON on stdout\n");
}

/* -log softmax(logits)[target], in double for a stable sum. */
static double nll(const float *l, int n, int target) {
    float mx = l[0];
    for (int i = 1; i < n; i++)
        if (l[i] > mx) mx = l[i];
    double s = 0.0;
    for (int i = 0; i < n; i++) s += exp((double)l[i] - mx);
    return log(s) + mx - (double)l[target];
}

int cmd_perplexity(int argc, char **argv) {
    const char *model = NULL, *file = NULL;
    int window = 256, stride = 0, threads = 0, max_windows = 0;
    float tail = 1.0f;
    bool json = false;
    ds4_numerics numerics = DS4_NUMERICS_EXACT;
    ds4_weights_mode weights = DS4_WEIGHTS_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
#define VAL() do { if (!(v = cli_value("perplexity", argc, argv, &i))) return 2; } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { VAL(); model = v; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) { VAL(); file = v; }
        else if (!strcmp(a, "--window")) { VAL(); if (!cli_parse_int("perplexity", a, v, 1, 1 << 24, &window)) return 2; }
        else if (!strcmp(a, "--stride")) { VAL(); if (!cli_parse_int("perplexity", a, v, 1, 1 << 24, &stride)) return 2; }
        else if (!strcmp(a, "--max-windows")) { VAL(); if (!cli_parse_int("perplexity", a, v, 0, 1 << 30, &max_windows)) return 2; }
        else if (!strcmp(a, "--tail-fraction")) { VAL(); if (!cli_parse_float("perplexity", a, v, 1e-9f, 1, &tail)) return 2; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { VAL(); if (!cli_parse_int("perplexity", a, v, 1, 4096, &threads)) return 2; }
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--weights")) { VAL(); if (!cli_parse_weights("perplexity", v, &weights)) return 2; }
        else if (!strcmp(a, "--numerics")) { VAL(); if (!cli_parse_numerics("perplexity", v, &numerics)) return 2; }
        else { fprintf(stderr, "ds4 perplexity: unknown option '%s' (see ds4 perplexity --help)\n", a); return 2; }
#undef VAL
    }
    if (!file) {
        fprintf(stderr, "ds4 perplexity: -f FILE is required\n");
        return 2;
    }
    if (!stride) stride = window;
    ds4_error err = {{0}};
    size_t len;
    char *text = cli_read_file(file, &len, &err);
    if (!text) {
        fprintf(stderr, "ds4 perplexity: %s\n", err.msg);
        return 1;
    }
    size_t keep = tail >= 1.0f ? len : (size_t)floor((double)len * (double)tail);
    const char *part = text + (len - keep);

    char *path = cli_resolve_model(model);
    if (!path) {
        free(text);
        return 1;
    }
    ds4_model_opts mo = {.n_threads = threads,
                         .numerics = numerics,
                         .progress = true,
                         .weights = weights};
    int rc = 1;
    ds4_model *m = NULL;
    ds4_tokenizer *tok = NULL;
    ds4_session *s = NULL;
    float *logits = NULL;
    ds4_tokens ids = {0};
    double t0 = ds4_now();
    if (!(m = ds4_model_load(path, &mo, &err))) { /* the loader's message starts with the path */
        fprintf(stderr, "ds4 perplexity: %s\n", err.msg);
        goto out;
    }
    if (!(tok = ds4_tokenizer_load(ds4_model_gguf(m), &err))) {
        fprintf(stderr, "ds4 perplexity: %s: tokenizer: %s\n", path, err.msg);
        goto out;
    }
    double load_s = ds4_now() - t0;
    if (!ds4_tokenize(tok, part, keep, true, &ids, &err)) {
        fprintf(stderr, "ds4 perplexity: tokenize: %s\n", err.msg);
        goto out;
    }
    int n = (int)ids.n;
    int n_win = n >= window + 1 ? (n - window - 1) / stride + 1 : 0;
    if (max_windows && n_win > max_windows) n_win = max_windows;
    if (n_win == 0) {
        fprintf(stderr, "ds4 perplexity: %d tokens is less than one window of %d plus a target\n", n, window);
        goto out;
    }
    if (!(s = ds4_session_create(m, window, &err))) {
        fprintf(stderr, "ds4 perplexity: %s\n", err.msg);
        goto out;
    }
    int nv = ds4_model_n_vocab(m);
    logits = malloc((size_t)window * (size_t)nv * sizeof *logits);
    if (!logits) {
        fprintf(stderr, "ds4 perplexity: out of memory for %d x %d logits\n", window, nv);
        goto out;
    }
    ds4_progress p;
    ds4_progress_begin(&p, "perplexity", (uint64_t)n_win, false);
    double sum = 0.0;
    long scored = 0;
    int scored_to = 0; /* targets [1, scored_to] (token indices) are done */
    t0 = ds4_now();
    for (int w = 0; w < n_win; w++) {
        int start = w * stride;
        ds4_session_reset(s);
        if (!ds4_session_eval(s, ids.ids + start, window, logits, true, &err)) {
            if (p.enabled) fputc('\n', stderr);
            fprintf(stderr, "ds4 perplexity: window %d: %s\n", w, err.msg);
            goto out;
        }
        for (int j = 0; j < window; j++) {
            int target = start + j + 1;
            if (target <= scored_to) continue;
            sum += nll(logits + (size_t)j * nv, nv, ids.ids[target]);
            scored++;
        }
        scored_to = start + window;
        ds4_progress_add(&p, 1);
    }
    ds4_progress_end(&p);
    double secs = ds4_now() - t0;
    double mean = sum / (double)scored;
    if (json) {
        printf("{\"model\":\"%s\",\"tokens\":%d,\"windows\":%d,\"window\":%d,\"stride\":%d,\"scored\":%ld,"
               "\"nll\":%.6f,\"perplexity\":%.4f,\"seconds\":%.2f}\n",
               path, n, n_win, window, stride, scored, mean, exp(mean), secs);
    } else {
        printf("model: %s\n", path);
        printf("text: %zu bytes, %d tokens; %d windows of %d (stride %d), %ld targets\n", keep, n, n_win, window,
               stride, scored);
        printf("mean NLL: %.4f nats/token\n", mean);
        printf("perplexity: %.4f\n", exp(mean));
    }
    fprintf(stderr, "load %.2f s, eval %.2f s (%.1f tok/s)\n", load_s, secs,
            secs > 0 ? (double)n_win * window / secs : 0.0);
    rc = 0;
out:
    ds4_tokens_free(&ids);
    free(logits);
    ds4_session_free(s);
    ds4_tokenizer_free(tok);
    ds4_model_free(m);
    free(path);
    free(text);
    return rc;
}
