/* A stream: one TCP or Unix connection (Twisted's transport).  Its life:
 * made by connect or accept, open while the handle is, closed with a reason
 * (the protocol's connection_lost), freed when the last reference goes. */
#include "net/net_internal.h"

#include <string.h>

/* ---- references ---- */

static void stream_free(dfr_stream *s)
{
    if (s->net)
        dfr__node_remove(&s->node); /* from the closed list */
    dfr_failure_unref(s->reason);
    dfr_failure_unref(s->flush_reason);
    dfr__free(s->in);
    dfr__free(s);
}

void dfr__stream_hold(dfr_stream *s)
{
    dfr__ref_add(&s->refs);
}

void dfr__stream_release(dfr_stream *s)
{
    /* The handle holds a reference until its close finished: the last
     * release never races with the loop. */
    if (dfr__release_last(&s->refs))
        stream_free(s);
}

static void release_cb(void *data)
{
    dfr__stream_release(data);
}

/* Nobody can read this stream any more: close it once its writes are out. */
static void orphaned(void *data)
{
    dfr_stream *s = data;
    if (atomic_load(&s->app_refs) == 0 && s->live && !s->closing && !s->has_protocol)
        dfr_stream_close(s);
}

dfr_stream *dfr_stream_ref(dfr_stream *s)
{
    if (s) {
        dfr__ref_add(&s->app_refs);
        dfr__stream_hold(s);
    }
    return s;
}

void dfr_stream_unref(dfr_stream *s)
{
    if (!s)
        return;
    if (dfr__count_drop(&s->app_refs)) {
        if (s->r && !dfr__on_reactor_thread(s->r)) {
            /* Our reference travels with the call (released by its destroy). */
            dfr_reactor_call_from_thread(s->r, orphaned, s, release_cb);
            return;
        }
        orphaned(s);
    }
    dfr__stream_release(s);
}

static void value_drop(void *p)
{
    dfr_stream_unref(p);
}

static dfr_value value_clone(const dfr_value *v)
{
    return dfr_obj(&dfr_type_stream, dfr_stream_ref(v->u.ptr));
}

const dfr_type dfr_type_stream = {sizeof(dfr_type), "stream", value_drop, value_clone};

dfr_stream *dfr_stream_from(const dfr_value *v)
{
    return v && v->type == &dfr_type_stream ? v->u.ptr : NULL;
}

/* ---- making and closing ---- */

dfr_stream *dfr__stream_new(dfr__net *net, bool tcp, int *err)
{
    dfr_stream *s = dfr__calloc(1, sizeof *s);
    if (!s) {
        *err = UV_ENOMEM;
        return NULL;
    }
    int rc = tcp ? uv_tcp_init(net->r->loop, &s->h.tcp) : uv_pipe_init(net->r->loop, &s->h.pipe, 0);
    if (rc < 0) {
        /* An init that failed leaves nothing to close. */
        dfr__free(s);
        *err = rc;
        return NULL;
    }
    s->h.handle.data = s;
    s->r = net->r;
    s->net = net;
    s->live = true;
    s->high = 64 * 1024;
    s->low = 16 * 1024;
    atomic_init(&s->refs, 1);
    atomic_init(&s->app_refs, 0);
    dfr__node_push(&net->streams, &s->node);
    dfr__net_opened(net);
    return s;
}

static void fail_pull(dfr_stream *s)
{
    dfr__pull_try(s);
}

static void on_closed(uv_handle_t *h)
{
    dfr_stream *s = h->data;
    s->live = false;
    dfr__node_remove(&s->node);
    dfr__node_push(&s->net->closed_streams, &s->node);
    if (s->connected) {
        dfr__stream_hold(s);
        fail_pull(s);
        dfr__write_fail_waiters(s);
        if (s->has_protocol) {
            if (s->proto.connection_lost)
                s->proto.connection_lost(s, s->reason, s->pdata);
            dfr_destroy_fn destroy = s->pdestroy;
            s->pdestroy = NULL;
            dfr__destroy(destroy, s->pdata);
            /* The protocol's claim on the stream ends with it. */
            s->has_protocol = false;
            dfr__count_drop(&s->app_refs);
            dfr__stream_release(s);
        }
        dfr__stream_release(s);
    }
    /* Kept until here: a reader may still ask for the reason after close. */
    dfr__net *net = s->net;
    dfr__stream_release(s); /* the handle's hold */
    dfr__net_closed(net);
}

void dfr__streams_detach_all(dfr__net *n)
{
    while (n->closed_streams.next != &n->closed_streams) {
        dfr__net_node *it = n->closed_streams.next;
        dfr_stream *s = (dfr_stream *)((char *)it - offsetof(dfr_stream, node));
        dfr__node_remove(it);
        s->r = NULL;
        s->net = NULL;
    }
}

void dfr__stream_close_with(dfr_stream *s, dfr_failure *reason)
{
    if (!reason)
        reason = dfr__net_failure_code(DFR_ECONNLOST, NULL);
    if (s->closing || !s->live) {
        dfr_failure_unref(reason);
        return;
    }
    s->closing = true;
    s->reason = reason;
    if (s->reading) {
        uv_read_stop(&s->h.stream);
        s->reading = false;
    }
    uv_close(&s->h.handle, on_closed);
}

int dfr__stream_check(const dfr_stream *s)
{
    if (!s)
        return DFR_EINVAL;
    if (!dfr__net_owner(s->r))
        return DFR_ENOTOWNER;
    if (s->closing || !s->live)
        return DFR_ECONNLOST;
    return 0;
}

bool dfr_stream_is_open(const dfr_stream *s)
{
    return s && s->live && !s->closing;
}

dfr_failure *dfr_stream_reason(const dfr_stream *s)
{
    return s && s->reason ? dfr_failure_ref(s->reason) : NULL;
}

/* ---- reading control ---- */

void dfr__stream_update_reading(dfr_stream *s)
{
    bool want = s->live && !s->closing && !s->close_after_flush && !s->eof && !s->paused &&
                (s->has_protocol || s->pull_d);
    if (want == s->reading)
        return;
    if (want) {
        int rc = uv_read_start(&s->h.stream, dfr__stream_alloc_cb, dfr__stream_read_cb);
        if (rc < 0) {
            /* A reader waiting on a socket that cannot be read: say why. */
            dfr__stream_close_with(s, dfr__net_failure(rc, NULL));
            return;
        }
    } else {
        uv_read_stop(&s->h.stream);
    }
    s->reading = want;
}

int dfr_stream_set_protocol(dfr_stream *s, const dfr_protocol *p, void *data,
                            dfr_destroy_fn destroy)
{
    int rc = dfr__stream_check(s);
    if (!rc && (!p || p->size < sizeof(size_t) || s->has_protocol || s->pull_d))
        rc = DFR_EINVAL;
    if (rc) {
        dfr__destroy(destroy, data);
        return rc;
    }
    /* Read only the fields the caller's struct has. */
    memset(&s->proto, 0, sizeof s->proto);
    memcpy(&s->proto, p, p->size < sizeof s->proto ? p->size : sizeof s->proto);
    s->pdata = data;
    s->pdestroy = destroy;
    s->has_protocol = true;
    dfr_stream_ref(s); /* the protocol keeps the stream until connection_lost */
    dfr__stream_hold(s);
    if (s->proto.connection_made)
        s->proto.connection_made(s, data);
    /* Bytes read for pull reads before the protocol came go to it first. */
    if (s->in_len && !s->closing && s->proto.data_received && !s->framing) {
        size_t n = s->in_len;
        s->in_len = 0;
        s->proto.data_received(s, s->in + s->in_start, n, data);
        s->in_start = 0;
    }
    dfr__stream_update_reading(s);
    dfr__stream_release(s);
    return 0;
}

int dfr_stream_pause_reading(dfr_stream *s)
{
    int rc = dfr__stream_check(s);
    if (rc)
        return rc;
    s->paused = true;
    dfr__stream_update_reading(s);
    return 0;
}

int dfr_stream_resume_reading(dfr_stream *s)
{
    int rc = dfr__stream_check(s);
    if (rc)
        return rc;
    s->paused = false;
    if (s->framing) {
        dfr__stream_hold(s);
        dfr__framing_decode(s);
        dfr__stream_release(s);
    }
    dfr__stream_update_reading(s);
    return 0;
}

/* ---- closing ---- */

int dfr_stream_close(dfr_stream *s)
{
    if (!s)
        return DFR_EINVAL;
    if (!dfr__net_owner(s->r))
        return DFR_ENOTOWNER;
    if (s->closing || !s->live || s->close_after_flush)
        return 0;
    s->close_after_flush = true;
    dfr__stream_update_reading(s);
    if (s->wdone == s->wsubmitted) {
        dfr_failure *f = s->flush_reason;
        s->flush_reason = NULL;
        dfr__stream_close_with(s, f ? f : dfr__net_failure_code(DFR_ECONNDONE, NULL));
    }
    return 0;
}

int dfr_stream_abort(dfr_stream *s)
{
    if (!s)
        return DFR_EINVAL;
    if (!dfr__net_owner(s->r))
        return DFR_ENOTOWNER;
    dfr_failure_unref(s->flush_reason);
    s->flush_reason = NULL;
    dfr__stream_close_with(s, dfr__net_failure_code(DFR_ECONNLOST, "connection aborted"));
    return 0;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    dfr_stream *s = req->data;
    if (status == UV_ECANCELED)
        return;
    if (status < 0) {
        dfr__stream_close_with(s, dfr__net_failure(status, NULL));
        return;
    }
    s->shut_done = true;
    /* Both halves closed: the connection is over (Twisted does the same). */
    if (s->eof)
        dfr__stream_close_with(s, dfr__net_failure_code(DFR_ECONNDONE, NULL));
}

int dfr_stream_close_write(dfr_stream *s)
{
    int rc = dfr__stream_check(s);
    if (rc)
        return rc;
    if (s->write_shut)
        return 0;
    s->shutreq.data = s;
    rc = uv_shutdown(&s->shutreq, &s->h.stream, on_shutdown);
    if (rc < 0)
        return dfr__net_code(rc);
    s->write_shut = true;
    return 0;
}

dfr_deferred *dfr__stream_lost_deferred(dfr_stream *s)
{
    if (s->reason)
        return dfr_fail(dfr_failure_ref(s->reason));
    return dfr__net_failed(DFR_ECONNLOST, NULL);
}
