/* Thread pools: a FIFO of jobs under one mutex, threads started on demand up
 * to `max`, joined when the pool stops.  Each reactor has its own pool, so
 * each sizes its own; users can make more.
 *
 * States: stopped -> started -> stopping -> stopped.  A stop runs the jobs
 * queued when it began (`drain` of them) and leaves later ones for the next
 * start.  Callers that meet a stop in progress (a second stop, a start, a
 * free) wait for it to end; `waiters` counts them so that free outlasts
 * them.  A pool knows nothing of reactors: a job's end goes to
 * dfr__job_finish, outside the pool's lock. */
#include "thread/thread_internal.h"

#include <string.h>

enum pool_state { P_STOPPED, P_STARTED, P_STOPPING };

struct dfr_threadpool {
    pthread_mutex_t lock;
    pthread_cond_t work;    /* a job was queued, or stop */
    pthread_cond_t changed; /* a stop ended, or a waiter left */
    dfr__job *head, *tail;  /* queued jobs */
    size_t queued;
    size_t drain; /* while stopping: queued jobs still to run before the threads end */
    unsigned min, max;
    unsigned threads, idle;
    unsigned busy; /* threads running a job; the others are idle or starting */
    enum pool_state state;
    uint64_t stops;   /* stops ended so far */
    unsigned waiters; /* threads waiting in start, stop or free for a stop to end */
    bool freeing;
    pthread_t *tids;
    unsigned ntids, captids;
    char name[16];
};

/* The pool whose worker this thread is: stopping or freeing it from one of
 * its own jobs would wait for itself. */
static _Thread_local dfr_threadpool *current_pool;

dfr_threadpool *dfr__pool_new(unsigned min, unsigned max, const char *name)
{
    if (max == 0 || min > max)
        return NULL;
    dfr_threadpool *p = dfr__calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        dfr__free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->work, NULL) != 0) {
        pthread_mutex_destroy(&p->lock);
        dfr__free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->changed, NULL) != 0) {
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->lock);
        dfr__free(p);
        return NULL;
    }
    p->min = min;
    p->max = max;
    snprintf(p->name, sizeof p->name, "%s", name ? name : "dfr-pool");
    return p;
}

dfr_threadpool *dfr_threadpool_new(unsigned min, unsigned max, const char *name)
{
    return dfr__pool_new(min, max, name);
}

/* With the lock held: take the first queued job. */
static dfr__job *take_head(dfr_threadpool *p)
{
    dfr__job *job = p->head;
    p->head = job->next;
    if (!p->head)
        p->tail = NULL;
    job->next = NULL;
    p->queued--;
    return job;
}

static void *worker(void *arg)
{
    dfr_threadpool *p = arg;
    current_pool = p;
    pthread_setname_np(pthread_self(), p->name);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        if (p->state == P_STOPPING) {
            if (p->drain == 0)
                break;
            p->drain--; /* queued >= drain: the head is there */
        } else if (!p->head) {
            p->idle++;
            pthread_cond_wait(&p->work, &p->lock);
            p->idle--;
            continue;
        }
        dfr__job *job = take_head(p);
        p->busy++;
        pthread_mutex_unlock(&p->lock);
        /* A job whose reactor is gone is released without running. */
        if (!atomic_load_explicit(&job->detached, memory_order_relaxed)) {
            job->run(job);
            job->ran = true;
        }
        dfr__job_finish(job);
        pthread_mutex_lock(&p->lock);
        p->busy--;
    }
    p->threads--;
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* With the lock held: start one more thread.  0 or DFR_ENOMEM. */
static int spawn(dfr_threadpool *p)
{
    if (p->ntids == p->captids) {
        unsigned cap = p->captids ? p->captids * 2 : 8;
        pthread_t *tids = dfr__realloc(p->tids, cap * sizeof *tids);
        if (!tids)
            return DFR_ENOMEM;
        p->tids = tids;
        p->captids = cap;
    }
    if (pthread_create(&p->tids[p->ntids], NULL, worker, p) != 0)
        return DFR_ENOMEM; /* EAGAIN: out of threads or memory for a stack */
    p->ntids++;
    p->threads++;
    return 0;
}

/* With the lock held: enough threads for the queued work, within max. */
static void grow_for_work(dfr_threadpool *p)
{
    while (p->threads < p->min && spawn(p) == 0) {
    }
    while (p->queued > p->threads - p->busy && p->threads < p->max && spawn(p) == 0) {
    }
}

/* With the lock held, a stop in progress: wait until it has ended. */
static void wait_for_stop(dfr_threadpool *p)
{
    uint64_t stops = p->stops;
    p->waiters++;
    while (p->stops == stops)
        pthread_cond_wait(&p->changed, &p->lock);
    p->waiters--;
    pthread_cond_broadcast(&p->changed); /* free may be waiting for us to leave */
}

int dfr_threadpool_start(dfr_threadpool *p)
{
    if (!p)
        return DFR_EINVAL;
    pthread_mutex_lock(&p->lock);
    if (p->state == P_STOPPING) {
        if (current_pool == p) {
            pthread_mutex_unlock(&p->lock);
            return DFR_EDEADLK;
        }
        wait_for_stop(p);
    }
    int rc = 0;
    if (p->freeing)
        rc = DFR_EINVAL;
    else if (p->state != P_STOPPED)
        rc = DFR_EALREADY_STARTED;
    if (rc) {
        pthread_mutex_unlock(&p->lock);
        return rc;
    }
    p->state = P_STARTED;
    grow_for_work(p); /* work queued before start gets its threads now */
    if (p->threads == 0 && (p->min > 0 || p->head)) {
        /* Not one thread: stay stopped, the queue intact, so that a later
         * start can try again. */
        p->state = P_STOPPED;
        pthread_mutex_unlock(&p->lock);
        return DFR_ENOMEM;
    }
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int dfr__pool_submit(dfr_threadpool *p, dfr__job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&p->lock);
    dfr__job *prev = p->tail;
    if (prev)
        prev->next = job;
    else
        p->head = job;
    p->tail = job;
    p->queued++;
    if (p->state == P_STARTED) {
        /* A thread per queued job, while under max: idle ones first.  When
         * no thread can be made, the queued job waits for a busy one. */
        if (p->queued > p->threads - p->busy && p->threads < p->max && spawn(p) != 0 &&
            p->threads == 0) {
            /* No thread at all to run it: take this job back (only this
             * one: the others stay queued). */
            p->tail = prev;
            if (prev)
                prev->next = NULL;
            else
                p->head = NULL;
            p->queued--;
            pthread_mutex_unlock(&p->lock);
            return DFR_ENOMEM;
        }
        if (p->idle > 0)
            pthread_cond_signal(&p->work);
    }
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* Run the jobs queued so far, then join every thread.  Called with the lock
 * held; returns with it held.  A stop already in progress is waited for. */
static int stop_locked(dfr_threadpool *p)
{
    if (current_pool == p)
        return DFR_EDEADLK;
    if (p->state == P_STOPPING) {
        wait_for_stop(p);
        return 0;
    }
    if (p->state == P_STOPPED)
        return 0;
    p->state = P_STOPPING;
    p->drain = p->queued;
    pthread_cond_broadcast(&p->work);
    pthread_t *tids = p->tids;
    unsigned n = p->ntids;
    p->tids = NULL;
    p->ntids = p->captids = 0;
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < n; i++)
        pthread_join(tids[i], NULL);
    dfr__free(tids);
    pthread_mutex_lock(&p->lock);
    p->state = P_STOPPED;
    p->stops++;
    pthread_cond_broadcast(&p->changed);
    return 0;
}

void dfr__pool_drain(dfr_threadpool *p)
{
    pthread_mutex_lock(&p->lock);
    stop_locked(p);
    pthread_mutex_unlock(&p->lock);
}

int dfr_threadpool_stop(dfr_threadpool *p)
{
    if (!p)
        return DFR_EINVAL;
    pthread_mutex_lock(&p->lock);
    int rc = stop_locked(p);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int dfr__pool_resize(dfr_threadpool *p, unsigned min, unsigned max)
{
    if (max == 0 || min > max)
        return DFR_EINVAL;
    pthread_mutex_lock(&p->lock);
    p->min = min;
    p->max = max;
    if (p->state == P_STARTED)
        grow_for_work(p);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

unsigned dfr_threadpool_threads(const dfr_threadpool *p)
{
    if (!p)
        return 0;
    pthread_mutex_lock((pthread_mutex_t *)&p->lock);
    unsigned n = p->threads;
    pthread_mutex_unlock((pthread_mutex_t *)&p->lock);
    return n;
}

void dfr_threadpool_free(dfr_threadpool *p)
{
    if (!p || current_pool == p)
        return; /* from one of its own jobs: it would join itself */
    pthread_mutex_lock(&p->lock);
    p->freeing = true; /* a start racing with us is refused */
    stop_locked(p);
    /* Threads waiting for that stop must leave before the lock goes. */
    while (p->waiters > 0)
        pthread_cond_wait(&p->changed, &p->lock);
    dfr__job *job = p->head;
    p->head = p->tail = NULL;
    p->queued = 0;
    pthread_mutex_unlock(&p->lock);
    /* Jobs never started fail with DFR_ENOTRUNNING on their reactors (or,
     * a reactor gone, are released here). */
    while (job) {
        dfr__job *next = job->next;
        dfr__job_finish(job);
        job = next;
    }
    pthread_cond_destroy(&p->changed);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->lock);
    dfr__free(p);
}
