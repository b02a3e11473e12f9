#include "tokenizer.h"

#include <pthread.h>
#include <stdatomic.h>

#include "alloc.h"
#include "pool.h"
#include "utf8.h"

/* ---- per-thread scratch ---- */

typedef struct {
    wt_restack stack;
    wt_bpe_scratch bpe;
    wt_ids out;              /* the result buffer of single-text calls */
    wt_bytes prefixed[WT_MAX_STAGES];  /* a piece with the space a stage put before it */
    wt_nfc_scratch nfc;      /* the normalized segment of pass 1 */
} wt_scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_destroy(void *p)
{
    wt_scratch *sc = p;
    wt_restack_free(&sc->stack);
    wt_bpe_scratch_free(&sc->bpe);
    wt_ids_free(&sc->out);
    for (int k = 0; k < WT_MAX_STAGES; k++) wt_bytes_free(&sc->prefixed[k]);
    wt_nfc_scratch_free(&sc->nfc);
    wt_free(sc);
}

static void scratch_key_init(void) { pthread_key_create(&scratch_key, scratch_destroy); }

static wt_scratch *scratch_get(void)
{
    pthread_once(&scratch_once, scratch_key_init);
    wt_scratch *sc = pthread_getspecific(scratch_key);
    if (!sc) {
        sc = wt_calloc(1, sizeof *sc);
        if (sc && pthread_setspecific(scratch_key, sc) != 0) { wt_free(sc); sc = NULL; }
    }
    return sc;
}

wt_ids *wt_thread_ids(void)
{
    wt_scratch *sc = scratch_get();
    if (!sc) return NULL;
    /* Keep the buffer between calls, but not a huge one from a rare huge text. */
    if (sc->out.cap > ((size_t)1 << 20)) wt_ids_free(&sc->out);
    sc->out.len = 0;
    return &sc->out;
}

wt_bpe_scratch *wt_thread_bpe_scratch(void)
{
    wt_scratch *sc = scratch_get();
    return sc ? &sc->bpe : NULL;
}

int wt_work_counters(uint64_t *bpe, uint64_t *regex, int reset)
{
    wt_scratch *sc = scratch_get();
    if (!sc) return WT_ENOMEM;
    *bpe = sc->bpe.work;
    *regex = sc->stack.work;
    if (reset) sc->bpe.work = sc->stack.work = 0;
    return 0;
}

/* ---- id buffers ---- */

int wt_ids_reserve(wt_ids *b, size_t extra)
{
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra) cap *= 2;
    uint32_t *p = wt_realloc(b->ids, cap * sizeof(uint32_t));
    if (!p) return WT_ENOMEM;
    b->ids = p;
    b->cap = cap;
    return 0;
}

void wt_ids_free(wt_ids *b)
{
    wt_free(b->ids);
    b->ids = NULL;
    b->len = b->cap = 0;
}

int wt_bytes_reserve(wt_bytes *b, size_t extra)
{
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *p = wt_realloc(b->p, cap);
    if (!p) return WT_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

void wt_bytes_free(wt_bytes *b)
{
    wt_free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- added tokens ---- */

int wt_added_init(wt_added *a, uint32_t n_nodes, const uint32_t *first_edge, const uint8_t *edge_byte,
                  const uint32_t *edge_target, const int32_t *node_added, uint32_t n_added,
                  const uint32_t *added_id, const uint8_t *added_flags)
{
    memset(a, 0, sizeof *a);
    a->only_root = -1;
    if (n_nodes == 0) return 0;
    uint32_t n_edges = first_edge[n_nodes];
    a->first_edge = wt_malloc((n_nodes + 1) * sizeof(uint32_t));
    a->edge_byte = wt_malloc(n_edges + 1);
    a->edge_target = wt_malloc((n_edges + 1) * sizeof(uint32_t));
    a->node_added = wt_malloc(n_nodes * sizeof(int32_t));
    a->added_id = wt_malloc((n_added + 1) * sizeof(uint32_t));
    a->added_flags = wt_malloc(n_added + 1);
    if (!a->first_edge || !a->edge_byte || !a->edge_target || !a->node_added || !a->added_id || !a->added_flags)
        return WT_ENOMEM;
    memcpy(a->first_edge, first_edge, (n_nodes + 1) * sizeof(uint32_t));
    memcpy(a->edge_byte, edge_byte, n_edges);
    memcpy(a->edge_target, edge_target, n_edges * sizeof(uint32_t));
    memcpy(a->node_added, node_added, n_nodes * sizeof(int32_t));
    memcpy(a->added_id, added_id, n_added * sizeof(uint32_t));
    memcpy(a->added_flags, added_flags, n_added);
    a->n_nodes = n_nodes;
    a->n_added = n_added;
    for (uint32_t k = 0; k < n_nodes; k++) {
        if (first_edge[k] > first_edge[k + 1] || first_edge[k + 1] > n_edges) return WT_EINVAL;
        if (node_added[k] >= (int32_t)n_added) return WT_EINVAL;
    }
    for (uint32_t e = 0; e < n_edges; e++)
        if (edge_target[e] >= n_nodes) return WT_EINVAL;
    for (uint32_t e = first_edge[0]; e < first_edge[1]; e++) a->root_bytes[edge_byte[e]] = 1;
    a->only_root = first_edge[1] - first_edge[0] == 1 ? edge_byte[first_edge[0]] : -1;
    return 0;
}

static void added_free(wt_added *a)
{
    wt_free(a->first_edge); wt_free(a->edge_byte); wt_free(a->edge_target);
    wt_free(a->node_added); wt_free(a->added_id); wt_free(a->added_flags);
    memset(a, 0, sizeof *a);
}

/* Longest token starting exactly at pos; with only_active, only active ones count. */
static int added_at(const wt_added *a, const uint8_t *s, size_t n, size_t pos, const uint8_t *active,
                    int only_active, size_t *end, uint32_t *index)
{
    uint32_t node = 0;
    int found = 0;
    for (size_t p = pos; p < n; p++) {
        uint32_t e = a->first_edge[node], stop = a->first_edge[node + 1];
        while (e < stop && a->edge_byte[e] != s[p]) e++;
        if (e == stop) break;
        node = a->edge_target[e];
        int32_t k = a->node_added[node];
        if (k >= 0 && (!only_active || active[k])) { found = 1; *end = p + 1; *index = (uint32_t)k; }
    }
    return found;
}

static int is_space_at(const uint8_t *s, size_t n, size_t pos, size_t *len)
{
    return wt_is_space(wt_utf8_decode(s, n, pos, len));
}

int wt_find_added(const wt_tokenizer *t, int pass, const uint8_t *s, size_t n, size_t pos,
                  const uint8_t *active, size_t *start, size_t *end, uint32_t *index)
{
    const wt_added *a = &t->added[pass];
    if (!active || a->n_nodes == 0) return 0;
    const size_t floor = pos;   /* lstrip never reaches into the previous split */
    for (size_t p = pos; p < n; p++) {
        if (a->only_root >= 0) {             /* e.g. every special token starts with '<' */
            const uint8_t *c = memchr(s + p, a->only_root, n - p);
            if (!c) return 0;
            p = (size_t)(c - s);
        }
        if (!a->root_bytes[s[p]] || !added_at(a, s, n, p, active, t->filter_inactive, end, index)) continue;
        if (!active[*index]) {           /* HF: matched, then ignored as text */
            p = *end - 1;
            continue;
        }
        *start = p;
        uint8_t flags = a->added_flags[*index];
        size_t len;
        if (flags & WT_ADDED_LSTRIP)
            while (*start > floor) {
                size_t q = wt_utf8_prev(s, floor, *start);
                if (!is_space_at(s, n, q, &len)) break;
                *start = q;
            }
        if (flags & WT_ADDED_RSTRIP)
            while (*end < n && is_space_at(s, n, *end, &len)) *end += len;
        return 1;
    }
    return 0;
}

/* ---- pre-tokenize and merge ---- */

typedef struct wt_run wt_run;
struct wt_run {
    const wt_tokenizer *t;
    wt_ids *out;
    size_t limit;            /* stop once out->len reaches it */
    wt_scratch *sc;
    int (*piece)(wt_run *r, const uint8_t *p, size_t n);
    wt_bytes *piece_bytes;   /* wt_pre_tokenize only */
    wt_ids *piece_lens;
};

/* 1 when the limit is reached, 0 to go on, <0 on error. h: the piece's wt_bpe_hash. */
static int bpe_piece_hashed(wt_run *r, const uint8_t *p, size_t n, uint64_t h)
{
    int rc = wt_ids_reserve(r->out, n + WT_PIECE_CACHE_IDS);
    if (rc) return rc;
    int64_t k = wt_bpe_encode_piece(&r->t->bpe, p, n, h, r->out->ids + r->out->len, &r->sc->bpe);
    if (k < 0) return (int)k;
    r->out->len += (size_t)k;
    if (r->out->len >= r->limit) {
        r->out->len = r->limit;
        return 1;
    }
    return 0;
}

static int bpe_piece(wt_run *r, const uint8_t *p, size_t n)
{
    return bpe_piece_hashed(r, p, n, wt_bpe_hash(p, n));
}

static int stage_run(wt_run *r, uint32_t k, const uint8_t *s, size_t n);

/* A scanner's piece ends, found up to WT_SCAN_BLOCK at a time, handed out one
 * by one: the end of the piece that starts at pos. */
typedef struct {
    size_t ends[WT_SCAN_BLOCK], count, next;
} wt_scan_queue;

WT_INLINE size_t scan_next(wt_scan_queue *q, const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos)
{
    if (q->next == q->count) {
        q->count = wt_scan_pieces(sc, s, n, pos, q->ends);
        q->next = 0;
    }
    return q->ends[q->next++];
}

/* The common case in one loop: the last split is a fast scanner isolating
 * pieces, and each piece goes straight to BPE. Each piece is scanned, hashed
 * and its table lines prefetched WT_SCAN_AHEAD pieces before it is encoded, so
 * lookups overlap instead of each waiting on memory in turn. A window rather
 * than batches: one prefetch per piece encoded keeps the misses in flight
 * steady, where a batch's burst of them stalled on full miss buffers (+7-12%
 * on English). For the same reason short pieces that must be merged (new
 * text) merge WT_BPE_JOBS at a time: each holds room for n ids in the output
 * meanwhile, closed up after. Not under a limit, which needs every piece's
 * count as it goes. Distances of 8 and 32 measured the same as 16. */
#define WT_SCAN_AHEAD 16

/* Close up the room held for the merged pieces: job j's ids were
 * written at at[j], where n of them fit, and k of them came. */
static void close_gaps(wt_ids *out, const wt_bpe_job *jobs, const size_t *at, size_t n_jobs)
{
    size_t to = at[0];
    for (size_t j = 0; j < n_jobs; j++) {
        size_t from = at[j] + jobs[j].n, upto = j + 1 < n_jobs ? at[j + 1] : out->len;
        memmove(out->ids + to, out->ids + at[j], jobs[j].k * sizeof(uint32_t));
        to += jobs[j].k;
        memmove(out->ids + to, out->ids + from, (upto - from) * sizeof(uint32_t));   /* what came after */
        to += upto - from;
    }
    out->len = to;
}

/* Merge the held pieces together, then close up their room. */
static void merge_jobs(const wt_bpe *b, wt_ids *out, wt_bpe_job *jobs, const size_t *at, size_t n_jobs,
                       wt_bpe_scratch *bsc)
{
    for (size_t j = 0; j < n_jobs; j++) jobs[j].out = out->ids + at[j];   /* out->ids is final now */
    wt_bpe_merge_short(b, jobs, n_jobs, bsc);
    close_gaps(out, jobs, at, n_jobs);
}

static int scan_and_encode(wt_run *r, const wt_scanner *scan, const uint8_t *s, size_t n)
{
    const wt_bpe *b = &r->t->bpe;
    wt_bpe_scratch *bsc = &r->sc->bpe;
    wt_ids *out = r->out;
    size_t ends[WT_SCAN_AHEAD], at[WT_BPE_JOBS];
    uint64_t hashes[WT_SCAN_AHEAD];
    wt_bpe_job jobs[WT_BPE_JOBS];
    size_t n_jobs = 0;
    int defer = r->limit == SIZE_MAX;
    r->sc->stack.work += n;        /* a scanner's work: the bytes it matched (see scan.h) */
    size_t ahead = 0;              /* where the window's last scanned piece ends */
    wt_scan_queue q;               /* its ends are written before they are read */
    q.count = q.next = 0;
    for (size_t k = 0; k < WT_SCAN_AHEAD && ahead < n; k++) {
        ends[k] = scan_next(&q, scan, s, n, ahead);
        hashes[k] = wt_bpe_prefetch(b, s + ahead, ends[k] - ahead, s, s + n);
        ahead = ends[k];
    }
    for (size_t pos = 0, i = 0; pos < n; i = (i + 1) % WT_SCAN_AHEAD) {
        size_t end = ends[i];      /* piece i of the window, then its slot takes the next one */
        uint64_t h = hashes[i];
        if (ahead < n) {
            ends[i] = scan_next(&q, scan, s, n, ahead);
            hashes[i] = wt_bpe_prefetch(b, s + ahead, ends[i] - ahead, s, s + n);
            ahead = ends[i];
        }
        const uint8_t *p = s + pos;
        size_t len = end - pos;
        pos = end;
        int rc;
        if (!defer || len > WT_BPE_SHORT) {
            if ((rc = bpe_piece_hashed(r, p, len, h))) return rc;
            continue;
        }
        if ((rc = wt_ids_reserve(out, len + WT_PIECE_CACHE_IDS))) return rc;
        if (len == 1) {            /* its byte's token (wt_bpe_encode_known's answer too), no probe:
                                    * text of one-byte pieces ('x=' repeated, digits one by one) 25-30% faster */
            out->ids[out->len++] = b->byte_id[p[0]];
            continue;
        }
        int64_t got = wt_bpe_encode_known(b, p, len, s, s + n, h, out->ids + out->len);
        if (got == WT_BPE_UNKNOWN) {
            jobs[n_jobs] = (wt_bpe_job){.p = p, .n = len, .h = h};
            at[n_jobs++] = out->len;
            got = (int64_t)len;
        } else if (got < 0) {
            return (int)got;
        }
        out->len += (size_t)got;
        if (n_jobs == WT_BPE_JOBS) {
            merge_jobs(b, out, jobs, at, n_jobs, bsc);
            n_jobs = 0;
        }
    }
    if (n_jobs) merge_jobs(b, out, jobs, at, n_jobs, bsc);
    return 0;
}

/* A split's behavior, streamed: ranges arrive in order, matches and gaps. */
typedef struct {
    size_t start, end;       /* the pending piece */
    int has, prev_match;
} wt_behavior;

static int emit(wt_run *r, uint32_t k, const uint8_t *s, size_t start, size_t end)
{
    return stage_run(r, k + 1, s + start, end - start);
}

static int feed(wt_run *r, uint32_t k, wt_behavior *b, const uint8_t *s, size_t start, size_t end, int is_match)
{
    int rc = 0;
    switch (r->t->stages[k].behavior) {
    case WT_SPLIT_ISOLATED:
        return emit(r, k, s, start, end);
    case WT_SPLIT_REMOVED:
        return is_match ? 0 : emit(r, k, s, start, end);
    case WT_SPLIT_CONTIGUOUS:           /* runs of matches (or of gaps) become one piece */
    case WT_SPLIT_MERGED_PREV:          /* a match joins the gap before it */
        if (b->has && (r->t->stages[k].behavior == WT_SPLIT_CONTIGUOUS ? is_match == b->prev_match
                                                                       : is_match && !b->prev_match)) {
            b->end = end;
        } else {
            if (b->has && (rc = emit(r, k, s, b->start, b->end))) return rc;
            b->start = start; b->end = end; b->has = 1;
        }
        b->prev_match = is_match;
        return 0;
    default:                            /* WT_SPLIT_MERGED_NEXT: a match joins the gap after it */
        if (b->has) {                   /* a match is held */
            b->has = 0;
            if (!is_match) return emit(r, k, s, b->start, end);
            if ((rc = emit(r, k, s, b->start, b->end))) return rc;
        }
        if (is_match) { b->start = start; b->end = end; b->has = 1; return 0; }
        return emit(r, k, s, start, end);
    }
}

static int stage_run(wt_run *r, uint32_t k, const uint8_t *s, size_t n)
{
    if (n == 0) return 0;
    const wt_tokenizer *t = r->t;
    if (k == t->n_stages) return r->piece(r, s, n);
    const wt_stage *st = &t->stages[k];
    if (st->prefix_space && s[0] != ' ') {
        wt_bytes *buf = &r->sc->prefixed[k];
        buf->len = 0;
        int rc = wt_bytes_reserve(buf, n + 1);
        if (rc) return rc;
        buf->p[0] = ' ';
        memcpy(buf->p + 1, s, n);
        s = buf->p; n++;
    }
    if (!st->re) return stage_run(r, k + 1, s, n);
    /* A scanner reports every stretch of text as a match (DeepSeek-V3's and the
     * class runs' their gaps too, so _pattern.scanner_for gives those to Isolated
     * splits only): for it, isolating matches and keeping them while removing
     * what lies between (inverted Removed) are the same split. */
    int keeps_matches = st->behavior == WT_SPLIT_ISOLATED || (st->behavior == WT_SPLIT_REMOVED && st->invert);
    if (st->scan.family && keeps_matches && k + 1 == t->n_stages && r->piece == bpe_piece)
        return scan_and_encode(r, &st->scan, s, n);
    wt_behavior b = {0};
    size_t pos = 0, gap = 0, end;
    wt_scan_queue q;               /* its ends are written before they are read */
    q.count = q.next = 0;
    int rc;
    while (pos < n) {
        if (st->scan.family) {
            end = scan_next(&q, &st->scan, s, n, pos);
            r->sc->stack.work += end - pos;
            rc = 1;
        } else if ((rc = wt_regex_match_at(st->re, s, n, pos, &end, &r->sc->stack)) < 0) {
            return rc;
        }
        if (rc == 1 && end > pos) {
            if (gap < pos && (rc = feed(r, k, &b, s, gap, pos, st->invert))) return rc;
            if ((rc = feed(r, k, &b, s, pos, end, !st->invert))) return rc;
            pos = gap = end;
        } else {
            pos = wt_regex_next_start(st->re, s, n, pos);
        }
    }
    if (gap < n && (rc = feed(r, k, &b, s, gap, n, st->invert))) return rc;
    if (b.has) return emit(r, k, s, b.start, b.end);
    return 0;
}

static int push_ids(wt_ids *out, const uint32_t *ids, size_t n)
{
    if (n == 0) return 0;                  /* out->ids and ids may be NULL: no memcpy(NULL, ..., 0) */
    int rc = wt_ids_reserve(out, n);
    if (rc) return rc;
    memcpy(out->ids + out->len, ids, n * sizeof(uint32_t));
    out->len += n;
    return 0;
}

/* Split s by the added tokens of a pass, then the next pass, then the stages. */
static int encode_pass(wt_run *r, const wt_encode_opts *o, int pass, const uint8_t *s, size_t n)
{
    if (pass == 2) return stage_run(r, 0, s, n);
    size_t pos = 0, start, end;
    uint32_t k;
    int rc;
    if (pass == 1 && r->t->nfc.unstable) {   /* HF normalizes each segment pass 0 leaves */
        size_t normalized_n;
        if ((rc = wt_nfc_apply(&r->t->nfc, s, n, &r->sc->nfc, &normalized_n)) < 0) return rc;
        if (rc == 1) { s = r->sc->nfc.out; n = normalized_n; }
    }
    while (wt_find_added(r->t, pass, s, n, pos, o->active[pass], &start, &end, &k)) {
        if ((rc = encode_pass(r, o, pass + 1, s + pos, start - pos))) return rc;
        if ((rc = push_ids(r->out, &r->t->added[pass].added_id[k], 1))) return rc;
        if (r->out->len >= r->limit) return 1;
        pos = end;
    }
    return encode_pass(r, o, pass + 1, s + pos, n - pos);
}

int wt_encode(const wt_tokenizer *t, const uint8_t *s, size_t n, const wt_encode_opts *o, wt_ids *out)
{
    wt_scratch *sc = scratch_get();
    if (!sc) return WT_ENOMEM;
    int rc;
    if (o->add_special && (rc = push_ids(out, t->prefix, t->n_prefix))) return rc;
    wt_run r = {.t = t, .out = out, .sc = sc, .piece = bpe_piece};
    r.limit = o->max_body > SIZE_MAX - out->len ? SIZE_MAX : out->len + o->max_body;
    if (r.limit > out->len && (rc = encode_pass(&r, o, o->first_pass ? 1 : 0, s, n)) < 0) return rc;
    if (o->add_special && (rc = push_ids(out, t->suffix, t->n_suffix))) return rc;
    return 0;
}

static int collect_piece(wt_run *r, const uint8_t *p, size_t n)
{
    int rc = wt_bytes_reserve(r->piece_bytes, n);
    if (rc || (rc = wt_ids_reserve(r->piece_lens, 1))) return rc;
    memcpy(r->piece_bytes->p + r->piece_bytes->len, p, n);
    r->piece_bytes->len += n;
    r->piece_lens->ids[r->piece_lens->len++] = (uint32_t)n;
    return 0;
}

int wt_pre_tokenize(const wt_tokenizer *t, const uint8_t *s, size_t n, wt_bytes *out, wt_ids *lens)
{
    wt_scratch *sc = scratch_get();
    if (!sc) return WT_ENOMEM;
    if (n > UINT32_MAX / 2) return WT_EINVAL;
    wt_run r = {.t = t, .sc = sc, .piece = collect_piece, .piece_bytes = out, .piece_lens = lens,
                .limit = SIZE_MAX};
    int rc = stage_run(&r, 0, s, n);
    return rc < 0 ? rc : 0;
}

/* ---- batches ---- */

/* Documents are grouped into chunks of about equal bytes; a chunk is one pool
 * task with its own output buffer. Chunks finish in any order; ready counts
 * the leading chunks that are done, so a caller can use their documents
 * while later chunks are still being encoded. */
struct wt_batch {
    const wt_tokenizer *t;
    const wt_text *texts;
    wt_encode_opts o;
    size_t n_texts, n_chunks;
    size_t *chunk_first;     /* chunk c encodes texts [chunk_first[c], chunk_first[c+1]) */
    wt_ids *chunk_out;
    atomic_uchar *chunk_done;
    int64_t *doc_len;
    const uint32_t **doc_ids;/* set when the doc's chunk is done (its buffer no longer moves) */
    size_t ready;            /* chunks [0, ready) are done (the caller's view) */
    wt_job *job;
    atomic_int err;
};

static void batch_task(void *ctx, size_t c)
{
    wt_batch *b = ctx;
    if (atomic_load(&b->err)) return;
    /* Encode into a buffer of this thread's own: the chunk_out entries of
     * neighbouring chunks share a cache line, and the update of out.len at
     * every piece would bounce it between the threads (two threads encoded
     * at 1.4x one thread's speed that way, where two processes make 2x). */
    wt_ids out = {0};
    size_t first = b->chunk_first[c], end = b->chunk_first[c + 1];
    for (size_t i = first; i < end; i++) {
        size_t before = out.len;
        int rc = wt_encode(b->t, b->texts[i].s, b->texts[i].n, &b->o, &out);
        if (rc) {
            int zero = 0;
            atomic_compare_exchange_strong(&b->err, &zero, rc);
            wt_ids_free(&out);
            return;
        }
        b->doc_len[i] = (int64_t)(out.len - before);
    }
    b->chunk_out[c] = out;
    const uint32_t *ids = out.ids;
    for (size_t i = first; i < end; ids += b->doc_len[i++]) b->doc_ids[i] = ids;
    atomic_store_explicit(&b->chunk_done[c], 1, memory_order_release);
}

void wt_batch_free(wt_batch *b)
{
    if (!b) return;
    if (b->job) {                             /* stop the tasks not yet started, wait for the rest */
        int zero = 0;
        atomic_compare_exchange_strong(&b->err, &zero, WT_EINVAL);
        wt_pool_finish(b->job);
    }
    if (b->chunk_out)
        for (size_t c = 0; c < b->n_chunks; c++) wt_ids_free(&b->chunk_out[c]);
    wt_free(b->chunk_out);
    wt_free(b->chunk_first);
    wt_free((void *)b->chunk_done);
    wt_free(b->doc_len);
    wt_free(b->doc_ids);
    wt_free(b);
}

wt_batch *wt_batch_begin(const wt_tokenizer *t, const wt_text *texts, size_t n_texts,
                         const wt_encode_opts *o, int n_threads, int *rc)
{
    *rc = WT_ENOMEM;
    wt_batch *b = wt_calloc(1, sizeof *b);
    if (!b) return NULL;
    *b = (wt_batch){.t = t, .texts = texts, .o = *o, .n_texts = n_texts};
    atomic_init(&b->err, 0);
    if (n_threads <= 0) n_threads = wt_cpu_count();
    size_t total = 0;
    for (size_t i = 0; i < n_texts; i++) total += texts[i].n;
    /* Split by bytes, not by count: several chunks per thread balance uneven
     * documents, and keep the part left after the last chunk small. */
    size_t target = total / ((size_t)n_threads * 8) + 1;
    if (target < 16384) target = 16384;
    size_t max_chunks = n_texts ? n_texts : 1;
    b->chunk_first = wt_malloc((max_chunks + 1) * sizeof(size_t));
    b->chunk_out = wt_calloc(max_chunks, sizeof(wt_ids));
    b->chunk_done = wt_calloc(max_chunks, sizeof(atomic_uchar));
    b->doc_len = wt_calloc(n_texts + 1, sizeof(int64_t));
    b->doc_ids = wt_calloc(n_texts + 1, sizeof(uint32_t *));
    if (!b->chunk_first || !b->chunk_out || !b->chunk_done || !b->doc_len || !b->doc_ids) {
        wt_batch_free(b);
        return NULL;
    }
    size_t acc = 0;
    b->chunk_first[0] = 0;
    for (size_t i = 0; i < n_texts; i++) {
        acc += texts[i].n;
        if (acc >= target || i + 1 == n_texts) {
            b->chunk_first[++b->n_chunks] = i + 1;
            acc = 0;
        }
    }
    if (b->n_chunks && !(b->job = wt_pool_begin(batch_task, b, b->n_chunks, n_threads))) {
        wt_batch_free(b);
        return NULL;
    }
    *rc = 0;
    return b;
}

int wt_batch_step(wt_batch *b)
{
    return b->job ? wt_pool_step(b->job) : 0;
}

size_t wt_batch_ready(wt_batch *b)
{
    while (b->ready < b->n_chunks && atomic_load_explicit(&b->chunk_done[b->ready], memory_order_acquire))
        b->ready++;
    return b->chunk_first[b->ready];
}

const uint32_t *wt_batch_doc(const wt_batch *b, size_t i, size_t *n)
{
    *n = (size_t)b->doc_len[i];
    return b->doc_ids[i];
}

int wt_batch_finish(wt_batch *b)
{
    if (b->job) {
        wt_pool_finish(b->job);
        b->job = NULL;
    }
    return atomic_load(&b->err);
}

/* res: zeroed by the caller. */
static int batch_flat(const wt_batch *b, wt_flat *res)
{
    if (!(res->offsets = wt_malloc((b->n_texts + 1) * sizeof(int64_t)))) return WT_ENOMEM;
    res->offsets[0] = 0;
    for (size_t i = 0; i < b->n_texts; i++) res->offsets[i + 1] = res->offsets[i] + b->doc_len[i];
    size_t n_ids = (size_t)res->offsets[b->n_texts];
    if (!(res->ids = wt_malloc((n_ids + 1) * sizeof(uint32_t)))) {
        wt_flat_free(res);
        return WT_ENOMEM;
    }
    size_t at = 0;
    for (size_t c = 0; c < b->n_chunks; c++) {
        if (b->chunk_out[c].len) memcpy(res->ids + at, b->chunk_out[c].ids, b->chunk_out[c].len * sizeof(uint32_t));
        at += b->chunk_out[c].len;
    }
    res->n_docs = b->n_texts;
    return 0;
}

int wt_encode_batch(const wt_tokenizer *t, const wt_text *texts, size_t n_texts,
                    const wt_encode_opts *o, int n_threads, wt_flat *res)
{
    int rc;
    memset(res, 0, sizeof *res);
    wt_batch *b = wt_batch_begin(t, texts, n_texts, o, n_threads, &rc);
    if (!b) return rc;
    if (!(rc = wt_batch_finish(b))) rc = batch_flat(b, res);
    wt_batch_free(b);
    return rc;
}

void wt_flat_free(wt_flat *f)
{
    wt_free(f->ids);
    wt_free(f->offsets);
    memset(f, 0, sizeof *f);
}

/* ---- decode ---- */

int wt_decode(const wt_tokenizer *t, const uint32_t *ids, size_t n, int skip_special,
              int skip_unknown, uint8_t **out, size_t *out_len, size_t *bad_index)
{
    const wt_bpe *b = &t->bpe;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t id = ids[i];
        if (id >= b->n_ids || !(b->tok_flags[id] & WT_TOK_PRESENT)) {
            if (skip_unknown) continue;
            *bad_index = i;
            return WT_EINVAL;
        }
        total += b->tok_off[id + 1] - b->tok_off[id];
    }
    uint8_t *buf = wt_malloc(total + 1);
    if (!buf) return WT_ENOMEM;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t id = ids[i];
        if (id >= b->n_ids || !(b->tok_flags[id] & WT_TOK_PRESENT)) continue;
        if (skip_special && (b->tok_flags[id] & WT_TOK_SPECIAL)) continue;
        size_t len = b->tok_off[id + 1] - b->tok_off[id];
        memcpy(buf + at, b->tok_bytes + b->tok_off[id], len);
        at += len;
    }
    *out = buf;
    *out_len = at;
    return 0;
}

void wt_tokenizer_free(wt_tokenizer *t)
{
    wt_bpe_free(&t->bpe);
    wt_nfc_free(&t->nfc);
    for (uint32_t k = 0; k < t->n_stages; k++) wt_regex_free(t->stages[k].re);
    added_free(&t->added[0]);
    added_free(&t->added[1]);
    wt_free(t->prefix);
    wt_free(t->suffix);
    memset(t, 0, sizeof *t);
}
