/* Tool-output session sources (chat-and-api.md §4.1 sources 2, 3 and the
 * 409 rule). Responses clients (Codex) never see hidden reasoning and may
 * send only the new function_call_output items; Anthropic clients may drop
 * thinking blocks. Either way the re-rendered history would miss the live
 * KV, so when the trailing results answer exactly the calls the live turn
 * made, the worker appends EOS + results + generation prefix to it. */
#include "server/session.h"

#include <stdlib.h>
#include <string.h>

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
