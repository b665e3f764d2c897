/* Loading a tokenizer from GGUF metadata (tokenizer.ggml.*). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

/* Reads a string array into pointer/length arrays that point into the file
 * mapping (valid while f is open; the tokenizer copies what it keeps). */
static bool read_str_array(const gguf_file *f, const char *key, const char ***strs, size_t **lens,
                           size_t *count, ds4_error *err) {
    gguf_vtype et;
    uint64_t n;
    const void *data;
    if (!gguf_get_arr(f, key, &et, &n, &data, err)) return false;
    if (et != GGUF_VT_STRING)
        return ds4_fail(err, "%s: expected an array of strings, found an array of %s", key,
                        gguf_vtype_name(et));
    if (n > (uint64_t)INT32_MAX)
        return ds4_fail(err, "%s: %llu entries is too many", key, (unsigned long long)n);
    const char **s = malloc((n ? n : 1) * sizeof *s);
    size_t *l = malloc((n ? n : 1) * sizeof *l);
    if (!s || !l) {
        free(s);
        free(l);
        return ds4_fail(err, "%s: out of memory for %llu entries", key, (unsigned long long)n);
    }
    for (uint64_t i = 0; i < n; i++) {
        gguf_str g;
        if (!gguf_get_arr_str(f, key, i, &g, err)) {
            free(s);
            free(l);
            return false;
        }
        s[i] = g.ptr;
        l[i] = (size_t)g.len;
    }
    *strs = s;
    *lens = l;
    *count = (size_t)n;
    return true;
}

static bool read_types(const gguf_file *f, size_t n_tokens, int32_t **out, ds4_error *err) {
    const char *key = "tokenizer.ggml.token_type";
    *out = NULL;
    if (gguf_find_key(f, key) < 0) return true; /* optional: see ds4_vocab_desc */
    gguf_vtype et;
    uint64_t n;
    const void *data;
    if (!gguf_get_arr(f, key, &et, &n, &data, err)) return false;
    if (n != n_tokens)
        return ds4_fail(err, "%s: %llu entries but tokenizer.ggml.tokens has %zu", key,
                        (unsigned long long)n, n_tokens);
    if (et == GGUF_VT_STRING || et == GGUF_VT_ARRAY || et == GGUF_VT_FLOAT32 || et == GGUF_VT_FLOAT64)
        return ds4_fail(err, "%s: expected an integer array, found an array of %s", key,
                        gguf_vtype_name(et));
    int32_t *t = malloc((n ? n : 1) * sizeof *t);
    if (!t) return ds4_fail(err, "%s: out of memory", key);
    for (uint64_t i = 0; i < n; i++) {
        double v;
        if (!gguf_get_arr_number(f, key, i, &v, err)) {
            free(t);
            return false;
        }
        /* token types are small codes; a value outside int32 is a corrupt file */
        if (!(v >= INT32_MIN && v <= INT32_MAX)) {
            free(t);
            return ds4_fail(err, "%s[%llu]: value %.0f is out of range", key, (unsigned long long)i, v);
        }
        t[i] = (int32_t)v;
    }
    *out = t;
    return true;
}

ds4_tokenizer *ds4_tokenizer_load(const gguf_file *f, ds4_error *err) {
    ds4_vocab_desc d = {0};
    const char **tokens = NULL, **merges = NULL;
    size_t *tlens = NULL, *mlens = NULL;
    int32_t *types = NULL;
    char *pre = NULL;
    ds4_tokenizer *tok = NULL;

    if (!read_str_array(f, "tokenizer.ggml.tokens", &tokens, &tlens, &d.n_tokens, err)) goto done;
    if (!read_str_array(f, "tokenizer.ggml.merges", &merges, &mlens, &d.n_merges, err)) goto done;
    if (!read_types(f, d.n_tokens, &types, err)) goto done;
    if (gguf_find_key(f, "tokenizer.ggml.pre") >= 0) {
        gguf_str s;
        if (!gguf_get_str(f, "tokenizer.ggml.pre", &s, err)) goto done;
        pre = ds4_xmalloc(s.len + 1);
        memcpy(pre, s.ptr, s.len);
        pre[s.len] = 0;
    }
    if (gguf_find_key(f, "tokenizer.ggml.model") >= 0) {
        gguf_str s;
        if (!gguf_get_str(f, "tokenizer.ggml.model", &s, err)) goto done;
        if (!(s.len == 4 && !memcmp(s.ptr, "gpt2", 4))) {
            ds4_fail(err, "tokenizer.ggml.model: '%.*s' is not supported (ds4 reads byte-level BPE, "
                          "\"gpt2\")", (int)(s.len > 64 ? 64 : s.len), s.ptr);
            goto done;
        }
    }
    d.tokens = tokens;
    d.token_lens = tlens;
    d.token_types = types;
    d.merges = merges;
    d.merge_lens = mlens;
    d.pre = pre;
    tok = ds4_tokenizer_create(&d, err);
done:
    free(tokens);
    free(tlens);
    free(merges);
    free(mlens);
    free(types);
    free(pre);
    return tok;
}
