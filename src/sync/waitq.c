/* A FIFO of deferreds waiting on a lock, semaphore or queue.  Each waiter's
 * canceller unlinks it, so a cancelled waiter leaves the queue at once. */
#include "sync/sync_internal.h"

struct dfr__waitq_node {
    dfr__waitq_node *prev, *next;
    dfr__waitq *q; /* NULL once unlinked */
    dfr_deferred *d;
};

static void unlink_node(dfr__waitq_node *n)
{
    dfr__waitq *q = n->q;
    if (n->prev)
        n->prev->next = n->next;
    else
        q->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        q->tail = n->prev;
    q->len--;
    n->q = NULL;
    n->prev = n->next = NULL;
}

static void waiter_cancelled(dfr_deferred *d, void *data)
{
    dfr__waitq_node *n = data;
    if (n->q) {
        unlink_node(n);
        dfr_deferred_unref(d); /* the queue's reference; the canceller's caller holds one */
    }
}

/* The waiter got a result (or was freed): it no longer waits. */
static void waiter_done(void *data)
{
    dfr__waitq_node *n = data;
    if (n->q) {
        unlink_node(n);
        dfr_deferred_unref(n->d);
    }
    dfr__free(n);
}

dfr_deferred *dfr__waitq_push(dfr__waitq *q)
{
    dfr__waitq_node *n = dfr__calloc(1, sizeof *n);
    if (!n)
        return NULL;
    dfr_deferred *d = dfr_deferred_new_cancellable(waiter_cancelled, n, waiter_done);
    if (!d)
        return NULL; /* waiter_done freed n */
    n->d = dfr_deferred_ref(d);
    n->q = q;
    n->prev = q->tail;
    if (q->tail)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    q->len++;
    return d;
}

dfr_deferred *dfr__waitq_pop(dfr__waitq *q)
{
    dfr__waitq_node *n = q->head;
    if (!n)
        return NULL;
    unlink_node(n);
    return n->d;
}

void dfr__waitq_cancel_all(dfr__waitq *q)
{
    dfr_deferred *d;
    while ((d = dfr__waitq_pop(q)) != NULL) {
        dfr_deferred_errback(d, dfr__failure_lib(DFR_ECANCELLED));
        dfr_deferred_unref(d);
    }
}
