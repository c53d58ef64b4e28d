/* DeferredSemaphore, and the core it shares with DeferredLock (a lock is a
 * semaphore with one token): acquire, release, and run. */
#include "sync/sync_internal.h"

struct dfr__sem {
    atomic_uint refs; /* the owner's + one per run() in progress */
    unsigned tokens, limit;
    bool freed;
    dfr__waitq waiting;
};

struct dfr_semaphore {
    dfr__sem *core;
};

dfr__sem *dfr__sem_new(unsigned tokens)
{
    dfr__sem *s = dfr__calloc(1, sizeof *s);
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    s->tokens = s->limit = tokens;
    return s;
}

static void sem_unref(dfr__sem *s)
{
    if (dfr__release_last(&s->refs))
        dfr__free(s);
}

void dfr__sem_free(dfr__sem *s)
{
    s->freed = true;
    dfr__waitq_cancel_all(&s->waiting);
    sem_unref(s);
}

dfr_deferred *dfr__sem_acquire(dfr__sem *s, void *self)
{
    if (s->tokens > 0) {
        dfr_deferred *d = dfr_succeed(dfr_ptr(self));
        if (d)
            s->tokens--;
        return d;
    }
    return dfr__waitq_push(&s->waiting);
}

int dfr__sem_release(dfr__sem *s, void *self)
{
    if (s->tokens >= s->limit)
        return DFR_EINVAL;
    dfr_deferred *d = dfr__waitq_pop(&s->waiting);
    if (!d) {
        s->tokens++;
        return 0;
    }
    /* The token passes straight to the oldest waiter. */
    dfr_deferred_callback(d, dfr_ptr(self));
    dfr_deferred_unref(d);
    return 0;
}

unsigned dfr__sem_tokens(const dfr__sem *s)
{
    return s->tokens;
}

size_t dfr__sem_waiting(const dfr__sem *s)
{
    return s->waiting.len;
}

/* run(): acquire, call fn, release once fn's result (maybe a deferred) is in.
 * data belongs to the work until then: destroy(data) runs when the slot is
 * given back (just before, so the next job never overlaps a live data of
 * this one), or when the job ends without running (cancelled or freed).
 * The job is shared by the entry on the acquire deferred and, when fn
 * returns a deferred, by the release entry on that one. */
typedef struct run_job {
    atomic_uint refs;
    dfr__sem *sem; /* a reference */
    void *self;
    dfr_task_fn fn;
    void *data;
    dfr_destroy_fn destroy; /* NULL once run */
} run_job;

static void job_destroy_data(run_job *job)
{
    dfr_destroy_fn destroy = job->destroy;
    job->destroy = NULL;
    dfr__destroy(destroy, job->data);
}

static void job_unref(void *data)
{
    run_job *job = data;
    if (!dfr__release_last(&job->refs))
        return;
    job_destroy_data(job);
    sem_unref(job->sem);
    dfr__free(job);
}

/* The work is over: release its data, then its slot.  v, fn's result, goes
 * on — unless a stray release already gave the slot back: then, as Twisted's
 * assertion in release does, the run fails with that refusal (v dropped). */
static dfr_value job_finish(run_job *job, dfr_value v)
{
    job_destroy_data(job);
    if (!job->sem->freed && dfr__sem_release(job->sem, job->self) != 0) {
        dfr_value_drop(v);
        return dfr__lib_failure_value(DFR_EINVAL);
    }
    return v;
}

static dfr_value job_release_step(dfr_value v, void *data)
{
    return job_finish(data, v);
}

static dfr_value job_execute(dfr_value v, void *data)
{
    run_job *job = data;
    dfr_value_drop(v);
    dfr_value r = job->fn(job->data);
    if (!dfr_is_deferred(r))
        return job_finish(job, r);
    /* Hold the slot and data until fn's deferred fires. */
    dfr__ref_add(&job->refs);
    if (dfr_deferred_add_both(r.u.ptr, job_release_step, job, job_unref) != 0) {
        dfr_value_drop(job_finish(job, r));
        return dfr_value_failure(dfr__failure_static(DFR_ENOMEM));
    }
    return r;
}

dfr_deferred *dfr__sem_run(dfr__sem *s, void *self, dfr_task_fn fn, void *data,
                           dfr_destroy_fn destroy)
{
    run_job *job = dfr__malloc(sizeof *job);
    if (!job) {
        dfr__destroy(destroy, data);
        return NULL;
    }
    dfr__ref_add(&s->refs);
    atomic_init(&job->refs, 1);
    job->sem = s;
    job->self = self;
    job->fn = fn;
    job->data = data;
    job->destroy = destroy;
    dfr_deferred *d = dfr__sem_acquire(s, self);
    if (!d) {
        job_unref(job);
        return NULL;
    }
    /* d is new, so its first entry is inline: this cannot fail. */
    if (dfr_deferred_add_callback(d, job_execute, job, job_unref) != 0) {
        dfr_deferred_unref(d);
        return NULL;
    }
    return d;
}

dfr_semaphore *dfr_semaphore_new(unsigned tokens)
{
    if (tokens == 0)
        return NULL;
    dfr_semaphore *s = dfr__malloc(sizeof *s);
    if (!s)
        return NULL;
    s->core = dfr__sem_new(tokens);
    if (!s->core) {
        dfr__free(s);
        return NULL;
    }
    return s;
}

void dfr_semaphore_free(dfr_semaphore *s)
{
    if (!s)
        return;
    dfr__sem_free(s->core);
    dfr__free(s);
}

dfr_deferred *dfr_semaphore_acquire(dfr_semaphore *s)
{
    return s ? dfr__sem_acquire(s->core, s) : dfr__refused(DFR_EINVAL);
}

int dfr_semaphore_release(dfr_semaphore *s)
{
    return s ? dfr__sem_release(s->core, s) : DFR_EINVAL;
}

unsigned dfr_semaphore_tokens(const dfr_semaphore *s)
{
    return s ? dfr__sem_tokens(s->core) : 0;
}

size_t dfr_semaphore_waiting(const dfr_semaphore *s)
{
    return s ? dfr__sem_waiting(s->core) : 0;
}

dfr_deferred *dfr_semaphore_run(dfr_semaphore *s, dfr_task_fn fn, void *data, dfr_destroy_fn destroy)
{
    if (!s || !fn) {
        dfr__destroy(destroy, data);
        return dfr__refused(DFR_EINVAL);
    }
    return dfr__sem_run(s->core, s, fn, data, destroy);
}
