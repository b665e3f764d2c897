/* ds4 tokenize: text -> token ids with a model's (or vocab-only GGUF's)
 * tokenizer.
 *
 *   ds4 tokenize -m M -p TEXT            ids, one comma-separated line
 *   ds4 tokenize -m M -f FILE            text read byte-exact from FILE ("-": stdin)
 *   --pieces                             one token per line: id, tab, decoded bytes (escaped)
 *   --json                               {"ids": [...]} (+ "pieces" with --pieces)
 *   --no-special                         control-token strings are plain text
 *   --detok IDS                          the reverse: comma-separated ids -> raw text
 *   --batch FILE.jsonl [--roundtrip]     one JSON line per input line, see below
 *   --stats                              tokenization speed on stderr (load excluded)
 *
 * Batch input lines are a JSON string, or {"text": "..."}, or {"hex": "..."}
 * for raw bytes (which may be invalid UTF-8). Each gives one output line
 * {"ids": [...]}; --roundtrip adds "text", the ids decoded back through the
 * streaming decoder one id at a time. One process for a whole corpus. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/progress.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: ds4 tokenize [-m MODEL] (-p TEXT | -f FILE | --batch FILE.jsonl | --detok IDS)\n"
            "                    [--pieces] [--json] [--no-special] [--roundtrip] [--stats]\n"
            "  -m MODEL        GGUF model or vocab-only GGUF (default: $DS4_MODEL, ./ds4flash.gguf,\n"
            "                  else the embedded demo model)\n"
            "  -p TEXT         text to tokenize\n"
            "  -f FILE         read the text from FILE, byte-exact ('-' = stdin)\n"
            "  --pieces        print each token's id and decoded bytes, one per line\n"
            "  --json          print {\"ids\": [...]} (and \"pieces\" with --pieces)\n"
            "  --no-special    do not recognise control-token strings in the text\n"
            "  --detok IDS     decode comma-separated ids and print the raw bytes\n"
            "  --batch FILE    JSONL input: each line a JSON string, {\"text\":...} or {\"hex\":...};\n"
            "                  prints one {\"ids\": [...]} line per input line\n"
            "  --roundtrip     with --batch: add \"text\", the ids decoded by the streaming decoder\n"
            "  --stats         print bytes, tokens and speed (MB/s, load excluded) to stderr\n");
}

static double thread_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Printable form of a piece: UTF-8 kept, control bytes and invalid bytes as escapes. */
static void print_escaped(FILE *out, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", out);
        else if (c == '\r') fputs("\\r", out);
        else if (c == '\t') fputs("\\t", out);
        else if (c == '\\') fputs("\\\\", out);
        else if (c < 0x20 || c == 0x7F) fprintf(out, "\\x%02x", c);
        else if (c < 0x80) fputc(c, out);
        else {
            size_t k = 1;
            while (i + k < n && k < 4 && ((unsigned char)s[i + k] & 0xC0) == 0x80) k++;
            if (ds4_utf8_valid(s + i, k) && k > 1) {
                fwrite(s + i, 1, k, out);
                i += k - 1;
            } else {
                fprintf(out, "\\x%02x", c);
            }
        }
    }
}

static void print_ids(const ds4_tokenizer *tok, const ds4_tokens *t, bool pieces, bool json) {
    if (json) {
        json_t *o = json_object(), *ids = json_array();
        for (size_t i = 0; i < t->n; i++) json_array_append_new(ids, json_integer(t->ids[i]));
        json_object_set_new(o, "ids", ids);
        if (pieces) {
            json_t *ps = json_array();
            for (size_t i = 0; i < t->n; i++) {
                size_t l;
                const char *p = ds4_token_piece(tok, t->ids[i], &l);
                /* A piece may be a fragment of a character: show it as valid text. */
                size_t cl;
                char *clean = ds4_utf8_sanitize(p, l, &cl);
                json_array_append_new(ps, json_stringn(clean, cl));
                free(clean);
            }
            json_object_set_new(o, "pieces", ps);
        }
        char *s = json_dumps(o, JSON_COMPACT);
        puts(s);
        free(s);
        json_decref(o);
        return;
    }
    if (pieces) {
        for (size_t i = 0; i < t->n; i++) {
            size_t l;
            const char *p = ds4_token_piece(tok, t->ids[i], &l);
            printf("%d\t", t->ids[i]);
            print_escaped(stdout, p, l);
            putchar('\n');
        }
        return;
    }
    for (size_t i = 0; i < t->n; i++) printf(i ? ",%d" : "%d", t->ids[i]);
    putchar('\n');
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One batch line -> the text bytes (malloc'ed) or NULL with a message. */
static char *batch_text(const char *line, size_t n, size_t *len, char *msg, size_t msgcap) {
    json_error_t je;
    json_t *v = json_loadb(line, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v) {
        snprintf(msg, msgcap, "not JSON: %s (column %d)", je.text, je.column);
        return NULL;
    }
    json_t *s = v;
    const char *hex = NULL;
    if (json_is_object(v)) {
        s = json_object_get(v, "text");
        json_t *h = json_object_get(v, "hex");
        if (h) hex = json_string_value(h);
        if (!s && !hex) {
            snprintf(msg, msgcap, "object has neither a \"text\" nor a \"hex\" string");
            json_decref(v);
            return NULL;
        }
    }
    char *out = NULL;
    if (hex) {
        size_t hl = strlen(hex);
        if (hl % 2) {
            snprintf(msg, msgcap, "\"hex\" has an odd number of digits");
        } else {
            out = ds4_xmalloc(hl / 2 + 1);
            for (size_t i = 0; i < hl / 2; i++) {
                int a = hexval(hex[2 * i]), b = hexval(hex[2 * i + 1]);
                if (a < 0 || b < 0) {
                    snprintf(msg, msgcap, "\"hex\" has a non-hex digit at %zu", 2 * i);
                    free(out);
                    out = NULL;
                    break;
                }
                out[i] = (char)(a * 16 + b);
            }
            *len = hl / 2;
        }
    } else if (json_is_string(s)) {
        *len = json_string_length(s);
        out = ds4_xmalloc(*len + 1);
        memcpy(out, json_string_value(s), *len);
    } else {
        snprintf(msg, msgcap, "expected a JSON string or an object with \"text\"/\"hex\"");
    }
    json_decref(v);
    return out;
}

static int run_batch(const ds4_tokenizer *tok, const char *path, bool parse_special, bool roundtrip) {
    FILE *fp = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!fp) {
        fprintf(stderr, "ds4 tokenize: %s: cannot open: %s\n", path, strerror(errno));
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = 0;
    ds4_detok *dt = roundtrip ? ds4_detok_new(tok) : NULL;
    while ((n = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        if (n == 0) continue;
        char msg[256];
        size_t len = 0;
        char *text = batch_text(line, (size_t)n, &len, msg, sizeof msg);
        if (!text) {
            fprintf(stderr, "ds4 tokenize: %s line %ld: %s\n", path, lineno, msg);
            rc = 1;
            break;
        }
        ds4_tokens t = {0};
        ds4_error err;
        if (!ds4_tokenize(tok, text, len, parse_special, &t, &err)) {
            fprintf(stderr, "ds4 tokenize: %s line %ld: %s\n", path, lineno, err.msg);
            free(text);
            rc = 1;
            break;
        }
        json_t *o = json_object(), *ids = json_array();
        for (size_t i = 0; i < t.n; i++) json_array_append_new(ids, json_integer(t.ids[i]));
        json_object_set_new(o, "ids", ids);
        if (dt) {
            ds4_detok_reset(dt);
            size_t cap2 = 64, m = 0, l;
            char *dec = ds4_xmalloc(cap2);
            for (size_t i = 0; i <= t.n; i++) {
                const char *p = i < t.n ? ds4_detok_push(dt, t.ids[i], &l) : ds4_detok_flush(dt, &l);
                if (m + l + 1 > cap2) dec = ds4_xrealloc(dec, cap2 = (m + l) * 2 + 1);
                memcpy(dec + m, p, l);
                m += l;
            }
            json_object_set_new(o, "text", json_stringn(dec, m));
            free(dec);
        }
        char *s = json_dumps(o, JSON_COMPACT);
        puts(s);
        free(s);
        json_decref(o);
        ds4_tokens_free(&t);
        free(text);
    }
    if (rc == 0 && ferror(fp)) { /* e.g. a directory: getline fails with EISDIR */
        fprintf(stderr, "ds4 tokenize: %s: read error: %s\n", path, strerror(errno));
        rc = 1;
    }
    ds4_detok_free(dt);
    free(line);
    if (fp != stdin) fclose(fp);
    return rc;
}

static int run_detok(const ds4_tokenizer *tok, const char *list) {
    ds4_tokens t = {0};
    const char *p = list;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v >= ds4_tokenizer_n_vocab(tok)) {
            fprintf(stderr, "ds4 tokenize: --detok: bad token id at '%.20s' (vocabulary has %d)\n", p,
                    ds4_tokenizer_n_vocab(tok));
            ds4_tokens_free(&t);
            return 2;
        }
        ds4_tokens_push(&t, (int32_t)v);
        p = end;
        while (*p == ',' || *p == ' ') p++;
    }
    size_t n;
    char *s = ds4_detokenize(tok, t.ids, t.n, &n);
    fwrite(s, 1, n, stdout);
    free(s);
    ds4_tokens_free(&t);
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model_opt = NULL, *prompt = NULL, *file = NULL, *batch = NULL, *detok = NULL;
    bool pieces = false, json = false, parse_special = true, roundtrip = false, stats = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") && has_val) model_opt = argv[++i];
        else if (!strcmp(a, "-p") && has_val) prompt = argv[++i];
        else if (!strcmp(a, "-f") && has_val) file = argv[++i];
        else if (!strcmp(a, "--batch") && has_val) batch = argv[++i];
        else if (!strcmp(a, "--detok") && has_val) detok = argv[++i];
        else if (!strcmp(a, "--pieces")) pieces = true;
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--no-special")) parse_special = false;
        else if (!strcmp(a, "--roundtrip")) roundtrip = true;
        else if (!strcmp(a, "--stats")) stats = true;
        else {
            fprintf(stderr, "ds4 tokenize: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if ((prompt != NULL) + (file != NULL) + (batch != NULL) + (detok != NULL) != 1) {
        fprintf(stderr, "ds4 tokenize: give exactly one of -p, -f, --batch, --detok\n");
        usage(stderr);
        return 2;
    }
    /* Same resolution as run/chat: -m, $DS4_MODEL, ./ds4flash.gguf, the demo. */
    char *model = cli_resolve_model(model_opt);
    if (!model) return 2;
    ds4_error err;
    gguf_file *g = gguf_open(model, &err);
    if (!g) {
        fprintf(stderr, "ds4 tokenize: %s\n", err.msg);
        free(model);
        return 1;
    }
    ds4_tokenizer *tok = ds4_tokenizer_load(g, &err);
    gguf_close(g);
    if (!tok) {
        fprintf(stderr, "ds4 tokenize: %s: %s\n", model, err.msg);
        free(model);
        return 1;
    }
    free(model);
    int rc = 0;
    if (batch) {
        rc = run_batch(tok, batch, parse_special, roundtrip);
    } else if (detok) {
        rc = run_detok(tok, detok);
    } else {
        size_t len = 0;
        char *text;
        if (file) {
            ds4_error err = {{0}};
            if (!(text = cli_read_file(file, &len, &err))) {
                fprintf(stderr, "ds4 tokenize: %s\n", err.msg);
                ds4_tokenizer_free(tok);
                return 1;
            }
        } else {
            len = strlen(prompt);
            text = ds4_xmalloc(len + 1);
            memcpy(text, prompt, len);
        }
        ds4_tokens t = {0};
        double t0 = ds4_now(), c0 = thread_cpu_seconds();
        bool ok = ds4_tokenize(tok, text, len, parse_special, &t, &err);
        double dt = ds4_now() - t0, dc = thread_cpu_seconds() - c0;
        /* CPU time too: on a busy machine the wall clock says little. */
        if (stats)
            fprintf(stderr, "tokenized %zu bytes into %zu tokens in %.3f s (%.2f MB/s; CPU %.3f s, %.2f MB/s)\n",
                    len, t.n, dt, dt > 0 ? len / dt / 1e6 : 0.0, dc, dc > 0 ? len / dc / 1e6 : 0.0);
        if (!ok) {
            fprintf(stderr, "ds4 tokenize: %s\n", err.msg);
            rc = 1;
        } else {
            print_ids(tok, &t, pieces, json);
        }
        ds4_tokens_free(&t);
        free(text);
    }
    ds4_tokenizer_free(tok);
    return rc;
}
