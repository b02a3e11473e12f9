/* The prefetch buffer manager (see reader.h for the design in brief).
 *
 * Locking: r->mu guards the slot table, the tensor table, the stream table, the
 * job queue and the counters written under it. It is never held across I/O or a
 * copy: a slot in use is pinned (refs > 0) and its bytes below `filled` are
 * immutable, so copies happen outside the lock. One condition variable (cv)
 * carries fetch progress, completion and closing; cv_work wakes I/O workers. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "io/reader.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/alloc.h"
#include "io/reader_src.h"

#define MiB ((uint64_t)1 << 20)
#define WT_SPEC_TENSOR_MIN (4 * MiB)   /* tensors this big trigger a speculative fetch of the next */
#define WT_RECENT 16                   /* streams remembered for sequential detection */
#define WT_ALIGN ((uint64_t)64 << 10)    /* slot fetches start at multiples of this */
#define WT_NONE ((size_t)-1)

enum { SLOT_FREE = 0, SLOT_FETCHING, SLOT_READY, SLOT_FAILED };
enum { R_OPEN = 0, R_CLOSING, R_CLOSED };
enum { HINT_AUTO = 0, HINT_UNIT = 1 };  /* HINT_UNIT: a piece of a parallel read: go direct, no split */

typedef struct wt_slot {
    uint64_t start, len;      /* the range [start, start + len) */
    uint64_t filled;          /* [start, start + filled) has arrived */
    uint64_t cursor;          /* end of the last read served from here */
    uint64_t last_use;
    uint8_t *data;
    uint64_t cap;             /* bytes allocated (counted in the budget) */
    int state, refs, waiters;
    struct wt_job *job;       /* its fetch, while queued and not started */
    wt_rerr err;              /* why the fetch failed (SLOT_FAILED) */
} wt_slot;

typedef struct wt_unit {
    uint64_t off, len;
    int iov_first, niov;
} wt_unit;

/* A parallel read: units claimed by the caller and by I/O workers. */
typedef struct wt_batch {
    const wt_unit *units;
    size_t n_units;
    const struct iovec *pool;
    size_t next;              /* atomic: the next unit to claim */
    int failed;               /* atomic */
    int active;               /* participants still running or queued (under mu) */
    int rc;                   /* first error (under mu) */
    wt_rerr err;
} wt_batch;

typedef struct wt_job {
    struct wt_job *next;
    wt_slot *slot;            /* a speculative fetch, or */
    wt_batch *batch;          /* a share of a parallel read */
} wt_job;

struct wt_reader {
    wt_src *src;
    uint64_t size;
    int local;
    wt_reader_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv, cv_work;
    int state, users;         /* state: written under mu, read atomically; users: atomic */
    uint64_t gen;             /* g_fork_gen when opened */
    wt_slot *slots;
    uint32_t n_slots;
    uint64_t tick, slot_bytes;
    uint64_t *tstart, *tend;
    size_t n_tensors;
    struct {
        uint64_t end;
        uint32_t run;
    } recent[WT_RECENT];
    unsigned recent_next;
    pthread_t *workers;
    uint32_t n_workers, idle_workers, q_len;
    wt_job *q_head, *q_tail;
    uint8_t *probe_buf;       /* the probe when it does not live in a slot */
    uint64_t final_requests, final_bytes, final_retries;   /* the source's counters at close */
    /* counters (atomic) */
    uint64_t n_slot_fetches, n_spec_fetches, n_direct, n_hit_bytes, n_waits, n_evictions;
};

/* Slot buffers are page mappings (wt_pages_alloc, below): MiBs each, reused, and
 * filled at once, so huge pages save most of the page faults of a first fill. */

/* ------------------------------------------------------------------ budget */

static uint64_t g_budget;   /* 0 until first use: then the default */
static uint64_t g_used;

static uint64_t default_budget(void)
{
    uint64_t b = 1024 * MiB;
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psize > 0) {
        uint64_t quarter = (uint64_t)pages * (uint64_t)psize / 4;
        if (quarter < b)
            b = quarter;
    }
    return b < 64 * MiB ? 64 * MiB : b;
}

static uint64_t budget_get(void)
{
    uint64_t b = __atomic_load_n(&g_budget, __ATOMIC_RELAXED);
    if (b == 0) {
        uint64_t d = default_budget(), zero = 0;
        __atomic_compare_exchange_n(&g_budget, &zero, d, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
        b = __atomic_load_n(&g_budget, __ATOMIC_RELAXED);
    }
    return b;
}

static int budget_take(uint64_t n)
{
    uint64_t budget = budget_get(), used = __atomic_load_n(&g_used, __ATOMIC_RELAXED);
    do {
        if (used + n > budget || used + n < used)
            return 0;
    } while (!__atomic_compare_exchange_n(&g_used, &used, used + n, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return 1;
}

static void budget_give(uint64_t n) { __atomic_fetch_sub(&g_used, n, __ATOMIC_RELAXED); }

void wt_io_set_budget(uint64_t bytes) { __atomic_store_n(&g_budget, bytes ? bytes : 1, __ATOMIC_RELAXED); }
uint64_t wt_io_budget(void) { return budget_get(); }
uint64_t wt_io_used(void) { return __atomic_load_n(&g_used, __ATOMIC_RELAXED); }

/* A child after fork has none of the parent's threads and maybe a held lock:
 * readers opened before the fork refuse to work there (checked without a syscall). */
static uint64_t g_fork_gen;
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;
static void on_fork_child(void) { __atomic_add_fetch(&g_fork_gen, 1, __ATOMIC_SEQ_CST); }
static void install_atfork(void) { pthread_atfork(NULL, NULL, on_fork_child); }

/* ------------------------------------------------------------------ helpers */

#define COUNT(field, n) __atomic_fetch_add(&r->field, (uint64_t)(n), __ATOMIC_RELAXED)

static int closed_err(wt_rerr *err) { return wt_rerr_set(err, WT_ECLOSED, 0, 0, "the reader is closed"); }

/* The part [pos, pos + n) of a scatter list, as a scatter list (at most WT_MAX_IOV). */
static int iov_slice(const struct iovec *iov, int niov, uint64_t pos, uint64_t n, struct iovec *out)
{
    int k = 0;
    for (int i = 0; i < niov && n > 0; i++) {
        uint64_t l = iov[i].iov_len;
        if (pos >= l) {
            pos -= l;
            continue;
        }
        uint64_t take = l - pos < n ? l - pos : n;
        out[k].iov_base = (uint8_t *)iov[i].iov_base + pos;
        out[k].iov_len = (size_t)take;
        k++;
        n -= take;
        pos = 0;
    }
    return k;
}

static void iov_copy(const struct iovec *iov, int niov, uint64_t pos, const uint8_t *src, uint64_t n)
{
    struct iovec part[WT_MAX_IOV];
    int k = iov_slice(iov, niov, pos, n, part);
    for (int i = 0; i < k; i++) {
        memcpy(part[i].iov_base, src, part[i].iov_len);
        src += part[i].iov_len;
    }
}

/* The tensor holding pos, or WT_NONE. */
static size_t tensor_at(const wt_reader *r, uint64_t pos)
{
    size_t lo = 0, hi = r->n_tensors;
    while (lo < hi) {                      /* first tensor starting after pos */
        size_t mid = lo + (hi - lo) / 2;
        if (r->tstart[mid] <= pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || pos >= r->tend[lo - 1])
        return WT_NONE;
    return lo - 1;
}

/* Where a fetch into a slot that must cover [pos, want_end) should end: the floor,
 * the rest of the tensor (capped), and not in the middle of a tensor that fits. */
static uint64_t plan_end(const wt_reader *r, uint64_t pos, uint64_t want_end)
{
    uint64_t cap = r->o.tensor_cap, end = want_end;
    if (end - pos < r->o.floor)
        end = pos + r->o.floor;
    if (r->n_tensors) {
        size_t i = tensor_at(r, pos);
        if (i != WT_NONE) {
            uint64_t te = r->tend[i] - pos > cap ? pos + cap : r->tend[i];
            if (te > end)
                end = te;
        }
        size_t j = end > 0 ? tensor_at(r, end - 1) : WT_NONE;
        if (j != WT_NONE && r->tend[j] > end && r->tend[j] - pos <= cap)
            end = r->tend[j];
    }
    if (end > r->size)
        end = r->size;
    return end < want_end ? want_end : end;
}

static wt_slot *find_slot(wt_reader *r, uint64_t pos)
{
    for (uint32_t i = 0; i < r->n_slots; i++) {
        wt_slot *s = &r->slots[i];
        if ((s->state == SLOT_FETCHING || s->state == SLOT_READY) && pos >= s->start && pos - s->start < s->len)
            return s;
    }
    return NULL;
}

static uint64_t next_slot_start(const wt_reader *r, uint64_t pos)
{
    uint64_t best = UINT64_MAX;
    for (uint32_t i = 0; i < r->n_slots; i++) {
        const wt_slot *s = &r->slots[i];
        if ((s->state == SLOT_FETCHING || s->state == SLOT_READY) && s->start > pos && s->start < best)
            best = s->start;
    }
    return best;
}

/* The end of the last slot that ends at or before pos (0 if none). */
static uint64_t prev_slot_end(const wt_reader *r, uint64_t pos)
{
    uint64_t best = 0;
    for (uint32_t i = 0; i < r->n_slots; i++) {
        const wt_slot *s = &r->slots[i];
        uint64_t e = s->start + s->len;
        if ((s->state == SLOT_FETCHING || s->state == SLOT_READY) && e <= pos && e > best)
            best = e;
    }
    return best;
}

static void slot_drop_buffer(wt_reader *r, wt_slot *s)
{
    if (s->data) {
        wt_pages_free(s->data, (size_t)s->cap);
        budget_give(s->cap);
        r->slot_bytes -= s->cap;
    }
    s->data = NULL;
    s->cap = 0;
}

/* The idle READY slot to evict first: one whose bytes were all read (a finished
 * stream), least recently used; else the least recently used. Speculation may
 * only evict finished ones. */
static wt_slot *slot_victim(wt_reader *r, const wt_slot *except, int finished_only)
{
    wt_slot *best = NULL;
    int best_done = 0;
    for (uint32_t i = 0; i < r->n_slots; i++) {
        wt_slot *s = &r->slots[i];
        if (s == except || s->state != SLOT_READY || s->refs > 0)
            continue;
        int done = s->cursor >= s->start + s->len;
        if (finished_only && !done)
            continue;
        if (!best || done > best_done || (done == best_done && s->last_use < best->last_use)) {
            best = s;
            best_done = done;
        }
    }
    return best;
}

/* Claims a slot for [start, start + len) in state FETCHING (under mu), reusing a
 * buffer when one is big enough and evicting idle slots for memory. NULL when
 * every slot is busy or the budget cannot make room: the caller reads directly. */
static wt_slot *slot_claim(wt_reader *r, uint64_t start, uint64_t len, int spec)
{
    wt_slot *fit = NULL, *empty = NULL;
    for (uint32_t i = 0; i < r->n_slots; i++) {
        wt_slot *s = &r->slots[i];
        if (s->refs > 0 || s->state == SLOT_FETCHING || s->state == SLOT_READY)
            continue;
        if (s->cap >= len && (!fit || s->cap < fit->cap))
            fit = s;
        else if (!empty || s->cap > empty->cap)
            empty = s;
    }
    if (!fit) {
        wt_slot *target = empty ? empty : slot_victim(r, NULL, spec);
        if (!target)
            return NULL;
        if (target->state == SLOT_READY)
            COUNT(n_evictions, 1);
        target->state = SLOT_FREE;
        if (target->cap < len) {
            uint64_t need = (len + MiB - 1) & ~(MiB - 1);
            slot_drop_buffer(r, target);
            while (!budget_take(need)) {
                wt_slot *v = NULL;
                for (uint32_t i = 0; i < r->n_slots && !v; i++)     /* spare buffers first */
                    if (&r->slots[i] != target && r->slots[i].data && r->slots[i].refs == 0 &&
                        (r->slots[i].state == SLOT_FREE || r->slots[i].state == SLOT_FAILED))
                        v = &r->slots[i];
                if (!v && (v = slot_victim(r, target, spec)))
                    COUNT(n_evictions, 1);
                if (!v)
                    return NULL;
                v->state = SLOT_FREE;
                slot_drop_buffer(r, v);
            }
            target->data = wt_pages_alloc((size_t)need);
            if (!target->data) {
                budget_give(need);
                return NULL;
            }
            target->cap = need;
            r->slot_bytes += need;
        }
        fit = target;
    }
    fit->start = start;
    fit->len = len;
    fit->filled = 0;
    fit->cursor = start;
    fit->last_use = ++r->tick;
    fit->state = SLOT_FETCHING;
    fit->refs = 0;
    fit->waiters = 0;
    fit->job = NULL;
    fit->err.code = 0;
    return fit;
}

typedef struct wt_progress_ctx {
    wt_reader *r;
    wt_slot *s;
} wt_progress_ctx;

static void slot_progress(void *ctx, uint64_t done)
{
    wt_progress_ctx *c = ctx;
    pthread_mutex_lock(&c->r->mu);
    c->s->filled = done;
    if (c->s->waiters)
        pthread_cond_broadcast(&c->r->cv);
    pthread_mutex_unlock(&c->r->mu);
}

/* Fills a claimed slot (called without mu; the caller holds a ref). */
static int fetch_slot(wt_reader *r, wt_slot *s, wt_rerr *err)
{
    struct iovec v = {s->data, (size_t)s->len};
    wt_progress_ctx ctx = {r, s};
    int rc = wt_src_fetch(r->src, s->start, &v, 1, slot_progress, &ctx, err);
    if (rc == WT_ECANCELED)
        rc = closed_err(err);
    pthread_mutex_lock(&r->mu);
    if (rc == 0) {
        s->filled = s->len;
        s->state = SLOT_READY;
    } else {
        s->state = SLOT_FAILED;
        if (err)
            s->err = *err;
        else
            wt_rerr_set(&s->err, rc, 0, 0, "fetch failed");
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* ------------------------------------------------------------------ workers */

static int run_unit_share(wt_reader *r, wt_batch *b);

static void *worker_main(void *arg)
{
    wt_reader *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->q_head && r->state == R_OPEN) {
            r->idle_workers++;
            pthread_cond_wait(&r->cv_work, &r->mu);
            r->idle_workers--;
        }
        if (r->state != R_OPEN)
            break;
        wt_job *j = r->q_head;
        r->q_head = j->next;
        if (!r->q_head)
            r->q_tail = NULL;
        r->q_len--;
        if (j->slot)
            j->slot->job = NULL;
        pthread_mutex_unlock(&r->mu);
        if (j->slot) {
            wt_rerr e = {0};
            fetch_slot(r, j->slot, &e);
            pthread_mutex_lock(&r->mu);
            j->slot->refs--;
        } else {
            run_unit_share(r, j->batch);
            pthread_mutex_lock(&r->mu);
            j->batch->active--;
            pthread_cond_broadcast(&r->cv);
        }
        wt_free(j);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* Queues a job (under mu), starting a worker when none is free. 0 when queued. */
static int enqueue(wt_reader *r, wt_slot *slot, wt_batch *batch)
{
    if (r->o.io_threads == 0)
        return -1;
    if (r->idle_workers <= r->q_len && r->n_workers < r->o.io_threads) {
        pthread_attr_t at;
        sigset_t all, old;
        int ok = pthread_attr_init(&at) == 0;
        if (ok) {
            pthread_attr_setstacksize(&at, 512 * 1024);
            sigfillset(&all);
            pthread_sigmask(SIG_BLOCK, &all, &old);     /* signals stay with Python's threads */
            ok = pthread_create(&r->workers[r->n_workers], &at, worker_main, r) == 0;
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            pthread_attr_destroy(&at);
        }
        if (ok)
            r->n_workers++;
        else if (r->n_workers == 0)
            return -1;
    }
    wt_job *j = wt_malloc(sizeof *j);
    if (!j)
        return -1;
    j->next = NULL;
    j->slot = slot;
    if (slot)
        slot->job = j;
    j->batch = batch;
    if (r->q_tail)
        r->q_tail->next = j;
    else
        r->q_head = j;
    r->q_tail = j;
    r->q_len++;
    pthread_cond_signal(&r->cv_work);
    return 0;
}

/* Removes a job that no worker has started (under mu) and frees it. */
static void unqueue(wt_reader *r, wt_job *job)
{
    for (wt_job **p = &r->q_head, *prev = NULL; *p; prev = *p, p = &(*p)->next)
        if (*p == job) {
            *p = job->next;
            if (r->q_tail == job)
                r->q_tail = prev;
            r->q_len--;
            wt_free(job);
            return;
        }
}

/* Past 75% of a slot, or of a tensor of >= 4 MiB, claim the next range for an I/O
 * worker: decided and claimed in this one locked step (under mu). */
static void maybe_speculate(wt_reader *r, const wt_slot *s, uint64_t from, uint64_t to)
{
    uint64_t cand[2], hint[2];
    int n = 0;
    if (!r->o.prefetch || r->state != R_OPEN || r->o.io_threads == 0)
        return;
    uint64_t s_end = s->start + s->len, mark = s_end - s->len / 4;
    if (from < mark && to >= mark && s_end < r->size) {
        cand[n] = s_end;
        hint[n++] = s->len;                /* keep the size a stream has been reading in */
    }
    if (r->n_tensors) {
        size_t i = tensor_at(r, to - 1);
        if (i != WT_NONE) {
            uint64_t tlen = r->tend[i] - r->tstart[i], tmark = r->tend[i] - tlen / 4;
            if (tlen >= WT_SPEC_TENSOR_MIN && from < tmark && to >= tmark && i + 1 < r->n_tensors) {
                cand[n] = r->tstart[i + 1];
                hint[n++] = 0;
            }
        }
    }
    for (int k = 0; k < n; k++) {
        uint64_t c = cand[k];
        if (c >= r->size || find_slot(r, c))
            continue;
        uint64_t nxt = next_slot_start(r, c), want = c + (hint[k] ? hint[k] : 1);
        if (want > r->size)
            want = r->size;
        if (want > nxt)
            want = nxt;
        uint64_t fend = plan_end(r, c, want);
        if (fend > nxt)
            fend = nxt;
        if (fend <= c)
            continue;
        wt_slot *ns = slot_claim(r, c, fend - c, 1);
        if (!ns)
            continue;
        ns->refs++;                        /* the worker's */
        if (enqueue(r, ns, NULL) != 0) {
            ns->refs--;
            ns->state = SLOT_FREE;
            continue;
        }
        COUNT(n_spec_fetches, 1);
    }
}

/* ------------------------------------------------------------------- reads */

static int rd_read(wt_reader *r, uint64_t off, uint64_t len, const struct iovec *iov, int niov, int hint,
                   wt_rerr *err);

/* Claims and reads units of b until none is left or one failed. */
static int run_unit_share(wt_reader *r, wt_batch *b)
{
    for (;;) {
        if (__atomic_load_n(&b->failed, __ATOMIC_RELAXED))
            return 0;
        size_t i = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED);
        if (i >= b->n_units)
            return 0;
        const wt_unit *u = &b->units[i];
        wt_rerr e = {0};
        int rc = rd_read(r, u->off, u->len, b->pool + u->iov_first, u->niov, HINT_UNIT, &e);
        if (rc) {
            pthread_mutex_lock(&r->mu);
            if (b->rc == 0) {
                b->rc = rc;
                b->err = e;
            }
            pthread_mutex_unlock(&r->mu);
            __atomic_store_n(&b->failed, 1, __ATOMIC_RELAXED);
            return rc;
        }
    }
}

/* Runs a batch on the calling thread and up to threads - 1 I/O workers, and
 * returns when every participant has left it. */
static int run_batch(wt_reader *r, wt_batch *b, uint32_t threads, wt_rerr *err)
{
    pthread_mutex_lock(&r->mu);
    b->active = 1;
    for (uint32_t t = 1; t < threads && t < b->n_units; t++) {
        if (enqueue(r, NULL, b) != 0)
            break;
        b->active++;
    }
    pthread_mutex_unlock(&r->mu);
    run_unit_share(r, b);
    pthread_mutex_lock(&r->mu);
    b->active--;
    for (wt_job *j = r->q_head, *nx; j; j = nx) {            /* shares no worker has started */
        nx = j->next;
        if (j->batch == b) {
            unqueue(r, j);
            b->active--;
        }
    }
    while (b->active > 0)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    if (b->rc && err)
        *err = b->err;
    return b->rc;
}

/* A read that goes straight into the caller's memory: in parallel units when it
 * is large and workers are allowed. */
static int fetch_direct(wt_reader *r, uint64_t pos, uint64_t n, const struct iovec *iov, int niov, uint64_t dpos,
                        int hint, wt_rerr *err)
{
    uint64_t unit = r->o.unit;
    if (hint == HINT_AUTO && r->o.io_threads > 0 && n >= 2 * unit) {
        size_t n_units = (size_t)((n + unit - 1) / unit);
        wt_unit *units = wt_malloc(n_units * sizeof *units);
        struct iovec *pool = wt_malloc(n_units * WT_MAX_IOV * sizeof *pool);
        int rc;
        if (!units || !pool) {
            wt_free(units);
            wt_free(pool);
            return wt_rerr_set(err, WT_ENOMEM, 0, 0, "out of memory");
        }
        int used = 0;
        for (size_t i = 0; i < n_units; i++) {
            uint64_t o = (uint64_t)i * unit, l = n - o < unit ? n - o : unit;
            units[i].off = pos + o;
            units[i].len = l;
            units[i].iov_first = used;
            units[i].niov = iov_slice(iov, niov, dpos + o, l, pool + used);
            used += units[i].niov;
        }
        wt_batch b;
        memset(&b, 0, sizeof b);
        b.units = units;
        b.n_units = n_units;
        b.pool = pool;
        rc = run_batch(r, &b, r->o.io_threads + 1, err);
        wt_free(units);
        wt_free(pool);
        return rc;
    }
    struct iovec part[WT_MAX_IOV];
    int k = iov_slice(iov, niov, dpos, n, part);
    COUNT(n_direct, 1);
    int rc = wt_src_fetch(r->src, pos, part, k, NULL, NULL, err);
    return rc == WT_ECANCELED ? closed_err(err) : rc;
}

static uint32_t recent_run(const wt_reader *r, uint64_t off)
{
    for (int i = 0; i < WT_RECENT; i++)
        if (r->recent[i].run && r->recent[i].end == off)
            return r->recent[i].run;
    return 0;
}

static void recent_note(wt_reader *r, uint64_t off, uint64_t end)
{
    for (int i = 0; i < WT_RECENT; i++)
        if (r->recent[i].run && r->recent[i].end == off) {
            r->recent[i].end = end;
            r->recent[i].run++;
            return;
        }
    unsigned i = r->recent_next++ % WT_RECENT;
    r->recent[i].end = end;
    r->recent[i].run = 1;
}

/* [off, off + len) into the scatter list: copied from slots where stored or in
 * flight, else fetched into a new slot (small reads, streams) or directly. */
static int rd_read(wt_reader *r, uint64_t off, uint64_t len, const struct iovec *iov, int niov, int hint,
                   wt_rerr *err)
{
    uint64_t pos = off, end = off + len;
    int rc = 0, patience = 0;
    pthread_mutex_lock(&r->mu);
    uint32_t run = recent_run(r, off);
    while (pos < end) {
        if (r->state != R_OPEN) {
            rc = closed_err(err);
            break;
        }
        wt_slot *s = find_slot(r, pos);
        if (s) {
            if (s->start + s->filled <= pos && s->job &&
                (patience > 0 || (r->idle_workers == 0 && r->n_workers >= r->o.io_threads))) {
                /* Its fetch is still queued and no worker took it (or can): do it here. */
                unqueue(r, s->job);
                s->job = NULL;
                pthread_mutex_unlock(&r->mu);
                rc = fetch_slot(r, s, err);        /* with the queued job's ref */
                pthread_mutex_lock(&r->mu);
                s->refs--;
                patience = 0;
                if (rc)
                    break;
                continue;
            }
            if (s->start + s->filled <= pos) {     /* in flight, not here yet: wait for it */
                s->refs++;
                s->waiters++;
                COUNT(n_waits, 1);
                while (s->state == SLOT_FETCHING && s->start + s->filled <= pos && r->state == R_OPEN) {
                    if (s->job) {                  /* queued: give a worker 2 ms to take it */
                        struct timespec ts;
                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_nsec += 2000000;
                        if (ts.tv_nsec >= 1000000000) {
                            ts.tv_sec++;
                            ts.tv_nsec -= 1000000000;
                        }
                        if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) == ETIMEDOUT && s->job) {
                            patience++;
                            break;
                        }
                    } else {
                        pthread_cond_wait(&r->cv, &r->mu);
                    }
                }
                s->waiters--;
                s->refs--;
                if (s->state == SLOT_FAILED) {
                    rc = s->err.code;
                    if (err)
                        *err = s->err;
                    break;
                }
                continue;
            }
            uint64_t want = s->start + s->filled;
            if (want > end)
                want = end;
            s->refs++;
            s->last_use = ++r->tick;
            if (hint == HINT_AUTO && (run > 0 || pos == s->cursor))   /* a stream */
                maybe_speculate(r, s, pos, want);
            s->cursor = want;
            pthread_mutex_unlock(&r->mu);
            iov_copy(iov, niov, pos - off, s->data + (pos - s->start), want - pos);
            COUNT(n_hit_bytes, want - pos);
            pthread_mutex_lock(&r->mu);
            s->refs--;
            pos = want;
            continue;
        }
        uint64_t nxt = next_slot_start(r, pos), gap_end = end < nxt ? end : nxt, glen = gap_end - pos;
        int direct = !r->o.prefetch || hint != HINT_AUTO || glen > r->o.tensor_cap ||
                     (glen >= r->o.direct_min && (r->local || run < 2));
        if (!direct) {
            /* Start at a 64 KiB boundary (not before the previous slot's end) so
             * that readers a few bytes apart share one fetch. */
            uint64_t fstart = pos & ~(uint64_t)(WT_ALIGN - 1), pend = prev_slot_end(r, pos);
            if (fstart < pend)
                fstart = pend;
            uint64_t fend = plan_end(r, fstart, gap_end);
            if (fend > nxt)
                fend = nxt;
            wt_slot *ns = slot_claim(r, fstart, fend - fstart, 0);
            if (ns) {
                ns->refs++;
                COUNT(n_slot_fetches, 1);
                /* On a free worker the fetch streams: this reader (and any other)
                 * copies its bytes out as they arrive instead of after the whole fetch. */
                if ((r->idle_workers > r->q_len || r->n_workers < r->o.io_threads) && enqueue(r, ns, NULL) == 0)
                    continue;
                pthread_mutex_unlock(&r->mu);
                rc = fetch_slot(r, ns, err);
                pthread_mutex_lock(&r->mu);
                ns->refs--;
                if (rc)
                    break;
                continue;                          /* copied out on the next turn */
            }
        }
        pthread_mutex_unlock(&r->mu);
        rc = fetch_direct(r, pos, glen, iov, niov, pos - off, hint, err);
        pthread_mutex_lock(&r->mu);
        if (rc)
            break;
        pos = gap_end;
    }
    if (rc == 0 && hint == HINT_AUTO)
        recent_note(r, off, end);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* ------------------------------------------------------------------ public */

static int forked(const wt_reader *r) { return __atomic_load_n(&g_fork_gen, __ATOMIC_SEQ_CST) != r->gen; }

static void leave(wt_reader *r)
{
    if (__atomic_sub_fetch(&r->users, 1, __ATOMIC_SEQ_CST) == 0 &&
        __atomic_load_n(&r->state, __ATOMIC_SEQ_CST) != R_OPEN) {
        pthread_mutex_lock(&r->mu);       /* shutdown waits for the last user */
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
    }
}

/* Counts a call in (lock-free); refused after close or in a forked child. */
static int enter(wt_reader *r, wt_rerr *err)
{
    if (forked(r))
        return wt_rerr_set(err, WT_EFORK, 0, 0, "the reader was opened in another process (before a fork)");
    __atomic_add_fetch(&r->users, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&r->state, __ATOMIC_SEQ_CST) != R_OPEN) {
        leave(r);
        return closed_err(err);
    }
    return 0;
}

wt_reader *wt_reader_open(const char *source, int is_url, const wt_reader_opts *o, const uint8_t **probe_out,
                          size_t *probe_len, wt_rerr *err)
{
    int rc;
    size_t got = 0;
    wt_reader *r = wt_calloc(1, sizeof *r);
    *probe_out = NULL;
    *probe_len = 0;
    if (!r) {
        wt_rerr_set(err, WT_ENOMEM, 0, 0, "out of memory");
        return NULL;
    }
    pthread_once(&g_atfork_once, install_atfork);
    r->gen = __atomic_load_n(&g_fork_gen, __ATOMIC_SEQ_CST);
    r->o = *o;
    r->o.headers = NULL;
    memset(&r->o.tls, 0, sizeof r->o.tls);     /* the source keeps its own copy */
    if (r->o.floor < 64 * 1024)
        r->o.floor = 64 * 1024;
    if (r->o.tensor_cap < r->o.floor)
        r->o.tensor_cap = r->o.floor;
    if (r->o.unit < MiB)
        r->o.unit = MiB;
    if (r->o.io_threads > 256)
        r->o.io_threads = 256;
    if (r->o.max_slots < 1)
        r->o.max_slots = 1;
    r->state = R_OPEN;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    pthread_cond_init(&r->cv_work, NULL);
    r->workers = wt_calloc(r->o.io_threads ? r->o.io_threads : 1, sizeof *r->workers);
    if (!r->workers || (o->probe && !(r->probe_buf = wt_malloc((size_t)o->probe)))) {
        wt_rerr_set(err, WT_ENOMEM, 0, 0, "out of memory");
        goto fail;
    }
    if ((rc = wt_src_open(&r->src, source, is_url, o, r->probe_buf, (size_t)o->probe, &got, err)))
        goto fail;
    r->size = wt_src_size(r->src);
    r->local = wt_src_is_local(r->src);
    if (r->o.prefetch < 0)     /* auto: a local disk has the page cache and kernel read-ahead */
        r->o.prefetch = !r->local || wt_src_is_remote_fs(r->src);
    if (r->o.prefetch) {
        r->n_slots = r->o.max_slots;
        if (!(r->slots = wt_calloc(r->n_slots, sizeof *r->slots))) {
            wt_rerr_set(err, WT_ENOMEM, 0, 0, "out of memory");
            goto fail;
        }
        wt_slot *seed = got ? slot_claim(r, 0, got, 0) : NULL;
        if (seed) {                       /* the probe's bytes seed the first slot */
            memcpy(seed->data, r->probe_buf, got);
            seed->filled = got;
            seed->state = SLOT_READY;
        }
    }
    *probe_out = r->probe_buf;
    *probe_len = got;
    return r;
fail:
    wt_reader_free(r);
    return NULL;
}

void wt_reader_drop_probe(wt_reader *r)
{
    wt_free(r->probe_buf);
    r->probe_buf = NULL;
}

uint64_t wt_reader_size(const wt_reader *r) { return r->size; }
int wt_reader_prefetching(const wt_reader *r) { return r->o.prefetch > 0; }

int wt_reader_read(wt_reader *r, uint64_t off, uint64_t len, uint8_t *dst, wt_rerr *err)
{
    if (off > r->size || len > r->size - off)
        return wt_rerr_set(err, WT_ERANGE, 0, 0, "bytes [%llu, %llu) are outside the file (%llu bytes)",
                           (unsigned long long)off, (unsigned long long)(off + len), (unsigned long long)r->size);
    if (len == 0)
        return 0;
    int rc = enter(r, err);
    if (rc)
        return rc;
    struct iovec v = {dst, (size_t)len};
    if (r->n_slots == 0)          /* no buffers: straight to the source, no lock */
        rc = fetch_direct(r, off, len, &v, 1, 0, HINT_AUTO, err);
    else
        rc = rd_read(r, off, len, &v, 1, HINT_AUTO, err);
    leave(r);
    return rc;
}

static int job_cmp(const void *a, const void *b)
{
    const wt_rjob *x = *(const wt_rjob *const *)a, *y = *(const wt_rjob *const *)b;
    return x->off < y->off ? -1 : x->off > y->off;
}

int wt_reader_read_many(wt_reader *r, const wt_rjob *jobs, size_t n, uint32_t threads, wt_rerr *err)
{
    const wt_rjob **order = NULL;
    wt_unit *units = NULL;
    struct iovec *pool = NULL;
    size_t n_units = 0, n_pool = 0, cap_units = 0, cap_pool = 0;
    int rc;
    for (size_t i = 0; i < n; i++)
        if (jobs[i].off > r->size || jobs[i].len > r->size - jobs[i].off)
            return wt_rerr_set(err, WT_ERANGE, 0, 0, "bytes [%llu, %llu) are outside the file (%llu bytes)",
                               (unsigned long long)jobs[i].off, (unsigned long long)(jobs[i].off + jobs[i].len),
                               (unsigned long long)r->size);
    if ((rc = enter(r, err)))
        return rc;
    order = wt_malloc((n ? n : 1) * sizeof *order);
    if (!order) {
        rc = wt_rerr_set(err, WT_ENOMEM, 0, 0, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = &jobs[i];
    qsort(order, n, sizeof *order, job_cmp);
    /* Units: contiguous runs of jobs, cut at about o.unit bytes and WT_MAX_IOV pieces. */
    uint64_t unit = r->o.unit;
    for (size_t i = 0; i < n; i++) {
        uint64_t off = order[i]->off, left = order[i]->len;
        uint8_t *dst = order[i]->dst;
        while (left > 0) {
            wt_unit *u = n_units ? &units[n_units - 1] : NULL;
            int join = u && u->off + u->len == off && u->len < unit && u->niov < WT_MAX_IOV;
            if (!join) {
                if (n_units == cap_units) {
                    size_t nc = cap_units ? 2 * cap_units : 64;
                    wt_unit *nu = wt_realloc(units, nc * sizeof *units);
                    if (!nu) {
                        rc = wt_rerr_set(err, WT_ENOMEM, 0, 0, "out of memory");
                        goto fail;
                    }
                    units = nu;
                    cap_units = nc;
                }
                u = &units[n_units++];
                u->off = off;
                u->len = 0;
                u->iov_first = (int)n_pool;
                u->niov = 0;
            }
            uint64_t take = unit - u->len < left ? unit - u->len : left;
            if (n_pool == cap_pool) {
                size_t nc = cap_pool ? 2 * cap_pool : 256;
                struct iovec *np = wt_realloc(pool, nc * sizeof *pool);
                if (!np) {
                    rc = wt_rerr_set(err, WT_ENOMEM, 0, 0, "out of memory");
                    goto fail;
                }
                pool = np;
                cap_pool = nc;
            }
            pool[n_pool].iov_base = dst;
            pool[n_pool].iov_len = (size_t)take;
            n_pool++;
            u->niov++;
            u->len += take;
            off += take;
            dst += take;
            left -= take;
        }
    }
    if (n_units) {
        wt_batch b;
        memset(&b, 0, sizeof b);
        b.units = units;
        b.n_units = n_units;
        b.pool = pool;
        if (threads < 1)
            threads = 1;
        rc = run_batch(r, &b, threads, err);
    }
fail:
    wt_free(order);
    wt_free(units);
    wt_free(pool);
    leave(r);
    return rc;
}

int wt_reader_set_tensors(wt_reader *r, const uint64_t *bounds, size_t n, wt_rerr *err)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t a = bounds[2 * i], b = bounds[2 * i + 1];
        if (a >= b || b > r->size || (i && a < bounds[2 * i - 1]))
            return wt_rerr_set(err, WT_EINVAL, 0, 0, "tensor ranges must be non-empty, sorted, disjoint and inside the file");
    }
    uint64_t *ts = wt_malloc((n ? n : 1) * sizeof *ts), *te = wt_malloc((n ? n : 1) * sizeof *te);
    if (!ts || !te) {
        wt_free(ts);
        wt_free(te);
        return wt_rerr_set(err, WT_ENOMEM, 0, 0, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        ts[i] = bounds[2 * i];
        te[i] = bounds[2 * i + 1];
    }
    pthread_mutex_lock(&r->mu);
    uint64_t *old_s = r->tstart, *old_e = r->tend;
    r->tstart = ts;
    r->tend = te;
    r->n_tensors = n;
    pthread_mutex_unlock(&r->mu);
    wt_free(old_s);
    wt_free(old_e);
    return 0;
}

void wt_reader_stats(wt_reader *r, wt_rstats *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_lock(&r->mu);
    if (r->src) {
        wt_src_counters(r->src, &s->requests, &s->bytes_fetched, &s->retries);
    } else {
        s->requests = r->final_requests;
        s->bytes_fetched = r->final_bytes;
        s->retries = r->final_retries;
    }
    s->slot_bytes = r->slot_bytes;
    pthread_mutex_unlock(&r->mu);
#define LOAD(f) __atomic_load_n(&r->f, __ATOMIC_RELAXED)
    s->slot_fetches = LOAD(n_slot_fetches);
    s->spec_fetches = LOAD(n_spec_fetches);
    s->direct_fetches = LOAD(n_direct);
    s->hit_bytes = LOAD(n_hit_bytes);
    s->waits = LOAD(n_waits);
    s->evictions = LOAD(n_evictions);
#undef LOAD
}

void wt_reader_shutdown(wt_reader *r)
{
    if (forked(r))
        return;                  /* a forked child: the threads and locks are the parent's */
    pthread_mutex_lock(&r->mu);
    if (r->state != R_OPEN) {
        while (r->state != R_CLOSED)
            pthread_cond_wait(&r->cv, &r->mu);
        pthread_mutex_unlock(&r->mu);
        return;
    }
    __atomic_store_n(&r->state, R_CLOSING, __ATOMIC_SEQ_CST);
    pthread_cond_broadcast(&r->cv);
    pthread_cond_broadcast(&r->cv_work);
    pthread_mutex_unlock(&r->mu);
    if (r->src)
        wt_src_abort(r->src);
    pthread_mutex_lock(&r->mu);
    while (__atomic_load_n(&r->users, __ATOMIC_SEQ_CST) > 0)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    for (uint32_t i = 0; i < r->n_workers; i++)
        pthread_join(r->workers[i], NULL);
    r->n_workers = 0;
    pthread_mutex_lock(&r->mu);
    while (r->q_head) {                  /* speculative fetches never started */
        wt_job *j = r->q_head;
        r->q_head = j->next;
        wt_free(j);
    }
    r->q_tail = NULL;
    r->q_len = 0;
    for (uint32_t i = 0; i < r->n_slots; i++) {
        r->slots[i].state = SLOT_FREE;
        r->slots[i].refs = 0;
        r->slots[i].job = NULL;
        slot_drop_buffer(r, &r->slots[i]);
    }
    if (r->src)
        wt_src_counters(r->src, &r->final_requests, &r->final_bytes, &r->final_retries);
    wt_src_close(r->src);
    r->src = NULL;
    __atomic_store_n(&r->state, R_CLOSED, __ATOMIC_SEQ_CST);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void wt_reader_free(wt_reader *r)
{
    if (!r)
        return;
    if (forked(r)) {
        /* After fork: the parent's threads do not exist here and its locks may be
         * held; the memory is left alone rather than risk a deadlock. */
        return;
    }
    wt_reader_shutdown(r);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    pthread_cond_destroy(&r->cv_work);
    wt_free(r->slots);
    wt_free(r->workers);
    wt_free(r->tstart);
    wt_free(r->tend);
    wt_free(r->probe_buf);
    wt_free(r);
}
