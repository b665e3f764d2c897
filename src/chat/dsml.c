/* DSML markers, attributes, entities and JSON quoting (see dsml.h). */
#include "chat/dsml.h"

#include <stdio.h>
#include <string.h>

const ds4_dsml_form ds4_dsml_forms[3] = {
    {"<｜DSML｜", "</｜DSML｜"},
    {"<DSML｜", "</DSML｜"},
    {"<", "</"},
};

static const char *find(const char *p, const char *end, const char *needle) {
    size_t n = strlen(needle);
    if ((size_t)(end - p) < n) return NULL;
    return memmem(p, (size_t)(end - p), needle, n);
}

bool ds4_dsml_find_start(const char *p, const char *end, const char **start, const char **body,
                         const ds4_dsml_form **form) {
    /* §2 order: "\n\n<｜DSML｜tool_calls>", "<｜DSML｜tool_calls>", the same
     * two without the first '｜', then "<tool_calls>". */
    static const struct { const char *marker; int form; bool nl; } order[] = {
        {"\n\n<｜DSML｜tool_calls>", 0, true}, {"<｜DSML｜tool_calls>", 0, false},
        {"\n\n<DSML｜tool_calls>", 1, true},   {"<DSML｜tool_calls>", 1, false},
        {"<tool_calls>", 2, false},
    };
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        const char *hit = find(p, end, order[i].marker);
        if (!hit) continue;
        *start = hit;
        *body = hit + strlen(order[i].marker);
        *form = &ds4_dsml_forms[order[i].form];
        return true;
    }
    return false;
}

size_t ds4_dsml_tag(const char *p, const char *end, const char *prefix, const char *name) {
    size_t a = strlen(prefix), b = strlen(name);
    if ((size_t)(end - p) < a + b) return 0;
    if (memcmp(p, prefix, a) || memcmp(p + a, name, b)) return 0;
    return a + b;
}

void ds4_dsml_decode_entities(ds4_sb *out, const char *p, size_t n) {
    static const struct { const char *ent; char c; } ents[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''},
    };
    for (size_t i = 0; i < n;) {
        if (p[i] == '&') {
            bool hit = false;
            for (size_t e = 0; e < 5; e++) {
                size_t l = strlen(ents[e].ent);
                if (n - i >= l && !memcmp(p + i, ents[e].ent, l)) {
                    ds4_sb_addc(out, ents[e].c);
                    i += l;
                    hit = true;
                    break;
                }
            }
            if (hit) continue;
        }
        ds4_sb_addc(out, p[i++]);
    }
}

void ds4_json_escape(ds4_sb *out, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': ds4_sb_add(out, "\\\""); break;
        case '\\': ds4_sb_add(out, "\\\\"); break;
        case '\n': ds4_sb_add(out, "\\n"); break;
        case '\r': ds4_sb_add(out, "\\r"); break;
        case '\t': ds4_sb_add(out, "\\t"); break;
        case '\b': ds4_sb_add(out, "\\b"); break;
        case '\f': ds4_sb_add(out, "\\f"); break;
        default:
            if (c < 0x20) {
                char tmp[8];
                snprintf(tmp, sizeof tmp, "\\u%04x", c);
                ds4_sb_add(out, tmp);
            } else {
                ds4_sb_addc(out, (char)c);
            }
        }
    }
}

void ds4_json_quote(ds4_sb *out, const char *s, size_t n) {
    ds4_sb_addc(out, '"');
    ds4_json_escape(out, s, n);
    ds4_sb_addc(out, '"');
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

const char *ds4_dsml_attrs(const char *p, const char *end, ds4_sb *name, bool *has_name,
                           ds4_sb *string_attr, bool *has_string) {
    *has_name = *has_string = false;
    name->len = string_attr->len = 0;
    for (;;) {
        while (p < end && is_ws(*p)) p++;
        if (p >= end) return NULL;
        if (*p == '>') return p + 1;
        const char *k = p;
        while (p < end && *p != '=' && *p != '>' && !is_ws(*p)) p++;
        size_t klen = (size_t)(p - k);
        if (p >= end || *p != '=' || klen == 0) return NULL;
        p++;
        if (p >= end || *p != '"') return NULL;
        const char *v = ++p;
        while (p < end && *p != '"') p++;
        if (p >= end) return NULL;
        ds4_sb *dst = NULL;
        if (klen == 4 && !memcmp(k, "name", 4)) dst = name, *has_name = true;
        else if (klen == 6 && !memcmp(k, "string", 6)) dst = string_attr, *has_string = true;
        if (dst) {
            dst->len = 0;
            ds4_dsml_decode_entities(dst, v, (size_t)(p - v));
            if (!dst->s) ds4_sb_reserve(dst, 0), dst->s[0] = 0;
        }
        p++;
    }
}

size_t ds4_utf8_partial_tail(const char *s, size_t n) {
    /* Look back at most 3 bytes for a lead byte whose sequence is cut. */
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = (unsigned char)s[n - back];
        if ((c & 0xC0) == 0x80) continue; /* continuation */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}
