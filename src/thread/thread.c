/* deferToThread / deferToThreadPool and blockingCallFromThread. */
#include "thread/thread_internal.h"

/* ---- deferToThread ---- */

typedef struct defer_job {
    dfr__job base;
    dfr_deferred *d; /* a reference, fired on the reactor thread */
    dfr__closure task;
    dfr_value result;
} defer_job;

static void defer_job_run(dfr__job *job)
{
    defer_job *j = (defer_job *)job;
    /* A deferred returned here is refused on the reactor thread, which owns
     * it: dropping it on the worker could race with its owner. */
    j->result = j->task.fn.task(j->task.data);
}

static void defer_job_complete(dfr__job *job)
{
    defer_job *j = (defer_job *)job;
    if (!job->ran) {
        j->result = dfr__lib_failure_value(DFR_ENOTRUNNING);
    } else if (dfr_is_deferred(j->result)) {
        /* A worker cannot wait on a deferred: that belongs to the reactor. */
        dfr_value_drop(j->result);
        j->result = dfr__lib_failure_value(DFR_EINVAL);
    }
    dfr__closure_release(&j->task);
    dfr_deferred_callback(j->d, j->result);
    dfr_deferred_unref(j->d);
    dfr__free(j);
}

/* The reactor is being freed while the job is out: its deferred fails now,
 * on the reactor thread; data waits for the worker (defer_job_release). */
static void defer_job_abandon(dfr__job *job)
{
    defer_job *j = (defer_job *)job;
    dfr_deferred *d = j->d;
    j->d = NULL;
    dfr_deferred_callback(d, dfr__lib_failure_value(DFR_ENOTRUNNING));
    dfr_deferred_unref(d);
}

/* A detached job's end, on whichever thread held it last. */
static void defer_job_release(dfr__job *job)
{
    defer_job *j = (defer_job *)job;
    dfr_value_drop(j->result);
    dfr__closure_release(&j->task);
    dfr__free(j);
}

/* deferToThread on pool p, or on r's own pool when p is NULL. */
static dfr_deferred *defer_to(dfr_reactor *r, dfr_threadpool *p, dfr_task_fn fn, void *data,
                              dfr_destroy_fn destroy)
{
    defer_job *j = dfr__malloc(sizeof *j);
    dfr_deferred *d = j ? dfr_deferred_new() : NULL;
    if (!d) {
        dfr__free(j);
        dfr__destroy(destroy, data);
        return NULL;
    }
    *j = (defer_job){.base = {.run = defer_job_run,
                              .complete = defer_job_complete,
                              .abandon = defer_job_abandon,
                              .release = defer_job_release},
                     .d = d,
                     .task = {{.task = fn}, data, destroy},
                     .result = dfr_none()};
    int rc = dfr__sink_attach(r, &j->base);
    if (rc == DFR_ENOTRUNNING) {
        /* The reactor is being freed: fail as its jobs still out did. */
        dfr_deferred_ref(d);
        defer_job_complete(&j->base);
        return d;
    }
    if (rc == 0) {
        if (!p)
            p = dfr__reactor_pool(r);
        rc = p ? dfr__pool_submit(p, &j->base) : DFR_ENOMEM;
        if (rc)
            dfr__sink_detach(&j->base);
    }
    if (rc) {
        dfr_deferred_unref(d);
        dfr__free(j);
        dfr__destroy(destroy, data);
        return NULL;
    }
    /* Counted only now: results are delivered on this thread, so none can
     * arrive before. */
    dfr__reactor_job_submitted(r);
    return dfr_deferred_ref(d);
}

dfr_deferred *dfr_reactor_defer_to_threadpool(dfr_reactor *r, dfr_threadpool *p, dfr_task_fn fn, void *data,
                                      dfr_destroy_fn destroy)
{
    int rc = dfr__reactor_check(r); /* wrong thread, reactor going */
    if (!rc && (!p || !fn))
        rc = DFR_EINVAL;
    if (rc) {
        if (destroy)
            destroy(data);
        return dfr__reactor_refused(rc);
    }
    return defer_to(r, p, fn, data, destroy);
}

dfr_deferred *dfr_reactor_defer_to_thread(dfr_reactor *r, dfr_task_fn fn, void *data, dfr_destroy_fn destroy)
{
    int rc = dfr__reactor_check(r); /* wrong thread, reactor going */
    if (!rc && !fn)
        rc = DFR_EINVAL;
    if (rc) {
        if (destroy)
            destroy(data);
        return dfr__reactor_refused(rc);
    }
    return defer_to(r, NULL, fn, data, destroy);
}

/* ---- blockingCallFromThread ---- */

typedef struct blocking_call {
    atomic_uint refs; /* the waiting thread's and the reactor side's */
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    bool done;
    bool ran; /* blocking_run started (reactor thread only) */
    dfr_value result;
    dfr_task_fn fn;
    void *data;
} blocking_call;

static void blocking_unref(blocking_call *b)
{
    if (!dfr__release_last(&b->refs))
        return;
    pthread_cond_destroy(&b->done_cond);
    pthread_mutex_destroy(&b->lock);
    dfr__free(b);
}

/* The first result wins; later ones (a deferred freed after firing) drop. */
static void deliver(blocking_call *b, dfr_value v)
{
    pthread_mutex_lock(&b->lock);
    if (b->done) {
        pthread_mutex_unlock(&b->lock);
        dfr_value_drop(v);
        return;
    }
    b->done = true;
    b->result = v;
    pthread_cond_signal(&b->done_cond);
    pthread_mutex_unlock(&b->lock);
}

static dfr_value blocking_fired(dfr_value v, void *data)
{
    deliver(data, v);
    return dfr_none();
}

/* The deferred went away (freed unfired, or after firing): release our side. */
static void blocking_entry_gone(void *data)
{
    blocking_call *b = data;
    deliver(b, dfr__lib_failure_value(DFR_ECANCELLED));
    blocking_unref(b);
}

static void blocking_run(void *data)
{
    blocking_call *b = data;
    b->ran = true;
    dfr_value v = b->fn(b->data);
    if (!dfr_is_deferred(v)) {
        deliver(b, v);
        return;
    }
    dfr__ref_add(&b->refs);
    if (dfr_deferred_add_both(v.u.ptr, blocking_fired, b, blocking_entry_gone) != 0)
        deliver(b, dfr_value_failure(dfr__failure_static(DFR_ENOMEM)));
    dfr_value_drop(v);
}

/* After blocking_run, or instead of it when the reactor goes away first. */
static void blocking_call_gone(void *data)
{
    blocking_call *b = data;
    if (!b->ran)
        deliver(b, dfr__lib_failure_value(DFR_ENOTRUNNING));
    blocking_unref(b);
}

dfr_value dfr_reactor_blocking_call_from_thread(dfr_reactor *r, dfr_task_fn fn, void *data)
{
    if (!r || !fn)
        return dfr__lib_failure_value(DFR_EINVAL);
    if (dfr__on_reactor_thread(r))
        return dfr__lib_failure_value(DFR_EDEADLK);
    blocking_call *b = dfr__calloc(1, sizeof *b);
    if (!b)
        return dfr_value_failure(dfr__failure_static(DFR_ENOMEM));
    if (pthread_mutex_init(&b->lock, NULL) != 0) {
        dfr__free(b);
        return dfr_value_failure(dfr__failure_static(DFR_ENOMEM));
    }
    pthread_cond_init(&b->done_cond, NULL);
    atomic_init(&b->refs, 2);
    b->fn = fn;
    b->data = data;
    int rc = dfr__tq_push(r, blocking_run, b, blocking_call_gone);
    if (rc) {
        /* blocking_call_gone ran: it left DFR_ENOTRUNNING and dropped its
         * reference.  That is the answer once r is being freed. */
        dfr_value v = b->result;
        blocking_unref(b);
        if (rc == DFR_ENOTRUNNING)
            return v;
        dfr_value_drop(v);
        return dfr_value_failure(dfr__failure_static(DFR_ENOMEM));
    }
    pthread_mutex_lock(&b->lock);
    while (!b->done)
        pthread_cond_wait(&b->done_cond, &b->lock);
    dfr_value v = b->result;
    b->result = dfr_none();
    pthread_mutex_unlock(&b->lock);
    blocking_unref(b);
    return v;
}
