/* Streamed replies: server-sent events per API (§3.4-§3.7), fed by the chat
 * parser's events. Each API's event order is kept by a small state machine:
 * which block/item is open, which call ids were announced. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_internal.h"
#include "server/sbuf.h"

#define MAX_CALLS 64

struct srv_emitter {
    const srv_request *r;
    const srv_reply_ids *ids;
    srv_write_fn w;
    void *user;
    int seq;                /* responses: sequence_number */
    int block;              /* anthropic: next content block index */
    int output_index;       /* responses: next output item index */
    bool thinking_open, thinking_done;
    int thinking_index;
    bool text_open;
    int text_index;
    bool any_text;          /* a text block / message was opened at all */
    srv_buf reasoning, content;
    char *call_ids[MAX_CALLS];
    int n_calls;            /* calls announced by TOOL_START */
    bool tool_open;
    srv_usage usage;
};

srv_emitter *srv_emitter_new(const srv_request *r, const srv_reply_ids *ids, srv_write_fn w, void *user) {
    srv_emitter *em = ds4_xcalloc(1, sizeof *em);
    em->r = r;
    em->ids = ids;
    em->w = w;
    em->user = user;
    return em;
}

void srv_emitter_free(srv_emitter *em) {
    if (!em) return;
    for (int i = 0; i < MAX_CALLS; i++) free(em->call_ids[i]);
    srv_buf_free(&em->reasoning);
    srv_buf_free(&em->content);
    free(em);
}

const char *srv_emitter_call_id(const srv_emitter *em, int index) {
    return index >= 0 && index < MAX_CALLS ? em->call_ids[index] : NULL;
}

static void send_data(srv_emitter *em, const char *event, json_t *v) {
    char *s = srv_jdump(v);
    srv_buf b = {0};
    if (event) srv_buf_printf(&b, "event: %s\n", event);
    srv_buf_add(&b, "data: ");
    srv_buf_add(&b, s);
    srv_buf_add(&b, "\n\n");
    em->w(em->user, b.s, b.len);
    srv_buf_free(&b);
    free(s);
}

/* ---- OpenAI chat / completions ---- */

static void chat_chunk(srv_emitter *em, json_t *delta, const char *finish) {
    json_t *choice = json_pack("{s:i,s:o,s:n}", "index", 0, "delta", delta, "logprobs");
    json_object_set_new(choice, "finish_reason", finish ? json_string(finish) : json_null());
    send_data(em, NULL, json_pack("{s:s,s:s,s:i,s:o,s:[o]}", "id", em->ids->id, "object", "chat.completion.chunk",
                                  "created", (int)em->ids->created, "model", srv_jstr(em->r->model), "choices",
                                  choice));
}

static void completion_chunk(srv_emitter *em, const char *text, size_t len, const char *finish) {
    json_t *choice = json_pack("{s:o,s:i,s:n}", "text", srv_jstrn(text, len), "index", 0, "logprobs");
    json_object_set_new(choice, "finish_reason", finish ? json_string(finish) : json_null());
    send_data(em, NULL, json_pack("{s:s,s:s,s:i,s:o,s:[o]}", "id", em->ids->id, "object", "text_completion",
                                  "created", (int)em->ids->created, "model", srv_jstr(em->r->model), "choices",
                                  choice));
}

static void usage_chunk(srv_emitter *em, const srv_usage *u) {
    send_data(em, NULL, json_pack("{s:s,s:s,s:i,s:o,s:[],s:o}", "id", em->ids->id, "object",
                                  em->r->api == SRV_API_CHAT ? "chat.completion.chunk" : "text_completion", "created",
                                  (int)em->ids->created, "model", srv_jstr(em->r->model), "choices", "usage",
                                  srv_usage_json(em->r->api, u)));
}

static void chat_tool_header(srv_emitter *em, int i, const char *name) {
    json_t *tc = json_pack("{s:i,s:s,s:s,s:{s:o,s:s}}", "index", i, "id", em->call_ids[i], "type", "function",
                           "function", "name", srv_jstr(name), "arguments", "");
    chat_chunk(em, json_pack("{s:[o]}", "tool_calls", tc), NULL);
}

static void chat_tool_args(srv_emitter *em, int i, const char *frag, size_t len) {
    json_t *tc = json_pack("{s:i,s:{s:o}}", "index", i, "function", "arguments", srv_jstrn(frag, len));
    chat_chunk(em, json_pack("{s:[o]}", "tool_calls", tc), NULL);
}

/* ---- Anthropic ---- */

static void a_event(srv_emitter *em, const char *type, json_t *v) {
    json_t *o = json_pack("{s:s}", "type", type);
    const char *k;
    json_t *val;
    json_object_foreach(v, k, val) if (strcmp(k, "type")) json_object_set(o, k, val);
    json_decref(v);
    send_data(em, type, o);
}

static void a_block_start(srv_emitter *em, int index, json_t *block) {
    a_event(em, "content_block_start", json_pack("{s:i,s:o}", "index", index, "content_block", block));
}

static void a_delta(srv_emitter *em, int index, json_t *delta) {
    a_event(em, "content_block_delta", json_pack("{s:i,s:o}", "index", index, "delta", delta));
}

static void a_stop(srv_emitter *em, int index) {
    a_event(em, "content_block_stop", json_pack("{s:i}", "index", index));
}

static void a_close_thinking(srv_emitter *em) {
    if (!em->thinking_open) return;
    a_delta(em, em->thinking_index, json_pack("{s:s,s:s}", "type", "signature_delta", "signature", em->ids->id));
    a_stop(em, em->thinking_index);
    em->thinking_open = false;
    em->thinking_done = true;
}

static void a_close_text(srv_emitter *em) {
    if (!em->text_open) return;
    a_stop(em, em->text_index);
    em->text_open = false;
}

/* ---- Responses ---- */

static void r_event(srv_emitter *em, const char *type, json_t *v) {
    json_t *o = json_pack("{s:s,s:i}", "type", type, "sequence_number", em->seq++);
    const char *k;
    json_t *val;
    json_object_foreach(v, k, val) json_object_set(o, k, val);
    json_decref(v);
    send_data(em, type, o);
}

static void r_close_reasoning(srv_emitter *em, const char *status) {
    if (!em->thinking_open) return;
    const char *rs = em->ids->rs_item_id;
    const char *text = em->reasoning.s ? em->reasoning.s : "";
    r_event(em, "response.reasoning_summary_text.done",
            json_pack("{s:s,s:i,s:i,s:o}", "item_id", rs, "output_index", em->thinking_index, "summary_index", 0,
                      "text", srv_jstr(text)));
    r_event(em, "response.reasoning_summary_part.done",
            json_pack("{s:s,s:i,s:i,s:{s:s,s:o}}", "item_id", rs, "output_index", em->thinking_index,
                      "summary_index", 0, "part", "type", "summary_text", "text", srv_jstr(text)));
    r_event(em, "response.output_item.done",
            json_pack("{s:i,s:o}", "output_index", em->thinking_index, "item",
                      srv_responses_item_reasoning(em->ids, text, status)));
    em->thinking_open = false;
    em->thinking_done = true;
}

static void r_open_message(srv_emitter *em) {
    if (em->text_open) return;
    em->text_index = em->output_index++;
    em->text_open = em->any_text = true;
    r_event(em, "response.output_item.added",
            json_pack("{s:i,s:o}", "output_index", em->text_index, "item",
                      srv_responses_item_message(em->ids, NULL, "in_progress")));
    r_event(em, "response.content_part.added",
            json_pack("{s:s,s:i,s:i,s:{s:s,s:s,s:[]}}", "item_id", em->ids->msg_item_id, "output_index",
                      em->text_index, "content_index", 0, "part", "type", "output_text", "text", "", "annotations"));
}

static void r_close_message(srv_emitter *em, const char *status) {
    if (!em->text_open) return;
    const char *text = em->content.s ? em->content.s : "";
    r_event(em, "response.output_text.done",
            json_pack("{s:s,s:i,s:i,s:o,s:[]}", "item_id", em->ids->msg_item_id, "output_index", em->text_index,
                      "content_index", 0, "text", srv_jstr(text), "logprobs"));
    r_event(em, "response.content_part.done",
            json_pack("{s:s,s:i,s:i,s:{s:s,s:o,s:[]}}", "item_id", em->ids->msg_item_id, "output_index",
                      em->text_index, "content_index", 0, "part", "type", "output_text", "text", srv_jstr(text),
                      "annotations"));
    r_event(em, "response.output_item.done",
            json_pack("{s:i,s:o}", "output_index", em->text_index, "item",
                      srv_responses_item_message(em->ids, text, status)));
    em->text_open = false;
}

/* ---- entry points ---- */

void srv_emitter_begin(srv_emitter *em, const srv_usage *u) {
    em->usage = *u;
    switch (em->r->api) {
    case SRV_API_CHAT:
        chat_chunk(em, json_pack("{s:s,s:s}", "role", "assistant", "content", ""), NULL);
        break;
    case SRV_API_COMPLETIONS:
        break;
    case SRV_API_MESSAGES: {
        srv_usage start = *u;
        start.completion = 0;
        json_t *msg = json_pack("{s:s,s:s,s:s,s:o,s:[],s:n,s:n,s:o}", "id", em->ids->id, "type", "message", "role",
                                "assistant", "model", srv_jstr(em->r->model), "content", "stop_reason",
                                "stop_sequence", "usage", srv_usage_json(SRV_API_MESSAGES, &start));
        a_event(em, "message_start", json_pack("{s:o}", "message", msg));
        break;
    }
    case SRV_API_RESPONSES:
        r_event(em, "response.created",
                json_pack("{s:o}", "response", srv_responses_object(em->r, em->ids, NULL, NULL, 0, NULL, false)));
        r_event(em, "response.in_progress",
                json_pack("{s:o}", "response", srv_responses_object(em->r, em->ids, NULL, NULL, 0, NULL, false)));
        break;
    }
}

void srv_emitter_raw(srv_emitter *em, const char *text, size_t len) {
    if (len) completion_chunk(em, text, len, NULL);
}

static void ensure_call_id(srv_emitter *em, int i) {
    if (i < 0 || i >= MAX_CALLS || em->call_ids[i]) return;
    char id[48];
    srv_new_call_id(em->r->api, id);
    em->call_ids[i] = ds4_xstrdup(id);
}

static void on_reasoning(srv_emitter *em, const char *t, size_t n) {
    srv_buf_addn(&em->reasoning, t, n);
    switch (em->r->api) {
    case SRV_API_CHAT:
        chat_chunk(em, json_pack("{s:o}", "reasoning_content", srv_jstrn(t, n)), NULL);
        break;
    case SRV_API_MESSAGES:
        if (em->thinking_done) break; /* reasoning after the block closed is not re-opened */
        if (!em->thinking_open) {
            em->thinking_index = em->block++;
            em->thinking_open = true;
            a_block_start(em, em->thinking_index,
                          json_pack("{s:s,s:s,s:s}", "type", "thinking", "thinking", "", "signature", ""));
        }
        a_delta(em, em->thinking_index, json_pack("{s:s,s:o}", "type", "thinking_delta", "thinking", srv_jstrn(t, n)));
        break;
    case SRV_API_RESPONSES:
        if (!em->r->reasoning_summary || em->thinking_done) break;
        if (!em->thinking_open) {
            em->thinking_index = em->output_index++;
            em->thinking_open = true;
            r_event(em, "response.output_item.added",
                    json_pack("{s:i,s:o}", "output_index", em->thinking_index, "item",
                              srv_responses_item_reasoning(em->ids, NULL, "in_progress")));
            r_event(em, "response.reasoning_summary_part.added",
                    json_pack("{s:s,s:i,s:i,s:{s:s,s:s}}", "item_id", em->ids->rs_item_id, "output_index",
                              em->thinking_index, "summary_index", 0, "part", "type", "summary_text", "text", ""));
        }
        r_event(em, "response.reasoning_summary_text.delta",
                json_pack("{s:s,s:i,s:i,s:o}", "item_id", em->ids->rs_item_id, "output_index", em->thinking_index,
                          "summary_index", 0, "delta", srv_jstrn(t, n)));
        break;
    default:
        break;
    }
}

static void on_content(srv_emitter *em, const char *t, size_t n) {
    srv_buf_addn(&em->content, t, n);
    switch (em->r->api) {
    case SRV_API_CHAT:
        chat_chunk(em, json_pack("{s:o}", "content", srv_jstrn(t, n)), NULL);
        break;
    case SRV_API_MESSAGES:
        a_close_thinking(em);
        if (!em->text_open) {
            em->text_index = em->block++;
            em->text_open = em->any_text = true;
            a_block_start(em, em->text_index, json_pack("{s:s,s:s}", "type", "text", "text", ""));
        }
        a_delta(em, em->text_index, json_pack("{s:s,s:o}", "type", "text_delta", "text", srv_jstrn(t, n)));
        break;
    case SRV_API_RESPONSES:
        r_close_reasoning(em, "completed");
        r_open_message(em);
        r_event(em, "response.output_text.delta",
                json_pack("{s:s,s:i,s:i,s:o,s:[]}", "item_id", em->ids->msg_item_id, "output_index", em->text_index,
                          "content_index", 0, "delta", srv_jstrn(t, n), "logprobs"));
        break;
    default:
        break;
    }
}

void srv_emitter_event(srv_emitter *em, const ds4_chat_event *ev) {
    switch (ev->type) {
    case DS4_EV_REASONING: on_reasoning(em, ev->text, ev->len); break;
    case DS4_EV_CONTENT: on_content(em, ev->text, ev->len); break;
    case DS4_EV_TOOL_START:
        if (ev->index < 0 || ev->index >= MAX_CALLS) break;
        ensure_call_id(em, ev->index);
        if (ev->index + 1 > em->n_calls) em->n_calls = ev->index + 1;
        if (em->r->api == SRV_API_CHAT) {
            chat_tool_header(em, ev->index, ev->name);
        } else if (em->r->api == SRV_API_MESSAGES) {
            a_close_thinking(em);
            a_close_text(em);
            a_block_start(em, em->block++, json_pack("{s:s,s:s,s:o,s:{}}", "type", "tool_use", "id",
                                                     em->call_ids[ev->index], "name", srv_jstr(ev->name), "input"));
            em->tool_open = true;
        } else if (em->r->api == SRV_API_RESPONSES) {
            r_close_reasoning(em, "completed");
            r_close_message(em, "completed");
        }
        break;
    case DS4_EV_TOOL_ARGS:
        if (ev->index < 0 || ev->index >= em->n_calls) break;
        if (em->r->api == SRV_API_CHAT) chat_tool_args(em, ev->index, ev->text, ev->len);
        else if (em->r->api == SRV_API_MESSAGES && em->tool_open)
            a_delta(em, em->block - 1,
                    json_pack("{s:s,s:o}", "type", "input_json_delta", "partial_json", srv_jstrn(ev->text, ev->len)));
        break;
    case DS4_EV_TOOL_END:
        if (em->r->api == SRV_API_MESSAGES && em->tool_open) {
            a_stop(em, em->block - 1);
            em->tool_open = false;
        }
        break;
    }
}

void srv_emitter_end(srv_emitter *em, const ds4_chat_parsed *p, srv_finish f, const char *stop_seq,
                     const srv_usage *u) {
    const srv_request *r = em->r;
    /* Calls the live projection did not announce go out now, from the final parse. */
    int streamed = em->n_calls;
    for (int i = streamed; p && i < p->n_calls && i < MAX_CALLS; i++) ensure_call_id(em, i);
    switch (r->api) {
    case SRV_API_CHAT:
        for (int i = streamed; p && i < p->n_calls && i < MAX_CALLS; i++) {
            chat_tool_header(em, i, p->calls[i].name);
            chat_tool_args(em, i, p->calls[i].arguments, strlen(p->calls[i].arguments));
        }
        chat_chunk(em, json_object(), srv_finish_openai(f));
        if (r->include_usage) usage_chunk(em, u);
        em->w(em->user, "data: [DONE]\n\n", 14);
        break;
    case SRV_API_COMPLETIONS:
        completion_chunk(em, "", 0, srv_finish_openai(f));
        if (r->include_usage) usage_chunk(em, u);
        em->w(em->user, "data: [DONE]\n\n", 14);
        break;
    case SRV_API_MESSAGES: {
        if (em->tool_open) { a_stop(em, em->block - 1); em->tool_open = false; }
        a_close_thinking(em);
        a_close_text(em);
        for (int i = streamed; p && i < p->n_calls && i < MAX_CALLS; i++) {
            int idx = em->block++;
            a_block_start(em, idx, json_pack("{s:s,s:s,s:o,s:{}}", "type", "tool_use", "id", em->call_ids[i], "name",
                                             srv_jstr(p->calls[i].name), "input"));
            a_delta(em, idx, json_pack("{s:s,s:o}", "type", "input_json_delta", "partial_json",
                                       srv_jstr(p->calls[i].arguments)));
            a_stop(em, idx);
        }
        int n_calls = p && p->n_calls > streamed ? p->n_calls : streamed;
        if (!em->any_text && !n_calls) {
            int idx = em->block++;
            a_block_start(em, idx, json_pack("{s:s,s:s}", "type", "text", "text", ""));
            a_stop(em, idx);
        }
        json_t *usage = srv_usage_json(SRV_API_MESSAGES, u);
        json_t *delta = json_pack("{s:s}", "stop_reason", srv_finish_anthropic(f, stop_seq));
        json_object_set_new(delta, "stop_sequence", stop_seq && f == SRV_FINISH_STOP ? srv_jstr(stop_seq) : json_null());
        a_event(em, "message_delta", json_pack("{s:o,s:o}", "delta", delta, "usage", usage));
        a_event(em, "message_stop", json_object());
        break;
    }
    case SRV_API_RESPONSES: {
        const char *item_status = f == SRV_FINISH_STOP || f == SRV_FINISH_TOOLS ? "completed" : "incomplete";
        r_close_reasoning(em, p && p->thinking_closed ? "completed" : item_status);
        int n_calls = p ? p->n_calls : 0;
        if (!em->any_text && !n_calls) r_open_message(em);
        r_close_message(em, item_status);
        for (int i = 0; i < n_calls && i < MAX_CALLS; i++) {
            int oi = em->output_index++;
            char fc[40];
            srv_responses_fc_id(em->call_ids[i], fc);
            const char *args = p->calls[i].arguments;
            r_event(em, "response.output_item.added",
                    json_pack("{s:i,s:o}", "output_index", oi, "item",
                              srv_responses_item_call(em->call_ids[i], p->calls[i].name, "", "in_progress")));
            r_event(em, "response.function_call_arguments.delta",
                    json_pack("{s:s,s:i,s:o}", "item_id", fc, "output_index", oi, "delta", srv_jstr(args)));
            r_event(em, "response.function_call_arguments.done",
                    json_pack("{s:s,s:i,s:o,s:o}", "item_id", fc, "output_index", oi, "name",
                              srv_jstr(p->calls[i].name), "arguments", srv_jstr(args)));
            r_event(em, "response.output_item.done",
                    json_pack("{s:i,s:o}", "output_index", oi, "item",
                              srv_responses_item_call(em->call_ids[i], p->calls[i].name, args, item_status)));
        }
        const char *terminal = f == SRV_FINISH_LENGTH ? "response.incomplete"
                               : f == SRV_FINISH_ERROR ? "response.failed"
                                                       : "response.completed";
        r_event(em, terminal,
                json_pack("{s:o}", "response",
                          srv_responses_object(r, em->ids, p, (const char *const *)em->call_ids, f, u, true)));
        break;
    }
    }
}

void srv_emitter_fail(srv_emitter *em, const char *message) {
    if (em->r->api == SRV_API_MESSAGES)
        send_data(em, "error", json_pack("{s:s,s:{s:s,s:o}}", "type", "error", "error", "type", "api_error", "message",
                                         srv_jstr(message)));
    else
        send_data(em, "error", json_pack("{s:{s:o,s:s}}", "error", "message", srv_jstr(message), "type", "server_error"));
}
