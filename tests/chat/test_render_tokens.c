/* The rendered template through the embedded demo model's tokenizer: every
 * special-token string becomes exactly one token, found by name (§1.1), and
 * the text between them is ordinary BPE. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

static ds4_tokenizer *demo_tok(gguf_file **gf) {
    ds4_error err = {{0}};
    *gf = gguf_open("models/ds4-demo-q2.gguf", &err);
    cr_assert(*gf, "models/ds4-demo-q2.gguf (run from the repository root): %s", err.msg);
    ds4_tokenizer *t = ds4_tokenizer_load(*gf, &err);
    cr_assert(t, "%s", err.msg);
    return t;
}

Test(chat_tokens, special_strings_are_single_tokens) {
    gguf_file *gf;
    ds4_tokenizer *tok = demo_tok(&gf);
    ds4_chat c;
    ds4_chat_init(&c);
    ds4_chat_add(&c, DS4_ROLE_SYSTEM, "You are terse.");
    ds4_chat_add(&c, DS4_ROLE_USER, "Is 91 prime?");
    ds4_chat_msg *m = ds4_chat_add(&c, DS4_ROLE_ASSISTANT, "No.");
    ds4_chat_msg_set_reasoning(m, "91 = 7 x 13");
    ds4_chat_add(&c, DS4_ROLE_USER, "And 97?");
    ds4_chat_render_opts o = {.think = DS4_THINK_HIGH, .keep_reasoning = true};
    char *p = ds4_chat_render(&c, &o, NULL);
    ds4_tokens ids = {0};
    ds4_error err = {{0}};
    cr_assert(ds4_tokenize(tok, p, strlen(p), true, &ids, &err), "%s", err.msg);
    int32_t bos = ds4_tokenizer_special_id(tok, DS4_SPECIAL_BOS);
    int32_t eos = ds4_tokenizer_special_id(tok, DS4_SPECIAL_EOS);
    int32_t usr = ds4_tokenizer_special_id(tok, DS4_SPECIAL_USER);
    int32_t ast = ds4_tokenizer_special_id(tok, DS4_SPECIAL_ASSISTANT);
    int32_t th = ds4_tokenizer_special_id(tok, DS4_SPECIAL_THINK_OPEN);
    int32_t eth = ds4_tokenizer_special_id(tok, DS4_SPECIAL_THINK_CLOSE);
    cr_assert(bos >= 0 && eos >= 0 && usr >= 0 && ast >= 0 && th >= 0 && eth >= 0);
    cr_assert_eq(ids.ids[0], bos);
    /* Count the specials, and check the order of the markers. */
    int32_t want[] = {bos, usr, ast, th, eth, eos, usr, ast, th};
    size_t k = 0;
    for (size_t i = 0; i < ids.n; i++) {
        int32_t t = ids.ids[i];
        if (t == bos || t == eos || t == usr || t == ast || t == th || t == eth) {
            cr_assert_lt(k, sizeof want / sizeof want[0]);
            cr_assert_eq(t, want[k], "special #%zu: %d, want %d", k, t, want[k]);
            k++;
        }
    }
    cr_assert_eq(k, sizeof want / sizeof want[0]);
    cr_assert_eq(ids.ids[ids.n - 1], th); /* the generation prefix ends the prompt */
    /* Decoding gives the rendered text back. */
    size_t n;
    char *back = ds4_detokenize(tok, ids.ids, ids.n, &n);
    cr_assert_eq(n, strlen(p));
    cr_assert(!memcmp(back, p, n));
    cr_assert_lt(ds4_tokenizer_special_id(tok, DS4_SPECIAL_DSML), 0); /* the demo vocabulary has no ｜DSML｜ */
    free(back);
    ds4_tokens_free(&ids);
    free(p);
    ds4_chat_free(&c);
    ds4_tokenizer_free(tok);
    gguf_close(gf);
}
