/* Tool-output session sources (chat-and-api.md §4.1 sources 2, 3 and the
 * 409 rule). Responses clients (Codex) never see hidden reasoning and may
 * send only the new function_call_output items; Anthropic clients may drop
 * thinking blocks. Either way the re-rendered history would miss the live
 * KV, so when the trailing results answer exactly the calls the live turn
 * made, the worker appends EOS + results + generation prefix to it. */
#include "server/session.h"

#include <stdlib.h>
#include <string.h>

#include "server/sbuf.h"

/* Index of the first message of the trailing run of tool messages. */
static int trailing_start(const ds4_chat *c) {
    int k = c->n_msgs;
    while (k > 0 && c->msgs[k - 1].role == DS4_ROLE_TOOL) k--;
    return k;
}

bool srv_trailing_outputs_match(const ds4_chat *c, const char *const *ids, int n) {
    int k = trailing_start(c);
    if (n <= 0 || c->n_msgs - k != n) return false;
    for (int i = 0; i < n; i++) {
        if (!ids[i]) return false;
        int seen = 0;
        for (int m = k; m < c->n_msgs; m++) {
            const char *id = c->msgs[m].tool_call_id;
            if (id && !strcmp(id, ids[i])) seen++;
        }
        if (seen != 1) return false;
        for (int j = 0; j < i; j++)
            if (!strcmp(ids[j], ids[i])) return false; /* a repeated live id cannot pair one to one */
    }
    return true;
}

bool srv_outputs_only(const ds4_chat *c) {
    bool any = false;
    for (int m = 0; m < c->n_msgs; m++) {
        if (c->msgs[m].role == DS4_ROLE_TOOL) any = true;
        else if (c->msgs[m].role != DS4_ROLE_SYSTEM) return false;
    }
    return any;
}

char *srv_tool_output_tail(const srv_request *r, int ctx, const char *prompt, size_t prompt_len, size_t *out_len) {
    const ds4_chat *c = &r->chat;
    int k = trailing_start(c);
    if (k == c->n_msgs || r->continue_last) return NULL;
    /* Render the results alone with the request's mode: they have tool
     * context like the whole request, so the generation prefix agrees. */
    ds4_chat mini;
    ds4_chat_init(&mini);
    for (int m = k; m < c->n_msgs; m++) {
        ds4_chat_msg *t = ds4_chat_add(&mini, DS4_ROLE_TOOL, c->msgs[m].content);
        ds4_chat_msg_set_tool_call_id(t, c->msgs[m].tool_call_id);
    }
    ds4_chat_render_opts ro = {.think = r->think, .ctx = ctx, .no_bos = true};
    ds4_error err = {{0}};
    char *text = ds4_chat_render(&mini, &ro, &err);
    ds4_chat_free(&mini);
    if (!text) return NULL;
    const char *u = strstr(text, DS4_TOK_USER);
    size_t n = u ? strlen(u) : 0;
    if (!u || n > prompt_len || memcmp(prompt + prompt_len - n, u, n)) {
        free(text);
        return NULL;
    }
    memmove(text, u, n + 1);
    *out_len = n;
    return text;
}

/* Copies the conversation (messages and tools), minus its last message
 * when drop_last. */
static void chat_copy(const ds4_chat *c, bool drop_last, ds4_chat *out) {
    ds4_chat_init(out);
    for (int m = 0; m < c->n_msgs - (drop_last ? 1 : 0); m++) {
        const ds4_chat_msg *s = &c->msgs[m];
        ds4_chat_msg *d = ds4_chat_add(out, s->role, s->content);
        ds4_chat_msg_set_reasoning(d, s->reasoning);
        if (s->tool_call_id) ds4_chat_msg_set_tool_call_id(d, s->tool_call_id);
        for (int k = 0; k < s->n_calls; k++) ds4_chat_msg_add_call(d, s->calls[k].id, s->calls[k].name, s->calls[k].arguments);
        if (s->raw_dsml) ds4_chat_msg_set_raw_dsml(d, s->raw_dsml);
    }
    for (int t = 0; t < c->n_tools; t++) {
        const ds4_chat_tool *s = &c->tools[t];
        if (s->schema_json) ds4_chat_add_tool_raw(out, s->schema_json);
        else ds4_chat_add_tool(out, s->name, s->description, s->parameters);
    }
}

/* Start of the last occurrence of needle in h[0..n), or NULL. */
static const char *last_of(const char *h, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = n >= k ? n - k + 1 : 0; i-- > 0;)
        if (!memcmp(h + i, needle, k)) return h + i;
    return NULL;
}

char *srv_responses_visible_text(const srv_request *r, int ctx, const char *prompt, size_t prompt_len,
                                 const ds4_chat_parsed *p, const char *reasoning, const char *content,
                                 const char *const *call_ids, size_t *out_len) {
    if (r->api != SRV_API_RESPONSES) return NULL;
    /* The history as the client replays it: this turn (an assistant prefill
     * merged with its continuation) and then a user turn, because the think
     * part of a turn depends on whether a user message follows it (§1.3). */
    ds4_chat c;
    chat_copy(&r->chat, r->continue_last, &c);
    ds4_chat_msg *a = ds4_chat_add(&c, DS4_ROLE_ASSISTANT, content);
    ds4_chat_msg_set_reasoning(a, r->reasoning_summary ? reasoning : "");
    for (int i = 0; i < p->n_calls; i++) ds4_chat_msg_add_call(a, call_ids[i], p->calls[i].name, p->calls[i].arguments);
    if (p->n_calls && p->raw_dsml) ds4_chat_msg_set_raw_dsml(a, p->raw_dsml);
    ds4_chat_add(&c, DS4_ROLE_USER, "?");
    ds4_chat_render_opts ro = {.think = r->think, .ctx = ctx};
    ds4_error err = {{0}};
    char *text = ds4_chat_render(&c, &ro, &err);
    ds4_chat_free(&c);
    if (!text) return NULL;
    srv_buf tail = {0};
    srv_buf_add(&tail, DS4_TOK_EOS DS4_TOK_USER "?");
    srv_buf_add(&tail, ds4_chat_genprefix(ds4_chat_effective_think(r->think, ctx)));
    size_t n = strlen(text);
    /* It must end with the user turn added above and agree with the
     * evaluated prompt up to this turn's <｜Assistant｜>. */
    const char *turn = last_of(prompt, prompt_len, DS4_TOK_ASSISTANT);
    size_t keep = turn ? (size_t)(turn - prompt) + strlen(DS4_TOK_ASSISTANT) : 0;
    bool ok = turn && n >= tail.len && !memcmp(text + n - tail.len, tail.s, tail.len) && n - tail.len > keep &&
              !memcmp(text, prompt, keep);
    n -= tail.len;
    srv_buf_free(&tail);
    if (!ok) {
        free(text);
        return NULL;
    }
    text[n] = 0;
    *out_len = n;
    return text;
}
