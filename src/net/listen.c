/* Listening (Twisted's listenTCP / listenUNIX): accept each connection
 * into a stream and hand it to the application; stop → a deferred fired
 * once the socket is closed. */
#include "net/net_internal.h"

#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct dfr_listener {
    atomic_uint refs;     /* all: the application's + the handle's */
    atomic_uint app_refs; /* the application's */
    dfr_reactor *r;
    dfr__net *net;
    dfr__net_node node;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    bool tcp, live, closing, no_delay;
    dfr_accept_fn fn;
    void *data;
    dfr_destroy_fn destroy;
    dfr__net_waiter *stopped;       /* dfr_listener_stop's deferreds, fired when closed */
    char *path;            /* a Unix socket's file, removed at close */
};

static void listener_release(dfr_listener *l)
{
    if (dfr__release_last(&l->refs)) {
        if (l->net)
            dfr__node_remove(&l->node); /* from the closed list */
        dfr__free(l->path);
        dfr__free(l);
    }
}

static void on_closed(uv_handle_t *h)
{
    dfr_listener *l = h->data;
    l->live = false;
    dfr__node_remove(&l->node);
    dfr__node_push(&l->net->closed_listeners, &l->node);
    if (l->path)
        unlink(l->path);
    dfr_destroy_fn destroy = l->destroy;
    l->destroy = NULL;
    dfr__destroy(destroy, l->data);
    while (l->stopped) {
        dfr__net_waiter *w = l->stopped;
        l->stopped = w->next;
        dfr_deferred_callback(w->d, dfr_none());
        dfr_deferred_unref(w->d);
        dfr__free(w);
    }
    dfr__net *net = l->net;
    listener_release(l);
    dfr__net_closed(net);
}

static void close_listener(dfr_listener *l)
{
    if (l->closing || !l->live)
        return;
    l->closing = true;
    uv_close(&l->h.handle, on_closed);
}

void dfr__listeners_detach_all(dfr__net *n)
{
    while (n->closed_listeners.next != &n->closed_listeners) {
        dfr__net_node *it = n->closed_listeners.next;
        dfr_listener *l = (dfr_listener *)((char *)it - offsetof(dfr_listener, node));
        dfr__node_remove(it);
        l->r = NULL;
        l->net = NULL;
    }
}

void dfr__listeners_close_all(dfr__net *n)
{
    for (dfr__net_node *it = n->listeners.next; it != &n->listeners; it = it->next)
        close_listener((dfr_listener *)((char *)it - offsetof(dfr_listener, node)));
}

/* No memory for a stream: take the connection off the backlog and drop it
 * (libuv would call us again for it forever). */
static void refuse(dfr_listener *l)
{
    uv_os_fd_t fd;
    if (uv_fileno(&l->h.handle, &fd) != 0)
        return;
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c >= 0)
        close(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    dfr_listener *l = server->data;
    if (status < 0 || l->closing)
        return;
    int err = 0;
    dfr_stream *s = dfr__stream_new(l->net, l->tcp, &err);
    if (!s) {
        refuse(l);
        return;
    }
    if (uv_accept(server, &s->h.stream) != 0) {
        dfr__stream_close_with(s, NULL);
        return;
    }
    if (l->tcp && l->no_delay)
        uv_tcp_nodelay(&s->h.tcp, 1);
    s->connected = true;
    /* The call's reference: if the application keeps none and sets no
     * protocol, dropping it closes the stream. */
    dfr_stream_ref(s);
    dfr__ref_add(&l->refs);
    l->fn(l, s, l->data);
    listener_release(l);
    dfr_stream_unref(s);
}

static void orphaned(void *data)
{
    dfr_listener *l = data;
    if (atomic_load(&l->app_refs) == 0)
        close_listener(l);
}

static void release_cb(void *data)
{
    listener_release(data);
}

dfr_listener *dfr_listener_ref(dfr_listener *l)
{
    if (l) {
        dfr__ref_add(&l->app_refs);
        dfr__ref_add(&l->refs);
    }
    return l;
}

void dfr_listener_unref(dfr_listener *l)
{
    if (!l)
        return;
    if (dfr__count_drop(&l->app_refs)) {
        if (l->r && !dfr__on_reactor_thread(l->r)) {
            dfr_reactor_call_from_thread(l->r, orphaned, l, release_cb);
            return;
        }
        orphaned(l);
    }
    listener_release(l);
}

int dfr_listener_port(const dfr_listener *l)
{
    if (!l || !l->tcp)
        return DFR_EINVAL;
    if (!l->live || l->closing)
        return DFR_ECONNLOST;
    struct sockaddr_storage ss;
    int len = sizeof ss;
    int rc = uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)&ss, &len);
    if (rc < 0)
        return dfr__net_code(rc);
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

dfr_deferred *dfr_listener_stop(dfr_listener *l)
{
    if (!l)
        return dfr__net_failed(DFR_EINVAL, NULL);
    if (!dfr__net_owner(l->r))
        return dfr__net_failed(DFR_ENOTOWNER, NULL);
    if (!l->live)
        return dfr_succeed(dfr_none());
    dfr_deferred *d;
    dfr__net_waiter *w = dfr__net_waiter_new(&d);
    if (!w)
        return NULL;
    w->next = l->stopped;
    l->stopped = w;
    close_listener(l);
    return d;
}

static void listen_opts(const dfr_listen_options *o, int *backlog, bool *no_delay)
{
    *backlog = 511;
    *no_delay = false;
    if (!o)
        return;
    if (DFR__OPT(o, dfr_listen_options, backlog, 0) > 0)
        *backlog = o->backlog;
    *no_delay = DFR__OPT(o, dfr_listen_options, no_delay, false);
}

/* Give up on a listener whose handle is initialised but not listening:
 * destroy runs now, the handle closes on the loop. */
static int abandon(dfr_listener *l, int e)
{
    dfr_destroy_fn destroy = l->destroy;
    l->destroy = NULL;
    dfr__destroy(destroy, l->data);
    l->live = true;
    dfr__node_push(&l->net->listeners, &l->node);
    dfr__net_opened(l->net);
    close_listener(l);
    return dfr__net_code(e);
}

static int start(dfr_listener *l, int backlog, dfr_listener **out)
{
    int rc = uv_listen(&l->h.stream, backlog, on_connection);
    if (rc < 0)
        return abandon(l, rc);
    dfr__node_push(&l->net->listeners, &l->node);
    dfr__net_opened(l->net);
    l->live = true;
    atomic_store(&l->refs, 2);
    atomic_store(&l->app_refs, 1);
    *out = l;
    return 0;
}

/* A listener with its handle initialised and its options read, or NULL with
 * *rc set and destroy(data) run. */
static dfr_listener *new_listener(dfr_reactor *r, dfr_accept_fn fn, void *data,
                                  dfr_destroy_fn destroy, bool tcp,
                                  const dfr_listen_options *opts, int *backlog, int *rc)
{
    dfr__net *net = dfr__net_get(r);
    dfr_listener *l = net ? dfr__calloc(1, sizeof *l) : NULL;
    if (!l) {
        *rc = DFR_ENOMEM;
        dfr__destroy(destroy, data);
        return NULL;
    }
    l->r = r;
    l->net = net;
    l->tcp = tcp;
    l->fn = fn;
    l->data = data;
    l->destroy = destroy;
    atomic_init(&l->refs, 1); /* the handle's */
    dfr__node_init(&l->node);
    int e = tcp ? uv_tcp_init(r->loop, &l->h.tcp) : uv_pipe_init(r->loop, &l->h.pipe, 0);
    if (e < 0) {
        dfr__free(l);
        *rc = dfr__net_code(e);
        dfr__destroy(destroy, data);
        return NULL;
    }
    l->h.handle.data = l;
    listen_opts(opts, backlog, &l->no_delay);
    return l;
}

int dfr_reactor_listen_tcp(dfr_reactor *r, const char *iface, int port, dfr_accept_fn on_accept,
                           void *data, dfr_destroy_fn destroy, const dfr_listen_options *opts,
                           dfr_listener **out)
{
    int rc = 0;
    struct sockaddr_storage ss;
    if (!r || !on_accept || !out || port < 0 || port > 65535 ||
        DFR__OPTS_BAD(opts))
        rc = DFR_EINVAL;
    else if (!dfr__net_owner(r))
        rc = DFR_ENOTOWNER;
    else if (!iface)
        iface = "0.0.0.0";
    if (!rc && uv_ip4_addr(iface, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(iface, port, (struct sockaddr_in6 *)&ss) != 0)
        rc = DFR_EINVAL;
    if (rc) {
        dfr__destroy(destroy, data);
        return rc;
    }
    *out = NULL;
    int backlog;
    dfr_listener *l = new_listener(r, on_accept, data, destroy, true, opts, &backlog, &rc);
    if (!l)
        return rc;
    int e = uv_tcp_bind(&l->h.tcp, (const struct sockaddr *)&ss, 0);
    if (e < 0)
        return abandon(l, e);
    return start(l, backlog, out);
}

int dfr_reactor_listen_unix(dfr_reactor *r, const char *path, dfr_accept_fn on_accept, void *data,
                            dfr_destroy_fn destroy, const dfr_listen_options *opts,
                            dfr_listener **out)
{
    int rc = 0;
    if (!r || !path || !*path || !on_accept || !out || DFR__OPTS_BAD(opts) ||
        strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        rc = DFR_EINVAL;
    else if (!dfr__net_owner(r))
        rc = DFR_ENOTOWNER;
    if (rc) {
        dfr__destroy(destroy, data);
        return rc;
    }
    *out = NULL;
    int backlog;
    dfr_listener *l = new_listener(r, on_accept, data, destroy, false, opts, &backlog, &rc);
    if (!l)
        return rc;
    int e = uv_pipe_bind(&l->h.pipe, path);
    if (e < 0)
        return abandon(l, e);
    size_t n = strlen(path);
    if (!(l->path = dfr__malloc(n + 1))) {
        unlink(path);
        return abandon(l, UV_ENOMEM);
    }
    memcpy(l->path, path, n + 1);
    return start(l, backlog, out);
}
