/* Calls handed to the reactor thread (callFromThread) and completed pool jobs.
 * Producers append to an array under a mutex; the reactor swaps the whole
 * array out and runs it outside the lock.  One uv_async_send per batch: the
 * producer that finds the queue idle sends it, the others only append.
 * (bench/ measures this against a lock-free MPSC list; see docs/reactor.md.)
 *
 * The sink is the reactor's registry of pool jobs still out.  Pools know
 * nothing of reactors: a job reports to its sink, and the sink outlives the
 * reactor (refcounted) so that a job finishing after the reactor was freed
 * finds it detached and releases itself.  Locks: a sink's, then the queue's;
 * never a pool's lock with either. */
#include "reactor/reactor_internal.h"

#include <sched.h>
#include <string.h>

struct dfr__sink {
    pthread_mutex_t lock;
    atomic_uint refs;  /* the reactor's, and one per job registered */
    dfr_reactor *r;    /* NULL once the reactor is being freed */
    dfr__job *jobs;    /* out: queued or running, result not yet handed over */
};

int dfr__tq_init(dfr__thread_queue *q)
{
    memset(q, 0, sizeof *q);
    atomic_init(&q->waking, 0);
    return pthread_mutex_init(&q->lock, NULL) == 0 ? 0 : DFR_ENOMEM;
}

static void sink_unref(dfr__sink *s)
{
    if (!dfr__release_last(&s->refs))
        return;
    pthread_mutex_destroy(&s->lock);
    dfr__free(s);
}

void dfr__tq_destroy(dfr__thread_queue *q)
{
    if (q->sink)
        sink_unref(q->sink);
    dfr__free(q->calls);
    dfr__free(q->spare);
    pthread_mutex_destroy(&q->lock);
}

/* Called with the lock held: whether this producer must wake the loop. */
static bool claim_wake(dfr__thread_queue *q)
{
    if (q->wake_pending)
        return false;
    q->wake_pending = true;
    return true;
}

/* Called with the lock held, after claim_wake said yes: the reactor cannot
 * go away until the wake is sent (dfr__tq_discard waits for it). */
static void begin_wake(dfr__thread_queue *q)
{
    atomic_fetch_add_explicit(&q->waking, 1, memory_order_relaxed);
}

static void send_wake(dfr_reactor *r)
{
    dfr__reactor_wake(r);
    atomic_fetch_sub_explicit(&r->tq.waking, 1, memory_order_release);
}

int dfr__tq_push(dfr_reactor *r, dfr_fn fn, void *data, dfr_destroy_fn destroy)
{
    dfr__thread_queue *q = &r->tq;
    pthread_mutex_lock(&q->lock);
    if (q->closed) {
        pthread_mutex_unlock(&q->lock);
        dfr__destroy(destroy, data);
        return DFR_ENOTRUNNING;
    }
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 256;
        dfr__closure *calls = cap <= SIZE_MAX / sizeof *calls
                                 ? dfr__realloc(q->calls, cap * sizeof *calls)
                                 : NULL;
        if (!calls) {
            pthread_mutex_unlock(&q->lock);
            dfr__destroy(destroy, data);
            return DFR_ENOMEM;
        }
        q->calls = calls;
        q->cap = cap;
    }
    q->calls[q->len++] = (dfr__closure){{.call = fn}, data, destroy};
    bool wake = claim_wake(q);
    if (wake)
        begin_wake(q);
    pthread_mutex_unlock(&q->lock);
    if (wake)
        send_wake(r);
    return 0;
}

/* With the job's sink locked (so r is alive): hand the job to r. */
static void push_done(dfr_reactor *r, dfr__job *job)
{
    dfr__thread_queue *q = &r->tq;
    job->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->done_tail)
        q->done_tail->next = job;
    else
        q->done_head = job;
    q->done_tail = job;
    bool wake = claim_wake(q);
    if (wake)
        begin_wake(q);
    pthread_mutex_unlock(&q->lock);
    if (wake)
        send_wake(r);
}

/* ---- the sink ---- */

static void sink_link(dfr__sink *s, dfr__job *job)
{
    job->sprev = NULL;
    job->snext = s->jobs;
    if (s->jobs)
        s->jobs->sprev = job;
    s->jobs = job;
}

static void sink_unlink(dfr__sink *s, dfr__job *job)
{
    if (job->sprev)
        job->sprev->snext = job->snext;
    else
        s->jobs = job->snext;
    if (job->snext)
        job->snext->sprev = job->sprev;
    job->sprev = job->snext = NULL;
}

bool dfr__sink_open(const dfr_reactor *r)
{
    /* Written only on the reactor thread, which is the one asking. */
    return !r->tq.discarding;
}

int dfr__sink_attach(dfr_reactor *r, dfr__job *job)
{
    dfr__thread_queue *q = &r->tq;
    if (!dfr__sink_open(r))
        return DFR_ENOTRUNNING;
    if (!q->sink) {
        dfr__sink *s = dfr__calloc(1, sizeof *s);
        if (!s)
            return DFR_ENOMEM;
        if (pthread_mutex_init(&s->lock, NULL) != 0) {
            dfr__free(s);
            return DFR_ENOMEM;
        }
        atomic_init(&s->refs, 1);
        s->r = r;
        q->sink = s;
    }
    dfr__sink *s = q->sink;
    job->sink = s;
    job->ran = false;
    atomic_init(&job->refs, 1);
    atomic_init(&job->detached, false);
    dfr__ref_add(&s->refs);
    pthread_mutex_lock(&s->lock);
    sink_link(s, job);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

void dfr__sink_detach(dfr__job *job)
{
    dfr__sink *s = job->sink;
    pthread_mutex_lock(&s->lock);
    sink_unlink(s, job);
    pthread_mutex_unlock(&s->lock);
    job->sink = NULL;
    sink_unref(s);
}

/* The last holder of a detached job frees it. */
static void job_unref(dfr__job *job)
{
    if (!dfr__release_last(&job->refs))
        return;
    dfr__sink *s = job->sink;
    job->release(job);
    sink_unref(s);
}

void dfr__job_finish(dfr__job *job)
{
    dfr__sink *s = job->sink;
    pthread_mutex_lock(&s->lock);
    if (atomic_load_explicit(&job->detached, memory_order_relaxed)) {
        pthread_mutex_unlock(&s->lock);
        job_unref(job);
        return;
    }
    sink_unlink(s, job);
    push_done(s->r, job);
    pthread_mutex_unlock(&s->lock);
}

/* At reactor free: every job still out is detached.  Its deferred fails now
 * (abandon); whoever holds the job last (abandon here, or its worker, or the
 * stop or free of its pool) releases the rest. */
static void sink_close(dfr_reactor *r)
{
    r->tq.discarding = true;
    dfr__sink *s = r->tq.sink;
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->r = NULL;
    dfr__job *jobs = s->jobs;
    s->jobs = NULL;
    for (dfr__job *j = jobs; j; j = j->snext) {
        dfr__ref_add(&j->refs);
        atomic_store_explicit(&j->detached, true, memory_order_relaxed);
    }
    pthread_mutex_unlock(&s->lock);
    /* The links are ours now: nobody else walks a detached job's. */
    while (jobs) {
        dfr__job *next = jobs->snext;
        jobs->sprev = jobs->snext = NULL;
        atomic_fetch_sub(&r->jobs_in_flight, 1);
        jobs->abandon(jobs);
        job_unref(jobs);
        jobs = next;
    }
}

/* Everything queued so far, taken under the lock.  The producers get the
 * spare buffer while the caller works through this one.  Returns false
 * when there was nothing (and then the next producer must wake us). */
typedef struct batch {
    dfr__closure *calls;
    size_t len;
    dfr__job *done;
} batch;

static bool take_batch(dfr__thread_queue *q, batch *b, bool close_if_empty)
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
    if (!any) {
        q->wake_pending = false;
        q->closed = close_if_empty;
    }
    pthread_mutex_unlock(&q->lock);
    return any;
}

static void deliver_done(dfr_reactor *r, dfr__job *done)
{
    while (done) {
        dfr__job *next = done->next;
        dfr__sink *s = done->sink;
        atomic_fetch_sub(&r->jobs_in_flight, 1);
        done->complete(done);
        sink_unref(s);
        done = next;
    }
}

/* After a batch: whether more arrived while it ran.  Then the wake stays
 * claimed (producers still do not send one) and the caller sends it;
 * otherwise the next producer wakes the loop. */
static bool more_arrived(dfr__thread_queue *q)
{
    pthread_mutex_lock(&q->lock);
    bool more = q->len > 0 || q->done_head;
    if (!more)
        q->wake_pending = false;
    pthread_mutex_unlock(&q->lock);
    return more;
}

void dfr__tq_drain(dfr_reactor *r)
{
    /* One batch: what was queued when this began.  Calls posted while it
     * runs wait for the next loop iteration (Twisted runs the calls queued
     * at the start of each iteration): producers faster than the reactor
     * must not keep it here, away from its timers, I/O and stop. */
    batch b;
    if (!take_batch(&r->tq, &b, false))
        return;
    for (size_t i = 0; i < b.len; i++) {
        dfr__closure c = b.calls[i];
        dfr__closure_call(&c);
    }
    deliver_done(r, b.done);
    if (more_arrived(&r->tq))
        dfr__reactor_wake(r);
}

void dfr__tq_discard(dfr_reactor *r)
{
    batch b;
    /* Work still out can no longer report here. */
    sink_close(r);
    /* Calls never run: only released.  Finished work still delivers (and
     * may post more calls: the loop releases those too).  The last, empty
     * take closes the queue to calls. */
    while (take_batch(&r->tq, &b, true)) {
        for (size_t i = 0; i < b.len; i++)
            dfr__closure_release(&b.calls[i]);
        deliver_done(r, b.done);
    }
    /* A producer that queued before the close may still be sending its
     * wake-up to the async handle, which is about to be closed. */
    while (atomic_load_explicit(&r->tq.waking, memory_order_acquire) > 0)
        sched_yield();
}
