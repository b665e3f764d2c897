/* Loading from GGUF: the demo model's tokenizer.json is written into a
 * vocab-only GGUF here (token types by the formats.md C.5 rules) and must
 * reproduce the reference ids recorded in oracle/demo/manifest.json. The
 * converter's own --vocab-only output is checked by the corpus integration
 * test. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

static const char *shared_dir(void) {
    const char *s = getenv("DS4_SHARED");
    return s && *s ? s : "../shared";
}

static json_t *load_json(const char *rel) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", shared_dir(), rel);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    cr_assert_not_null(j, "%s: %s", path, je.text);
    return j;
}

static bool looks_special(const char *s) {
    size_t n = strlen(s);
    return (n >= 8 && !strncmp(s, "<\xEF\xBD\x9C", 4) && !strcmp(s + n - 4, "\xEF\xBD\x9C>")) ||
           (n >= 4 && !strncmp(s, "<|", 2) && !strcmp(s + n - 2, "|>"));
}

/* tokenizer.json -> vocab-only GGUF at path; types NULL omits token_type. */
static void write_vocab_gguf(const char *path, bool with_types, const char *pre) {
    json_t *j = load_json("oracle/demo/tokenizer.json");
    json_t *model = json_object_get(j, "model"), *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges"), *added = json_object_get(j, "added_tokens");
    size_t n = 0;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) if ((size_t)json_integer_value(val) + 1 > n) n = json_integer_value(val) + 1;
    size_t ai;
    json_array_foreach(added, ai, val) if ((size_t)json_integer_value(json_object_get(val, "id")) + 1 > n)
        n = json_integer_value(json_object_get(val, "id")) + 1;
    const char **toks = calloc(n, sizeof *toks);
    int32_t *types = calloc(n, sizeof *types);
    json_object_foreach(vocab, key, val) {
        toks[json_integer_value(val)] = key;
        types[json_integer_value(val)] = DS4_TOKEN_NORMAL;
    }
    json_array_foreach(added, ai, val) {
        size_t id = json_integer_value(json_object_get(val, "id"));
        toks[id] = json_string_value(json_object_get(val, "content"));
        types[id] = json_is_true(json_object_get(val, "special")) || looks_special(toks[id])
                        ? DS4_TOKEN_CONTROL : DS4_TOKEN_USER_DEFINED;
    }
    for (size_t i = 0; i < n; i++) cr_assert_not_null(toks[i], "demo vocabulary has a hole at %zu", i);
    size_t nm = json_array_size(merges);
    char **ms = calloc(nm, sizeof *ms);
    for (size_t i = 0; i < nm; i++) {
        json_t *m = json_array_get(merges, i);
        const char *a = json_string_value(json_array_get(m, 0)), *b = json_string_value(json_array_get(m, 1));
        ms[i] = malloc(strlen(a) + strlen(b) + 2);
        sprintf(ms[i], "%s %s", a, b);
    }
    ds4_error err = {{0}};
    gguf_writer *w = gguf_writer_open(path, 32, &err);
    cr_assert_not_null(w, "%s", err.msg);
    gguf_writer_set_str(w, "general.architecture", "deepseek4");
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    if (pre) gguf_writer_set_str(w, "tokenizer.ggml.pre", pre);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, n);
    if (with_types) gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_VT_INT32, types, n);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)ms, NULL, nm);
    cr_assert(gguf_writer_finish(w, &err), "%s", err.msg);
    for (size_t i = 0; i < nm; i++) free(ms[i]);
    free(ms);
    free(toks);
    free(types);
    json_decref(j);
}

static ds4_tokenizer *load_path(const char *path, ds4_error *err) {
    gguf_file *g = gguf_open(path, err);
    cr_assert_not_null(g, "%s", err->msg);
    ds4_tokenizer *t = ds4_tokenizer_load(g, err);
    gguf_close(g);
    return t;
}

static void check_manifest_samples(const ds4_tokenizer *t) {
    json_t *m = load_json("oracle/demo/manifest.json");
    json_t *samples = json_object_get(m, "tokenizer_samples");
    cr_assert(json_object_size(samples) >= 5);
    const char *text;
    json_t *ids;
    json_object_foreach(samples, text, ids) {
        ds4_tokens out = {0};
        ds4_error err = {{0}};
        cr_assert(ds4_tokenize(t, text, strlen(text), true, &out, &err), "%s", err.msg);
        cr_assert_eq(out.n, json_array_size(ids), "'%s': %zu ids, reference %zu", text, out.n, json_array_size(ids));
        for (size_t i = 0; i < out.n; i++)
            cr_assert_eq(out.ids[i], json_integer_value(json_array_get(ids, i)), "'%s' token %zu", text, i);
        size_t l;
        char *back = ds4_detokenize(t, out.ids, out.n, &l);
        cr_assert(l == strlen(text) && !memcmp(back, text, l), "'%s' does not round-trip", text);
        free(back);
        ds4_tokens_free(&out);
    }
    json_decref(m);
}

Test(tokenizer_gguf, demo_vocab_matches_reference_samples) {
    char path[] = "/tmp/ds4-tok-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    write_vocab_gguf(path, true, "joyai-llm");
    ds4_error err = {{0}};
    ds4_tokenizer *t = load_path(path, &err);
    cr_assert_not_null(t, "%s", err.msg);
    cr_assert_eq(ds4_tokenizer_n_vocab(t), 2048);
    check_manifest_samples(t);
    /* Special tokens by name; the demo has no ｜DSML｜, and that is no load error. */
    cr_assert_eq(ds4_tokenizer_special_id(t, DS4_SPECIAL_BOS), 0);
    cr_assert_eq(ds4_tokenizer_special_id(t, DS4_SPECIAL_EOS), 1);
    cr_assert_eq(ds4_tokenizer_special_id(t, DS4_SPECIAL_USER), 3);
    cr_assert_eq(ds4_tokenizer_special_id(t, DS4_SPECIAL_ASSISTANT), 4);
    cr_assert_eq(ds4_tokenizer_special_id(t, DS4_SPECIAL_THINK_OPEN), 5);
    cr_assert_eq(ds4_tokenizer_special_id(t, DS4_SPECIAL_THINK_CLOSE), 6);
    cr_assert_eq(ds4_tokenizer_special_id(t, DS4_SPECIAL_DSML), -1);
    cr_assert_eq(ds4_token_type_of(t, 0), DS4_TOKEN_CONTROL);
    cr_assert_eq(ds4_token_type_of(t, 100), DS4_TOKEN_NORMAL);
    ds4_tokens out = {0};
    const char *chat = "<\xEF\xBD\x9C" "User\xEF\xBD\x9C>hi<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C><think>";
    cr_assert(ds4_tokenize(t, chat, strlen(chat), true, &out, &err));
    cr_assert(out.n >= 4 && out.ids[0] == 3 && out.ids[out.n - 2] == 4 && out.ids[out.n - 1] == 5);
    ds4_tokens_free(&out);
    ds4_tokenizer_free(t);

    /* Without token_type the loader falls back to the shape of the strings. */
    write_vocab_gguf(path, false, NULL);
    t = load_path(path, &err);
    cr_assert_not_null(t, "%s", err.msg);
    check_manifest_samples(t);
    cr_assert_eq(ds4_token_type_of(t, 5), DS4_TOKEN_CONTROL);
    ds4_tokenizer_free(t);

    write_vocab_gguf(path, true, "llama-bpe");
    cr_assert_null(load_path(path, &err));
    cr_assert(strstr(err.msg, "tokenizer.ggml.pre") && strstr(err.msg, "llama-bpe"), "%s", err.msg);
    unlink(path);
}

Test(tokenizer_gguf, missing_keys_are_named) {
    char path[] = "/tmp/ds4-tok-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    ds4_error err = {{0}};
    gguf_writer *w = gguf_writer_open(path, 32, &err);
    const char *toks[] = {"a", "b"};
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 2);
    cr_assert(gguf_writer_finish(w, &err), "%s", err.msg);
    cr_assert_null(load_path(path, &err));
    cr_assert(strstr(err.msg, "tokenizer.ggml.merges"), "%s", err.msg);

    w = gguf_writer_open(path, 32, &err);
    int32_t types[] = {1};
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 2);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", toks, NULL, 0);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_VT_INT32, types, 1);
    cr_assert(gguf_writer_finish(w, &err), "%s", err.msg);
    cr_assert_null(load_path(path, &err));
    cr_assert(strstr(err.msg, "token_type") && strstr(err.msg, "1 entries"), "%s", err.msg);
    unlink(path);
}
