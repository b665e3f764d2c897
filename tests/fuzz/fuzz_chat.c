/* libFuzzer target for the chat layer: the input drives the streaming and
 * final output parsers (first byte: chunk size and flags) and, when it is a
 * conversation JSON, the renderer. Checks that streaming never loses or
 * invents reasoning/content bytes when tools are off. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"

#define CHECK(c)                                                                    \
    do {                                                                            \
        if (!(c)) {                                                                 \
            fprintf(stderr, "fuzz_chat: invariant failed: %s (line %d)\n", #c, __LINE__); \
            abort();                                                                \
        }                                                                           \
    } while (0)

typedef struct {
    char *r, *c;
    size_t rl, cl;
    int starts, ends;
} sink;

static void add(char **b, size_t *l, const char *t, size_t n) {
    *b = realloc(*b, *l + n + 1);
    memcpy(*b + *l, t, n);
    *l += n;
}

static void on_ev(void *u, const ds4_chat_event *ev) {
    sink *s = u;
    if (ev->type == DS4_EV_REASONING) add(&s->r, &s->rl, ev->text, ev->len);
    else if (ev->type == DS4_EV_CONTENT) add(&s->c, &s->cl, ev->text, ev->len);
    else if (ev->type == DS4_EV_TOOL_START) {
        s->starts++;
        CHECK(ev->name != NULL);
    }
    else if (ev->type == DS4_EV_TOOL_END) s->ends++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t ctl = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    size_t step = (ctl & 15) + 1;
    ds4_chat_parse_opts o = {.thinking = ctl & 16, .tools = ctl & 32};
    sink s = {0};
    ds4_chat_stream *st = ds4_chat_stream_new(&o, on_ev, &s);
    for (size_t i = 0; i < len; i += step) ds4_chat_stream_feed(st, text + i, i + step <= len ? step : len - i);
    ds4_chat_parsed fin;
    ds4_chat_stream_finish(st, &fin);
    ds4_chat_stream_free(st);
    CHECK(s.starts == s.ends);
    if (!o.tools) {
        /* reasoning [+ "</think>"] + content == the text minus one leading <think> */
        const char *t = text;
        size_t tl = len;
        if (o.thinking && tl >= 7 && !memcmp(t, "<think>", 7)) t += 7, tl -= 7;
        size_t want = s.rl + (fin.thinking_closed ? 8 : 0) + s.cl;
        CHECK(want == tl);
        CHECK(!s.rl || !memcmp(t, s.r, s.rl));
        CHECK(!s.cl || !memcmp(t + tl - s.cl, s.c, s.cl));
        CHECK(fin.n_calls == 0);
    }
    ds4_chat_parsed_free(&fin);
    free(s.r);
    free(s.c);

    /* Conversation JSON -> render -> JSON. */
    char *js = malloc(len + 1);
    memcpy(js, text, len);
    js[len] = 0;
    ds4_chat c;
    ds4_chat_init(&c);
    ds4_think_mode th = DS4_THINK_HIGH;
    if (ds4_chat_from_json(&c, js, &th, NULL)) {
        ds4_chat_render_opts ro = {.think = th, .ctx = ctl & 64 ? 0 : 4096, .continue_last = ctl & 128};
        char *p = ds4_chat_render(&c, &ro, NULL);
        free(p);
        char *back = ds4_chat_to_json(&c, &th);
        free(back);
    }
    ds4_chat_free(&c);
    free(js);
    return 0;
}
