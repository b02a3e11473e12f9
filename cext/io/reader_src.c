/* Sources of a prefetch reader: local files and http:// or https:// range requests
 * (TLS through io/tls.h). See reader_src.h. No Python here; errors are WT_E* codes plus a wt_rerr. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "io/reader_src.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#if defined(__linux__)
#include <sys/vfs.h>
#elif defined(__APPLE__)
#include <sys/mount.h>
#include <sys/param.h>
#endif
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "io/tls.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0          /* macOS: SO_NOSIGPIPE is set on the socket instead */
#endif

enum { SRC_LOCAL = 1, SRC_HTTP = 2 };
enum { WT_MAX_IDLE = 32, WT_MAX_REDIRECTS = 5, WT_HEAD_MAX = 32768, WT_LOCATION_MAX = 8192 };
#define WT_LOCAL_PIECE ((uint64_t)4 << 20)     /* local reads report progress per piece */
#define WT_SYSCALL_MAX ((uint64_t)1 << 30)      /* bytes per read(2)-family call */
#define WT_PROGRESS_STEP ((uint64_t)1024 << 10)  /* HTTP progress granularity */
#define WT_REDIRECT (-1000)                     /* internal: the probe was redirected */

/* A request in flight, registered so that abort can shut its socket down. */
typedef struct wt_hreq {
    int fd;
    struct wt_hreq *prev, *next;
} wt_hreq;

typedef struct wt_url {
    int tls;             /* https:// */
    char *host;          /* as given, without brackets */
    char *host_hdr;      /* Host header value */
    char *target;        /* request target: /path?query */
    char port[8];
} wt_url;

/* A connection: a socket, and its TLS state for https://. */
typedef struct wt_conn {
    int fd;
    wt_tls *tls;
} wt_conn;

struct wt_src {
    int kind;
    uint64_t size;
    int fd;                           /* local */
    /* HTTP */
    char *url;                        /* for messages: the URL now requested */
    wt_url u;
    struct sockaddr_storage *addrs;
    socklen_t *addrlens;
    int n_addrs;
    char *headers;                    /* extra header lines, each ending in \r\n */
    char etag[160], last_mod[80];     /* validators from the probe */
    int timeout_ms, retries;
    wt_tls_conf tls_conf;             /* a copy (its strings and bytes owned here) */
    wt_tls_ctx *tls_ctx;              /* made at the first https:// URL, then read-only */
    pthread_mutex_t mu;               /* idle pool and active list */
    wt_conn idle[WT_MAX_IDLE];
    int n_idle;
    wt_hreq active;                   /* sentinel of the in-flight list */
    int aborted;                      /* atomic */
    uint64_t n_requests, n_bytes, n_retries;   /* atomic counters */
};

typedef struct wt_hresp {
    int status, minor, conn_close, conn_keep, chunked, encoded;
    int64_t clen;                     /* -1: absent */
    int has_crange, crange_unsat, total_known;
    uint64_t cr_first, cr_last, cr_total;
    char etag[160], last_mod[80], location[WT_LOCATION_MAX];
    int location_long;
} wt_hresp;

/* ------------------------------------------------------------------ errors */

int wt_rerr_set(wt_rerr *err, int code, int sys_errno, int http_status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        err->sys_errno = sys_errno;
        err->http_status = http_status;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int is_aborted(const wt_src *s) { return __atomic_load_n(&s->aborted, __ATOMIC_ACQUIRE); }

static char *dup_range(const char *p, size_t n)
{
    char *d = wt_malloc(n + 1);
    if (d) {
        memcpy(d, p, n);
        d[n] = 0;
    }
    return d;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------- local */

static int local_open(wt_src *s, const char *path, wt_rerr *err)
{
    struct stat st;
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0) {
        int e = errno;
        return wt_rerr_set(err, e == ENOENT ? WT_ENOTFOUND : WT_EIO, e, 0, "cannot open %s: %s", path,
                           strerror(e));
    }
    if (fstat(s->fd, &st) != 0)
        return wt_rerr_set(err, WT_EIO, errno, 0, "cannot stat %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return wt_rerr_set(err, WT_EIO, EISDIR, 0, "%s is a directory", path);
    if (S_ISREG(st.st_mode)) {
        s->size = (uint64_t)st.st_size;
    } else {
        off_t end = lseek(s->fd, 0, SEEK_END);
        if (end < 0)
            return wt_rerr_set(err, WT_EIO, errno, 0, "%s is not a seekable file", path);
        s->size = (uint64_t)end;
    }
    return 0;
}

/* Reads into iov at file offset off; progress after every piece when fn is set. */
static int local_fetch(wt_src *s, uint64_t off, const struct iovec *iov, int niov, wt_progress_fn fn,
                       void *ctx, wt_rerr *err)
{
    uint64_t done = 0;
    for (int i = 0; i < niov; i++) {
        uint8_t *p = iov[i].iov_base;
        uint64_t left = iov[i].iov_len;
        while (left > 0) {
            uint64_t want = left < WT_SYSCALL_MAX ? left : WT_SYSCALL_MAX;
            if (fn && want > WT_LOCAL_PIECE)
                want = WT_LOCAL_PIECE;
            if (is_aborted(s))
                return wt_rerr_set(err, WT_ECANCELED, 0, 0, "reader closed");
            ssize_t n = pread(s->fd, p, (size_t)want, (off_t)(off + done));
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return wt_rerr_set(err, WT_EIO, errno, 0, "read of %llu bytes at offset %llu failed: %s",
                                   (unsigned long long)want, (unsigned long long)(off + done), strerror(errno));
            }
            if (n == 0)
                return wt_rerr_set(err, WT_ECHANGED, 0, 0,
                                   "the file ended at offset %llu: it is shorter than when it was opened",
                                   (unsigned long long)(off + done));
            p += n;
            left -= (uint64_t)n;
            done += (uint64_t)n;
            __atomic_fetch_add(&s->n_bytes, (uint64_t)n, __ATOMIC_RELAXED);
            if (fn)
                fn(ctx, done);
        }
    }
    return 0;
}

/* -------------------------------------------------------------------- URLs */

static void url_free(wt_url *u)
{
    wt_free(u->host);
    wt_free(u->host_hdr);
    wt_free(u->target);
    memset(u, 0, sizeof *u);
}

/* http[s]://host[:port][/path][?query][#fragment] */
static int url_parse(const char *url, wt_url *u, wt_rerr *err)
{
    memset(u, 0, sizeof *u);
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return wt_rerr_set(err, WT_EURL, 0, 0, "invalid URL (control character or space): %.200s", url);
    if (strncasecmp(url, "https://", 8) == 0)
        u->tls = 1;
    else if (strncasecmp(url, "http://", 7) != 0)
        return wt_rerr_set(err, WT_EURL, 0, 0, "not an http:// or https:// URL: %.200s", url);
    const char *a = url + (u->tls ? 8 : 7), *e = a;
    while (*e && *e != '/' && *e != '?' && *e != '#')
        e++;
    if (memchr(a, '@', (size_t)(e - a)))
        return wt_rerr_set(err, WT_EURL, 0, 0,
                           "credentials in the URL are not supported; pass an Authorization header: %.200s", url);
    const char *hs = a, *he, *ps = NULL;
    if (*a == '[') {
        const char *rb = memchr(a, ']', (size_t)(e - a));
        if (!rb)
            return wt_rerr_set(err, WT_EURL, 0, 0, "invalid IPv6 host in URL: %.200s", url);
        hs = a + 1;
        he = rb;
        if (rb + 1 < e) {
            if (rb[1] != ':')
                return wt_rerr_set(err, WT_EURL, 0, 0, "invalid host in URL: %.200s", url);
            ps = rb + 2;
        }
    } else {
        const char *colon = memchr(a, ':', (size_t)(e - a));
        he = colon ? colon : e;
        if (colon)
            ps = colon + 1;
    }
    if (he == hs)
        return wt_rerr_set(err, WT_EURL, 0, 0, "no host in URL: %.200s", url);
    if (ps) {
        size_t n = (size_t)(e - ps);
        unsigned long port = 0;
        if (n == 0 || n > 5)
            return wt_rerr_set(err, WT_EURL, 0, 0, "invalid port in URL: %.200s", url);
        for (size_t i = 0; i < n; i++) {
            if (ps[i] < '0' || ps[i] > '9')
                return wt_rerr_set(err, WT_EURL, 0, 0, "invalid port in URL: %.200s", url);
            port = port * 10 + (unsigned long)(ps[i] - '0');
        }
        if (port == 0 || port > 65535)
            return wt_rerr_set(err, WT_EURL, 0, 0, "invalid port in URL: %.200s", url);
        snprintf(u->port, sizeof u->port, "%lu", port);
    } else {
        strcpy(u->port, u->tls ? "443" : "80");
    }
    u->host = dup_range(hs, (size_t)(he - hs));
    u->host_hdr = dup_range(a, (size_t)(e - a));
    const char *t = e, *te = e;
    while (*te && *te != '#')
        te++;
    if (*t == '/' || t == te) {
        u->target = t == te ? dup_range("/", 1) : dup_range(t, (size_t)(te - t));
    } else {                          /* "?query" right after the host */
        u->target = wt_malloc((size_t)(te - t) + 2);
        if (u->target) {
            u->target[0] = '/';
            memcpy(u->target + 1, t, (size_t)(te - t));
            u->target[te - t + 1] = 0;
        }
    }
    if (!u->host || !u->host_hdr || !u->target) {
        url_free(u);
        return wt_rerr_set(err, WT_ENOMEM, 0, 0, "out of memory");
    }
    return 0;
}

static int resolve(wt_src *s, wt_rerr *err)
{
    struct addrinfo hints, *res = NULL, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    int rc = getaddrinfo(s->u.host, s->u.port, &hints, &res);
    if (rc == EAI_NONAME || rc == EAI_BADFLAGS) {     /* AI_ADDRCONFIG fails on loopback-only hosts */
        hints.ai_flags = 0;
        rc = getaddrinfo(s->u.host, s->u.port, &hints, &res);
    }
    if (rc != 0)
        return wt_rerr_set(err, WT_ENET, 0, 0, "cannot resolve host %s: %s", s->u.host, gai_strerror(rc));
    int n = 0;
    for (ai = res; ai; ai = ai->ai_next)
        n++;
    wt_free(s->addrs);
    wt_free(s->addrlens);
    s->addrs = wt_calloc((size_t)n, sizeof *s->addrs);
    s->addrlens = wt_calloc((size_t)n, sizeof *s->addrlens);
    if (!s->addrs || !s->addrlens) {
        freeaddrinfo(res);
        return wt_rerr_set(err, WT_ENOMEM, 0, 0, "out of memory");
    }
    s->n_addrs = 0;
    for (ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(struct sockaddr_storage))
            continue;
        memcpy(&s->addrs[s->n_addrs], ai->ai_addr, ai->ai_addrlen);
        s->addrlens[s->n_addrs++] = ai->ai_addrlen;
    }
    freeaddrinfo(res);
    if (s->n_addrs == 0)
        return wt_rerr_set(err, WT_ENET, 0, 0, "no address for host %s", s->u.host);
    return 0;
}

/* ----------------------------------------------------------------- sockets */

/* When a request must be over, whatever progress it makes: without one, a server
 * sending a byte now and then within the timeout would hold it forever. */
typedef struct wt_deadline {
    int64_t at, ms;                   /* monotonic ms; ms: the allowance, for messages */
} wt_deadline;

/* timeout for every MiB asked for (begun), plus timeout: a server silent from the
 * start meets the timeout first. */
static void deadline_set(const wt_src *s, uint64_t bytes, wt_deadline *d)
{
    uint64_t units = (bytes >> 20) + ((bytes & ((1u << 20) - 1)) != 0) + 1;
    d->ms = units > (uint64_t)(INT64_MAX / 4) / (uint64_t)s->timeout_ms ? INT64_MAX / 4
                                                                          : (int64_t)units * s->timeout_ms;
    d->at = now_ms() + d->ms;
}

/* Waits until fd is ready for ev; WT_ETIMEOUT after timeout_ms without it or
 * past the request's deadline. */
static int wait_fd(wt_src *s, int fd, short ev, const wt_deadline *d, wt_rerr *err)
{
    int64_t idle = now_ms() + s->timeout_ms;
    for (;;) {
        if (is_aborted(s))
            return wt_rerr_set(err, WT_ECANCELED, 0, 0, "reader closed");
        int64_t now = now_ms(), left = (idle < d->at ? idle : d->at) - now;
        if (now >= idle)
            return wt_rerr_set(err, WT_ETIMEOUT, 0, 0, "no response within %.3g s", s->timeout_ms / 1000.0);
        if (left <= 0)
            return wt_rerr_set(err, WT_ETIMEOUT, 0, 0, "the request took longer than %.3g s (the server sends too slowly)",
                               d->ms / 1000.0);
        struct pollfd p = {fd, ev, 0};
        int rc = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (rc > 0)
            return is_aborted(s) ? wt_rerr_set(err, WT_ECANCELED, 0, 0, "reader closed") : 0;
        if (rc < 0 && errno != EINTR)
            return wt_rerr_set(err, WT_ENET, errno, 0, "poll failed: %s", strerror(errno));
    }
}

static void track(wt_src *s, wt_hreq *q, int fd)
{
    q->fd = fd;
    pthread_mutex_lock(&s->mu);
    q->next = s->active.next;
    q->prev = &s->active;
    s->active.next->prev = q;
    s->active.next = q;
    pthread_mutex_unlock(&s->mu);
}

static void untrack(wt_src *s, wt_hreq *q)
{
    pthread_mutex_lock(&s->mu);
    q->prev->next = q->next;
    q->next->prev = q->prev;
    pthread_mutex_unlock(&s->mu);
}

static int set_nonblock_opts(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
#ifdef SO_NOSIGPIPE
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
    return 0;
}

static void conn_close(wt_conn *c)
{
    wt_tls_free(c->tls);
    c->tls = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* The TLS handshake on a connected socket (tracked, so that abort can cut it). */
static int tls_start(wt_src *s, wt_conn *c, const wt_deadline *d, wt_rerr *err)
{
    int rc = wt_tls_new(&c->tls, s->tls_ctx, c->fd, s->u.host, s->u.port, err);
    while (rc == 0) {
        rc = wt_tls_handshake(c->tls, err);
        if (rc <= 0)
            break;
        rc = wait_fd(s, c->fd, rc == WT_TLS_WANT_READ ? POLLIN : POLLOUT, d, err);
        if (rc == WT_ETIMEOUT)
            wt_rerr_set(err, WT_ETIMEOUT, 0, 0, "the TLS handshake with %s port %s timed out after %.3g s",
                        s->u.host, s->u.port, s->timeout_ms / 1000.0);
    }
    return rc;
}

static int connect_new(wt_src *s, wt_conn *out, const wt_deadline *d, wt_rerr *err)
{
    int rc = wt_rerr_set(err, WT_ENET, 0, 0, "no address to connect to");
    for (int i = 0; i < s->n_addrs; i++) {
        wt_conn c = {socket(s->addrs[i].ss_family, SOCK_STREAM, 0), NULL};
        if (c.fd < 0) {
            rc = wt_rerr_set(err, WT_ENET, errno, 0, "socket failed: %s", strerror(errno));
            continue;
        }
        if (set_nonblock_opts(c.fd) != 0) {
            rc = wt_rerr_set(err, WT_ENET, errno, 0, "fcntl failed: %s", strerror(errno));
            conn_close(&c);
            continue;
        }
        wt_hreq q;
        track(s, &q, c.fd);
        rc = 0;
        if (connect(c.fd, (struct sockaddr *)&s->addrs[i], s->addrlens[i]) != 0) {
            if (errno != EINPROGRESS && errno != EINTR) {
                rc = wt_rerr_set(err, WT_ENET, errno, 0, "cannot connect to %s port %s: %s", s->u.host, s->u.port,
                                 strerror(errno));
            } else {
                rc = wait_fd(s, c.fd, POLLOUT, d, err);
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                if (rc == 0 && (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0))
                    rc = wt_rerr_set(err, WT_ENET, soerr, 0, "cannot connect to %s port %s: %s", s->u.host,
                                     s->u.port, strerror(soerr ? soerr : errno));
                else if (rc == WT_ETIMEOUT)
                    wt_rerr_set(err, WT_ETIMEOUT, 0, 0, "connecting to %s port %s timed out after %.3g s", s->u.host,
                                s->u.port, s->timeout_ms / 1000.0);
            }
        }
        if (rc == 0) {
            int one = 1;
            setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (s->u.tls)
                rc = tls_start(s, &c, d, err);
        }
        untrack(s, &q);
        if (rc == 0) {
            *out = c;
            return 0;
        }
        conn_close(&c);
        if (rc == WT_ECANCELED || rc == WT_ETLS)      /* another address would not do better */
            return rc;
    }
    return rc;
}

/* An idle keep-alive connection (fd -1: none). One the server closed (readable
 * while idle: EOF, an alert or junk) is dropped here rather than failing a request. */
static wt_conn take_idle(wt_src *s)
{
    for (;;) {
        wt_conn c = {-1, NULL};
        pthread_mutex_lock(&s->mu);
        if (s->n_idle > 0)
            c = s->idle[--s->n_idle];
        pthread_mutex_unlock(&s->mu);
        if (c.fd < 0)
            return c;
        struct pollfd p = {c.fd, POLLIN, 0};
        if (poll(&p, 1, 0) == 0 && !(c.tls && wt_tls_pending(c.tls) > 0))
            return c;
        conn_close(&c);
    }
}

static void put_idle(wt_src *s, wt_conn *c)
{
    pthread_mutex_lock(&s->mu);
    if (s->n_idle < WT_MAX_IDLE && !is_aborted(s)) {
        s->idle[s->n_idle++] = *c;
        c->fd = -1;
        c->tls = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    conn_close(c);
}

static int send_all(wt_src *s, wt_conn *c, const char *buf, size_t n, const wt_deadline *d, wt_rerr *err)
{
    while (n > 0) {
        int rc, ev = POLLOUT;
        if (c->tls) {
            size_t put = 0;
            rc = wt_tls_write(c->tls, buf, n, &put, err);
            if (rc < 0)
                return rc;
            if (rc == 0) {
                buf += put;
                n -= put;
                continue;
            }
            ev = rc == WT_TLS_WANT_READ ? POLLIN : POLLOUT;
        } else {
            ssize_t w = send(c->fd, buf, n, MSG_NOSIGNAL);
            if (w > 0) {
                buf += w;
                n -= (size_t)w;
                continue;
            }
            if (w < 0 && errno == EINTR)
                continue;
            if (!(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
                return wt_rerr_set(err, WT_ENET, errno, 0, "sending the request failed: %s", strerror(errno));
        }
        if ((rc = wait_fd(s, c->fd, (short)ev, d, err)))
            return rc;
    }
    return 0;
}

/* Receives at least one byte; 0 bytes means the peer closed (*got = 0). */
static int recv_some(wt_src *s, wt_conn *c, void *buf, size_t cap, size_t *got, const wt_deadline *d,
                     wt_rerr *err)
{
    for (;;) {
        int rc, ev = POLLIN;
        if (c->tls) {
            rc = wt_tls_read(c->tls, buf, cap, got, err);
            if (rc <= 0)
                return rc;
            ev = rc == WT_TLS_WANT_READ ? POLLIN : POLLOUT;
        } else {
            ssize_t r = recv(c->fd, buf, cap, 0);
            if (r >= 0) {
                *got = (size_t)r;
                return 0;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return wt_rerr_set(err, WT_ENET, errno, 0, "connection failed: %s", strerror(errno));
        }
        if ((rc = wait_fd(s, c->fd, (short)ev, d, err)))
            return rc;
    }
}

/* ---------------------------------------------------------------- parsing */

static int parse_u64(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static void copy_value(char *dst, size_t cap, const char *v, size_t n, int *too_long)
{
    if (n >= cap) {
        if (too_long)
            *too_long = 1;
        n = cap - 1;
    }
    memcpy(dst, v, n);
    dst[n] = 0;
}

static int has_token(const char *v, size_t n, const char *tok)
{
    size_t t = strlen(tok);
    for (size_t i = 0; i + t <= n; i++)
        if (strncasecmp(v + i, tok, t) == 0)
            return 1;
    return 0;
}

/* Content-Range: "bytes FIRST-LAST/TOTAL", TOTAL may be "*"; or "bytes STAR/TOTAL" (unsatisfied). */
static int parse_content_range(const char *v, size_t n, wt_hresp *r)
{
    if (n < 6 || strncasecmp(v, "bytes", 5) != 0 || (v[5] != ' ' && v[5] != '='))
        return -1;
    const char *p = v + 6, *end = v + n;
    while (p < end && *p == ' ')
        p++;
    const char *slash = memchr(p, '/', (size_t)(end - p));
    if (!slash)
        return -1;
    if (slash - p == 1 && *p == '*') {
        r->crange_unsat = 1;
    } else {
        const char *dash = memchr(p, '-', (size_t)(slash - p));
        if (!dash || parse_u64(p, (size_t)(dash - p), &r->cr_first) ||
            parse_u64(dash + 1, (size_t)(slash - dash - 1), &r->cr_last) || r->cr_last < r->cr_first)
            return -1;
        r->has_crange = 1;
    }
    const char *t = slash + 1;
    if (end - t == 1 && *t == '*')
        return r->crange_unsat ? -1 : 0;
    if (parse_u64(t, (size_t)(end - t), &r->cr_total))
        return -1;
    r->total_known = 1;
    if (r->has_crange && r->cr_last >= r->cr_total)
        return -1;
    return 0;
}

/* The end of the line at p (before its LF, and before a CR there); *next: after the LF. */
static const char *line_end(const char *p, const char *end, const char **next)
{
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    if (!lf)
        return NULL;
    *next = lf + 1;
    return lf > p && lf[-1] == '\r' ? lf - 1 : lf;
}

/* Where the head ends (after its blank line) in h[0, n), looking from `from`; 0 when not yet.
 * Lines may end in LF alone (RFC 9112 2.2 lets a recipient accept that). */
static size_t head_end(const char *h, size_t from, size_t n)
{
    for (size_t i = from; i + 1 < n; i++)
        if (h[i] == '\n') {
            if (h[i + 1] == '\n')
                return i + 2;
            if (h[i + 1] == '\r' && i + 2 < n && h[i + 2] == '\n')
                return i + 3;
        }
    return 0;
}

static int parse_head(const char *h, size_t n, wt_hresp *r)
{
    memset(r, 0, sizeof *r);
    r->clen = -1;
    const char *end = h + n, *line, *eol = line_end(h, end, &line);
    /* "HTTP/1.x NNN" then a reason after a space, or nothing */
    if (!eol || eol - h < 12 || strncmp(h, "HTTP/1.", 7) != 0 || (h[7] != '0' && h[7] != '1') || h[8] != ' ' ||
        (eol - h > 12 && h[12] != ' '))
        return -1;
    r->minor = h[7] - '0';
    for (int i = 9; i < 12; i++)
        if (h[i] < '0' || h[i] > '9')
            return -1;
    r->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
    while (line < end) {
        const char *next, *le = line_end(line, end, &next);
        if (!le)
            return -1;
        if (le == line)
            break;                     /* the blank line */
        const char *colon = memchr(line, ':', (size_t)(le - line));
        if (!colon || colon == line)
            return -1;
        size_t kn = (size_t)(colon - line);
        const char *v = colon + 1, *ve = le;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t vn = (size_t)(ve - v);
#define KEY(name) (kn == sizeof(name) - 1 && strncasecmp(line, name, kn) == 0)
        if (KEY("content-length")) {
            uint64_t x;
            if (parse_u64(v, vn, &x) || x > (uint64_t)INT64_MAX || (r->clen >= 0 && (uint64_t)r->clen != x))
                return -1;
            r->clen = (int64_t)x;
        } else if (KEY("content-range")) {
            if (parse_content_range(v, vn, r))
                return -1;
        } else if (KEY("connection")) {
            if (has_token(v, vn, "close"))
                r->conn_close = 1;
            if (has_token(v, vn, "keep-alive"))
                r->conn_keep = 1;
        } else if (KEY("transfer-encoding")) {
            if (!(vn == 8 && strncasecmp(v, "identity", 8) == 0))
                r->chunked = 1;
        } else if (KEY("content-encoding")) {
            if (!(vn == 8 && strncasecmp(v, "identity", 8) == 0))
                r->encoded = 1;
        } else if (KEY("etag")) {
            copy_value(r->etag, sizeof r->etag, v, vn, NULL);
        } else if (KEY("last-modified")) {
            copy_value(r->last_mod, sizeof r->last_mod, v, vn, NULL);
        } else if (KEY("location")) {
            copy_value(r->location, sizeof r->location, v, vn, &r->location_long);
        }
#undef KEY
        line = next;
    }
    return 0;
}

/* ------------------------------------------------------------------- HTTP */

/* Copies n bytes of src to position pos of the scatter list. */
static void iov_put(const struct iovec *iov, int niov, uint64_t pos, const uint8_t *src, uint64_t n)
{
    for (int i = 0; i < niov && n > 0; i++) {
        uint64_t l = iov[i].iov_len;
        if (pos >= l) {
            pos -= l;
            continue;
        }
        uint64_t k = l - pos < n ? l - pos : n;
        memcpy((uint8_t *)iov[i].iov_base + pos, src, k);
        src += k;
        n -= k;
        pos = 0;
    }
}

/* The slice of the scatter list at position pos (segment i, offset within). */
static void iov_seek(const struct iovec *iov, int niov, uint64_t pos, int *seg, uint64_t *within)
{
    int i = 0;
    while (i < niov && pos >= iov[i].iov_len) {
        pos -= iov[i].iov_len;
        i++;
    }
    *seg = i;
    *within = pos;
}

typedef struct wt_attempt {
    /* in */
    uint64_t off, len;           /* the whole request; bytes [0, *done) are already in place */
    const struct iovec *iov;
    int niov;
    uint64_t cap;                /* bytes iov holds: no answer may write past them */
    int probe;                   /* the opening request: learn the size (len may change), follow redirects */
    wt_progress_fn fn;
    void *ctx;
    /* in/out */
    uint64_t done;
    wt_deadline deadline;        /* of the attempt under way */
    /* out */
    int reusable, got_any, retryable;
    int status;                  /* of a redirect */
    char location[WT_LOCATION_MAX];
} wt_attempt;

static int request(wt_src *s, wt_conn *c, uint64_t first, uint64_t last, const wt_deadline *d, wt_rerr *err)
{
    char stack[4096], *buf = stack;
    size_t need = strlen(s->u.target) + strlen(s->u.host_hdr) + (s->headers ? strlen(s->headers) : 0) + 256;
    if (need > sizeof stack && !(buf = wt_malloc(need)))
        return wt_rerr_set(err, WT_ENOMEM, 0, 0, "out of memory");
    int n = snprintf(buf, need > sizeof stack ? need : sizeof stack,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nRange: bytes=%llu-%llu\r\nAccept-Encoding: identity\r\n"
                     "User-Agent: warptok\r\n%s\r\n",
                     s->u.target, s->u.host_hdr, (unsigned long long)first, (unsigned long long)last,
                     s->headers ? s->headers : "");
    int rc = send_all(s, c, buf, (size_t)n, d, err);
    if (buf != stack)
        wt_free(buf);
    return rc;
}

/* Receives `want` body bytes into a's scatter list from position a->done. */
static int read_body(wt_src *s, wt_conn *c, wt_attempt *a, uint64_t want, wt_rerr *err)
{
    if (a->done > a->cap || want > a->cap - a->done)
        return wt_rerr_set(err, WT_EPROTO, 0, 0, "the server sent more bytes than asked for");
    uint64_t target = a->done + want, reported = a->done;
    int seg;
    uint64_t within;
    iov_seek(a->iov, a->niov, a->done, &seg, &within);
    while (a->done < target) {
        uint8_t *p = (uint8_t *)a->iov[seg].iov_base + within;
        uint64_t room = a->iov[seg].iov_len - within;
        if (room > target - a->done)
            room = target - a->done;
        if (room > WT_SYSCALL_MAX)
            room = WT_SYSCALL_MAX;
        size_t got = 0;
        int rc = recv_some(s, c, p, (size_t)room, &got, &a->deadline, err);
        if (rc)
            return rc;
        if (got == 0)
            return wt_rerr_set(err, WT_ENET, 0, 0, "the server closed the connection after %llu of %llu bytes",
                               (unsigned long long)a->done, (unsigned long long)a->len);
        a->done += got;
        within += got;
        __atomic_fetch_add(&s->n_bytes, (uint64_t)got, __ATOMIC_RELAXED);
        if (within == a->iov[seg].iov_len) {
            seg++;
            within = 0;
        }
        if (a->fn && (a->done - reported >= WT_PROGRESS_STEP || a->done == target)) {
            a->fn(a->ctx, a->done);
            reported = a->done;
        }
    }
    return 0;
}

static int validators_match(const wt_src *s, const wt_hresp *r)
{
    if (s->etag[0] && r->etag[0])
        return strcmp(s->etag, r->etag) == 0;
    if (s->last_mod[0] && r->last_mod[0])
        return strcmp(s->last_mod, r->last_mod) == 0;
    return 1;
}

/* One GET on c. Sets a->retryable for failures worth another attempt. */
static int attempt(wt_src *s, wt_conn *c, wt_attempt *a, wt_rerr *err)
{
    char head[WT_HEAD_MAX];
    size_t have = 0, head_len = 0;
    uint64_t first = a->off + a->done, last = a->off + a->len - 1;
    int rc;
    a->reusable = 0;
    a->got_any = 0;
    a->retryable = 1;
    __atomic_fetch_add(&s->n_requests, 1, __ATOMIC_RELAXED);
    if ((rc = request(s, c, first, last, &a->deadline, err)))
        return rc;
    for (;;) {                                    /* the response head */
        size_t got = 0;
        if (have == sizeof head) {
            a->retryable = 0;
            return wt_rerr_set(err, WT_EPROTO, 0, 0, "response headers larger than %d bytes", WT_HEAD_MAX);
        }
        if ((rc = recv_some(s, c, head + have, sizeof head - have, &got, &a->deadline, err)))
            return rc;
        if (got == 0)
            return wt_rerr_set(err, WT_ENET, 0, 0, "the server closed the connection %s",
                               have ? "in the middle of the response headers" : "without answering");
        a->got_any = 1;
        size_t from = have >= 2 ? have - 2 : 0;
        have += got;
        if ((head_len = head_end(head, from, have)))
            break;
    }
    wt_hresp r;
    if (parse_head(head, head_len, &r)) {
        a->retryable = 0;
        return wt_rerr_set(err, WT_EPROTO, 0, 0, "malformed HTTP response head");
    }
    uint64_t body;                                /* body bytes expected */
    if (a->probe && (r.status == 301 || r.status == 302 || r.status == 303 || r.status == 307 || r.status == 308)) {
        a->retryable = 0;
        if (!r.location[0])
            return wt_rerr_set(err, WT_EHTTP, 0, r.status, "HTTP %d redirect without a Location", r.status);
        if (r.location_long)
            return wt_rerr_set(err, WT_EPROTO, 0, r.status, "redirect location longer than %d bytes",
                               WT_LOCATION_MAX - 1);
        memcpy(a->location, r.location, sizeof a->location);
        a->status = r.status;
        return WT_REDIRECT;
    }
    if (r.status == 404 || r.status == 410) {
        a->retryable = 0;
        return wt_rerr_set(err, WT_ENOTFOUND, 0, r.status, "HTTP %d: not found", r.status);
    }
    if (r.status == 408 || r.status == 429 || r.status >= 500)
        return wt_rerr_set(err, WT_EHTTP, 0, r.status, "HTTP %d from the server", r.status);
    if (r.status == 416 && a->probe && r.crange_unsat && r.total_known && r.cr_total == 0) {
        s->size = 0;                              /* an empty file */
        copy_value(s->etag, sizeof s->etag, r.etag, strlen(r.etag), NULL);
        copy_value(s->last_mod, sizeof s->last_mod, r.last_mod, strlen(r.last_mod), NULL);
        a->len = a->done = 0;
        return 0;
    }
    a->retryable = 0;
    if (r.status == 416)
        return wt_rerr_set(err, WT_ECHANGED, 0, r.status,
                           "HTTP 416 for bytes %llu-%llu: the file is shorter than when it was opened",
                           (unsigned long long)first, (unsigned long long)last);
    if (r.status != 200 && r.status != 206)
        return wt_rerr_set(err, WT_EHTTP, 0, r.status, "HTTP %d from the server", r.status);
    if (r.chunked)
        return wt_rerr_set(err, WT_EPROTO, 0, r.status, "chunked transfer encoding of a byte range is not supported");
    if (r.encoded)
        return wt_rerr_set(err, WT_EPROTO, 0, r.status, "the server compressed the response (Content-Encoding)");
    /* A probe's answer from byte 0 starts it afresh, whatever it had (a retry that
     * does not resume): the size, the length and the validators are this answer's. */
    int restart = 0;
    if (r.status == 200) {
        /* The server ignored Range: fine only when the whole file is what we asked for. */
        uint64_t whole = r.clen >= 0 ? (uint64_t)r.clen : UINT64_MAX;
        if (a->probe && whole <= a->cap) {
            restart = 1;
            s->size = whole;
            a->len = whole;
        } else if (a->probe || first != 0 || whole != s->size || last + 1 != s->size) {
            return wt_rerr_set(err, WT_ENORANGE, 0, 200,
                               "the server does not support range requests (HTTP 200 instead of 206)");
        }
        body = whole;
    } else {
        if (!r.has_crange)
            return wt_rerr_set(err, WT_EPROTO, 0, 206, "HTTP 206 without a Content-Range");
        if (a->probe && (a->done == 0 || r.cr_first != first)) {
            if (!r.total_known)
                return wt_rerr_set(err, WT_EPROTO, 0, 206, "the server did not tell the file size (Content-Range */*)");
            if (r.cr_first != 0 || r.cr_last >= a->cap)
                return wt_rerr_set(err, WT_EPROTO, 0, 206, "the server sent bytes %llu-%llu for bytes %llu-%llu",
                                   (unsigned long long)r.cr_first, (unsigned long long)r.cr_last,
                                   (unsigned long long)first, (unsigned long long)last);
            restart = 1;
            s->size = r.cr_total;
            a->len = r.cr_last + 1;
        } else {                                  /* a fetch, or a probe resumed where it stopped */
            if (r.total_known && r.cr_total != s->size)
                return wt_rerr_set(err, WT_ECHANGED, 0, 206,
                                   "the file size changed from %llu to %llu bytes since it was opened",
                                   (unsigned long long)s->size, (unsigned long long)r.cr_total);
            if (r.cr_first != first || r.cr_last != last)
                return wt_rerr_set(err, WT_EPROTO, 0, 206, "the server sent bytes %llu-%llu for bytes %llu-%llu",
                                   (unsigned long long)r.cr_first, (unsigned long long)r.cr_last,
                                   (unsigned long long)first, (unsigned long long)last);
        }
        body = r.cr_last - r.cr_first + 1;
        if (r.clen >= 0 && (uint64_t)r.clen != body)
            return wt_rerr_set(err, WT_EPROTO, 0, 206, "Content-Length %lld does not match Content-Range",
                               (long long)r.clen);
    }
    if (restart) {
        a->done = 0;
        copy_value(s->etag, sizeof s->etag, r.etag, strlen(r.etag), NULL);
        copy_value(s->last_mod, sizeof s->last_mod, r.last_mod, strlen(r.last_mod), NULL);
    } else if (!validators_match(s, &r)) {
        return wt_rerr_set(err, WT_ECHANGED, 0, r.status, "the file changed since it was opened (ETag/Last-Modified)");
    }
    uint64_t extra = have - head_len;             /* body bytes already received with the head */
    if (extra > body || body > a->cap - a->done)
        return wt_rerr_set(err, WT_EPROTO, 0, r.status, "the server sent more bytes than the range");
    a->retryable = 1;
    if (extra) {
        iov_put(a->iov, a->niov, a->done, (const uint8_t *)head + head_len, extra);
        a->done += extra;
        __atomic_fetch_add(&s->n_bytes, extra, __ATOMIC_RELAXED);
    }
    if ((rc = read_body(s, c, a, body - extra, err)))
        return rc;
    if (a->fn && extra && body == extra)
        a->fn(a->ctx, a->done);
    a->reusable = r.clen >= 0 && !r.conn_close && (r.minor == 1 || r.conn_keep);
    return 0;
}

static void backoff(wt_src *s, int attempt_no)
{
    int64_t ms = (int64_t)50 << (attempt_no < 5 ? attempt_no : 5);
    if (ms > 1000)
        ms = 1000;
    int64_t until = now_ms() + ms;
    while (!is_aborted(s) && now_ms() < until) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* The request with its retries: every failure worth another attempt is retried
 * (after a backoff) up to s->retries times, resuming after the bytes received. */
static int http_run(wt_src *s, wt_attempt *a, wt_rerr *err)
{
    int tries = 0, stale = 0, rc;
    for (;;) {
        wt_conn c = take_idle(s);
        int reused = c.fd >= 0;
        wt_hreq q;
        deadline_set(s, a->len - a->done, &a->deadline);
        if (c.fd < 0)
            rc = connect_new(s, &c, &a->deadline, err);
        else
            rc = 0;
        if (rc == 0) {
            track(s, &q, c.fd);
            rc = is_aborted(s) ? wt_rerr_set(err, WT_ECANCELED, 0, 0, "reader closed") : attempt(s, &c, a, err);
            untrack(s, &q);
            if (rc == 0 && a->reusable)
                put_idle(s, &c);
            else
                conn_close(&c);
            if (rc == 0 || rc == WT_REDIRECT)
                return rc;
        } else {
            a->retryable = rc != WT_ETLS;         /* an untrusted certificate stays untrusted */
        }
        tries++;
        if (rc == WT_ECANCELED || is_aborted(s))
            return wt_rerr_set(err, WT_ECANCELED, 0, 0, "reader closed");
        if (!a->retryable) {
            if (err)
                err->attempts = tries;
            return rc;
        }
        if (rc == WT_ENET && reused && !a->got_any && stale < 4) {   /* a kept-alive connection the server had closed */
            stale++;
            tries--;
            continue;
        }
        if (tries > s->retries) {
            if (err) {
                char reason[sizeof err->msg];
                memcpy(reason, err->msg, sizeof reason);
                snprintf(err->msg, sizeof err->msg, "%.280s (gave up after %d attempt%s)", reason, tries,
                         tries == 1 ? "" : "s");
                err->attempts = tries;
            }
            return rc;
        }
        __atomic_fetch_add(&s->n_retries, 1, __ATOMIC_RELAXED);
        backoff(s, tries - 1);
    }
}

/* ---------------------------------------------------------------- redirects */

/* Removes the "." and ".." segments of an absolute path, in place (RFC 3986 5.2.4). */
static void remove_dot_segments(char *path)
{
    char *out = path;
    const char *in = path;
    while (*in) {                             /* in is at a '/' */
        const char *seg = in + 1, *end = seg;
        while (*end && *end != '/')
            end++;
        size_t n = (size_t)(end - seg);
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.')) {
            if (n == 2)
                while (out > path && *--out != '/')
                    ;
            in = end;
            if (!*in)
                *out++ = '/';
            continue;
        }
        memmove(out, in, (size_t)(end - in));
        out += end - in;
        in = end;
    }
    if (out == path)
        *out++ = '/';
    *out = 0;
}

/* The absolute URL that a Location names, relative to the URL now requested
 * (RFC 3986 5.2; the fragment is dropped later by url_parse). NULL: out of memory. */
static char *resolve_location(const wt_src *s, const char *loc)
{
    const char *scheme = s->u.tls ? "https:" : "http:", *p = loc;
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '+' ||
               *p == '-' || *p == '.')
            p++;
        if (*p == ':')                        /* absolute: taken as it is */
            return dup_range(loc, strlen(loc));
    }
    size_t ln = strlen(loc), tn = strlen(s->u.target), hn = strlen(s->u.host_hdr);
    if (loc[0] == '/' && loc[1] == '/') {     /* another host, the same scheme */
        char *out = wt_malloc(ln + 8);
        if (out)
            snprintf(out, ln + 8, "%s%s", scheme, loc);
        return out;
    }
    /* A path on this host: build "path[?query]", then clean the path's dots. */
    char *path = wt_malloc(tn + ln + 2);
    if (!path)
        return NULL;
    const char *q = strchr(s->u.target, '?');
    size_t base = q ? (size_t)(q - s->u.target) : tn;           /* the current path */
    const char *hash = strchr(loc, '#');
    size_t lref = hash ? (size_t)(hash - loc) : ln;             /* the reference, without a fragment */
    if (lref == 0) {                                            /* "" or "#frag": this URL again */
        memcpy(path, s->u.target, tn + 1);
    } else if (loc[0] == '/') {
        memcpy(path, loc, lref);
        path[lref] = 0;
    } else if (loc[0] == '?') {
        memcpy(path, s->u.target, base);
        memcpy(path + base, loc, lref);
        path[base + lref] = 0;
    } else {                                                    /* relative to the current directory */
        size_t dir = base;
        while (dir > 0 && s->u.target[dir - 1] != '/')
            dir--;
        memcpy(path, s->u.target, dir);
        memcpy(path + dir, loc, lref);
        path[dir + lref] = 0;
    }
    char *qs = strchr(path, '?'), *query = NULL;
    if (qs) {
        if (!(query = dup_range(qs, strlen(qs)))) {
            wt_free(path);
            return NULL;
        }
        *qs = 0;
    }
    remove_dot_segments(path);
    size_t n = strlen(scheme) + 2 + hn + strlen(path) + (query ? strlen(query) : 0) + 1;
    char *out = wt_malloc(n);
    if (out)
        snprintf(out, n, "%s//%s%s%s", scheme, s->u.host_hdr, path, query ? query : "");
    wt_free(path);
    wt_free(query);
    return out;
}

static int same_origin(const wt_url *a, const wt_url *b)
{
    return a->tls == b->tls && strcasecmp(a->host, b->host) == 0 && strcmp(a->port, b->port) == 0;
}

/* The TLS context, made when the URL now requested is the first https:// one. */
static int tls_ready(wt_src *s, wt_rerr *err)
{
    if (!s->u.tls || s->tls_ctx)
        return 0;
    return wt_tls_ctx_new(&s->tls_ctx, &s->tls_conf, err);
}

static int copy_tls_conf(wt_src *s, const wt_tls_conf *c, wt_rerr *err)
{
    wt_tls_conf *d = &s->tls_conf;
    *d = *c;
    d->lib = d->ca_file = d->ca_dir = NULL;
    d->ca_der = NULL;
    if ((c->lib && !(d->lib = dup_range(c->lib, strlen(c->lib)))) ||
        (c->ca_file && !(d->ca_file = dup_range(c->ca_file, strlen(c->ca_file)))) ||
        (c->ca_dir && !(d->ca_dir = dup_range(c->ca_dir, strlen(c->ca_dir)))) ||
        (c->ca_der && !(d->ca_der = (const uint8_t *)dup_range((const char *)c->ca_der, c->ca_der_len))))
        return wt_rerr_set(err, WT_ENOMEM, 0, 0, "out of memory");
    return 0;
}

static void free_tls_conf(wt_tls_conf *c)
{
    wt_free((char *)c->lib);
    wt_free((char *)c->ca_file);
    wt_free((char *)c->ca_dir);
    wt_free((uint8_t *)c->ca_der);
    memset(c, 0, sizeof *c);
}

/* Opens an http(s) source: the probe, following up to WT_MAX_REDIRECTS redirects
 * (301, 302, 303, 307, 308), each asking for the same Range. A redirect to another
 * origin (scheme, host or port) drops the extra headers (Authorization, ...) for
 * good; one from https:// to http:// is refused. Later fetches go to the last URL. */
static int http_open(wt_src *s, const char *url, const wt_reader_opts *o, uint8_t *probe, size_t cap,
                     size_t *got, wt_rerr *err)
{
    int rc;
    double t = o->timeout > 0 ? o->timeout * 1000.0 : 30000.0;
    s->timeout_ms = t > 1e9 ? 1000000000 : (t < 1 ? 1 : (int)t);
    s->retries = o->retries < 0 ? 0 : o->retries;
    if (o->headers && o->headers[0] && !(s->headers = dup_range(o->headers, strlen(o->headers))))
        return wt_rerr_set(err, WT_ENOMEM, 0, 0, "out of memory");
    if (cap == 0)
        return wt_rerr_set(err, WT_EINVAL, 0, 0, "an HTTP source needs a probe buffer");
    if ((rc = copy_tls_conf(s, &o->tls, err)))
        return rc;
    if (!(s->url = dup_range(url, strlen(url))))
        return wt_rerr_set(err, WT_ENOMEM, 0, 0, "out of memory");
    if ((rc = url_parse(url, &s->u, err)) || (rc = tls_ready(s, err)) || (rc = resolve(s, err)))
        return rc;
    for (int hops = 0;; hops++) {
        struct iovec v = {probe, cap};
        wt_attempt a;
        memset(&a, 0, sizeof a);
        a.off = 0;
        a.len = a.cap = cap;
        a.iov = &v;
        a.niov = 1;
        a.probe = 1;
        rc = http_run(s, &a, err);
        if (rc == 0) {
            *got = (size_t)a.done;
            return 0;
        }
        if (rc != WT_REDIRECT)
            return rc;
        if (hops >= WT_MAX_REDIRECTS)
            return wt_rerr_set(err, WT_EHTTP, 0, a.status, "more than %d redirects (the last, HTTP %d, to %.160s)",
                               WT_MAX_REDIRECTS, a.status, a.location);
        char *next = resolve_location(s, a.location);
        if (!next)
            return wt_rerr_set(err, WT_ENOMEM, 0, 0, "out of memory");
        wt_url nu;
        if ((rc = url_parse(next, &nu, err))) {
            char reason[sizeof err->msg];
            memcpy(reason, err->msg, sizeof reason);
            wt_rerr_set(err, rc, 0, a.status, "redirected to an unsupported location: %.260s", reason);
            wt_free(next);
            return rc;
        }
        if (s->u.tls && !nu.tls) {
            wt_rerr_set(err, WT_EHTTP, 0, a.status,
                        "refusing a redirect (HTTP %d) from https:// to http://: %.200s", a.status, next);
            url_free(&nu);
            wt_free(next);
            return WT_EHTTP;
        }
        int same = same_origin(&s->u, &nu);
        url_free(&s->u);
        s->u = nu;
        wt_free(s->url);
        s->url = next;
        if (!same) {
            wt_free(s->headers);                  /* credentials stay with the origin they were given for */
            s->headers = NULL;
            pthread_mutex_lock(&s->mu);           /* connections to the old origin are of no use now */
            while (s->n_idle > 0)
                conn_close(&s->idle[--s->n_idle]);
            pthread_mutex_unlock(&s->mu);
            if ((rc = tls_ready(s, err)) || (rc = resolve(s, err)))
                return rc;
        }
    }
}

/* ----------------------------------------------------------------- public */

int wt_src_open(wt_src **out, const char *source, int is_url, const wt_reader_opts *o, uint8_t *probe,
                size_t probe_cap, size_t *probe_len, wt_rerr *err)
{
    int rc;
    wt_src *s = wt_calloc(1, sizeof *s);
    *out = NULL;
    *probe_len = 0;
    if (!s)
        return wt_rerr_set(err, WT_ENOMEM, 0, 0, "out of memory");
    s->fd = -1;
    s->active.next = s->active.prev = &s->active;
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        wt_free(s);
        return wt_rerr_set(err, WT_ENOMEM, 0, 0, "cannot create a mutex");
    }
    if (!is_url) {
        s->kind = SRC_LOCAL;
        if ((rc = local_open(s, source, err)))
            goto fail;
        if (probe_cap) {
            uint64_t n = probe_cap < s->size ? probe_cap : s->size;
            struct iovec v = {probe, (size_t)n};
            if (n && (rc = local_fetch(s, 0, &v, 1, NULL, NULL, err)))
                goto fail;
            __atomic_fetch_add(&s->n_requests, 1, __ATOMIC_RELAXED);
            *probe_len = (size_t)n;
        }
    } else {
        s->kind = SRC_HTTP;
        if ((rc = http_open(s, source, o, probe, probe_cap, probe_len, err)))
            goto fail;
    }
    *out = s;
    return 0;
fail:
    wt_src_close(s);
    return rc;
}

int wt_src_is_remote_fs(const wt_src *s)
{
    if (s->kind != SRC_LOCAL)
        return 0;
#if defined(__linux__)
    struct statfs st;
    if (fstatfs(s->fd, &st) != 0)
        return 0;
    switch ((unsigned long)st.f_type) {
    case 0x6969UL:        /* NFS */
    case 0x65735546UL:    /* FUSE (s3fs, gcsfuse, hf-mount, sshfs, ...) */
    case 0xFF534D42UL:    /* CIFS */
    case 0xFE534D42UL:    /* SMB2 */
    case 0x517BUL:        /* SMB */
    case 0x00C36400UL:    /* Ceph */
    case 0x01021997UL:    /* 9p */
    case 0x5346414FUL:    /* AFS */
    case 0x0BD00BD0UL:    /* Lustre */
    case 0x47504653UL:    /* GPFS */
    case 0xAAD7AAEAUL:    /* PanFS */
    case 0x73727279UL:    /* BeeGFS */
        return 1;
    default:
        return 0;
    }
#elif defined(__APPLE__)
    struct statfs st;
    if (fstatfs(s->fd, &st) != 0)
        return 0;
    static const char *remote[] = {"nfs", "smbfs", "afpfs", "webdav", "macfuse", "osxfuse", "fusefs", NULL};
    for (int i = 0; remote[i]; i++)
        if (strncmp(st.f_fstypename, remote[i], strlen(remote[i])) == 0)
            return 1;
    return 0;
#else
    return 0;
#endif
}

uint64_t wt_src_size(const wt_src *s) { return s->size; }
int wt_src_is_local(const wt_src *s) { return s->kind == SRC_LOCAL; }

int wt_src_fetch(wt_src *s, uint64_t off, const struct iovec *iov, int niov, wt_progress_fn fn, void *ctx,
                 wt_rerr *err)
{
    uint64_t len = 0;
    for (int i = 0; i < niov; i++)
        len += iov[i].iov_len;
    if (len == 0)
        return 0;
    if (off > s->size || len > s->size - off)
        return wt_rerr_set(err, WT_ERANGE, 0, 0, "bytes %llu-%llu are outside the file (%llu bytes)",
                           (unsigned long long)off, (unsigned long long)(off + len - 1),
                           (unsigned long long)s->size);
    if (s->kind == SRC_LOCAL) {
        __atomic_fetch_add(&s->n_requests, 1, __ATOMIC_RELAXED);
        return local_fetch(s, off, iov, niov, fn, ctx, err);
    }
    wt_attempt a;
    memset(&a, 0, sizeof a);
    a.off = off;
    a.len = a.cap = len;
    a.iov = iov;
    a.niov = niov;
    a.fn = fn;
    a.ctx = ctx;
    return http_run(s, &a, err);
}

void wt_src_abort(wt_src *s)
{
    __atomic_store_n(&s->aborted, 1, __ATOMIC_RELEASE);
    if (s->kind != SRC_HTTP)
        return;
    pthread_mutex_lock(&s->mu);
    for (wt_hreq *q = s->active.next; q != &s->active; q = q->next)
        shutdown(q->fd, SHUT_RDWR);
    pthread_mutex_unlock(&s->mu);
}

void wt_src_close(wt_src *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    while (s->n_idle > 0)
        conn_close(&s->idle[--s->n_idle]);
    wt_tls_ctx_free(s->tls_ctx);
    free_tls_conf(&s->tls_conf);
    url_free(&s->u);
    wt_free(s->url);
    wt_free(s->addrs);
    wt_free(s->addrlens);
    wt_free(s->headers);
    pthread_mutex_destroy(&s->mu);
    wt_free(s);
}

void wt_src_counters(const wt_src *s, uint64_t *requests, uint64_t *bytes, uint64_t *retries)
{
    *requests = __atomic_load_n(&s->n_requests, __ATOMIC_RELAXED);
    *bytes = __atomic_load_n(&s->n_bytes, __ATOMIC_RELAXED);
    *retries = __atomic_load_n(&s->n_retries, __ATOMIC_RELAXED);
}
