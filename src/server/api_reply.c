/* Complete (non-stream) replies, error bodies, ids and usage (§3.2-§3.8). */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "server/api_internal.h"

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one. */
static int utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    int len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; min = 0x10000; }
    else return 0;
    if ((size_t)len > n) return 0;
    unsigned cp = c & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

json_t *srv_jstrn(const char *s, size_t n) {
    json_t *v = json_stringn(s, n);
    if (v) return v;
    /* Generated text cut mid-character (or a NUL-free but invalid client
     * string): replace each bad byte with U+FFFD rather than failing. */
    char *clean = ds4_xmalloc(3 * n + 1);
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        int l = utf8_seq((const unsigned char *)s + i, n - i);
        if (l) { memcpy(clean + m, s + i, (size_t)l); m += (size_t)l; i += (size_t)l; }
        else { memcpy(clean + m, "\xEF\xBF\xBD", 3); m += 3; i++; }
    }
    v = json_stringn(clean, m);
    free(clean);
    return v ? v : json_string("");
}

char *srv_jdump(json_t *v) {
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    return s ? s : ds4_xstrdup("{}");
}

json_t *srv_args_value(const char *args) {
    json_t *v = json_loads(args ? args : "{}", JSON_DECODE_ANY, NULL);
    if (json_is_object(v)) return v;
    json_decref(v);
    /* not an object: hand the text on rather than dropping it */
    json_t *o = json_object();
    json_object_set_new(o, "arguments", srv_jstr(args));
    return o;
}

void srv_random_hex(char *out, int ndigits) {
    unsigned char b[64];
    int nb = (ndigits + 1) / 2;
    if (getrandom(b, (size_t)nb, 0) != nb) {
        /* no entropy source: still unique enough for ids */
        static unsigned long ctr;
        unsigned long x = (unsigned long)time(NULL) ^ (unsigned long)clock() ^ ++ctr * 0x9E3779B97F4A7C15ul;
        for (int i = 0; i < nb; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; b[i] = (unsigned char)x; }
    }
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < ndigits; i++) out[i] = hx[(b[i / 2] >> (i % 2 ? 0 : 4)) & 15];
    out[ndigits] = 0;
}

void srv_new_call_id(srv_api api, char out[48]) {
    const char *pre = api == SRV_API_MESSAGES ? "toolu_" : "call_";
    size_t n = strlen(pre);
    memcpy(out, pre, n);
    srv_random_hex(out + n, 32);
}

void srv_reply_ids_init(srv_reply_ids *ids, srv_api api, unsigned long counter) {
    memset(ids, 0, sizeof *ids);
    ids->created = (long)time(NULL);
    char hex[33];
    switch (api) {
    case SRV_API_CHAT: snprintf(ids->id, sizeof ids->id, "chatcmpl-%lu", counter); break;
    case SRV_API_COMPLETIONS: snprintf(ids->id, sizeof ids->id, "cmpl-%lu", counter); break;
    case SRV_API_MESSAGES:
        srv_random_hex(hex, 24);
        snprintf(ids->id, sizeof ids->id, "msg_%s", hex);
        break;
    case SRV_API_RESPONSES:
        srv_random_hex(hex, 24);
        snprintf(ids->id, sizeof ids->id, "resp_%s", hex);
        srv_random_hex(hex, 24);
        snprintf(ids->msg_item_id, sizeof ids->msg_item_id, "msg_%s", hex);
        srv_random_hex(hex, 24);
        snprintf(ids->rs_item_id, sizeof ids->rs_item_id, "rs_%s", hex);
        break;
    }
}

const char *srv_finish_openai(srv_finish f) {
    switch (f) {
    case SRV_FINISH_STOP: return "stop";
    case SRV_FINISH_LENGTH: return "length";
    case SRV_FINISH_TOOLS: return "tool_calls";
    default: return "error";
    }
}

const char *srv_finish_anthropic(srv_finish f, const char *stop_seq) {
    if (f == SRV_FINISH_TOOLS) return "tool_use";
    if (f == SRV_FINISH_LENGTH) return "max_tokens";
    if (f == SRV_FINISH_STOP && stop_seq) return "stop_sequence";
    return "end_turn";
}

json_t *srv_usage_json(srv_api api, const srv_usage *u) {
    int P = u->prompt, K = u->cached, N = u->completion, W = P - K;
    if (api == SRV_API_MESSAGES)
        return json_pack("{s:i,s:i,s:i,s:i}", "input_tokens", W, "output_tokens", N, "cache_read_input_tokens", K,
                         "cache_creation_input_tokens", 0);
    if (api == SRV_API_RESPONSES)
        return json_pack("{s:i,s:{s:i,s:i},s:i,s:{s:i},s:i}", "input_tokens", P, "input_tokens_details",
                         "cached_tokens", K, "cache_write_tokens", W, "output_tokens", N, "output_tokens_details",
                         "reasoning_tokens", 0, "total_tokens", P + N);
    return json_pack("{s:i,s:i,s:i,s:{s:i,s:i}}", "prompt_tokens", P, "completion_tokens", N, "total_tokens", P + N,
                     "prompt_tokens_details", "cached_tokens", K, "cache_write_tokens", W);
}

void srv_split_reasoning(const srv_request *r, const ds4_chat_parsed *p, const char **reasoning,
                         const char **content) {
    *reasoning = p->reasoning;
    *content = p->content;
    bool thinking = r->think != DS4_THINK_NONE && r->api != SRV_API_COMPLETIONS;
    if (thinking && !r->continue_last && !p->thinking_closed && !p->reasoning[0] && !p->n_calls) {
        *reasoning = p->content;
        *content = "";
    }
}

/* ---- errors ---- */

static const char *openai_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 500: case 503: return "server_error";
    default: return "invalid_request_error";
    }
}

static const char *anthropic_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 500: return "api_error";
    case 503: return "overloaded_error";
    default: return "invalid_request_error";
    }
}

char *srv_error_json(srv_api api, bool anthropic, const srv_err *e) {
    (void)api;
    json_t *err = json_object();
    if (anthropic) {
        json_object_set_new(err, "type", json_string(e->type ? e->type : anthropic_type(e->status)));
        json_object_set_new(err, "message", srv_jstr(e->msg));
    } else {
        json_object_set_new(err, "message", srv_jstr(e->msg));
        json_object_set_new(err, "type", json_string(e->type ? e->type : openai_type(e->status)));
        json_object_set_new(err, "param", e->param ? json_string(e->param) : json_null());
        json_object_set_new(err, "code", e->code ? json_string(e->code) : json_null());
    }
    if (e->code && !strcmp(e->code, "context_length_exceeded")) {
        json_object_set_new(err, "n_prompt_tokens", json_integer(e->n_prompt));
        json_object_set_new(err, "n_ctx", json_integer(e->n_ctx));
    }
    if (anthropic) return srv_jdump(json_pack("{s:s,s:o}", "type", "error", "error", err));
    return srv_jdump(json_pack("{s:o}", "error", err));
}

char *srv_model_json(int ctx, bool list) {
    json_t *m = json_pack("{s:s,s:s,s:i,s:s,s:s,s:i,s:{s:i,s:i,s:b},s:[sssssssssss]}", "id", SRV_MODEL_ID, "object",
                          "model", "created", 1767225600, "owned_by", "ds4", "name", "DeepSeek V4 Flash",
                          "context_length", ctx, "top_provider", "context_length", ctx, "max_completion_tokens", ctx,
                          "is_moderated", 0, "supported_parameters", "tools", "tool_choice", "max_tokens",
                          "temperature", "top_p", "top_k", "min_p", "stop", "seed", "stream", "reasoning_effort");
    if (!list) return srv_jdump(m);
    return srv_jdump(json_pack("{s:s,s:[o]}", "object", "list", "data", m));
}

/* ---- complete replies ---- */

static const char *call_id_or_new(const char *const *ids, int i, srv_api api, char buf[48]) {
    if (ids && ids[i]) return ids[i];
    srv_new_call_id(api, buf);
    return buf;
}

static json_t *chat_reply(const srv_request *r, const srv_reply_ids *ids, const ds4_chat_parsed *p,
                          const char *const *call_ids, srv_finish f, const srv_usage *u) {
    const char *reasoning, *content;
    srv_split_reasoning(r, p, &reasoning, &content);
    json_t *msg = json_pack("{s:s,s:o}", "role", "assistant", "content", srv_jstr(content));
    if (reasoning[0]) json_object_set_new(msg, "reasoning_content", srv_jstr(reasoning));
    if (p->n_calls) {
        json_t *calls = json_array();
        for (int i = 0; i < p->n_calls; i++) {
            char buf[48];
            json_array_append_new(calls, json_pack("{s:s,s:s,s:{s:o,s:o}}", "id", call_id_or_new(call_ids, i, r->api, buf),
                                                   "type", "function", "function", "name", srv_jstr(p->calls[i].name),
                                                   "arguments", srv_jstr(p->calls[i].arguments)));
        }
        json_object_set_new(msg, "tool_calls", calls);
    }
    return json_pack("{s:s,s:s,s:i,s:o,s:[{s:i,s:o,s:n,s:s}],s:o}", "id", ids->id, "object", "chat.completion",
                     "created", (int)ids->created, "model", srv_jstr(r->model), "choices", "index", 0, "message", msg,
                     "logprobs", "finish_reason", srv_finish_openai(f), "usage", srv_usage_json(r->api, u));
}

static json_t *completion_reply(const srv_request *r, const srv_reply_ids *ids, const char *raw, size_t raw_len,
                                srv_finish f, const srv_usage *u) {
    return json_pack("{s:s,s:s,s:i,s:o,s:[{s:o,s:i,s:n,s:s}],s:o}", "id", ids->id, "object", "text_completion",
                     "created", (int)ids->created, "model", srv_jstr(r->model), "choices", "text",
                     srv_jstrn(raw, raw_len), "index", 0, "logprobs", "finish_reason", srv_finish_openai(f), "usage",
                     srv_usage_json(r->api, u));
}

static json_t *messages_reply(const srv_request *r, const srv_reply_ids *ids, const ds4_chat_parsed *p,
                              const char *const *call_ids, srv_finish f, const char *stop_seq, const srv_usage *u) {
    const char *reasoning, *content;
    srv_split_reasoning(r, p, &reasoning, &content);
    json_t *blocks = json_array();
    bool thinking = r->think != DS4_THINK_NONE;
    if (thinking && (reasoning[0] || !r->continue_last))
        json_array_append_new(blocks, json_pack("{s:s,s:o,s:s}", "type", "thinking", "thinking", srv_jstr(reasoning),
                                                "signature", ids->id));
    if (content[0]) json_array_append_new(blocks, json_pack("{s:s,s:o}", "type", "text", "text", srv_jstr(content)));
    for (int i = 0; i < p->n_calls; i++) {
        char buf[48];
        json_array_append_new(blocks, json_pack("{s:s,s:s,s:o,s:o}", "type", "tool_use", "id",
                                                call_id_or_new(call_ids, i, r->api, buf), "name",
                                                srv_jstr(p->calls[i].name), "input",
                                                srv_args_value(p->calls[i].arguments)));
    }
    if (!content[0] && !p->n_calls)
        json_array_append_new(blocks, json_pack("{s:s,s:s}", "type", "text", "text", ""));
    json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:o,s:s}", "id", ids->id, "type", "message", "role", "assistant", "model",
                          srv_jstr(r->model), "content", blocks, "stop_reason", srv_finish_anthropic(f, stop_seq));
    json_object_set_new(o, "stop_sequence", stop_seq && f == SRV_FINISH_STOP ? srv_jstr(stop_seq) : json_null());
    json_object_set_new(o, "usage", srv_usage_json(r->api, u));
    return o;
}

void srv_responses_fc_id(const char *call_id, char out[40]) {
    const char *u = strchr(call_id, '_');
    const char *hex = u ? u + 1 : call_id;
    if (strlen(hex) >= 24) snprintf(out, 40, "fc_%.24s", hex);
    else snprintf(out, 40, "fc_%s", hex);
}

json_t *srv_responses_item_message(const srv_reply_ids *ids, const char *text, const char *status) {
    json_t *content = json_array();
    if (text) json_array_append_new(content, json_pack("{s:s,s:o,s:[]}", "type", "output_text", "text",
                                                       srv_jstr(text), "annotations"));
    return json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", ids->msg_item_id, "type", "message", "status", status, "role",
                     "assistant", "content", content);
}

json_t *srv_responses_item_reasoning(const srv_reply_ids *ids, const char *text, const char *status) {
    json_t *summary = json_array();
    if (text) json_array_append_new(summary, json_pack("{s:s,s:o}", "type", "summary_text", "text", srv_jstr(text)));
    return json_pack("{s:s,s:s,s:s,s:o}", "id", ids->rs_item_id, "type", "reasoning", "status", status, "summary",
                     summary);
}

json_t *srv_responses_item_call(const char *call_id, const char *name, const char *args, const char *status) {
    char fc[40];
    srv_responses_fc_id(call_id, fc);
    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:o}", "id", fc, "type", "function_call", "status", status, "call_id",
                     call_id, "name", srv_jstr(name), "arguments", srv_jstr(args));
}

static const char *responses_status(srv_finish f) {
    return f == SRV_FINISH_LENGTH ? "incomplete" : f == SRV_FINISH_ERROR ? "failed" : "completed";
}

json_t *srv_responses_object(const srv_request *r, const srv_reply_ids *ids, const ds4_chat_parsed *p,
                             const char *const *call_ids, srv_finish f, const srv_usage *u, bool final) {
    json_t *o = json_pack("{s:s,s:s,s:i,s:s,s:o}", "id", ids->id, "object", "response", "created_at", (int)ids->created,
                          "status", final ? responses_status(f) : "in_progress", "model", srv_jstr(r->model));
    json_t *output = json_array();
    if (final && p) {
        const char *item_status = f == SRV_FINISH_STOP || f == SRV_FINISH_TOOLS ? "completed" : "incomplete";
        const char *reasoning, *content;
        srv_split_reasoning(r, p, &reasoning, &content);
        if (r->reasoning_summary && reasoning[0])
            json_array_append_new(output, srv_responses_item_reasoning(ids, reasoning,
                                                                       p->thinking_closed ? "completed" : item_status));
        if (content[0] || !p->n_calls) json_array_append_new(output, srv_responses_item_message(ids, content, item_status));
        for (int i = 0; i < p->n_calls; i++) {
            char buf[48];
            json_array_append_new(output, srv_responses_item_call(call_id_or_new(call_ids, i, r->api, buf),
                                                                  p->calls[i].name, p->calls[i].arguments, item_status));
        }
    }
    json_object_set_new(o, "output", output);
    json_object_set_new(o, "error", final && f == SRV_FINISH_ERROR
                                        ? json_pack("{s:s,s:s}", "code", "server_error", "message", "generation failed")
                                        : json_null());
    json_object_set_new(o, "incomplete_details",
                        final && f == SRV_FINISH_LENGTH ? json_pack("{s:s}", "reason", "max_output_tokens") : json_null());
    json_object_set_new(o, "usage", final && u ? srv_usage_json(r->api, u) : json_null());
    return o;
}

char *srv_reply_json(const srv_request *r, const srv_reply_ids *ids, const char *raw, size_t raw_len,
                     const ds4_chat_parsed *p, const char *const *call_ids, srv_finish f, const char *stop_seq,
                     const srv_usage *u) {
    switch (r->api) {
    case SRV_API_CHAT: return srv_jdump(chat_reply(r, ids, p, call_ids, f, u));
    case SRV_API_COMPLETIONS: return srv_jdump(completion_reply(r, ids, raw, raw_len, f, u));
    case SRV_API_MESSAGES: return srv_jdump(messages_reply(r, ids, p, call_ids, f, stop_seq, u));
    case SRV_API_RESPONSES: return srv_jdump(srv_responses_object(r, ids, p, call_ids, f, u, true));
    }
    return ds4_xstrdup("{}");
}

/* ---- exact DSML replay memory (§4.4) ---- */

typedef struct dsml_entry {
    char *id;
    char *dsml;
    unsigned long stamp;
} dsml_entry;

struct srv_dsml_memory {
    pthread_mutex_t mu;
    dsml_entry *e;
    int n, max;
    size_t bytes;           /* ids + blocks held */
    unsigned long clock;
    char *(*fallback)(void *user, const char *id);
    void *fallback_user;
};

/* Besides the id count, the blocks' bytes are capped (§4.4: 512 MiB). */
#define DSML_MAX_BYTES ((size_t)512 << 20)

static size_t entry_bytes(const dsml_entry *e) { return strlen(e->id) + strlen(e->dsml) + 2; }

static void dsml_drop(srv_dsml_memory *m, int i) {
    m->bytes -= entry_bytes(&m->e[i]);
    free(m->e[i].id);
    free(m->e[i].dsml);
    m->e[i] = m->e[--m->n];
    memset(&m->e[m->n], 0, sizeof m->e[m->n]);
}

static int dsml_lru(const srv_dsml_memory *m, int except) {
    int v = -1;
    for (int k = 0; k < m->n; k++)
        if (k != except && (v < 0 || m->e[k].stamp < m->e[v].stamp)) v = k;
    return v;
}

srv_dsml_memory *srv_dsml_memory_new(int max_ids) {
    srv_dsml_memory *m = ds4_xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    m->max = max_ids > 0 ? max_ids : 1;
    m->e = ds4_xcalloc((size_t)m->max, sizeof *m->e);
    return m;
}

void srv_dsml_memory_free(srv_dsml_memory *m) {
    if (!m) return;
    for (int i = 0; i < m->n; i++) { free(m->e[i].id); free(m->e[i].dsml); }
    free(m->e);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static int dsml_find(srv_dsml_memory *m, const char *id) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->e[i].id, id)) return i;
    return -1;
}

static int dsml_put_locked(srv_dsml_memory *m, const char *id, const char *raw);

void srv_dsml_memory_put(srv_dsml_memory *m, const char *id, const char *raw) {
    if (!m || !id || !raw) return;
    pthread_mutex_lock(&m->mu);
    dsml_put_locked(m, id, raw);
    pthread_mutex_unlock(&m->mu);
}

void srv_dsml_memory_set_fallback(srv_dsml_memory *m, char *(*fallback)(void *user, const char *id), void *user) {
    m->fallback = fallback;
    m->fallback_user = user;
}

/* Returns the entry's index. */
static int dsml_put_locked(srv_dsml_memory *m, const char *id, const char *raw) {
    int i = dsml_find(m, id);
    if (i >= 0) dsml_drop(m, i);
    if (m->n == m->max) dsml_drop(m, dsml_lru(m, -1));
    i = m->n++;
    m->e[i].id = ds4_xstrdup(id);
    m->e[i].dsml = ds4_xstrdup(raw);
    m->e[i].stamp = ++m->clock;
    m->bytes += entry_bytes(&m->e[i]);
    while (m->bytes > DSML_MAX_BYTES && m->n > 1) {
        int v = dsml_lru(m, i);
        if (i == m->n - 1) i = v; /* the last entry moves into the hole */
        dsml_drop(m, v);
    }
    return i;
}

void srv_dsml_memory_apply(srv_dsml_memory *m, ds4_chat *c) {
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    for (int k = 0; k < c->n_msgs; k++) {
        ds4_chat_msg *msg = &c->msgs[k];
        if (msg->role != DS4_ROLE_ASSISTANT || !msg->n_calls) continue;
        const char *block = NULL;
        bool all = true;
        for (int j = 0; j < msg->n_calls && all; j++) {
            int i = msg->calls[j].id ? dsml_find(m, msg->calls[j].id) : -1;
            if (i < 0 && msg->calls[j].id && m->fallback) {
                char *raw = m->fallback(m->fallback_user, msg->calls[j].id);
                if (raw) {
                    fprintf(stderr, "ds4 serve: exact DSML of call %s from the disk cache\n", msg->calls[j].id);
                    i = dsml_put_locked(m, msg->calls[j].id, raw);
                    free(raw);
                }
            }
            if (i < 0 || (block && strcmp(block, m->e[i].dsml))) all = false;
            else { block = m->e[i].dsml; m->e[i].stamp = ++m->clock; }
        }
        if (all && block) ds4_chat_msg_set_raw_dsml(msg, block);
    }
    pthread_mutex_unlock(&m->mu);
}

/* Where the block's first "tool_calls>" tag sits, so only the text's tag
 * positions are compared (the text may be long, the memory large). */
#define DSML_TAG "<" DS4_TOK_DSML "tool_calls>"

int srv_dsml_memory_collect(srv_dsml_memory *m, const char *text, size_t len, char ***ids, char ***blocks) {
    *ids = *blocks = NULL;
    if (!m) return 0;
    size_t tl = strlen(DSML_TAG);
    size_t *pos = NULL, npos = 0, cap = 0;
    for (const char *p = text; (p = memmem(p, len - (size_t)(p - text), DSML_TAG, tl)); p += tl) {
        if (npos == cap) {
            cap = cap ? 2 * cap : 8;
            pos = ds4_xrealloc(pos, cap * sizeof *pos);
        }
        pos[npos++] = (size_t)(p - text);
    }
    int n = 0;
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->n && npos; i++) {
        const char *b = m->e[i].dsml, *tag = strstr(b, DSML_TAG);
        if (!tag) continue;
        size_t k = (size_t)(tag - b), bl = strlen(b);
        bool found = false;
        for (size_t q = 0; q < npos && !found; q++)
            found = pos[q] >= k && pos[q] - k + bl <= len && !memcmp(text + pos[q] - k, b, bl);
        if (!found) continue;
        *ids = ds4_xrealloc(*ids, (size_t)(n + 1) * sizeof **ids);
        *blocks = ds4_xrealloc(*blocks, (size_t)(n + 1) * sizeof **blocks);
        (*ids)[n] = ds4_xstrdup(m->e[i].id);
        (*blocks)[n] = ds4_xstrdup(b);
        n++;
    }
    pthread_mutex_unlock(&m->mu);
    free(pos);
    return n;
}

void srv_dsml_pairs_free(char **ids, char **blocks, int n) {
    for (int i = 0; i < n; i++) { free(ids[i]); free(blocks[i]); }
    free(ids);
    free(blocks);
}
