/* Request parsing of the four APIs into the chat model, thinking controls,
 * error statuses and shapes, and the rendered prompt for parsed requests. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "server/api.h"
#include "render_request.h"

static bool parse(srv_api api, const char *body, srv_request *r, srv_err *e) {
    return srv_request_parse(api, body, strlen(body), r, e);
}

Test(server_request, chat_basic_fields_and_defaults) {
    srv_request r;
    srv_err e;
    cr_assert(parse(SRV_API_CHAT,
                    "{\"model\":\"deepseek-chat\",\"messages\":[{\"role\":\"system\",\"content\":\"You are terse.\"},"
                    "{\"role\":\"user\",\"content\":\"Name a prime.\"}],\"stream\":true,"
                    "\"stream_options\":{\"include_usage\":true},\"max_completion_tokens\":7,\"temperature\":0,"
                    "\"top_k\":5000,\"top_p\":3,\"min_p\":-1,\"seed\":42,\"stop\":\"\\n\\n\"}",
                    &r, &e), "%s", e.msg);
    cr_assert_str_eq(r.model, "deepseek-chat");
    cr_assert(r.stream && r.include_usage);
    cr_assert_eq(r.max_tokens, 7);
    cr_assert_eq(r.temperature, 0.0f);
    cr_assert_eq(r.top_k, 1024);      /* capped */
    cr_assert_eq(r.top_p, 1.0f);      /* out of range -> 1 */
    cr_assert_eq(r.min_p, 0.0f);      /* negative -> 0 */
    cr_assert_eq(r.seed, 42);
    cr_assert_eq(r.n_stop, 1);
    cr_assert_str_eq(r.stop[0], "\n\n");
    cr_assert_eq(r.think, DS4_THINK_NONE); /* deepseek-chat alias */
    char *p = render_request(&r);
    /* chat-and-api.md §1.8 example A, request 1 */
    cr_assert_str_eq(p, "<｜begin▁of▁sentence｜>You are terse.<｜User｜>Name a prime.<｜Assistant｜></think>");
    free(p);
    srv_request_free(&r);
}

Test(server_request, chat_history_ends_assistant_turns_with_eos) {
    srv_request r;
    srv_err e;
    cr_assert(parse(SRV_API_CHAT,
                    "{\"model\":\"deepseek-reasoner\",\"messages\":[{\"role\":\"developer\",\"content\":\"You are terse.\"},"
                    "{\"role\":\"user\",\"content\":\"Is 91 prime?\"},"
                    "{\"role\":\"assistant\",\"content\":\"No, 91 = 7 × 13.\",\"reasoning_content\":\"91 = 7 × 13.\"},"
                    "{\"content\":[{\"type\":\"text\",\"text\":\"And 97?\"},{\"type\":\"image_url\",\"image_url\":{}}]}]}",
                    &r, &e), "%s", e.msg);
    cr_assert_eq(r.think, DS4_THINK_HIGH);
    cr_assert_not(r.continue_last);
    char *p = render_request(&r);
    cr_assert_str_eq(p, "<｜begin▁of▁sentence｜>You are terse.<｜User｜>Is 91 prime?<｜Assistant｜></think>No, 91 = 7 × "
                        "13.<｜end▁of▁sentence｜><｜User｜>And 97?<｜Assistant｜><think>");
    free(p);
    srv_request_free(&r);
}

Test(server_request, thinking_controls) {
    struct { const char *body; ds4_think_mode want; } cases[] = {
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", DS4_THINK_HIGH},
        {"{\"thinking\":false,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", DS4_THINK_NONE},
        {"{\"thinking\":{\"type\":\"disabled\"},\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", DS4_THINK_NONE},
        {"{\"think\":false,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", DS4_THINK_NONE},
        {"{\"model\":\"deepseek-chat\",\"think\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", DS4_THINK_HIGH},
        {"{\"reasoning_effort\":\"max\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", DS4_THINK_MAX},
        {"{\"reasoning_effort\":\"low\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", DS4_THINK_HIGH},
        {"{\"reasoning_effort\":\"none\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", DS4_THINK_NONE},
        {"{\"reasoning_effort\":null,\"model\":\"deepseek-chat\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         DS4_THINK_NONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        srv_request r;
        srv_err e;
        cr_assert(parse(SRV_API_CHAT, cases[i].body, &r, &e), "case %zu: %s", i, e.msg);
        cr_assert_eq(r.think, cases[i].want, "case %zu", i);
        srv_request_free(&r);
    }
    srv_request r;
    srv_err e;
    cr_assert_not(parse(SRV_API_CHAT, "{\"reasoning_effort\":\"huge\",\"messages\":[{\"content\":\"x\"}]}", &r, &e));
    cr_assert_eq(e.status, 400);
    cr_assert(strstr(e.msg, "reasoning_effort"), "%s", e.msg);
}

Test(server_request, errors_name_the_problem) {
    struct { srv_api api; const char *body; const char *needle; } cases[] = {
        {SRV_API_CHAT, "{\"messages\":[", "invalid JSON"},
        {SRV_API_CHAT, "[1,2]", "JSON object"},
        {SRV_API_CHAT, "{}", "missing messages"},
        {SRV_API_CHAT, "{\"messages\":{}}", "'messages' must be an array"},
        {SRV_API_CHAT, "{\"messages\":[]}", "must not be empty"},
        {SRV_API_CHAT, "{\"messages\":[7]}", "messages[0]"},
        {SRV_API_CHAT, "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", "wizard"},
        {SRV_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages[0].content"},
        {SRV_API_CHAT, "{\"messages\":[{\"content\":\"x\"}],\"max_tokens\":\"a\"}", "max_tokens"},
        {SRV_API_CHAT, "{\"messages\":[{\"content\":\"x\"}],\"max_tokens\":0}", "max_tokens"},
        {SRV_API_CHAT, "{\"messages\":[{\"content\":\"x\"}],\"temperature\":\"hot\"}", "temperature"},
        {SRV_API_CHAT, "{\"messages\":[{\"content\":\"x\"}],\"stream\":1}", "stream"},
        {SRV_API_CHAT, "{\"messages\":[{\"content\":\"x\"}],\"stop\":[1]}", "stop[0]"},
        {SRV_API_CHAT, "{\"messages\":[{\"content\":\"x\"}],\"tools\":[{\"type\":\"function\"}]}", "tools[0]"},
        {SRV_API_CHAT, "{\"model\":3,\"messages\":[{\"content\":\"x\"}]}", "model"},
        {SRV_API_COMPLETIONS, "{}", "missing prompt"},
        {SRV_API_COMPLETIONS, "{\"prompt\":{}}", "prompt"},
        {SRV_API_MESSAGES, "{\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}", "system"},
        {SRV_API_MESSAGES, "{\"system\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "system"},
        {SRV_API_RESPONSES, "{}", "missing input"},
        {SRV_API_RESPONSES, "{\"input\":[{\"type\":\"bogus\"}]}", "bogus"},
        {SRV_API_RESPONSES, "{\"input\":[{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_image\"}]}]}",
         "input_image"},
        {SRV_API_RESPONSES, "{\"input\":\"x\",\"previous_response_id\":\"resp_1\"}", "previous_response_id"},
        {SRV_API_RESPONSES, "{\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],\"tool_choice\":\"required\"}",
         "tool_choice=required"},
        {SRV_API_RESPONSES, "{\"input\":[{\"type\":\"message\",\"role\":\"user\",\"status\":\"in_progress\",\"content\":\"x\"}]}",
         "status"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        srv_request r;
        srv_err e;
        cr_assert_not(parse(cases[i].api, cases[i].body, &r, &e), "case %zu parsed", i);
        cr_assert_eq(e.status, 400, "case %zu", i);
        cr_assert(strstr(e.msg, cases[i].needle), "case %zu: '%s' lacks '%s'", i, e.msg, cases[i].needle);
    }
}

Test(server_request, error_shapes_per_api) {
    srv_err e;
    srv_errf(&e, 400, "bad thing");
    char *o = srv_error_json(SRV_API_CHAT, false, &e);
    json_t *v = json_loads(o, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(v, "error"), "message")), "bad thing");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(v, "error"), "type")), "invalid_request_error");
    json_decref(v);
    free(o);
    srv_errf(&e, 401, "no key");
    o = srv_error_json(SRV_API_MESSAGES, true, &e);
    v = json_loads(o, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(v, "type")), "error");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(v, "error"), "type")), "authentication_error");
    json_decref(v);
    free(o);
    srv_errf(&e, 413, "too big");
    o = srv_error_json(SRV_API_MESSAGES, true, &e);
    cr_assert(strstr(o, "request_too_large"), "%s", o);
    free(o);
    srv_errf(&e, 400, "Prompt has 9 tokens, but the configured context size is 8 tokens");
    e.code = "context_length_exceeded";
    e.param = "messages";
    e.n_prompt = 9;
    e.n_ctx = 8;
    o = srv_error_json(SRV_API_CHAT, false, &e);
    v = json_loads(o, 0, NULL);
    json_t *err = json_object_get(v, "error");
    cr_assert_str_eq(json_string_value(json_object_get(err, "code")), "context_length_exceeded");
    cr_assert_eq(json_integer_value(json_object_get(err, "n_prompt_tokens")), 9);
    cr_assert_eq(json_integer_value(json_object_get(err, "n_ctx")), 8);
    json_decref(v);
    free(o);
}

#define TOOLS_OPENAI                                                                                             \
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"read_file\",\"parameters\":{\"type\":\"object\","   \
    "\"properties\":{\"path\":{\"type\":\"string\"},\"max_lines\":{\"type\":\"integer\"}}}}}]"

Test(server_request, chat_tools_and_tool_round_trip) {
    srv_request r;
    srv_err e;
    cr_assert(parse(SRV_API_CHAT,
                    "{" TOOLS_OPENAI ",\"messages\":[{\"role\":\"user\",\"content\":\"Show a.c\"},"
                    "{\"role\":\"assistant\",\"content\":\"\",\"reasoning_content\":\"Need the file.\",\"tool_calls\":["
                    "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"read_file\",\"arguments\":"
                    "\"{\\\"path\\\":\\\"a.c\\\",\\\"max_lines\\\":5}\"}},"
                    "{\"id\":\"call_x\",\"type\":\"function\",\"function\":{\"arguments\":\"{}\"}}]},"
                    "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"int x;\\n\"}]}",
                    &r, &e), "%s", e.msg);
    cr_assert(r.tools_active);
    cr_assert_eq(r.chat.n_tools, 1);
    cr_assert_eq(r.chat.n_msgs, 3);
    cr_assert_eq(r.chat.msgs[1].n_calls, 1); /* the call without a name is dropped */
    cr_assert_str_eq(r.chat.msgs[1].calls[0].name, "read_file");
    cr_assert_str_eq(r.chat.msgs[2].tool_call_id, "call_1");
    char *p = render_request(&r);
    /* §1.8 example C, request 2 */
    cr_assert(strstr(p, "{\"name\":\"read_file\",\"parameters\":{\"type\":\"object\",\"properties\":{\"path\":{\"type\":"
                        "\"string\"},\"max_lines\":{\"type\":\"integer\"}}}}"), "%s", p);
    const char *tail = "<｜User｜>Show a.c<｜Assistant｜><think>Need the file.</think>\n\n<｜DSML｜tool_calls>\n"
                       "<｜DSML｜invoke name=\"read_file\">\n"
                       "<｜DSML｜parameter name=\"path\" string=\"true\">a.c</｜DSML｜parameter>\n"
                       "<｜DSML｜parameter name=\"max_lines\" string=\"false\">5</｜DSML｜parameter>\n"
                       "</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜><｜User｜><tool_result>int x;\n"
                       "</tool_result><｜Assistant｜><think>";
    cr_assert(strlen(p) > strlen(tail) && !strcmp(p + strlen(p) - strlen(tail), tail), "%s", p);
    free(p);
    srv_request_free(&r);

    /* tool_choice none hides the tools */
    cr_assert(parse(SRV_API_CHAT, "{" TOOLS_OPENAI ",\"tool_choice\":\"none\",\"messages\":[{\"content\":\"x\"}]}", &r, &e));
    cr_assert_not(r.tools_active);
    cr_assert_eq(r.chat.n_tools, 0);
    srv_request_free(&r);
}

Test(server_request, exact_dsml_replay_memory) {
    srv_dsml_memory *m = srv_dsml_memory_new(2);
    const char *raw = "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
    srv_dsml_memory_put(m, "call_a", raw);
    srv_request r;
    srv_err e;
    cr_assert(parse(SRV_API_CHAT,
                    "{\"messages\":[{\"content\":\"x\"},{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"call_a\","
                    "\"function\":{\"name\":\"f\",\"arguments\":{}}}]},{\"role\":\"assistant\",\"tool_calls\":[{\"id\":"
                    "\"call_b\",\"function\":{\"name\":\"f\",\"arguments\":{}}}]}]}",
                    &r, &e), "%s", e.msg);
    srv_dsml_memory_apply(m, &r.chat);
    cr_assert_str_eq(r.chat.msgs[1].raw_dsml, raw);
    cr_assert_null(r.chat.msgs[2].raw_dsml);
    /* LRU: two more ids push call_a out */
    srv_dsml_memory_put(m, "call_c", raw);
    srv_dsml_memory_put(m, "call_d", raw);
    ds4_chat_msg_set_raw_dsml(&r.chat.msgs[1], NULL);
    srv_dsml_memory_apply(m, &r.chat);
    cr_assert_null(r.chat.msgs[1].raw_dsml);
    srv_request_free(&r);
    srv_dsml_memory_free(m);
}

Test(server_request, anthropic_mapping) {
    srv_request r;
    srv_err e;
    cr_assert(parse(SRV_API_MESSAGES,
                    "{\"model\":\"claude\",\"max_tokens\":10,\"system\":[{\"type\":\"text\",\"text\":\"x-anthropic-billing: 1\"},"
                    "{\"type\":\"text\",\"text\":\"Be kind.\"},{\"type\":\"text\",\"text\":\"Be brief.\"}],"
                    "\"thinking\":{\"type\":\"disabled\"},\"stop_sequences\":[\"END\"],"
                    "\"tools\":[{\"name\":\"get_weather\",\"input_schema\":{\"type\":\"object\"}}],"
                    "\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"},"
                    "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"hm\"},"
                    "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}}]},"
                    "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\","
                    "\"content\":[{\"type\":\"text\",\"text\":\"sunny\"}]}]}]}",
                    &r, &e), "%s", e.msg);
    cr_assert_eq(r.think, DS4_THINK_NONE);
    cr_assert(r.tools_active);
    cr_assert_eq(r.n_stop, 1);
    cr_assert_eq(r.max_tokens, 10);
    cr_assert_eq(r.chat.n_msgs, 4);
    cr_assert_str_eq(r.chat.msgs[0].content, "Be kind.\nBe brief.");
    cr_assert_eq(r.chat.msgs[2].role, DS4_ROLE_ASSISTANT);
    cr_assert_str_eq(r.chat.msgs[2].reasoning, "hm");
    cr_assert_str_eq(r.chat.msgs[2].calls[0].arguments, "{\"city\":\"Paris\"}");
    cr_assert_eq(r.chat.msgs[3].role, DS4_ROLE_TOOL);
    cr_assert_str_eq(r.chat.msgs[3].content, "sunny");
    char *p = render_request(&r);
    cr_assert(strstr(p, "{\"name\":\"get_weather\",\"input_schema\":{\"type\":\"object\"}}"), "%s", p);
    cr_assert(strstr(p, "<｜User｜><tool_result>sunny</tool_result><｜Assistant｜></think>"), "%s", p);
    free(p);
    srv_request_free(&r);
}

Test(server_request, responses_mapping) {
    srv_request r;
    srv_err e;
    cr_assert(parse(SRV_API_RESPONSES,
                    "{\"instructions\":\"Be brief.\",\"reasoning\":{\"effort\":\"high\",\"summary\":\"auto\"},"
                    "\"max_output_tokens\":9,\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"description\":\"d\","
                    "\"parameters\":{\"type\":\"object\"}},{\"type\":\"web_search\"}],"
                    "\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"hi\"}]},"
                    "{\"type\":\"reasoning\",\"summary\":[{\"type\":\"summary_text\",\"text\":\"think\"}]},"
                    "{\"type\":\"message\",\"role\":\"assistant\",\"status\":\"completed\",\"content\":[{\"type\":"
                    "\"output_text\",\"text\":\"calling\"}]},"
                    "{\"type\":\"function_call\",\"call_id\":\"call_9\",\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"},"
                    "{\"type\":\"function_call_output\",\"call_id\":\"call_9\",\"output\":\"42\"}]}",
                    &r, &e), "%s", e.msg);
    cr_assert(r.reasoning_summary);
    cr_assert_eq(r.max_tokens, 9);
    cr_assert_eq(r.chat.n_tools, 1); /* the hosted tool is not offered */
    cr_assert_eq(r.chat.n_msgs, 4);
    cr_assert_eq(r.chat.msgs[0].role, DS4_ROLE_SYSTEM);
    cr_assert_eq(r.chat.msgs[2].role, DS4_ROLE_ASSISTANT);
    cr_assert_str_eq(r.chat.msgs[2].content, "calling");
    cr_assert_str_eq(r.chat.msgs[2].reasoning, "think");
    cr_assert_eq(r.chat.msgs[2].n_calls, 1); /* merged into the assistant item before it */
    cr_assert_str_eq(r.chat.msgs[3].content, "42");
    char *p = render_request(&r);
    cr_assert(strstr(p, "{\"name\":\"f\",\"description\":\"d\",\"parameters\":{\"type\":\"object\"}}"), "%s", p);
    free(p);
    srv_request_free(&r);

    cr_assert(parse(SRV_API_RESPONSES, "{\"input\":\"hello\",\"model\":\"deepseek-chat\"}", &r, &e));
    cr_assert_eq(r.chat.n_msgs, 1);
    cr_assert_str_eq(r.chat.msgs[0].content, "hello");
    srv_request_free(&r);
}

Test(server_request, assistant_prefill_is_continued) {
    srv_request r;
    srv_err e;
    cr_assert(parse(SRV_API_CHAT,
                    "{\"think\":false,\"messages\":[{\"role\":\"user\",\"content\":\"Say hi\"},"
                    "{\"role\":\"assistant\",\"content\":\"Hi th\"}]}",
                    &r, &e), "%s", e.msg);
    cr_assert(r.continue_last);
    char *p = render_request(&r);
    cr_assert_str_eq(p, "<｜begin▁of▁sentence｜><｜User｜>Say hi<｜Assistant｜></think>Hi th");
    free(p);
    srv_request_free(&r);
}

Test(server_request, completions_raw_prompt) {
    srv_request r;
    srv_err e;
    cr_assert(parse(SRV_API_COMPLETIONS, "{\"prompt\":[\"ROMEO:\",\"ignored\"],\"max_tokens\":3,\"stop\":[\"\\n\"]}", &r, &e),
              "%s", e.msg);
    cr_assert_str_eq(r.prompt, "ROMEO:");
    cr_assert_eq(r.think, DS4_THINK_NONE);
    cr_assert_eq(r.n_stop, 1);
    srv_request_free(&r);
}
