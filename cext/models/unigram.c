/* Unigram: not yet. */
#include "models/internal.h"

int wt_unigram_new(wt_model *m, const wt_model_def *def)
{
    (void)m; (void)def;
    return WT_EINVAL;
}

void wt_unigram_free(wt_unigram *u) { (void)u; }

int64_t wt_unigram_encode(const wt_model *m, const uint8_t *p, size_t n, uint32_t *out)
{
    (void)m; (void)p; (void)n; (void)out;
    return WT_EINVAL;
}
