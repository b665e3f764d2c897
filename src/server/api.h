/* The four HTTP APIs (OpenAI chat completions and completions, Anthropic
 * messages, OpenAI Responses): request parsing into one request model
 * (chat-and-api.md §1.6, §3.3), error bodies in each API's own shape, and
 * the reply builders, both complete JSON and server-sent-event streams
 * (§3.4-§3.8). Nothing here touches the model: the worker feeds generated
 * text through the chat parser and hands the events to a srv_emitter. */
#ifndef DS4_SERVER_API_H
#define DS4_SERVER_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat/chat.h"

typedef enum srv_api {
    SRV_API_CHAT = 0,     /* POST /v1/chat/completions */
    SRV_API_COMPLETIONS,  /* POST /v1/completions */
    SRV_API_MESSAGES,     /* POST /v1/messages */
    SRV_API_RESPONSES,    /* POST /v1/responses */
} srv_api;

#define SRV_MODEL_ID "deepseek-v4-flash"
#define SRV_MAX_STOPS 16

/* A problem with a request: HTTP status, message, and for OpenAI the
 * offending parameter and an error code. */
typedef struct srv_err {
    int status;
    char msg[512];
    const char *type;   /* NULL: invalid_request_error (or per-status default) */
    const char *param;  /* may be NULL */
    const char *code;   /* may be NULL */
    long n_prompt, n_ctx; /* context overflow details, when code is context_length_exceeded */
} srv_err;

bool srv_errf(srv_err *e, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Error body in the API's shape (OpenAI-style for chat/completions/
 * responses and non-API paths, Anthropic's for /v1/messages). malloc'd. */
char *srv_error_json(srv_api api, bool anthropic, const srv_err *e);

typedef struct srv_request {
    srv_api api;
    char *model;            /* echoed back; never NULL */
    bool stream;
    bool include_usage;     /* stream_options.include_usage */
    int max_tokens;         /* -1: as much as fits */
    float temperature, top_p, min_p;
    int top_k;
    uint64_t seed;          /* 0: time-based */
    char *stop[SRV_MAX_STOPS];
    int n_stop;
    ds4_chat chat;          /* conversation; tools only when active */
    bool tools_active;
    ds4_think_mode think;   /* requested mode (chat-style APIs) */
    bool continue_last;     /* the conversation ends with an assistant message: continue it */
    char *prompt;           /* completions: the raw prompt text */
    bool reasoning_summary; /* responses: expose reasoning as a summary item */
} srv_request;

/* Parses a request body for api. On failure fills e (status 400 and a
 * message naming the field) and returns false; r is then freed already. */
bool srv_request_parse(srv_api api, const char *body, size_t len, srv_request *r, srv_err *e);
void srv_request_free(srv_request *r);

/* Maps call ids to exact sampled DSML blocks (§4.4) so a replayed tool turn
 * renders byte-identical to what the model produced. Optional (may be NULL). */
typedef struct srv_dsml_memory srv_dsml_memory;
srv_dsml_memory *srv_dsml_memory_new(int max_ids);
void srv_dsml_memory_free(srv_dsml_memory *m);
void srv_dsml_memory_put(srv_dsml_memory *m, const char *id, const char *raw_dsml);
/* Sets raw_dsml on assistant messages whose every call id maps to one block.
 * Ids missing from memory are asked of the fallback (the disk cache's tool
 * maps), and what it finds is remembered. */
void srv_dsml_memory_apply(srv_dsml_memory *m, ds4_chat *c);
/* fallback(user, id): the block for id (malloc'd) or NULL. */
void srv_dsml_memory_set_fallback(srv_dsml_memory *m, char *(*fallback)(void *user, const char *id), void *user);
/* The remembered (id, block) pairs whose block occurs in text (the tool map
 * of a snapshot of that text). Returns the count; *ids and *blocks are
 * malloc'd arrays of malloc'd strings (free with srv_dsml_pairs_free). */
int srv_dsml_memory_collect(srv_dsml_memory *m, const char *text, size_t len, char ***ids, char ***blocks);
void srv_dsml_pairs_free(char **ids, char **blocks, int n);

/* ---- generation outcome ---- */

typedef enum srv_finish { SRV_FINISH_STOP, SRV_FINISH_LENGTH, SRV_FINISH_TOOLS, SRV_FINISH_ERROR } srv_finish;

typedef struct srv_usage {
    int prompt;     /* P: prompt tokens evaluated or reused */
    int cached;     /* K: reused from the live session or the disk cache */
    int completion; /* N: generated tokens, EOS excluded */
} srv_usage;

/* Reply-wide identity and clocks, filled once per request. */
typedef struct srv_reply_ids {
    char id[64];            /* chatcmpl-N / cmpl-N / msg_... / resp_... */
    long created;
    char msg_item_id[40];   /* responses: msg_... */
    char rs_item_id[40];    /* responses: rs_... */
} srv_reply_ids;

void srv_reply_ids_init(srv_reply_ids *ids, srv_api api, unsigned long counter);

/* A tool call id in the API's style: call_<32 hex> or toolu_<32 hex>. */
void srv_new_call_id(srv_api api, char out[48]);

/* ---- replies ---- */

typedef void (*srv_write_fn)(void *user, const char *data, size_t len);

/* Streams one reply. begin() goes out when generation starts; event() per
 * parser event; end() with the final parse (which it may complete with calls
 * the live projection did not stream), finish reason and usage. */
typedef struct srv_emitter srv_emitter;

srv_emitter *srv_emitter_new(const srv_request *r, const srv_reply_ids *ids, srv_write_fn w, void *user);
void srv_emitter_free(srv_emitter *em);
void srv_emitter_begin(srv_emitter *em, const srv_usage *u);
void srv_emitter_event(srv_emitter *em, const ds4_chat_event *ev);
void srv_emitter_raw(srv_emitter *em, const char *text, size_t len); /* completions: raw text delta */
void srv_emitter_end(srv_emitter *em, const ds4_chat_parsed *p, srv_finish f, const char *stop_seq,
                     const srv_usage *u);
/* A failure after the stream started (event: error). */
void srv_emitter_fail(srv_emitter *em, const char *message);
/* The call ids the stream assigned, by call index (NULL when not streamed). */
const char *srv_emitter_call_id(const srv_emitter *em, int index);

/* The complete (non-stream) reply body. raw: the unparsed generated text
 * (completions). call_ids may be NULL (fresh ids). malloc'd. */
char *srv_reply_json(const srv_request *r, const srv_reply_ids *ids, const char *raw, size_t raw_len,
                     const ds4_chat_parsed *p, const char *const *call_ids, srv_finish f, const char *stop_seq,
                     const srv_usage *u);

/* The /v1/models entry. */
char *srv_model_json(int ctx, bool list);

#endif
