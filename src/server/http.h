/* HTTP/1.1 transport over libmicrohttpd: one thread per connection, the
 * request body collected up to a size limit, and either a complete response
 * or a server-sent-events stream fed through an srv_stream. The handler runs
 * in the connection's thread and may block (it waits for its generation). */
#ifndef DS4_SERVER_HTTP_H
#define DS4_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "server/stream.h"

typedef struct srv_http_req {
    const char *method;
    const char *path;          /* without the query string */
    const char *body;          /* NUL-terminated copy; NULL when too_large */
    size_t body_len;
    bool too_large;            /* body exceeded the limit: answer 413 */
    const char *authorization; /* header values or NULL */
    const char *x_api_key;
    int fd;                    /* the client socket, to notice a disconnect (poll only) */
} srv_http_req;

typedef struct srv_http_resp {
    int status;
    const char *content_type;  /* default application/json */
    char *body;                /* malloc'd; the transport frees it */
    size_t body_len;
    srv_stream *stream;        /* when set: an SSE response; the transport owns this reference */
} srv_http_resp;

typedef void (*srv_handler)(void *user, const srv_http_req *req, srv_http_resp *resp);

typedef struct srv_http srv_http;

typedef struct srv_http_opts {
    const char *host;          /* IPv4 address to bind, e.g. 127.0.0.1 */
    int port;                  /* 0 picks a free port */
    size_t max_body;
    bool cors;
    int keepalive_ms;          /* SSE comment after this much silence */
} srv_http_opts;

srv_http *srv_http_start(const srv_http_opts *o, srv_handler h, void *user, ds4_error *err);
int srv_http_port(const srv_http *h);
void srv_http_stop(srv_http *h);

/* Sets resp to a JSON body (takes ownership of body). */
void srv_resp_json(srv_http_resp *resp, int status, char *body);

#endif
