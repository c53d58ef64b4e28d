/* Framing on the pull buffer: lines (Twisted's LineReceiver) and netstrings
 * (NetstringReceiver), each with a maximum length.  A frame over its
 * maximum or malformed fails with DFR_EFRAME and closes that stream. */
#include "net_internal.h"

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
        /* "\r" may still come before the "\n": allow one byte more. */
        return s->in_len > max + 1 ? DFR_EFRAME : 0;
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
        len = len * 10 + (size_t)(p[i] - '0');
        if (len > max)
            return DFR_EFRAME;
    }
    if (i == n)
        return 0; /* the length is not complete yet */
    if (i == 0)
        return DFR_EFRAME;
    size_t start = i + 1;
    if (n < start + len + 1)
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
    return dfr__pull_start(s, PULL_LINE, 0, max, NULL, 0);
}

dfr_deferred *dfr_stream_read_netstring(dfr_stream *s, size_t max)
{
    return dfr__pull_start(s, PULL_NETSTRING, 0, max, NULL, 0);
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
