/* Request bodies of the four APIs -> srv_request (chat-and-api.md §1.6, §3.3). */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api.h"
#include "server/sbuf.h"

bool srv_errf(srv_err *e, int status, const char *fmt, ...) {
    if (!e) return false;
    memset(e, 0, sizeof *e);
    e->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return false;
}

void srv_request_free(srv_request *r) {
    free(r->model);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    ds4_chat_free(&r->chat);
    free(r->prompt);
    memset(r, 0, sizeof *r);
}

/* ---- small JSON helpers ---- */

static char *dump_compact(const json_t *v) {
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    return s ? s : ds4_xstrdup("null");
}

/* A numeric field: absent/null leaves *out; wrong type is an error. */
static bool get_num(json_t *o, const char *key, double *out, bool *present, srv_err *e) {
    json_t *v = json_object_get(o, key);
    if (present) *present = false;
    if (!v || json_is_null(v)) return true;
    if (!json_is_number(v)) return srv_errf(e, 400, "'%s' must be a number", key);
    *out = json_number_value(v);
    if (present) *present = true;
    return true;
}

static bool get_bool(json_t *o, const char *key, bool *out, bool *present, srv_err *e) {
    json_t *v = json_object_get(o, key);
    if (present) *present = false;
    if (!v || json_is_null(v)) return true;
    if (!json_is_boolean(v)) return srv_errf(e, 400, "'%s' must be a boolean", key);
    *out = json_is_true(v);
    if (present) *present = true;
    return true;
}

static bool get_limit(json_t *o, const char *key, int *out, srv_err *e) {
    double d = 0;
    bool have = false;
    if (!get_num(o, key, &d, &have, e)) return false;
    if (!have) return true;
    if (d < 1 || d > 1e9 || d != (double)(long)d) return srv_errf(e, 400, "'%s' must be a positive integer", key);
    *out = (int)d;
    return true;
}

/* Text of a content value: a string, null, or an array of blocks of which the
 * text ones count (images and other parts are dropped, §1.6). */
static bool content_text(json_t *v, const char *what, srv_buf *out, srv_err *e) {
    if (!v || json_is_null(v)) return true;
    if (json_is_string(v)) {
        srv_buf_addn(out, json_string_value(v), json_string_length(v));
        return true;
    }
    if (!json_is_array(v)) return srv_errf(e, 400, "%s must be a string or an array of content parts", what);
    size_t i;
    json_t *part;
    bool first = true;
    json_array_foreach(v, i, part) {
        if (json_is_string(part)) {
            if (!first) srv_buf_add(out, "\n");
            srv_buf_addn(out, json_string_value(part), json_string_length(part));
            first = false;
            continue;
        }
        if (!json_is_object(part)) return srv_errf(e, 400, "%s[%zu] must be an object", what, i);
        json_t *t = json_object_get(part, "text");
        if (!json_is_string(t)) continue;
        const char *type = json_string_value(json_object_get(part, "type"));
        if (type && strcmp(type, "text") && strcmp(type, "input_text") && strcmp(type, "output_text")) continue;
        if (!first) srv_buf_add(out, "\n");
        srv_buf_addn(out, json_string_value(t), json_string_length(t));
        first = false;
    }
    return true;
}

/* ---- thinking controls (§3.3) ---- */

static bool effort_mode(json_t *v, const char *what, bool *set, ds4_think_mode *m, srv_err *e) {
    if (!v || json_is_null(v)) return true;
    const char *s = json_string_value(v);
    if (!s) return srv_errf(e, 400, "%s must be a string", what);
    if (!strcmp(s, "max")) *m = DS4_THINK_MAX;
    else if (!strcmp(s, "xhigh") || !strcmp(s, "high") || !strcmp(s, "medium") || !strcmp(s, "low") ||
             !strcmp(s, "minimal"))
        *m = DS4_THINK_HIGH;
    else if (!strcmp(s, "none")) *m = DS4_THINK_NONE;
    else return srv_errf(e, 400, "%s '%s' is not one of max, xhigh, high, medium, low, minimal, none", what, s);
    *set = true;
    return true;
}

/* `thinking`: true/false or {"type":"enabled"|"disabled"|"adaptive"}. */
static bool thinking_field(json_t *v, bool *set, ds4_think_mode *m, srv_err *e) {
    if (!v || json_is_null(v)) return true;
    if (json_is_boolean(v)) {
        *m = json_is_true(v) ? DS4_THINK_HIGH : DS4_THINK_NONE;
        *set = true;
        return true;
    }
    if (!json_is_object(v)) return srv_errf(e, 400, "'thinking' must be a boolean or an object");
    const char *t = json_string_value(json_object_get(v, "type"));
    if (!t) return srv_errf(e, 400, "'thinking.type' must be a string");
    if (!strcmp(t, "enabled") || !strcmp(t, "adaptive")) *m = DS4_THINK_HIGH;
    else if (!strcmp(t, "disabled")) *m = DS4_THINK_NONE;
    else return srv_errf(e, 400, "'thinking.type' '%s' is not enabled or disabled", t);
    *set = true;
    return true;
}

static ds4_think_mode model_default_think(const char *model) {
    if (model && !strcmp(model, "deepseek-chat")) return DS4_THINK_NONE;
    return DS4_THINK_HIGH;
}

/* ---- common sampling fields ---- */

static bool sampling_fields(json_t *o, srv_request *r, bool top_k, bool min_p_seed, srv_err *e) {
    double d;
    bool have;
    d = r->temperature;
    if (!get_num(o, "temperature", &d, &have, e)) return false;
    if (have && (d < 0 || d > 100)) return srv_errf(e, 400, "'temperature' must be between 0 and 100");
    r->temperature = (float)d;
    d = r->top_p;
    if (!get_num(o, "top_p", &d, &have, e)) return false;
    r->top_p = (d > 0 && d <= 1) ? (float)d : 1.0f;
    if (top_k) {
        d = 0;
        if (!get_num(o, "top_k", &d, &have, e)) return false;
        if (have && d < 0) return srv_errf(e, 400, "'top_k' must not be negative");
        r->top_k = d > 1024 ? 1024 : (int)d;
    }
    if (min_p_seed) {
        d = r->min_p;
        if (!get_num(o, "min_p", &d, &have, e)) return false;
        r->min_p = d < 0 ? 0.0f : d > 1 ? 1.0f : (float)d;
        d = 0;
        if (!get_num(o, "seed", &d, &have, e)) return false;
        r->seed = d > 0 && d < 1.8e19 ? (uint64_t)d : 0;
    }
    return true;
}

static bool stop_field(json_t *o, const char *key, srv_request *r, srv_err *e) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return true;
    if (json_is_string(v)) {
        if (json_string_length(v)) r->stop[r->n_stop++] = ds4_xstrdup(json_string_value(v));
        return true;
    }
    if (!json_is_array(v)) return srv_errf(e, 400, "'%s' must be a string or an array of strings", key);
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s) {
        if (!json_is_string(s)) return srv_errf(e, 400, "'%s[%zu]' must be a string", key, i);
        if (!json_string_length(s)) continue;
        if (r->n_stop == SRV_MAX_STOPS) return srv_errf(e, 400, "'%s' has more than %d entries", key, SRV_MAX_STOPS);
        r->stop[r->n_stop++] = ds4_xstrdup(json_string_value(s));
    }
    return true;
}

/* ---- tools ---- */

/* tool_choice "none" (or {"type":"none"}) hides the tools; for Responses only
 * auto/none are accepted. */
static bool tool_choice_none(json_t *o, srv_api api, bool *none, srv_err *e) {
    json_t *tc = json_object_get(o, "tool_choice");
    *none = false;
    if (!tc || json_is_null(tc)) return true;
    const char *s = json_string_value(tc);
    if (!s && json_is_object(tc)) s = json_string_value(json_object_get(tc, "type"));
    if (s && !strcmp(s, "none")) { *none = true; return true; }
    if (api == SRV_API_RESPONSES) {
        if (s && !strcmp(s, "auto")) return true;
        if (json_is_object(tc)) return srv_errf(e, 400, "forced tool_choice not supported");
        return srv_errf(e, 400, "tool_choice=%s not supported", s ? s : "?");
    }
    return true;
}

static bool parse_tools(json_t *o, srv_request *r, srv_err *e) {
    json_t *tools = json_object_get(o, "tools");
    if (!tools || json_is_null(tools)) return true;
    if (!json_is_array(tools)) return srv_errf(e, 400, "'tools' must be an array");
    bool none;
    if (!tool_choice_none(o, r->api, &none, e)) return false;
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        if (!json_is_object(t)) return srv_errf(e, 400, "'tools[%zu]' must be an object", i);
        json_t *fn = json_object_get(t, "function");
        if (r->api == SRV_API_RESPONSES) {
            const char *type = json_string_value(json_object_get(t, "type"));
            if (type && strcmp(type, "function")) continue; /* hosted tools are not offered to the model */
            const char *name = json_string_value(json_object_get(t, "name"));
            if (!name) return srv_errf(e, 400, "'tools[%zu].name' must be a string", i);
            if (none) continue;
            json_t *params = json_object_get(t, "parameters");
            char *p = params ? dump_compact(params) : NULL;
            ds4_chat_add_tool(&r->chat, name, json_string_value(json_object_get(t, "description")), p);
            free(p);
        } else {
            json_t *schema = json_is_object(fn) ? fn : t;
            if (!json_is_string(json_object_get(schema, "name")))
                return srv_errf(e, 400, "'tools[%zu]%s.name' must be a string", i, schema == fn ? ".function" : "");
            if (none) continue;
            char *s = dump_compact(schema);
            ds4_chat_add_tool_raw(&r->chat, s);
            free(s);
        }
    }
    r->tools_active = r->chat.n_tools > 0;
    return true;
}

/* Call arguments may arrive as a JSON string or as an object. */
static char *arguments_text(json_t *a) {
    if (json_is_string(a)) return ds4_xstrdup(json_string_value(a));
    return dump_compact(a);
}

/* ---- OpenAI chat messages ---- */

static bool openai_messages(json_t *msgs, srv_request *r, srv_err *e) {
    if (!msgs || json_is_null(msgs)) return srv_errf(e, 400, "missing messages");
    if (!json_is_array(msgs)) return srv_errf(e, 400, "'messages' must be an array");
    if (!json_array_size(msgs)) return srv_errf(e, 400, "'messages' must not be empty");
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        if (!json_is_object(m)) return srv_errf(e, 400, "'messages[%zu]' must be an object", i);
        json_t *rv = json_object_get(m, "role");
        ds4_role role = DS4_ROLE_USER;
        if (rv && !json_is_null(rv)) {
            if (!json_is_string(rv)) return srv_errf(e, 400, "'messages[%zu].role' must be a string", i);
            if (!ds4_role_parse(json_string_value(rv), &role))
                return srv_errf(e, 400, "'messages[%zu].role' '%s' is not system, developer, user, assistant or tool",
                                i, json_string_value(rv));
        }
        char what[64];
        snprintf(what, sizeof what, "'messages[%zu].content'", i);
        srv_buf text = {0};
        if (!content_text(json_object_get(m, "content"), what, &text, e)) { srv_buf_free(&text); return false; }
        ds4_chat_msg *cm = ds4_chat_add(&r->chat, role, text.s ? text.s : "");
        srv_buf_free(&text);
        if (role == DS4_ROLE_ASSISTANT) {
            json_t *rc = json_object_get(m, "reasoning_content");
            if (!json_is_string(rc)) rc = json_object_get(m, "reasoning");
            if (json_is_string(rc)) ds4_chat_msg_set_reasoning(cm, json_string_value(rc));
            json_t *calls = json_object_get(m, "tool_calls");
            if (calls && !json_is_null(calls) && !json_is_array(calls))
                return srv_errf(e, 400, "'messages[%zu].tool_calls' must be an array", i);
            size_t j;
            json_t *c;
            json_array_foreach(calls, j, c) {
                json_t *fn = json_object_get(c, "function");
                const char *name = json_string_value(json_object_get(fn, "name"));
                json_t *args = json_object_get(fn, "arguments");
                if (!name || !args || json_is_null(args)) continue; /* dropped (§1.6) */
                char *a = arguments_text(args);
                ds4_chat_msg_add_call(cm, json_string_value(json_object_get(c, "id")), name, a);
                free(a);
            }
        } else if (role == DS4_ROLE_TOOL) {
            const char *id = json_string_value(json_object_get(m, "tool_call_id"));
            if (id) ds4_chat_msg_set_tool_call_id(cm, id);
        }
    }
    return true;
}

/* ---- Anthropic messages ---- */

static bool anthropic_system(json_t *sys, srv_request *r, srv_err *e) {
    if (!sys || json_is_null(sys)) return true;
    srv_buf b = {0};
    if (json_is_string(sys)) {
        srv_buf_add(&b, json_string_value(sys));
    } else if (json_is_array(sys)) {
        size_t i;
        json_t *blk;
        json_array_foreach(sys, i, blk) {
            const char *t = json_string_value(json_object_get(blk, "text"));
            if (!t) t = json_string_value(blk);
            if (!t) { srv_buf_free(&b); return srv_errf(e, 400, "'system[%zu]' must be a text block", i); }
            if (!strncmp(t, "x-anthropic-", 12)) continue; /* client billing headers, not instructions */
            if (b.len) srv_buf_add(&b, "\n");
            srv_buf_add(&b, t);
        }
    } else {
        return srv_errf(e, 400, "'system' must be a string or an array of text blocks");
    }
    if (b.len) ds4_chat_add(&r->chat, DS4_ROLE_SYSTEM, b.s);
    srv_buf_free(&b);
    return true;
}

static bool anthropic_messages(json_t *msgs, srv_request *r, srv_err *e) {
    if (!msgs || json_is_null(msgs)) return srv_errf(e, 400, "missing messages");
    if (!json_is_array(msgs)) return srv_errf(e, 400, "'messages' must be an array");
    if (!json_array_size(msgs)) return srv_errf(e, 400, "'messages' must not be empty");
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        if (!json_is_object(m)) return srv_errf(e, 400, "'messages[%zu]' must be an object", i);
        const char *rs = json_string_value(json_object_get(m, "role"));
        if (!rs) return srv_errf(e, 400, "'messages[%zu].role' must be a string", i);
        bool user = !strcmp(rs, "user");
        if (!user && strcmp(rs, "assistant"))
            return srv_errf(e, 400, "'messages[%zu].role' '%s' is not user or assistant", i, rs);
        json_t *content = json_object_get(m, "content");
        if (json_is_string(content) || !content || json_is_null(content)) {
            ds4_chat_add(&r->chat, user ? DS4_ROLE_USER : DS4_ROLE_ASSISTANT, json_string_value(content));
            continue;
        }
        if (!json_is_array(content))
            return srv_errf(e, 400, "'messages[%zu].content' must be a string or an array of blocks", i);
        srv_buf text = {0}, reasoning = {0};
        ds4_chat_msg *am = NULL;
        bool any_result = false;
        size_t j;
        json_t *blk;
        json_array_foreach(content, j, blk) {
            if (!json_is_object(blk)) {
                srv_buf_free(&text); srv_buf_free(&reasoning);
                return srv_errf(e, 400, "'messages[%zu].content[%zu]' must be an object", i, j);
            }
            const char *type = json_string_value(json_object_get(blk, "type"));
            if (!type) continue;
            if (!strcmp(type, "text")) {
                const char *t = json_string_value(json_object_get(blk, "text"));
                if (t) srv_buf_add(&text, t);
            } else if (!strcmp(type, "thinking") && !user) {
                const char *t = json_string_value(json_object_get(blk, "thinking"));
                if (t) srv_buf_add(&reasoning, t);
            } else if (!strcmp(type, "tool_use") && !user) {
                const char *name = json_string_value(json_object_get(blk, "name"));
                if (!name) {
                    srv_buf_free(&text); srv_buf_free(&reasoning);
                    return srv_errf(e, 400, "'messages[%zu].content[%zu].name' must be a string", i, j);
                }
                if (!am) am = ds4_chat_add(&r->chat, DS4_ROLE_ASSISTANT, "");
                json_t *in = json_object_get(blk, "input");
                char *a = in && !json_is_null(in) ? dump_compact(in) : ds4_xstrdup("{}");
                ds4_chat_msg_add_call(am, json_string_value(json_object_get(blk, "id")), name, a);
                free(a);
            } else if (!strcmp(type, "tool_result") && user) {
                srv_buf res = {0};
                char what[80];
                snprintf(what, sizeof what, "'messages[%zu].content[%zu].content'", i, j);
                if (!content_text(json_object_get(blk, "content"), what, &res, e)) {
                    srv_buf_free(&res); srv_buf_free(&text); srv_buf_free(&reasoning);
                    return false;
                }
                ds4_chat_msg *tm = ds4_chat_add(&r->chat, DS4_ROLE_TOOL, res.s ? res.s : "");
                const char *id = json_string_value(json_object_get(blk, "tool_use_id"));
                if (id) ds4_chat_msg_set_tool_call_id(tm, id);
                srv_buf_free(&res);
                any_result = true;
            }
        }
        if (user) {
            if (text.len || !any_result) ds4_chat_add(&r->chat, DS4_ROLE_USER, text.s ? text.s : "");
        } else {
            if (!am) am = ds4_chat_add(&r->chat, DS4_ROLE_ASSISTANT, "");
            ds4_chat_msg_set_content(am, text.s ? text.s : "");
            ds4_chat_msg_set_reasoning(am, reasoning.s ? reasoning.s : "");
        }
        srv_buf_free(&text);
        srv_buf_free(&reasoning);
    }
    return true;
}

/* ---- Responses input ---- */

static ds4_chat_msg *last_assistant_open(srv_request *r, bool prev_was_assistant) {
    if (prev_was_assistant && r->chat.n_msgs && r->chat.msgs[r->chat.n_msgs - 1].role == DS4_ROLE_ASSISTANT)
        return &r->chat.msgs[r->chat.n_msgs - 1];
    return NULL;
}

static bool responses_input(json_t *input, srv_request *r, srv_err *e) {
    if (!input || json_is_null(input)) return srv_errf(e, 400, "missing input");
    if (json_is_string(input)) {
        ds4_chat_add(&r->chat, DS4_ROLE_USER, json_string_value(input));
        return true;
    }
    if (!json_is_array(input)) return srv_errf(e, 400, "'input' must be a string or an array of items");
    if (!json_array_size(input)) return srv_errf(e, 400, "'input' must not be empty");
    srv_buf pending_reasoning = {0};
    bool have_reasoning = false, prev_assistant = false;
    size_t i;
    json_t *it;
    bool ok = true;
    json_array_foreach(input, i, it) {
        if (!json_is_object(it)) { ok = srv_errf(e, 400, "'input[%zu]' must be an object", i); break; }
        const char *type = json_string_value(json_object_get(it, "type"));
        const char *role = json_string_value(json_object_get(it, "role"));
        const char *status = json_string_value(json_object_get(it, "status"));
        if (!type && role) type = "message";
        if (!type) { ok = srv_errf(e, 400, "'input[%zu].type' is missing", i); break; }
        if (status && strcmp(status, "completed")) {
            ok = srv_errf(e, 400, "'input[%zu].status' is '%s'; only completed items can be replayed", i, status);
            break;
        }
        if (!strcmp(type, "message")) {
            ds4_role rl;
            if (!role || !ds4_role_parse(role, &rl) || rl == DS4_ROLE_TOOL) {
                ok = srv_errf(e, 400, "'input[%zu].role' '%s' is not system, developer, user or assistant", i,
                              role ? role : "(missing)");
                break;
            }
            json_t *c = json_object_get(it, "content");
            srv_buf text = {0};
            if (json_is_array(c)) {
                size_t j;
                json_t *blk;
                json_array_foreach(c, j, blk) {
                    const char *bt = json_string_value(json_object_get(blk, "type"));
                    if (!bt || (strcmp(bt, "input_text") && strcmp(bt, "output_text") && strcmp(bt, "text") &&
                                strcmp(bt, "summary_text") && strcmp(bt, "reasoning_text"))) {
                        ok = srv_errf(e, 400, "'input[%zu].content[%zu].type' '%s' is not supported", i, j,
                                      bt ? bt : "(missing)");
                        break;
                    }
                    const char *t = json_string_value(json_object_get(blk, "text"));
                    if (t) srv_buf_add(&text, t);
                }
            } else if (json_is_string(c)) {
                srv_buf_add(&text, json_string_value(c));
            } else if (c && !json_is_null(c)) {
                ok = srv_errf(e, 400, "'input[%zu].content' must be a string or an array", i);
            }
            if (!ok) { srv_buf_free(&text); break; }
            if (rl == DS4_ROLE_ASSISTANT) {
                ds4_chat_msg *am = ds4_chat_add(&r->chat, DS4_ROLE_ASSISTANT, text.s);
                if (have_reasoning) ds4_chat_msg_set_reasoning(am, pending_reasoning.s ? pending_reasoning.s : "");
                srv_buf_free(&pending_reasoning);
                have_reasoning = false;
                prev_assistant = true;
            } else {
                if (have_reasoning) {
                    ds4_chat_msg *am = ds4_chat_add(&r->chat, DS4_ROLE_ASSISTANT, "");
                    ds4_chat_msg_set_reasoning(am, pending_reasoning.s ? pending_reasoning.s : "");
                    srv_buf_free(&pending_reasoning);
                    have_reasoning = false;
                }
                ds4_chat_add(&r->chat, rl, text.s);
                prev_assistant = false;
            }
            srv_buf_free(&text);
        } else if (!strcmp(type, "function_call") || !strcmp(type, "custom_tool_call")) {
            const char *name = json_string_value(json_object_get(it, "name"));
            if (!name) { ok = srv_errf(e, 400, "'input[%zu].name' must be a string", i); break; }
            const char *ns = json_string_value(json_object_get(it, "namespace"));
            json_t *args = json_object_get(it, !strcmp(type, "function_call") ? "arguments" : "input");
            char *a = args ? arguments_text(args) : ds4_xstrdup("{}");
            srv_buf full = {0};
            if (ns) srv_buf_add(&full, ns);
            srv_buf_add(&full, name);
            ds4_chat_msg *am = last_assistant_open(r, prev_assistant);
            if (!am) am = ds4_chat_add(&r->chat, DS4_ROLE_ASSISTANT, "");
            if (have_reasoning) {
                ds4_chat_msg_set_reasoning(am, pending_reasoning.s ? pending_reasoning.s : "");
                srv_buf_free(&pending_reasoning);
                have_reasoning = false;
            }
            ds4_chat_msg_add_call(am, json_string_value(json_object_get(it, "call_id")), full.s, a);
            srv_buf_free(&full);
            free(a);
            prev_assistant = true;
        } else if (strlen(type) > 7 && !strcmp(type + strlen(type) - 7, "_output")) {
            json_t *out = json_object_get(it, "output");
            srv_buf text = {0};
            char what[48];
            snprintf(what, sizeof what, "'input[%zu].output'", i);
            if (json_is_object(out)) {
                char *s = dump_compact(out);
                srv_buf_add(&text, s);
                free(s);
            } else if (!content_text(out, what, &text, e)) {
                srv_buf_free(&text);
                ok = false;
                break;
            }
            if (have_reasoning) {
                ds4_chat_msg *am = ds4_chat_add(&r->chat, DS4_ROLE_ASSISTANT, "");
                ds4_chat_msg_set_reasoning(am, pending_reasoning.s ? pending_reasoning.s : "");
                srv_buf_free(&pending_reasoning);
                have_reasoning = false;
            }
            ds4_chat_msg *tm = ds4_chat_add(&r->chat, DS4_ROLE_TOOL, text.s);
            const char *id = json_string_value(json_object_get(it, "call_id"));
            if (id) ds4_chat_msg_set_tool_call_id(tm, id);
            srv_buf_free(&text);
            prev_assistant = false;
        } else if (!strcmp(type, "reasoning")) {
            const char *keys[] = {"summary", "content"};
            for (int k = 0; k < 2; k++) {
                json_t *arr = json_object_get(it, keys[k]);
                size_t j;
                json_t *blk;
                json_array_foreach(arr, j, blk) {
                    const char *t = json_string_value(json_object_get(blk, "text"));
                    if (!t) continue;
                    if (pending_reasoning.len) srv_buf_add(&pending_reasoning, "\n");
                    srv_buf_add(&pending_reasoning, t);
                }
            }
            have_reasoning = true;
        } else if (!strcmp(type, "compaction")) {
            continue;
        } else {
            ok = srv_errf(e, 400, "'input[%zu].type' '%s' is not supported", i, type);
            break;
        }
    }
    if (ok && have_reasoning) {
        ds4_chat_msg *am = ds4_chat_add(&r->chat, DS4_ROLE_ASSISTANT, "");
        ds4_chat_msg_set_reasoning(am, pending_reasoning.s ? pending_reasoning.s : "");
    }
    srv_buf_free(&pending_reasoning);
    return ok;
}

/* ---- per API ---- */

static bool parse_chat(json_t *o, srv_request *r, srv_err *e) {
    bool set = false;
    ds4_think_mode m = model_default_think(r->model);
    if (!thinking_field(json_object_get(o, "thinking"), &set, &m, e)) return false;
    bool b, have;
    if (!get_bool(o, "think", &b, &have, e)) return false;
    if (have) m = b ? DS4_THINK_HIGH : DS4_THINK_NONE;
    if (!effort_mode(json_object_get(o, "reasoning_effort"), "'reasoning_effort'", &set, &m, e)) return false;
    r->think = m;
    if (!get_limit(o, "max_tokens", &r->max_tokens, e)) return false;
    if (!get_limit(o, "max_completion_tokens", &r->max_tokens, e)) return false;
    if (!sampling_fields(o, r, true, true, e) || !stop_field(o, "stop", r, e)) return false;
    if (!parse_tools(o, r, e)) return false;
    return openai_messages(json_object_get(o, "messages"), r, e);
}

static bool parse_completions(json_t *o, srv_request *r, srv_err *e) {
    json_t *p = json_object_get(o, "prompt");
    if (!p || json_is_null(p)) return srv_errf(e, 400, "missing prompt");
    if (json_is_array(p)) p = json_array_get(p, 0); /* only the first prompt is served */
    if (!json_is_string(p)) return srv_errf(e, 400, "'prompt' must be a string or an array of strings");
    r->prompt = ds4_xstrdup(json_string_value(p));
    r->think = DS4_THINK_NONE;
    if (!get_limit(o, "max_tokens", &r->max_tokens, e)) return false;
    return sampling_fields(o, r, true, true, e) && stop_field(o, "stop", r, e);
}

static bool parse_messages(json_t *o, srv_request *r, srv_err *e) {
    bool set = false;
    ds4_think_mode m = model_default_think(r->model);
    if (!thinking_field(json_object_get(o, "thinking"), &set, &m, e)) return false;
    json_t *oc = json_object_get(o, "output_config");
    if (json_is_object(oc) && !effort_mode(json_object_get(oc, "effort"), "'output_config.effort'", &set, &m, e))
        return false;
    if (!effort_mode(json_object_get(o, "reasoning_effort"), "'reasoning_effort'", &set, &m, e)) return false;
    r->think = m;
    if (!get_limit(o, "max_tokens", &r->max_tokens, e)) return false;
    if (!sampling_fields(o, r, true, false, e) || !stop_field(o, "stop_sequences", r, e)) return false;
    if (!parse_tools(o, r, e)) return false;
    if (!anthropic_system(json_object_get(o, "system"), r, e)) return false;
    return anthropic_messages(json_object_get(o, "messages"), r, e);
}

static bool parse_responses(json_t *o, srv_request *r, srv_err *e) {
    json_t *prev = json_object_get(o, "previous_response_id");
    if (prev && !json_is_null(prev))
        return srv_errf(e, 400, "previous_response_id is not supported; replay full input instead");
    json_t *conv = json_object_get(o, "conversation");
    if (conv && !json_is_null(conv)) return srv_errf(e, 400, "conversation is not supported; replay full input instead");
    ds4_think_mode m = model_default_think(r->model);
    bool set = false;
    json_t *rs = json_object_get(o, "reasoning");
    if (rs && !json_is_null(rs)) {
        if (!json_is_object(rs)) return srv_errf(e, 400, "'reasoning' must be an object");
        if (!effort_mode(json_object_get(rs, "effort"), "'reasoning.effort'", &set, &m, e)) return false;
        const char *sum = json_string_value(json_object_get(rs, "summary"));
        r->reasoning_summary = sum && (!strcmp(sum, "auto") || !strcmp(sum, "concise") || !strcmp(sum, "detailed"));
    }
    r->think = m;
    if (!get_limit(o, "max_output_tokens", &r->max_tokens, e)) return false;
    if (!get_limit(o, "max_tokens", &r->max_tokens, e)) return false;
    if (!sampling_fields(o, r, false, false, e)) return false;
    if (!parse_tools(o, r, e)) return false;
    json_t *ins = json_object_get(o, "instructions");
    if (ins && !json_is_null(ins)) {
        if (!json_is_string(ins)) return srv_errf(e, 400, "'instructions' must be a string");
        ds4_chat_add(&r->chat, DS4_ROLE_SYSTEM, json_string_value(ins));
    }
    return responses_input(json_object_get(o, "input"), r, e);
}

bool srv_request_parse(srv_api api, const char *body, size_t len, srv_request *r, srv_err *e) {
    memset(r, 0, sizeof *r);
    ds4_chat_init(&r->chat);
    r->api = api;
    r->max_tokens = -1;
    r->temperature = 1.0f;
    r->top_p = 1.0f;
    r->min_p = 0.05f;
    json_error_t je;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        srv_request_free(r);
        return srv_errf(e, 400, "invalid JSON request: %s (line %d, column %d)", je.text, je.line, je.column);
    }
    bool ok;
    if (!json_is_object(o)) {
        ok = srv_errf(e, 400, "invalid JSON request: the body must be a JSON object");
    } else {
        json_t *mv = json_object_get(o, "model");
        ok = true;
        if (mv && !json_is_null(mv) && !json_is_string(mv)) ok = srv_errf(e, 400, "'model' must be a string");
        r->model = ds4_xstrdup(json_is_string(mv) ? json_string_value(mv) : SRV_MODEL_ID);
        if (ok) ok = get_bool(o, "stream", &r->stream, NULL, e);
        json_t *so = json_object_get(o, "stream_options");
        if (ok && json_is_object(so)) ok = get_bool(so, "include_usage", &r->include_usage, NULL, e);
        if (ok) {
            switch (api) {
            case SRV_API_CHAT: ok = parse_chat(o, r, e); break;
            case SRV_API_COMPLETIONS: ok = parse_completions(o, r, e); break;
            case SRV_API_MESSAGES: ok = parse_messages(o, r, e); break;
            case SRV_API_RESPONSES: ok = parse_responses(o, r, e); break;
            }
        }
        if (ok && api != SRV_API_COMPLETIONS && r->chat.n_msgs)
            r->continue_last = r->chat.msgs[r->chat.n_msgs - 1].role == DS4_ROLE_ASSISTANT;
        if (ok && api != SRV_API_COMPLETIONS && !r->chat.n_msgs)
            ok = srv_errf(e, 400, api == SRV_API_RESPONSES ? "missing input" : "missing messages");
    }
    json_decref(o);
    if (!ok) srv_request_free(r);
    return ok;
}
