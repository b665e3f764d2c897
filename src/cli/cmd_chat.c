/* ds4 chat: an interactive multi-turn conversation.
 *
 * The session stays live between turns: each turn renders the whole
 * conversation (reasoning kept, so the text only grows) and, when the text
 * already evaluated is a byte prefix of it, evaluates just the new suffix
 * (tokenized on its own, chat-and-api.md §4.1); otherwise the session starts
 * over. Line editing and history come from libedit when stdin is a terminal;
 * piped input is read line by line. */
#include <editline/readline.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/progress.h"
#include "chat/chat.h"
#include "chat/strbuf.h"
#include "cli/cli_common.h"
#include "cli/commands.h"

#define DIM "\033[2m"
#define RESET "\033[0m"

static volatile sig_atomic_t g_interrupt;
static void on_sigint(int sig) {
    (void)sig;
    g_interrupt = 1;
}

typedef struct chat_ctx {
    cli_opts op;
    cli_model cm;
    ds4_session *sess;
    ds4_sampler *smp;
    ds4_stopper *stp;
    float *logits;
    ds4_chat conv;
    ds4_think_mode think;
    ds4_sb live;      /* the text the session has evaluated */
    bool show_think;  /* reasoning shown (dimmed) or collapsed */
    bool color;       /* stdout is a terminal */
    /* the turn being generated */
    ds4_sb reasoning, content;
    bool in_reasoning_shown, hidden_note;
    /* stats of the last turn */
    int last_prompt, last_gen;
    double last_prompt_s, last_gen_s;
    cli_finish last_finish;
    bool have_last;
} chat_ctx;

static void on_event(void *user, const ds4_chat_event *ev) {
    chat_ctx *c = user;
    if (ev->type == DS4_EV_REASONING) {
        ds4_sb_addn(&c->reasoning, ev->text, ev->len);
        if (c->show_think) {
            if (c->color && !c->in_reasoning_shown) fputs(DIM, stdout);
            c->in_reasoning_shown = true;
            fwrite(ev->text, 1, ev->len, stdout);
        } else if (!c->hidden_note) {
            fputs(c->color ? DIM "[thinking... /think show to see it]" RESET : "[thinking...]", stdout);
            c->hidden_note = true;
        }
    } else if (ev->type == DS4_EV_CONTENT) {
        if (c->in_reasoning_shown || c->hidden_note) {
            if (c->color && c->in_reasoning_shown) fputs(RESET, stdout);
            fputs("\n\n", stdout);
            c->in_reasoning_shown = c->hidden_note = false;
        }
        ds4_sb_addn(&c->content, ev->text, ev->len);
        fwrite(ev->text, 1, ev->len, stdout);
    }
    fflush(stdout);
}

static bool on_text(void *user, const char *t, size_t n) {
    void **u = user;
    chat_ctx *c = u[0];
    ds4_sb_addn(&c->live, t, n);
    ds4_chat_stream_feed((ds4_chat_stream *)u[1], t, n);
    return true;
}

static void reset_session(chat_ctx *c) {
    ds4_session_reset(c->sess);
    c->live.len = 0;
    if (c->live.s) c->live.s[0] = 0;
}

/* One user turn: render, evaluate the new part, generate, record. */
static bool turn(chat_ctx *c, const char *user_text) {
    ds4_error err = {{0}};
    ds4_chat_add(&c->conv, DS4_ROLE_USER, user_text);
    ds4_chat_render_opts ro = {.think = c->think, .ctx = c->op.ctx, .keep_reasoning = true};
    char *prompt = ds4_chat_render(&c->conv, &ro, &err);
    if (!prompt) {
        fprintf(stderr, "ds4 chat: %s\n", err.msg);
        ds4_chat_pop(&c->conv);
        return false;
    }
    size_t plen = strlen(prompt);
    if (!(c->live.len > 0 && c->live.len <= plen && !memcmp(prompt, c->live.s, c->live.len)))
        reset_session(c);
    const char *suffix = prompt + c->live.len;
    ds4_tokens ids = {0};
    bool ok = ds4_tokenize(c->cm.tok, suffix, strlen(suffix), true, &ids, &err);
    int pos = ds4_session_pos(c->sess);
    if (ok && pos + (int)ids.n >= c->op.ctx) {
        ok = ds4_fail(&err, "the conversation (%d tokens) no longer fits --ctx %d: /clear starts over",
                      pos + (int)ids.n, c->op.ctx);
    }
    double t0 = ds4_now();
    if (ok) ok = cli_prefill(c->sess, ids.ids, (int)ids.n, c->logits, &err);
    if (!ok) {
        fprintf(stderr, "ds4 chat: %s\n", err.msg);
        ds4_tokens_free(&ids);
        free(prompt);
        ds4_chat_pop(&c->conv);
        /* A failed evaluation may have left part of the suffix in the session. */
        if (ds4_session_pos(c->sess) != pos) reset_session(c);
        return false;
    }
    c->last_prompt = (int)ids.n;
    c->last_prompt_s = ds4_now() - t0;
    for (size_t i = 0; i < ids.n; i++) ds4_sampler_accept(c->smp, ids.ids[i]);
    ds4_sb_add(&c->live, suffix);
    ds4_tokens_free(&ids);
    free(prompt);

    ds4_think_mode eff = ds4_chat_effective_think(c->think, c->op.ctx);
    ds4_chat_parse_opts po = {.thinking = eff != DS4_THINK_NONE};
    ds4_chat_stream *st = ds4_chat_stream_new(&po, on_event, c);
    c->reasoning.len = c->content.len = 0;
    c->in_reasoning_shown = c->hidden_note = false;
    void *u[2] = {c, st};
    int room = c->op.ctx - ds4_session_pos(c->sess) - 1;
    cli_gen g = {
        .sess = c->sess, .tok = c->cm.tok, .sampler = c->smp, .stop = c->stp, .logits = c->logits,
        .max_tokens = c->op.n_tokens < room ? c->op.n_tokens : room, .interrupt = &g_interrupt,
        .on_text = on_text, .user = u,
    };
    g_interrupt = 0;
    cli_finish fin = cli_generate(&g, &err);
    ds4_chat_stream_finish(st, NULL);
    ds4_chat_stream_free(st);
    if (c->color && c->in_reasoning_shown) fputs(RESET, stdout);
    if (fin == CLI_FINISH_INTERRUPT) fputs(c->color ? DIM " [interrupted]" RESET : " [interrupted]", stdout);
    else if (fin == CLI_FINISH_LENGTH && g.max_tokens < c->op.n_tokens)
        fputs(c->color ? DIM " [context full: /clear starts over]" RESET : " [context full: /clear starts over]", stdout);
    fputc('\n', stdout);
    fflush(stdout);
    g_interrupt = 0;
    c->last_gen = g.n_gen;
    c->last_gen_s = g.gen_s;
    c->last_finish = fin;
    c->have_last = true;
    if (fin == CLI_FINISH_ERROR) {
        fprintf(stderr, "ds4 chat: %s\n", err.msg);
        reset_session(c);
    }
    /* The reply as the stream saw it: unclosed reasoning stays reasoning. */
    ds4_chat_msg *m = ds4_chat_add(&c->conv, DS4_ROLE_ASSISTANT, c->content.s ? c->content.s : "");
    ds4_chat_msg_set_reasoning(m, c->reasoning.s ? c->reasoning.s : "");
    return fin != CLI_FINISH_ERROR;
}

static void print_help(void) {
    printf("commands:\n"
           "  /think on|off|max   thinking mode (high, none, max)\n"
           "  /think show|hide    show the reasoning dimmed, or collapse it\n"
           "  /clear              forget the conversation (keeps the system prompt)\n"
           "  /save FILE          write the conversation as JSON\n"
           "  /load FILE          read a conversation written by /save\n"
           "  /stats              timings of the last turn and context use\n"
           "  /help               this text\n"
           "  /quit, /exit        leave (Ctrl-D too); Ctrl-C stops a reply\n");
}

static void start_conversation(chat_ctx *c) {
    ds4_chat_clear(&c->conv);
    if (c->op.system && c->op.system[0]) ds4_chat_add(&c->conv, DS4_ROLE_SYSTEM, c->op.system);
    reset_session(c);
}

static bool save_conv(chat_ctx *c, const char *path) {
    char *js = ds4_chat_to_json(&c->conv, &c->think);
    size_t n = strlen(path) + 5;
    char *tmp = ds4_xmalloc(n);
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fputs(js, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0) ok = false;
    if (ok && rename(tmp, path) != 0) ok = false;
    if (!ok) {
        fprintf(stderr, "ds4 chat: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    free(js);
    return ok;
}

static void command(chat_ctx *c, char *line, bool *quit) {
    char *cmd = strtok(line, " \t");
    char *arg = strtok(NULL, "");
    while (arg && (*arg == ' ' || *arg == '\t')) arg++;
    if (arg) {
        size_t l = strlen(arg);
        while (l && (arg[l - 1] == ' ' || arg[l - 1] == '\t')) arg[--l] = 0;
    }
    if (!strcmp(cmd, "/quit") || !strcmp(cmd, "/exit")) *quit = true;
    else if (!strcmp(cmd, "/help")) print_help();
    else if (!strcmp(cmd, "/clear")) {
        start_conversation(c);
        printf("(conversation cleared)\n");
    } else if (!strcmp(cmd, "/think")) {
        ds4_think_mode m;
        if (arg && !strcmp(arg, "show")) c->show_think = true;
        else if (arg && !strcmp(arg, "hide")) c->show_think = false;
        else if (arg && ds4_think_parse(arg, &m)) {
            c->think = m;
            if (ds4_chat_effective_think(m, c->op.ctx) != m)
                printf("(Think Max needs --ctx >= %d: using high)\n", DS4_THINK_MAX_MIN_CTX);
        } else if (arg) {
            printf("usage: /think on|off|max|show|hide\n");
            return;
        }
        printf("(thinking %s, reasoning %s)\n", ds4_think_name(c->think), c->show_think ? "shown" : "hidden");
    } else if (!strcmp(cmd, "/save")) {
        if (!arg || !*arg) printf("usage: /save FILE\n");
        else if (save_conv(c, arg)) printf("(saved %d messages to %s)\n", c->conv.n_msgs, arg);
    } else if (!strcmp(cmd, "/load")) {
        if (!arg || !*arg) {
            printf("usage: /load FILE\n");
            return;
        }
        ds4_error err = {{0}};
        size_t n;
        char *txt = cli_read_file(arg, &n, &err);
        if (txt && ds4_chat_from_json(&c->conv, txt, &c->think, &err)) {
            reset_session(c);
            printf("(loaded %d messages from %s; thinking %s)\n", c->conv.n_msgs, arg, ds4_think_name(c->think));
        } else {
            fprintf(stderr, "ds4 chat: /load: %s\n", err.msg);
        }
        free(txt);
    } else if (!strcmp(cmd, "/stats")) {
        if (c->have_last)
            cli_print_stats(stdout, -1, c->last_prompt, c->last_prompt_s, c->last_gen, c->last_gen_s,
                            ds4_sampler_seed(c->smp));
        else
            printf("seed: %llu\n", (unsigned long long)ds4_sampler_seed(c->smp));
        printf("load: %.2f s (%s)\n", c->cm.load_s, c->cm.path);
        printf("context: %d / %d tokens, %d messages, thinking %s", ds4_session_pos(c->sess), c->op.ctx,
               c->conv.n_msgs, ds4_think_name(c->think));
        if (c->have_last) printf(", last finish: %s", cli_finish_name(c->last_finish));
        printf("\n");
    } else {
        printf("unknown command %s (/help lists them)\n", cmd);
    }
    fflush(stdout);
}

/* The next input line (malloc'd, no newline), NULL at end of input. */
static char *next_line(bool tty) {
    if (tty) {
        char *l = readline("> ");
        if (l && *l) add_history(l);
        return l;
    }
    ds4_sb b = {0};
    int ch;
    while ((ch = getchar()) != EOF && ch != '\n') ds4_sb_addc(&b, (char)ch);
    if (ch == EOF && b.len == 0) {
        ds4_sb_free(&b);
        return NULL;
    }
    if (b.len && b.s[b.len - 1] == '\r') b.s[--b.len] = 0;
    return ds4_sb_take(&b);
}

static void usage(FILE *f) {
    fprintf(f, "usage: ds4 chat [-m MODEL] [options]\n\n"
               "Interactive chat with the DeepSeek V4 template. Type /help inside for commands.\n\n");
    cli_common_usage(f);
    fprintf(f, "  --hide-think          start with the reasoning hidden (/think show shows it)\n");
}

int cmd_chat(int argc, char **argv) {
    chat_ctx c;
    memset(&c, 0, sizeof c);
    cli_opts_default(&c.op);
    c.show_think = true;
    for (int i = 1; i < argc; i++) {
        int r = cli_parse_common("chat", argc, argv, &i, &c.op);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--hide-think")) {
            c.show_think = false;
            continue;
        }
        fprintf(stderr, "ds4 chat: unknown option '%s' (see ds4 chat --help)\n", argv[i]);
        return 2;
    }
    c.think = (ds4_think_mode)c.op.think;
    if (ds4_chat_effective_think(c.think, c.op.ctx) != c.think)
        fprintf(stderr, "ds4 chat: Think Max needs --ctx >= %d; using high\n", DS4_THINK_MAX_MIN_CTX);
    if (!cli_model_load(&c.cm, "chat", c.op.model, c.op.threads, c.op.numerics, c.op.weights)) return 1;
    ds4_error err = {{0}};
    int rc = 1;
    if (!(c.sess = ds4_session_create(c.cm.model, c.op.ctx, &err))) {
        fprintf(stderr, "ds4 chat: %s\n", err.msg);
        goto out;
    }
    int nv = ds4_model_n_vocab(c.cm.model);
    c.logits = ds4_xmalloc((size_t)nv * sizeof *c.logits);
    c.smp = ds4_sampler_new(&c.op.sp, nv);
    c.stp = ds4_stopper_new(NULL, 0);
    int32_t eos = ds4_tokenizer_require_special(c.cm.tok, DS4_SPECIAL_EOS, "ds4 chat (end of a reply)", &err);
    if (eos < 0) {
        fprintf(stderr, "ds4 chat: %s\n", err.msg);
        goto out;
    }
    ds4_stopper_add_eos(c.stp, eos);
    ds4_chat_init(&c.conv);
    start_conversation(&c);
    c.color = isatty(STDOUT_FILENO);
    bool tty = isatty(STDIN_FILENO);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: Ctrl-C only sets the flag */

    if (tty)
        printf("ds4 chat: %s (load %.2f s, ctx %d, thinking %s, seed %llu). /help for commands.\n", c.cm.path,
               c.cm.load_s, c.op.ctx, ds4_think_name(c.think), (unsigned long long)ds4_sampler_seed(c.smp));
    fflush(stdout);
    bool quit = false;
    while (!quit) {
        g_interrupt = 0;
        char *line = next_line(tty);
        if (!line) {
            if (tty) fputc('\n', stdout);
            break;
        }
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '/') command(&c, s, &quit);
        else if (*s) turn(&c, s);
        free(line);
    }
    rc = 0;
out:
    ds4_chat_free(&c.conv);
    ds4_sb_free(&c.live);
    ds4_sb_free(&c.reasoning);
    ds4_sb_free(&c.content);
    free(c.logits);
    ds4_sampler_free(c.smp);
    ds4_stopper_free(c.stp);
    ds4_session_free(c.sess);
    cli_model_free(&c.cm);
    return rc;
}
