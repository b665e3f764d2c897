/* The generated text's way out: stop strings, the chat output parser, and
 * either the SSE emitter (stream) or the complete reply (non-stream). The
 * worker feeds decoded text token by token; nothing here needs the model,
 * so tests drive it with fixed text. */
#ifndef DS4_SERVER_OUTPUT_H
#define DS4_SERVER_OUTPUT_H

#include "server/api.h"

typedef struct srv_output srv_output;

/* w == NULL: non-stream (the reply comes from srv_output_finish). */
srv_output *srv_output_new(const srv_request *r, const srv_reply_ids *ids, srv_write_fn w, void *user);
void srv_output_free(srv_output *o);

/* Stream: the opening events, once the prompt is evaluated. */
void srv_output_begin(srv_output *o, const srv_usage *u);
/* Decoded text of one token. Returns true when generation must stop now (a
 * stop string matched, or a tool block closed). */
bool srv_output_feed(srv_output *o, const char *text, size_t len);
/* True when the text so far already ends generation (an assistant prefill
 * that closes a tool block). */
bool srv_output_done(const srv_output *o);
/* True when a stop string ended the text. */
bool srv_output_stop_string(const srv_output *o);
/* Ends the reply. f is the worker's reason (stop at EOS, length, error); it
 * becomes tool_calls when calls were parsed. Returns the non-stream body
 * (malloc'd) or NULL for a stream. *final_finish gets the reported reason. */
char *srv_output_finish(srv_output *o, srv_finish f, const srv_usage *u, srv_finish *final_finish);
/* After finish: the final parse and the call ids used (for DSML replay). */
const ds4_chat_parsed *srv_output_parsed(const srv_output *o);
const char *srv_output_call_id(const srv_output *o, int i);
/* The thinking binding (chat-and-api.md §4.2): after a thinking turn without
 * tool context that closed its reasoning and ended at EOS, the next request
 * renders this turn as `<｜Assistant｜></think>`+content+EOS, dropping the
 * reasoning. Returns the prompt with its final `<think>` replaced by
 * `</think>`+content (EOS excluded: it was never evaluated, so the next
 * prompt's suffix starts with it), or NULL when the turn does not qualify.
 * Call after srv_output_finish; malloc'd. */
char *srv_output_visible_text(const srv_output *o, const char *prompt, size_t prompt_len, size_t *out_len);

/* All generated text after stop-string filtering. */
const char *srv_output_text(const srv_output *o, size_t *len);

#endif
