#include "text/precompiled.h"

#include "common/alloc.h"

struct wt_precompiled {
    int unused;
};

int wt_precompiled_new(wt_precompiled **out, const uint8_t *data, size_t n)
{
    (void)data;
    (void)n;
    *out = NULL;
    return WT_EINVAL;
}

void wt_precompiled_free(wt_precompiled *pc)
{
    wt_free(pc);
}

int wt_precompiled_apply(const wt_precompiled *pc, const uint8_t *s, size_t n, wt_norm_buf *buf, size_t *out_n)
{
    (void)pc; (void)s; (void)n; (void)buf; (void)out_n;
    return WT_EINVAL;
}
