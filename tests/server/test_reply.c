/* Replies of every endpoint, stream and non-stream: fixed generated text (a
 * stand-in for the model's output) goes through the real output path
 * (stop strings, chat parser, emitters / reply builders). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "server/output.h"
#include "server/sbuf.h"
#include "../common/chat_examples.h"
#include "render_request.h"

#define TOOLS_OPENAI                                                                                             \
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"read_file\",\"parameters\":{\"type\":\"object\","   \
    "\"properties\":{\"path\":{\"type\":\"string\"},\"max_lines\":{\"type\":\"integer\"}}}}}]"

static void collect(void *user, const char *data, size_t len) { srv_buf_addn(user, data, len); }

typedef struct run {
    srv_request req;
    srv_reply_ids ids;
    srv_buf sse;
    char *body;
    srv_finish finish;
    bool stopped_early;  /* feed() asked to stop before the text ran out */
    size_t fed;
} run;

/* Feeds text in 3-byte pieces (like tokens, splitting UTF-8 and tags). */
static void generate(run *g, srv_api api, const char *body, const char *text, srv_finish f) {
    memset(g, 0, sizeof *g);
    srv_err e;
    cr_assert(srv_request_parse(api, body, strlen(body), &g->req, &e), "%s", e.msg);
    srv_reply_ids_init(&g->ids, api, 7);
    srv_output *o = srv_output_new(&g->req, &g->ids, g->req.stream ? collect : NULL, &g->sse);
    srv_usage u = {.prompt = 20, .cached = 5};
    srv_output_begin(o, &u);
    size_t n = strlen(text), i = 0;
    while (i < n && !srv_output_done(o)) {
        size_t k = n - i < 3 ? n - i : 3;
        u.completion++;
        if (srv_output_feed(o, text + i, k)) { i += k; g->stopped_early = i < n; break; }
        i += k;
    }
    g->fed = i;
    g->body = srv_output_finish(o, f, &u, &g->finish);
    srv_output_free(o);
}

static void run_free(run *g) {
    srv_request_free(&g->req);
    srv_buf_free(&g->sse);
    free(g->body);
}

/* SSE -> array of {"event":E|null,"data":parsed JSON or the raw string}. */
static json_t *sse_events(const char *s) {
    json_t *out = json_array();
    while (*s) {
        const char *end = strstr(s, "\n\n");
        cr_assert(end, "unterminated SSE event: %s", s);
        json_t *ev = json_object();
        for (const char *line = s; line < end;) {
            const char *nl = memchr(line, '\n', (size_t)(end - line));
            if (!nl) nl = end;
            if (!strncmp(line, "event: ", 7)) json_object_set_new(ev, "event", json_stringn(line + 7, (size_t)(nl - line - 7)));
            else if (!strncmp(line, "data: ", 6)) {
                json_t *d = json_loadb(line + 6, (size_t)(nl - line - 6), 0, NULL);
                json_object_set_new(ev, "data", d ? d : json_stringn(line + 6, (size_t)(nl - line - 6)));
            } else cr_assert_fail("unexpected SSE line: %.*s", (int)(nl - line), line);
            line = nl + 1;
        }
        json_array_append_new(out, ev);
        s = end + 2;
    }
    return out;
}

static json_t *dig(json_t *v, const char *path) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *tok = strtok(buf, "."); tok && v; tok = strtok(NULL, ".")) {
        if (*tok >= '0' && *tok <= '9') v = json_array_get(v, (size_t)atoi(tok));
        else v = json_object_get(v, tok);
    }
    return v;
}

static const char *dstr(json_t *v, const char *path) {
    const char *s = json_string_value(dig(v, path));
    return s ? s : "(missing)";
}

static bool is_hex_id(const char *s, const char *prefix, size_t digits) {
    size_t n = strlen(prefix);
    if (strncmp(s, prefix, n) || strlen(s) != n + digits) return false;
    for (size_t i = n; s[i]; i++)
        if (!strchr("0123456789abcdef", s[i])) return false;
    return true;
}

/* ---- chat completions ---- */

Test(server_reply, chat_nonstream_thinking) {
    run g;
    generate(&g, SRV_API_CHAT, "{\"model\":\"m1\",\"messages\":[{\"content\":\"Is 91 prime?\"}]}",
             "91 = 7 × 13.</think>No, 91 = 7 × 13.", SRV_FINISH_STOP);
    json_t *v = json_loads(g.body, 0, NULL);
    cr_assert(v, "%s", g.body);
    cr_assert_str_eq(dstr(v, "object"), "chat.completion");
    cr_assert_str_eq(dstr(v, "id"), "chatcmpl-7");
    cr_assert_str_eq(dstr(v, "model"), "m1");
    cr_assert_str_eq(dstr(v, "choices.0.message.role"), "assistant");
    cr_assert_str_eq(dstr(v, "choices.0.message.content"), "No, 91 = 7 × 13.");
    cr_assert_str_eq(dstr(v, "choices.0.message.reasoning_content"), "91 = 7 × 13.");
    cr_assert_null(dig(v, "choices.0.message.tool_calls"));
    cr_assert_str_eq(dstr(v, "choices.0.finish_reason"), "stop");
    cr_assert_eq(json_integer_value(dig(v, "usage.prompt_tokens")), 20);
    cr_assert_eq(json_integer_value(dig(v, "usage.total_tokens")), 20 + json_integer_value(dig(v, "usage.completion_tokens")));
    cr_assert_eq(json_integer_value(dig(v, "usage.prompt_tokens_details.cached_tokens")), 5);
    json_decref(v);
    run_free(&g);
}

Test(server_reply, chat_truncated_thinking_stays_reasoning) {
    run g;
    generate(&g, SRV_API_CHAT, "{\"messages\":[{\"content\":\"hi\"}]}", "still thinking about", SRV_FINISH_LENGTH);
    json_t *v = json_loads(g.body, 0, NULL);
    cr_assert_str_eq(dstr(v, "choices.0.message.reasoning_content"), "still thinking about");
    cr_assert_str_eq(dstr(v, "choices.0.message.content"), "");
    cr_assert_str_eq(dstr(v, "choices.0.finish_reason"), "length");
    json_decref(v);
    run_free(&g);
}

Test(server_reply, chat_stream_order_and_usage) {
    run g;
    generate(&g, SRV_API_CHAT,
             "{\"stream\":true,\"stream_options\":{\"include_usage\":true},\"messages\":[{\"content\":\"Is 91 prime?\"}]}",
             "91 = 7 × 13.</think>No, 91 = 7 × 13.", SRV_FINISH_STOP);
    cr_assert_null(g.body);
    json_t *evs = sse_events(g.sse.s);
    size_t n = json_array_size(evs);
    cr_assert_geq(n, 5);
    cr_assert_str_eq(dstr(evs, "0.data.choices.0.delta.role"), "assistant");
    srv_buf reasoning = {0}, content = {0};
    bool seen_content = false;
    for (size_t i = 1; i + 3 < n; i++) {
        json_t *d = dig(evs, "");
        (void)d;
        json_t *delta = dig(json_array_get(evs, i), "data.choices.0.delta");
        cr_assert_str_eq(dstr(json_array_get(evs, i), "data.object"), "chat.completion.chunk");
        const char *r = json_string_value(json_object_get(delta, "reasoning_content"));
        const char *c = json_string_value(json_object_get(delta, "content"));
        if (r) { cr_assert_not(seen_content, "reasoning after content"); srv_buf_add(&reasoning, r); }
        if (c) { seen_content = true; srv_buf_add(&content, c); }
    }
    cr_assert_str_eq(reasoning.s, "91 = 7 × 13.");
    cr_assert_str_eq(content.s, "No, 91 = 7 × 13.");
    cr_assert_str_eq(dstr(json_array_get(evs, n - 3), "data.choices.0.finish_reason"), "stop");
    cr_assert_eq(json_array_size(dig(json_array_get(evs, n - 2), "data.choices")), 0);
    cr_assert_eq(json_integer_value(dig(json_array_get(evs, n - 2), "data.usage.prompt_tokens")), 20);
    cr_assert_str_eq(dstr(json_array_get(evs, n - 1), "data"), "[DONE]");
    cr_assert_null(strstr(g.sse.s, "think>"), "a <think> tag leaked");
    srv_buf_free(&reasoning);
    srv_buf_free(&content);
    json_decref(evs);
    run_free(&g);
}

Test(server_reply, chat_tool_calls_nonstream_and_stream) {
    run g;
    generate(&g, SRV_API_CHAT, "{" TOOLS_OPENAI ",\"messages\":[{\"content\":\"Show a.c\"}]}", EX_C_OUT, SRV_FINISH_STOP);
    json_t *v = json_loads(g.body, 0, NULL);
    cr_assert_str_eq(dstr(v, "choices.0.finish_reason"), "tool_calls");
    cr_assert_str_eq(dstr(v, "choices.0.message.content"), "");
    cr_assert_str_eq(dstr(v, "choices.0.message.reasoning_content"), "Need the file.");
    cr_assert(is_hex_id(dstr(v, "choices.0.message.tool_calls.0.id"), "call_", 32));
    cr_assert_str_eq(dstr(v, "choices.0.message.tool_calls.0.type"), "function");
    cr_assert_str_eq(dstr(v, "choices.0.message.tool_calls.0.function.name"), "read_file");
    cr_assert_str_eq(dstr(v, "choices.0.message.tool_calls.0.function.arguments"), "{\"path\":\"a.c\",\"max_lines\":5}");
    json_decref(v);
    run_free(&g);

    generate(&g, SRV_API_CHAT, "{\"stream\":true," TOOLS_OPENAI ",\"messages\":[{\"content\":\"Show a.c\"}]}", EX_C_OUT,
             SRV_FINISH_STOP);
    json_t *evs = sse_events(g.sse.s);
    srv_buf args = {0};
    const char *id = NULL;
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev) {
        json_t *tc = dig(ev, "data.choices.0.delta.tool_calls.0");
        if (!tc) continue;
        cr_assert_eq(json_integer_value(json_object_get(tc, "index")), 0);
        if (json_object_get(tc, "id")) {
            cr_assert_null(id, "two headers for one call");
            id = json_string_value(json_object_get(tc, "id"));
            cr_assert_str_eq(dstr(tc, "function.name"), "read_file");
        }
        srv_buf_add(&args, dstr(tc, "function.arguments"));
    }
    cr_assert(id && is_hex_id(id, "call_", 32));
    json_t *a = json_loads(args.s, 0, NULL);
    cr_assert(a, "streamed arguments are not JSON: %s", args.s);
    cr_assert_str_eq(dstr(a, "path"), "a.c");
    cr_assert_eq(json_integer_value(json_object_get(a, "max_lines")), 5);
    json_decref(a);
    cr_assert_str_eq(dstr(json_array_get(evs, json_array_size(evs) - 2), "data.choices.0.finish_reason"), "tool_calls");
    cr_assert_null(strstr(g.sse.s, "DSML"), "DSML leaked into the stream");
    srv_buf_free(&args);
    json_decref(evs);
    run_free(&g);
}

Test(server_reply, dsml_without_tools_is_plain_text) {
    run g;
    generate(&g, SRV_API_CHAT, "{\"think\":false,\"messages\":[{\"content\":\"x\"}]}",
             "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>", SRV_FINISH_STOP);
    json_t *v = json_loads(g.body, 0, NULL);
    cr_assert_str_eq(dstr(v, "choices.0.finish_reason"), "stop");
    cr_assert(strstr(dstr(v, "choices.0.message.content"), "<｜DSML｜invoke name=\"f\">"));
    json_decref(v);
    run_free(&g);
}

Test(server_reply, stop_string_ends_and_is_hidden) {
    run g;
    generate(&g, SRV_API_CHAT, "{\"think\":false,\"stop\":[\"END\"],\"messages\":[{\"content\":\"x\"}]}",
             "one two ENDthree", SRV_FINISH_STOP);
    cr_assert(g.stopped_early);
    json_t *v = json_loads(g.body, 0, NULL);
    cr_assert_str_eq(dstr(v, "choices.0.message.content"), "one two ");
    cr_assert_str_eq(dstr(v, "choices.0.finish_reason"), "stop");
    json_decref(v);
    run_free(&g);
}

Test(server_reply, prefilled_tool_block_is_parsed) {
    run g;
    generate(&g, SRV_API_CHAT,
             "{\"think\":false," TOOLS_OPENAI ",\"messages\":[{\"content\":\"Show a.c\"},{\"role\":\"assistant\","
             "\"content\":\"\\n\\n<｜DSML｜tool_calls>\\n<｜DSML｜invoke name=\\\"read_file\\\">\\n<｜DSML｜parameter "
             "name=\\\"path\\\" string=\\\"true\\\">b.c</｜DSML｜parameter>\\n</｜DSML｜invoke>\\n</｜DSML｜tool_calls>\"}]}",
             "never fed", SRV_FINISH_STOP);
    cr_assert_eq(g.fed, 0, "generation should not run after a complete prefilled tool block");
    json_t *v = json_loads(g.body, 0, NULL);
    cr_assert_str_eq(dstr(v, "choices.0.finish_reason"), "tool_calls");
    cr_assert_str_eq(dstr(v, "choices.0.message.tool_calls.0.function.arguments"), "{\"path\":\"b.c\"}");
    json_decref(v);
    run_free(&g);
}

/* ---- completions ---- */

Test(server_reply, completions_raw_text) {
    run g;
    generate(&g, SRV_API_COMPLETIONS, "{\"prompt\":\"ROMEO:\"}", "What, ho!</think>x", SRV_FINISH_LENGTH);
    json_t *v = json_loads(g.body, 0, NULL);
    cr_assert_str_eq(dstr(v, "object"), "text_completion");
    cr_assert_str_eq(dstr(v, "id"), "cmpl-7");
    cr_assert_str_eq(dstr(v, "choices.0.text"), "What, ho!</think>x");
    cr_assert_str_eq(dstr(v, "choices.0.finish_reason"), "length");
    json_decref(v);
    run_free(&g);

    generate(&g, SRV_API_COMPLETIONS, "{\"prompt\":\"ROMEO:\",\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
             "What, ho!", SRV_FINISH_STOP);
    json_t *evs = sse_events(g.sse.s);
    size_t n = json_array_size(evs);
    srv_buf text = {0};
    for (size_t i = 0; i + 3 < n; i++) srv_buf_add(&text, dstr(json_array_get(evs, i), "data.choices.0.text"));
    cr_assert_str_eq(text.s, "What, ho!");
    cr_assert_str_eq(dstr(json_array_get(evs, n - 3), "data.choices.0.finish_reason"), "stop");
    cr_assert_not_null(dig(json_array_get(evs, n - 2), "data.usage"));
    cr_assert_str_eq(dstr(json_array_get(evs, n - 1), "data"), "[DONE]");
    srv_buf_free(&text);
    json_decref(evs);
    run_free(&g);
}

/* ---- Anthropic messages ---- */

Test(server_reply, messages_nonstream) {
    run g;
    generate(&g, SRV_API_MESSAGES,
             "{\"model\":\"claude-x\",\"max_tokens\":50,\"stop_sequences\":[\"STOP\"],\"messages\":[{\"role\":\"user\","
             "\"content\":\"hi\"}]}",
             "hmm</think>Hello STOP more", SRV_FINISH_STOP);
    json_t *v = json_loads(g.body, 0, NULL);
    cr_assert_str_eq(dstr(v, "type"), "message");
    cr_assert(is_hex_id(dstr(v, "id"), "msg_", 24));
    cr_assert_str_eq(dstr(v, "model"), "claude-x");
    cr_assert_str_eq(dstr(v, "content.0.type"), "thinking");
    cr_assert_str_eq(dstr(v, "content.0.thinking"), "hmm");
    cr_assert_str_eq(dstr(v, "content.1.type"), "text");
    cr_assert_str_eq(dstr(v, "content.1.text"), "Hello ");
    cr_assert_str_eq(dstr(v, "stop_reason"), "stop_sequence");
    cr_assert_str_eq(dstr(v, "stop_sequence"), "STOP");
    cr_assert_eq(json_integer_value(dig(v, "usage.input_tokens")), 15);
    cr_assert_eq(json_integer_value(dig(v, "usage.cache_read_input_tokens")), 5);
    json_decref(v);
    run_free(&g);
}

Test(server_reply, messages_stream_with_tool_use) {
    run g;
    generate(&g, SRV_API_MESSAGES,
             "{\"stream\":true,\"max_tokens\":50,\"tools\":[{\"name\":\"read_file\",\"input_schema\":{\"type\":\"object\"}}],"
             "\"messages\":[{\"role\":\"user\",\"content\":\"Show a.c\"}]}",
             EX_C_OUT, SRV_FINISH_STOP);
    json_t *evs = sse_events(g.sse.s);
    size_t n = json_array_size(evs), i;
    json_t *ev;
    json_array_foreach(evs, i, ev) cr_assert_str_eq(dstr(ev, "event"), dstr(ev, "data.type"));
    cr_assert_str_eq(dstr(json_array_get(evs, 0), "event"), "message_start");
    cr_assert_eq(json_integer_value(dig(json_array_get(evs, 0), "data.message.usage.output_tokens")), 0);
    cr_assert_str_eq(dstr(json_array_get(evs, 1), "data.content_block.type"), "thinking");
    cr_assert_str_eq(dstr(json_array_get(evs, n - 1), "event"), "message_stop");
    cr_assert_str_eq(dstr(json_array_get(evs, n - 2), "event"), "message_delta");
    cr_assert_str_eq(dstr(json_array_get(evs, n - 2), "data.delta.stop_reason"), "tool_use");
    /* blocks: 0 thinking (closed with a signature), 1 tool_use */
    srv_buf thinking = {0}, input = {0};
    bool sig = false, tool_started = false;
    int open = -1;
    json_array_foreach(evs, i, ev) {
        const char *e = dstr(ev, "event");
        if (!strcmp(e, "content_block_start")) {
            cr_assert_eq(open, -1, "block opened while another is open");
            open = (int)json_integer_value(dig(ev, "data.index"));
            if (!strcmp(dstr(ev, "data.content_block.type"), "tool_use")) {
                tool_started = true;
                cr_assert_eq(open, 1);
                cr_assert(is_hex_id(dstr(ev, "data.content_block.id"), "toolu_", 32));
                cr_assert_str_eq(dstr(ev, "data.content_block.name"), "read_file");
            }
        } else if (!strcmp(e, "content_block_stop")) {
            cr_assert_eq(json_integer_value(dig(ev, "data.index")), open);
            open = -1;
        } else if (!strcmp(e, "content_block_delta")) {
            cr_assert_eq(json_integer_value(dig(ev, "data.index")), open);
            const char *t = dstr(ev, "data.delta.type");
            if (!strcmp(t, "thinking_delta")) srv_buf_add(&thinking, dstr(ev, "data.delta.thinking"));
            if (!strcmp(t, "signature_delta")) sig = true;
            if (!strcmp(t, "input_json_delta")) srv_buf_add(&input, dstr(ev, "data.delta.partial_json"));
        }
    }
    cr_assert(sig && tool_started);
    cr_assert_eq(open, -1);
    cr_assert_str_eq(thinking.s, "Need the file.");
    json_t *a = json_loads(input.s, 0, NULL);
    cr_assert(a, "input_json_delta fragments are not JSON: %s", input.s);
    cr_assert_str_eq(dstr(a, "path"), "a.c");
    json_decref(a);
    srv_buf_free(&thinking);
    srv_buf_free(&input);
    json_decref(evs);
    run_free(&g);
}

Test(server_reply, messages_stream_thinking_only_gets_empty_text_block) {
    run g;
    generate(&g, SRV_API_MESSAGES, "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "only thought",
             SRV_FINISH_LENGTH);
    json_t *evs = sse_events(g.sse.s);
    size_t n = json_array_size(evs);
    cr_assert_str_eq(dstr(json_array_get(evs, n - 4), "data.content_block.type"), "text");
    cr_assert_str_eq(dstr(json_array_get(evs, n - 2), "data.delta.stop_reason"), "max_tokens");
    json_decref(evs);
    run_free(&g);
}

/* ---- Responses ---- */

static const char *const responses_stream_types[] = {
    "response.created", "response.in_progress",
    "response.output_item.added", "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
};

Test(server_reply, responses_stream_full_sequence) {
    run g;
    generate(&g, SRV_API_RESPONSES,
             "{\"stream\":true,\"reasoning\":{\"summary\":\"auto\"},\"tools\":[{\"type\":\"function\",\"name\":\"read_file\","
             "\"parameters\":{\"type\":\"object\"}}],\"input\":\"Show a.c\"}",
             "Need the file.</think>Let me look." "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"read_file\">\n"
             "<｜DSML｜parameter name=\"path\" string=\"true\">a.c</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>",
             SRV_FINISH_STOP);
    json_t *evs = sse_events(g.sse.s);
    size_t n = json_array_size(evs), i;
    json_t *ev;
    json_array_foreach(evs, i, ev) {
        cr_assert_str_eq(dstr(ev, "event"), dstr(ev, "data.type"));
        cr_assert_eq(json_integer_value(dig(ev, "data.sequence_number")), (json_int_t)i);
    }
    for (i = 0; i < sizeof responses_stream_types / sizeof *responses_stream_types; i++)
        cr_assert_str_eq(dstr(json_array_get(evs, i), "event"), responses_stream_types[i], "event %zu", i);
    /* the order of everything after the deltas */
    const char *want_tail[] = {
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
    };
    size_t k = 0;
    json_array_foreach(evs, i, ev) if (k < 6 && !strcmp(dstr(ev, "event"), want_tail[k])) k++;
    cr_assert_eq(k, 6, "message events out of order");
    json_t *last = json_array_get(evs, n - 1);
    cr_assert_str_eq(dstr(last, "event"), "response.completed");
    json_t *resp = dig(last, "data.response");
    cr_assert(is_hex_id(dstr(resp, "id"), "resp_", 24));
    cr_assert_str_eq(dstr(resp, "status"), "completed");
    cr_assert_str_eq(dstr(resp, "output.0.type"), "reasoning");
    cr_assert_str_eq(dstr(resp, "output.0.summary.0.text"), "Need the file.");
    cr_assert_str_eq(dstr(resp, "output.1.type"), "message");
    cr_assert_str_eq(dstr(resp, "output.1.content.0.text"), "Let me look.");
    cr_assert_str_eq(dstr(resp, "output.2.type"), "function_call");
    cr_assert(is_hex_id(dstr(resp, "output.2.call_id"), "call_", 32));
    cr_assert(is_hex_id(dstr(resp, "output.2.id"), "fc_", 24));
    cr_assert_str_eq(dstr(resp, "output.2.arguments"), "{\"path\":\"a.c\"}");
    /* the streamed items agree with the final object */
    bool fc_done = false;
    json_array_foreach(evs, i, ev) {
        if (!strcmp(dstr(ev, "event"), "response.output_item.done") &&
            !strcmp(dstr(ev, "data.item.type"), "function_call")) {
            cr_assert_str_eq(dstr(ev, "data.item.id"), dstr(resp, "output.2.id"));
            cr_assert_eq(json_integer_value(dig(ev, "data.output_index")), 2);
            fc_done = true;
        }
    }
    cr_assert(fc_done);
    cr_assert_eq(json_integer_value(dig(resp, "usage.input_tokens")), 20);
    json_decref(evs);
    run_free(&g);
}

Test(server_reply, responses_nonstream_hides_reasoning_and_reports_length) {
    run g;
    generate(&g, SRV_API_RESPONSES, "{\"input\":\"hi\"}", "secret</think>Hello", SRV_FINISH_LENGTH);
    json_t *v = json_loads(g.body, 0, NULL);
    cr_assert_str_eq(dstr(v, "object"), "response");
    cr_assert_str_eq(dstr(v, "status"), "incomplete");
    cr_assert_str_eq(dstr(v, "incomplete_details.reason"), "max_output_tokens");
    cr_assert_eq(json_array_size(json_object_get(v, "output")), 1);
    cr_assert_str_eq(dstr(v, "output.0.type"), "message");
    cr_assert_str_eq(dstr(v, "output.0.content.0.text"), "Hello");
    cr_assert_null(strstr(g.body, "secret"));
    json_decref(v);
    run_free(&g);
}

Test(server_reply, models_listing) {
    char *s = srv_model_json(4096, true);
    json_t *v = json_loads(s, 0, NULL);
    cr_assert_str_eq(dstr(v, "object"), "list");
    cr_assert_str_eq(dstr(v, "data.0.id"), SRV_MODEL_ID);
    cr_assert_eq(json_integer_value(dig(v, "data.0.context_length")), 4096);
    json_decref(v);
    free(s);
}

Test(server_reply, non_json_false_argument_is_a_string_in_stream_and_reply) {
    const char *text = "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"read_file\">\n"
                       "<｜DSML｜parameter name=\"max_lines\" string=\"false\">five</｜DSML｜parameter>\n"
                       "<｜DSML｜parameter name=\"n\" string=\"false\">{\"k\": [1]}</｜DSML｜parameter>\n"
                       "</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
    run g;
    generate(&g, SRV_API_CHAT, "{\"stream\":true,\"think\":false," TOOLS_OPENAI ",\"messages\":[{\"content\":\"x\"}]}",
             text, SRV_FINISH_STOP);
    json_t *evs = sse_events(g.sse.s);
    srv_buf args = {0};
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev) {
        json_t *tc = dig(ev, "data.choices.0.delta.tool_calls.0");
        if (tc) srv_buf_add(&args, dstr(tc, "function.arguments"));
    }
    json_t *a = json_loads(args.s, 0, NULL);
    cr_assert(a, "streamed arguments are not JSON: %s", args.s);
    cr_assert_str_eq(dstr(a, "max_lines"), "five");
    cr_assert_eq(json_integer_value(dig(a, "n.k.0")), 1);
    json_decref(a);
    srv_buf_free(&args);
    json_decref(evs);
    run_free(&g);

    generate(&g, SRV_API_MESSAGES, "{\"thinking\":{\"type\":\"disabled\"},\"tools\":[{\"name\":\"read_file\"}],"
             "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", text, SRV_FINISH_STOP);
    json_t *v = json_loads(g.body, 0, NULL);
    cr_assert_str_eq(dstr(v, "content.0.type"), "tool_use");
    cr_assert_str_eq(dstr(v, "content.0.input.max_lines"), "five");
    json_decref(v);
    run_free(&g);
}

/* The thinking binding: the visible text of a finished thinking turn is a
 * prefix of the next request's prompt (up to the EOS that follows it). */
static char *visible_after(srv_api api, const char *body, const char *text) {
    srv_request r;
    srv_err e;
    cr_assert(srv_request_parse(api, body, strlen(body), &r, &e), "%s", e.msg);
    srv_reply_ids ids;
    srv_reply_ids_init(&ids, api, 1);
    srv_output *o = srv_output_new(&r, &ids, NULL, NULL);
    srv_usage u = {0};
    srv_output_begin(o, &u);
    srv_output_feed(o, text, strlen(text));
    srv_finish f;
    free(srv_output_finish(o, SRV_FINISH_STOP, &u, &f));
    char *prompt = render_request(&r);
    size_t n = 0;
    char *vis = srv_output_visible_text(o, prompt, strlen(prompt), &n);
    cr_assert(!vis || n == strlen(vis));
    free(prompt);
    srv_output_free(o);
    srv_request_free(&r);
    return vis;
}

Test(server_reply, thinking_binding_is_the_next_prompts_prefix) {
    char *vis = visible_after(SRV_API_CHAT, "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"content\":\"Q1\"}]}",
                              "hidden plan</think>Answer one.");
    cr_assert(vis);
    cr_assert_null(strstr(vis, "hidden plan"));
    srv_request next;
    srv_err e;
    const char *body = "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"content\":\"Q1\"},"
                       "{\"role\":\"assistant\",\"content\":\"Answer one.\",\"reasoning_content\":\"hidden plan\"},"
                       "{\"content\":\"Q2\"}]}";
    cr_assert(srv_request_parse(SRV_API_CHAT, body, strlen(body), &next, &e), "%s", e.msg);
    char *p2 = render_request(&next);
    size_t n = strlen(vis);
    cr_assert(!strncmp(p2, vis, n), "visible:\n%s\nnext prompt:\n%s", vis, p2);
    cr_assert(!strncmp(p2 + n, "<｜end▁of▁sentence｜><｜User｜>Q2", strlen("<｜end▁of▁sentence｜><｜User｜>Q2")), "%s", p2 + n);
    free(p2);
    srv_request_free(&next);
    free(vis);

    /* Anthropic clients echo the thinking block: same rendering */
    vis = visible_after(SRV_API_MESSAGES, "{\"messages\":[{\"role\":\"user\",\"content\":\"Q1\"}]}", "plan</think>A.");
    cr_assert(vis);
    free(vis);

    /* no binding: no </think>, tool context, a stop string, thinking off, completions */
    cr_assert_null(visible_after(SRV_API_CHAT, "{\"messages\":[{\"content\":\"Q\"}]}", "never closed"));
    cr_assert_null(visible_after(SRV_API_CHAT, "{" TOOLS_OPENAI ",\"messages\":[{\"content\":\"Q\"}]}", "p</think>A"));
    cr_assert_null(visible_after(SRV_API_CHAT, "{\"stop\":\"A\",\"messages\":[{\"content\":\"Q\"}]}", "p</think>xAy"));
    cr_assert_null(visible_after(SRV_API_CHAT, "{\"think\":false,\"messages\":[{\"content\":\"Q\"}]}", "p</think>A"));
    cr_assert_null(visible_after(SRV_API_COMPLETIONS, "{\"prompt\":\"Q\"}", "p</think>A"));
}
