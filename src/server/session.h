/* Session sources that continue the live KV after a tool-call turn
 * (chat-and-api.md §4.1 sources 2 and 3): the pure text logic, so tests
 * run it without a model. The worker keeps the binding (the call ids of
 * the turn that ended the live state) and evaluates what these return. */
#ifndef DS4_SERVER_SESSION_H
#define DS4_SERVER_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "server/api.h"

/* True when the conversation ends with a run of tool messages whose
 * tool_call_ids are exactly ids[0..n) (each once, in any order: clients
 * may return parallel results in a different order). */
bool srv_trailing_outputs_match(const ds4_chat *c, const char *const *ids, int n);

/* True when the conversation carries tool results and nothing else but
 * system text: it can only be served by continuing the live session. */
bool srv_outputs_only(const ds4_chat *c);

/* The text that follows the bound tool turn's EOS in the request's
 * rendering: `<｜User｜>` + the trailing results + the generation prefix.
 * The prompt must end with it (else NULL: the binding does not apply).
 * malloc'd; *out_len gets its length. */
char *srv_tool_output_tail(const srv_request *r, int ctx, const char *prompt, size_t prompt_len, size_t *out_len);

/* The Responses visible binding (§4.2, source 1): the text the next
 * request renders for the history up to and including this turn, as the
 * client saw it (reasoning only when it was exposed as a summary, the
 * calls with their ids and exact DSML), without the turn's EOS (never
 * evaluated, so the next prompt's suffix starts with it). NULL when the
 * rendering does not continue the evaluated prompt. reasoning/content are
 * what the reply reported; call_ids[i] the id of parsed call i.
 * malloc'd; *out_len gets its length. */
char *srv_responses_visible_text(const srv_request *r, int ctx, const char *prompt, size_t prompt_len,
                                 const ds4_chat_parsed *p, const char *reasoning, const char *content,
                                 const char *const *call_ids, size_t *out_len);

#endif
