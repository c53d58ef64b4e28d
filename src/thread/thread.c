/* deferToThread / deferToThreadPool and blockingCallFromThread. */
#include "reactor/reactor_internal.h"

/* ---- deferToThread ---- */

typedef struct defer_job {
    dfr__job base;
    dfr_deferred *d; /* a reference, fired on the reactor thread */
    dfr_task_fn fn;
    void *data;
    dfr_destroy_fn destroy;
    dfr_value result;
} defer_job;

static void defer_job_run(dfr__job *job)
{
    defer_job *j = (defer_job *)job;
    dfr_value v = j->fn(j->data);
    if (dfr_is_deferred(v)) {
        /* A worker cannot wait on a deferred: that belongs to the reactor. */
        dfr_value_drop(v);
        v = dfr__lib_failure_value(DFR_EINVAL);
    }
    j->result = v;
}

static void defer_job_complete(dfr__job *job)
{
    defer_job *j = (defer_job *)job;
    if (!job->ran)
        j->result = dfr__lib_failure_value(DFR_ENOTRUNNING);
    if (j->destroy)
        j->destroy(j->data);
    dfr_deferred_callback(j->d, j->result);
    dfr_deferred_unref(j->d);
    dfr__free(j);
}

/* Hand `job` to pool p for reactor r; on failure the job is not queued. */
static int submit_job(dfr_reactor *r, dfr_threadpool *p, dfr__job *job)
{
    job->r = r;
    job->ran = false;
    dfr__reactor_job_submitted(r);
    int rc = dfr__pool_submit(p, job);
    if (rc) {
        atomic_fetch_sub(&r->jobs_in_flight, 1);
        return rc;
    }
    return 0;
}

dfr_deferred *dfr_defer_to_threadpool(dfr_reactor *r, dfr_threadpool *p, dfr_task_fn fn, void *data,
                                      dfr_destroy_fn destroy)
{
    int owner_rc = r ? dfr__reactor_check(r) : 0; /* wrong thread: a failed deferred */
    if (owner_rc) {
        if (destroy)
            destroy(data);
        return dfr__reactor_refused(owner_rc);
    }
    if (!r || !p || !fn) {
        if (destroy)
            destroy(data);
        return NULL;
    }
    defer_job *j = dfr__malloc(sizeof *j);
    dfr_deferred *d = j ? dfr_deferred_new() : NULL;
    if (!d) {
        dfr__free(j);
        if (destroy)
            destroy(data);
        return NULL;
    }
    j->base.run = defer_job_run;
    j->base.complete = defer_job_complete;
    j->d = dfr_deferred_ref(d);
    j->fn = fn;
    j->data = data;
    j->destroy = destroy;
    j->result = dfr_none();
    if (submit_job(r, p, &j->base) != 0) {
        dfr_deferred_unref(d);
        dfr_deferred_unref(d);
        dfr__free(j);
        if (destroy)
            destroy(data);
        return NULL;
    }
    return d;
}

dfr_deferred *dfr_defer_to_thread(dfr_reactor *r, dfr_task_fn fn, void *data, dfr_destroy_fn destroy)
{
    int owner_rc = r ? dfr__reactor_check(r) : 0; /* wrong thread: a failed deferred */
    if (owner_rc) {
        if (destroy)
            destroy(data);
        return dfr__reactor_refused(owner_rc);
    }
    dfr_threadpool *p = r && fn ? dfr__reactor_pool(r) : NULL;
    if (!p) {
        if (destroy)
            destroy(data);
        return NULL;
    }
    return dfr_defer_to_threadpool(r, p, fn, data, destroy);
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
    if (atomic_fetch_sub(&b->refs, 1) != 1)
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
    atomic_fetch_add(&b->refs, 1);
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

dfr_value dfr_blocking_call_from_thread(dfr_reactor *r, dfr_task_fn fn, void *data)
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
        /* blocking_call_gone ran: it left a result and dropped its reference. */
        dfr_value_drop(b->result);
        blocking_unref(b);
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
