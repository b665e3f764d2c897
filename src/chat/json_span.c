/* JSON span scanning and minification (see json_span.h). */
#include "chat/json_span.h"

#include <string.h>

const char *ds4_json_skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static const char *string_end(const char *p, const char *end) {
    /* p at the opening quote */
    for (p++; p < end; p++) {
        if (*p == '\\') p++;
        else if (*p == '"') return p + 1;
    }
    return NULL;
}

const char *ds4_json_value_end(const char *p, const char *end) {
    if (p >= end) return NULL;
    if (*p == '"') return string_end(p, end);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = string_end(p, end);
                if (!p) return NULL;
                continue;
            }
            if (*p == '{' || *p == '[') depth++;
            else if (*p == '}' || *p == ']') {
                if (--depth == 0) return p + 1;
            }
            p++;
        }
        return NULL;
    }
    const char *s = p;
    while (p < end && strchr("+-.0123456789eEtrufalsn", *p)) p++;
    return p > s ? p : NULL;
}

void ds4_json_minify(ds4_sb *out, const char *p, const char *end, const char *lt_escape) {
    size_t esc_len = lt_escape ? strlen(lt_escape) : 0;
    bool in_str = false;
    for (; p < end; p++) {
        char c = *p;
        if (in_str) {
            if (c == '\\' && p + 1 < end) {
                ds4_sb_addn(out, p, 2);
                p++;
                continue;
            }
            if (c == '"') in_str = false;
            if (c == '<' && esc_len && (size_t)(end - p) >= esc_len && !memcmp(p, lt_escape, esc_len)) {
                ds4_sb_add(out, "\\u003c");
                continue;
            }
            ds4_sb_addc(out, c);
        } else {
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
            if (c == '"') in_str = true;
            ds4_sb_addc(out, c);
        }
    }
}
