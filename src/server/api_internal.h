/* Helpers shared by the reply builders (server-internal). */
#ifndef DS4_SERVER_API_INTERNAL_H
#define DS4_SERVER_API_INTERNAL_H

#include <jansson.h>
#include <string.h>

#include "server/api.h"

/* A JSON string from bytes that may not be valid UTF-8 (invalid bytes become U+FFFD). */
json_t *srv_jstrn(const char *s, size_t n);
static inline json_t *srv_jstr(const char *s) { return srv_jstrn(s ? s : "", s ? strlen(s) : 0); }
/* Serializes and frees v. */
char *srv_jdump(json_t *v);
/* Arguments text -> a JSON object for Anthropic tool_use input; text that is
 * not an object is kept under "arguments" rather than dropped. */
json_t *srv_args_value(const char *args);
json_t *srv_usage_json(srv_api api, const srv_usage *u);
const char *srv_finish_openai(srv_finish f);
const char *srv_finish_anthropic(srv_finish f, const char *stop_seq);
/* Reasoning/content to report: a thinking turn cut before </think> keeps its
 * text as reasoning (ds4 reports it as content; we do not). */
void srv_split_reasoning(const srv_request *r, const ds4_chat_parsed *p, const char **reasoning,
                         const char **content);
void srv_random_hex(char *out, int ndigits);

/* Responses API objects, shared by the complete reply and the stream. */
json_t *srv_responses_object(const srv_request *r, const srv_reply_ids *ids, const ds4_chat_parsed *p,
                             const char *const *call_ids, srv_finish f, const srv_usage *u, bool final);
json_t *srv_responses_item_message(const srv_reply_ids *ids, const char *text, const char *status);
json_t *srv_responses_item_reasoning(const srv_reply_ids *ids, const char *text, const char *status);
json_t *srv_responses_item_call(const char *call_id, const char *name, const char *args, const char *status);
/* fc_<24 hex> derived from the call id, so the stream and the final object agree. */
void srv_responses_fc_id(const char *call_id, char out[40]);

#endif
