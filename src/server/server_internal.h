/* State shared by the HTTP front (server.c) and the worker (worker.c). */
#ifndef DS4_SERVER_INTERNAL_H
#define DS4_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdio.h>

#include "engine/engine.h"
#include "server/api.h"
#include "server/kvcache.h"
#include "server/sbuf.h"
#include "server/server.h"
#include "server/stream.h"
#include "tokenizer/tokenizer.h"

enum { JOB_QUEUED = 0, JOB_DONE = 1 };

typedef struct srv_job {
    unsigned long n;           /* request number (logs) */
    srv_request req;
    char *prompt;              /* rendered prompt text */
    size_t prompt_len;
    ds4_tokens tokens;         /* its full tokenization */
    int user_mark;             /* last <｜User｜> before the first <｜Assistant｜>, or -1 */
    srv_reply_ids ids;
    srv_stream *stream;        /* SSE, or NULL */
    int fd;                    /* dup of the client socket, for disconnect checks */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int phase;
    int status;                /* when done (or failed before starting) */
    char *body;
    int refs;
    struct srv_job *next;
} srv_job;

typedef struct srv_state {
    srv_config cfg;
    ds4_model *model;
    ds4_tokenizer *tok;
    ds4_session *session;
    int n_vocab;
    int32_t eos, user_id, assistant_id;
    /* the live session: exactly these tokens / this text are in its KV */
    ds4_tokens live;
    srv_buf live_text;
    float *logits;             /* next-token logits of the live state */
    bool have_logits;
    bool live_visible;         /* live_text is a thinking-visible transcript (§4.2): the KV also
                                  holds the hidden reasoning of the last turn */
    /* The call binding (§4.2): the ids of the tool calls the live turn made
     * (Responses and Anthropic), valid while the live state still ends at
     * that turn's closed tool block (live.n == bound_at). */
    char **bound_ids;
    int n_bound_ids;
    srv_api bound_api;
    size_t bound_at;
    /* The Responses visible binding (§4.2): what the next request renders
     * for the history through the live turn (its hidden reasoning left out),
     * valid while live.n == visible_at. */
    srv_buf resp_visible;
    size_t visible_at;
    kvc *kv;
    srv_dsml_memory *dsml;
    FILE *trace;
    pthread_mutex_t trace_mu;

    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    srv_job *head, *tail;
    int queued;
    bool busy;
    bool stopping;             /* shutdown: no new work */
    unsigned long counter;
    pthread_t worker;
} srv_state;

void srv_job_release(srv_job *j);
/* Marks the job done with a complete response. */
void srv_job_finish(srv_job *j, int status, char *body);
bool srv_job_client_gone(srv_job *j);

void *srv_worker_main(void *arg);
/* Drops the call binding (also on shutdown, to free it). */
void srv_worker_unbind_calls(srv_state *st);
/* Shutdown snapshot of the live session (disk cache policy "shutdown"). */
void srv_worker_save_shutdown(srv_state *st);

#endif
