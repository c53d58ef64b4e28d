/* Reading: bytes from libuv to the protocol (push) or into the pull buffer,
 * and the pull reads that take them out (read some, exactly n, until a
 * delimiter, to EOF; framing.c adds lines and netstrings). */
#include "net/net_internal.h"

#include <string.h>

/* ---- from libuv ---- */

void dfr__stream_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    DFR_UNUSED(suggested);
    dfr_stream *s = h->data;
    /* libuv reads into the buffer and calls read_cb at once: one shared
     * buffer serves every stream of the reactor. */
    buf->base = s->net->readbuf;
    buf->len = DFR__NET_READ_CHUNK;
}

int dfr__stream_buffer(dfr_stream *s, const void *data, size_t n)
{
    if (s->in_start + s->in_len + n > s->in_cap) {
        if (s->in_start > 0) {
            memmove(s->in, s->in + s->in_start, s->in_len);
            s->in_start = 0;
        }
        if (s->in_len + n > s->in_cap) {
            size_t cap = s->in_cap ? s->in_cap : 4096;
            while (cap < s->in_len + n)
                cap *= 2;
            char *in = dfr__realloc(s->in, cap);
            if (!in)
                return DFR_ENOMEM;
            s->in = in;
            s->in_cap = cap;
        }
    }
    memcpy(s->in + s->in_start + s->in_len, data, n);
    s->in_len += n;
    return 0;
}

void dfr__stream_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    dfr_stream *s = st->data;
    if (nread == 0 || s->closing)
        return;
    dfr__stream_hold(s);
    if (nread > 0) {
        if (s->has_protocol) {
            if (s->proto.data_received)
                s->proto.data_received(s, buf->base, (size_t)nread, s->pdata);
        } else if (dfr__stream_buffer(s, buf->base, (size_t)nread) != 0) {
            dfr__stream_close_with(s, dfr__net_failure_code(DFR_ENOMEM, NULL));
        } else {
            dfr__pull_try(s);
        }
    } else if (nread == UV_EOF) {
        s->eof = true;
        dfr__stream_update_reading(s);
        if (s->has_protocol) {
            if (s->proto.read_eof)
                s->proto.read_eof(s, s->pdata);
            else
                dfr__stream_close_with(s, dfr__net_failure_code(DFR_ECONNDONE, NULL));
        } else {
            dfr__pull_try(s);
        }
        if (s->shut_done)
            dfr__stream_close_with(s, dfr__net_failure_code(DFR_ECONNDONE, NULL));
    } else {
        dfr__stream_close_with(s, dfr__net_failure((int)nread, NULL));
    }
    dfr__stream_update_reading(s);
    dfr__stream_release(s);
}

/* ---- pull reads ---- */

static void consume(dfr_stream *s, size_t n)
{
    s->in_start += n;
    s->in_len -= n;
    if (s->in_len == 0)
        s->in_start = 0;
}

/* n bytes off the front as a bytes value (a failure value on OOM). */
static dfr_value take(dfr_stream *s, size_t n)
{
    dfr_value v = dfr_bytes_new(s->in + s->in_start, n);
    if (!dfr_is_failure(v))
        consume(s, n);
    return v;
}

static const void *find(const char *hay, size_t n, const char *needle, size_t m)
{
    return n >= m ? memmem(hay, n, needle, m) : NULL;
}

/* The frame check: 1 done (*out), 0 more needed, <0 frame error. */
static int satisfy(dfr_stream *s, dfr_value *out)
{
    const char *p = s->in + s->in_start;
    size_t n = s->in_len;
    switch (s->pull) {
    case DFR__PULL_SOME:
        if (n == 0)
            return 0;
        *out = take(s, s->pull_max && n > s->pull_max ? s->pull_max : n);
        return 1;
    case DFR__PULL_EXACT:
        if (n < s->pull_n)
            return 0;
        *out = take(s, s->pull_n);
        return 1;
    case DFR__PULL_UNTIL: {
        const char *at = find(p, n, s->delim, s->delim_len);
        size_t body = at ? (size_t)(at - p) : (n >= s->delim_len ? n - s->delim_len + 1 : 0);
        if (s->pull_max && body > s->pull_max)
            return DFR_EFRAME;
        if (!at)
            return 0;
        *out = take(s, body + s->delim_len);
        return 1;
    }
    case DFR__PULL_EOF:
        if (s->pull_max && n > s->pull_max)
            return DFR_EFRAME;
        return 0; /* completed by the end of input */
    case DFR__PULL_LINE:
        return dfr__frame_line(s, s->pull_max, out);
    case DFR__PULL_NETSTRING:
        return dfr__frame_netstring(s, s->pull_max, out);
    default:
        return 0;
    }
}

/* What a read that cannot be satisfied gets at the end of input. */
static dfr_value at_end(dfr_stream *s)
{
    if (s->eof && s->pull == DFR__PULL_SOME)
        return dfr_bytes_new(NULL, 0);
    if (s->eof && s->pull == DFR__PULL_EOF)
        return take(s, s->in_len);
    if (s->eof || (s->reason && dfr_failure_code(s->reason) == DFR_ECONNDONE))
        return dfr_value_failure(dfr_failure_newf(DFR_DOMAIN, DFR_ECONNDONE,
                                                  "%s (%zu bytes left unread)",
                                                  dfr_strerror(DFR_ECONNDONE), s->in_len));
    if (s->reason)
        return dfr_value_failure(dfr_failure_ref(s->reason));
    return dfr_value_failure(dfr__net_failure_code(DFR_ECONNLOST, NULL));
}

void dfr__pull_try(dfr_stream *s)
{
    if (!s->pull_d)
        return;
    dfr_value v = dfr_none();
    int rc = satisfy(s, &v);
    if (rc == 0) {
        if (!s->eof && !s->closing && s->live)
            return;
        v = at_end(s);
    } else if (rc < 0) {
        v = dfr_value_failure(dfr__net_failure_code(DFR_EFRAME, NULL));
        /* An over-long or malformed frame ends this connection. */
        if (!s->closing && s->live) {
            dfr_failure_unref(s->flush_reason);
            s->flush_reason = dfr_failure_ref(dfr_failure_from(&v));
            dfr_stream_close(s);
        }
    }
    if (dfr_is_failure(v) && !dfr_failure_from(&v))
        v = dfr__lib_failure_value(DFR_ENOMEM);
    dfr_deferred *d = s->pull_d;
    s->pull_d = NULL;
    s->pull = DFR__PULL_NONE;
    /* Firing may resume a coroutine that reads again at once: stop reading
     * only if it did not (every caller holds s).  Stopping and restarting
     * costs libuv two epoll_ctl calls on the next poll. */
    dfr_deferred_callback(d, v);
    dfr_deferred_unref(d);
    dfr__stream_update_reading(s);
}

static void cancel_pull(dfr_deferred *d, void *data)
{
    dfr_stream *s = data;
    if (s->pull_d != d)
        return;
    /* Cancelled: the bytes stay buffered for the next read. */
    s->pull_d = NULL;
    s->pull = DFR__PULL_NONE;
    dfr_deferred_unref(d);
    dfr__stream_update_reading(s);
}

dfr_deferred *dfr__pull_start(dfr_stream *s, int kind, size_t n, size_t max, const void *delim,
                              size_t delim_len)
{
    if (!s)
        return dfr__net_failed(DFR_EINVAL, NULL);
    if (!dfr__net_owner(s->r))
        return dfr__net_failed(DFR_ENOTOWNER, NULL);
    if (s->pull_d || s->has_protocol || !s->connected)
        return dfr__net_failed(DFR_EINVAL, "a read is pending or the stream has a protocol");
    dfr_deferred *d = dfr_deferred_new_cancellable(cancel_pull, s, NULL);
    if (!d)
        return NULL;
    s->pull = kind;
    s->pull_n = n;
    s->pull_max = max;
    if (delim_len)
        memcpy(s->delim, delim, delim_len);
    s->delim_len = delim_len;
    s->pull_d = dfr_deferred_ref(d);
    dfr__stream_hold(s);
    dfr__pull_try(s);
    dfr__stream_update_reading(s);
    dfr__stream_release(s);
    return d;
}

dfr_deferred *dfr_stream_read(dfr_stream *s, size_t max)
{
    return dfr__pull_start(s, DFR__PULL_SOME, 0, max, NULL, 0);
}

dfr_deferred *dfr_stream_read_exactly(dfr_stream *s, size_t n)
{
    if (n == 0)
        return dfr__net_failed(DFR_EINVAL, NULL);
    return dfr__pull_start(s, DFR__PULL_EXACT, n, 0, NULL, 0);
}

dfr_deferred *dfr_stream_read_until(dfr_stream *s, const void *delim, size_t delim_len,
                                    size_t max)
{
    if (!delim || delim_len == 0 || delim_len > sizeof s->delim)
        return dfr__net_failed(DFR_EINVAL, NULL);
    return dfr__pull_start(s, DFR__PULL_UNTIL, 0, max, delim, delim_len);
}

dfr_deferred *dfr_stream_read_to_eof(dfr_stream *s, size_t max)
{
    return dfr__pull_start(s, DFR__PULL_EOF, 0, max, NULL, 0);
}
