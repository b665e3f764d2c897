#include "server/output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampler/sampler.h"
#include "server/sbuf.h"

struct srv_output {
    const srv_request *r;
    const srv_reply_ids *ids;
    srv_emitter *em;          /* NULL: non-stream */
    ds4_stopper *stop;
    ds4_chat_stream *cs;      /* NULL for completions (raw text) */
    bool mute;                /* feeding the client's own prefill: no text events */
    bool stopped;             /* a stop string matched */
    srv_buf text;             /* generated text shown to the parser */
    size_t prefill_len;       /* bytes of prefill content at the start of the parse */
    ds4_chat_parsed parsed;
    const ds4_chat_msg *prefill; /* the assistant message being continued, or NULL */
    bool prefill_thinking;
    bool finished;
    char *call_ids[64];
};

static void on_event(void *user, const ds4_chat_event *ev) {
    srv_output *o = user;
    if (o->mute && (ev->type == DS4_EV_REASONING || ev->type == DS4_EV_CONTENT)) return;
    if (o->em) srv_emitter_event(o->em, ev);
}

srv_output *srv_output_new(const srv_request *r, const srv_reply_ids *ids, srv_write_fn w, void *user) {
    srv_output *o = ds4_xcalloc(1, sizeof *o);
    o->r = r;
    o->ids = ids;
    if (w) o->em = srv_emitter_new(r, ids, w, user);
    o->stop = ds4_stopper_new((const char *const *)r->stop, r->n_stop);
    if (r->api != SRV_API_COMPLETIONS) {
        /* The prompt ends with <think> unless thinking is off or a prefill
         * already holds the visible part of the turn. */
        const ds4_chat_msg *last = r->continue_last ? &r->chat.msgs[r->chat.n_msgs - 1] : NULL;
        bool prefill_visible = last && (last->content[0] || last->n_calls);
        ds4_chat_parse_opts po = {.thinking = r->think != DS4_THINK_NONE && !prefill_visible,
                                  .tools = r->tools_active};
        o->cs = ds4_chat_stream_new(&po, on_event, o);
        o->prefill = last;
        o->prefill_thinking = po.thinking;
    }
    return o;
}

void srv_output_free(srv_output *o) {
    if (!o) return;
    srv_emitter_free(o->em);
    ds4_stopper_free(o->stop);
    ds4_chat_stream_free(o->cs);
    if (o->finished) ds4_chat_parsed_free(&o->parsed);
    for (int i = 0; i < 64; i++) free(o->call_ids[i]);
    srv_buf_free(&o->text);
    free(o);
}

void srv_output_begin(srv_output *o, const srv_usage *u) {
    if (o->em) srv_emitter_begin(o->em, u);
    if (o->prefill) {
        /* The continued message's own text goes through the parser too (so
         * a prefilled tool block is parsed and its calls reported) but its
         * text is not echoed back. */
        const char *pre = o->prefill_thinking ? o->prefill->reasoning : o->prefill->content;
        o->mute = true;
        ds4_chat_stream_feed(o->cs, pre, strlen(pre));
        o->mute = false;
        o->prefill_len = o->prefill_thinking ? 0 : strlen(pre);
    }
}

static void pass_on(srv_output *o, const char *t, size_t n) {
    if (!n) return;
    srv_buf_addn(&o->text, t, n);
    if (o->cs) ds4_chat_stream_feed(o->cs, t, n);
    else if (o->em) srv_emitter_raw(o->em, t, n);
}

bool srv_output_feed(srv_output *o, const char *text, size_t len) {
    if (o->stopped) return true;
    const char *out;
    size_t n;
    bool hit = ds4_stopper_feed(o->stop, text, len, &out, &n);
    pass_on(o, out, n);
    if (hit) o->stopped = true;
    return hit || srv_output_done(o);
}

bool srv_output_stop_string(const srv_output *o) { return o->stopped; }

bool srv_output_done(const srv_output *o) {
    return o->stopped || (o->cs && o->r->tools_active && ds4_chat_stream_tools_done(o->cs));
}

char *srv_output_finish(srv_output *o, srv_finish f, const srv_usage *u, srv_finish *final_finish) {
    if (!o->stopped) {
        const char *out;
        size_t n;
        ds4_stopper_flush(o->stop, &out, &n);
        pass_on(o, out, n);
    }
    if (o->cs) ds4_chat_stream_finish(o->cs, &o->parsed);
    else {
        memset(&o->parsed, 0, sizeof o->parsed);
        o->parsed.reasoning = ds4_xstrdup("");
        o->parsed.content = ds4_xstrdup(o->text.s ? o->text.s : "");
    }
    o->finished = true;
    ds4_chat_parsed *p = &o->parsed;
    /* the client's prefill is not repeated back */
    if (o->prefill_len && strlen(p->content) >= o->prefill_len)
        memmove(p->content, p->content + o->prefill_len, strlen(p->content + o->prefill_len) + 1);
    if (p->invalid_tool_call) fprintf(stderr, "ds4 serve: invalid tool call in the generated text\n");
    if (p->n_calls && f != SRV_FINISH_LENGTH && f != SRV_FINISH_ERROR) f = SRV_FINISH_TOOLS;
    if (f == SRV_FINISH_TOOLS && !p->n_calls) f = SRV_FINISH_STOP;
    if (final_finish) *final_finish = f;
    int m = ds4_stopper_matched(o->stop);
    const char *stop_seq = o->stopped && m >= 0 && m < o->r->n_stop ? o->r->stop[m] : NULL;
    if (o->em) {
        srv_emitter_end(o->em, p, f, stop_seq, u);
        for (int i = 0; i < p->n_calls && i < 64; i++) {
            const char *id = srv_emitter_call_id(o->em, i);
            if (id) o->call_ids[i] = ds4_xstrdup(id);
        }
        return NULL;
    }
    for (int i = 0; i < p->n_calls && i < 64; i++) {
        char id[48];
        srv_new_call_id(o->r->api, id);
        o->call_ids[i] = ds4_xstrdup(id);
    }
    return srv_reply_json(o->r, o->ids, o->text.s ? o->text.s : "", o->text.len, p, (const char *const *)o->call_ids,
                          f, stop_seq, u);
}

const ds4_chat_parsed *srv_output_parsed(const srv_output *o) { return o->finished ? &o->parsed : NULL; }
const char *srv_output_call_id(const srv_output *o, int i) { return i >= 0 && i < 64 ? o->call_ids[i] : NULL; }
const char *srv_output_text(const srv_output *o, size_t *len) {
    if (len) *len = o->text.len;
    return o->text.s ? o->text.s : "";
}

char *srv_output_visible_text(const srv_output *o, const char *prompt, size_t prompt_len, size_t *out_len) {
    const srv_request *r = o->r;
    const ds4_chat_parsed *p = &o->parsed;
    size_t tl = strlen(DS4_TOK_THINK);
    if (!o->finished || o->stopped || (r->api != SRV_API_CHAT && r->api != SRV_API_MESSAGES) ||
        r->think == DS4_THINK_NONE || r->continue_last || ds4_chat_has_tool_context(&r->chat) ||
        !p->thinking_closed || p->n_calls || prompt_len < tl || memcmp(prompt + prompt_len - tl, DS4_TOK_THINK, tl))
        return NULL;
    srv_buf b = {0};
    srv_buf_addn(&b, prompt, prompt_len - tl);
    srv_buf_add(&b, DS4_TOK_END_THINK);
    srv_buf_add(&b, p->content);
    *out_len = b.len;
    return srv_buf_take(&b);
}
