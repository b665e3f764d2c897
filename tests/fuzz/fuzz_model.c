/* libFuzzer target: a GGUF image through the model validator and, when it
 * is accepted, a short evaluation (two chunks, then a state save/load). Any
 * metadata/tensor combination must give a clean error or finite work, never
 * a crash. Seeds: nano models in every layer kind (tests/fuzz/corpus/model,
 * made by tests/fuzz/gen_model_corpus.c). */
#include <stdint.h>
#include <stdlib.h>

#include "engine/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ds4_error err;
    gguf_file *f = gguf_open_memory(data, size, &err);
    if (!f) return 0;
    ds4_model_opts o;
    ds4_model_opts_default(&o);
    o.n_threads = 1;
    o.numerics = size % 2 ? DS4_NUMERICS_OFFICIAL : DS4_NUMERICS_EXACT;
    ds4_model *m = ds4_model_from_gguf(f, &o, &err);
    if (!m) return 0;
    enum { CTX = 12 };
    ds4_session *s = ds4_session_create(m, CTX, &err);
    if (s) {
        const int V = ds4_model_n_vocab(m);
        int32_t toks[CTX];
        for (int i = 0; i < CTX; i++) toks[i] = (int32_t)((i * 7 + 3) % V);
        float *logits = malloc(sizeof(float) * (size_t)V);
        if (logits && ds4_session_eval(s, toks, 5, NULL, false, &err) &&
            ds4_session_eval(s, toks + 5, 3, logits, false, &err)) {
            size_t n = ds4_session_state_size(s);
            void *img = malloc(n);
            if (img && ds4_session_state_save(s, img, n, &err)) {
                ds4_session_reset(s);
                if (ds4_session_state_load(s, img, n, &err)) ds4_session_eval(s, toks + 8, 4, logits, false, &err);
            }
            free(img);
        }
        free(logits);
        ds4_session_free(s);
    }
    ds4_model_free(m);
    return 0;
}
