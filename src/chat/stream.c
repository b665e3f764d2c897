/* Incremental output parser for streaming (chat-and-api.md §2, "Stream
 * holds"). All fed text is kept in one buffer; `pos` marks how far it has
 * been handed out (or dropped), and each feed advances it as far as the
 * role of the bytes is certain. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "chat/dsml.h"

enum { S_START, S_REASONING, S_CONTENT, S_TOOLS, S_DONE };
enum { T_BETWEEN, T_INVOKE, T_SBODY, T_JBODY, T_FAILED };

#define REASONING_HOLD 7 /* strlen("</think>") - 1 */
#define TOOL_LOOKBACK 80 /* a '<' this close to the end may start a marker */

struct ds4_chat_stream {
    ds4_chat_parse_opts opts;
    ds4_chat_event_fn fn;
    void *user;
    ds4_sb all;
    size_t pos;
    int state;
    /* tool block projection */
    const ds4_dsml_form *form;
    size_t block_start;
    int ts;
    int n_started;   /* calls whose header went out */
    bool call_open;  /* a started call has not ended */
    bool first_param;
    bool tools_done;
    ds4_sb name, str, tmp;
    ds4_sb sent; /* arguments sent for the open call */
};

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static void emit(ds4_chat_stream *s, ds4_chat_event_type t, const char *p, size_t n) {
    if (n == 0 && t != DS4_EV_TOOL_END) return;
    ds4_chat_event ev = {.type = t, .index = s->n_started - 1, .text = p, .len = n};
    if (t == DS4_EV_REASONING || t == DS4_EV_CONTENT) ev.index = 0;
    s->fn(s->user, &ev);
}

ds4_chat_stream *ds4_chat_stream_new(const ds4_chat_parse_opts *opts, ds4_chat_event_fn fn,
                                     void *user) {
    ds4_chat_stream *s = ds4_xcalloc(1, sizeof *s);
    if (opts) s->opts = *opts;
    s->fn = fn;
    s->user = user;
    s->state = s->opts.thinking ? S_START : S_CONTENT;
    ds4_sb_reserve(&s->all, 0);
    s->all.s[0] = 0;
    return s;
}

void ds4_chat_stream_free(ds4_chat_stream *s) {
    if (!s) return;
    ds4_sb_free(&s->all);
    ds4_sb_free(&s->name);
    ds4_sb_free(&s->str);
    ds4_sb_free(&s->tmp);
    ds4_sb_free(&s->sent);
    free(s);
}

bool ds4_chat_stream_tools_done(const ds4_chat_stream *s) { return s->tools_done; }
bool ds4_chat_stream_in_tool_block(const ds4_chat_stream *s) { return s->state == S_TOOLS; }

const char *ds4_chat_stream_text(const ds4_chat_stream *s, size_t *len) {
    if (len) *len = s->all.len;
    return s->all.s;
}

/* Is [p, end) a proper prefix of str? */
static bool partial_of(const char *p, const char *end, const char *a, const char *b) {
    size_t n = (size_t)(end - p), la = strlen(a), lb = b ? strlen(b) : 0;
    if (n >= la + lb) return false;
    size_t na = n < la ? n : la;
    if (memcmp(p, a, na)) return false;
    return n <= la || !memcmp(p + la, b, n - la);
}

/* Length of the longest suffix of [p, end) that is a proper prefix of a+b. */
static size_t partial_suffix(const char *p, const char *end, const char *a, const char *b) {
    size_t n = (size_t)(end - p), tl = strlen(a) + strlen(b);
    for (size_t k = (n < tl - 1 ? n : tl - 1); k > 0; k--)
        if (partial_of(end - k, end, a, b)) return k;
    return 0;
}

static void args(ds4_chat_stream *s, const char *p, size_t n) {
    ds4_sb_addn(&s->sent, p, n);
    emit(s, DS4_EV_TOOL_ARGS, p, n);
}

/* An entity that may still be completing: a '&' within the last 5 bytes
 * with no ';' after it. Returns where to stop. */
static size_t entity_hold(const char *b, size_t from, size_t to) {
    size_t lo = to >= from + 5 ? to - 5 : from;
    for (size_t i = to; i > lo; i--) {
        if (b[i - 1] == ';') return to;
        if (b[i - 1] == '&') return i - 1;
    }
    return to;
}

/* One projection step in the tool block. Returns false when it must wait
 * for more text (or the projection has failed). */
static bool tool_step(ds4_chat_stream *s) {
    const ds4_dsml_form *f = s->form;
    char *b = s->all.s;
    const char *end = b + s->all.len;
    const char *p = b + s->pos;
    switch (s->ts) {
    case T_BETWEEN:
    case T_INVOKE: {
        while (p < end && is_ws(*p)) p++;
        if (p == end) return false;
        const char *cname = s->ts == T_BETWEEN ? "tool_calls>" : "invoke>";
        const char *oname = s->ts == T_BETWEEN ? "invoke" : "parameter";
        if (partial_of(p, end, f->close, cname) || partial_of(p, end, f->open, oname)) return false;
        size_t n = ds4_dsml_tag(p, end, f->close, cname);
        if (n) {
            s->pos = (size_t)(p + n - b);
            if (s->ts == T_BETWEEN) {
                s->state = S_DONE;
                s->tools_done = true;
                return false;
            }
            args(s, "}", 1);
            emit(s, DS4_EV_TOOL_END, NULL, 0);
            s->call_open = false;
            s->ts = T_BETWEEN;
            return true;
        }
        n = ds4_dsml_tag(p, end, f->open, oname);
        if (!n || p + n >= end || !(is_ws(p[n]) || p[n] == '>')) {
            if (n && p + n >= end) return false;
            s->ts = T_FAILED;
            return false;
        }
        if (!memchr(p + n, '>', (size_t)(end - p - n))) return false; /* tag not complete */
        bool has_name, has_string;
        const char *q = ds4_dsml_attrs(p + n, end, &s->name, &has_name, &s->str, &has_string);
        if (!q || !has_name || (s->ts == T_BETWEEN && s->name.len == 0)) {
            s->ts = T_FAILED;
            return false;
        }
        s->pos = (size_t)(q - b);
        if (s->ts == T_BETWEEN) {
            s->n_started++;
            s->call_open = true;
            s->sent.len = 0;
            ds4_chat_event ev = {.type = DS4_EV_TOOL_START, .index = s->n_started - 1, .name = s->name.s};
            s->fn(s->user, &ev);
            args(s, "{", 1);
            s->first_param = true;
            s->ts = T_INVOKE;
            return true;
        }
        /* A parameter without `string` may nest parameters: only the final
         * parse can tell, so the live projection stops here. */
        if (!has_string) {
            s->ts = T_FAILED;
            return false;
        }
        s->tmp.len = 0;
        if (!s->first_param) ds4_sb_addc(&s->tmp, ',');
        s->first_param = false;
        ds4_json_quote(&s->tmp, s->name.s, s->name.len);
        ds4_sb_addc(&s->tmp, ':');
        bool is_false = s->str.len == 5 && !memcmp(s->str.s, "false", 5);
        if (!is_false) ds4_sb_addc(&s->tmp, '"');
        args(s, s->tmp.s, s->tmp.len);
        s->ts = is_false ? T_JBODY : T_SBODY;
        return true;
    }
    case T_SBODY:
    case T_JBODY: {
        size_t closelen = strlen(f->close) + strlen("parameter>");
        const char *close = NULL;
        for (const char *q = p; q < end; q++)
            if (*q == '<' && ds4_dsml_tag(q, end, f->close, "parameter>")) { close = q; break; }
        const char *stop = close ? close : end - partial_suffix(p, end, f->close, "parameter>");
        if (s->ts == T_SBODY) {
            size_t to = (size_t)(stop - b);
            if (!close) {
                to = entity_hold(b, s->pos, to);
                to -= ds4_utf8_partial_tail(b + s->pos, to - s->pos);
            }
            ds4_sb dec = {0};
            ds4_dsml_decode_entities(&dec, p, to - s->pos);
            s->tmp.len = 0;
            ds4_json_escape(&s->tmp, dec.s ? dec.s : "", dec.len);
            ds4_sb_free(&dec);
            if (close) ds4_sb_addc(&s->tmp, '"');
            args(s, s->tmp.s, s->tmp.len);
            s->pos = to;
        } else {
            /* A string="false" body is judged whole: valid JSON goes out as
             * it is, anything else as a JSON string (never dropped), an
             * empty body as null. So nothing leaves before its close tag. */
            (void)stop;
            if (!close) return false;
            const char *q = p, *e = close;
            while (q < e && is_ws(*q)) q++;
            while (e > q && is_ws(e[-1])) e--;
            if (q == e) {
                args(s, "null", 4);
            } else {
                json_t *v = json_loadb(q, (size_t)(e - q), JSON_DECODE_ANY, NULL);
                if (v) {
                    args(s, q, (size_t)(e - q));
                } else {
                    s->tmp.len = 0;
                    ds4_json_quote(&s->tmp, q, (size_t)(e - q));
                    args(s, s->tmp.s, s->tmp.len);
                }
                json_decref(v);
            }
            s->pos = (size_t)(close - b);
        }
        if (!close) return false;
        s->pos = (size_t)(close - b) + closelen;
        s->ts = T_INVOKE;
        return true;
    }
    }
    return false;
}

static void step(ds4_chat_stream *s) {
    for (;;) {
        char *b = s->all.s;
        size_t len = s->all.len;
        switch (s->state) {
        case S_START:
            if (partial_of(b + s->pos, b + len, DS4_TOK_THINK, NULL)) return;
            if (len - s->pos >= 7 && !memcmp(b + s->pos, DS4_TOK_THINK, 7)) s->pos += 7;
            s->state = S_REASONING;
            continue;
        case S_REASONING: {
            const char *hit = memmem(b + s->pos, len - s->pos, DS4_TOK_END_THINK, 8);
            if (hit) {
                emit(s, DS4_EV_REASONING, b + s->pos, (size_t)(hit - b) - s->pos);
                s->pos = (size_t)(hit - b) + 8;
                s->state = S_CONTENT;
                continue;
            }
            size_t to = len >= s->pos + REASONING_HOLD ? len - REASONING_HOLD : s->pos;
            to -= ds4_utf8_partial_tail(b + s->pos, to - s->pos);
            emit(s, DS4_EV_REASONING, b + s->pos, to - s->pos);
            s->pos = to;
            return;
        }
        case S_CONTENT: {
            if (!s->opts.tools) {
                size_t to = len - ds4_utf8_partial_tail(b + s->pos, len - s->pos);
                emit(s, DS4_EV_CONTENT, b + s->pos, to - s->pos);
                s->pos = to;
                return;
            }
            const char *start, *body;
            const ds4_dsml_form *form;
            if (ds4_dsml_find_start(b + s->pos, b + len, &start, &body, &form)) {
                const char *e = start;
                while (e > b + s->pos && is_ws(e[-1])) e--; /* never sent */
                emit(s, DS4_EV_CONTENT, b + s->pos, (size_t)(e - b) - s->pos);
                s->block_start = (size_t)(start - b);
                s->pos = (size_t)(body - b);
                s->form = form;
                s->state = S_TOOLS;
                s->ts = T_BETWEEN;
                continue;
            }
            size_t to = len;
            size_t lo = len > TOOL_LOOKBACK ? len - TOOL_LOOKBACK : 0;
            if (lo < s->pos) lo = s->pos;
            const char *lt = memchr(b + lo, '<', len - lo);
            if (lt) to = (size_t)(lt - b);
            while (to > s->pos && is_ws(b[to - 1])) to--;
            to -= ds4_utf8_partial_tail(b + s->pos, to - s->pos);
            emit(s, DS4_EV_CONTENT, b + s->pos, to - s->pos);
            s->pos = to;
            return;
        }
        case S_TOOLS:
            if (s->ts == T_FAILED) {
                /* Still watch for the end of the block. */
                const char *f = memmem(b + s->block_start, len - s->block_start, s->form->close,
                                       strlen(s->form->close));
                while (f && !ds4_dsml_tag(f, b + len, s->form->close, "tool_calls>")) {
                    size_t off = (size_t)(f - b) + 1;
                    f = memmem(b + off, len - off, s->form->close, strlen(s->form->close));
                }
                if (f) {
                    s->tools_done = true;
                    s->state = S_DONE;
                    s->pos = (size_t)(f - b) + ds4_dsml_tag(f, b + len, s->form->close, "tool_calls>");
                }
                return;
            }
            if (!tool_step(s)) {
                if (s->ts == T_FAILED) continue;
                return;
            }
            continue;
        default:
            return;
        }
    }
}

void ds4_chat_stream_feed(ds4_chat_stream *s, const char *text, size_t len) {
    if (s->state == S_DONE) return; /* generation stops at the end marker */
    ds4_sb_addn(&s->all, text, len);
    step(s);
}

void ds4_chat_stream_finish(ds4_chat_stream *s, ds4_chat_parsed *out) {
    char *b = s->all.s;
    size_t len = s->all.len;
    if (s->state == S_START || s->state == S_REASONING)
        emit(s, DS4_EV_REASONING, b + s->pos, len - s->pos);
    else if (s->state == S_CONTENT)
        emit(s, DS4_EV_CONTENT, b + s->pos, len - s->pos);
    s->pos = len;
    ds4_chat_parsed fin;
    ds4_chat_parse(b, len, &s->opts, &fin);
    if (s->state == S_TOOLS || s->state == S_DONE) {
        if (s->call_open) {
            /* The projection stopped inside this call: finish its arguments
             * from the final parse when they extend what was sent. */
            int i = s->n_started - 1;
            if (i < fin.n_calls) {
                const char *a = fin.calls[i].arguments;
                size_t al = strlen(a);
                if (al >= s->sent.len && !memcmp(a, s->sent.s, s->sent.len))
                    emit(s, DS4_EV_TOOL_ARGS, a + s->sent.len, al - s->sent.len);
            }
            emit(s, DS4_EV_TOOL_END, NULL, 0);
            s->call_open = false;
        }
        if (fin.n_calls == 0 && s->n_started == 0) {
            /* Malformed or unterminated block: its raw text is content. */
            emit(s, DS4_EV_CONTENT, b + s->block_start, len - s->block_start);
        }
        /* Calls the live projection could not send go out from the final parse. */
        for (int i = s->n_started; i < fin.n_calls; i++) {
            s->n_started = i + 1;
            ds4_chat_event ev = {.type = DS4_EV_TOOL_START, .index = i, .name = fin.calls[i].name};
            s->fn(s->user, &ev);
            emit(s, DS4_EV_TOOL_ARGS, fin.calls[i].arguments, strlen(fin.calls[i].arguments));
            emit(s, DS4_EV_TOOL_END, NULL, 0);
        }
    }
    s->state = S_DONE;
    if (out) *out = fin;
    else ds4_chat_parsed_free(&fin);
}
