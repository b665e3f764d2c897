/* Final (non-streaming) parse of generated text: reasoning, content and DSML
 * tool calls (chat-and-api.md §2). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "chat/dsml.h"
#include "chat/json_span.h"

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static const char *skip_ws(const char *p, const char *end) {
    while (p < end && is_ws(*p)) p++;
    return p;
}

/* p at a possible "<P name" tag start: the length through the name when the
 * tag is followed by whitespace or '>' (so "<parameterX" does not match). */
static size_t open_tag(const char *p, const char *end, const ds4_dsml_form *f, const char *name) {
    size_t n = ds4_dsml_tag(p, end, f->open, name);
    if (!n || p + n >= end) return 0;
    return (is_ws(p[n]) || p[n] == '>') ? n : 0;
}
static size_t close_tag(const char *p, const char *end, const ds4_dsml_form *f, const char *name) {
    size_t n = ds4_dsml_tag(p, end, f->close, name);
    if (!n || p + n >= end || p[n] != '>') return 0;
    return n + 1;
}

/* The first "</P parameter>" at or after p. */
static const char *find_param_close(const char *p, const char *end, const ds4_dsml_form *f) {
    for (; p < end; p++)
        if (*p == '<' && close_tag(p, end, f, "parameter")) return p;
    return NULL;
}

/* Parses parameters up to the close tag of `container` ("invoke" or
 * "parameter"), writing a compact JSON object. Returns the position after
 * the close tag, or NULL when malformed. A `false` body that is not JSON
 * becomes a JSON string (ds4 emptied the whole arguments object, §2 ⚠; an
 * argument is never dropped here). */
static const char *parse_params(const char *p, const char *end, const ds4_dsml_form *f,
                                const char *container, ds4_sb *json, int depth) {
    if (depth > 64) return NULL;
    ds4_sb name = {0}, str = {0};
    bool first = true;
    ds4_sb_addc(json, '{');
    for (;;) {
        p = skip_ws(p, end);
        size_t n;
        if ((n = close_tag(p, end, f, container))) {
            ds4_sb_addc(json, '}');
            p += n;
            break;
        }
        if (!(n = open_tag(p, end, f, "parameter"))) { p = NULL; break; }
        bool has_name, has_string;
        p = ds4_dsml_attrs(p + n, end, &name, &has_name, &str, &has_string);
        if (!p || !has_name) { p = NULL; break; }
        if (!first) ds4_sb_addc(json, ',');
        first = false;
        ds4_json_quote(json, name.s, name.len);
        ds4_sb_addc(json, ':');
        bool is_false = has_string && str.len == 5 && !memcmp(str.s, "false", 5);
        const char *q = skip_ws(p, end);
        if (!has_string && open_tag(q, end, f, "parameter")) {
            /* No string attribute and nested parameters: an object. */
            p = parse_params(q, end, f, "parameter", json, depth + 1);
            if (!p) break;
            continue;
        }
        const char *close = find_param_close(p, end, f);
        if (!close) { p = NULL; break; }
        if (is_false) {
            const char *b = skip_ws(p, close), *e = close;
            while (e > b && is_ws(e[-1])) e--;
            if (b == e) {
                ds4_sb_add(json, "null");
            } else {
                json_error_t je;
                json_t *v = json_loadb(b, (size_t)(e - b), JSON_DECODE_ANY, &je);
                /* not JSON for its declared type: passed on as a string */
                if (v) ds4_json_minify(json, b, e, NULL);
                else ds4_json_quote(json, b, (size_t)(e - b));
                json_decref(v);
            }
        } else {
            ds4_sb dec = {0};
            ds4_dsml_decode_entities(&dec, p, (size_t)(close - p));
            ds4_json_quote(json, dec.s ? dec.s : "", dec.len);
            ds4_sb_free(&dec);
        }
        p = close + close_tag(close, end, f, "parameter");
    }
    ds4_sb_free(&name);
    ds4_sb_free(&str);
    return p;
}

/* Parses the calls of a block whose body starts at p. Returns the position
 * after the end tag, or NULL when malformed. */
static const char *parse_block(const char *p, const char *end, const ds4_dsml_form *f,
                               ds4_chat_parsed *out) {
    ds4_sb name = {0}, str = {0};
    const char *ret = NULL;
    for (;;) {
        p = skip_ws(p, end);
        size_t n;
        if ((n = close_tag(p, end, f, "tool_calls"))) {
            if (out->n_calls > 0) ret = p + n;
            break;
        }
        if (!(n = open_tag(p, end, f, "invoke"))) break;
        bool has_name, has_string;
        p = ds4_dsml_attrs(p + n, end, &name, &has_name, &str, &has_string);
        if (!p || !has_name || name.len == 0) break;
        ds4_sb args = {0};
        p = parse_params(p, end, f, "invoke", &args, 0);
        if (!p) {
            ds4_sb_free(&args);
            break;
        }
        out->calls = ds4_xrealloc(out->calls, (size_t)(out->n_calls + 1) * sizeof *out->calls);
        ds4_parsed_call *c = &out->calls[out->n_calls++];
        c->name = ds4_xstrdup(name.s);
        c->arguments = ds4_sb_take(&args);
    }
    ds4_sb_free(&name);
    ds4_sb_free(&str);
    return ret;
}

static char *dupn(const char *s, size_t n) {
    char *r = ds4_xmalloc(n + 1);
    memcpy(r, s, n);
    r[n] = 0;
    return r;
}

static void free_calls(ds4_chat_parsed *out) {
    for (int i = 0; i < out->n_calls; i++) {
        free(out->calls[i].name);
        free(out->calls[i].arguments);
    }
    free(out->calls);
    out->calls = NULL;
    out->n_calls = 0;
}

void ds4_chat_parse(const char *text, size_t len, const ds4_chat_parse_opts *opts,
                    ds4_chat_parsed *out) {
    memset(out, 0, sizeof *out);
    const char *end = text + len;
    const char *content = text;
    const char *search = text; /* where the tool marker search starts */
    const char *reasoning = text, *reasoning_end = text;
    if (opts && opts->thinking) {
        const char *t = text;
        if (len >= 7 && !memcmp(t, DS4_TOK_THINK, 7)) t += 7;
        content = t;
        const char *hit = memmem(t, (size_t)(end - t), DS4_TOK_END_THINK, 8);
        if (hit) {
            reasoning = t;
            reasoning_end = hit;
            content = hit + 8;
            out->thinking_closed = true;
            /* DSML inside reasoning is inert: search after the last </think>. */
            const char *last = hit, *q;
            while ((q = memmem(last + 8, (size_t)(end - last - 8), DS4_TOK_END_THINK, 8))) last = q;
            search = last + 8;
        } else {
            search = t;
        }
    }
    out->reasoning = dupn(reasoning, (size_t)(reasoning_end - reasoning));
    const char *content_end = end;
    if (opts && opts->tools) {
        const char *start, *body;
        const ds4_dsml_form *form;
        if (ds4_dsml_find_start(search, end, &start, &body, &form)) {
            const char *bend = parse_block(body, end, form, out);
            if (bend) {
                out->raw_dsml = dupn(start, (size_t)(bend - start));
                content_end = start;
                while (content_end > content && is_ws(content_end[-1])) content_end--;
            } else {
                free_calls(out);
                out->invalid_tool_call = true;
            }
        }
    }
    out->content = dupn(content, (size_t)(content_end - content));
}

void ds4_chat_parsed_free(ds4_chat_parsed *p) {
    if (!p) return;
    free(p->reasoning);
    free(p->content);
    free_calls(p);
    free(p->raw_dsml);
    memset(p, 0, sizeof *p);
}
