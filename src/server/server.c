/* The HTTP front of `ds4 serve`: routing, auth, validation, the job queue,
 * and process lifetime (signals, shutdown snapshot). */
#include "server/server.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/progress.h"
#include "chat/chat.h"
#include "server/http.h"
#include "server/server_internal.h"

void srv_config_defaults(srv_config *c) {
    memset(c, 0, sizeof *c);
    c->host = "127.0.0.1";
    c->port = 8000;
    c->ctx = 32768;
    c->numerics = DS4_NUMERICS_OFFICIAL;
    c->max_body = (size_t)64 << 20;
    c->max_queue = 64;
    c->tool_memory_max_ids = 100000;
    c->kv.budget_bytes = (uint64_t)4096 << 20;
    c->kv.min_tokens = 512;
    c->kv.cold_max_tokens = 30000;
    c->kv.continued_interval = 10000;
    c->kv.boundary_trim = 32;
    c->kv.boundary_align = 2048;
}

/* ---- jobs ---- */

void srv_job_release(srv_job *j) {
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left) return;
    srv_request_free(&j->req);
    free(j->prompt);
    ds4_tokens_free(&j->tokens);
    if (j->stream) srv_stream_release(j->stream);
    if (j->fd >= 0) close(j->fd);
    free(j->body);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

void srv_job_finish(srv_job *j, int status, char *body) {
    pthread_mutex_lock(&j->mu);
    j->status = status;
    free(j->body);
    j->body = body;
    j->phase = JOB_DONE;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

bool srv_job_client_gone(srv_job *j) {
    if (j->stream && srv_stream_cancelled(j->stream)) return true;
    if (j->fd < 0) return false;
    struct pollfd p = {.fd = j->fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* ---- responses ---- */

static bool is_anthropic_path(const char *path) { return !strncmp(path, "/v1/messages", 12); }

static void reply_error(srv_http_resp *resp, const char *path, srv_api api, const srv_err *e) {
    srv_resp_json(resp, e->status, srv_error_json(api, is_anthropic_path(path), e));
}

static void reply_errf(srv_http_resp *resp, const char *path, int status, const char *msg) {
    srv_err e;
    srv_errf(&e, status, "%s", msg);
    reply_error(resp, path, SRV_API_CHAT, &e);
}

static bool key_matches(const char *given, const char *key) {
    size_t n = strlen(key);
    return given && strlen(given) == n && CRYPTO_memcmp(given, key, n) == 0;
}

static bool authorized(const srv_state *st, const srv_http_req *req) {
    const char *key = st->cfg.api_key;
    if (!key) return true;
    if (req->x_api_key && key_matches(req->x_api_key, key)) return true;
    const char *a = req->authorization;
    if (a && !strncasecmp(a, "Bearer ", 7)) {
        a += 7;
        while (*a == ' ') a++;
        return key_matches(a, key);
    }
    return false;
}

/* Renders and tokenizes in the connection thread, so bad requests and
 * context overflow are answered without waiting in the queue. */
static bool prepare_job(srv_state *st, srv_job *j, srv_err *e) {
    srv_request *r = &j->req;
    if (r->api == SRV_API_COMPLETIONS) {
        /* a raw text completion: no template, no thinking */
        srv_buf b = {0};
        if (strncmp(r->prompt, DS4_TOK_BOS, strlen(DS4_TOK_BOS))) srv_buf_add(&b, DS4_TOK_BOS);
        srv_buf_add(&b, r->prompt);
        j->prompt_len = b.len;
        j->prompt = srv_buf_take(&b);
    } else {
        srv_dsml_memory_apply(st->dsml, &r->chat);
        ds4_chat_render_opts ro = {.think = r->think, .ctx = st->cfg.ctx, .continue_last = r->continue_last};
        ds4_error err = {{0}};
        j->prompt = ds4_chat_render(&r->chat, &ro, &err);
        if (!j->prompt) return srv_errf(e, 400, "%s", err.msg);
        j->prompt_len = strlen(j->prompt);
        if (ds4_chat_effective_think(r->think, st->cfg.ctx) != r->think)
            fprintf(stderr, "ds4 serve: request %lu: think max needs ctx >= %d; using high\n", j->n,
                    DS4_THINK_MAX_MIN_CTX);
        if (ds4_chat_effective_think(r->think, st->cfg.ctx) == DS4_THINK_NONE) r->think = DS4_THINK_NONE;
    }
    ds4_error err = {{0}};
    if (!ds4_tokenize(st->tok, j->prompt, j->prompt_len, true, &j->tokens, &err))
        return srv_errf(e, 500, "tokenizing the prompt failed: %s", err.msg);
    if ((int)j->tokens.n >= st->cfg.ctx) {
        srv_errf(e, 400, "Prompt has %zu tokens, but the configured context size is %d tokens", j->tokens.n,
                 st->cfg.ctx);
        e->code = "context_length_exceeded";
        e->param = r->api == SRV_API_COMPLETIONS ? "prompt" : r->api == SRV_API_RESPONSES ? "input" : "messages";
        e->n_prompt = (long)j->tokens.n;
        e->n_ctx = st->cfg.ctx;
        return false;
    }
    j->user_mark = -1;
    for (size_t i = 0; i < j->tokens.n; i++) {
        int32_t t = j->tokens.ids[i];
        if (t == st->assistant_id) break;
        if (t == st->user_id) j->user_mark = (int)i;
    }
    return true;
}

static void handle_generation(srv_state *st, srv_api api, const srv_http_req *req, srv_http_resp *resp) {
    srv_job *j = ds4_xcalloc(1, sizeof *j);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->fd = req->fd >= 0 ? dup(req->fd) : -1;
    j->refs = 1;
    srv_err e;
    if (!srv_request_parse(api, req->body, req->body_len, &j->req, &e)) {
        fprintf(stderr, "ds4 serve: %s: 400: %s\n", req->path, e.msg);
        reply_error(resp, req->path, api, &e);
        srv_job_release(j);
        return;
    }
    pthread_mutex_lock(&st->qmu);
    j->n = ++st->counter;
    pthread_mutex_unlock(&st->qmu);
    srv_reply_ids_init(&j->ids, api, j->n);
    if (!prepare_job(st, j, &e)) {
        fprintf(stderr, "ds4 serve: request %lu: %d: %s\n", j->n, e.status, e.msg);
        reply_error(resp, req->path, api, &e);
        srv_job_release(j);
        return;
    }
    if (j->req.stream) j->stream = srv_stream_new();

    pthread_mutex_lock(&st->qmu);
    if (st->stopping || st->queued >= st->cfg.max_queue) {
        bool stopping = st->stopping;
        pthread_mutex_unlock(&st->qmu);
        srv_errf(&e, stopping ? 503 : 429, stopping ? "server shutting down"
                                                    : "too many queued requests; retry later");
        reply_error(resp, req->path, api, &e);
        srv_job_release(j);
        return;
    }
    int position = st->queued + (st->busy ? 1 : 0);
    j->refs = 2; /* the worker's reference */
    if (st->tail) st->tail->next = j;
    else st->head = j;
    st->tail = j;
    st->queued++;
    static const char *names[] = {"chat", "completions", "messages", "responses"};
    fprintf(stderr, "ds4 serve: request %lu (%s%s, %zu prompt tokens) queued at position %d\n", j->n, names[api],
            j->req.stream ? ", stream" : "", j->tokens.n, position);
    pthread_cond_signal(&st->qcv);
    pthread_mutex_unlock(&st->qmu);

    if (j->stream) {
        /* Streams answer at once: keep-alive comments flow while the request
         * waits in the queue and during prefill; later errors go in-band. */
        resp->status = 200;
        srv_stream_retain(j->stream);
        resp->stream = j->stream;
        srv_job_release(j);
        return;
    }
    pthread_mutex_lock(&j->mu);
    while (j->phase < JOB_DONE) pthread_cond_wait(&j->cv, &j->mu);
    pthread_mutex_unlock(&j->mu);
    srv_resp_json(resp, j->status ? j->status : 500, j->body ? j->body : ds4_xstrdup("{}"));
    j->body = NULL;
    srv_job_release(j);
}

/* Anthropic's token counter (Claude Code asks it before long requests): the
 * prompt this request would render to, tokenized. No generation, no queue. */
static void handle_count_tokens(srv_state *st, const srv_http_req *req, srv_http_resp *resp) {
    srv_job j = {0};
    srv_err e;
    if (!srv_request_parse(SRV_API_MESSAGES, req->body, req->body_len, &j.req, &e)) {
        reply_error(resp, req->path, SRV_API_MESSAGES, &e);
        return;
    }
    if (prepare_job(st, &j, &e) || e.code) {
        srv_buf b = {0};
        srv_buf_printf(&b, "{\"input_tokens\":%zu}", j.tokens.n);
        srv_resp_json(resp, 200, srv_buf_take(&b));
    } else {
        reply_error(resp, req->path, SRV_API_MESSAGES, &e);
    }
    srv_request_free(&j.req);
    free(j.prompt);
    ds4_tokens_free(&j.tokens);
}

static void handle(void *user, const srv_http_req *req, srv_http_resp *resp) {
    srv_state *st = user;
    const char *p = req->path;
    bool get = !strcmp(req->method, "GET"), post = !strcmp(req->method, "POST");
    if (get && !strcmp(p, "/health")) {
        pthread_mutex_lock(&st->qmu);
        int q = st->queued;
        bool busy = st->busy;
        pthread_mutex_unlock(&st->qmu);
        srv_buf b = {0};
        srv_buf_printf(&b, "{\"status\":\"ok\",\"model\":\"%s\",\"busy\":%s,\"queued\":%d}", SRV_MODEL_ID,
                       busy ? "true" : "false", q);
        srv_resp_json(resp, 200, srv_buf_take(&b));
        return;
    }
    if (!authorized(st, req)) {
        reply_errf(resp, p, 401, "missing or invalid API key (send Authorization: Bearer KEY or x-api-key: KEY)");
        return;
    }
    if (req->too_large) {
        char m[128];
        snprintf(m, sizeof m, "request body exceeds the limit of %zu bytes (--max-request-mb)", st->cfg.max_body);
        reply_errf(resp, p, 413, m);
        return;
    }
    if (get && !strcmp(p, "/v1/models")) { srv_resp_json(resp, 200, srv_model_json(st->cfg.ctx, true)); return; }
    if (get && !strcmp(p, "/v1/models/" SRV_MODEL_ID)) {
        srv_resp_json(resp, 200, srv_model_json(st->cfg.ctx, false));
        return;
    }
    if (post && !strcmp(p, "/v1/messages/count_tokens")) { handle_count_tokens(st, req, resp); return; }
    static const struct { const char *path; srv_api api; } routes[] = {
        {"/v1/chat/completions", SRV_API_CHAT}, {"/v1/completions", SRV_API_COMPLETIONS},
        {"/v1/messages", SRV_API_MESSAGES},     {"/v1/responses", SRV_API_RESPONSES},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(p, routes[i].path)) continue;
        if (!post) { reply_errf(resp, p, 404, "unknown endpoint (use POST)"); return; }
        handle_generation(st, routes[i].api, req, resp);
        return;
    }
    char m[300];
    snprintf(m, sizeof m, "unknown endpoint %s %.200s", req->method, p);
    reply_errf(resp, p, 404, m);
}

/* ---- lifetime ---- */

static void *second_signal(void *arg) {
    sigset_t *set = arg;
    int sig;
    sigwait(set, &sig);
    fprintf(stderr, "ds4 serve: second signal, exiting now\n");
    _exit(130);
    return NULL;
}

/* --port-file: written whole through FILE.tmp + rename, so a script that
 * polls for the file never reads a partial number. */
static void write_port_file(const char *path, int port) {
    size_t n = strlen(path) + 5;
    char *tmp = ds4_xmalloc(n);
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    bool ok = f && fprintf(f, "%d\n", port) > 0;
    if (f && fclose(f) != 0) ok = false;
    if (ok && rename(tmp, path) != 0) ok = false;
    if (!ok) {
        fprintf(stderr, "ds4 serve: cannot write --port-file %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
}

static char *kv_tool_lookup(void *user, const char *id) { return kvc_tool_lookup(user, id); }

static bool load_all(srv_state *st, ds4_error *err) {
    const srv_config *c = &st->cfg;
    ds4_model_opts mo = {.n_threads = c->threads, .numerics = c->numerics, .progress = true, .weights = c->weights};
    st->model = ds4_model_load(c->model_path, &mo, err);
    if (!st->model) return false;
    st->tok = ds4_tokenizer_load(ds4_model_gguf(st->model), err);
    if (!st->tok) {
        ds4_error_prefix(err, "%s: tokenizer", c->model_path);
        return false;
    }
    st->eos = ds4_tokenizer_require_special(st->tok, DS4_SPECIAL_EOS, "ds4 serve", err);
    if (st->eos < 0) return false;
    st->user_id = ds4_tokenizer_special_id(st->tok, DS4_SPECIAL_USER);
    st->assistant_id = ds4_tokenizer_special_id(st->tok, DS4_SPECIAL_ASSISTANT);
    st->session = ds4_session_create(st->model, c->ctx, err);
    if (!st->session) return false;
    st->n_vocab = ds4_model_n_vocab(st->model);
    st->logits = ds4_xcalloc((size_t)st->n_vocab, sizeof(float));
    st->dsml = srv_dsml_memory_new(c->tool_memory_max_ids);
    if (c->kv_enabled) {
        uint8_t id[32];
        kvc_model_id(st->model, id);
        st->kv = kvc_open(&c->kv, id, c->ctx, err);
        if (!st->kv) return false;
        /* ids missing from RAM are looked up in the files' tool maps (§4.4) */
        srv_dsml_memory_set_fallback(st->dsml, kv_tool_lookup, st->kv);
    }
    if (c->trace_path) {
        st->trace = fopen(c->trace_path, "a");
        if (!st->trace) return ds4_fail(err, "--trace %s: %s", c->trace_path, strerror(errno));
    }
    return true;
}

static void free_all(srv_state *st) {
    srv_worker_unbind_calls(st);
    kvc_close(st->kv);
    srv_dsml_memory_free(st->dsml);
    free(st->logits);
    ds4_tokens_free(&st->live);
    srv_buf_free(&st->live_text);
    if (st->session) ds4_session_free(st->session);
    if (st->tok) ds4_tokenizer_free(st->tok);
    if (st->model) ds4_model_free(st->model);
    if (st->trace) fclose(st->trace);
}

int srv_run(const srv_config *c) {
    /* Signals are taken synchronously by the main thread (sigwait); every
     * thread started from here inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    srv_state *st = ds4_xcalloc(1, sizeof *st);
    st->cfg = *c;
    pthread_mutex_init(&st->qmu, NULL);
    pthread_cond_init(&st->qcv, NULL);
    pthread_mutex_init(&st->trace_mu, NULL);
    ds4_error err = {{0}};
    if (!load_all(st, &err)) {
        fprintf(stderr, "ds4 serve: %s\n", err.msg);
        free_all(st);
        free(st);
        return 1;
    }
    pthread_create(&st->worker, NULL, srv_worker_main, st);
    srv_http_opts ho = {.host = c->host, .port = c->port, .max_body = c->max_body, .cors = c->cors,
                        .keepalive_ms = 5000};
    srv_http *http = srv_http_start(&ho, handle, st, &err);
    int rc = 0;
    if (!http) {
        fprintf(stderr, "ds4 serve: %s\n", err.msg);
        rc = 1;
    } else {
        fprintf(stderr, "ds4 serve: listening on http://%s:%d (ctx %d%s)\n", c->host, srv_http_port(http), c->ctx,
                c->api_key ? ", API key required" : "");
        if (c->port_file) write_port_file(c->port_file, srv_http_port(http));
        int sig = 0;
        sigwait(&set, &sig);
        fprintf(stderr, "ds4 serve: %s: finishing the active request, then exiting\n",
                sig == SIGINT ? "SIGINT" : "SIGTERM");
        pthread_t t2;
        pthread_create(&t2, NULL, second_signal, &set);
        pthread_detach(t2);
    }
    pthread_mutex_lock(&st->qmu);
    st->stopping = true;
    pthread_cond_broadcast(&st->qcv);
    pthread_mutex_unlock(&st->qmu);
    pthread_join(st->worker, NULL);
    srv_worker_save_shutdown(st);
    srv_http_stop(http);
    free_all(st);
    pthread_mutex_destroy(&st->qmu);
    pthread_cond_destroy(&st->qcv);
    pthread_mutex_destroy(&st->trace_mu);
    free(st);
    fprintf(stderr, "ds4 serve: stopped\n");
    return rc;
}
