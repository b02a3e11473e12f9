/* The prefetch buffer manager: concurrent reads of one large file, local or over
 * HTTP(S), through a few shared buffers ("slots").
 *
 *   - One mutex per reader, held only to plan and to store, never across I/O.
 *   - A slot is a stored range [start, start+len) with its own fill watermark and
 *     read cursor. The thread that claims a range fetches it; readers wanting bytes
 *     of that range wait on it (no duplicate download) and copy out as soon as the
 *     bytes they need have arrived, before the whole fetch has finished.
 *   - Fetch sizes: at least the floor; inside a known tensor, the rest of the
 *     tensor (capped); a big read that does not continue a stream bypasses the
 *     slots and lands straight in the caller's memory.
 *   - Past 75% of a slot, or of a tensor of at least 4 MiB, the next range is
 *     decided and claimed in one locked step and fetched by an I/O worker.
 *   - One process-wide byte budget for all slots of all readers.
 *
 * No function here touches Python. Every fallible call returns 0 or a negative
 * WT_E* code and fills a wt_rerr with what failed. */
#ifndef WT_READER_H
#define WT_READER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/wt_common.h"

/* Reader error codes (wt_common.h owns -1 .. -31). */
enum {
    WT_EIO = -32,         /* a system call failed (sys_errno says which) */
    WT_ETIMEOUT = -33,    /* no progress within the timeout, or past the deadline, after every retry */
    WT_EHTTP = -34,       /* the server answered with an error status */
    WT_EPROTO = -35,      /* the response broke HTTP or did not match the request */
    WT_ENOTFOUND = -36,   /* 404/410, or no such local file */
    WT_ECLOSED = -37,     /* the reader was closed */
    WT_ECHANGED = -38,    /* the file changed (size, ETag) since it was opened */
    WT_ENORANGE = -39,    /* the server does not serve byte ranges */
    WT_EURL = -40,        /* a source this build cannot read (bad URL, another scheme, https:// without TLS) */
    WT_EFORK = -41,       /* used in a process forked after it was opened */
    WT_ECANCELED = -42,   /* internal: a fetch aborted by close */
    WT_ERANGE = -43,      /* offset/length outside the file */
    WT_ENET = -44,        /* connection failed or broke, after every retry */
    WT_ETLS = -45,        /* TLS refused: an untrusted certificate, a name mismatch, a failed handshake */
};

typedef struct wt_rerr {
    int code;             /* WT_E* */
    int sys_errno;        /* errno of the failing system call, or 0 */
    int http_status;      /* the HTTP status that caused it, or 0 */
    int attempts;         /* attempts made (HTTP), 0 when not applicable */
    char msg[320];
} wt_rerr;

/* How https:// connections are made and checked (io/tls.h). The strings and bytes
 * are copied at open. */
typedef struct wt_tls_conf {
    int available;             /* 0: no TLS in this process (https:// is refused) */
    const char *lib;           /* a loaded module linked with libssl (Python's _ssl), or NULL:
                                  OpenSSL's functions are looked up there */
    const char *ca_file;       /* trusted certificates: a PEM bundle, */
    const char *ca_dir;        /* a hashed directory, */
    const uint8_t *ca_der;     /* or DER certificates, concatenated (an SSLContext's); NULL */
    size_t ca_der_len;
    int verify;                /* 1: verify the server's certificate chain */
    int check_hostname;        /* 1: and that it names the host */
    unsigned long verify_flags;/* X509_V_FLAG_* bits added to OpenSSL's defaults */
    int min_version;           /* lowest protocol version (0x0303 TLS 1.2, 0x0304 TLS 1.3); 0: TLS 1.2 */
} wt_tls_conf;

typedef struct wt_reader_opts {
    uint64_t floor;       /* smallest fetch into a slot (bytes) */
    uint64_t tensor_cap;  /* largest slot fetch, and the cap on "rest of the tensor" */
    uint64_t direct_min;  /* a read at least this big that continues no stream goes direct */
    uint64_t unit;        /* chunk size for parallel direct reads */
    uint64_t probe;       /* bytes read at open into the first slot (header probe) */
    uint32_t max_slots;   /* slots of this reader */
    uint32_t io_threads;  /* I/O workers (speculative fetches, parallel chunks) */
    double timeout;       /* seconds without progress before an attempt is abandoned; an attempt
                             also ends timeout s per MiB asked for, plus timeout, after it began */
    int retries;          /* attempts after the first */
    int prefetch;         /* 1 on, 0 off (every read direct), -1 auto: on unless a local disk */
    const char *headers;  /* extra request header lines, each ending in \r\n, or NULL; not
                             sent again after a redirect to another origin */
    wt_tls_conf tls;
} wt_reader_opts;

typedef struct wt_rstats {
    uint64_t requests;        /* fetches issued to the source (HTTP requests, preads) */
    uint64_t bytes_fetched;   /* bytes received from the source */
    uint64_t retries;         /* attempts repeated after a failure */
    uint64_t slot_fetches;    /* fetches into a slot on a reader's demand */
    uint64_t spec_fetches;    /* speculative fetches into a slot */
    uint64_t direct_fetches;  /* fetches straight into the caller's memory */
    uint64_t hit_bytes;       /* bytes copied out of slots */
    uint64_t waits;           /* times a reader waited on another's in-flight fetch */
    uint64_t evictions;       /* slots dropped to make room */
    uint64_t slot_bytes;      /* bytes held by this reader's slots now */
} wt_rstats;

/* One piece of a scattered read: len bytes at file offset off into dst. */
typedef struct wt_rjob {
    uint64_t off, len;
    uint8_t *dst;
} wt_rjob;

typedef struct wt_reader wt_reader;

/* Opens a local path (is_url 0) or an http:// or https:// URL. *probe_out receives up to
 * o->probe bytes from offset 0 (they also seed the first slot); it is owned by the
 * reader and valid until wt_reader_drop_probe. Returns NULL with err filled on failure. */
wt_reader *wt_reader_open(const char *source, int is_url, const wt_reader_opts *o,
                          const uint8_t **probe_out, size_t *probe_len, wt_rerr *err);
void wt_reader_drop_probe(wt_reader *r);
uint64_t wt_reader_size(const wt_reader *r);

/* len bytes at off into dst; off + len must be <= size. Safe from any number of threads. */
int wt_reader_read(wt_reader *r, uint64_t off, uint64_t len, uint8_t *dst, wt_rerr *err);

/* Scattered reads, in parallel on up to `threads` threads (the caller included);
 * contiguous jobs are coalesced into requests of about o->unit bytes. */
int wt_reader_read_many(wt_reader *r, const wt_rjob *jobs, size_t n, uint32_t threads, wt_rerr *err);

/* Known tensor ranges [start, end) in absolute file offsets, sorted, not overlapping. */
int wt_reader_set_tensors(wt_reader *r, const uint64_t *bounds, size_t n_tensors, wt_rerr *err);

void wt_reader_stats(wt_reader *r, wt_rstats *s);

/* Aborts fetches in progress, waits for calls in progress to return, joins the
 * workers and releases slots and connections. Idempotent; later calls fail with
 * WT_ECLOSED. */
void wt_reader_shutdown(wt_reader *r);
/* Shuts down if needed and frees the reader. */
void wt_reader_free(wt_reader *r);

/* 1 when the reader prefetches into slots (an http:// source, or a local file on
 * a network or FUSE filesystem, unless turned off), 0 when every read is direct. */
int wt_reader_prefetching(const wt_reader *r);

/* The process-wide byte budget of all slots, and the bytes they hold now. */
void wt_io_set_budget(uint64_t bytes);
uint64_t wt_io_budget(void);
uint64_t wt_io_used(void);

#endif
