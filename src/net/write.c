/* Writing: one libuv write request per write (copied or owned bytes), the
 * written / writable deferreds, and the high/low watermarks (Twisted's
 * producer pause/resume). */
#include "net/net_internal.h"

#include <string.h>

typedef struct wreq {
    uv_write_t req;
    dfr_stream *s;
    void *owned;
    dfr_destroy_fn destroy;
    char data[]; /* a copied write's bytes */
} wreq;

static size_t queued(const dfr_stream *s)
{
    return s->live ? s->h.stream.write_queue_size : 0;
}

size_t dfr_stream_write_buffered(const dfr_stream *s)
{
    return s ? queued(s) : 0;
}

static void fire_list(dfr__net_waiter **head, dfr__net_waiter **tail, dfr_failure *f,
                      uint64_t done_upto, bool all)
{
    /* Detach first: firing may resume a coroutine that waits again at once,
     * and its new waiter must wait for the next change. */
    dfr__net_waiter *ready = NULL, **last = &ready;
    while (*head && (all || (*head)->target <= done_upto)) {
        dfr__net_waiter *w = *head;
        *head = w->next;
        *last = w;
        last = &w->next;
    }
    *last = NULL;
    if (!*head && tail)
        *tail = NULL;
    while (ready) {
        dfr__net_waiter *w = ready;
        ready = w->next;
        if (f)
            dfr_deferred_errback(w->d, dfr_failure_ref(f));
        else
            dfr_deferred_callback(w->d, dfr_none());
        dfr_deferred_unref(w->d);
        dfr__free(w);
    }
}

void dfr__write_fail_waiters(dfr_stream *s)
{
    dfr_failure *f = s->reason ? dfr_failure_ref(s->reason)
                               : dfr__net_failure_code(DFR_ECONNLOST, NULL);
    fire_list(&s->written, &s->written_tail, f, 0, true);
    fire_list(&s->writable, NULL, f, 0, true);
    dfr_failure_unref(f);
}

static void check_drained(dfr_stream *s)
{
    if (queued(s) > s->low)
        return;
    fire_list(&s->writable, NULL, NULL, 0, true);
    if (s->full) {
        s->full = false;
        if (s->has_protocol && s->proto.write_drained)
            s->proto.write_drained(s, s->pdata);
    }
}

static void on_write(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    dfr_stream *s = w->s;
    dfr__destroy(w->destroy, w->owned);
    dfr__free(w);
    s->wdone++;
    if (status == UV_ECANCELED || s->closing)
        return;
    if (status < 0) {
        dfr__stream_close_with(s, dfr__net_failure(status, NULL));
        return;
    }
    /* Nobody waits on a write and no close waits for the flush: the plain
     * writer's case, once per write. */
    if (!s->written && !s->writable && !s->full && !s->close_after_flush)
        return;
    dfr__stream_hold(s);
    fire_list(&s->written, &s->written_tail, NULL, s->wdone, false);
    check_drained(s);
    if (s->close_after_flush && s->wdone == s->wsubmitted && !s->closing) {
        dfr_failure *f = s->flush_reason;
        s->flush_reason = NULL;
        dfr__stream_close_with(s, f ? f : dfr__net_failure_code(DFR_ECONNDONE, NULL));
    }
    dfr__stream_release(s);
}

static int writable_check(dfr_stream *s)
{
    int rc = dfr__stream_check(s);
    if (!rc && (s->write_shut || s->close_after_flush || !s->connected))
        rc = DFR_ECONNLOST;
    return rc;
}

/* Hand w (len bytes at p) to libuv; releases w on error. */
static int submit(dfr_stream *s, wreq *w, const char *p, size_t len)
{
    w->s = s;
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
    int rc = uv_write(&w->req, &s->h.stream, &b, 1, on_write);
    if (rc < 0) {
        dfr__destroy(w->destroy, w->owned);
        dfr__free(w);
        return dfr__net_code(rc);
    }
    s->wsubmitted++;
    if (!s->full && queued(s) > s->high) {
        s->full = true;
        if (s->has_protocol && s->proto.write_full)
            s->proto.write_full(s, s->pdata);
    }
    return 0;
}

int dfr_stream_write(dfr_stream *s, const void *buf, size_t len)
{
    int rc = writable_check(s);
    if (!rc && !buf && len)
        rc = DFR_EINVAL;
    if (!rc && len > UINT32_MAX)
        rc = DFR_EINVAL;
    if (rc || len == 0)
        return rc;
    wreq *w = dfr__malloc(sizeof *w + len);
    if (!w)
        return DFR_ENOMEM;
    memcpy(w->data, buf, len);
    w->owned = NULL;
    w->destroy = NULL;
    return submit(s, w, w->data, len);
}

int dfr_stream_write_owned(dfr_stream *s, void *buf, size_t len, dfr_destroy_fn destroy)
{
    int rc = writable_check(s);
    if (!rc && ((!buf && len) || len > UINT32_MAX))
        rc = DFR_EINVAL;
    if (rc || len == 0) {
        dfr__destroy(destroy, buf);
        return rc;
    }
    wreq *w = dfr__malloc(sizeof *w);
    if (!w) {
        dfr__destroy(destroy, buf);
        return DFR_ENOMEM;
    }
    w->owned = buf;
    w->destroy = destroy;
    return submit(s, w, buf, len);
}

static dfr_deferred *add_waiter(dfr_stream *s, dfr__net_waiter **head, dfr__net_waiter **tail,
                                uint64_t target)
{
    dfr_deferred *d;
    dfr__net_waiter *w = dfr__net_waiter_new(&d);
    if (!w)
        return NULL;
    w->target = target;
    if (tail) {
        if (*tail)
            (*tail)->next = w;
        else
            *head = w;
        *tail = w;
    } else {
        w->next = *head;
        *head = w;
    }
    DFR_UNUSED(s);
    return d;
}

dfr_deferred *dfr_stream_written(dfr_stream *s)
{
    if (!s)
        return dfr__net_failed(DFR_EINVAL, NULL);
    if (!dfr__net_owner(s->r))
        return dfr__net_failed(DFR_ENOTOWNER, NULL);
    if (s->wdone == s->wsubmitted)
        return dfr_succeed(dfr_none());
    if (s->closing || !s->live)
        return dfr__stream_lost_deferred(s);
    return add_waiter(s, &s->written, &s->written_tail, s->wsubmitted);
}

dfr_deferred *dfr_stream_wait_writable(dfr_stream *s)
{
    if (!s)
        return dfr__net_failed(DFR_EINVAL, NULL);
    if (!dfr__net_owner(s->r))
        return dfr__net_failed(DFR_ENOTOWNER, NULL);
    if (s->closing || !s->live)
        return dfr__stream_lost_deferred(s);
    if (queued(s) <= s->high)
        return dfr_succeed(dfr_none());
    return add_waiter(s, &s->writable, NULL, 0);
}

int dfr_stream_set_watermarks(dfr_stream *s, size_t high, size_t low)
{
    if (!s || low > high)
        return DFR_EINVAL;
    if (!dfr__net_owner(s->r))
        return DFR_ENOTOWNER;
    s->high = high;
    s->low = low;
    return 0;
}
