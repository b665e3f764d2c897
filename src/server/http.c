#include "server/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct srv_http {
    struct MHD_Daemon *d;
    atomic_int in_flight; /* requests between their first byte and their completion */
    srv_handler handler;
    void *user;
    srv_http_opts o;
    int port;
};

/* Per-request upload state (MHD's con_cls). */
typedef struct upload {
    char *buf;
    size_t len, cap;
    size_t seen;        /* bytes received, counted even past the limit */
    bool too_large;
} upload;

/* Past the limit the body is still read (and dropped) so the client gets a
 * clean 413 rather than a reset; beyond this much extra it is cut off. */
#define DISCARD_SLACK ((size_t)64 << 20)

void srv_resp_json(srv_http_resp *resp, int status, char *body) {
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = body;
    resp->body_len = body ? strlen(body) : 0;
}

static void add_common_headers(srv_http *h, struct MHD_Response *r, const char *ctype) {
    if (ctype) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (h->o.cors) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        MHD_add_response_header(r, "Access-Control-Allow-Headers", "*");
    }
}

typedef struct sse_ctx {
    srv_stream *s;
    int keepalive_ms;
} sse_ctx;

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    sse_ctx *c = cls;
    for (;;) {
        ssize_t n = srv_stream_read(c->s, buf, max, c->keepalive_ms);
        if (n > 0) return n;
        if (n < 0) return MHD_CONTENT_READER_END_OF_STREAM;
        /* Silence (long prefill, queue wait): an SSE comment keeps proxies and
         * clients from timing out. */
        static const char ka[] = ": keepalive\n\n";
        if (max >= sizeof ka - 1) {
            memcpy(buf, ka, sizeof ka - 1);
            return (ssize_t)(sizeof ka - 1);
        }
    }
}

static void sse_free(void *cls) {
    sse_ctx *c = cls;
    srv_stream_cancel(c->s); /* the reader is gone: a still-running generation stops */
    srv_stream_release(c->s);
    free(c);
}

static enum MHD_Result send_resp(srv_http *h, struct MHD_Connection *conn, srv_http_resp *resp) {
    struct MHD_Response *r;
    if (resp->stream) {
        sse_ctx *c = ds4_xcalloc(1, sizeof *c);
        c->s = resp->stream;
        c->keepalive_ms = h->o.keepalive_ms > 0 ? h->o.keepalive_ms : 5000;
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, c, sse_free);
        if (!r) { sse_free(c); free(resp->body); return MHD_NO; }
        add_common_headers(h, r, "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
    } else {
        r = MHD_create_response_from_buffer(resp->body_len, resp->body ? resp->body : (char *)"",
                                            resp->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (!r) { free(resp->body); return MHD_NO; }
        add_common_headers(h, r, resp->body_len ? (resp->content_type ? resp->content_type : "application/json")
                                                : NULL);
    }
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    srv_http *h = cls;
    upload *u = *con_cls;
    if (!u) {
        u = ds4_xcalloc(1, sizeof *u);
        *con_cls = u;
        atomic_fetch_add(&h->in_flight, 1);
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        u->seen += n;
        if (u->seen > h->o.max_body) {
            u->too_large = true;
            free(u->buf);
            u->buf = NULL;
            u->len = u->cap = 0;
        } else {
            if (u->len + n + 1 > u->cap) {
                size_t cap = u->cap ? u->cap : 4096;
                while (cap < u->len + n + 1) cap *= 2;
                u->buf = ds4_xrealloc(u->buf, cap);
                u->cap = cap;
            }
            memcpy(u->buf + u->len, upload_data, n);
            u->len += n;
        }
        *upload_data_size = 0;
        if (u->seen <= h->o.max_body + DISCARD_SLACK) return MHD_YES;
        /* far too much: answer now, MHD closes the connection afterwards */
    }

    srv_http_req req = {0};
    req.method = method;
    req.path = url;
    req.too_large = u->too_large;
    if (!u->too_large) {
        if (!u->buf) u->buf = ds4_xcalloc(1, 1);
        u->buf[u->len] = 0;
        req.body = u->buf;
        req.body_len = u->len;
    }
    req.authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    req.x_api_key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-api-key");
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    req.fd = ci ? ci->connect_fd : -1;

    srv_http_resp resp = {.status = 500};
    if (!strcmp(method, "OPTIONS")) {
        resp.status = 204; /* CORS preflight */
    } else {
        h->handler(h->user, &req, &resp);
    }
    return send_resp(h, conn, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)conn; (void)toe;
    srv_http *h = cls;
    upload *u = *con_cls;
    if (!u) return;
    atomic_fetch_sub(&h->in_flight, 1);
    free(u->buf);
    free(u);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    fprintf(stderr, "ds4 serve: http: ");
    vfprintf(stderr, fmt, ap);
}

srv_http *srv_http_start(const srv_http_opts *o, srv_handler handler, void *user, ds4_error *err) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, o->host, &sa.sin_addr) != 1) {
        ds4_fail(err, "--host '%s' is not an IPv4 address", o->host);
        return NULL;
    }
    srv_http *h = ds4_xcalloc(1, sizeof *h);
    h->handler = handler;
    h->user = user;
    h->o = *o;
    h->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                                MHD_USE_ERROR_LOG,
                            (uint16_t)o->port, NULL, NULL, on_request, h,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
                            /* idle sockets only: MHD does not count time spent in our handler */
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
                            MHD_OPTION_END);
    if (!h->d) {
        ds4_fail(err, "cannot listen on %s:%d (address in use or not available)", o->host, o->port);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : o->port;
    return h;
}

int srv_http_port(const srv_http *h) { return h->port; }

void srv_http_stop(srv_http *h) {
    if (!h) return;
    /* Stop accepting, then let the responses already produced go out
     * (bounded: a client that does not read cannot hold the exit). */
    MHD_socket ls = MHD_quiesce_daemon(h->d);
    if (ls != MHD_INVALID_SOCKET) close(ls);
    for (int i = 0; i < 500 && atomic_load(&h->in_flight) > 0; i++) usleep(10 * 1000);
    MHD_stop_daemon(h->d);
    free(h);
}
