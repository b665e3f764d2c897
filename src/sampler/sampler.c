/* Sampling (chat-and-api.md §5). */
#include "sampler/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"

struct ds4_sampler {
    ds4_sampler_params p;
    int n_vocab;
    ds4_rng rng;
    uint64_t seed;
    int32_t *hist;
    int n_hist, cap_hist;
    int32_t *idx;     /* candidate scratch, n_vocab */
    float *prob;      /* candidate probabilities */
    int *count;       /* per-token counts for penalties, kept all-zero between calls */
};

ds4_sampler_params ds4_sampler_defaults(void) {
    ds4_sampler_params p = {
        .temp = 1.0f, .top_p = 1.0f, .min_p = 0.05f, .top_k = 0,
        .repeat_penalty = 1.0f, .frequency_penalty = 0.0f, .presence_penalty = 0.0f,
        .penalty_last_n = 64, .seed = 0,
    };
    return p;
}

/* splitmix64: spreads any seed (including small ones) over the state and
 * never yields the all-zero state xorshift cannot leave. */
void ds4_rng_seed(ds4_rng *r, uint64_t seed) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    r->state = z ? z : 0x2545F4914F6CDD1Dull;
}

uint64_t ds4_rng_next(ds4_rng *r) {
    uint64_t x = r->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

double ds4_rng_uniform(ds4_rng *r) { return (double)(ds4_rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

ds4_sampler *ds4_sampler_new(const ds4_sampler_params *p, int n_vocab) {
    ds4_sampler *s = ds4_xcalloc(1, sizeof *s);
    s->p = p ? *p : ds4_sampler_defaults();
    if (!(s->p.top_p > 0.0f && s->p.top_p <= 1.0f)) s->p.top_p = 1.0f;
    if (!(s->p.min_p >= 0.0f)) s->p.min_p = 0.0f;
    if (s->p.top_k < 0) s->p.top_k = 0;
    if (s->p.top_k > DS4_SAMPLER_MAX_TOP_K) s->p.top_k = DS4_SAMPLER_MAX_TOP_K;
    s->n_vocab = n_vocab;
    s->seed = s->p.seed;
    if (!s->seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s->seed = ((uint64_t)ts.tv_sec * 1000000007ull) ^ (uint64_t)ts.tv_nsec;
        s->seed &= 0x7FFFFFFFFFFFFFFFull; /* printable as a positive --seed */
        if (!s->seed) s->seed = 1;
    }
    ds4_rng_seed(&s->rng, s->seed);
    s->idx = ds4_xmalloc((size_t)n_vocab * sizeof *s->idx);
    s->prob = ds4_xmalloc((size_t)n_vocab * sizeof *s->prob);
    s->count = ds4_xcalloc((size_t)n_vocab, sizeof *s->count);
    return s;
}

void ds4_sampler_free(ds4_sampler *s) {
    if (!s) return;
    free(s->hist);
    free(s->idx);
    free(s->prob);
    free(s->count);
    free(s);
}

uint64_t ds4_sampler_seed(const ds4_sampler *s) { return s->seed; }
const ds4_sampler_params *ds4_sampler_get_params(const ds4_sampler *s) { return &s->p; }

void ds4_sampler_accept(ds4_sampler *s, int32_t token) {
    if (s->n_hist == s->cap_hist) {
        s->cap_hist = s->cap_hist ? s->cap_hist * 2 : 256;
        s->hist = ds4_xrealloc(s->hist, (size_t)s->cap_hist * sizeof *s->hist);
    }
    s->hist[s->n_hist++] = token;
}

void ds4_sampler_reset_history(ds4_sampler *s) { s->n_hist = 0; }

void ds4_sampler_apply_penalties(const ds4_sampler *s, float *logits) {
    const ds4_sampler_params *p = &s->p;
    bool rep = p->repeat_penalty != 1.0f && p->repeat_penalty > 0.0f;
    if (!rep && p->frequency_penalty == 0.0f && p->presence_penalty == 0.0f) return;
    int from = p->penalty_last_n > 0 && s->n_hist > p->penalty_last_n ? s->n_hist - p->penalty_last_n : 0;
    for (int i = from; i < s->n_hist; i++) {
        int32_t t = s->hist[i];
        if (t >= 0 && t < s->n_vocab) s->count[t]++;
    }
    for (int i = from; i < s->n_hist; i++) {
        int32_t t = s->hist[i];
        if (t < 0 || t >= s->n_vocab || s->count[t] == 0) continue; /* done already */
        float l = logits[t];
        if (rep) l = l > 0.0f ? l / p->repeat_penalty : l * p->repeat_penalty;
        l -= p->frequency_penalty * (float)s->count[t] + p->presence_penalty;
        logits[t] = l;
        s->count[t] = 0;
    }
}

static int32_t argmax(const float *l, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (l[i] > l[best]) best = i;
    return best;
}

/* Sort helpers: descending logit, ties by lower id (deterministic). */
static int cmp_desc(const void *a, const void *b, void *ctx) {
    const float *l = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    float lx = l[x], ly = l[y];
    if (lx != ly) return lx > ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* The k best ids into idx[0..k), sorted descending: a bounded insertion
 * into a sorted array, O(n·k) worst case but k <= 1024 and most logits are
 * rejected by one comparison with the current k-th best. */
static int top_k_ids(const float *l, int n, int k, int32_t *idx) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m == k && !(l[i] > l[idx[k - 1]])) continue;
        int j = m < k ? m++ : k - 1;
        while (j > 0 && l[i] > l[idx[j - 1]]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    return m;
}

int32_t ds4_sampler_sample(ds4_sampler *s, float *logits) {
    const ds4_sampler_params *p = &s->p;
    int n = s->n_vocab;
    ds4_sampler_apply_penalties(s, logits);
    if (!(p->temp > 0.0f)) return argmax(logits, n);
    float inv_t = 1.0f / p->temp;
    float lmax = logits[argmax(logits, n)];

    if (p->top_k == 0 && p->top_p >= 1.0f) {
        /* Whole vocabulary: weights exp((l-lmax)/T), those below min_p dropped. */
        double sum = 0.0;
        int m = 0;
        for (int i = 0; i < n; i++) {
            float w = expf((logits[i] - lmax) * inv_t);
            if (w < p->min_p) continue;
            s->idx[m] = i;
            s->prob[m++] = w;
            sum += w;
        }
        double r = ds4_rng_uniform(&s->rng) * sum, acc = 0.0;
        for (int i = 0; i < m; i++) {
            acc += s->prob[i];
            if (r < acc) return s->idx[i];
        }
        return s->idx[m - 1];
    }

    /* Candidates sorted by logit: the k best, or the whole vocabulary. */
    int m;
    double denom = 0.0;
    if (p->top_k > 0) {
        m = top_k_ids(logits, n, p->top_k < n ? p->top_k : n, s->idx);
        for (int i = 0; i < m; i++) denom += expf((logits[s->idx[i]] - lmax) * inv_t);
    } else {
        /* Every token counts in the softmax, but those under min_p·p_max can
         * never be kept, so only the others need sorting. */
        m = 0;
        for (int i = 0; i < n; i++) {
            float w = expf((logits[i] - lmax) * inv_t);
            denom += w;
            if (w >= p->min_p) s->idx[m++] = i;
        }
        qsort_r(s->idx, (size_t)m, sizeof *s->idx, cmp_desc, logits);
    }
    /* Softmax at T, min_p relative to the best (which always stays), then
     * the top_p cut on the cumulative mass. */
    int kept = 0;
    double mass = 0.0;
    for (int i = 0; i < m; i++) {
        float w = expf((logits[s->idx[i]] - lmax) * inv_t);
        if (i > 0 && w < p->min_p) break; /* sorted: the rest are smaller */
        s->prob[kept++] = (float)(w / denom);
        mass += w / denom;
        if (mass >= p->top_p) break;
    }
    double r = ds4_rng_uniform(&s->rng) * mass, acc = 0.0;
    for (int i = 0; i < kept; i++) {
        acc += s->prob[i];
        if (r < acc) return s->idx[i];
    }
    return s->idx[kept - 1];
}
