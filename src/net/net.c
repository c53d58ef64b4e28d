/* The stream layer's per-reactor state: what is open, closing it all at
 * shutdown (Twisted's disconnectAll) and at dfr_reactor_free, and the
 * mapping of system errors to failures. */
#include "net/net_internal.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>

static void close_all(dfr__net *n, const char *why)
{
    dfr__listeners_close_all(n);
    dfr__connects_abort_all(n, why);
    /* Closing removes a stream from the list only in its close callback:
     * walk with the next pointer taken first. */
    for (dfr__net_node *it = n->streams.next; it != &n->streams;) {
        dfr_stream *s = (dfr_stream *)((char *)it - offsetof(dfr_stream, node));
        it = it->next;
        if (!s->closing)
            dfr__stream_close_with(s, dfr__net_failure_code(DFR_ECONNLOST, why));
    }
}

/* During shutdown: close everything, and let the reactor wait until it is
 * closed. */
static dfr_value on_shutdown(void *data)
{
    dfr__net *n = data;
    close_all(n, "reactor shutting down");
    if (n->open == 0 || n->idle)
        return dfr_none();
    n->idle = dfr_deferred_new();
    if (!n->idle)
        return dfr_none();
    return dfr_value_deferred(dfr_deferred_ref(n->idle));
}

static void net_free(dfr_reactor *r)
{
    dfr__net *n = r->net;
    close_all(n, "reactor freed");
    while (n->open > 0)
        uv_run(r->loop, UV_RUN_NOWAIT);
    if (n->idle) {
        dfr_deferred_callback(n->idle, dfr_none());
        dfr_deferred_unref(n->idle);
    }
    /* Handles the application still holds outlive the reactor (reactor.h):
     * they must not point at it any more. */
    dfr__streams_detach_all(n);
    dfr__listeners_detach_all(n);
    dfr__free(n->readbuf);
    dfr__free(n);
    r->net = NULL;
    r->net_free = NULL;
}

dfr__net *dfr__net_get(dfr_reactor *r)
{
    if (r->net)
        return r->net;
    dfr__net *n = dfr__calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->readbuf = dfr__malloc(DFR__NET_READ_CHUNK);
    if (!n->readbuf || dfr_reactor_add_system_event_trigger(r, DFR_DURING, DFR_SHUTDOWN, on_shutdown, n,
                                                    NULL, NULL) != 0) {
        dfr__free(n->readbuf);
        dfr__free(n);
        return NULL;
    }
    n->r = r;
    dfr__node_init(&n->streams);
    dfr__node_init(&n->listeners);
    dfr__node_init(&n->connects);
    dfr__node_init(&n->closed_streams);
    dfr__node_init(&n->closed_listeners);
    r->net = n;
    r->net_free = net_free;
    dfr__net_ignore_sigpipe();
    return n;
}

void dfr__net_opened(dfr__net *n)
{
    n->open++;
}

void dfr__net_closed(dfr__net *n)
{
    if (--n->open > 0 || !n->idle)
        return;
    dfr_deferred *idle = n->idle;
    n->idle = NULL;
    dfr_deferred_callback(idle, dfr_none());
    dfr_deferred_unref(idle);
}

/* ---- errors ---- */

int dfr__net_code(int uverr)
{
    switch (uverr) {
    case UV_ECONNREFUSED:
    case UV_ENOENT: /* no Unix socket there */
        return DFR_ECONNREFUSED;
    case UV_ENETUNREACH:
    case UV_EHOSTUNREACH:
    case UV_ENETDOWN:
    case UV_EHOSTDOWN:
    case UV_EADDRNOTAVAIL:
        return DFR_EUNREACHABLE;
    case UV_ECONNRESET:
    case UV_EPIPE:
        return DFR_ECONNRESET;
    case UV_ETIMEDOUT:
        return DFR_ETIMEDOUT;
    case UV_EADDRINUSE:
        return DFR_EADDRINUSE;
    case UV_ENOMEM:
    case UV_ENOBUFS:
        return DFR_ENOMEM;
    case UV_ECANCELED:
        return DFR_ECANCELLED;
    case UV_EINVAL:
        return DFR_EINVAL;
    /* Twisted's DNSLookupError covers them all: a resolver that cannot be
     * reached (EAI_AGAIN, common in sandboxes) fails the name too, and the
     * failure's message keeps the system's words. */
    case UV_EAI_NONAME:
    case UV_EAI_NODATA:
    case UV_EAI_AGAIN:
    case UV_EAI_FAIL:
    case UV_EAI_FAMILY:
    case UV_EAI_SERVICE:
        return DFR_ENOTFOUND;
    default:
        return DFR_ECONNLOST;
    }
}

dfr_failure *dfr__net_failure_code(int code, const char *what)
{
    dfr_failure *f = what ? dfr_failure_newf(DFR_DOMAIN, code, "%s (%s)", dfr_strerror(code), what)
                          : dfr_failure_new(DFR_DOMAIN, code, dfr_strerror(code));
    return f ? f : dfr__failure_static(DFR_ENOMEM);
}

dfr_failure *dfr__net_failure(int uverr, const char *what)
{
    int code = dfr__net_code(uverr);
    dfr_failure *f;
    /* The system's words: the code already names the kind. */
    if (what)
        f = dfr_failure_newf(DFR_DOMAIN, code, "%s (%s)", uv_strerror(uverr), what);
    else
        f = dfr_failure_new(DFR_DOMAIN, code, uv_strerror(uverr));
    return f ? f : dfr__failure_static(DFR_ENOMEM);
}

dfr__net_waiter *dfr__net_waiter_new(dfr_deferred **d)
{
    dfr__net_waiter *w = dfr__calloc(1, sizeof *w);
    *d = w ? dfr_deferred_new() : NULL;
    if (!*d) {
        dfr__free(w);
        return NULL;
    }
    w->d = dfr_deferred_ref(*d);
    return w;
}

dfr_deferred *dfr__net_failed(int code, const char *what)
{
    return dfr_fail(dfr__net_failure_code(code, what));
}

static void ignore_sigpipe_once(void)
{
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
        old.sa_handler == SIG_DFL) {
        struct sigaction ign;
        memset(&ign, 0, sizeof ign);
        ign.sa_handler = SIG_IGN;
        sigemptyset(&ign.sa_mask);
        sigaction(SIGPIPE, &ign, NULL);
    }
}

void dfr__net_ignore_sigpipe(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, ignore_sigpipe_once);
}
