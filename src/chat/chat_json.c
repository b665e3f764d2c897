/* Conversation <-> JSON (OpenAI message shape), for /save and /load. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"

char *ds4_chat_to_json(const ds4_chat *c, const ds4_think_mode *think) {
    json_t *root = json_object();
    if (think) json_object_set_new(root, "think", json_string(ds4_think_name(*think)));
    json_t *msgs = json_array();
    for (int i = 0; i < c->n_msgs; i++) {
        const ds4_chat_msg *m = &c->msgs[i];
        json_t *o = json_object();
        json_object_set_new(o, "role", json_string(ds4_role_name(m->role)));
        json_object_set_new(o, "content", json_string(m->content));
        if (m->reasoning[0]) json_object_set_new(o, "reasoning_content", json_string(m->reasoning));
        if (m->n_calls) {
            json_t *calls = json_array();
            for (int k = 0; k < m->n_calls; k++) {
                json_t *fn = json_object();
                json_object_set_new(fn, "name", json_string(m->calls[k].name));
                json_object_set_new(fn, "arguments", json_string(m->calls[k].arguments));
                json_t *tc = json_object();
                if (m->calls[k].id) json_object_set_new(tc, "id", json_string(m->calls[k].id));
                json_object_set_new(tc, "type", json_string("function"));
                json_object_set_new(tc, "function", fn);
                json_array_append_new(calls, tc);
            }
            json_object_set_new(o, "tool_calls", calls);
        }
        if (m->tool_call_id) json_object_set_new(o, "tool_call_id", json_string(m->tool_call_id));
        json_array_append_new(msgs, o);
    }
    json_object_set_new(root, "messages", msgs);
    if (c->n_tools) {
        json_t *tools = json_array();
        for (int i = 0; i < c->n_tools; i++) {
            const ds4_chat_tool *t = &c->tools[i];
            json_t *v = NULL;
            if (t->schema_json) v = json_loads(t->schema_json, JSON_DECODE_ANY, NULL);
            if (!v) {
                v = json_object();
                json_object_set_new(v, "name", json_string(t->name ? t->name : ""));
                if (t->description) json_object_set_new(v, "description", json_string(t->description));
                json_t *p = t->parameters ? json_loads(t->parameters, JSON_DECODE_ANY, NULL) : NULL;
                if (p) json_object_set_new(v, "parameters", p);
            }
            json_array_append_new(tools, v);
        }
        json_object_set_new(root, "tools", tools);
    }
    char *s = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return s;
}

static const char *opt_str(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

bool ds4_chat_from_json(ds4_chat *c, const char *text, ds4_think_mode *think, ds4_error *err) {
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    if (!root) return ds4_fail(err, "conversation JSON: %s at line %d column %d", je.text, je.line, je.column);
    bool ok = false;
    ds4_chat tmp;
    ds4_chat_init(&tmp);
    json_t *msgs = json_object_get(root, "messages");
    if (!json_is_object(root) || !json_is_array(msgs)) {
        ds4_fail(err, "conversation JSON: missing \"messages\" array");
        goto done;
    }
    const char *th = opt_str(root, "think");
    if (think && th && !ds4_think_parse(th, think)) {
        ds4_fail(err, "conversation JSON: bad \"think\" value '%s'", th);
        goto done;
    }
    size_t i;
    json_t *o;
    json_array_foreach(msgs, i, o) {
        if (!json_is_object(o)) {
            ds4_fail(err, "conversation JSON: messages[%zu] is not an object", i);
            goto done;
        }
        const char *role_s = opt_str(o, "role");
        ds4_role role = DS4_ROLE_USER;
        if (role_s && !ds4_role_parse(role_s, &role)) {
            ds4_fail(err, "conversation JSON: messages[%zu]: unknown role '%s'", i, role_s);
            goto done;
        }
        json_t *content = json_object_get(o, "content");
        if (content && !json_is_string(content) && !json_is_null(content)) {
            ds4_fail(err, "conversation JSON: messages[%zu].content is not a string", i);
            goto done;
        }
        ds4_chat_msg *m = ds4_chat_add(&tmp, role, json_string_value(content));
        ds4_chat_msg_set_reasoning(m, opt_str(o, "reasoning_content"));
        if (opt_str(o, "tool_call_id")) ds4_chat_msg_set_tool_call_id(m, opt_str(o, "tool_call_id"));
        json_t *calls = json_object_get(o, "tool_calls");
        size_t k;
        json_t *tc;
        json_array_foreach(calls, k, tc) {
            json_t *fn = json_object_get(tc, "function");
            const char *name = opt_str(fn, "name");
            json_t *args = json_object_get(fn, "arguments");
            if (!name || !args) {
                ds4_fail(err, "conversation JSON: messages[%zu].tool_calls[%zu] lacks function.name/arguments", i, k);
                goto done;
            }
            char *a = json_is_string(args) ? NULL : json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
            ds4_chat_msg_add_call(m, opt_str(tc, "id"), name, a ? a : json_string_value(args));
            free(a);
        }
    }
    json_t *tools = json_object_get(root, "tools");
    json_array_foreach(tools, i, o) {
        char *s = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);
        ds4_chat_add_tool_raw(&tmp, s);
        free(s);
    }
    ds4_chat_free(c);
    *c = tmp;
    ds4_chat_init(&tmp);
    ok = true;
done:
    ds4_chat_free(&tmp);
    json_decref(root);
    return ok;
}
