/* TLS for the reader's HTTP client, through the OpenSSL that Python's ssl module
 * has already loaded into the process: its functions are looked up once at run
 * time (dlopen of the module named by wt_tls_conf.lib, then dlsym), so the wheels
 * link and ship no OpenSSL, and https:// trusts what Python's ssl trusts. Needs
 * OpenSSL >= 1.1.1 (what CPython 3.10+ requires); without it https:// is refused
 * with WT_EURL.
 *
 * The calls are non-blocking: WT_TLS_WANT_READ / WT_TLS_WANT_WRITE ask the caller
 * to poll the socket and call again (with the same arguments). One connection is
 * used by one thread at a time; a context is shared by any number. No Python here. */
#ifndef WT_TLS_H
#define WT_TLS_H

#include <stddef.h>

#include "io/reader.h"

enum { WT_TLS_WANT_READ = 1, WT_TLS_WANT_WRITE = 2 };

typedef struct wt_tls_ctx wt_tls_ctx;   /* trust settings: an SSL_CTX */
typedef struct wt_tls wt_tls;           /* one connection: an SSL */

/* A context from c (certificates loaded now). WT_EURL when OpenSSL cannot be found,
 * WT_ETLS when the trust store cannot be loaded. */
int wt_tls_ctx_new(wt_tls_ctx **out, const wt_tls_conf *c, wt_rerr *err);
void wt_tls_ctx_free(wt_tls_ctx *ctx);

/* TLS over the connected socket fd to host (sent as SNI and checked against the
 * certificate unless the context says otherwise; an IP literal is checked as one). */
int wt_tls_new(wt_tls **out, wt_tls_ctx *ctx, int fd, const char *host, const char *port, wt_rerr *err);
/* Frees the state (the socket is the caller's to close). */
void wt_tls_free(wt_tls *t);

/* 0 when the handshake is done (certificate checked), WANT_*, or: WT_ETLS (not
 * worth a retry: untrusted, wrong name, no common protocol) or WT_ENET (the
 * connection broke). */
int wt_tls_handshake(wt_tls *t, wt_rerr *err);
/* 0 with *got bytes (0: the peer closed), WANT_*, or WT_ENET. */
int wt_tls_read(wt_tls *t, void *buf, size_t cap, size_t *got, wt_rerr *err);
/* 0 with *put bytes (> 0), WANT_*, or WT_ENET. */
int wt_tls_write(wt_tls *t, const void *buf, size_t n, size_t *put, wt_rerr *err);
/* Decrypted bytes waiting in t (an idle connection with some is not reusable). */
int wt_tls_pending(wt_tls *t);

#endif
