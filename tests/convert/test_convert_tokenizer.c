/* Tokenizer metadata: the demo tokenizer.json round trip (token count,
 * list-form merges, special tokens, bos/eos) and the C.5 export rules on a
 * small hand-written tokenizer (string merges, holes, looks-special tokens,
 * user-defined tokens, bos/eos by string from tokenizer_config.json). */
#include "convert_util.h"

#include "convert/tokmeta.h"
#include "gguf/gguf.h"

static void str_eq(gguf_file *g, const char *key, uint64_t i, const char *want) {
    gguf_str s;
    ds4_error err;
    cr_assert(gguf_get_arr_str(g, key, i, &s, &err), "%s[%llu]: %s", key, (unsigned long long)i, err.msg);
    cr_assert(s.len == strlen(want) && !memcmp(s.ptr, want, s.len), "%s[%llu] = '%.*s', want '%s'", key,
              (unsigned long long)i, (int)s.len, s.ptr, want);
}

static int32_t type_at(gguf_file *g, uint64_t i) {
    double v;
    ds4_error err;
    cr_assert(gguf_get_arr_number(g, "tokenizer.ggml.token_type", i, &v, &err), "%s", err.msg);
    return (int32_t)v;
}

static uint64_t arr_count(gguf_file *g, const char *key) {
    gguf_vtype et;
    uint64_t n;
    const void *d;
    ds4_error err;
    cr_assert(gguf_get_arr(g, key, &et, &n, &d, &err), "%s", err.msg);
    return n;
}

Test(convert_tokenizer, demo_vocab_only_round_trip) {
    char hf[512], dir[512], out[700];
    cu_path(hf, sizeof hf, "oracle/demo");
    cu_tmpdir(dir, sizeof dir, "convert-tok");
    snprintf(out, sizeof out, "%s/v.gguf", dir);
    ds4_error err = {{0}};
    cr_assert(cu_convert(hf, out, NULL, true, &err), "%s", err.msg);
    gguf_file *g = gguf_open(out, &err);
    cr_assert_not_null(g, "%s", err.msg);
    cr_assert_eq(gguf_n_tensors(g), 0);
    gguf_str s;
    cr_assert(gguf_get_str(g, "tokenizer.ggml.model", &s, &err) && s.len == 4 && !memcmp(s.ptr, "gpt2", 4));
    cr_assert(gguf_get_str(g, "tokenizer.ggml.pre", &s, &err) && s.len == 9 && !memcmp(s.ptr, "joyai-llm", 9));
    cr_assert_eq(arr_count(g, "tokenizer.ggml.tokens"), 2048);
    cr_assert_eq(arr_count(g, "tokenizer.ggml.token_type"), 2048);
    cr_assert_eq(arr_count(g, "tokenizer.ggml.merges"), 1785);
    /* First merge of the pair-list form ["Ġ", "t"]. */
    str_eq(g, "tokenizer.ggml.merges", 0, "\xc4\xa0 t");
    str_eq(g, "tokenizer.ggml.tokens", 0, "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>");
    str_eq(g, "tokenizer.ggml.tokens", 1, "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>");
    str_eq(g, "tokenizer.ggml.tokens", 3, "<\xef\xbd\x9cUser\xef\xbd\x9c>");
    str_eq(g, "tokenizer.ggml.tokens", 5, "<think>");
    str_eq(g, "tokenizer.ggml.tokens", 6, "</think>");
    str_eq(g, "tokenizer.ggml.tokens", 7, "!");
    for (int i = 0; i <= 6; i++) cr_assert_eq(type_at(g, (uint64_t)i), 3, "token %d is control", i);
    cr_assert_eq(type_at(g, 7), 1);
    cr_assert_eq(cu_u32(g, "tokenizer.ggml.bos_token_id"), 0);
    cr_assert_eq(cu_u32(g, "tokenizer.ggml.eos_token_id"), 1);
    gguf_close(g);
    cu_rmdir(dir);
}

static void write_file(const char *dir, const char *name, const char *text) {
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* ids 0..9 with a hole at 5; string merges; added tokens: a special BOS/EOS,
 * a non-special <｜User｜> (looks special -> control) and a non-special
 * "a▁b" (user-defined, ▁ -> space). */
static const char *small_tok =
    "{\"added_tokens\":["
    "{\"id\":0,\"content\":\"<s>\",\"special\":true},"
    "{\"id\":1,\"content\":\"</s>\",\"special\":true},"
    "{\"id\":8,\"content\":\"<\xef\xbd\x9cUser\xef\xbd\x9c>\",\"special\":false},"
    "{\"id\":9,\"content\":\"a\xe2\x96\x81" "b\",\"special\":false}],"
    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"<s>\":0,\"</s>\":1,\"a\":2,\"b\":3,\"ab\":4,\"c\":6,\"abc\":7},"
    "\"merges\":[\"a b\",\"ab c\"]}}";

Test(convert_tokenizer, export_rules_on_small_tokenizer) {
    char dir[512], out[700];
    cu_tmpdir(dir, sizeof dir, "convert-tok2");
    write_file(dir, "tokenizer.json", small_tok);
    write_file(dir, "tokenizer_config.json",
               "{\"add_bos_token\":true,\"add_eos_token\":false,\"bos_token\":{\"content\":\"<s>\"},\"eos_token\":\"</s>\"}");
    snprintf(out, sizeof out, "%s/v.gguf", dir);
    ds4_error err = {{0}};
    cr_assert(cu_convert(dir, out, NULL, true, &err), "%s", err.msg);
    gguf_file *g = gguf_open(out, &err);
    cr_assert_not_null(g, "%s", err.msg);
    cr_assert_eq(arr_count(g, "tokenizer.ggml.tokens"), 10);
    str_eq(g, "tokenizer.ggml.tokens", 5, "[PAD5]");
    cr_assert_eq(type_at(g, 5), 5);
    str_eq(g, "tokenizer.ggml.tokens", 9, "a b");
    cr_assert_eq(type_at(g, 9), 4);
    cr_assert_eq(type_at(g, 8), 3);
    cr_assert_eq(type_at(g, 0), 3);
    cr_assert_eq(type_at(g, 2), 1);
    str_eq(g, "tokenizer.ggml.merges", 1, "ab c");
    cr_assert_eq(cu_u32(g, "tokenizer.ggml.bos_token_id"), 0);
    cr_assert_eq(cu_u32(g, "tokenizer.ggml.eos_token_id"), 1);
    bool b = false;
    cr_assert(gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b, &err) && b);
    cr_assert(gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b, &err) && !b);
    gguf_close(g);

    /* config.json's vocab_size pads the list, and its ids win. */
    ds4_tokmeta t;
    cr_assert(ds4_tokmeta_load(dir, 16, 1, 0, NULL, &t, &err), "%s", err.msg);
    cr_assert_eq(t.n_vocab, 16);
    cr_assert_str_eq(t.tokens[15], "[PAD15]");
    cr_assert_eq(t.bos_id, 1);
    cr_assert_eq(t.eos_id, 0);
    ds4_tokmeta_free(&t);
    /* --vocab-only reads only vocab_size/bos/eos from a partial config.json. */
    write_file(dir, "config.json", "{\"vocab_size\": 12, \"eos_token_id\": 7}");
    cr_assert(cu_convert(dir, out, NULL, true, &err), "%s", err.msg);
    g = gguf_open(out, &err);
    cr_assert_not_null(g, "%s", err.msg);
    cr_assert_eq(arr_count(g, "tokenizer.ggml.tokens"), 12);
    str_eq(g, "tokenizer.ggml.tokens", 11, "[PAD11]");
    cr_assert_eq(cu_u32(g, "tokenizer.ggml.bos_token_id"), 0);
    cr_assert_eq(cu_u32(g, "tokenizer.ggml.eos_token_id"), 7);
    gguf_close(g);
    /* An id past config.json's vocab_size is an error naming the id. */
    cr_assert_not(ds4_tokmeta_load(dir, 8, -1, -1, NULL, &t, &err));
    cr_assert(strstr(err.msg, "token id 9"), "%s", err.msg);
    cu_rmdir(dir);
}

Test(convert_tokenizer, malformed_tokenizer_json_leaves_no_file) {
    char dir[512], out[700], tmp[720];
    cu_tmpdir(dir, sizeof dir, "convert-tok3");
    write_file(dir, "tokenizer.json", "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": [");
    snprintf(out, sizeof out, "%s/v.gguf", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    ds4_error err = {{0}};
    cr_assert_not(cu_convert(dir, out, NULL, true, &err));
    cr_assert(strstr(err.msg, "tokenizer.json") && strstr(err.msg, "malformed"), "%s", err.msg);
    cr_assert_neq(access(out, F_OK), 0);
    cr_assert_neq(access(tmp, F_OK), 0);
    write_file(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\"]]}}");
    cr_assert_not(cu_convert(dir, out, NULL, true, &err));
    cr_assert(strstr(err.msg, "merges[0]"), "%s", err.msg);
    cr_assert_neq(access(out, F_OK), 0);
    cu_rmdir(dir);
}
