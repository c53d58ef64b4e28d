/* Framing on the pull buffer: lines (Twisted's LineReceiver) and netstrings
 * (NetstringReceiver), each with a maximum length.  A frame over its
 * maximum or malformed fails with DFR_EFRAME and closes that stream. */
#include "net/net_internal.h"

#include <stdio.h>
#include <string.h>

#define LINE_DEFAULT_MAX ((size_t)16384)
#define NETSTRING_DEFAULT_MAX ((size_t)99999)

static dfr_value take(dfr_stream *s, size_t skip_after, size_t n)
{
    dfr_value v = dfr_bytes_new(s->in + s->in_start, n);
    if (!dfr_is_failure(v)) {
        s->in_start += n + skip_after;
        s->in_len -= n + skip_after;
        if (s->in_len == 0)
            s->in_start = 0;
    }
    return v;
}

int dfr__frame_line(dfr_stream *s, size_t max, dfr_value *out)
{
    if (!max)
        max = LINE_DEFAULT_MAX;
    const char *p = s->in + s->in_start;
    const char *nl = s->in_len ? memchr(p, '\n', s->in_len) : NULL;
    if (!nl)
        /* "\r" may still come before the "\n": allow one byte more (max + 1
         * would wrap for SIZE_MAX). */
        return s->in_len > max && s->in_len - max > 1 ? DFR_EFRAME : 0;
    size_t n = (size_t)(nl - p);
    size_t body = n > 0 && p[n - 1] == '\r' ? n - 1 : n;
    if (body > max)
        return DFR_EFRAME;
    *out = take(s, n + 1 - body, body);
    return 1;
}

int dfr__frame_netstring(dfr_stream *s, size_t max, dfr_value *out)
{
    if (!max)
        max = NETSTRING_DEFAULT_MAX;
    const char *p = s->in + s->in_start;
    size_t n = s->in_len, i = 0, len = 0;
    for (; i < n && p[i] != ':'; i++) {
        if (p[i] < '0' || p[i] > '9')
            return DFR_EFRAME;
        if (i == 1 && p[0] == '0') /* no leading zeros */
            return DFR_EFRAME;
        /* len * 10 + d > max, without overflowing size_t. */
        size_t d = (size_t)(p[i] - '0');
        if (len > max / 10 || d > max - len * 10)
            return DFR_EFRAME;
        len = len * 10 + d;
    }
    if (i == n)
        return 0; /* the length is not complete yet */
    if (i == 0)
        return DFR_EFRAME;
    size_t start = i + 1;
    if (n - start <= len) /* n < start + len + 1, which could wrap */
        return 0;
    if (p[start + len] != ',')
        return DFR_EFRAME;
    s->in_start += start;
    s->in_len -= start;
    *out = take(s, 1, len);
    if (dfr_is_failure(*out)) {
        s->in_start -= start;
        s->in_len += start;
    }
    return 1;
}

dfr_deferred *dfr_stream_read_line(dfr_stream *s, size_t max)
{
    return dfr__pull_start(s, DFR__PULL_LINE, 0, max, NULL, 0);
}

dfr_deferred *dfr_stream_read_netstring(dfr_stream *s, size_t max)
{
    return dfr__pull_start(s, DFR__PULL_NETSTRING, 0, max, NULL, 0);
}

int dfr_stream_write_netstring(dfr_stream *s, const void *buf, size_t len)
{
    if (!buf && len)
        return DFR_EINVAL;
    char head[32];
    int h = snprintf(head, sizeof head, "%zu:", len);
    size_t total = (size_t)h + len + 1;
    char *p = dfr__malloc(total);
    if (!p)
        return s ? DFR_ENOMEM : DFR_EINVAL;
    memcpy(p, head, (size_t)h);
    if (len)
        memcpy(p + h, buf, len);
    p[total - 1] = ',';
    return dfr_stream_write_owned(s, p, total, dfr__free);
}

/* ---- push style: a protocol that decodes frames from the stream's buffer ---- */

void dfr__framing_decode(dfr_stream *s)
{
    /* Paused: frames wait in the buffer, as LineReceiver's do. */
    while (!s->closing && !s->close_after_flush && s->live && !s->paused) {
        dfr_value v = dfr_none();
        int rc = s->framing == DFR_FRAMING_LINES ? dfr__frame_line(s, s->frame_max, &v)
                                                 : dfr__frame_netstring(s, s->frame_max, &v);
        if (rc == 0)
            return;
        if (rc < 0) {
            dfr_failure_unref(s->flush_reason);
            s->flush_reason = dfr__net_failure_code(DFR_EFRAME, NULL);
            dfr_stream_close(s);
            return;
        }
        if (dfr_is_failure(v)) {
            dfr_value_drop(v);
            dfr__stream_close_with(s, dfr__net_failure_code(DFR_ENOMEM, NULL));
            return;
        }
        if (s->frame_received)
            s->frame_received(s, dfr_bytes_data(&v), dfr_bytes_len(&v), s->pdata);
        dfr_value_drop(v);
    }
}

static void framed_data(dfr_stream *s, const void *buf, size_t len, void *data)
{
    DFR_UNUSED(data);
    if (dfr__stream_buffer(s, buf, len) != 0) {
        dfr__stream_close_with(s, dfr__net_failure_code(DFR_ENOMEM, NULL));
        return;
    }
    dfr__framing_decode(s);
}

int dfr_stream_set_framed_protocol(dfr_stream *s, const dfr_framed_protocol *p, void *data,
                                   dfr_destroy_fn destroy)
{
    dfr_framed_protocol fp;
    memset(&fp, 0, sizeof fp);
    if (p && p->size >= sizeof(size_t))
        memcpy(&fp, p, p->size < sizeof fp ? p->size : sizeof fp);
    int rc = dfr__stream_check(s);
    if (!rc && (!p || (fp.framing != DFR_FRAMING_LINES && fp.framing != DFR_FRAMING_NETSTRINGS) ||
                s->has_protocol))
        rc = DFR_EINVAL;
    if (rc) {
        dfr__destroy(destroy, data);
        return rc;
    }
    dfr_protocol proto;
    memset(&proto, 0, sizeof proto);
    proto.size = sizeof proto;
    proto.connection_made = fp.connection_made;
    proto.data_received = framed_data;
    proto.connection_lost = fp.connection_lost;
    int old = s->framing;
    s->framing = fp.framing;
    rc = dfr_stream_set_protocol(s, &proto, data, destroy);
    if (rc) {
        s->framing = old;
        return rc;
    }
    s->frame_max = fp.max;
    s->frame_received = fp.frame_received;
    /* Bytes buffered before the protocol came are frames too. */
    dfr__stream_hold(s);
    dfr__framing_decode(s);
    dfr__stream_release(s);
    return 0;
}
