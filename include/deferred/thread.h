/* libdeferred — threads: deferToThread on the reactor's own pool or on user
 * pools, and blockingCallFromThread. */
#ifndef DEFERRED_THREAD_H
#define DEFERRED_THREAD_H

#include "reactor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dfr_threadpool dfr_threadpool;

/* Run fn(data) on the reactor's pool; its result (a value or a failure)
 * fires the deferred on the reactor thread, where destroy(data) then runs.
 * fn must not return a deferred (that is a DFR_EINVAL failure).  NULL r or
 * fn: a deferred already failed with DFR_EINVAL (off the reactor's thread:
 * DFR_ENOTOWNER); NULL only on OOM (destroy has run in every case).
 *
 * Cancelling the deferred (or a timeout on it) fails it with DFR_ECANCELLED
 * at once, as in Twisted (there is no canceller): the worker cannot be
 * stopped and runs on, its late result is dropped, and destroy(data) runs
 * once fn is done, never before.  So a semaphore or lock slot tied to this
 * deferred is given back while the worker still runs: docs/reactor.md
 * ("Cancelling work on a thread") shows how to keep such a limit honest, or
 * bound the pool (dfr_threadpool_new's max).
 *
 * Reactor freed: see dfr_reactor_defer_to_threadpool.  The reactor's own pool is
 * stopped first by dfr_reactor_free, so the work queued on it still runs
 * and its results are delivered during the free. */
DFR_API dfr_deferred *dfr_reactor_defer_to_thread(dfr_reactor *r, dfr_task_fn fn, void *data,
                                          dfr_destroy_fn destroy);
/* Set the reactor pool's maximum size (> 0). */
DFR_API int dfr_reactor_suggest_threadpool_size(dfr_reactor *r, unsigned max);

/* A thread pool of its own: at most `max` threads (> 0), `min` kept alive
 * once started.  `name` (may be NULL) names its threads.  NULL on bad input
 * or OOM.  A pool may serve several reactors, and lives independently of
 * them: free pools and reactors in either order. */
DFR_API dfr_threadpool *dfr_threadpool_new(unsigned min, unsigned max, const char *name);
/* Start `min` threads (more start on demand).  Work queued before start runs
 * after it.  DFR_EALREADY_STARTED when started.  A stop in progress (on another
 * thread) is waited for first.  DFR_ENOMEM when not one thread could start:
 * the pool stays stopped with its queue intact, and start can be retried.
 * DFR_EDEADLK from one of the pool's own jobs while it stops. */
DFR_API int dfr_threadpool_start(dfr_threadpool *p);
/* Run the work queued so far and join the threads; work queued from now on
 * waits for the next start.  0, also when not started.  Stops called at once
 * from several threads all return 0 once the pool has stopped.  DFR_EDEADLK
 * from one of the pool's own jobs (it would wait for itself). */
DFR_API int dfr_threadpool_stop(dfr_threadpool *p);
/* Stop (as above), then fail the work never started with DFR_ENOTRUNNING on
 * its reactor.  Results reach the reactors still alive; work for a reactor
 * already freed is released as dfr_reactor_defer_to_threadpool says.  Only a
 * concurrent stop (returns 0 once stopped) or start (DFR_EINVAL) may race
 * with free; nothing may use p after.  Ignored from one of p's own jobs. */
DFR_API void dfr_threadpool_free(dfr_threadpool *p);
/* Threads alive now. */
DFR_API unsigned dfr_threadpool_threads(const dfr_threadpool *p);
/* deferToThreadPool: like dfr_reactor_defer_to_thread on pool p, reporting to r.
 * Work queued on a stopped pool waits for its start.  Bad input (NULL r, p
 * or fn) as for dfr_reactor_defer_to_thread.  NULL (destroy has run) only
 * on OOM, including a started pool that has no thread and cannot make one:
 * the work queued before is kept.
 *
 * If r is freed while the work is out, its deferred fails with
 * DFR_ENOTRUNNING during the free.  Work not started yet never runs: its
 * destroy(data) runs when the pool reaches it (a worker, or the pool's stop
 * or free).  Work running finishes; its result is dropped and destroy(data)
 * runs on the worker.  Either way destroy runs exactly once.  Called while
 * r is being freed (from a callback the free runs): a deferred already
 * failed with DFR_ENOTRUNNING (destroy has run). */
DFR_API dfr_deferred *dfr_reactor_defer_to_threadpool(dfr_reactor *r, dfr_threadpool *p, dfr_task_fn fn,
                                              void *data, dfr_destroy_fn destroy);

/* From a thread other than the reactor's: run fn(data) on the reactor thread
 * and wait for its result (fn may return a deferred: waits for it to fire).
 * On the reactor thread: a DFR_EDEADLK failure.  Reactor freed before the
 * call ran (or being freed when the call is queued): DFR_ENOTRUNNING
 * failure.  Like every call from another thread, it must be made while r
 * exists: a free may run while this waits, not before this is called. */
DFR_API dfr_value dfr_reactor_blocking_call_from_thread(dfr_reactor *r, dfr_task_fn fn, void *data);

#ifdef __cplusplus
}
#endif
#endif
