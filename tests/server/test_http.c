/* The HTTP transport alone (no model): routing to a handler, the body limit
 * (413 after draining the body), the CORS preflight, SSE streaming with
 * keep-alive comments during silence, and a reader that goes away. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/http.h"
#include "server/sbuf.h"

typedef struct ctx {
    srv_stream *last_stream;
} ctx;

static void *writer(void *arg) {
    srv_stream *s = arg;
    usleep(250 * 1000); /* silence: the transport fills it with a comment */
    srv_stream_printf(s, "data: %s\n\n", "one");
    srv_stream_write(s, "data: [DONE]\n\n", 14);
    srv_stream_close(s);
    srv_stream_release(s);
    return NULL;
}

static void handler(void *user, const srv_http_req *req, srv_http_resp *resp) {
    (void)user;
    if (req->too_large) {
        srv_resp_json(resp, 413, ds4_xstrdup("{\"error\":\"too large\"}"));
        return;
    }
    if (!strcmp(req->path, "/sse")) {
        srv_stream *s = srv_stream_new();
        srv_stream_retain(s);
        pthread_t t;
        pthread_create(&t, NULL, writer, s);
        pthread_detach(t);
        resp->status = 200;
        resp->stream = s;
        return;
    }
    srv_buf b = {0};
    srv_buf_printf(&b, "{\"method\":\"%s\",\"path\":\"%s\",\"len\":%zu,\"fd\":%s}", req->method, req->path,
                   req->body_len, req->fd >= 0 ? "true" : "false");
    srv_resp_json(resp, 200, srv_buf_take(&b));
}

/* One request on a fresh connection; returns the whole response. */
static char *exchange(int port, const char *head, size_t body_len) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(write(fd, head, strlen(head)), (ssize_t)strlen(head));
    char chunk[65536];
    memset(chunk, 'x', sizeof chunk);
    for (size_t sent = 0; sent < body_len;) {
        size_t n = body_len - sent < sizeof chunk ? body_len - sent : sizeof chunk;
        ssize_t w = write(fd, chunk, n);
        if (w <= 0) break;
        sent += (size_t)w;
    }
    srv_buf out = {0};
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0) srv_buf_addn(&out, chunk, (size_t)n);
    close(fd);
    return srv_buf_take(&out);
}

static srv_http *start(bool cors) {
    srv_http_opts o = {.host = "127.0.0.1", .port = 0, .max_body = 1000, .cors = cors, .keepalive_ms = 100};
    ds4_error err;
    srv_http *h = srv_http_start(&o, handler, NULL, &err);
    cr_assert(h, "%s", err.msg);
    cr_assert_gt(srv_http_port(h), 0);
    return h;
}

Test(server_http, request_reaches_the_handler) {
    srv_http *h = start(false);
    char head[256];
    snprintf(head, sizeof head, "POST /v1/x?query=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nConnection: close\r\n\r\n");
    char *r = exchange(srv_http_port(h), head, 10);
    cr_assert(strstr(r, "HTTP/1.1 200"), "%s", r);
    cr_assert(strstr(r, "{\"method\":\"POST\",\"path\":\"/v1/x\",\"len\":10,\"fd\":true}"), "%s", r);
    cr_assert(strstr(r, "Content-Type: application/json"), "%s", r);
    cr_assert_null(strstr(r, "Access-Control-Allow-Origin"));
    free(r);
    srv_http_stop(h);
}

Test(server_http, body_over_the_limit_gets_413) {
    srv_http *h = start(false);
    const char *head = "POST /v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 300000\r\nConnection: close\r\n\r\n";
    char *r = exchange(srv_http_port(h), head, 300000);
    cr_assert(strstr(r, "HTTP/1.1 413"), "%s", r);
    free(r);
    srv_http_stop(h);
}

Test(server_http, cors_preflight_and_headers) {
    srv_http *h = start(true);
    char *r = exchange(srv_http_port(h), "OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0);
    cr_assert(strstr(r, "HTTP/1.1 204"), "%s", r);
    cr_assert(strstr(r, "Access-Control-Allow-Origin: *"), "%s", r);
    cr_assert(strstr(r, "Access-Control-Allow-Methods: GET, POST, OPTIONS"), "%s", r);
    free(r);
    r = exchange(srv_http_port(h), "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0);
    cr_assert(strstr(r, "Access-Control-Allow-Headers: *"), "%s", r);
    free(r);
    srv_http_stop(h);
}

Test(server_http, sse_stream_with_keepalive_comments) {
    srv_http *h = start(false);
    char *r = exchange(srv_http_port(h), "GET /sse HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0);
    cr_assert(strstr(r, "Content-Type: text/event-stream"), "%s", r);
    cr_assert(strstr(r, "Cache-Control: no-cache"), "%s", r);
    const char *ka = strstr(r, ": keepalive\n\n"), *one = strstr(r, "data: one\n\n"), *done = strstr(r, "data: [DONE]\n\n");
    cr_assert(ka && one && done && ka < one && one < done, "%s", r);
    free(r);
    srv_http_stop(h);
}

Test(server_http, stream_pipe_cancel_stops_the_writer) {
    srv_stream *s = srv_stream_new();
    cr_assert(srv_stream_write(s, "ab", 2));
    char buf[8];
    cr_assert_eq(srv_stream_read(s, buf, sizeof buf, 10), 2);
    cr_assert_eq(srv_stream_read(s, buf, sizeof buf, 10), 0); /* timeout: nothing yet */
    srv_stream_cancel(s);
    cr_assert(srv_stream_cancelled(s));
    cr_assert_not(srv_stream_write(s, "c", 1));
    cr_assert_eq(srv_stream_read(s, buf, sizeof buf, 10), -1);
    srv_stream_release(s);
}

Test(server_http, bad_host_is_reported) {
    srv_http_opts o = {.host = "localhost:x", .port = 0, .max_body = 10};
    ds4_error err;
    cr_assert_null(srv_http_start(&o, handler, NULL, &err));
    cr_assert(strstr(err.msg, "localhost:x"), "%s", err.msg);
}
