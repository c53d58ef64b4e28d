/* Connecting (Twisted's connectTCP / connectUNIX and endpoints): resolve
 * the name on the reactor's pool, try each address in turn, fire the
 * deferred with the stream or the last error.  Cancelling aborts. */
#include "net/net_internal.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

typedef struct connect_req {
    dfr__resolve res; /* first: resolution completes with its pointer */
    dfr__net_node node;
    dfr__net *net;
    dfr_deferred *d;
    dfr_stream *s; /* the attempt in progress */
    uv_connect_t creq;
    struct addrinfo *ai, *cur;
    struct sockaddr_storage numeric; /* a numeric address needs no lookup */
    bool has_numeric;
    bool tcp, no_delay;
    bool done;      /* d has a result (fired, cancelled or failed) */
    bool resolving; /* a pool job holds the request */
    int last_err;
    char what[128]; /* the address, for messages */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} connect_req;

static void req_free(connect_req *q)
{
    dfr__node_remove(&q->node);
    if (q->ai)
        freeaddrinfo(q->ai);
    dfr__free(q->res.host);
    dfr_deferred_unref(q->d);
    dfr__net *net = q->net;
    dfr__free(q);
    dfr__net_closed(net);
}

static void fail(connect_req *q, dfr_failure *f)
{
    q->done = true;
    dfr_deferred_errback(q->d, f);
}

static void try_next(connect_req *q);

static void on_connect(uv_connect_t *creq, int status)
{
    connect_req *q = creq->data;
    dfr_stream *s = q->s;
    q->s = NULL;
    if (status == 0 && !q->done) {
        q->done = true;
        s->connected = true;
        if (q->tcp && q->no_delay)
            uv_tcp_nodelay(&s->h.tcp, 1);
        /* The value holds the application's first reference. */
        dfr_deferred_callback(q->d, dfr_obj(&dfr_type_stream, dfr_stream_ref(s)));
        req_free(q);
        return;
    }
    /* A failed attempt's handle is ours alone. */
    dfr__stream_close_with(s, NULL);
    if (q->done) {
        req_free(q);
        return;
    }
    q->last_err = status;
    try_next(q);
}

/* Start one attempt on `addr`; 0 or a libuv error. */
static int attempt(connect_req *q, const struct sockaddr *addr)
{
    int err = 0;
    dfr_stream *s = dfr__stream_new(q->net, q->tcp, &err);
    if (!s)
        return err;
    q->creq.data = q;
    if (q->tcp) {
        err = uv_tcp_connect(&q->creq, &s->h.tcp, addr, on_connect);
    } else {
        uv_pipe_connect(&q->creq, &s->h.pipe, q->path, on_connect);
    }
    if (err < 0) {
        dfr__stream_close_with(s, NULL);
        return err;
    }
    q->s = s;
    return 0;
}

static void try_next(connect_req *q)
{
    for (;;) {
        const struct sockaddr *addr = NULL;
        if (!q->tcp || q->has_numeric) {
            if (q->last_err == 0)
                addr = (const struct sockaddr *)&q->numeric;
        } else if (q->cur) {
            addr = q->cur->ai_addr;
            q->cur = q->cur->ai_next;
        }
        if (!addr) {
            fail(q, dfr__net_failure(q->last_err ? q->last_err : UV_EAI_NONAME, q->what));
            req_free(q);
            return;
        }
        int err = attempt(q, addr);
        if (err == 0)
            return;
        q->last_err = err;
        if (err == UV_ENOMEM) {
            fail(q, dfr__net_failure_code(DFR_ENOMEM, NULL));
            req_free(q);
            return;
        }
    }
}

static void on_resolved(dfr__resolve *res, int err, struct addrinfo *ai)
{
    connect_req *q = (connect_req *)res;
    q->resolving = false;
    q->ai = q->cur = ai;
    if (q->done) {
        req_free(q);
        return;
    }
    if (err) {
        fail(q, dfr__net_failure(err, q->what));
        req_free(q);
        return;
    }
    q->last_err = 0;
    try_next(q);
}

static void cancel_connect(dfr_deferred *d, void *data)
{
    DFR_UNUSED(d);
    connect_req *q = data;
    /* The deferred fails with DFR_ECANCELLED after this returns; the
     * attempt's callback (or the lookup's) frees the request. */
    q->done = true;
    if (q->s)
        dfr__stream_close_with(q->s, NULL);
}

void dfr__connects_abort_all(dfr__net *n, const char *why)
{
    for (dfr__net_node *it = n->connects.next; it != &n->connects; it = it->next) {
        connect_req *q = (connect_req *)((char *)it - offsetof(connect_req, node));
        if (q->done)
            continue;
        fail(q, dfr__net_failure_code(DFR_ECONNLOST, why));
        if (q->s)
            dfr__stream_close_with(q->s, NULL);
    }
}

static dfr_deferred *start(dfr_reactor *r, connect_req *q)
{
    dfr__net *net = dfr__net_get(r);
    dfr_deferred *d = net ? dfr_deferred_new_cancellable(cancel_connect, q, NULL) : NULL;
    if (!d) {
        dfr__free(q->res.host);
        dfr__free(q);
        return NULL;
    }
    q->net = net;
    q->d = dfr_deferred_ref(d);
    dfr__node_push(&net->connects, &q->node);
    dfr__net_opened(net);
    if (q->tcp && !q->has_numeric) {
        q->res.done = on_resolved;
        int rc = dfr__resolve_submit(r, &q->res);
        if (rc) {
            fail(q, dfr__net_failure_code(rc, q->what));
            req_free(q);
        } else {
            q->resolving = true;
        }
        return d;
    }
    try_next(q);
    return d;
}

static int family_of(const dfr_connect_options *opts)
{
    int f = DFR__OPT(opts, dfr_connect_options, family, 0);
    return f == 4 ? AF_INET : f == 6 ? AF_INET6 : f == 0 ? AF_UNSPEC : -1;
}

static bool no_delay_of(const dfr_connect_options *opts)
{
    return DFR__OPT(opts, dfr_connect_options, no_delay, false);
}

dfr_deferred *dfr_reactor_connect_tcp(dfr_reactor *r, const char *host, int port,
                                      const dfr_connect_options *opts)
{
    if (!r || !host || !*host || port < 1 || port > 65535 || DFR__OPTS_BAD(opts))
        return dfr__net_failed(DFR_EINVAL, NULL);
    if (!dfr__net_owner(r))
        return dfr__net_failed(DFR_ENOTOWNER, NULL);
    int family = family_of(opts);
    if (family < 0 || strlen(host) > 255)
        return dfr__net_failed(DFR_EINVAL, NULL);
    connect_req *q = dfr__calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->tcp = true;
    q->no_delay = no_delay_of(opts);
    snprintf(q->what, sizeof q->what, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&q->numeric;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&q->numeric;
    if (family != AF_INET6 && uv_ip4_addr(host, port, v4) == 0)
        q->has_numeric = true;
    else if (family != AF_INET && uv_ip6_addr(host, port, v6) == 0)
        q->has_numeric = true;
    if (!q->has_numeric) {
        size_t n = strlen(host);
        q->res.host = dfr__malloc(n + 1);
        if (!q->res.host) {
            dfr__free(q);
            return NULL;
        }
        memcpy(q->res.host, host, n + 1);
        snprintf(q->res.port, sizeof q->res.port, "%d", port);
        q->res.family = family;
    }
    return start(r, q);
}

dfr_deferred *dfr_reactor_connect_unix(dfr_reactor *r, const char *path,
                                       const dfr_connect_options *opts)
{
    if (!r || !path || !*path || DFR__OPTS_BAD(opts))
        return dfr__net_failed(DFR_EINVAL, NULL);
    if (!dfr__net_owner(r))
        return dfr__net_failed(DFR_ENOTOWNER, NULL);
    connect_req *q = dfr__calloc(1, sizeof *q);
    if (!q)
        return NULL;
    if (strlen(path) >= sizeof q->path) {
        dfr__free(q);
        return dfr__net_failed(DFR_EINVAL, "path too long");
    }
    strcpy(q->path, path);
    snprintf(q->what, sizeof q->what, "%s", path);
    return start(r, q);
}
