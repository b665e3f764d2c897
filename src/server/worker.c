/* The generation worker: one at a time, in FIFO order. It picks the longest
 * reusable state for the prompt (live tokens, live text, disk snapshot),
 * evaluates the rest, samples, and streams the text out through srv_output.
 * It also applies the disk cache's save policies (chat-and-api.md §4.3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/progress.h"
#include "quant/quant.h"
#include "sampler/sampler.h"
#include "server/api_internal.h"
#include "server/output.h"
#include "server/server_internal.h"
#include "server/session.h"

#define PREFILL_CHUNK 256

static void stream_write(void *user, const char *data, size_t len) { srv_stream_write(user, data, len); }

static void live_reset(srv_state *st) {
    ds4_session_reset(st->session);
    st->live.n = 0;
    st->live_text.len = 0;
    if (st->live_text.s) st->live_text.s[0] = 0;
    st->have_logits = false;
    st->live_visible = false;
    srv_worker_unbind_calls(st);
}

void srv_worker_unbind_calls(srv_state *st) {
    for (int i = 0; i < st->n_bound_ids; i++) free(st->bound_ids[i]);
    free(st->bound_ids);
    st->bound_ids = NULL;
    st->n_bound_ids = 0;
    srv_buf_free(&st->resp_visible);
}

static void live_push(srv_state *st, int32_t t) {
    ds4_tokens_push(&st->live, t);
    size_t n;
    const char *piece = ds4_token_piece(st->tok, t, &n);
    srv_buf_addn(&st->live_text, piece ? piece : "", piece ? n : 0);
}

static void save_live(srv_state *st, kvc_reason why) {
    if (!st->kv || (int)st->live.n < kvc_options(st->kv)->min_tokens) return;
    ds4_error err = {{0}};
    const char *text = st->live_text.s ? st->live_text.s : "";
    size_t text_len = st->live_text.len;
    uint32_t key = st->live_visible ? KVC_FLAG_THINKING_VISIBLE : 0;
    if ((why == KVC_EVICT || why == KVC_SHUTDOWN) && st->resp_visible.len && st->visible_at == st->live.n) {
        /* A binding at the frontier: key the file by what the next request
         * renders (§4.3), not by text holding reasoning the client never saw. */
        text = st->resp_visible.s;
        text_len = st->resp_visible.len;
        key = KVC_FLAG_RESPONSES_VISIBLE;
    }
    /* the file's tool map: exact DSML of the calls in its text (§4.4) */
    char **ids, **blocks;
    int nt = srv_dsml_memory_collect(st->dsml, text, text_len, &ids, &blocks);
    kvc_tool *tools = nt ? ds4_xcalloc((size_t)nt, sizeof *tools) : NULL;
    for (int i = 0; i < nt; i++) tools[i] = (kvc_tool){.id = ids[i], .dsml = blocks[i]};
    if (!kvc_save(st->kv, st->session, st->live.ids, (int)st->live.n, text, text_len, why, key, tools, nt, &err))
        fprintf(stderr, "ds4 serve: kv cache: not saved: %s\n", err.msg);
    free(tools);
    srv_dsml_pairs_free(ids, blocks, nt);
}

void srv_worker_save_shutdown(srv_state *st) { save_live(st, KVC_SHUTDOWN); }

/* Next absolute position for a "continued" snapshot above pos, or 0. */
static int next_continued(const srv_state *st, int pos) {
    if (!st->kv) return 0;
    const kvc_opts *o = kvc_options(st->kv);
    if (o->continued_interval <= 0) return 0;
    int step = o->continued_interval;
    if (o->boundary_align > 0) step = (step + o->boundary_align - 1) / o->boundary_align * o->boundary_align;
    return (pos / step + 1) * step;
}

static void tokenize_suffix(srv_state *st, const char *text, size_t len, ds4_tokens *out) {
    ds4_error err = {{0}};
    if (!ds4_tokenize(st->tok, text, len, true, out, &err))
        fprintf(stderr, "ds4 serve: tokenizing a prompt suffix failed: %s\n", err.msg);
}

typedef struct plan {
    ds4_tokens suffix;     /* tokens to evaluate */
    int reused;            /* K */
    const char *source;
    int cold_at;           /* absolute position for a cold save, or 0 */
    bool conflict;         /* outputs-only request that misses the live calls: 409 */
} plan;

/* Sources 2 and 3: the trailing results answer exactly the calls of the
 * live turn, which ends at its closed tool block. Evaluates EOS (never
 * sampled into the KV), the results and the generation prefix on top. */
static bool plan_tool_output(srv_state *st, srv_job *j, plan *p) {
    const srv_request *r = &j->req;
    if (!st->n_bound_ids || st->bound_api != r->api || st->bound_at != st->live.n ||
        !srv_trailing_outputs_match(&r->chat, (const char *const *)st->bound_ids, st->n_bound_ids))
        return false;
    size_t n = 0;
    char *tail = srv_tool_output_tail(r, st->cfg.ctx, j->prompt, j->prompt_len, &n);
    if (!tail) return false;
    ds4_tokens_push(&p->suffix, st->eos);
    tokenize_suffix(st, tail, n, &p->suffix);
    free(tail);
    p->reused = (int)st->live.n;
    p->source = r->api == SRV_API_RESPONSES ? "responses-tool-output" : "anthropic-tool-output";
    return true;
}

/* Chooses what to keep of the live state (§4.1 sources 2-4, 6-8). */
static void make_plan(srv_state *st, srv_job *j, plan *p) {
    memset(p, 0, sizeof *p);
    const ds4_tokens *T = &j->tokens;
    size_t ln = st->live.n;
    size_t vl = st->resp_visible.len;
    if (j->req.api == SRV_API_RESPONSES && vl && st->visible_at == ln && vl < j->prompt_len &&
        !memcmp(st->resp_visible.s, j->prompt, vl)) {
        /* Source 1: the live KV holds this history with the reasoning the
         * client never saw; the suffix starts with the turn's EOS. */
        tokenize_suffix(st, j->prompt + vl, j->prompt_len - vl, &p->suffix);
        p->reused = (int)ln;
        p->source = "responses-visible";
        return;
    }
    if ((j->req.api == SRV_API_RESPONSES || j->req.api == SRV_API_MESSAGES) && plan_tool_output(st, j, p)) return;
    if ((j->req.api == SRV_API_RESPONSES || j->req.api == SRV_API_MESSAGES) && srv_outputs_only(&j->req.chat)) {
        /* Only results and no history: nothing else can render the turn
         * they answer. The live state is kept for a corrected retry. */
        p->conflict = true;
        return;
    }
    if (ln && ln <= T->n && !memcmp(st->live.ids, T->ids, ln * sizeof(int32_t)) && (ln < T->n || st->have_logits)) {
        for (size_t i = ln; i < T->n; i++) ds4_tokens_push(&p->suffix, T->ids[i]);
        p->reused = (int)ln;
        p->source = "memory-token";
        return;
    }
    size_t tl = st->live_text.len;
    if (ln && tl < j->prompt_len && !memcmp(st->live_text.s, j->prompt, tl)) {
        /* The suffix is tokenized on its own: BPE merges across the boundary
         * would otherwise change the tokens already in the KV. */
        tokenize_suffix(st, j->prompt + tl, j->prompt_len - tl, &p->suffix);
        p->reused = (int)ln;
        p->source = st->live_visible ? "thinking-visible" : "memory-text";
        return;
    }
    /* A miss: the live state is about to be replaced. */
    save_live(st, KVC_EVICT);
    live_reset(st);
    if (st->kv) {
        int32_t *toks = NULL;
        size_t text_len = 0;
        int n = kvc_restore(st->kv, st->session, j->prompt, j->prompt_len - 1, &toks, &text_len);
        if (n > 0) {
            for (int i = 0; i < n; i++) ds4_tokens_push(&st->live, toks[i]);
            srv_buf_addn(&st->live_text, j->prompt, text_len);
            free(toks);
            tokenize_suffix(st, j->prompt + text_len, j->prompt_len - text_len, &p->suffix);
            p->reused = n;
            p->source = "disk-text";
            return;
        }
    }
    for (size_t i = 0; i < T->n; i++) ds4_tokens_push(&p->suffix, T->ids[i]);
    p->source = "cold";
    if (st->kv) p->cold_at = kvc_cold_length(st->kv, (int)T->n, j->user_mark);
}

/* Evaluates the plan's suffix in chunks: disconnects are noticed between
 * chunks and snapshots are taken at their boundaries. */
static bool prefill(srv_state *st, srv_job *j, plan *p, ds4_error *err) {
    size_t n = p->suffix.n;
    double t0 = ds4_now(), last_log = t0;
    int next_cont = next_continued(st, (int)st->live.n);
    for (size_t done = 0; done < n;) {
        int pos = (int)st->live.n;
        size_t take = n - done < PREFILL_CHUNK ? n - done : PREFILL_CHUNK;
        if (p->cold_at > pos && (size_t)(p->cold_at - pos) < take) take = (size_t)(p->cold_at - pos);
        if (next_cont > pos && (size_t)(next_cont - pos) < take) take = (size_t)(next_cont - pos);
        bool last = done + take == n;
        if (!ds4_session_eval(st->session, p->suffix.ids + done, (int)take, last ? st->logits : NULL, false, err)) {
            live_reset(st); /* position unknown after a failure: start clean */
            return false;
        }
        for (size_t i = 0; i < take; i++) live_push(st, p->suffix.ids[done + i]);
        done += take;
        st->have_logits = last;
        pos = (int)st->live.n;
        if (p->cold_at && pos == p->cold_at) save_live(st, KVC_COLD);
        if (next_cont && pos == next_cont) {
            save_live(st, KVC_CONTINUED);
            next_cont = next_continued(st, pos);
        }
        double now = ds4_now();
        if (n > PREFILL_CHUNK && (now - last_log > 2.0 || last)) {
            fprintf(stderr, "ds4 serve: request %lu: prefill %zu/%zu tokens (%.0f tok/s)\n", j->n, done, n,
                    (double)done / (now - t0 > 1e-9 ? now - t0 : 1e-9));
            last_log = now;
        }
        if (!last && srv_job_client_gone(j)) return ds4_fail(err, "client disconnected during prefill");
    }
    return true;
}

static void trace(srv_state *st, srv_job *j, const plan *p, const char *out, size_t out_len, srv_finish f,
                  const srv_usage *u) {
    if (!st->trace) return;
    static const char *fin[] = {"stop", "length", "tool_calls", "error"};
    pthread_mutex_lock(&st->trace_mu);
    fprintf(st->trace, "=== request %lu source=%s prompt=%d cached=%d completion=%d finish=%s\n--- prompt\n", j->n,
            p->source, u->prompt, u->cached, u->completion, fin[f]);
    fwrite(j->prompt, 1, j->prompt_len, st->trace);
    fprintf(st->trace, "\n--- output\n");
    fwrite(out, 1, out_len, st->trace);
    fprintf(st->trace, "\n");
    fflush(st->trace);
    pthread_mutex_unlock(&st->trace_mu);
}

/* Ends a job with an error. A stream has its headers out already (the front
 * answers streams at once, so keep-alive comments flow while queued): the
 * error goes in-band as an `event: error` and the stream closes. */
static void job_fail(srv_job *j, const srv_err *e) {
    const srv_request *r = &j->req;
    if (j->stream) {
        srv_emitter *em = srv_emitter_new(r, &j->ids, stream_write, j->stream);
        srv_emitter_fail(em, e->msg);
        srv_emitter_free(em);
        srv_stream_close(j->stream);
        srv_job_finish(j, 200, NULL);
    } else {
        srv_job_finish(j, e->status, srv_error_json(r->api, r->api == SRV_API_MESSAGES, e));
    }
}

static bool shutting_down(srv_state *st) {
    pthread_mutex_lock(&st->qmu);
    bool s = st->stopping;
    pthread_mutex_unlock(&st->qmu);
    return s;
}

static void run_job(srv_state *st, srv_job *j) {
    srv_request *r = &j->req;
    plan p;
    make_plan(st, j, &p);
    if (p.conflict) {
        srv_err e;
        srv_errf(&e, 409, "the input holds only tool results, and their call ids do not match the tool calls "
                          "of the live session; send the whole conversation");
        fprintf(stderr, "ds4 serve: request %lu: 409: tool outputs miss the live calls\n", j->n);
        job_fail(j, &e);
        return;
    }
    srv_usage u = {.prompt = p.reused + (int)p.suffix.n, .cached = p.reused};
    fprintf(stderr, "ds4 serve: request %lu: %s, reusing %d of %d prompt tokens\n", j->n, p.source, p.reused,
            u.prompt);
    if (u.prompt >= st->cfg.ctx) {
        srv_err e;
        srv_errf(&e, 400, "Prompt has %d tokens, but the configured context size is %d tokens", u.prompt, st->cfg.ctx);
        e.code = "context_length_exceeded";
        e.n_prompt = u.prompt;
        e.n_ctx = st->cfg.ctx;
        job_fail(j, &e);
        ds4_tokens_free(&p.suffix);
        return;
    }
    srv_output *o = srv_output_new(r, &j->ids, j->stream ? stream_write : NULL, j->stream);
    ds4_error err = {{0}};
    bool ok = prefill(st, j, &p, &err);
    ds4_tokens_free(&p.suffix);
    if (!ok) {
        fprintf(stderr, "ds4 serve: request %lu: prefill failed: %s\n", j->n, err.msg);
        srv_err e;
        srv_errf(&e, 500, "prefill failed: %s", err.msg);
        job_fail(j, &e);
        srv_output_free(o);
        return;
    }
    srv_worker_unbind_calls(st); /* the live state moved past the bound turn */
    srv_output_begin(o, &u);

    ds4_sampler_params sp = ds4_sampler_defaults();
    sp.temp = r->temperature;
    sp.top_p = r->top_p;
    sp.min_p = r->min_p;
    sp.top_k = r->top_k;
    sp.seed = r->seed;
    ds4_sampler *sampler = ds4_sampler_new(&sp, st->n_vocab);
    ds4_detok *dt = ds4_detok_new(st->tok);
    int room = st->cfg.ctx - (int)st->live.n;
    int limit = r->max_tokens > 0 && r->max_tokens < room ? r->max_tokens : room;
    srv_finish f = SRV_FINISH_STOP;
    bool gone = false, eos = false;
    int next_cont = next_continued(st, (int)st->live.n);
    while (!srv_output_done(o)) {
        if (u.completion >= limit) { f = SRV_FINISH_LENGTH; break; }
        if (srv_job_client_gone(j)) { gone = true; f = SRV_FINISH_ERROR; break; }
        if (shutting_down(st)) { f = SRV_FINISH_ERROR; break; } /* reported as finish "error" */
        int32_t t = ds4_sampler_sample(sampler, st->logits);
        st->have_logits = false;
        if (t == st->eos) { eos = true; break; } /* never evaluated into the KV */
        u.completion++;
        size_t len;
        const char *txt = ds4_detok_push(dt, t, &len);
        bool stop = srv_output_feed(o, txt, len);
        if ((int)st->live.n + 1 > st->cfg.ctx) { f = SRV_FINISH_LENGTH; break; }
        if (stop && srv_output_stop_string(o)) break; /* the stop string stays out of the KV */
        /* Evaluated even when it ends the turn (a closed tool block), so the
         * live text matches the next request's rendering of this turn. */
        if (!ds4_session_eval(st->session, &t, 1, st->logits, false, &err)) {
            fprintf(stderr, "ds4 serve: request %lu: decode failed: %s\n", j->n, err.msg);
            live_reset(st);
            f = SRV_FINISH_ERROR;
            break;
        }
        live_push(st, t);
        st->have_logits = true;
        if (next_cont && (int)st->live.n == next_cont) {
            if (!srv_output_done(o)) save_live(st, KVC_CONTINUED);
            next_cont = next_continued(st, (int)st->live.n);
        }
    }
    if (!gone) {
        size_t len;
        const char *rest = ds4_detok_flush(dt, &len);
        if (len) srv_output_feed(o, rest, len);
    }
    srv_finish final = f;
    char *body = srv_output_finish(o, f, &u, &final);
    const ds4_chat_parsed *parsed = srv_output_parsed(o);
    for (int i = 0; parsed && parsed->raw_dsml && i < parsed->n_calls; i++)
        srv_dsml_memory_put(st->dsml, srv_output_call_id(o, i), parsed->raw_dsml);
    if (final == SRV_FINISH_TOOLS && parsed && parsed->n_calls &&
        (r->api == SRV_API_RESPONSES || r->api == SRV_API_MESSAGES)) {
        /* The live KV ends at the closed tool block: bind its call ids so
         * the results alone can continue it (sources 2 and 3). */
        st->bound_ids = ds4_xcalloc((size_t)parsed->n_calls, sizeof *st->bound_ids);
        for (int i = 0; i < parsed->n_calls; i++) {
            const char *id = srv_output_call_id(o, i);
            st->bound_ids[st->n_bound_ids++] = ds4_xstrdup(id ? id : "");
        }
        st->bound_api = r->api;
        st->bound_at = st->live.n;
    }
    if (r->api == SRV_API_RESPONSES && parsed && ((eos && final == SRV_FINISH_STOP) || final == SRV_FINISH_TOOLS)) {
        const char *reasoning, *content;
        srv_split_reasoning(r, parsed, &reasoning, &content);
        const char **ids = ds4_xcalloc((size_t)parsed->n_calls + 1, sizeof *ids);
        for (int i = 0; i < parsed->n_calls; i++) ids[i] = srv_output_call_id(o, i);
        size_t n = 0;
        char *v = srv_responses_visible_text(r, st->cfg.ctx, j->prompt, j->prompt_len, parsed, reasoning, content, ids, &n);
        if (v) {
            srv_buf_addn(&st->resp_visible, v, n);
            st->visible_at = st->live.n;
            free(v);
        }
        free(ids);
    }
    size_t vis_len = 0;
    char *vis = eos && final == SRV_FINISH_STOP ? srv_output_visible_text(o, j->prompt, j->prompt_len, &vis_len) : NULL;
    if (vis) {
        /* The next turn's prompt starts with this text (its reasoning
         * dropped): bind it to the live KV so that turn continues here. */
        st->live_text.len = 0;
        srv_buf_addn(&st->live_text, vis, vis_len);
        st->live_visible = true;
        free(vis);
    }
    size_t out_len;
    const char *out = srv_output_text(o, &out_len);
    trace(st, j, &p, out, out_len, final, &u);
    static const char *fin[] = {"stop", "length", "tool_calls", "error"};
    fprintf(stderr, "ds4 serve: request %lu: %s after %d tokens%s\n", j->n, fin[final], u.completion,
            gone ? " (client disconnected)" : "");
    if (j->stream) srv_stream_close(j->stream);
    srv_job_finish(j, 200, body);
    ds4_detok_free(dt);
    ds4_sampler_free(sampler);
    srv_output_free(o);
}

void *srv_worker_main(void *arg) {
    srv_state *st = arg;
    for (;;) {
        pthread_mutex_lock(&st->qmu);
        while (!st->head && !st->stopping) pthread_cond_wait(&st->qcv, &st->qmu);
        srv_job *j = st->head;
        if (j) {
            st->head = j->next;
            if (!st->head) st->tail = NULL;
            st->queued--;
            st->busy = true;
        }
        bool stopping = st->stopping;
        pthread_mutex_unlock(&st->qmu);
        if (!j) break;
        if (stopping) {
            srv_err e;
            srv_errf(&e, 503, "server shutting down");
            job_fail(j, &e);
        } else if (srv_job_client_gone(j)) {
            fprintf(stderr, "ds4 serve: request %lu: client went away while queued\n", j->n);
            if (j->stream) srv_stream_close(j->stream);
            srv_job_finish(j, 499, ds4_xstrdup("{}"));
        } else {
            run_job(st, j);
        }
        pthread_mutex_lock(&st->qmu);
        st->busy = false;
        pthread_mutex_unlock(&st->qmu);
        srv_job_release(j);
    }
    ds4_quant_thread_release(); /* this thread ran the forward pass's kernels */
    return NULL;
}
