/* Rendering a conversation to the DeepSeek V4 prompt text
 * (chat-and-api.md §1.2-1.5). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "chat/json_span.h"
#include "chat/strbuf.h"

const char ds4_chat_max_prefix[] =
    "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
    "You MUST be very thorough in your thinking and comprehensively decompose the problem to "
    "resolve the root cause, rigorously stress-testing your logic against all potential paths, "
    "edge cases, and adversarial scenarios.\n"
    "Explicitly write out your entire deliberation process, documenting every intermediate step, "
    "considered alternative, and rejected hypothesis to ensure absolutely no assumption is left "
    "unchecked.\n\n";

static const char tools_head[] =
    "## Tools\n\n"
    "You have access to a set of tools to help answer the user question. You can invoke tools by "
    "writing a \"<｜DSML｜tool_calls>\" block like the following:\n\n"
    "<｜DSML｜tool_calls>\n"
    "<｜DSML｜invoke name=\"$TOOL_NAME\">\n"
    "<｜DSML｜parameter name=\"$PARAMETER_NAME\" string=\"true|false\">$PARAMETER_VALUE</｜DSML｜parameter>\n"
    "...\n"
    "</｜DSML｜invoke>\n"
    "<｜DSML｜invoke name=\"$TOOL_NAME2\">\n"
    "...\n"
    "</｜DSML｜invoke>\n"
    "</｜DSML｜tool_calls>\n\n"
    "String parameters should be specified as raw text and set `string=\"true\"`. Preserve "
    "characters such as `>`, `&`, and `&&` exactly; never replace normal string characters with "
    "XML or HTML entity escapes. Only if a string value itself contains the exact closing "
    "parameter tag `</｜DSML｜parameter>`, write that tag as `&lt;/｜DSML｜parameter>` inside the "
    "value. For all other types (numbers, booleans, arrays, objects), pass the value in JSON "
    "format and set `string=\"false\"`.\n\n"
    "If thinking_mode is enabled (triggered by <think>), you MUST output your complete reasoning "
    "inside <think>...</think> BEFORE any tool calls or final response.\n\n"
    "Otherwise, output directly after </think> with tool calls or final response.\n\n"
    "### Available Tool Schemas\n\n";

static const char tools_tail[] =
    "\n\nYou MUST strictly follow the above defined tool name and parameter schemas to invoke "
    "tool calls. Use the exact parameter names from the schemas.";

#define PARAM_CLOSE "</｜DSML｜parameter>"

const char *ds4_chat_genprefix(ds4_think_mode effective) {
    return effective == DS4_THINK_NONE ? DS4_TOK_ASSISTANT DS4_TOK_END_THINK
                                       : DS4_TOK_ASSISTANT DS4_TOK_THINK;
}

bool ds4_chat_has_tool_context(const ds4_chat *c) {
    if (c->n_tools > 0) return true;
    for (int i = 0; i < c->n_msgs; i++) {
        if (c->msgs[i].role == DS4_ROLE_TOOL) return true;
        if (c->msgs[i].role == DS4_ROLE_ASSISTANT && (c->msgs[i].n_calls > 0 || c->msgs[i].raw_dsml))
            return true;
    }
    return false;
}

/* Appends s with every occurrence of `pat` replaced by `rep`. */
static void add_replacing(ds4_sb *b, const char *s, const char *pat, const char *rep) {
    size_t pl = strlen(pat);
    const char *hit;
    while ((hit = strstr(s, pat))) {
        ds4_sb_addn(b, s, (size_t)(hit - s));
        ds4_sb_add(b, rep);
        s = hit + pl;
    }
    ds4_sb_add(b, s);
}

/* Names in DSML attributes: & < > " become entities. */
static void add_attr(ds4_sb *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '&': ds4_sb_add(b, "&amp;"); break;
        case '<': ds4_sb_add(b, "&lt;"); break;
        case '>': ds4_sb_add(b, "&gt;"); break;
        case '"': ds4_sb_add(b, "&quot;"); break;
        default: ds4_sb_addc(b, s[i]);
        }
    }
}

/* One schema line: valid JSON, minified. */
static bool add_schema_line(ds4_sb *b, const char *json, int index, ds4_error *err) {
    json_error_t je;
    json_t *v = json_loads(json, JSON_DECODE_ANY, &je);
    if (!v) return ds4_fail(err, "tool %d: invalid schema JSON: %s (line %d)", index, je.text, je.line);
    json_decref(v);
    ds4_json_minify(b, json, json + strlen(json), NULL);
    return true;
}

char *ds4_chat_render_tools_block(const ds4_chat *c, ds4_error *err) {
    ds4_sb b = {0};
    if (c->n_tools == 0) return ds4_sb_take(&b);
    ds4_sb_add(&b, tools_head);
    for (int i = 0; i < c->n_tools; i++) {
        const ds4_chat_tool *t = &c->tools[i];
        if (i) ds4_sb_addc(&b, '\n');
        if (t->schema_json) {
            if (!add_schema_line(&b, t->schema_json, i, err)) goto fail;
            continue;
        }
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(t->name ? t->name : ""));
        if (t->description) json_object_set_new(o, "description", json_string(t->description));
        if (t->parameters) {
            json_error_t je;
            json_t *p = json_loads(t->parameters, JSON_DECODE_ANY, &je);
            if (!p) {
                json_decref(o);
                ds4_fail(err, "tool %d (%s): invalid parameters JSON: %s", i, t->name ? t->name : "",
                         je.text);
                goto fail;
            }
            json_object_set_new(o, "parameters", p);
        }
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        ds4_sb_add(&b, s);
        free(s);
    }
    ds4_sb_add(&b, tools_tail);
    return ds4_sb_take(&b);
fail:
    ds4_sb_free(&b);
    return NULL;
}

static void add_param(ds4_sb *b, const char *key, size_t klen, bool is_string) {
    ds4_sb_add(b, "<｜DSML｜parameter name=\"");
    add_attr(b, key, klen);
    ds4_sb_add(b, is_string ? "\" string=\"true\">" : "\" string=\"false\">");
}

/* Parameters of one call from its arguments text (§1.5 canonical rendering). */
static void add_call_params(ds4_sb *b, const char *args) {
    const char *end = args + strlen(args);
    json_error_t je;
    json_t *root = json_loads(args, JSON_DECODE_ANY, &je);
    bool is_obj = root && json_is_object(root);
    json_decref(root);
    if (!is_obj) {
        /* Non-object arguments: one raw-text "arguments" parameter. */
        add_param(b, "arguments", 9, true);
        add_replacing(b, args, PARAM_CLOSE, "&lt;/｜DSML｜parameter>");
        ds4_sb_add(b, PARAM_CLOSE "\n");
        return;
    }
    /* Walk the members in the client's order, straight over the text. */
    const char *p = ds4_json_skip_ws(args, end) + 1;
    for (;;) {
        p = ds4_json_skip_ws(p, end);
        if (p >= end || *p == '}') break;
        const char *kend = ds4_json_value_end(p, end);
        json_t *k = json_loadb(p, (size_t)(kend - p), JSON_DECODE_ANY, &je);
        p = ds4_json_skip_ws(kend, end) + 1; /* past ':' */
        p = ds4_json_skip_ws(p, end);
        const char *vend = ds4_json_value_end(p, end);
        json_t *v = json_loadb(p, (size_t)(vend - p), JSON_DECODE_ANY, &je);
        const char *key = json_string_value(k);
        size_t klen = json_string_length(k);
        if (json_is_string(v)) {
            add_param(b, key, klen, true);
            /* Strings may hold NULs; the DSML body is raw text. */
            char *raw = ds4_xmalloc(json_string_length(v) + 1);
            memcpy(raw, json_string_value(v), json_string_length(v) + 1);
            add_replacing(b, raw, PARAM_CLOSE, "&lt;/｜DSML｜parameter>");
            free(raw);
        } else {
            add_param(b, key, klen, false);
            ds4_json_minify(b, p, vend, PARAM_CLOSE);
        }
        ds4_sb_add(b, PARAM_CLOSE "\n");
        json_decref(k);
        json_decref(v);
        p = ds4_json_skip_ws(vend, end);
        if (p < end && *p == ',') p++;
    }
}

char *ds4_chat_render_calls(const ds4_tool_call *calls, int n, ds4_error *err) {
    (void)err;
    ds4_sb b = {0};
    ds4_sb_add(&b, "\n\n<｜DSML｜tool_calls>\n");
    for (int i = 0; i < n; i++) {
        ds4_sb_add(&b, "<｜DSML｜invoke name=\"");
        add_attr(&b, calls[i].name, strlen(calls[i].name));
        ds4_sb_add(&b, "\">\n");
        add_call_params(&b, calls[i].arguments ? calls[i].arguments : "{}");
        ds4_sb_add(&b, "</｜DSML｜invoke>\n");
    }
    ds4_sb_add(&b, "</｜DSML｜tool_calls>");
    return ds4_sb_take(&b);
}

static void add_think(ds4_sb *b, ds4_think_mode eff, bool with_reasoning, const char *reasoning) {
    if (eff == DS4_THINK_NONE || !with_reasoning) {
        ds4_sb_add(b, DS4_TOK_END_THINK);
        return;
    }
    ds4_sb_add(b, DS4_TOK_THINK);
    ds4_sb_add(b, reasoning);
    ds4_sb_add(b, DS4_TOK_END_THINK);
}

char *ds4_chat_render(const ds4_chat *c, const ds4_chat_render_opts *opts, ds4_error *err) {
    ds4_chat_render_opts def = {.think = DS4_THINK_HIGH};
    if (!opts) opts = &def;
    ds4_think_mode eff = ds4_chat_effective_think(opts->think, opts->ctx);
    bool tool_ctx = ds4_chat_has_tool_context(c);
    ds4_sb b = {0};
    if (!opts->no_bos) ds4_sb_add(&b, DS4_TOK_BOS);
    if (eff == DS4_THINK_MAX) ds4_sb_add(&b, ds4_chat_max_prefix);

    /* SYSTEM: the tools block, then every system message, joined by "\n\n". */
    bool any_sys = false;
    if (c->n_tools > 0) {
        char *tb = ds4_chat_render_tools_block(c, err);
        if (!tb) goto fail;
        ds4_sb_add(&b, tb);
        free(tb);
        any_sys = true;
    }
    for (int i = 0; i < c->n_msgs; i++) {
        if (c->msgs[i].role != DS4_ROLE_SYSTEM) continue;
        if (any_sys) ds4_sb_add(&b, "\n\n");
        ds4_sb_add(&b, c->msgs[i].content);
        any_sys = true;
    }

    int last_user = -1;
    for (int i = 0; i < c->n_msgs; i++)
        if (c->msgs[i].role == DS4_ROLE_USER || c->msgs[i].role == DS4_ROLE_TOOL) last_user = i;

    enum { K_NONE, K_USER, K_TOOL, K_ASSISTANT } last = K_NONE;
    bool pending = false; /* a user/tool turn waits for its assistant marker */
    for (int i = 0; i < c->n_msgs; i++) {
        const ds4_chat_msg *m = &c->msgs[i];
        switch (m->role) {
        case DS4_ROLE_SYSTEM: break;
        case DS4_ROLE_USER:
            ds4_sb_add(&b, DS4_TOK_USER);
            ds4_sb_add(&b, m->content);
            pending = true;
            last = K_USER;
            break;
        case DS4_ROLE_TOOL:
            if (last != K_TOOL) ds4_sb_add(&b, DS4_TOK_USER);
            ds4_sb_add(&b, "<tool_result>");
            add_replacing(&b, m->content, "</tool_result>", "&lt;/tool_result>");
            ds4_sb_add(&b, "</tool_result>");
            pending = true;
            last = K_TOOL;
            break;
        case DS4_ROLE_ASSISTANT: {
            bool open = opts->continue_last && i == c->n_msgs - 1;
            bool has_calls = m->n_calls > 0 || m->raw_dsml;
            if (pending) {
                ds4_sb_add(&b, DS4_TOK_ASSISTANT);
                bool keep = tool_ctx || opts->keep_reasoning || i > last_user;
                if (open && eff != DS4_THINK_NONE && !m->content[0] && !has_calls) {
                    /* Prefill inside the reasoning: leave <think> open. */
                    ds4_sb_add(&b, DS4_TOK_THINK);
                    ds4_sb_add(&b, m->reasoning);
                } else {
                    add_think(&b, eff, keep, m->reasoning);
                }
                pending = false;
            }
            ds4_sb_add(&b, m->content);
            if (m->raw_dsml) {
                ds4_sb_add(&b, m->raw_dsml);
            } else if (m->n_calls > 0) {
                char *d = ds4_chat_render_calls(m->calls, m->n_calls, err);
                if (!d) goto fail;
                ds4_sb_add(&b, d);
                free(d);
            }
            if (!open) ds4_sb_add(&b, DS4_TOK_EOS);
            last = K_ASSISTANT;
            break;
        }
        }
    }
    if (last == K_USER || last == K_TOOL) ds4_sb_add(&b, ds4_chat_genprefix(eff));
    return ds4_sb_take(&b);
fail:
    ds4_sb_free(&b);
    return NULL;
}
