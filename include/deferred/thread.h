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
 * fn must not return a deferred (that is a DFR_EINVAL failure).  NULL for
 * bad input or OOM (destroy has run).
 * Cancelling the deferred (or a timeout on it) fails it with DFR_ECANCELLED
 * at once; the worker cannot be stopped and runs on, its result is dropped
 * when it comes, and destroy(data) runs only then (as in Twisted).  So a
 * semaphore or lock slot tied to this deferred is given back while the
 * worker still runs: docs/reactor.md ("Cancelling work on a thread") shows
 * how to keep such a limit honest. */
DFR_API dfr_deferred *dfr_defer_to_thread(dfr_reactor *r, dfr_task_fn fn, void *data,
                                          dfr_destroy_fn destroy);
/* Set the reactor pool's maximum size (> 0). */
DFR_API int dfr_reactor_suggest_threadpool_size(dfr_reactor *r, unsigned max);

/* A thread pool of its own: at most `max` threads (> 0), `min` kept alive
 * once started.  `name` (may be NULL) names its threads.  NULL on bad input
 * or OOM. */
DFR_API dfr_threadpool *dfr_threadpool_new(unsigned min, unsigned max, const char *name);
/* Start `min` threads (more start on demand).  Work queued before start runs
 * after it. */
DFR_API int dfr_threadpool_start(dfr_threadpool *p);
/* Finish the queued work and join the threads; work queued afterwards waits
 * for the next start. */
DFR_API int dfr_threadpool_stop(dfr_threadpool *p);
/* Stop and free.  Results of finished work still reach their reactors. */
DFR_API void dfr_threadpool_free(dfr_threadpool *p);
/* Threads alive now. */
DFR_API unsigned dfr_threadpool_threads(const dfr_threadpool *p);
/* deferToThreadPool: like dfr_defer_to_thread on pool p, reporting to r
 * (cancelling it behaves the same). */
DFR_API dfr_deferred *dfr_defer_to_threadpool(dfr_reactor *r, dfr_threadpool *p, dfr_task_fn fn,
                                              void *data, dfr_destroy_fn destroy);

/* From a thread other than the reactor's: run fn(data) on the reactor thread
 * and wait for its result (fn may return a deferred: waits for it to fire).
 * On the reactor thread: a DFR_EDEADLK failure; reactor freed before the call
 * ran: DFR_ENOTRUNNING failure. */
DFR_API dfr_value dfr_blocking_call_from_thread(dfr_reactor *r, dfr_task_fn fn, void *data);

#ifdef __cplusplus
}
#endif
#endif
