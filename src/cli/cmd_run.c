/* ds4 run: one prompt in, the streamed continuation out. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/progress.h"
#include "chat/chat.h"
#include "cli/cli_common.h"
#include "cli/commands.h"

static volatile sig_atomic_t g_interrupt;
static void on_sigint(int sig) {
    (void)sig;
    g_interrupt = 1;
}

/* Streams generated text to stdout, remembering whether it ended a line. */
static bool print_text(void *user, const char *t, size_t n) {
    bool *ended_nl = user;
    fwrite(t, 1, n, stdout);
    fflush(stdout);
    if (n) *ended_nl = t[n - 1] == '\n';
    return true;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: ds4 run [-m MODEL] [-p TEXT | --prompt-file F | < stdin] [options]\n\n"
            "Streams the model's continuation of the prompt to stdout; timings go to stderr.\n"
            "The prompt goes through the DeepSeek V4 chat template unless --raw (or it\n"
            "already starts with the BOS token).\n\n"
            "  -p, --prompt TEXT     prompt text\n"
            "  --prompt-file FILE    prompt from a file ('-' = stdin)\n"
            "  --raw                 no chat template: the prompt text is the model input\n"
            "  --stop TEXT           stop when TEXT is generated (repeatable)\n");
    cli_common_usage(f);
}

int cmd_run(int argc, char **argv) {
    const char *prompt = NULL, *prompt_file = NULL;
    cli_opts op;
    cli_opts_default(&op);
    bool raw = false;
    const char **stops = NULL;
    int n_stops = 0;
    int rc = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_parse_common("run", argc, argv, &i, &op);
        if (r < 0) { free(stops); return 2; }
        if (r > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); free(stops); return 0; }
        const char *v = NULL;
        if (!strcmp(a, "-p") || !strcmp(a, "--prompt") || !strcmp(a, "--prompt-file") || !strcmp(a, "--stop")) {
            if (!(v = cli_value("run", argc, argv, &i))) { free(stops); return 2; }
        }
        if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) prompt = v;
        else if (!strcmp(a, "--prompt-file")) prompt_file = v;
        else if (!strcmp(a, "--raw")) raw = true;
        else if (!strcmp(a, "--stop")) {
            stops = ds4_xrealloc(stops, (size_t)(n_stops + 1) * sizeof *stops);
            stops[n_stops++] = v;
        }
        else { fprintf(stderr, "ds4 run: unknown option '%s' (see ds4 run --help)\n", a); free(stops); return 2; }
    }
    const char *model = op.model, *system = op.system;
    int n_tokens = op.n_tokens, ctx = op.ctx, threads = op.threads;
    ds4_think_mode think = (ds4_think_mode)op.think;
    ds4_sampler_params sp = op.sp;
    if (prompt && prompt_file) {
        fprintf(stderr, "ds4 run: -p and --prompt-file are exclusive\n");
        free(stops);
        return 2;
    }

    /* The prompt text. */
    char *text = NULL;
    size_t text_len = 0;
    ds4_error err = {{0}};
    if (prompt) {
        text = ds4_xstrdup(prompt);
        text_len = strlen(text);
    } else if (prompt_file) {
        if (!(text = cli_read_file(prompt_file, &text_len, &err))) {
            fprintf(stderr, "ds4 run: %s\n", err.msg);
            free(stops);
            return 1;
        }
    } else if (!isatty(STDIN_FILENO)) {
        if (!(text = cli_read_file("-", &text_len, &err))) {
            fprintf(stderr, "ds4 run: %s\n", err.msg);
            free(stops);
            return 1;
        }
    } else {
        fprintf(stderr, "ds4 run: no prompt: use -p TEXT, --prompt-file FILE or pipe it on stdin "
                        "(ds4 chat is the interactive mode)\n");
        free(stops);
        return 2;
    }

    cli_model cm;
    ds4_session *sess = NULL;
    ds4_sampler *smp = NULL;
    ds4_stopper *stp = NULL;
    float *logits = NULL;
    char *rendered = NULL;
    ds4_tokens ids = {0};
    if (!cli_model_load(&cm, "run", model, threads, op.numerics, op.weights)) goto out_text;

    ds4_think_mode eff = ds4_chat_effective_think(think, ctx);
    if (!raw && think == DS4_THINK_MAX && eff != DS4_THINK_MAX)
        fprintf(stderr, "ds4 run: Think Max needs --ctx >= %d; using high\n", DS4_THINK_MAX_MIN_CTX);
    if (raw || (text_len >= strlen(DS4_TOK_BOS) && !memcmp(text, DS4_TOK_BOS, strlen(DS4_TOK_BOS)))) {
        rendered = ds4_xstrdup(text);
    } else {
        ds4_chat conv;
        ds4_chat_init(&conv);
        if (system && system[0]) ds4_chat_add(&conv, DS4_ROLE_SYSTEM, system);
        ds4_chat_add(&conv, DS4_ROLE_USER, text);
        ds4_chat_render_opts ro = {.think = think, .ctx = ctx};
        rendered = ds4_chat_render(&conv, &ro, &err);
        ds4_chat_free(&conv);
        if (!rendered) {
            fprintf(stderr, "ds4 run: %s\n", err.msg);
            goto out;
        }
    }
    if (!ds4_tokenize(cm.tok, rendered, strlen(rendered), true, &ids, &err)) {
        fprintf(stderr, "ds4 run: tokenize: %s\n", err.msg);
        goto out;
    }
    if (ids.n == 0) {
        fprintf(stderr, "ds4 run: the prompt is empty\n");
        goto out;
    }
    if ((long)ids.n >= ctx) {
        fprintf(stderr, "ds4 run: the prompt has %zu tokens but --ctx is %d\n", ids.n, ctx);
        goto out;
    }
    if (!(sess = ds4_session_create(cm.model, ctx, &err))) {
        fprintf(stderr, "ds4 run: %s\n", err.msg);
        goto out;
    }
    int nv = ds4_model_n_vocab(cm.model);
    logits = ds4_xmalloc((size_t)nv * sizeof *logits);
    smp = ds4_sampler_new(&sp, nv);
    stp = ds4_stopper_new(stops, n_stops);
    int32_t eos = ds4_tokenizer_special_id(cm.tok, DS4_SPECIAL_EOS);
    if (eos >= 0) ds4_stopper_add_eos(stp, eos);
    for (size_t i = 0; i < ids.n; i++) ds4_sampler_accept(smp, ids.ids[i]);

    signal(SIGINT, on_sigint);
    double t0 = ds4_now();
    if (!cli_prefill(sess, ids.ids, (int)ids.n, logits, &err)) {
        fprintf(stderr, "ds4 run: prefill: %s\n", err.msg);
        goto out;
    }
    double prompt_s = ds4_now() - t0;
    int room = ctx - (int)ids.n;
    cli_gen g = {
        .sess = sess, .tok = cm.tok, .sampler = smp, .stop = stp, .logits = logits,
        .max_tokens = n_tokens < room ? n_tokens : room, .interrupt = &g_interrupt,
        .on_text = NULL, .user = NULL,
    };
    bool ended_nl = true;
    g.on_text = print_text;
    g.user = &ended_nl;
    cli_finish fin = cli_generate(&g, &err);
    if (!ended_nl && isatty(STDOUT_FILENO)) fputc('\n', stdout);
    fflush(stdout);
    if (fin == CLI_FINISH_ERROR) {
        fprintf(stderr, "ds4 run: %s\n", err.msg);
        goto out;
    }
    fprintf(stderr, "\nfinish: %s\n", cli_finish_name(fin));
    cli_print_stats(stderr, cm.load_s, (int)ids.n, prompt_s, g.n_gen, g.gen_s, ds4_sampler_seed(smp));
    rc = 0;
out:
    ds4_tokens_free(&ids);
    free(rendered);
    free(logits);
    ds4_sampler_free(smp);
    ds4_stopper_free(stp);
    ds4_session_free(sess);
    cli_model_free(&cm);
out_text:
    free(text);
    free(stops);
    return rc;
}
