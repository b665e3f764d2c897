/* The ggml tensor type table (formats.md A.6), with ggml's block sizes.
 * Ids missing from the table (4, 5, 31..33, 36..38) are retired or unused;
 * they are reported as unknown so that a file using them is rejected with a
 * message instead of being mis-sized. */
#include "gguf/types.h"

#include <ctype.h>
#include <stddef.h>

typedef struct {
    const char *name;
    uint32_t block_elems;
    uint32_t block_bytes;
} type_info;

#define N_TYPES 40

static const type_info table[N_TYPES] = {
    [0] = {"F32", 1, 4},        [1] = {"F16", 1, 2},        [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},     [6] = {"Q5_0", 32, 22},     [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},     [9] = {"Q8_1", 32, 36},     [10] = {"Q2_K", 256, 84},
    [11] = {"Q3_K", 256, 110},  [12] = {"Q4_K", 256, 144},  [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},  [15] = {"Q8_K", 256, 292},  [16] = {"IQ2_XXS", 256, 66},
    [17] = {"IQ2_XS", 256, 74}, [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},  [21] = {"IQ3_S", 256, 110}, [22] = {"IQ2_S", 256, 82},
    [23] = {"IQ4_XS", 256, 136}, [24] = {"I8", 1, 1},       [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},       [27] = {"I64", 1, 8},       [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", 256, 56},  [30] = {"BF16", 1, 2},      [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66},  [39] = {"MXFP4", 32, 17},
};

/* In-memory layouts (types.h), from DS4_TYPE_Q8_0_X16 on. */
static const type_info memory_table[] = {
    {"Q8_0_X16", 512, 544},
    {"Q2_K_X4", 256, 84},
    {"Q4_K_X4", 256, 144},
};
#define N_MEMORY_TYPES (sizeof memory_table / sizeof memory_table[0])

bool ds4_type_known(uint32_t type) {
    return type < N_TYPES && table[type].name != NULL;
}

/* File types and in-memory layouts; NULL for anything else. */
static const type_info *info(uint32_t type) {
    if (ds4_type_known(type)) return &table[type];
    if (type >= DS4_TYPE_Q8_0_X16 && type - DS4_TYPE_Q8_0_X16 < N_MEMORY_TYPES) return &memory_table[type - DS4_TYPE_Q8_0_X16];
    return NULL;
}

const char *ds4_type_name(uint32_t type) {
    const type_info *t = info(type);
    return t ? t->name : "?";
}

bool ds4_type_from_name(const char *name, uint32_t *type) {
    if (!name) return false;
    for (uint32_t t = 0; t < N_TYPES; t++) {
        const char *n = table[t].name;
        if (!n) continue;
        size_t i = 0;
        while (n[i] && name[i] && toupper((unsigned char)name[i]) == (unsigned char)n[i]) i++;
        if (!n[i] && !name[i]) {
            if (type) *type = t;
            return true;
        }
    }
    return false;
}

uint32_t ds4_type_block_elems(uint32_t type) {
    const type_info *t = info(type);
    return t ? t->block_elems : 0;
}

uint32_t ds4_type_block_bytes(uint32_t type) {
    const type_info *t = info(type);
    return t ? t->block_bytes : 0;
}

uint64_t ds4_row_bytes(uint32_t type, uint64_t n) {
    const type_info *t = info(type);
    if (!t) return 0;
    uint64_t be = t->block_elems, bb = t->block_bytes;
    if (n % be) return 0;
    uint64_t blocks = n / be;
    if (blocks > UINT64_MAX / bb) return 0; /* overflow: callers treat 0 as invalid */
    return blocks * bb;
}
