/* libFuzzer target for the tokenizer, on a small vocabulary built here (all
 * 256 byte tokens, a few merges, control and user-defined added tokens).
 * Invariants, for any input bytes:
 *   - encoding succeeds and every id is in range;
 *   - decoding the ids gives back the input with invalid UTF-8 replaced by
 *     U+FFFD (ds4_utf8_sanitize), i.e. nothing is lost or invented;
 *   - the streaming decoder fed the same bytes in arbitrary chunks emits only
 *     valid UTF-8 and, after flush, exactly the sanitized input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/internal.h"
#include "tokenizer/tokenizer.h"

#define CHECK(c)                                                                              \
    do {                                                                                      \
        if (!(c)) {                                                                           \
            fprintf(stderr, "fuzz_tokenizer: invariant failed: %s (line %d)\n", #c, __LINE__); \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

static ds4_tokenizer *tok;

static char *mapped(const char *plain) {
    char *out = malloc(strlen(plain) * 2 + 1);
    size_t o = 0;
    for (const char *p = plain; *p; p++) o += ds4_utf8_put(ds4_byte_to_cp((uint8_t)*p), out + o);
    out[o] = 0;
    return out;
}

static void build(void) {
    static const char *const words[] = {"ab", "abc", " a", " ab", "12", "123", "ee", "eee", "\xC3\xA4",
                                        "\r\n", "  ", "\xE4\xB8\xAD"};
    static const char *const merge_l[] = {"a", "ab", " ", " a", "1", "12", "e", "ee", "\xC3", "\r", " ",
                                          "\xE4", "\xE4\xB8"};
    static const char *const merge_r[] = {"b", "c", "a", "b", "2", "3", "e", "e", "\xA4", "\n", " ",
                                          "\xB8", "\xAD"};
    static const char *const added[] = {"<think>", "</think>", "<\xEF\xBD\x9CUser\xEF\xBD\x9C>", "<a>"};
    char *toks[256 + 32];
    int32_t types[256 + 32];
    size_t n = 0;
    for (int b = 0; b < 256; b++) {
        char s[5] = {0};
        ds4_utf8_put(ds4_byte_to_cp((uint8_t)b), s);
        toks[n] = strdup(s);
        types[n++] = DS4_TOKEN_NORMAL;
    }
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
        toks[n] = mapped(words[i]);
        types[n++] = DS4_TOKEN_NORMAL;
    }
    toks[n] = mapped("\xE4\xB8");
    types[n++] = DS4_TOKEN_NORMAL;
    for (size_t i = 0; i < sizeof added / sizeof *added; i++) {
        toks[n] = strdup(added[i]);
        types[n++] = i == 3 ? DS4_TOKEN_USER_DEFINED : DS4_TOKEN_CONTROL;
    }
    size_t nm = sizeof merge_l / sizeof *merge_l;
    char *merges[16];
    for (size_t i = 0; i < nm; i++) {
        char *a = mapped(merge_l[i]), *b = mapped(merge_r[i]);
        merges[i] = malloc(strlen(a) + strlen(b) + 2);
        sprintf(merges[i], "%s %s", a, b);
        free(a);
        free(b);
    }
    ds4_vocab_desc d = {.tokens = (const char *const *)toks, .token_types = types, .n_tokens = n,
                        .merges = (const char *const *)merges, .n_merges = nm};
    ds4_error err;
    tok = ds4_tokenizer_create(&d, &err);
    if (!tok) {
        fprintf(stderr, "fuzz_tokenizer: vocabulary rejected: %s\n", err.msg);
        abort();
    }
    for (size_t i = 0; i < n; i++) free(toks[i]);
    for (size_t i = 0; i < nm; i++) free(merges[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!tok) build();
    const char *text = (const char *)data;
    size_t clean_len;
    char *clean = ds4_utf8_sanitize(text, size, &clean_len);
    CHECK(ds4_utf8_valid(clean, clean_len));

    for (int special = 0; special < 2; special++) {
        ds4_tokens t = {0};
        ds4_error err;
        CHECK(ds4_tokenize(tok, text, size, special, &t, &err));
        for (size_t i = 0; i < t.n; i++) CHECK(t.ids[i] >= 0 && t.ids[i] < ds4_tokenizer_n_vocab(tok));
        size_t dl;
        char *dec = ds4_detokenize(tok, t.ids, t.n, &dl);
        CHECK(dl == clean_len && !memcmp(dec, clean, dl));
        free(dec);
        ds4_tokens_free(&t);
    }

    /* Streaming: chunk sizes from the data itself. */
    ds4_detok *d = ds4_detok_new(tok);
    char *acc = malloc(clean_len + 4);
    size_t acc_n = 0, pos = 0, k = 0;
    while (pos < size) {
        size_t chunk = 1 + (size ? data[k++ % size] % 5 : 0);
        if (chunk > size - pos) chunk = size - pos;
        size_t l;
        const char *o = ds4_detok_push_bytes(d, text + pos, chunk, &l);
        CHECK(ds4_utf8_valid(o, l));
        CHECK(acc_n + l <= clean_len);
        memcpy(acc + acc_n, o, l);
        acc_n += l;
        pos += chunk;
    }
    size_t l;
    const char *o = ds4_detok_flush(d, &l);
    CHECK(ds4_utf8_valid(o, l));
    CHECK(acc_n + l == clean_len);
    memcpy(acc + acc_n, o, l);
    CHECK(!memcmp(acc, clean, clean_len));
    free(acc);
    ds4_detok_free(d);
    free(clean);
    return 0;
}
