/* Output parsing (chat-and-api.md §2): final parse and the streaming parser. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "../common/chat_examples.h"

static void parse(const char *s, bool thinking, bool tools, ds4_chat_parsed *out) {
    ds4_chat_parse_opts o = {.thinking = thinking, .tools = tools};
    ds4_chat_parse(s, strlen(s), &o, out);
}

Test(chat_parse, example_b_reasoning_split) {
    ds4_chat_parsed p;
    parse("91 = 7 × 13.</think>No, 91 = 7 × 13.", true, false, &p);
    cr_assert_str_eq(p.reasoning, "91 = 7 × 13.");
    cr_assert_str_eq(p.content, "No, 91 = 7 × 13.");
    cr_assert(p.thinking_closed);
    ds4_chat_parsed_free(&p);
    /* one leading <think> is dropped; no </think>: all content (⚠) */
    parse("<think>still thinking", true, false, &p);
    cr_assert_str_eq(p.reasoning, "");
    cr_assert_str_eq(p.content, "still thinking");
    cr_assert_not(p.thinking_closed);
    ds4_chat_parsed_free(&p);
    /* non-thinking: everything is content */
    parse("a</think>b", false, false, &p);
    cr_assert_str_eq(p.content, "a</think>b");
    ds4_chat_parsed_free(&p);
}

Test(chat_parse, example_c_tool_call) {
    ds4_chat_parsed p;
    parse(EX_C_OUT, true, true, &p);
    cr_assert_str_eq(p.reasoning, "Need the file.");
    cr_assert_str_eq(p.content, "");
    cr_assert_eq(p.n_calls, 1);
    cr_assert_str_eq(p.calls[0].name, "read_file");
    cr_assert_str_eq(p.calls[0].arguments, "{\"path\":\"a.c\",\"max_lines\":5}");
    cr_assert_str_eq(p.raw_dsml, strstr(EX_C_OUT, "\n\n<"));
    cr_assert_not(p.invalid_tool_call);
    ds4_chat_parsed_free(&p);
    /* tools inactive: no DSML parsing */
    parse(EX_C_OUT, true, false, &p);
    cr_assert_eq(p.n_calls, 0);
    cr_assert(strstr(p.content, "tool_calls"));
    ds4_chat_parsed_free(&p);
}

Test(chat_parse, dsml_inside_reasoning_is_inert) {
    ds4_chat_parsed p;
    parse("<｜DSML｜tool_calls><｜DSML｜invoke name=\"x\"></｜DSML｜invoke></｜DSML｜tool_calls></think>plain", true,
          true, &p);
    cr_assert_eq(p.n_calls, 0);
    cr_assert_str_eq(p.content, "plain");
    ds4_chat_parsed_free(&p);
}

Test(chat_parse, params_entities_types_nesting) {
    ds4_chat_parsed p;
    parse("Sure.  \n<｜DSML｜tool_calls>\n"
          "<｜DSML｜invoke name=\"run\">\n"
          "<｜DSML｜parameter name=\"cmd\" string=\"true\">a && b 2> c &lt;/｜DSML｜parameter> &amp; &quot;q&quot; &foo; é\n</｜DSML｜parameter>\n"
          "<｜DSML｜parameter name=\"opts\" string=\"false\">{ \"a\" : [1, 2] }</｜DSML｜parameter>\n"
          "<｜DSML｜parameter name=\"none\" string=\"false\"> </｜DSML｜parameter>\n"
          "<｜DSML｜parameter name=\"d\">plain</｜DSML｜parameter>\n"
          "<｜DSML｜parameter name=\"obj\">\n<｜DSML｜parameter name=\"k\" string=\"false\">1</｜DSML｜parameter>\n</｜DSML｜parameter>\n"
          "</｜DSML｜invoke>\n"
          "<｜DSML｜invoke name=\"two\">\n</｜DSML｜invoke>\n"
          "</｜DSML｜tool_calls>trailing ignored",
          false, true, &p);
    cr_assert_str_eq(p.content, "Sure.");
    cr_assert_eq(p.n_calls, 2);
    cr_assert_str_eq(p.calls[0].arguments,
                     "{\"cmd\":\"a && b 2> c </｜DSML｜parameter> & \\\"q\\\" &foo; é\\n\","
                     "\"opts\":{\"a\":[1,2]},\"none\":null,\"d\":\"plain\",\"obj\":{\"k\":1}}");
    cr_assert_str_eq(p.calls[1].name, "two");
    cr_assert_str_eq(p.calls[1].arguments, "{}");
    ds4_chat_parsed_free(&p);
}

/* Issue 6 resolves §2 ⚠ (ds4 emptied the whole object): a `false` body that is
 * not JSON is passed on as a string, never dropped, by the final parse and by
 * the live projection alike. */
Test(chat_parse, non_json_false_body_becomes_a_string) {
    const char *text = "<｜DSML｜tool_calls><｜DSML｜invoke name=\"f\"><｜DSML｜parameter name=\"a\" string=\"true\">x</｜DSML｜parameter>"
                       "<｜DSML｜parameter name=\"b\" string=\"false\"> no \"pe </｜DSML｜parameter>"
                       "<｜DSML｜parameter name=\"c\" string=\"false\">[1, 2]</｜DSML｜parameter></｜DSML｜invoke></｜DSML｜tool_calls>";
    ds4_chat_parsed p;
    parse(text, false, true, &p);
    cr_assert_eq(p.n_calls, 1);
    cr_assert_str_eq(p.calls[0].arguments, "{\"a\":\"x\",\"b\":\"no \\\"pe\",\"c\":[1,2]}");
    ds4_chat_parsed_free(&p);
}

Test(chat_parse, short_forms) {
    ds4_chat_parsed p;
    parse("x\n\n<DSML｜tool_calls>\n<DSML｜invoke name=\"f\">\n<DSML｜parameter name=\"a\" string=\"true\">1</DSML｜parameter>\n</DSML｜invoke>\n</DSML｜tool_calls>",
          false, true, &p);
    cr_assert_eq(p.n_calls, 1);
    cr_assert_str_eq(p.calls[0].arguments, "{\"a\":\"1\"}");
    cr_assert_str_eq(p.content, "x");
    cr_assert(!strncmp(p.raw_dsml, "\n\n<DSML｜", 10));
    ds4_chat_parsed_free(&p);
    parse("<tool_calls><invoke name=\"g\"><parameter name=\"n\" string=\"false\">2</parameter></invoke></tool_calls>",
          false, true, &p);
    cr_assert_eq(p.n_calls, 1);
    cr_assert_str_eq(p.calls[0].name, "g");
    cr_assert_str_eq(p.calls[0].arguments, "{\"n\":2}");
    ds4_chat_parsed_free(&p);
}

Test(chat_parse, malformed_and_orphans) {
    ds4_chat_parsed p;
    /* an invoke without a name: no calls, the raw text stays content */
    const char *bad = "hi\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
    parse(bad, false, true, &p);
    cr_assert_eq(p.n_calls, 0);
    cr_assert(p.invalid_tool_call);
    cr_assert_str_eq(p.content, bad);
    ds4_chat_parsed_free(&p);
    /* unterminated */
    parse("<｜DSML｜tool_calls><｜DSML｜invoke name=\"f\">", false, true, &p);
    cr_assert(p.invalid_tool_call);
    cr_assert_eq(p.n_calls, 0);
    ds4_chat_parsed_free(&p);
    /* orphan end marker: ignored */
    parse("done </｜DSML｜tool_calls>", false, true, &p);
    cr_assert_not(p.invalid_tool_call);
    cr_assert_str_eq(p.content, "done </｜DSML｜tool_calls>");
    ds4_chat_parsed_free(&p);
}

/* ---- streaming ---- */

typedef struct {
    char reasoning[4096], content[4096], args[8][1024], names[8][64];
    int starts, ends;
    bool bad_order;
} collect;

static void on_event(void *user, const ds4_chat_event *ev) {
    collect *c = user;
    switch (ev->type) {
    case DS4_EV_REASONING:
        if (c->content[0] || c->starts) c->bad_order = true;
        strncat(c->reasoning, ev->text, ev->len);
        break;
    case DS4_EV_CONTENT: strncat(c->content, ev->text, ev->len); break;
    case DS4_EV_TOOL_START:
        cr_assert_eq(ev->index, c->starts);
        snprintf(c->names[ev->index], 64, "%s", ev->name);
        c->starts++;
        break;
    case DS4_EV_TOOL_ARGS: strncat(c->args[ev->index], ev->text, ev->len); break;
    case DS4_EV_TOOL_END: c->ends++; break;
    }
}

/* Feeds s in pieces of `step` bytes, checking that no marker fragment ever
 * leaks into reasoning/content events. */
static void stream(const char *s, size_t step, bool thinking, bool tools, collect *c,
                   ds4_chat_parsed *fin, bool *done) {
    memset(c, 0, sizeof *c);
    ds4_chat_parse_opts o = {.thinking = thinking, .tools = tools};
    ds4_chat_stream *st = ds4_chat_stream_new(&o, on_event, c);
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i += step) {
        ds4_chat_stream_feed(st, s + i, i + step <= n ? step : n - i);
        cr_assert_null(strstr(c->reasoning, "</thi"), "reasoning leaked a marker: %s", c->reasoning);
        cr_assert_null(strstr(c->content, "<｜DSML"), "content leaked a marker");
        /* no content/reasoning event ever carries half a character */
        size_t cl = strlen(c->content);
        if (cl) cr_assert((c->content[cl - 1] & 0xC0) != 0xC0);
    }
    if (done) *done = ds4_chat_stream_tools_done(st);
    ds4_chat_stream_finish(st, fin);
    ds4_chat_stream_free(st);
    cr_assert_not(c->bad_order);
}

Test(chat_stream, example_c_every_split) {
    for (size_t step = 1; step <= 23; step++) {
        collect c;
        ds4_chat_parsed fin;
        bool done;
        stream(EX_C_OUT, step, true, true, &c, &fin, &done);
        cr_assert(done, "step %zu: tool block end not detected", step);
        cr_assert_str_eq(c.reasoning, "Need the file.");
        cr_assert_str_eq(c.content, "", "step %zu: content '%s'", step, c.content);
        cr_assert_eq(c.starts, 1);
        cr_assert_eq(c.ends, 1);
        cr_assert_str_eq(c.names[0], "read_file");
        cr_assert_str_eq(c.args[0], "{\"path\":\"a.c\",\"max_lines\":5}");
        cr_assert_str_eq(fin.calls[0].arguments, c.args[0]);
        ds4_chat_parsed_free(&fin);
    }
}

Test(chat_stream, reasoning_then_content_utf8) {
    const char *s = "<think>Ragiono… 日本語</think>Risposta: è così 🎉.";
    for (size_t step = 1; step <= 9; step++) {
        collect c;
        ds4_chat_parsed fin;
        stream(s, step, true, false, &c, &fin, NULL);
        cr_assert_str_eq(c.reasoning, "Ragiono… 日本語");
        cr_assert_str_eq(c.content, "Risposta: è così 🎉.");
        ds4_chat_parsed_free(&fin);
    }
}

Test(chat_stream, unclosed_reasoning_streams_as_reasoning) {
    collect c;
    ds4_chat_parsed fin;
    stream("thinking hard", 3, true, false, &c, &fin, NULL);
    cr_assert_str_eq(c.reasoning, "thinking hard");
    cr_assert_str_eq(fin.content, "thinking hard"); /* final parse: content (⚠) */
    ds4_chat_parsed_free(&fin);
}

Test(chat_stream, content_with_lt_and_whitespace_flushes) {
    collect c;
    ds4_chat_parsed fin;
    stream("if a < b then  \n", 2, false, true, &c, &fin, NULL);
    cr_assert_str_eq(c.content, "if a < b then  \n");
    ds4_chat_parsed_free(&fin);
}

Test(chat_stream, string_bodies_entities_and_two_calls) {
    const char *s = "Running.\n\n<｜DSML｜tool_calls>\n"
                    "<｜DSML｜invoke name=\"sh\">\n"
                    "<｜DSML｜parameter name=\"cmd\" string=\"true\">ls &amp;&amp; echo \"hi\" &lt;/｜DSML｜parameter> ü\tz</｜DSML｜parameter>\n"
                    "<｜DSML｜parameter name=\"v\" string=\"false\">\n  [1, {\"x\": null}]\n</｜DSML｜parameter>\n"
                    "<｜DSML｜parameter name=\"e\" string=\"false\"></｜DSML｜parameter>\n"
                    "</｜DSML｜invoke>\n"
                    "<｜DSML｜invoke name=\"second\">\n"
                    "<｜DSML｜parameter name=\"o\">\n<｜DSML｜parameter name=\"k\" string=\"true\">v</｜DSML｜parameter>\n</｜DSML｜parameter>\n"
                    "</｜DSML｜invoke>\n"
                    "</｜DSML｜tool_calls>";
    for (size_t step = 1; step <= 17; step += 4) {
        collect c;
        ds4_chat_parsed fin;
        bool done;
        stream(s, step, false, true, &c, &fin, &done);
        cr_assert(done);
        cr_assert_str_eq(c.content, "Running.");
        cr_assert_eq(c.starts, 2);
        cr_assert_eq(c.ends, 2);
        cr_assert_str_eq(c.args[0], "{\"cmd\":\"ls && echo \\\"hi\\\" </｜DSML｜parameter> ü\\tz\",\"v\":[1, {\"x\": null}],\"e\":null}");
        /* the nested object cannot be projected live: it comes from the final parse */
        cr_assert_str_eq(c.names[1], "second");
        cr_assert_str_eq(c.args[1], "{\"o\":{\"k\":\"v\"}}");
        cr_assert_eq(fin.n_calls, 2);
        ds4_chat_parsed_free(&fin);
    }
}

Test(chat_stream, unterminated_block_becomes_content) {
    collect c;
    ds4_chat_parsed fin;
    bool done;
    stream("a <｜DSML｜tool_calls>\n<｜DSML｜inv", 5, false, true, &c, &fin, &done);
    cr_assert_not(done);
    cr_assert_str_eq(c.content, "a<｜DSML｜tool_calls>\n<｜DSML｜inv");
    cr_assert(fin.invalid_tool_call);
    ds4_chat_parsed_free(&fin);
}

Test(chat_stream, dsml_in_reasoning_streams_as_reasoning) {
    const char *s = "plan: <｜DSML｜tool_calls> maybe</think>Just text.";
    for (size_t step = 1; step <= 11; step += 5) {
        collect c;
        ds4_chat_parsed fin;
        bool done;
        stream(s, step, true, true, &c, &fin, &done);
        cr_assert_not(done);
        cr_assert_eq(c.starts, 0);
        cr_assert_str_eq(c.reasoning, "plan: <｜DSML｜tool_calls> maybe");
        cr_assert_str_eq(c.content, "Just text.");
        cr_assert_eq(fin.n_calls, 0);
        ds4_chat_parsed_free(&fin);
    }
}

Test(chat_stream, in_tool_block_and_feed_after_done) {
    collect c;
    memset(&c, 0, sizeof c);
    ds4_chat_parse_opts o = {.thinking = false, .tools = true};
    ds4_chat_stream *st = ds4_chat_stream_new(&o, on_event, &c);
    const char *a = "ok <｜DSML｜tool_calls><｜DSML｜invoke name=\"f\">";
    ds4_chat_stream_feed(st, a, strlen(a));
    cr_assert(ds4_chat_stream_in_tool_block(st));
    cr_assert_not(ds4_chat_stream_tools_done(st));
    const char *b = "</｜DSML｜invoke></｜DSML｜tool_calls>";
    ds4_chat_stream_feed(st, b, strlen(b));
    cr_assert(ds4_chat_stream_tools_done(st));
    ds4_chat_stream_feed(st, "ignored", 7); /* generation stops at the end marker */
    size_t n;
    ds4_chat_stream_text(st, &n);
    cr_assert_eq(n, strlen(a) + strlen(b));
    ds4_chat_parsed fin;
    ds4_chat_stream_finish(st, &fin);
    ds4_chat_stream_free(st);
    cr_assert_str_eq(c.content, "ok");
    cr_assert_eq(c.starts, 1);
    cr_assert_str_eq(c.args[0], "{}");
    cr_assert_eq(fin.n_calls, 1);
    ds4_chat_parsed_free(&fin);
}
