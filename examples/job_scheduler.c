/* A job scheduler: 20 jobs on threads, at most 4 at a time.
 *
 * - dfr_reactor_call_when_running submits the jobs once the reactor runs;
 * - a DeferredSemaphore of 4 gates them (dfr_semaphore_run), each job a
 *   deferToThread;
 * - job 7 hangs until it is given up on: a 0.3 s timeout on it;
 * - a DeferredList over all 20 reports, and stops the reactor;
 * - a LoopingCall prints a progress line every 0.1 s.
 *
 * A cancelled (timed-out) deferToThread fails at once but cannot stop its
 * worker.  If the timeout were put on the semaphore's run, the run would
 * give its slot back at once and a fifth worker would start while job 7's
 * still runs.  So each run follows its worker, and callers wait for (and
 * time out) a "view" chained to it — docs/reactor.md, "Cancelling work on a
 * thread".  The program checks that at most 4 workers ever ran at once, and
 * every job's outcome; it exits non-zero on a mismatch. */
#include <deferred.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { JOBS = 20, LIMIT = 4, SLOW = 7 };
#define TIMEOUT 0.3 /* seconds, on job SLOW only */

typedef struct scheduler {
    dfr_reactor *r;
    dfr_semaphore *sem;
    dfr_looping_call *progress;
    dfr_delayed_call *watchdog;
    dfr_deferred *all;
    int finished;                      /* views with a result (reactor thread) */
    bool ok;
    atomic_int running, max_running;   /* workers (pool threads) */
    atomic_bool release_slow;          /* job SLOW's worker may end */
} scheduler;

typedef struct job {
    scheduler *s;
    int index;
} job;

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* On a pool thread. */
static dfr_value work(void *data)
{
    job *j = data;
    scheduler *s = j->s;
    int now = atomic_fetch_add(&s->running, 1) + 1;
    int seen = atomic_load(&s->max_running);
    while (now > seen && !atomic_compare_exchange_weak(&s->max_running, &seen, now)) {
    }
    if (j->index == SLOW) {
        while (!atomic_load(&s->release_slow)) /* "hangs" until given up on */
            sleep_ms(5);
    } else {
        sleep_ms(20);
    }
    atomic_fetch_sub(&s->running, 1);
    return dfr_i64((int64_t)j->index * j->index);
}

/* dfr_semaphore_run's fn, once a slot is free: the slot is held until the
 * thread's deferred fires, that is until the worker returns. */
static dfr_value start_job(void *data)
{
    job *j = data;
    dfr_deferred *t = dfr_reactor_defer_to_thread(j->s->r, work, j, NULL);
    if (!t)
        return dfr_value_failure(dfr_failure_new("scheduler", 1, "out of memory"));
    return dfr_value_deferred(t);
}

static dfr_value count_finished(dfr_value v, void *data)
{
    ((scheduler *)data)->finished++;
    return v;
}

static dfr_value slow_given_up(dfr_value v, void *data)
{
    scheduler *s = data;
    if (dfr_failure_check(dfr_failure_from(&v), DFR_DOMAIN, DFR_ETIMEDOUT))
        printf("job %d timed out; its worker keeps its slot until it ends\n", SLOW);
    atomic_store(&s->release_slow, true);
    return v;
}

static dfr_value report_progress(void *data)
{
    scheduler *s = data;
    printf("progress: %2d/%d finished\n", s->finished, JOBS);
    return dfr_none();
}

static dfr_value all_done(dfr_value v, void *data)
{
    scheduler *s = data;
    dfr_list *l = dfr_list_from(&v);
    bool ok = dfr_list_len(l) == JOBS;
    for (size_t i = 0; ok && i < JOBS; i++) {
        const dfr_value *e = dfr_list_get(l, i);
        if (i == SLOW)
            ok = !dfr_list_ok(l, i) &&
                 dfr_failure_check(dfr_failure_from(e), DFR_DOMAIN, DFR_ETIMEDOUT);
        else
            ok = dfr_list_ok(l, i) && dfr_is_i64(*e) && e->u.i64 == (int64_t)(i * i);
        if (!ok)
            fprintf(stderr, "job %zu: unexpected outcome\n", i);
    }
    if (ok)
        printf("all %d jobs reported: %d succeeded, job %d timed out\n", JOBS, JOBS - 1, SLOW);
    s->ok = ok;
    dfr_value_drop(v);
    dfr_looping_call_stop(s->progress);
    dfr_delayed_call_cancel(s->watchdog);
    dfr_reactor_stop(s->r); /* the pool drains (job SLOW's worker too) before run returns */
    return dfr_none();
}

static void give_up(void *data)
{
    scheduler *s = data;
    fprintf(stderr, "job_scheduler: not done after 60 s\n");
    atomic_store(&s->release_slow, true);
    dfr_reactor_stop(s->r);
}

/* Runs once the reactor is running (dfr_reactor_call_when_running). */
static void submit_all(void *data)
{
    scheduler *s = data;
    dfr_deferred *views[JOBS];
    for (int i = 0; i < JOBS; i++) {
        job *j = malloc(sizeof *j);
        if (!j)
            abort();
        *j = (job){s, i};
        /* free(j) runs when the worker is done and the slot goes back. */
        dfr_deferred *held = dfr_semaphore_run(s->sem, start_job, j, free);
        views[i] = dfr_deferred_new();
        if (!held || !views[i] || dfr_deferred_chain(held, views[i]) != 0)
            abort();
        dfr_deferred_unref(held); /* the thread's deferred keeps it alive */
        dfr_deferred_add_both(views[i], count_finished, s, NULL);
        if (i == SLOW) {
            dfr_deferred_add_timeout(views[i], s->r, TIMEOUT);
            dfr_deferred_add_both(views[i], slow_given_up, s, NULL);
        }
    }
    s->all = dfr_deferred_list(views, JOBS, DFR_CONSUME_ERRORS);
    for (int i = 0; i < JOBS; i++)
        dfr_deferred_unref(views[i]); /* the list holds them */
    if (!s->all)
        abort();
    dfr_deferred_add_callback(s->all, all_done, s, NULL);

    dfr_deferred *stopped = dfr_looping_call_start(s->progress, 0.1, true);
    dfr_deferred_unref(stopped);
}

int main(void)
{
    scheduler s = {0};
    atomic_init(&s.running, 0);
    atomic_init(&s.max_running, 0);
    atomic_init(&s.release_slow, false);
    s.r = dfr_reactor_new(NULL);
    s.sem = dfr_semaphore_new(LIMIT);
    s.progress = s.r ? dfr_looping_call_new(s.r, report_progress, &s, NULL) : NULL;
    if (!s.r || !s.sem || !s.progress)
        return 1;
    dfr_reactor_call_later(s.r, 60.0, give_up, &s, NULL, &s.watchdog);
    dfr_reactor_call_when_running(s.r, submit_all, &s, NULL);
    dfr_reactor_run(s.r);

    int max = atomic_load(&s.max_running);
    printf("at most %d workers ran at once (limit %d)\n", max, LIMIT);
    bool ok = s.ok && max <= LIMIT && dfr_semaphore_tokens(s.sem) == LIMIT;

    dfr_deferred_unref(s.all);
    dfr_delayed_call_unref(s.watchdog);
    dfr_looping_call_unref(s.progress);
    dfr_semaphore_free(s.sem);
    dfr_reactor_free(s.r);
    if (!ok) {
        fprintf(stderr, "job_scheduler: outcome mismatch\n");
        return 1;
    }
    return 0;
}
