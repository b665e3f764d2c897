/* libFuzzer target for loading a tokenizer from GGUF metadata: any image the
 * GGUF reader accepts must either load or fail with a message, never crash;
 * a loaded tokenizer must encode a fixed mixed string and the input's own
 * bytes into in-range ids, and decode them. Seeds (tests/fuzz/corpus/tokenizer_load/)
 * are `ds4 convert --vocab-only` outputs of two tiny tokenizer.json files: 256
 * byte tokens + 5 merges + <think> and <｜User｜>, and a 3-token "a b ab". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_tokenizer_load: invariant failed: %s (line %d)\n", #c, __LINE__); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void encode(const ds4_tokenizer *t, const char *s, size_t n) {
    ds4_tokens out = {0};
    ds4_error err;
    if (ds4_tokenize(t, s, n, true, &out, &err)) {
        for (size_t i = 0; i < out.n; i++) CHECK(out.ids[i] >= 0 && out.ids[i] < ds4_tokenizer_n_vocab(t));
        size_t dl;
        char *dec = ds4_detokenize(t, out.ids, out.n, &dl);
        free(dec);
    } else {
        CHECK(err.msg[0]);
    }
    ds4_tokens_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ds4_error err = {{0}};
    gguf_file *g = gguf_open_memory(data, size, &err);
    if (!g) return 0;
    ds4_tokenizer *t = ds4_tokenizer_load(g, &err);
    gguf_close(g);
    if (!t) {
        CHECK(err.msg[0]);
        return 0;
    }
    static const char mixed[] = "Hello, world! 123 \xE4\xB8\xAD\xE6\x96\x87 <think>x</think>\r\n\xC0";
    encode(t, mixed, sizeof mixed - 1);
    encode(t, (const char *)data, size < 4096 ? size : 4096);
    for (int k = 0; k < DS4_SPECIAL_COUNT; k++) {
        int32_t id = ds4_tokenizer_special_id(t, (ds4_special)k);
        CHECK(id >= -1 && id < ds4_tokenizer_n_vocab(t));
    }
    ds4_tokenizer_free(t);
    return 0;
}
