/* The conversation data model: messages, tool calls and tool definitions. */
#include "chat/chat.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *dup_or_empty(const char *s) { return ds4_xstrdup(s ? s : ""); }
static char *dup_or_null(const char *s) { return s ? ds4_xstrdup(s) : NULL; }

void ds4_chat_init(ds4_chat *c) { memset(c, 0, sizeof *c); }

static void msg_free(ds4_chat_msg *m) {
    free(m->content);
    free(m->reasoning);
    for (int i = 0; i < m->n_calls; i++) {
        free(m->calls[i].id);
        free(m->calls[i].name);
        free(m->calls[i].arguments);
    }
    free(m->calls);
    free(m->tool_call_id);
    free(m->raw_dsml);
    memset(m, 0, sizeof *m);
}

static void tool_free(ds4_chat_tool *t) {
    free(t->name);
    free(t->description);
    free(t->parameters);
    free(t->schema_json);
    memset(t, 0, sizeof *t);
}

void ds4_chat_clear(ds4_chat *c) {
    for (int i = 0; i < c->n_msgs; i++) msg_free(&c->msgs[i]);
    for (int i = 0; i < c->n_tools; i++) tool_free(&c->tools[i]);
    c->n_msgs = 0;
    c->n_tools = 0;
}

void ds4_chat_free(ds4_chat *c) {
    ds4_chat_clear(c);
    free(c->msgs);
    free(c->tools);
    memset(c, 0, sizeof *c);
}

ds4_chat_msg *ds4_chat_add(ds4_chat *c, ds4_role role, const char *content) {
    if (c->n_msgs == c->cap_msgs) {
        c->cap_msgs = c->cap_msgs ? c->cap_msgs * 2 : 8;
        c->msgs = ds4_xrealloc(c->msgs, (size_t)c->cap_msgs * sizeof *c->msgs);
    }
    ds4_chat_msg *m = &c->msgs[c->n_msgs++];
    memset(m, 0, sizeof *m);
    m->role = role;
    m->content = dup_or_empty(content);
    m->reasoning = dup_or_empty(NULL);
    return m;
}

void ds4_chat_pop(ds4_chat *c) {
    if (c->n_msgs > 0) msg_free(&c->msgs[--c->n_msgs]);
}

void ds4_chat_msg_set_content(ds4_chat_msg *m, const char *content) {
    free(m->content);
    m->content = dup_or_empty(content);
}

void ds4_chat_msg_set_reasoning(ds4_chat_msg *m, const char *reasoning) {
    free(m->reasoning);
    m->reasoning = dup_or_empty(reasoning);
}

void ds4_chat_msg_set_tool_call_id(ds4_chat_msg *m, const char *id) {
    free(m->tool_call_id);
    m->tool_call_id = dup_or_null(id);
}

void ds4_chat_msg_set_raw_dsml(ds4_chat_msg *m, const char *raw) {
    free(m->raw_dsml);
    m->raw_dsml = dup_or_null(raw);
}

ds4_tool_call *ds4_chat_msg_add_call(ds4_chat_msg *m, const char *id, const char *name,
                                     const char *arguments) {
    m->calls = ds4_xrealloc(m->calls, (size_t)(m->n_calls + 1) * sizeof *m->calls);
    ds4_tool_call *tc = &m->calls[m->n_calls++];
    tc->id = dup_or_null(id);
    tc->name = dup_or_empty(name);
    tc->arguments = ds4_xstrdup(arguments ? arguments : "{}");
    return tc;
}

static ds4_chat_tool *tool_new(ds4_chat *c) {
    if (c->n_tools == c->cap_tools) {
        c->cap_tools = c->cap_tools ? c->cap_tools * 2 : 4;
        c->tools = ds4_xrealloc(c->tools, (size_t)c->cap_tools * sizeof *c->tools);
    }
    ds4_chat_tool *t = &c->tools[c->n_tools++];
    memset(t, 0, sizeof *t);
    return t;
}

ds4_chat_tool *ds4_chat_add_tool(ds4_chat *c, const char *name, const char *description,
                                 const char *parameters_json) {
    ds4_chat_tool *t = tool_new(c);
    t->name = dup_or_empty(name);
    t->description = dup_or_null(description);
    t->parameters = dup_or_null(parameters_json);
    return t;
}

ds4_chat_tool *ds4_chat_add_tool_raw(ds4_chat *c, const char *schema_json) {
    ds4_chat_tool *t = tool_new(c);
    t->schema_json = dup_or_empty(schema_json);
    return t;
}

const char *ds4_role_name(ds4_role r) {
    switch (r) {
    case DS4_ROLE_SYSTEM: return "system";
    case DS4_ROLE_USER: return "user";
    case DS4_ROLE_ASSISTANT: return "assistant";
    case DS4_ROLE_TOOL: return "tool";
    }
    return "unknown";
}

bool ds4_role_parse(const char *s, ds4_role *out) {
    if (!s) return false;
    if (!strcmp(s, "system") || !strcmp(s, "developer")) *out = DS4_ROLE_SYSTEM;
    else if (!strcmp(s, "user")) *out = DS4_ROLE_USER;
    else if (!strcmp(s, "assistant")) *out = DS4_ROLE_ASSISTANT;
    else if (!strcmp(s, "tool") || !strcmp(s, "function")) *out = DS4_ROLE_TOOL;
    else return false;
    return true;
}

ds4_think_mode ds4_chat_effective_think(ds4_think_mode mode, int ctx) {
    if (mode == DS4_THINK_MAX && ctx > 0 && ctx < DS4_THINK_MAX_MIN_CTX) return DS4_THINK_HIGH;
    return mode;
}

const char *ds4_think_name(ds4_think_mode m) {
    return m == DS4_THINK_NONE ? "none" : m == DS4_THINK_MAX ? "max" : "high";
}

bool ds4_think_parse(const char *s, ds4_think_mode *out) {
    if (!s) return false;
    if (!strcasecmp(s, "none") || !strcasecmp(s, "off") || !strcasecmp(s, "false") ||
        !strcasecmp(s, "no"))
        *out = DS4_THINK_NONE;
    else if (!strcasecmp(s, "high") || !strcasecmp(s, "on") || !strcasecmp(s, "true") ||
             !strcasecmp(s, "yes"))
        *out = DS4_THINK_HIGH;
    else if (!strcasecmp(s, "max"))
        *out = DS4_THINK_MAX;
    else
        return false;
    return true;
}
