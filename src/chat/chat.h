/* Chat layer: the conversation data model, rendering a conversation to the
 * DeepSeek V4 prompt text (chat-and-api.md §1) and parsing generated text
 * back into reasoning, content and DSML tool calls (§2), incrementally for
 * streaming and in one go for final replies.
 *
 * Everything here works on text. Special tokens (BOS, EOS, turn markers,
 * <think>, </think>, ｜DSML｜) appear in the rendered prompt as their literal
 * strings; the tokenizer matches them as single tokens. Strings are UTF-8,
 * NUL-terminated and owned by the structure that holds them (the setters
 * copy their arguments). */
#ifndef DS4_CHAT_H
#define DS4_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

/* ---- special token strings (chat-and-api.md §1.1) ---- */
#define DS4_TOK_BOS "<｜begin▁of▁sentence｜>"
#define DS4_TOK_EOS "<｜end▁of▁sentence｜>"
#define DS4_TOK_USER "<｜User｜>"
#define DS4_TOK_ASSISTANT "<｜Assistant｜>"
#define DS4_TOK_THINK "<think>"
#define DS4_TOK_END_THINK "</think>"
#define DS4_TOK_DSML "｜DSML｜"

/* The Think Max prefix (§1.2), inserted right after BOS; ends with "\n\n". */
extern const char ds4_chat_max_prefix[];
/* Contexts below this many tokens silently turn Think Max into high. */
#define DS4_THINK_MAX_MIN_CTX 393216

/* ---- conversation data model ---- */

typedef enum ds4_role {
    DS4_ROLE_SYSTEM = 0, /* also "developer" */
    DS4_ROLE_USER,
    DS4_ROLE_ASSISTANT,
    DS4_ROLE_TOOL,       /* also "function" */
} ds4_role;

typedef struct ds4_tool_call {
    char *id;        /* "call_..." (may be NULL) */
    char *name;
    char *arguments; /* JSON text, normally an object, e.g. {"path":"a.c"} */
} ds4_tool_call;

typedef struct ds4_chat_msg {
    ds4_role role;
    char *content;      /* never NULL ("" when empty) */
    char *reasoning;    /* assistant: reasoning_content; never NULL */
    ds4_tool_call *calls; /* assistant tool calls */
    int n_calls;
    char *tool_call_id; /* tool: the call this result answers (may be NULL) */
    /* assistant: the exact sampled DSML block (from "\n\n<｜DSML｜tool_calls>"
     * through the end tag) to replay verbatim instead of the canonical
     * rendering (§4.4); NULL = canonical. */
    char *raw_dsml;
} ds4_chat_msg;

/* A tool definition. The schema line of the Tools block (§1.4) is
 * `schema_json` verbatim when set (the client's raw `function` object,
 * minified); otherwise it is synthesized as
 * {"name":N,"description":D,"parameters":P} (description omitted when NULL,
 * parameters omitted when NULL). */
typedef struct ds4_chat_tool {
    char *name;
    char *description;  /* may be NULL */
    char *parameters;   /* JSON-schema text, may be NULL */
    char *schema_json;  /* may be NULL */
} ds4_chat_tool;

typedef struct ds4_chat {
    ds4_chat_msg *msgs;
    int n_msgs, cap_msgs;
    ds4_chat_tool *tools; /* active tool schemas (leave empty for tool_choice "none") */
    int n_tools, cap_tools;
} ds4_chat;

void ds4_chat_init(ds4_chat *c);
void ds4_chat_free(ds4_chat *c);   /* frees everything; c can be reused after ds4_chat_init */
void ds4_chat_clear(ds4_chat *c);  /* drops messages and tools */

/* Appends a message (content may be NULL = "") and returns it; the pointer is
 * valid until the next append. */
ds4_chat_msg *ds4_chat_add(ds4_chat *c, ds4_role role, const char *content);
void ds4_chat_msg_set_content(ds4_chat_msg *m, const char *content);
void ds4_chat_msg_set_reasoning(ds4_chat_msg *m, const char *reasoning);
void ds4_chat_msg_set_tool_call_id(ds4_chat_msg *m, const char *id);
void ds4_chat_msg_set_raw_dsml(ds4_chat_msg *m, const char *raw); /* NULL clears */
ds4_tool_call *ds4_chat_msg_add_call(ds4_chat_msg *m, const char *id, const char *name,
                                     const char *arguments);
/* Removes the last message (no-op when empty). */
void ds4_chat_pop(ds4_chat *c);

ds4_chat_tool *ds4_chat_add_tool(ds4_chat *c, const char *name, const char *description,
                                 const char *parameters_json);
ds4_chat_tool *ds4_chat_add_tool_raw(ds4_chat *c, const char *schema_json);

const char *ds4_role_name(ds4_role r);
/* "system"/"developer" -> SYSTEM, "user", "assistant", "tool"/"function";
 * false for anything else. */
bool ds4_role_parse(const char *s, ds4_role *out);

/* ---- rendering (§1) ---- */

typedef enum ds4_think_mode {
    DS4_THINK_NONE = 0,
    DS4_THINK_HIGH = 1,
    DS4_THINK_MAX = 2,
} ds4_think_mode;

/* Think Max needs ctx >= DS4_THINK_MAX_MIN_CTX; below it becomes high. */
ds4_think_mode ds4_chat_effective_think(ds4_think_mode mode, int ctx);
const char *ds4_think_name(ds4_think_mode m);            /* "none" "high" "max" */
bool ds4_think_parse(const char *s, ds4_think_mode *out); /* also on/off/true/false */

typedef struct ds4_chat_render_opts {
    ds4_think_mode think;  /* the mode as requested */
    int ctx;               /* context size for the Think Max gate (<= 0: no gate) */
    /* Keep the reasoning of every assistant turn (<think>R</think>) instead
     * of dropping it before the last user message. The interactive CLI uses
     * this so that a new turn's prompt extends the live transcript. */
    bool keep_reasoning;
    /* Prefill: when the last message is an assistant message, leave it
     * open for the model to continue: no EOS, no generation prefix. Its
     * think part is `<think>`+reasoning+(`</think>`+content when content
     * is non-empty or it has calls); in mode none, `</think>`+content. */
    bool continue_last;
    bool no_bos;           /* omit the BOS (the caller adds it as a token id) */
} ds4_chat_render_opts;

/* The full prompt text: BOS [MAXPREFIX] SYSTEM TURN* [GENPREFIX] (§1.3).
 * Fails (err names the message/tool index) on invalid tool schema JSON.
 * Returns a malloc'd string. */
char *ds4_chat_render(const ds4_chat *c, const ds4_chat_render_opts *opts, ds4_error *err);

/* True when the conversation has tool context (§1.3): active schemas, an
 * assistant message with calls, or a tool message. */
bool ds4_chat_has_tool_context(const ds4_chat *c);

/* The generation prefix alone for a mode ("<｜Assistant｜><think>" ...). */
const char *ds4_chat_genprefix(ds4_think_mode effective);

/* The Tools block (§1.4) for the conversation's tools; malloc'd, NULL with
 * err on bad schema JSON. Empty string when there are no tools. */
char *ds4_chat_render_tools_block(const ds4_chat *c, ds4_error *err);

/* Canonical DSML for an assistant message's calls (§1.5), starting with
 * "\n\n<｜DSML｜tool_calls>" and ending with "</｜DSML｜tool_calls>". */
char *ds4_chat_render_calls(const ds4_tool_call *calls, int n, ds4_error *err);

/* ---- conversation JSON (for /save, /load) ----
 * {"think":"high","messages":[{"role":"user","content":"..."},
 *   {"role":"assistant","content":"...","reasoning_content":"...",
 *    "tool_calls":[{"id":"...","type":"function","function":{"name":"...","arguments":"..."}}]},
 *   {"role":"tool","tool_call_id":"...","content":"..."}],
 *  "tools":[{...schema...}]}
 * (OpenAI message shape). `think` may be NULL on save / load. */
char *ds4_chat_to_json(const ds4_chat *c, const ds4_think_mode *think);
bool ds4_chat_from_json(ds4_chat *c, const char *json, ds4_think_mode *think, ds4_error *err);

/* ---- output parsing (§2) ---- */

typedef struct ds4_chat_parse_opts {
    /* The prompt ended with "<think>": the output starts as reasoning. */
    bool thinking;
    /* Tools active: DSML tool calls are recognised and content near a
     * possible marker is held back while streaming. */
    bool tools;
} ds4_chat_parse_opts;

typedef struct ds4_parsed_call {
    char *name;
    char *arguments; /* compact JSON object, generation order */
} ds4_parsed_call;

typedef struct ds4_chat_parsed {
    char *reasoning;   /* never NULL */
    char *content;     /* never NULL */
    ds4_parsed_call *calls;
    int n_calls;
    char *raw_dsml;    /* exact bytes of the tool block when calls were found, else NULL */
    bool thinking_closed; /* "</think>" was seen */
    bool invalid_tool_call; /* a tool block was found but was malformed: no calls,
                               the raw text stays in content (server logs it) */
} ds4_chat_parsed;

/* Final (non-streaming) parse of the whole generated text. With
 * opts->thinking, text before the first "</think>" is reasoning; if there is
 * none, the whole text is content (§2, ⚠). */
void ds4_chat_parse(const char *text, size_t len, const ds4_chat_parse_opts *opts,
                    ds4_chat_parsed *out);
void ds4_chat_parsed_free(ds4_chat_parsed *p);

/* Incremental parser for streaming. Feed the decoded text as it is
 * generated; events come through the callback. Held bytes (§2 "Stream
 * holds": partial UTF-8, the last 7 bytes of reasoning, content that might
 * start a tool marker, partial tags and entities inside parameter bodies)
 * are released once their role is known, or at finish. */
typedef enum ds4_chat_event_type {
    DS4_EV_REASONING,   /* text: a reasoning delta */
    DS4_EV_CONTENT,     /* text: a visible content delta */
    DS4_EV_TOOL_START,  /* index, name: a call header is complete */
    DS4_EV_TOOL_ARGS,   /* index, text: a fragment of the arguments JSON */
    DS4_EV_TOOL_END,    /* index: the call's arguments are complete */
} ds4_chat_event_type;

typedef struct ds4_chat_event {
    ds4_chat_event_type type;
    int index;          /* tool call index for TOOL_* */
    const char *name;   /* TOOL_START */
    const char *text;   /* deltas (not NUL-terminated; use len) */
    size_t len;
} ds4_chat_event;

typedef void (*ds4_chat_event_fn)(void *user, const ds4_chat_event *ev);

typedef struct ds4_chat_stream ds4_chat_stream;

ds4_chat_stream *ds4_chat_stream_new(const ds4_chat_parse_opts *opts, ds4_chat_event_fn fn,
                                     void *user);
void ds4_chat_stream_free(ds4_chat_stream *s);
void ds4_chat_stream_feed(ds4_chat_stream *s, const char *text, size_t len);
/* True once "</｜DSML｜tool_calls>" closed a tool block after </think>
 * (tools active): generation must stop now, without EOS (§1.7). */
bool ds4_chat_stream_tools_done(const ds4_chat_stream *s);
/* True while inside a tool block that has not been closed. */
bool ds4_chat_stream_in_tool_block(const ds4_chat_stream *s);
/* Flushes held bytes and, for calls the live projection could not stream,
 * emits them from the final parse. Fills `out` (may be NULL) with the final
 * parse of everything fed. */
void ds4_chat_stream_finish(ds4_chat_stream *s, ds4_chat_parsed *out);
/* Everything fed so far. */
const char *ds4_chat_stream_text(const ds4_chat_stream *s, size_t *len);

#endif
