/* Calls handed to the reactor thread (callFromThread) and completed pool jobs.
 * Producers append to an array under a mutex; the reactor swaps the whole
 * array out and runs it outside the lock.  One uv_async_send per batch: the
 * producer that finds the queue idle sends it, the others only append.
 * (bench/ measures this against a lock-free MPSC list; see docs/reactor.md.) */
#include "reactor_internal.h"

#include <string.h>

int dfr__tq_init(thread_queue *q)
{
    memset(q, 0, sizeof *q);
    return pthread_mutex_init(&q->lock, NULL) == 0 ? 0 : DFR_ENOMEM;
}

void dfr__tq_destroy(thread_queue *q)
{
    dfr__free(q->calls);
    dfr__free(q->spare);
    pthread_mutex_destroy(&q->lock);
}

/* Called with the lock held: whether this producer must wake the loop. */
static bool claim_wake(thread_queue *q)
{
    if (q->wake_pending)
        return false;
    q->wake_pending = true;
    return true;
}

int dfr__tq_push(dfr_reactor *r, dfr_fn fn, void *data, dfr_destroy_fn destroy)
{
    thread_queue *q = &r->tq;
    pthread_mutex_lock(&q->lock);
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 256;
        thread_call *calls = cap <= SIZE_MAX / sizeof *calls
                                 ? dfr__realloc(q->calls, cap * sizeof *calls)
                                 : NULL;
        if (!calls) {
            pthread_mutex_unlock(&q->lock);
            if (destroy)
                destroy(data);
            return DFR_ENOMEM;
        }
        q->calls = calls;
        q->cap = cap;
    }
    q->calls[q->len++] = (thread_call){fn, data, destroy};
    bool wake = claim_wake(q);
    pthread_mutex_unlock(&q->lock);
    if (wake)
        dfr__reactor_wake(r);
    return 0;
}

void dfr__tq_push_done(dfr_reactor *r, dfr__job *job)
{
    thread_queue *q = &r->tq;
    job->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->done_tail)
        q->done_tail->next = job;
    else
        q->done_head = job;
    q->done_tail = job;
    bool wake = claim_wake(q);
    pthread_mutex_unlock(&q->lock);
    if (wake)
        dfr__reactor_wake(r);
}

/* Everything queued so far, taken under the lock.  The producers get the
 * spare buffer while the caller works through this one.  Returns false
 * when there was nothing (and then the next producer must wake us). */
typedef struct batch {
    thread_call *calls;
    size_t len;
    dfr__job *done;
} batch;

static bool take_batch(thread_queue *q, batch *b)
{
    pthread_mutex_lock(&q->lock);
    b->calls = q->calls;
    b->len = q->len;
    b->done = q->done_head;
    size_t cap = q->cap;
    q->calls = q->spare;
    q->cap = q->spare_cap;
    q->len = 0;
    q->spare = b->calls;
    q->spare_cap = cap;
    q->done_head = q->done_tail = NULL;
    bool any = b->len > 0 || b->done;
    if (!any)
        q->wake_pending = false;
    pthread_mutex_unlock(&q->lock);
    return any;
}

static void deliver_done(dfr_reactor *r, dfr__job *done)
{
    while (done) {
        dfr__job *next = done->next;
        atomic_fetch_sub(&r->jobs_in_flight, 1);
        done->complete(done);
        done = next;
    }
}

void dfr__tq_drain(dfr_reactor *r)
{
    batch b;
    while (take_batch(&r->tq, &b)) {
        for (size_t i = 0; i < b.len; i++) {
            thread_call c = b.calls[i];
            c.fn(c.data);
            if (c.destroy)
                c.destroy(c.data);
        }
        deliver_done(r, b.done);
    }
}

void dfr__tq_discard(dfr_reactor *r)
{
    batch b;
    /* Calls never run: only released.  Finished work still delivers (and
     * may post more calls: the loop releases those too). */
    while (take_batch(&r->tq, &b)) {
        for (size_t i = 0; i < b.len; i++)
            if (b.calls[i].destroy)
                b.calls[i].destroy(b.calls[i].data);
        deliver_done(r, b.done);
    }
}
