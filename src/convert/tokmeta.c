#include "convert/tokmeta.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "convert/json_file.h"

/* The DeepSeek pre-tokenizer split patterns (C.5), in order. A tokenizer
 * with exactly these is labelled "joyai-llm". */
static const char *const joyai_patterns[3] = {
    "\\p{N}{1,3}",
    "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+",
    ("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|"
     "\\s*[\r\n]+|\\s+(?!\\S)|\\s+"),
};

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !memcmp(s + a - b, suf, b);
}

/* llama.cpp treats <｜…｜> and <|…|> as control tokens even when the
 * tokenizer marks them non-special. */
static bool looks_special(const char *s) {
    return (!strncmp(s, "<\xef\xbd\x9c", 4) && ends_with(s, "\xef\xbd\x9c>") && strlen(s) >= 8) ||
           (!strncmp(s, "<|", 2) && ends_with(s, "|>") && strlen(s) >= 4);
}

/* Replaces every occurrence of `from` by `to` (to no longer than from). */
static void replace_all(char *s, const char *from, const char *to) {
    size_t lf = strlen(from), lt = strlen(to);
    char *r = s, *w = s;
    while (*r) {
        if (!strncmp(r, from, lf)) {
            memcpy(w, to, lt);
            w += lt;
            r += lf;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
}

/* A space inside a merge part becomes U+0120 (the byte-level space), as
 * llama.cpp does for the list form. */
static char *merge_part(const char *s) {
    size_t n = 0;
    for (const char *p = s; *p; p++) n += *p == ' ' ? 2 : 1;
    char *o = ds4_xmalloc(n + 1), *w = o;
    for (const char *p = s; *p; p++) {
        if (*p == ' ') {
            *w++ = (char)0xc4;
            *w++ = (char)0xa0;
        } else {
            *w++ = *p;
        }
    }
    *w = 0;
    return o;
}

static const char *token_content(json_t *v) {
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_object(v) && json_is_string(json_object_get(v, "content"))) return json_string_value(json_object_get(v, "content"));
    return NULL;
}

static int64_t find_token(const ds4_tokmeta *t, const char *s) {
    if (!s) return -1;
    for (int64_t i = 0; i < t->n_vocab; i++)
        if (t->tokens[i] && !strcmp(t->tokens[i], s)) return i;
    return -1;
}

static bool check_pre(json_t *root, FILE *log) {
    json_t *pre = json_object_get(root, "pre_tokenizer");
    json_t *list = json_object_get(pre, "pretokenizers");
    int k = 0;
    bool ok = json_is_array(list);
    for (size_t i = 0; ok && i < json_array_size(list); i++) {
        json_t *e = json_array_get(list, i);
        const char *type = json_string_value(json_object_get(e, "type"));
        if (!type || strcmp(type, "Split")) continue;
        const char *re = json_string_value(json_object_get(json_object_get(e, "pattern"), "Regex"));
        ok = k < 3 && re && !strcmp(re, joyai_patterns[k]);
        k++;
    }
    ok = ok && k == 3;
    if (!ok && log)
        fprintf(log, "warning: tokenizer.json pre-tokenizer differs from the DeepSeek (joyai-llm) patterns; "
                     "labelling it joyai-llm anyway\n");
    return ok;
}

bool ds4_tokmeta_load(const char *dir, int64_t vocab_size, int64_t bos, int64_t eos, FILE *log, ds4_tokmeta *t,
                      ds4_error *err) {
    memset(t, 0, sizeof *t);
    t->bos_id = t->eos_id = t->pad_id = -1;
    strcpy(t->pre, "joyai-llm");
    char *path = ds4_path_join(dir, "tokenizer.json");
    json_t *root = ds4_json_load_file(path, 0, err);
    if (!root) {
        free(path);
        return false;
    }
    bool ok = true;
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges");
    json_t *added = json_object_get(root, "added_tokens");
    const char *mtype = json_string_value(json_object_get(model, "type"));
    if (!json_is_object(model)) ok = ds4_fail(err, "%s: missing \"model\" object", path);
    else if (mtype && strcmp(mtype, "BPE")) ok = ds4_fail(err, "%s: model.type is \"%s\", only BPE is supported", path, mtype);
    else if (!json_is_object(vocab)) ok = ds4_fail(err, "%s: missing \"model.vocab\" object", path);
    else if (!json_is_array(merges)) ok = ds4_fail(err, "%s: missing \"model.merges\" array", path);
    else if (added && !json_is_array(added)) ok = ds4_fail(err, "%s: \"added_tokens\" is not an array", path);
    /* Size: config.json's vocab_size when given, else the highest id + 1. */
    int64_t max_id = -1;
    const char *key;
    json_t *v;
    if (ok) {
        json_object_foreach(vocab, key, v) {
            if (!json_is_integer(v) || json_integer_value(v) < 0) {
                ok = ds4_fail(err, "%s: model.vocab[\"%s\"] is not a non-negative integer id", path, key);
                break;
            }
            if (json_integer_value(v) > max_id) max_id = json_integer_value(v);
        }
    }
    for (size_t i = 0; ok && i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i);
        json_t *id = json_object_get(a, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || !json_is_string(json_object_get(a, "content")))
            ok = ds4_fail(err, "%s: added_tokens[%zu] needs an integer \"id\" and a string \"content\"", path, i);
        else if (json_integer_value(id) > max_id) max_id = json_integer_value(id);
    }
    if (ok) {
        t->n_vocab = vocab_size > 0 ? vocab_size : max_id + 1;
        if (max_id >= t->n_vocab)
            ok = ds4_fail(err, "%s: token id %lld is not below vocab_size %lld (config.json)", path, (long long)max_id,
                          (long long)t->n_vocab);
        else if (t->n_vocab > (int64_t)1 << 24)
            ok = ds4_fail(err, "%s: vocabulary of %lld tokens is implausibly large", path, (long long)t->n_vocab);
    }
    if (ok) {
        t->tokens = ds4_xcalloc((size_t)t->n_vocab, sizeof *t->tokens);
        t->types = ds4_xcalloc((size_t)t->n_vocab, sizeof *t->types);
        json_object_foreach(vocab, key, v) {
            int64_t id = json_integer_value(v);
            if (t->tokens[id]) {
                ok = ds4_fail(err, "%s: model.vocab has two tokens with id %lld (\"%s\" and \"%s\")", path, (long long)id,
                              t->tokens[id], key);
                break;
            }
            t->tokens[id] = ds4_xstrdup(key);
            t->types[id] = DS4_TOK_NORMAL;
        }
    }
    for (size_t i = 0; ok && i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i);
        int64_t id = json_integer_value(json_object_get(a, "id"));
        const char *content = json_string_value(json_object_get(a, "content"));
        bool special = json_is_true(json_object_get(a, "special"));
        free(t->tokens[id]);
        t->tokens[id] = ds4_xstrdup(content);
        if (special || looks_special(content)) {
            t->types[id] = DS4_TOK_CONTROL;
        } else {
            t->types[id] = DS4_TOK_USER;
            replace_all(t->tokens[id], "\xe2\x96\x81", " ");
        }
    }
    for (int64_t id = 0; ok && id < t->n_vocab; id++) {
        if (t->tokens[id]) continue;
        char buf[40];
        snprintf(buf, sizeof buf, "[PAD%lld]", (long long)id);
        t->tokens[id] = ds4_xstrdup(buf);
        t->types[id] = DS4_TOK_UNUSED;
    }
    if (ok) {
        t->n_merges = (int64_t)json_array_size(merges);
        t->merges = ds4_xcalloc((size_t)t->n_merges + 1, sizeof *t->merges);
        for (int64_t i = 0; ok && i < t->n_merges; i++) {
            json_t *m = json_array_get(merges, (size_t)i);
            if (json_is_string(m)) {
                t->merges[i] = ds4_xstrdup(json_string_value(m));
            } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                       json_is_string(json_array_get(m, 1))) {
                char *l = merge_part(json_string_value(json_array_get(m, 0)));
                char *r = merge_part(json_string_value(json_array_get(m, 1)));
                size_t nl = strlen(l), nr = strlen(r);
                t->merges[i] = ds4_xmalloc(nl + nr + 2);
                memcpy(t->merges[i], l, nl);
                t->merges[i][nl] = ' ';
                memcpy(t->merges[i] + nl + 1, r, nr + 1);
                free(l);
                free(r);
            } else {
                ok = ds4_fail(err, "%s: model.merges[%lld] is neither \"a b\" nor [\"a\", \"b\"]", path, (long long)i);
            }
        }
    }
    if (ok) check_pre(root, log);
    json_decref(root);
    free(path);

    /* tokenizer_config.json: bos/eos/pad by string, add_* flags, template. */
    const char *bos_s = NULL, *eos_s = NULL, *pad_s = NULL;
    json_t *tc = NULL;
    if (ok) {
        path = ds4_path_join(dir, "tokenizer_config.json");
        FILE *f = fopen(path, "rb");
        if (f) {
            fclose(f);
            tc = ds4_json_load_file(path, 0, err);
            if (!tc) ok = false;
            else if (!json_is_object(tc)) ok = ds4_fail(err, "%s: not a JSON object", path);
        }
        free(path);
    }
    if (ok && tc) {
        bos_s = token_content(json_object_get(tc, "bos_token"));
        eos_s = token_content(json_object_get(tc, "eos_token"));
        pad_s = token_content(json_object_get(tc, "pad_token"));
        json_t *ab = json_object_get(tc, "add_bos_token"), *ae = json_object_get(tc, "add_eos_token");
        if (json_is_boolean(ab)) t->has_add_bos = true, t->add_bos = json_is_true(ab);
        if (json_is_boolean(ae)) t->has_add_eos = true, t->add_eos = json_is_true(ae);
        const char *tmpl = json_string_value(json_object_get(tc, "chat_template"));
        if (tmpl) t->chat_template = ds4_xstrdup(tmpl);
    }
    if (ok) {
        t->bos_id = bos >= 0 ? bos : bos_s ? find_token(t, bos_s) : find_token(t, "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>");
        t->eos_id = eos >= 0 ? eos : eos_s ? find_token(t, eos_s) : find_token(t, "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>");
        t->pad_id = find_token(t, pad_s);
        if (t->bos_id >= t->n_vocab || t->eos_id >= t->n_vocab)
            ok = ds4_fail(err, "bos/eos token id (%lld/%lld) is not below vocab_size %lld", (long long)t->bos_id,
                          (long long)t->eos_id, (long long)t->n_vocab);
        if (ok && log && (t->bos_id < 0 || t->eos_id < 0))
            fprintf(log, "warning: tokenizer has no %s token id\n", t->bos_id < 0 ? "bos" : "eos");
    }
    json_decref(tc);
    if (!ok) ds4_tokmeta_free(t);
    return ok;
}

void ds4_tokmeta_free(ds4_tokmeta *t) {
    for (int64_t i = 0; t->tokens && i < t->n_vocab; i++) free(t->tokens[i]);
    for (int64_t i = 0; t->merges && i < t->n_merges; i++) free(t->merges[i]);
    free(t->tokens);
    free(t->types);
    free(t->merges);
    free(t->chat_template);
    memset(t, 0, sizeof *t);
}

void ds4_tokmeta_write(const ds4_tokmeta *t, gguf_writer *w) {
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_str(w, "tokenizer.ggml.pre", t->pre);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)t->tokens, NULL, (uint64_t)t->n_vocab);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_VT_INT32, t->types, (uint64_t)t->n_vocab);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)t->merges, NULL, (uint64_t)t->n_merges);
    if (t->bos_id >= 0) gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)t->bos_id);
    if (t->eos_id >= 0) gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)t->eos_id);
    if (t->pad_id >= 0) gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)t->pad_id);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", t->has_add_bos && t->add_bos);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", t->has_add_eos && t->add_eos);
    if (t->chat_template) gguf_writer_set_str(w, "tokenizer.chat_template", t->chat_template);
}
