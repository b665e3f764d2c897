/* libFuzzer target for ds4 serve's request handling: the first byte picks
 * the API (chat, completions, messages, responses), the rest is the body.
 * An accepted request is rendered to a prompt and a fixed generated text
 * (reasoning, content and a DSML tool block) goes through the full output
 * path, stream and non-stream, so parser, renderer and every emitter see the
 * request's options. A rejected one must name a 400 problem. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/output.h"

#define CHECK(c)                                                                          \
    do {                                                                                  \
        if (!(c)) {                                                                       \
            fprintf(stderr, "fuzz_server_request: invariant failed: %s (line %d)\n", #c, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

static const char gen[] = "plan it</think>Here.\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n"
                          "<｜DSML｜parameter name=\"a\" string=\"true\">x &amp; y</｜DSML｜parameter>\n"
                          "<｜DSML｜parameter name=\"b\" string=\"false\">[1,{\"c\":2}]</｜DSML｜parameter>\n"
                          "</｜DSML｜invoke>\n</｜DSML｜tool_calls>";

static size_t sink;
static void count(void *user, const char *data, size_t len) {
    (void)user;
    (void)data;
    sink += len;
}

static void run_output(const srv_request *r, bool stream) {
    srv_reply_ids ids;
    srv_reply_ids_init(&ids, r->api, 1);
    srv_output *o = srv_output_new(r, &ids, stream ? count : NULL, NULL);
    srv_usage u = {.prompt = 10, .cached = 3};
    srv_output_begin(o, &u);
    size_t n = sizeof gen - 1;
    for (size_t i = 0; i < n && !srv_output_done(o); i += 5) {
        u.completion++;
        if (srv_output_feed(o, gen + i, n - i < 5 ? n - i : 5)) break;
    }
    srv_finish f;
    char *body = srv_output_finish(o, SRV_FINISH_STOP, &u, &f);
    CHECK(stream == (body == NULL));
    if (body) sink += strlen(body);
    free(body);
    srv_output_free(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    srv_api api = (srv_api)(data[0] % 4);
    srv_request r;
    srv_err e;
    if (!srv_request_parse(api, (const char *)data + 1, size - 1, &r, &e)) {
        CHECK(e.status == 400);
        CHECK(e.msg[0] != 0);
        char *j = srv_error_json(api, api == SRV_API_MESSAGES, &e);
        CHECK(j && j[0] == '{');
        free(j);
        return 0;
    }
    CHECK(r.model != NULL);
    if (api != SRV_API_COMPLETIONS) {
        CHECK(r.chat.n_msgs > 0);
        ds4_chat_render_opts ro = {.think = r.think, .ctx = 4096, .continue_last = r.continue_last};
        ds4_error err;
        char *p = ds4_chat_render(&r.chat, &ro, &err);
        if (p) sink += strlen(p);
        free(p);
    } else {
        CHECK(r.prompt != NULL);
    }
    run_output(&r, false);
    run_output(&r, true);
    srv_request_free(&r);
    return 0;
}
