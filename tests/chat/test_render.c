/* Prompt rendering: the worked examples of chat-and-api.md §1.8 verbatim, and
 * one literal expectation per rule of §1.2-1.5. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"

#define BOS "<｜begin▁of▁sentence｜>"
#define EOS "<｜end▁of▁sentence｜>"
#define U "<｜User｜>"
#define A "<｜Assistant｜>"

/* §1.4 verbatim (the template with {SCHEMAS} split out). */
#define TOOLS_HEAD                                                                                  \
    "## Tools\n"                                                                                    \
    "\n"                                                                                            \
    "You have access to a set of tools to help answer the user question. You can invoke tools by " \
    "writing a \"<｜DSML｜tool_calls>\" block like the following:\n"                               \
    "\n"                                                                                            \
    "<｜DSML｜tool_calls>\n"                                                                        \
    "<｜DSML｜invoke name=\"$TOOL_NAME\">\n"                                                        \
    "<｜DSML｜parameter name=\"$PARAMETER_NAME\" string=\"true|false\">$PARAMETER_VALUE</｜DSML｜parameter>\n" \
    "...\n"                                                                                         \
    "</｜DSML｜invoke>\n"                                                                           \
    "<｜DSML｜invoke name=\"$TOOL_NAME2\">\n"                                                       \
    "...\n"                                                                                         \
    "</｜DSML｜invoke>\n"                                                                           \
    "</｜DSML｜tool_calls>\n"                                                                       \
    "\n"                                                                                            \
    "String parameters should be specified as raw text and set `string=\"true\"`. Preserve characters such as `>`, `&`, and `&&` exactly; never replace normal string characters with XML or HTML entity escapes. Only if a string value itself contains the exact closing parameter tag `</｜DSML｜parameter>`, write that tag as `&lt;/｜DSML｜parameter>` inside the value. For all other types (numbers, booleans, arrays, objects), pass the value in JSON format and set `string=\"false\"`.\n" \
    "\n"                                                                                            \
    "If thinking_mode is enabled (triggered by <think>), you MUST output your complete reasoning inside <think>...</think> BEFORE any tool calls or final response.\n" \
    "\n"                                                                                            \
    "Otherwise, output directly after </think> with tool calls or final response.\n"               \
    "\n"                                                                                            \
    "### Available Tool Schemas\n"                                                                  \
    "\n"
#define TOOLS_TAIL                                                                                  \
    "\n\nYou MUST strictly follow the above defined tool name and parameter schemas to invoke tool calls. Use the exact parameter names from the schemas."

#define MAXPREFIX                                                                                   \
    "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"                             \
    "You MUST be very thorough in your thinking and comprehensively decompose the problem to resolve the root cause, rigorously stress-testing your logic against all potential paths, edge cases, and adversarial scenarios.\n" \
    "Explicitly write out your entire deliberation process, documenting every intermediate step, considered alternative, and rejected hypothesis to ensure absolutely no assumption is left unchecked.\n" \
    "\n"

#define READ_FILE_FN                                                                                \
    "{\"name\":\"read_file\",\"parameters\":{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},\"max_lines\":{\"type\":\"integer\"}}}}"

static void expect_render(const ds4_chat *c, ds4_think_mode mode, const char *want) {
    ds4_chat_render_opts o = {.think = mode};
    ds4_error err = {{0}};
    char *got = ds4_chat_render(c, &o, &err);
    cr_assert(got, "render failed: %s", err.msg);
    cr_assert_str_eq(got, want);
    free(got);
}

Test(chat_render, example_a_non_thinking) {
    ds4_chat c;
    ds4_chat_init(&c);
    ds4_chat_add(&c, DS4_ROLE_SYSTEM, "You are terse.");
    ds4_chat_add(&c, DS4_ROLE_USER, "Name a prime.");
    expect_render(&c, DS4_THINK_NONE, BOS "You are terse." U "Name a prime." A "</think>");
    ds4_chat_add(&c, DS4_ROLE_ASSISTANT, "7");
    ds4_chat_add(&c, DS4_ROLE_USER, "Another?");
    expect_render(&c, DS4_THINK_NONE,
                  BOS "You are terse." U "Name a prime." A "</think>7" EOS U "Another?" A "</think>");
    ds4_chat_free(&c);
}

Test(chat_render, example_b_thinking_drops_old_reasoning) {
    ds4_chat c;
    ds4_chat_init(&c);
    ds4_chat_add(&c, DS4_ROLE_SYSTEM, "You are terse.");
    ds4_chat_add(&c, DS4_ROLE_USER, "Is 91 prime?");
    expect_render(&c, DS4_THINK_HIGH, BOS "You are terse." U "Is 91 prime?" A "<think>");
    /* The client echoes the reasoning back: it is dropped anyway. */
    ds4_chat_msg *m = ds4_chat_add(&c, DS4_ROLE_ASSISTANT, "No, 91 = 7 × 13.");
    ds4_chat_msg_set_reasoning(m, "91 = 7 × 13.");
    ds4_chat_add(&c, DS4_ROLE_USER, "And 97?");
    expect_render(&c, DS4_THINK_HIGH,
                  BOS "You are terse." U "Is 91 prime?" A "</think>No, 91 = 7 × 13." EOS U "And 97?" A
                      "<think>");
    ds4_chat_free(&c);
}

Test(chat_render, think_max_prefix_and_gate) {
    ds4_chat c;
    ds4_chat_init(&c);
    ds4_chat_add(&c, DS4_ROLE_SYSTEM, "You are terse.");
    ds4_chat_add(&c, DS4_ROLE_USER, "Is 91 prime?");
    ds4_chat_render_opts o = {.think = DS4_THINK_MAX, .ctx = 393216};
    char *got = ds4_chat_render(&c, &o, NULL);
    cr_assert_str_eq(got, BOS MAXPREFIX "You are terse." U "Is 91 prime?" A "<think>");
    free(got);
    o.ctx = 393215; /* below the gate: silently high */
    got = ds4_chat_render(&c, &o, NULL);
    cr_assert_str_eq(got, BOS "You are terse." U "Is 91 prime?" A "<think>");
    free(got);
    cr_assert_eq(ds4_chat_effective_think(DS4_THINK_MAX, 32768), DS4_THINK_HIGH);
    cr_assert_eq(ds4_chat_effective_think(DS4_THINK_MAX, 0), DS4_THINK_MAX);
    cr_assert_eq(ds4_chat_effective_think(DS4_THINK_NONE, 32768), DS4_THINK_NONE);
    ds4_chat_free(&c);
}

#define EX_C_DSML                                                                                   \
    "\n\n<｜DSML｜tool_calls>\n"                                                                    \
    "<｜DSML｜invoke name=\"read_file\">\n"                                                         \
    "<｜DSML｜parameter name=\"path\" string=\"true\">a.c</｜DSML｜parameter>\n"                    \
    "<｜DSML｜parameter name=\"max_lines\" string=\"false\">5</｜DSML｜parameter>\n"                \
    "</｜DSML｜invoke>\n"                                                                           \
    "</｜DSML｜tool_calls>"

Test(chat_render, example_c_tool_round_trip) {
    ds4_chat c;
    ds4_chat_init(&c);
    ds4_chat_add_tool_raw(&c, READ_FILE_FN);
    ds4_chat_add(&c, DS4_ROLE_USER, "Show a.c");
    const char *req1 = BOS TOOLS_HEAD READ_FILE_FN TOOLS_TAIL U "Show a.c" A "<think>";
    expect_render(&c, DS4_THINK_HIGH, req1);

    ds4_chat_msg *m = ds4_chat_add(&c, DS4_ROLE_ASSISTANT, "");
    ds4_chat_msg_set_reasoning(m, "Need the file.");
    ds4_chat_msg_add_call(m, "call_0123456789abcdef0123456789abcdef", "read_file",
                          "{\"path\":\"a.c\",\"max_lines\":5}");
    ds4_chat_msg *t = ds4_chat_add(&c, DS4_ROLE_TOOL, "int x;\n");
    ds4_chat_msg_set_tool_call_id(t, "call_0123456789abcdef0123456789abcdef");
    expect_render(&c, DS4_THINK_HIGH,
                  BOS TOOLS_HEAD READ_FILE_FN TOOLS_TAIL U "Show a.c" A "<think>Need the file.</think>" EX_C_DSML
                      EOS U "<tool_result>int x;\n</tool_result>" A "<think>");
    ds4_chat_free(&c);
}

Test(chat_render, tools_block_synthesized_and_before_system) {
    ds4_chat c;
    ds4_chat_init(&c);
    ds4_chat_add(&c, DS4_ROLE_USER, "hi");
    ds4_chat_add(&c, DS4_ROLE_SYSTEM, "Be nice.");   /* pulled into SYSTEM wherever it sits */
    ds4_chat_add(&c, DS4_ROLE_SYSTEM, "Be brief.");
    ds4_chat_add_tool(&c, "f", "does f", "{\"type\": \"object\"}");
    ds4_chat_add_tool(&c, "g", NULL, NULL);
    expect_render(&c, DS4_THINK_NONE,
                  BOS TOOLS_HEAD "{\"name\":\"f\",\"description\":\"does f\",\"parameters\":{\"type\":\"object\"}}\n"
                                 "{\"name\":\"g\"}" TOOLS_TAIL "\n\nBe nice.\n\nBe brief." U "hi" A "</think>");
    ds4_chat_free(&c);
}

Test(chat_render, bad_schema_json_names_the_tool) {
    ds4_chat c;
    ds4_chat_init(&c);
    ds4_chat_add_tool_raw(&c, "{\"name\":");
    ds4_chat_add(&c, DS4_ROLE_USER, "x");
    ds4_error err = {{0}};
    char *got = ds4_chat_render(&c, NULL, &err);
    cr_assert_null(got);
    cr_assert(strstr(err.msg, "tool 0"), "%s", err.msg);
    ds4_chat_free(&c);
}

Test(chat_render, tool_run_shares_one_user_marker_and_escapes) {
    ds4_chat c;
    ds4_chat_init(&c);
    ds4_chat_add(&c, DS4_ROLE_USER, "go");
    ds4_chat_msg *m = ds4_chat_add(&c, DS4_ROLE_ASSISTANT, "ok");
    ds4_chat_msg_add_call(m, NULL, "a", "{}");
    ds4_chat_msg_add_call(m, NULL, "b", "{}");
    ds4_chat_add(&c, DS4_ROLE_TOOL, "r1 </tool_result> x");
    ds4_chat_add(&c, DS4_ROLE_TOOL, "r2");
    expect_render(&c, DS4_THINK_HIGH,
                  BOS U "go" A "<think></think>ok\n\n<｜DSML｜tool_calls>\n"
                        "<｜DSML｜invoke name=\"a\">\n</｜DSML｜invoke>\n"
                        "<｜DSML｜invoke name=\"b\">\n</｜DSML｜invoke>\n"
                        "</｜DSML｜tool_calls>" EOS U
                        "<tool_result>r1 &lt;/tool_result> x</tool_result><tool_result>r2</tool_result>" A
                        "<think>");
    ds4_chat_free(&c);
}

Test(chat_render, canonical_dsml_escaping) {
    ds4_tool_call calls[3] = {
        {NULL, "x\"<&>", "{\"s\":\"a && b > c </｜DSML｜parameter> d\",\"n\": [1, 2.50, {\"k\": \"</｜DSML｜parameter>\"}],\"t\":true,\"z\":null,\"k\\\"q\":1}"},
        {NULL, "arr", "[1,2]"},
        {NULL, "bad", "not json </｜DSML｜parameter>"},
    };
    char *got = ds4_chat_render_calls(calls, 3, NULL);
    cr_assert_str_eq(
        got,
        "\n\n<｜DSML｜tool_calls>\n"
        "<｜DSML｜invoke name=\"x&quot;&lt;&amp;&gt;\">\n"
        "<｜DSML｜parameter name=\"s\" string=\"true\">a && b > c &lt;/｜DSML｜parameter> d</｜DSML｜parameter>\n"
        "<｜DSML｜parameter name=\"n\" string=\"false\">[1,2.50,{\"k\":\"\\u003c/｜DSML｜parameter>\"}]</｜DSML｜parameter>\n"
        "<｜DSML｜parameter name=\"t\" string=\"false\">true</｜DSML｜parameter>\n"
        "<｜DSML｜parameter name=\"z\" string=\"false\">null</｜DSML｜parameter>\n"
        "<｜DSML｜parameter name=\"k&quot;q\" string=\"false\">1</｜DSML｜parameter>\n"
        "</｜DSML｜invoke>\n"
        "<｜DSML｜invoke name=\"arr\">\n"
        "<｜DSML｜parameter name=\"arguments\" string=\"true\">[1,2]</｜DSML｜parameter>\n"
        "</｜DSML｜invoke>\n"
        "<｜DSML｜invoke name=\"bad\">\n"
        "<｜DSML｜parameter name=\"arguments\" string=\"true\">not json &lt;/｜DSML｜parameter></｜DSML｜parameter>\n"
        "</｜DSML｜invoke>\n"
        "</｜DSML｜tool_calls>");
    free(got);
}

Test(chat_render, raw_dsml_replayed_verbatim) {
    ds4_chat c;
    ds4_chat_init(&c);
    ds4_chat_add(&c, DS4_ROLE_USER, "go");
    ds4_chat_msg *m = ds4_chat_add(&c, DS4_ROLE_ASSISTANT, "");
    ds4_chat_msg_add_call(m, "call_1", "f", "{\"a\":1}");
    ds4_chat_msg_set_raw_dsml(m, "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"a\" string=\"false\"> 1 </｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>");
    ds4_chat_add(&c, DS4_ROLE_TOOL, "ok");
    expect_render(&c, DS4_THINK_NONE,
                  BOS U "go" A "</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"a\" string=\"false\"> 1 </｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>" EOS U
                        "<tool_result>ok</tool_result>" A "</think>");
    ds4_chat_free(&c);
}

Test(chat_render, think_part_table) {
    /* No tool context: reasoning kept only after the last user message;
     * tool context: always kept (may be empty); mode none: always </think>. */
    ds4_chat c;
    ds4_chat_init(&c);
    ds4_chat_add(&c, DS4_ROLE_USER, "q1");
    ds4_chat_msg *m = ds4_chat_add(&c, DS4_ROLE_ASSISTANT, "a1");
    ds4_chat_msg_set_reasoning(m, "r1");
    ds4_chat_add(&c, DS4_ROLE_USER, "q2");
    m = ds4_chat_add(&c, DS4_ROLE_ASSISTANT, "a2");
    ds4_chat_msg_set_reasoning(m, "r2");
    /* ends with an assistant message: EOS and no generation prefix (⚠) */
    expect_render(&c, DS4_THINK_HIGH, BOS U "q1" A "</think>a1" EOS U "q2" A "<think>r2</think>a2" EOS);
    expect_render(&c, DS4_THINK_NONE, BOS U "q1" A "</think>a1" EOS U "q2" A "</think>a2" EOS);
    ds4_chat_render_opts o = {.think = DS4_THINK_HIGH, .keep_reasoning = true};
    char *got = ds4_chat_render(&c, &o, NULL);
    cr_assert_str_eq(got, BOS U "q1" A "<think>r1</think>a1" EOS U "q2" A "<think>r2</think>a2" EOS);
    free(got);
    ds4_chat_add_tool(&c, "f", NULL, NULL); /* tool context: every turn keeps its reasoning */
    o.keep_reasoning = false;
    got = ds4_chat_render(&c, &o, NULL);
    cr_assert(strstr(got, U "q1" A "<think>r1</think>a1" EOS U "q2" A "<think>r2</think>a2" EOS));
    free(got);
    ds4_chat_free(&c);
}

Test(chat_render, consecutive_assistants_and_no_bos) {
    ds4_chat c;
    ds4_chat_init(&c);
    ds4_chat_add(&c, DS4_ROLE_USER, "q");
    ds4_chat_add(&c, DS4_ROLE_ASSISTANT, "a");
    ds4_chat_add(&c, DS4_ROLE_ASSISTANT, "b"); /* ⚠ no marker, no think part */
    ds4_chat_render_opts o = {.think = DS4_THINK_NONE, .no_bos = true};
    char *got = ds4_chat_render(&c, &o, NULL);
    cr_assert_str_eq(got, U "q" A "</think>a" EOS "b" EOS);
    free(got);
    ds4_chat_free(&c);
}

Test(chat_render, continue_last_prefill) {
    ds4_chat c;
    ds4_chat_init(&c);
    ds4_chat_add(&c, DS4_ROLE_USER, "q");
    ds4_chat_msg *m = ds4_chat_add(&c, DS4_ROLE_ASSISTANT, "");
    ds4_chat_msg_set_reasoning(m, "Let me");
    ds4_chat_render_opts o = {.think = DS4_THINK_HIGH, .continue_last = true};
    char *got = ds4_chat_render(&c, &o, NULL);
    cr_assert_str_eq(got, BOS U "q" A "<think>Let me");
    free(got);
    ds4_chat_msg_set_content(m, "The answer");
    got = ds4_chat_render(&c, &o, NULL);
    cr_assert_str_eq(got, BOS U "q" A "<think>Let me</think>The answer");
    free(got);
    o.think = DS4_THINK_NONE;
    got = ds4_chat_render(&c, &o, NULL);
    cr_assert_str_eq(got, BOS U "q" A "</think>The answer");
    free(got);
    ds4_chat_free(&c);
}

Test(chat_render, cli_one_shot_and_completions_layout) {
    /* CLI: BOS [MAXPREFIX] {system}<｜User｜>{prompt} + GENPREFIX; /v1/completions
     * is the same with "You are a helpful assistant". */
    ds4_chat c;
    ds4_chat_init(&c);
    ds4_chat_add(&c, DS4_ROLE_SYSTEM, "You are a helpful assistant");
    ds4_chat_add(&c, DS4_ROLE_USER, "Hello <｜User｜> there"); /* user text is never escaped */
    expect_render(&c, DS4_THINK_HIGH,
                  BOS "You are a helpful assistant" U "Hello <｜User｜> there" A "<think>");
    ds4_chat_free(&c);
    ds4_chat_init(&c);
    ds4_chat_add(&c, DS4_ROLE_USER, "x"); /* -sys "" removes the system prompt */
    expect_render(&c, DS4_THINK_NONE, BOS U "x" A "</think>");
    ds4_chat_free(&c);
}

Test(chat_render, json_round_trip) {
    ds4_chat c;
    ds4_chat_init(&c);
    ds4_chat_add(&c, DS4_ROLE_SYSTEM, "sys");
    ds4_chat_add(&c, DS4_ROLE_USER, "q \"1\"");
    ds4_chat_msg *m = ds4_chat_add(&c, DS4_ROLE_ASSISTANT, "a");
    ds4_chat_msg_set_reasoning(m, "r");
    ds4_chat_msg_add_call(m, "call_9", "f", "{\"x\":1}");
    ds4_chat_msg *t = ds4_chat_add(&c, DS4_ROLE_TOOL, "res");
    ds4_chat_msg_set_tool_call_id(t, "call_9");
    ds4_chat_add_tool_raw(&c, READ_FILE_FN);
    ds4_think_mode th = DS4_THINK_MAX;
    char *js = ds4_chat_to_json(&c, &th);
    ds4_chat d;
    ds4_chat_init(&d);
    ds4_think_mode th2 = DS4_THINK_NONE;
    ds4_error err = {{0}};
    cr_assert(ds4_chat_from_json(&d, js, &th2, &err), "%s", err.msg);
    cr_assert_eq(th2, DS4_THINK_MAX);
    ds4_chat_render_opts o = {.think = DS4_THINK_HIGH};
    char *r1 = ds4_chat_render(&c, &o, NULL), *r2 = ds4_chat_render(&d, &o, NULL);
    cr_assert_str_eq(r1, r2);
    cr_assert_str_eq(d.msgs[2].calls[0].id, "call_9");
    free(r1);
    free(r2);
    free(js);
    cr_assert_not(ds4_chat_from_json(&d, "{\"messages\":[{\"role\":\"robot\"}]}", NULL, &err));
    cr_assert(strstr(err.msg, "robot"), "%s", err.msg);
    cr_assert_not(ds4_chat_from_json(&d, "[", NULL, &err));
    ds4_chat_free(&c);
    ds4_chat_free(&d);
}
