/* SentencePiece's precompiled charsmap (HF's Precompiled normalizer): a
 * double-array trie of the strings it rewrites and the blob of their
 * replacements, applied per grapheme cluster as HF does. */
#ifndef WT_PRECOMPILED_H
#define WT_PRECOMPILED_H

#include "common/wt_common.h"
#include "text/normalize.h"

typedef struct wt_precompiled wt_precompiled;

/* From the charsmap's bytes (base64-decoded): copied. */
int wt_precompiled_new(wt_precompiled **out, const uint8_t *data, size_t n);
void wt_precompiled_free(wt_precompiled *pc);

/* The normalizer on valid UTF-8 s[0..n): 0 unchanged, 1 with the result in buf, or WT_E*. */
int wt_precompiled_apply(const wt_precompiled *pc, const uint8_t *s, size_t n, wt_norm_buf *buf, size_t *out_n);

#endif
