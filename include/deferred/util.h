/* libdeferred — DeferredLock, DeferredSemaphore, DeferredQueue.
 *
 * Freeing one of these while deferreds wait on it fails those waiters with
 * DFR_ECANCELLED; a run() still in progress keeps the object's memory alive
 * until it releases. */
#ifndef DEFERRED_UTIL_H
#define DEFERRED_UTIL_H

#include "deferred.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dfr_lock dfr_lock;
typedef struct dfr_semaphore dfr_semaphore;
typedef struct dfr_queue dfr_queue;

/* No limit for dfr_queue_new's size or backlog. */
#define DFR_UNLIMITED SIZE_MAX

/* DeferredLock. NULL on OOM. */
DFR_API dfr_lock *dfr_lock_new(void);
DFR_API void dfr_lock_free(dfr_lock *l);
/* Fires with dfr_ptr(l) once the lock is held (at once when free).
 * Cancelling a waiting acquire removes it.  NULL l: a DFR_EINVAL failed
 * deferred.  NULL only on OOM. */
DFR_API dfr_deferred *dfr_lock_acquire(dfr_lock *l);
/* Hand the lock to the first waiter, or unlock.  DFR_EINVAL if not locked. */
DFR_API int dfr_lock_release(dfr_lock *l);
DFR_API bool dfr_lock_locked(const dfr_lock *l);
/* Acquires waiting now; 0 for NULL. */
DFR_API size_t dfr_lock_waiting(const dfr_lock *l);
/* Acquire, call fn(data) (it may return a deferred: the lock is held until
 * it fires), release, and fire with fn's result — or with a DFR_EINVAL
 * failure when that release is refused because a stray dfr_lock_release
 * already unlocked the lock (Twisted's run fails with AssertionError).
 * NULL l or fn: a DFR_EINVAL failed deferred; NULL only on OOM (destroy has
 * run in both cases).
 * data belongs to the work while it holds the lock: destroy(data) runs
 * exactly once, just before the lock is released — right after fn returns
 * a plain value or failure, or when the deferred fn returned fires
 * (succeeds, fails or is cancelled) — so fn may hand data to that deferred's
 * work.  If the run never starts (its deferred is cancelled while it waits,
 * or the lock is freed), destroy runs then and fn never does. */
DFR_API dfr_deferred *dfr_lock_run(dfr_lock *l, dfr_task_fn fn, void *data,
                                   dfr_destroy_fn destroy);

/* DeferredSemaphore with `tokens` tokens (0 is NULL: invalid). */
DFR_API dfr_semaphore *dfr_semaphore_new(unsigned tokens);
DFR_API void dfr_semaphore_free(dfr_semaphore *s);
/* Fires with dfr_ptr(s) once a token is taken.  NULL s: a DFR_EINVAL failed
 * deferred.  NULL only on OOM. */
DFR_API dfr_deferred *dfr_semaphore_acquire(dfr_semaphore *s);
/* Give a token to the first waiter or back.  DFR_EINVAL when all tokens
 * are already back. */
DFR_API int dfr_semaphore_release(dfr_semaphore *s);
/* Free tokens now; 0 for NULL. */
DFR_API unsigned dfr_semaphore_tokens(const dfr_semaphore *s);
/* Acquires waiting now; 0 for NULL. */
DFR_API size_t dfr_semaphore_waiting(const dfr_semaphore *s);
/* Acquire a token, call fn(data), and fire with fn's result; the token is
 * given back once that result is in — when fn returns a deferred, when it
 * fires (succeeds, fails or is cancelled).  If every token is back by then
 * (a stray dfr_semaphore_release), that give-back is refused and the deferred
 * fails with DFR_EINVAL instead, as Twisted's run fails with AssertionError.
 * NULL s or fn: a DFR_EINVAL failed deferred; NULL only on OOM (destroy has
 * run in both cases).  destroy(data) runs exactly once, just before the token
 * is given back (or when the run never starts: its deferred cancelled while
 * waiting, or the semaphore freed), as for dfr_lock_run.
 * The token is tied to fn's deferred, not to work behind it: a cancelled
 * deferToThread fails at once while its worker still runs (thread.h), so
 * with a timeout on such work, chain the release to the thread's own
 * deferred — docs/reactor.md shows how. */
DFR_API dfr_deferred *dfr_semaphore_run(dfr_semaphore *s, dfr_task_fn fn, void *data,
                                        dfr_destroy_fn destroy);

/* DeferredQueue holding at most `size` values and `backlog` waiting gets
 * (DFR_UNLIMITED for no limit; 0 means no room, as in Twisted). */
DFR_API dfr_queue *dfr_queue_new(size_t size, size_t backlog);
DFR_API void dfr_queue_free(dfr_queue *q);
/* Give v to the oldest waiting get, or keep it.  Takes ownership of v;
 * DFR_EOVERFLOW when full (v dropped), DFR_EINVAL for NULL q or a deferred
 * value. */
DFR_API int dfr_queue_put(dfr_queue *q, dfr_value v);
/* A deferred firing with the oldest value; a DFR_EUNDERFLOW failed deferred
 * when the backlog is full, a DFR_EINVAL one for NULL q; NULL only on OOM.
 * Cancelling a waiting get removes it. */
DFR_API dfr_deferred *dfr_queue_get(dfr_queue *q);
/* Values kept / gets waiting. */
DFR_API size_t dfr_queue_pending(const dfr_queue *q);
DFR_API size_t dfr_queue_waiting(const dfr_queue *q);

#ifdef __cplusplus
}
#endif
#endif
