/* Where a reader's bytes come from: a local file (pread) or an http:// or https://
 * server (range requests over pooled keep-alive connections, TLS through io/tls.h,
 * TCP_NODELAY, poll-based timeouts, bounded retries that resume where a broken
 * response stopped, redirects followed at open).
 * Thread-safe: any number of fetches may run at once. */
#ifndef WT_READER_SRC_H
#define WT_READER_SRC_H

#include "io/reader.h"

#define WT_MAX_IOV 64   /* most pieces one fetch scatters into */

/* Called from the fetching thread as bytes arrive: `done` bytes of the request
 * are in place (monotonic; not necessarily after every receive). */
typedef void (*wt_progress_fn)(void *ctx, uint64_t done);

typedef struct wt_src wt_src;

/* Opens the source and reads up to probe_cap bytes from offset 0 into probe
 * (*probe_len receives how many; for HTTP this request also learns the size and
 * follows redirects). */
int wt_src_open(wt_src **out, const char *source, int is_url, const wt_reader_opts *o,
                uint8_t *probe, size_t probe_cap, size_t *probe_len, wt_rerr *err);
uint64_t wt_src_size(const wt_src *s);
int wt_src_is_local(const wt_src *s);
/* 1 for a local file on a network or FUSE filesystem (reads may be round trips). */
int wt_src_is_remote_fs(const wt_src *s);

/* The bytes [off, off + sum of iov lengths) into iov (niov <= WT_MAX_IOV). */
int wt_src_fetch(wt_src *s, uint64_t off, const struct iovec *iov, int niov,
                 wt_progress_fn fn, void *ctx, wt_rerr *err);

/* Makes fetches in progress fail fast (WT_ECANCELED) and later ones fail at once. */
void wt_src_abort(wt_src *s);
void wt_src_close(wt_src *s);
void wt_src_counters(const wt_src *s, uint64_t *requests, uint64_t *bytes, uint64_t *retries);

/* Fills err (when err->code is not already set by a deeper call, the message is
 * replaced) and returns code. */
int wt_rerr_set(wt_rerr *err, int code, int sys_errno, int http_status, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

#endif
