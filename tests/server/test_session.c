/* Tool-output session sources (chat-and-api.md §4.1 sources 2, 3, 409):
 * matching trailing results to the live calls, outputs-only requests, and
 * the text evaluated on top of the live tool turn. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "server/session.h"
#include "render_request.h"

static void parse(srv_api api, const char *body, srv_request *r) {
    srv_err e;
    cr_assert(srv_request_parse(api, body, strlen(body), r, &e), "%s", e.msg);
}

#define RTOOLS "\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"parameters\":{\"type\":\"object\"}}]"

Test(server_session, responses_outputs_only_tail) {
    srv_request r;
    parse(SRV_API_RESPONSES,
          "{\"model\":\"m\"," RTOOLS ",\"input\":[{\"type\":\"function_call_output\",\"call_id\":\"call_b\","
          "\"output\":\"two\"},{\"type\":\"function_call_output\",\"call_id\":\"call_a\",\"output\":\"x</tool_result>\"}]}",
          &r);
    cr_assert(srv_outputs_only(&r.chat));
    const char *ids[] = {"call_a", "call_b"};
    cr_assert(srv_trailing_outputs_match(&r.chat, ids, 2), "order does not matter");
    cr_assert_not(srv_trailing_outputs_match(&r.chat, ids, 1), "one result too many");
    const char *other[] = {"call_a", "call_c"};
    cr_assert_not(srv_trailing_outputs_match(&r.chat, other, 2));
    const char *twice[] = {"call_a", "call_a"};
    cr_assert_not(srv_trailing_outputs_match(&r.chat, twice, 2));
    char *prompt = render_request(&r);
    size_t n = 0;
    char *tail = srv_tool_output_tail(&r, 32768, prompt, strlen(prompt), &n);
    cr_assert(tail);
    /* one <｜User｜> for the run, escaped end tags, the thinking generation prefix */
    cr_assert_str_eq(tail, "<｜User｜><tool_result>two</tool_result><tool_result>x&lt;/tool_result></tool_result>"
                           "<｜Assistant｜><think>");
    cr_assert_eq(n, strlen(tail));
    free(tail);
    /* a prompt that does not end with the rendering is refused */
    cr_assert_null(srv_tool_output_tail(&r, 32768, prompt, strlen(prompt) - 1, &n));
    free(prompt);
    srv_request_free(&r);
}

Test(server_session, responses_full_history_tail_matches_rendering) {
    srv_request r;
    parse(SRV_API_RESPONSES,
          "{\"model\":\"deepseek-chat\"," RTOOLS ",\"instructions\":\"sys\",\"input\":[{\"role\":\"user\","
          "\"content\":\"hi\"},{\"type\":\"function_call\",\"call_id\":\"call_a\",\"name\":\"f\",\"arguments\":\"{}\"},"
          "{\"type\":\"function_call_output\",\"call_id\":\"call_a\",\"output\":\"ok\"}]}",
          &r);
    cr_assert_not(srv_outputs_only(&r.chat));
    const char *ids[] = {"call_a"};
    cr_assert(srv_trailing_outputs_match(&r.chat, ids, 1));
    char *prompt = render_request(&r);
    size_t n = 0;
    char *tail = srv_tool_output_tail(&r, 32768, prompt, strlen(prompt), &n);
    cr_assert_str_eq(tail, "<｜User｜><tool_result>ok</tool_result><｜Assistant｜></think>");
    /* the tail follows the call turn's EOS in the full rendering */
    const char *eos_tail = strstr(prompt, DS4_TOK_EOS);
    cr_assert(eos_tail);
    cr_assert_str_eq(eos_tail + strlen(DS4_TOK_EOS), tail);
    free(tail);
    free(prompt);
    srv_request_free(&r);
}

Test(server_session, anthropic_tool_results) {
    srv_request r;
    parse(SRV_API_MESSAGES,
          "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
          "\"tool_use_id\":\"toolu_1\",\"content\":\"r1\"}]}]}",
          &r);
    cr_assert(srv_outputs_only(&r.chat));
    const char *ids[] = {"toolu_1"};
    cr_assert(srv_trailing_outputs_match(&r.chat, ids, 1));
    srv_request_free(&r);
    /* results followed by user text: the conversation no longer ends with them */
    parse(SRV_API_MESSAGES,
          "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
          "\"tool_use_id\":\"toolu_1\",\"content\":\"r1\"},{\"type\":\"text\",\"text\":\"and now?\"}]}]}",
          &r);
    cr_assert_not(srv_outputs_only(&r.chat));
    cr_assert_not(srv_trailing_outputs_match(&r.chat, ids, 1));
    srv_request_free(&r);
}

Test(server_session, no_results_no_tail) {
    srv_request r;
    parse(SRV_API_RESPONSES, "{\"model\":\"m\",\"input\":\"hello\"}", &r);
    cr_assert_not(srv_outputs_only(&r.chat));
    const char *ids[] = {"call_a"};
    cr_assert_not(srv_trailing_outputs_match(&r.chat, ids, 1));
    cr_assert_not(srv_trailing_outputs_match(&r.chat, ids, 0));
    char *prompt = render_request(&r);
    size_t n;
    cr_assert_null(srv_tool_output_tail(&r, 32768, prompt, strlen(prompt), &n));
    free(prompt);
    srv_request_free(&r);
}

/* The Responses visible binding: the next request, replayed as the client
 * saw the turn, must strictly extend it; hidden reasoning stays out. */
static char *visible_for(const char *body, const char *reasoning, const char *content, const char *raw_dsml,
                         const char *call_id, size_t *n) {
    srv_request r;
    parse(SRV_API_RESPONSES, body, &r);
    char *prompt = render_request(&r);
    ds4_parsed_call call = {.name = "f", .arguments = "{}"};
    ds4_chat_parsed p = {.reasoning = (char *)reasoning, .content = (char *)content, .calls = raw_dsml ? &call : NULL,
                         .n_calls = raw_dsml ? 1 : 0, .raw_dsml = (char *)raw_dsml, .thinking_closed = true};
    const char *ids[] = {call_id};
    char *v = srv_responses_visible_text(&r, 32768, prompt, strlen(prompt), &p, reasoning, content, ids, n);
    free(prompt);
    srv_request_free(&r);
    return v;
}

static char *render_next(const char *body, srv_dsml_memory *mem) {
    srv_request r;
    parse(SRV_API_RESPONSES, body, &r);
    if (mem) srv_dsml_memory_apply(mem, &r.chat);
    char *s = render_request(&r);
    srv_request_free(&r);
    return s;
}

#define DSML_F "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>"

Test(server_session, responses_visible_tool_turn_hides_reasoning) {
    size_t n = 0;
    char *v = visible_for("{\"model\":\"deepseek-reasoner\"," RTOOLS ",\"input\":\"hi\"}", "secret", "", DSML_F,
                          "call_x", &n);
    cr_assert(v);
    cr_assert_eq(n, strlen(v));
    cr_assert_null(strstr(v, "secret"));
    cr_assert(strstr(v, "<think></think>" DSML_F), "%s", v);
    srv_dsml_memory *mem = srv_dsml_memory_new(8);
    srv_dsml_memory_put(mem, "call_x", DSML_F);
    char *next = render_next("{\"model\":\"deepseek-reasoner\"," RTOOLS ",\"input\":[{\"role\":\"user\",\"content\":"
                             "\"hi\"},{\"type\":\"function_call\",\"call_id\":\"call_x\",\"name\":\"f\",\"arguments\":"
                             "\"{}\"},{\"type\":\"function_call_output\",\"call_id\":\"call_x\",\"output\":\"ok\"}]}",
                             mem);
    cr_assert(strlen(next) > n && !strncmp(next, v, n), "next:\n%s\nvisible:\n%s", next, v);
    cr_assert(!strncmp(next + n, DS4_TOK_EOS, strlen(DS4_TOK_EOS)), "the suffix starts with the turn's EOS");
    free(next);
    srv_dsml_memory_free(mem);
    free(v);
}

Test(server_session, responses_visible_summary_keeps_reasoning) {
    size_t n = 0;
    char *v = visible_for("{\"model\":\"deepseek-reasoner\"," RTOOLS ",\"reasoning\":{\"summary\":\"auto\"},"
                          "\"input\":\"hi\"}", "secret", "", DSML_F, "call_x", &n);
    cr_assert(v);
    cr_assert(strstr(v, "<think>secret</think>" DSML_F), "%s", v);
    free(v);
}

Test(server_session, responses_visible_plain_thinking_turn) {
    size_t n = 0;
    char *v = visible_for("{\"model\":\"deepseek-reasoner\",\"input\":\"hi\"}", "secret", "Hello", NULL, NULL, &n);
    cr_assert(v);
    cr_assert_null(strstr(v, "secret"));
    char *next = render_next("{\"model\":\"deepseek-reasoner\",\"input\":[{\"role\":\"user\",\"content\":\"hi\"},"
                             "{\"role\":\"assistant\",\"content\":\"Hello\"},{\"role\":\"user\",\"content\":\"more\"}]}",
                             NULL);
    cr_assert(strlen(next) > n && !strncmp(next, v, n), "next:\n%s\nvisible:\n%s", next, v);
    cr_assert_str_eq(next + n, DS4_TOK_EOS DS4_TOK_USER "more" DS4_TOK_ASSISTANT DS4_TOK_THINK);
    free(next);
    free(v);
}

/* Exact DSML replay beyond RAM (§4.4): a snapshot's tool map holds the
 * blocks found in its text; ids missing from memory come from the fallback
 * (the disk cache) and are remembered. */
#define DSML_G "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"g\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>"

Test(server_session, dsml_collect_finds_blocks_in_text) {
    srv_dsml_memory *m = srv_dsml_memory_new(8);
    srv_dsml_memory_put(m, "call_f", DSML_F);
    srv_dsml_memory_put(m, "call_g", DSML_G);
    srv_dsml_memory_put(m, "call_h", "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"h\">\n</｜DSML｜invoke>\n"
                                     "</｜DSML｜tool_calls>");
    const char *text = "<｜User｜>x<｜Assistant｜></think>" DSML_G "<｜end▁of▁sentence｜><｜User｜>y<｜Assistant｜>"
                       "</think>ok" DSML_F;
    char **ids, **blocks;
    int n = srv_dsml_memory_collect(m, text, strlen(text), &ids, &blocks);
    cr_assert_eq(n, 2);
    for (int i = 0; i < n; i++) {
        cr_assert(!strcmp(ids[i], "call_f") || !strcmp(ids[i], "call_g"), "%s", ids[i]);
        cr_assert_str_eq(blocks[i], !strcmp(ids[i], "call_f") ? DSML_F : DSML_G);
    }
    srv_dsml_pairs_free(ids, blocks, n);
    /* a block cut short by the end of the text is not in it */
    n = srv_dsml_memory_collect(m, text, strlen(text) - 3, &ids, &blocks);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(ids[0], "call_g");
    srv_dsml_pairs_free(ids, blocks, n);
    cr_assert_eq(srv_dsml_memory_collect(m, "no tools here", 13, &ids, &blocks), 0);
    srv_dsml_memory_free(m);
}

static int fallback_calls;
static char *disk_lookup(void *user, const char *id) {
    fallback_calls++;
    return !strcmp(id, "call_disk") ? strdup(user) : NULL;
}

Test(server_session, dsml_fallback_fills_missing_ids) {
    srv_dsml_memory *m = srv_dsml_memory_new(8);
    srv_dsml_memory_set_fallback(m, disk_lookup, (void *)DSML_G);
    srv_request r;
    parse(SRV_API_CHAT,
          "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"content\":\"\","
          "\"tool_calls\":[{\"id\":\"call_disk\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]},"
          "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"call_none\",\"type\":\"function\","
          "\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]}]}",
          &r);
    srv_dsml_memory_apply(m, &r.chat);
    cr_assert_str_eq(r.chat.msgs[1].raw_dsml, DSML_G);
    cr_assert_null(r.chat.msgs[2].raw_dsml, "an id known nowhere renders canonically");
    cr_assert_eq(fallback_calls, 2);
    /* remembered: a second request does not ask the disk again for it */
    ds4_chat_msg_set_raw_dsml(&r.chat.msgs[1], NULL);
    srv_dsml_memory_apply(m, &r.chat);
    cr_assert_str_eq(r.chat.msgs[1].raw_dsml, DSML_G);
    cr_assert_eq(fallback_calls, 3);
    srv_request_free(&r);
    srv_dsml_memory_free(m);
}
