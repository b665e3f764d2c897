/* Tokenizer core: byte alphabet, UTF-8 repair, streaming decoder, BPE merge
 * order and added-token matching on small hand-made vocabularies. (Exactness
 * against the reference on the real vocabularies is the corpus integration
 * test, tests/integration/tokenizer_corpus.sh.) */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/internal.h"
#include "tokenizer/tokenizer.h"

Test(tokenizer_bytes, alphabet_is_a_bijection) {
    bool seen[256 + 68] = {0};
    for (int b = 0; b < 256; b++) {
        uint32_t cp = ds4_byte_to_cp((uint8_t)b);
        cr_assert(cp < 256 + 68);
        cr_assert(!seen[cp], "code point %u used twice", cp);
        seen[cp] = true;
        cr_assert_eq(ds4_cp_to_byte(cp), b);
    }
    cr_assert_eq(ds4_byte_to_cp(' '), 0x120);  /* "Ġ" */
    cr_assert_eq(ds4_byte_to_cp('\n'), 0x10A); /* "Ċ" */
    cr_assert_eq(ds4_byte_to_cp(0), 0x100);
    cr_assert_eq(ds4_byte_to_cp(0x7F), 0x121);
    cr_assert_eq(ds4_byte_to_cp(0xAD), 0x143);
    cr_assert_eq(ds4_byte_to_cp('A'), 'A');
    cr_assert_eq(ds4_byte_to_cp(0xE9), 0xE9);
    cr_assert_eq(ds4_cp_to_byte(0x144), -1);
    cr_assert_eq(ds4_cp_to_byte(0x4E2D), -1);
}

static void expect_sanitized_n(const char *in, size_t n, const char *want, size_t wn) {
    size_t len;
    char *out = ds4_utf8_sanitize(in, n, &len);
    cr_assert_eq(len, wn, "sanitize length %zu, want %zu", len, wn);
    cr_assert(!memcmp(out, want, len));
    cr_assert(ds4_utf8_valid(out, len));
    free(out);
}
#define expect_sanitized(in, n, want) expect_sanitized_n(in, n, want, strlen(want))

#define FFFD "\xEF\xBF\xBD"

Test(tokenizer_utf8, maximal_subpart_replacement) {
    expect_sanitized("abc", 3, "abc");
    expect_sanitized("\xC0\xAF", 2, FFFD FFFD);                /* overlong lead bytes */
    expect_sanitized("\xE0\x80\xAF", 3, FFFD FFFD FFFD);       /* overlong 3-byte */
    expect_sanitized("\xED\xA0\x80", 3, FFFD FFFD FFFD);       /* surrogate */
    expect_sanitized("\xF4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD); /* > U+10FFFF */
    expect_sanitized("\xF0\x9F\x98", 3, FFFD);                 /* truncated emoji: one subpart */
    expect_sanitized("a\xF0\x9F\x98" "b", 5, "a" FFFD "b");
    expect_sanitized("\xE2\x82(", 3, FFFD "(");
    expect_sanitized("\xF0\x9F\x98\x80", 4, "\xF0\x9F\x98\x80");
    expect_sanitized_n("x\0y", 3, "x\0y", 3);
    cr_assert(ds4_utf8_valid("\xF4\x8F\xBF\xBF", 4));
    cr_assert(!ds4_utf8_valid("\xF4\x90\x80\x80", 4));
    cr_assert(!ds4_utf8_valid("\xC3", 1));
}

/* Builds a vocabulary: all 256 byte tokens (ids 0..255, byte order) followed
 * by `extra` tokens given in plain text (mapped to the byte alphabet here),
 * and merges given in plain text as "left right". */
typedef struct tvocab {
    char *tok[512];
    int32_t types[512];
    size_t n;
    char *merges[64];
    size_t nm;
} tvocab;

static char *mapped(const char *plain) {
    char *out = malloc(strlen(plain) * 2 + 1);
    size_t o = 0;
    for (const char *p = plain; *p; p++) o += ds4_utf8_put(ds4_byte_to_cp((uint8_t)*p), out + o);
    out[o] = 0;
    return out;
}

static void tv_init(tvocab *v) {
    memset(v, 0, sizeof *v);
    for (int b = 0; b < 256; b++) {
        char s[5] = {0};
        ds4_utf8_put(ds4_byte_to_cp((uint8_t)b), s);
        v->tok[v->n] = strdup(s);
        v->types[v->n++] = DS4_TOKEN_NORMAL;
    }
}

static int32_t tv_add(tvocab *v, const char *plain, int32_t type) {
    v->tok[v->n] = type == DS4_TOKEN_NORMAL ? mapped(plain) : strdup(plain);
    v->types[v->n] = type;
    return (int32_t)v->n++;
}

static void tv_merge(tvocab *v, const char *l, const char *r) {
    char *a = mapped(l), *b = mapped(r);
    char *m = malloc(strlen(a) + strlen(b) + 2);
    sprintf(m, "%s %s", a, b);
    v->merges[v->nm++] = m;
    free(a);
    free(b);
}

static ds4_tokenizer *tv_build(tvocab *v) {
    ds4_vocab_desc d = {.tokens = (const char *const *)v->tok, .token_types = v->types, .n_tokens = v->n,
                        .merges = (const char *const *)v->merges, .n_merges = v->nm};
    ds4_error err = {{0}};
    ds4_tokenizer *t = ds4_tokenizer_create(&d, &err);
    cr_assert_not_null(t, "create failed: %s", err.msg);
    return t;
}

static void tv_free(tvocab *v) {
    for (size_t i = 0; i < v->n; i++) free(v->tok[i]);
    for (size_t i = 0; i < v->nm; i++) free(v->merges[i]);
}

static void expect_ids(const ds4_tokenizer *t, const char *text, bool special, const int32_t *want, size_t n) {
    ds4_tokens out = {0};
    ds4_error err = {{0}};
    cr_assert(ds4_tokenize(t, text, strlen(text), special, &out, &err), "%s", err.msg);
    cr_assert_eq(out.n, n, "'%s': %zu tokens, want %zu", text, out.n, n);
    for (size_t i = 0; i < n; i++) cr_assert_eq(out.ids[i], want[i], "'%s' token %zu: %d, want %d", text, i, out.ids[i], want[i]);
    ds4_tokens_free(&out);
}
#define IDS(...) (const int32_t[]){__VA_ARGS__}, sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t)

Test(tokenizer_bpe, merges_apply_by_rank_then_leftmost) {
    tvocab v;
    tv_init(&v);
    int32_t aa = tv_add(&v, "aa", DS4_TOKEN_NORMAL);
    int32_t ab = tv_add(&v, "ab", DS4_TOKEN_NORMAL);
    int32_t bc = tv_add(&v, "bc", DS4_TOKEN_NORMAL);
    int32_t abc = tv_add(&v, "abc", DS4_TOKEN_NORMAL);
    int32_t sp_a = tv_add(&v, " a", DS4_TOKEN_NORMAL);
    int32_t bcbc = tv_add(&v, "bcbc", DS4_TOKEN_NORMAL);
    tv_merge(&v, "b", "c");   /* rank 0 */
    tv_merge(&v, "a", "b");   /* rank 1 */
    tv_merge(&v, "a", "bc");  /* rank 2 */
    tv_merge(&v, "a", "a");   /* rank 3 */
    tv_merge(&v, " ", "a");   /* rank 4 */
    tv_merge(&v, "bc", "bc"); /* rank 5 */
    ds4_tokenizer *t = tv_build(&v);
    expect_ids(t, "abc", true, IDS(abc));          /* b c first (rank 0), then a bc */
    expect_ids(t, "ab", true, IDS(ab));
    expect_ids(t, "aaa", true, IDS(aa, 'a'));      /* equal ranks: leftmost pair first */
    expect_ids(t, "aaaa", true, IDS(aa, aa));
    expect_ids(t, "abab", true, IDS(ab, ab));
    /* b c (rank 0), then a bc (rank 2); " a" (rank 4) is stale by then. */
    expect_ids(t, "x abc", true, IDS('x', ' ', abc));
    expect_ids(t, "x a", true, IDS('x', sp_a));
    expect_ids(t, "bcbc", true, IDS(bcbc));
    expect_ids(t, "bcbcbc", true, IDS(bcbc, bc));
    expect_ids(t, "", true, NULL, 0);
    ds4_tokenizer_free(t);
    tv_free(&v);
}

Test(tokenizer_bpe, pretokenizer_splits_digits_cjk_and_words) {
    tvocab v;
    tv_init(&v);
    int32_t n12 = tv_add(&v, "12", DS4_TOKEN_NORMAL);
    tv_add(&v, "34", DS4_TOKEN_NORMAL);
    int32_t n1234 = tv_add(&v, "1234", DS4_TOKEN_NORMAL); /* unreachable: digits split in threes */
    int32_t sp_ab = tv_add(&v, " ab", DS4_TOKEN_NORMAL);
    tv_add(&v, " a", DS4_TOKEN_NORMAL);
    tv_merge(&v, "1", "2");
    tv_merge(&v, "3", "4");
    tv_merge(&v, "12", "34");
    tv_merge(&v, " ", "a");
    tv_merge(&v, " a", "b");
    ds4_tokenizer *t = tv_build(&v);
    expect_ids(t, "1234", true, IDS(n12, '3', '4'));  /* "123" | "4" */
    expect_ids(t, "x ab", true, IDS('x', sp_ab));
    expect_ids(t, "x  ab", true, IDS('x', ' ', sp_ab)); /* \s+(?!\S) leaves the last space to the word */
    expect_ids(t, "x1234y", true, IDS('x', n12, '3', '4', 'y'));
    expect_ids(t, "1234", false, IDS(n12, '3', '4'));
    cr_assert_eq(ds4_tokenizer_find(t, "1234", 4), n1234);
    ds4_tokenizer_free(t);
    tv_free(&v);
}

Test(tokenizer_added, leftmost_longest_and_parse_special) {
    tvocab v;
    tv_init(&v);
    int32_t user = tv_add(&v, ds4_special_string(DS4_SPECIAL_USER), DS4_TOKEN_CONTROL);
    int32_t th = tv_add(&v, "<think>", DS4_TOKEN_CONTROL);
    int32_t th2 = tv_add(&v, "<think>>", DS4_TOKEN_USER_DEFINED);
    int32_t ab = tv_add(&v, "<a", DS4_TOKEN_USER_DEFINED);
    ds4_tokenizer *t = tv_build(&v);
    expect_ids(t, "<think>", true, IDS(th));
    expect_ids(t, "<think>>", true, IDS(th2));             /* longest at the leftmost start */
    expect_ids(t, "x<think>y", true, IDS('x', th, 'y'));
    expect_ids(t, "<<a", true, IDS('<', ab));
    expect_ids(t, "<think", true, IDS('<', 't', 'h', 'i', 'n', 'k'));
    /* Without parse_special, control tokens are plain text; user-defined still match. */
    expect_ids(t, "<think>", false, IDS('<', 't', 'h', 'i', 'n', 'k', '>'));
    expect_ids(t, "<a", false, IDS(ab));
    cr_assert_eq(ds4_tokenizer_special_id(t, DS4_SPECIAL_USER), user);
    cr_assert_eq(ds4_tokenizer_special_id(t, DS4_SPECIAL_THINK_OPEN), th);
    cr_assert_eq(ds4_tokenizer_special_id(t, DS4_SPECIAL_DSML), -1);
    cr_assert_eq(ds4_tokenizer_special_id(t, DS4_SPECIAL_BOS), -1);
    ds4_error err = {{0}};
    cr_assert_eq(ds4_tokenizer_require_special(t, DS4_SPECIAL_DSML, "tool calls", &err), -1);
    cr_assert(strstr(err.msg, "DSML") && strstr(err.msg, "tool calls"), "%s", err.msg);
    size_t l;
    const char *p = ds4_token_piece(t, user, &l);
    cr_assert(l == strlen(ds4_special_string(DS4_SPECIAL_USER)) && !memcmp(p, ds4_special_string(DS4_SPECIAL_USER), l));
    ds4_tokenizer_free(t);
    tv_free(&v);
}

Test(tokenizer_added, missing_byte_token_is_dropped) {
    /* A vocabulary without a token for 'z': the reference drops it silently. */
    const char *toks[] = {"a", "b"};
    ds4_vocab_desc d = {.tokens = toks, .n_tokens = 2};
    ds4_error err = {{0}};
    ds4_tokenizer *t = ds4_tokenizer_create(&d, &err);
    cr_assert_not_null(t, "%s", err.msg);
    expect_ids(t, "azb", true, IDS(0, 1));
    ds4_tokenizer_free(t);
}

Test(tokenizer_errors, bad_merges_and_types_are_named) {
    const char *toks[] = {"a", "b", "ab"};
    const char *bad1[] = {"a b", "a c"};
    ds4_vocab_desc d = {.tokens = toks, .n_tokens = 3, .merges = bad1, .n_merges = 2};
    ds4_error err = {{0}};
    cr_assert_null(ds4_tokenizer_create(&d, &err));
    cr_assert(strstr(err.msg, "merges[1]"), "%s", err.msg);
    const char *bad2[] = {"b a"};
    d.merges = bad2;
    d.n_merges = 1;
    cr_assert_null(ds4_tokenizer_create(&d, &err));
    cr_assert(strstr(err.msg, "merges[0]") && strstr(err.msg, "not in the vocabulary"), "%s", err.msg);
    int32_t types[] = {1, 9, 1};
    d.n_merges = 0;
    d.token_types = types;
    cr_assert_null(ds4_tokenizer_create(&d, &err));
    cr_assert(strstr(err.msg, "token_type[1]"), "%s", err.msg);
    d.token_types = NULL;
    d.pre = "gpt2";
    cr_assert_null(ds4_tokenizer_create(&d, &err));
    cr_assert(strstr(err.msg, "gpt2"), "%s", err.msg);
}

Test(tokenizer_decode, streaming_never_splits_a_character) {
    tvocab v;
    tv_init(&v);
    ds4_tokenizer *t = tv_build(&v);
    ds4_detok *d = ds4_detok_new(t);
    const char *euro = "\xE2\x82\xAC";
    size_t l;
    ds4_detok_push(d, (uint8_t)euro[0], &l);
    cr_assert_eq(l, 0);
    ds4_detok_push(d, (uint8_t)euro[1], &l);
    cr_assert_eq(l, 0);
    const char *o = ds4_detok_push(d, (uint8_t)euro[2], &l);
    cr_assert(l == 3 && !memcmp(o, euro, 3));
    o = ds4_detok_push(d, 'A', &l);
    cr_assert(l == 1 && o[0] == 'A');
    /* A byte that cannot start a character comes out as U+FFFD at once. */
    o = ds4_detok_push(d, 0x80, &l);
    cr_assert(l == 3 && !memcmp(o, FFFD, 3));
    /* A broken sequence: held lead byte, then ASCII. */
    ds4_detok_push(d, 0xF0, &l);
    cr_assert_eq(l, 0);
    o = ds4_detok_push(d, 'x', &l);
    cr_assert(l == 4 && !memcmp(o, FFFD "x", 4));
    /* Flush turns an incomplete tail into U+FFFD. */
    ds4_detok_push(d, 0xE2, &l);
    ds4_detok_push(d, 0x82, &l);
    o = ds4_detok_flush(d, &l);
    cr_assert(l == 3 && !memcmp(o, FFFD, 3));
    o = ds4_detok_flush(d, &l);
    cr_assert_eq(l, 0);
    /* Bad ids decode to nothing. */
    ds4_detok_push(d, -5, &l);
    cr_assert_eq(l, 0);
    int32_t ids[] = {'h', 'i', 99999};
    char *s = ds4_detokenize(t, ids, 3, &l);
    cr_assert(l == 2 && !strcmp(s, "hi"));
    free(s);
    ds4_detok_free(d);
    ds4_tokenizer_free(t);
    tv_free(&v);
}

typedef struct thr_arg {
    const ds4_tokenizer *t;
    const char *text;
    ds4_tokens out;
} thr_arg;

static void *thr_run(void *p) {
    thr_arg *a = p;
    ds4_error err;
    for (int i = 0; i < 50; i++) {
        ds4_tokens_free(&a->out);
        ds4_tokenize(a->t, a->text, strlen(a->text), true, &a->out, &err);
    }
    return NULL;
}

Test(tokenizer_bpe, concurrent_encoding_agrees) {
    tvocab v;
    tv_init(&v);
    tv_add(&v, "ab", DS4_TOKEN_NORMAL);
    tv_add(&v, " ab", DS4_TOKEN_NORMAL);
    tv_merge(&v, "a", "b");
    tv_merge(&v, " ", "ab");
    ds4_tokenizer *t = tv_build(&v);
    const char *text = "ab ab abab 123 \xE4\xB8\xAD\xE6\x96\x87 x\r\n\r\n  ab!!";
    thr_arg a[2] = {{t, text, {0}}, {t, text, {0}}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, thr_run, &a[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    cr_assert(a[0].out.n > 0 && a[0].out.n == a[1].out.n);
    cr_assert(!memcmp(a[0].out.ids, a[1].out.ids, a[0].out.n * sizeof(int32_t)));
    size_t l;
    char *back = ds4_detokenize(t, a[0].out.ids, a[0].out.n, &l);
    cr_assert(l == strlen(text) && !memcmp(back, text, l), "round trip differs");
    free(back);
    for (int i = 0; i < 2; i++) ds4_tokens_free(&a[i].out);
    ds4_tokenizer_free(t);
    tv_free(&v);
}

/* Pre-tokenizer pieces that depend on the Unicode tables (checked against the
 * reference by the corpus test): U+180E is not White_Space (PCRE2's own \s
 * would take it), U+1F8BB is a symbol since Unicode 16 and U+1FA77 since
 * Unicode 15 (unassigned for Debian's PCRE2 10.42, Unicode 14). */
typedef struct pieces {
    const char *text;
    char buf[256];
    size_t n;
} pieces;

static void collect(void *ctx, size_t s, size_t e) {
    pieces *p = ctx;
    p->n += (size_t)snprintf(p->buf + p->n, sizeof p->buf - p->n, "[%.*s]", (int)(e - s), p->text + s);
}

static void expect_pieces(const ds4_pretok *pre, const char *text, const char *want) {
    pieces p = {.text = text};
    ds4_error err = {{0}};
    cr_assert(ds4_pretok_split(pre, text, strlen(text), collect, &p, &err), "%s", err.msg);
    cr_assert_str_eq(p.buf, want);
}

Test(tokenizer_pretok, unicode_tables_and_whitespace) {
    ds4_error err = {{0}};
    ds4_pretok *pre = ds4_pretok_create("joyai-llm", &err);
    cr_assert_not_null(pre, "%s", err.msg);
    cr_assert_str_eq(ds4_unicode_version, "16.0.0");
    expect_pieces(pre, "   \xE1\xA0\x8E! !", "[  ][ ][\xE1\xA0\x8E][!][ !]");
    expect_pieces(pre, " \xF0\x9F\xA2\xBBx", "[ \xF0\x9F\xA2\xBB][x]");
    expect_pieces(pre, "a\xF0\x9F\xA9\xB7" "b", "[a][\xF0\x9F\xA9\xB7][b]");
    expect_pieces(pre, "Hello, world!! 12345 \xE6\x97\xA5\xE6\x9C\xAC\r\n\r\n  end",
                  "[Hello][,][ world][!!][ ][123][45][ ][\xE6\x97\xA5\xE6\x9C\xAC][\r\n\r\n][ ][ end]");
    expect_pieces(pre, "$var .Net 'll", "[$var][ .][Net][ '][ll]");
    ds4_pretok_free(pre);
    cr_assert_null(ds4_pretok_create("qwen2", &err));
    cr_assert(strstr(err.msg, "qwen2"), "%s", err.msg);
}
