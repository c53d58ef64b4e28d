/* Thread pools: a FIFO of jobs under one mutex, threads started on demand up
 * to `max`, joined when the pool stops.  Each reactor has its own pool, so
 * each sizes its own; users can make more. */
#include "reactor/reactor_internal.h"

#include <string.h>

struct dfr_threadpool {
    pthread_mutex_t lock;
    pthread_cond_t work;   /* a job was queued, or stop */
    dfr__job *head, *tail; /* queued jobs */
    size_t queued;
    unsigned min, max;
    unsigned threads, idle;
    unsigned busy; /* threads running a job; the others are idle or starting */
    bool started, stopping;
    pthread_t *tids;
    unsigned ntids, captids;
    char name[16];
};

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
    p->min = min;
    p->max = max;
    snprintf(p->name, sizeof p->name, "%s", name ? name : "dfr-pool");
    return p;
}

dfr_threadpool *dfr_threadpool_new(unsigned min, unsigned max, const char *name)
{
    return dfr__pool_new(min, max, name);
}

static void *worker(void *arg)
{
    dfr_threadpool *p = arg;
    pthread_setname_np(pthread_self(), p->name);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->stopping) {
            p->idle++;
            pthread_cond_wait(&p->work, &p->lock);
            p->idle--;
        }
        dfr__job *job = p->head;
        if (!job)
            break; /* stopping, and the queue is empty */
        p->head = job->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        p->busy++;
        pthread_mutex_unlock(&p->lock);
        job->run(job);
        job->ran = true;
        dfr__tq_push_done(job->r, job);
        pthread_mutex_lock(&p->lock);
        p->busy--;
    }
    p->threads--;
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* With the lock held: start one more thread.  0 or an error. */
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
    int rc = pthread_create(&p->tids[p->ntids], NULL, worker, p);
    if (rc != 0)
        return DFR_ENOMEM;
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

int dfr_threadpool_start(dfr_threadpool *p)
{
    if (!p)
        return DFR_EINVAL;
    pthread_mutex_lock(&p->lock);
    if (p->started) {
        pthread_mutex_unlock(&p->lock);
        return DFR_EALREADY;
    }
    p->started = true;
    grow_for_work(p); /* work queued before start gets its threads now */
    pthread_cond_broadcast(&p->work);
    int rc = p->head && p->threads == 0 ? DFR_ENOMEM : 0;
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int dfr__pool_submit(dfr_threadpool *p, dfr__job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    p->queued++;
    if (p->started) {
        /* A thread per queued job, while under max: idle ones first. */
        if (p->queued > p->threads - p->busy && p->threads < p->max && spawn(p) != 0 &&
            p->threads == 0) {
            /* No thread can run it: take it back. */
            p->head = p->tail = NULL;
            p->queued = 0;
            pthread_mutex_unlock(&p->lock);
            return DFR_ENOMEM;
        }
        if (p->idle > 0)
            pthread_cond_signal(&p->work);
    }
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* Let the queue empty, then join every thread. */
static void stop_and_join(dfr_threadpool *p)
{
    pthread_mutex_lock(&p->lock);
    if (!p->started) {
        pthread_mutex_unlock(&p->lock);
        return;
    }
    p->stopping = true;
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
    p->stopping = false;
    p->started = false;
    pthread_mutex_unlock(&p->lock);
}

void dfr__pool_drain(dfr_threadpool *p)
{
    stop_and_join(p);
}

int dfr_threadpool_stop(dfr_threadpool *p)
{
    if (!p)
        return DFR_EINVAL;
    stop_and_join(p);
    return 0;
}

int dfr__pool_resize(dfr_threadpool *p, unsigned min, unsigned max)
{
    if (max == 0 || min > max)
        return DFR_EINVAL;
    pthread_mutex_lock(&p->lock);
    p->min = min;
    p->max = max;
    if (p->started)
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
    if (!p)
        return;
    stop_and_join(p);
    /* Jobs never started (the pool never ran) are completed as failures, so
     * their deferreds fire and their data is released. */
    dfr__job *job = p->head;
    p->head = p->tail = NULL;
    p->queued = 0;
    while (job) {
        dfr__job *next = job->next;
        job->ran = false;
        dfr__tq_push_done(job->r, job);
        job = next;
    }
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->lock);
    dfr__free(p);
}
