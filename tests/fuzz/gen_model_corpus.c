/* Writes the seed corpus of fuzz_model: nano DeepSeek V4 models (every
 * layer kind, a hash layer, 2 HC streams) as F32 GGUFs of a few KB.
 * Build and run from the repository root:
 *   cc -std=c11 -D_GNU_SOURCE -Isrc -Itests/engine tests/fuzz/gen_model_corpus.c build/libds4.a -lm -lpthread \
 *      -o build/gen_model_corpus && build/gen_model_corpus tests/fuzz/corpus/model */
#include <stdio.h>

#include "micro_model.h"

static void nano(ds4_config *c, int variant) {
    micro_config(c, 0);
    c->n_layer = 3;
    c->n_embd = 8;
    c->n_vocab = 4;
    c->n_head = 2;
    c->head_dim = 8;
    c->n_rot = 4;
    c->q_lora = 4;
    c->o_lora = 4;
    c->n_out_group = 2;
    c->n_expert = 2;
    c->n_expert_used = 1;
    c->n_ff_exp = 8;
    c->n_hash_layer = 1;
    c->n_swa = 2;
    c->idx_head = 2;
    c->idx_dim = 8;
    c->idx_topk = 1;
    c->n_hc = 2;
    c->compress_ratio[0] = 0;
    c->compress_ratio[1] = 4;
    c->compress_ratio[2] = variant ? 2 : 8;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: gen_model_corpus DIR\n");
        return 2;
    }
    for (int v = 0; v < 2; v++) {
        ds4_config c;
        nano(&c, v);
        char path[1024];
        snprintf(path, sizeof path, "%s/nano%d.gguf", argv[1], v);
        ds4_error err;
        if (!micro_write(path, &c, 7 + (uint64_t)v, &err)) {
            fprintf(stderr, "%s: %s\n", path, err.msg);
            return 1;
        }
        printf("wrote %s\n", path);
    }
    return 0;
}
