/* TLS through the process's OpenSSL, looked up at run time. See tls.h.
 *
 * No OpenSSL header is included: the few functions used are declared below with
 * their documented C signatures, and the constants are the stable values of
 * OpenSSL's public ABI (the same in 1.1.1 and 3.x). Every object is opaque. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "io/tls.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "io/reader_src.h"

/* OpenSSL's constants (ssl.h, x509_vfy.h, x509v3.h). */
enum {
    OSSL_VERIFY_NONE = 0,
    OSSL_VERIFY_PEER = 1,
    OSSL_ERROR_SSL = 1,
    OSSL_ERROR_WANT_READ = 2,
    OSSL_ERROR_WANT_WRITE = 3,
    OSSL_ERROR_SYSCALL = 5,
    OSSL_ERROR_ZERO_RETURN = 6,
    OSSL_CTRL_MODE = 33,
    OSSL_CTRL_SET_TLSEXT_HOSTNAME = 55,
    OSSL_CTRL_SET_MIN_PROTO_VERSION = 123,
    OSSL_TLSEXT_NAMETYPE_host_name = 0,
    OSSL_MODE_ENABLE_PARTIAL_WRITE = 0x1,
    OSSL_MODE_ACCEPT_MOVING_WRITE_BUFFER = 0x2,
    OSSL_TLS1_2_VERSION = 0x0303,
    OSSL_X509_V_OK = 0,
    OSSL_X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS = 0x4,
    OSSL_ERR_LIB_SSL = 20,
    OSSL3_R_UNEXPECTED_EOF_WHILE_READING = 294,
};

/* The functions, by their documented signatures. */
static struct {
    unsigned long (*OpenSSL_version_num)(void);
    const void *(*TLS_client_method)(void);
    void *(*SSL_CTX_new)(const void *method);
    void (*SSL_CTX_free)(void *ctx);
    long (*SSL_CTX_ctrl)(void *ctx, int cmd, long larg, void *parg);
    void (*SSL_CTX_set_verify)(void *ctx, int mode, void *callback);
    int (*SSL_CTX_load_verify_locations)(void *ctx, const char *file, const char *dir);
    int (*SSL_CTX_set_default_verify_paths)(void *ctx);
    void *(*SSL_CTX_get_cert_store)(const void *ctx);
    void *(*SSL_CTX_get0_param)(void *ctx);
    int (*X509_VERIFY_PARAM_set_flags)(void *param, unsigned long flags);
    void (*X509_VERIFY_PARAM_set_hostflags)(void *param, unsigned int flags);
    int (*X509_VERIFY_PARAM_set1_host)(void *param, const char *name, size_t namelen);
    int (*X509_VERIFY_PARAM_set1_ip_asc)(void *param, const char *ipasc);
    void *(*d2i_X509)(void **px, const unsigned char **in, long len);
    int (*X509_STORE_add_cert)(void *store, void *x);
    void (*X509_free)(void *x);
    const char *(*X509_verify_cert_error_string)(long n);
    void *(*SSL_new)(void *ctx);
    void (*SSL_free)(void *ssl);
    int (*SSL_set_fd)(void *ssl, int fd);
    long (*SSL_ctrl)(void *ssl, int cmd, long larg, void *parg);
    void *(*SSL_get0_param)(void *ssl);
    int (*SSL_connect)(void *ssl);
    int (*SSL_read)(void *ssl, void *buf, int num);
    int (*SSL_write)(void *ssl, const void *buf, int num);
    int (*SSL_get_error)(const void *ssl, int ret);
    long (*SSL_get_verify_result)(const void *ssl);
    int (*SSL_pending)(const void *ssl);
    unsigned long (*ERR_get_error)(void);
    void (*ERR_clear_error)(void);
    const char *(*ERR_reason_error_string)(unsigned long e);
    void (*ERR_error_string_n)(unsigned long e, char *buf, size_t len);
} F;

#define SYM(name) {#name, (void **)(void *)&F.name}
static const struct {
    const char *name;
    void **slot;
} SYMBOLS[] = {
    SYM(OpenSSL_version_num), SYM(TLS_client_method), SYM(SSL_CTX_new), SYM(SSL_CTX_free), SYM(SSL_CTX_ctrl),
    SYM(SSL_CTX_set_verify), SYM(SSL_CTX_load_verify_locations), SYM(SSL_CTX_set_default_verify_paths),
    SYM(SSL_CTX_get_cert_store), SYM(SSL_CTX_get0_param), SYM(X509_VERIFY_PARAM_set_flags),
    SYM(X509_VERIFY_PARAM_set_hostflags), SYM(X509_VERIFY_PARAM_set1_host), SYM(X509_VERIFY_PARAM_set1_ip_asc),
    SYM(d2i_X509), SYM(X509_STORE_add_cert), SYM(X509_free), SYM(X509_verify_cert_error_string), SYM(SSL_new),
    SYM(SSL_free), SYM(SSL_set_fd), SYM(SSL_ctrl), SYM(SSL_get0_param), SYM(SSL_connect), SYM(SSL_read),
    SYM(SSL_write), SYM(SSL_get_error), SYM(SSL_get_verify_result), SYM(SSL_pending), SYM(ERR_get_error),
    SYM(ERR_clear_error), SYM(ERR_reason_error_string), SYM(ERR_error_string_n),
};
#undef SYM

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_loaded;                  /* 1 once every symbol is in F (set under g_mu, never reset) */
static int g_v3;                      /* OpenSSL 3.x: how its error codes are laid out */

/* Fills F from the module at lib (or the process's global symbols). Called under g_mu. */
static int load_api(const char *lib, wt_rerr *err)
{
    void *h = lib ? dlopen(lib, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD) : NULL;
    if (lib && !h)
        h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        h = dlopen(NULL, RTLD_NOW);
    if (!h)
        return wt_rerr_set(err, WT_EURL, 0, 0, "https:// needs Python's ssl module, which cannot be opened (%.200s)",
                           dlerror());
    void *found[sizeof SYMBOLS / sizeof SYMBOLS[0]];
    for (size_t i = 0; i < sizeof SYMBOLS / sizeof SYMBOLS[0]; i++) {
        found[i] = dlsym(h, SYMBOLS[i].name);
        if (!found[i])             /* the module handle stays open: Python keeps it loaded anyway */
            return wt_rerr_set(err, WT_EURL, 0, 0,
                               "https:// needs OpenSSL 1.1.1 or later in Python's ssl module; %s was not found",
                               SYMBOLS[i].name);
    }
    for (size_t i = 0; i < sizeof SYMBOLS / sizeof SYMBOLS[0]; i++)
        memcpy(SYMBOLS[i].slot, &found[i], sizeof(void *));
    unsigned long v = F.OpenSSL_version_num();
    if (v < 0x10101000UL)
        return wt_rerr_set(err, WT_EURL, 0, 0, "https:// needs OpenSSL 1.1.1 or later; Python's ssl has %#lx", v);
    g_v3 = v >= 0x30000000UL;          /* LibreSSL says 0x20000000 */
    return 0;
}

static int ensure_api(const char *lib, wt_rerr *err)
{
    int rc = 0;
    pthread_mutex_lock(&g_mu);
    if (!g_loaded && (rc = load_api(lib, err)) == 0)
        g_loaded = 1;
    pthread_mutex_unlock(&g_mu);
    return rc;
}

/* The reason of the first error queued by OpenSSL in this thread (the queue is emptied). */
static const char *ossl_reason(char *buf, size_t cap, unsigned long *first)
{
    unsigned long e = F.ERR_get_error(), more;
    while ((more = F.ERR_get_error()) != 0)
        ;
    if (first)
        *first = e;
    if (!e)
        return "";
    const char *r = F.ERR_reason_error_string(e);
    if (r)
        return r;
    F.ERR_error_string_n(e, buf, cap);
    return buf;
}

/* OpenSSL 3 reports a peer that closed without close_notify as this SSL error. */
static int unexpected_eof(unsigned long e)
{
    return g_v3 && e && !(e & 0x80000000UL) && ((e >> 23) & 0xFF) == OSSL_ERR_LIB_SSL &&
           (e & 0x7FFFFF) == OSSL3_R_UNEXPECTED_EOF_WHILE_READING;
}

/* ----------------------------------------------------------------- contexts */

struct wt_tls_ctx {
    void *ctx;
    int verify, check_hostname;
    char trust[200];                  /* what is trusted, for messages */
};

struct wt_tls {
    void *ssl;
    wt_tls_ctx *ctx;
    char host[256], port[8];
};

int wt_tls_ctx_new(wt_tls_ctx **out, const wt_tls_conf *c, wt_rerr *err)
{
    int rc;
    char buf[256];
    *out = NULL;
    if (!c || !c->available)
        return wt_rerr_set(err, WT_EURL, 0, 0, "https:// needs Python's ssl module, which this Python does not have");
    if ((rc = ensure_api(c->lib, err)))
        return rc;
    wt_tls_ctx *t = wt_calloc(1, sizeof *t);
    if (!t)
        return wt_rerr_set(err, WT_ENOMEM, 0, 0, "out of memory");
    F.ERR_clear_error();
    if (!(t->ctx = F.SSL_CTX_new(F.TLS_client_method()))) {
        rc = wt_rerr_set(err, WT_ETLS, 0, 0, "cannot create a TLS context: %s", ossl_reason(buf, sizeof buf, NULL));
        goto fail;
    }
    int minv = c->min_version > OSSL_TLS1_2_VERSION ? c->min_version : OSSL_TLS1_2_VERSION;
    F.SSL_CTX_ctrl(t->ctx, OSSL_CTRL_SET_MIN_PROTO_VERSION, minv, NULL);
    F.SSL_CTX_ctrl(t->ctx, OSSL_CTRL_MODE, OSSL_MODE_ENABLE_PARTIAL_WRITE | OSSL_MODE_ACCEPT_MOVING_WRITE_BUFFER,
                   NULL);
    t->verify = c->verify != 0;
    t->check_hostname = t->verify && c->check_hostname;
    if (!t->verify) {
        F.SSL_CTX_set_verify(t->ctx, OSSL_VERIFY_NONE, NULL);
        snprintf(t->trust, sizeof t->trust, "no verification");
        *out = t;
        return 0;
    }
    F.SSL_CTX_set_verify(t->ctx, OSSL_VERIFY_PEER, NULL);
    if (c->ca_der) {                   /* an SSLContext's certificates, exactly */
        void *store = F.SSL_CTX_get_cert_store(t->ctx);
        const unsigned char *p = c->ca_der, *end = c->ca_der + c->ca_der_len;
        int n = 0;
        while (p < end) {
            void *x = F.d2i_X509(NULL, &p, (long)(end - p));
            if (!x) {
                rc = wt_rerr_set(err, WT_ETLS, 0, 0, "cannot read the SSLContext's CA certificates: %s",
                                 ossl_reason(buf, sizeof buf, NULL));
                goto fail;
            }
            F.X509_STORE_add_cert(store, x);          /* a duplicate is not an error worth failing */
            F.X509_free(x);
            n++;
        }
        F.ERR_clear_error();
        snprintf(t->trust, sizeof t->trust, "the %d CA certificate%s of the ssl_context", n, n == 1 ? "" : "s");
    } else if (c->ca_file || c->ca_dir) {
        if (F.SSL_CTX_load_verify_locations(t->ctx, c->ca_file, c->ca_dir) != 1) {
            rc = wt_rerr_set(err, WT_ETLS, 0, 0, "cannot load the trusted certificates from %.120s: %s",
                             c->ca_file ? c->ca_file : c->ca_dir, ossl_reason(buf, sizeof buf, NULL));
            goto fail;
        }
        snprintf(t->trust, sizeof t->trust, "trust store %.90s%s%.90s", c->ca_file ? c->ca_file : "",
                 c->ca_file && c->ca_dir ? " and " : "", c->ca_dir ? c->ca_dir : "");
    } else {
        F.SSL_CTX_set_default_verify_paths(t->ctx);
        F.ERR_clear_error();
        snprintf(t->trust, sizeof t->trust,
                 "no trust store was found: set SSL_CERT_FILE or SSL_CERT_DIR, or pass ssl_context");
    }
    if (c->verify_flags)
        F.X509_VERIFY_PARAM_set_flags(F.SSL_CTX_get0_param(t->ctx), c->verify_flags);
    *out = t;
    return 0;
fail:
    wt_tls_ctx_free(t);
    return rc;
}

void wt_tls_ctx_free(wt_tls_ctx *t)
{
    if (!t)
        return;
    if (t->ctx)
        F.SSL_CTX_free(t->ctx);
    wt_free(t);
}

/* -------------------------------------------------------------- connections */

int wt_tls_new(wt_tls **out, wt_tls_ctx *ctx, int fd, const char *host, const char *port, wt_rerr *err)
{
    char buf[256];
    unsigned char ip[16];
    *out = NULL;
    wt_tls *t = wt_calloc(1, sizeof *t);
    if (!t)
        return wt_rerr_set(err, WT_ENOMEM, 0, 0, "out of memory");
    t->ctx = ctx;
    snprintf(t->host, sizeof t->host, "%s", host);
    snprintf(t->port, sizeof t->port, "%s", port);
    F.ERR_clear_error();
    if (!(t->ssl = F.SSL_new(ctx->ctx)) || F.SSL_set_fd(t->ssl, fd) != 1) {
        wt_rerr_set(err, WT_ETLS, 0, 0, "cannot start TLS: %s", ossl_reason(buf, sizeof buf, NULL));
        wt_tls_free(t);
        return WT_ETLS;
    }
    int is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    if (!is_ip)                        /* SNI names a host, never an address (RFC 6066 3) */
        F.SSL_ctrl(t->ssl, OSSL_CTRL_SET_TLSEXT_HOSTNAME, OSSL_TLSEXT_NAMETYPE_host_name, (void *)host);
    if (ctx->check_hostname) {
        void *param = F.SSL_get0_param(t->ssl);
        F.X509_VERIFY_PARAM_set_hostflags(param, OSSL_X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        int ok = is_ip ? F.X509_VERIFY_PARAM_set1_ip_asc(param, host) : F.X509_VERIFY_PARAM_set1_host(param, host, 0);
        if (ok != 1) {
            wt_rerr_set(err, WT_ETLS, 0, 0, "cannot check the certificate's name against %.200s", host);
            wt_tls_free(t);
            return WT_ETLS;
        }
    }
    *out = t;
    return 0;
}

void wt_tls_free(wt_tls *t)
{
    if (!t)
        return;
    if (t->ssl)
        F.SSL_free(t->ssl);
    wt_free(t);
}

/* The outcome of a call that returned r <= 0, as WANT_*, WT_ENET or, with *eof,
 * a peer that closed. */
static int failed(wt_tls *t, int r, int sys_errno, int *eof, const char *what, wt_rerr *err)
{
    char buf[256];
    unsigned long first = 0;
    int e = F.SSL_get_error(t->ssl, r);
    if (e == OSSL_ERROR_WANT_READ)
        return WT_TLS_WANT_READ;
    if (e == OSSL_ERROR_WANT_WRITE)
        return WT_TLS_WANT_WRITE;
    const char *why = ossl_reason(buf, sizeof buf, &first);
    if (e == OSSL_ERROR_ZERO_RETURN || (e == OSSL_ERROR_SYSCALL && !first && sys_errno == 0) ||
        (e == OSSL_ERROR_SSL && unexpected_eof(first))) {
        *eof = 1;
        return 0;
    }
    if (e == OSSL_ERROR_SYSCALL && sys_errno)
        return wt_rerr_set(err, WT_ENET, sys_errno, 0, "%s failed: %s", what, strerror(sys_errno));
    return wt_rerr_set(err, WT_ENET, 0, 0, "%s failed: TLS error: %s", what, why[0] ? why : "unknown");
}

int wt_tls_handshake(wt_tls *t, wt_rerr *err)
{
    char buf[256];
    F.ERR_clear_error();
    errno = 0;
    int r = F.SSL_connect(t->ssl);
    if (r == 1)
        return 0;
    int sys_errno = errno, e = F.SSL_get_error(t->ssl, r);
    if (e == OSSL_ERROR_WANT_READ)
        return WT_TLS_WANT_READ;
    if (e == OSSL_ERROR_WANT_WRITE)
        return WT_TLS_WANT_WRITE;
    long v = F.SSL_get_verify_result(t->ssl);
    if (e == OSSL_ERROR_SSL && v != OSSL_X509_V_OK) {
        F.ERR_clear_error();
        const char *why = F.X509_verify_cert_error_string(v);
        return wt_rerr_set(err, WT_ETLS, 0, 0, "certificate verify failed for %.100s port %s: %s (%s)", t->host,
                           t->port, why ? why : "unknown reason", t->ctx->trust);
    }
    unsigned long first = 0;
    const char *why = ossl_reason(buf, sizeof buf, &first);
    if (e == OSSL_ERROR_SSL && !unexpected_eof(first))
        return wt_rerr_set(err, WT_ETLS, 0, 0, "TLS handshake with %.100s port %s failed: %s", t->host, t->port,
                           why[0] ? why : "unknown reason");
    if (sys_errno && e == OSSL_ERROR_SYSCALL)
        return wt_rerr_set(err, WT_ENET, sys_errno, 0, "TLS handshake with %.100s port %s failed: %s", t->host,
                           t->port, strerror(sys_errno));
    return wt_rerr_set(err, WT_ENET, 0, 0, "the server closed the connection during the TLS handshake");
}

int wt_tls_read(wt_tls *t, void *buf, size_t cap, size_t *got, wt_rerr *err)
{
    int eof = 0;
    *got = 0;
    F.ERR_clear_error();
    errno = 0;
    int r = F.SSL_read(t->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    if (r > 0) {
        *got = (size_t)r;
        return 0;
    }
    int rc = failed(t, r, errno, &eof, "connection", err);
    return eof ? 0 : rc;
}

int wt_tls_write(wt_tls *t, const void *buf, size_t n, size_t *put, wt_rerr *err)
{
    int eof = 0;
    *put = 0;
    F.ERR_clear_error();
    errno = 0;
    int r = F.SSL_write(t->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
    if (r > 0) {
        *put = (size_t)r;
        return 0;
    }
    int rc = failed(t, r, errno, &eof, "sending the request", err);
    if (eof)
        return wt_rerr_set(err, WT_ENET, 0, 0, "the server closed the connection");
    return rc;
}

int wt_tls_pending(wt_tls *t) { return F.SSL_pending(t->ssl); }
