/* `ds4 serve`: the HTTP front (routing, auth, limits, request validation in
 * the connection threads) and one generation worker that owns the model's
 * live session, serving queued requests in FIFO order. */
#ifndef DS4_SERVER_SERVER_H
#define DS4_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "server/kvcache.h"

typedef struct srv_config {
    const char *model_path;
    const char *host;          /* IPv4, default 127.0.0.1 */
    int port;                  /* default 8000; 0 = any free port */
    int ctx;                   /* default 32768 */
    int threads;               /* <= 0: one per CPU */
    ds4_numerics numerics;     /* default official */
    ds4_weights_mode weights;  /* default auto */
    const char *api_key;       /* NULL: no auth */
    bool cors;
    size_t max_body;           /* bytes */
    int max_queue;             /* waiting requests beyond this get 429 */
    int tool_memory_max_ids;
    bool kv_enabled;
    kvc_opts kv;
    const char *trace_path;    /* NULL: no trace */
    const char *port_file;     /* write the bound port here once listening (tests) */
} srv_config;

void srv_config_defaults(srv_config *c);

/* Loads the model, listens, serves until SIGINT/SIGTERM; returns the exit status. */
int srv_run(const srv_config *c);

#endif
