/* DeferredQueue: values wait for getters, or getters wait for values. */
#include "sync/sync_internal.h"

struct dfr_queue {
    size_t size, backlog;
    dfr_value *ring; /* pending values: ring[(start + i) % cap] */
    size_t start, len, cap;
    dfr__waitq waiting;
};

dfr_queue *dfr_queue_new(size_t size, size_t backlog)
{
    dfr_queue *q = dfr__calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->size = size;
    q->backlog = backlog;
    return q;
}

void dfr_queue_free(dfr_queue *q)
{
    if (!q)
        return;
    dfr__waitq_cancel_all(&q->waiting);
    for (size_t i = 0; i < q->len; i++)
        dfr_value_drop(q->ring[(q->start + i) % q->cap]);
    dfr__free(q->ring);
    dfr__free(q);
}

static int ring_push(dfr_queue *q, dfr_value v)
{
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 8;
        if (cap < q->cap || cap > SIZE_MAX / sizeof(dfr_value))
            return DFR_ENOMEM;
        dfr_value *ring = dfr__malloc(cap * sizeof(dfr_value));
        if (!ring)
            return DFR_ENOMEM;
        for (size_t i = 0; i < q->len; i++)
            ring[i] = q->ring[(q->start + i) % q->cap];
        dfr__free(q->ring);
        q->ring = ring;
        q->cap = cap;
        q->start = 0;
    }
    q->ring[(q->start + q->len) % q->cap] = v;
    q->len++;
    return 0;
}

static dfr_value ring_pop(dfr_queue *q)
{
    dfr_value v = q->ring[q->start];
    q->start = (q->start + 1) % q->cap;
    q->len--;
    return v;
}

int dfr_queue_put(dfr_queue *q, dfr_value v)
{
    if (!q || dfr_is_deferred(v)) {
        dfr_value_drop(v);
        return DFR_EINVAL;
    }
    dfr_deferred *getter = dfr__waitq_pop(&q->waiting);
    if (getter) {
        dfr_deferred_callback(getter, v);
        dfr_deferred_unref(getter);
        return 0;
    }
    if (q->len >= q->size) {
        dfr_value_drop(v);
        return DFR_EOVERFLOW;
    }
    int rc = ring_push(q, v);
    if (rc)
        dfr_value_drop(v);
    return rc;
}

dfr_deferred *dfr_queue_get(dfr_queue *q)
{
    if (!q)
        return dfr__refused(DFR_EINVAL);
    if (q->len > 0) {
        dfr_deferred *d = dfr_deferred_new();
        if (!d)
            return NULL;
        dfr_deferred_callback(d, ring_pop(q));
        return d;
    }
    if (q->waiting.len >= q->backlog)
        return dfr_fail(dfr__failure_lib(DFR_EUNDERFLOW));
    return dfr__waitq_push(&q->waiting);
}

size_t dfr_queue_pending(const dfr_queue *q)
{
    return q ? q->len : 0;
}

size_t dfr_queue_waiting(const dfr_queue *q)
{
    return q ? q->waiting.len : 0;
}
