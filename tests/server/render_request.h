/* Shared by the server tests: the prompt a parsed request renders to (the
 * server's own rendering options: its think mode, a 32768-token context,
 * assistant prefill when the last message is the assistant's). */
#ifndef DS4_TESTS_SERVER_RENDER_REQUEST_H
#define DS4_TESTS_SERVER_RENDER_REQUEST_H

#include <criterion/criterion.h>

#include "chat/chat.h"
#include "server/api.h"

static inline char *render_request(const srv_request *r) {
    ds4_chat_render_opts o = {.think = r->think, .ctx = 32768, .continue_last = r->continue_last};
    ds4_error err;
    char *s = ds4_chat_render(&r->chat, &o, &err);
    cr_assert(s, "%s", err.msg);
    return s;
}

#endif
