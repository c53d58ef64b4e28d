/* libdeferred — the Deferred: a result that is not there yet, and the chain
 * of callbacks that will process it (Twisted's twisted.internet.defer).
 *
 * Thread rule: a deferred belongs to one thread (the reactor's).  Only
 * dfr_deferred_unref / dfr_value_drop may be called from other threads.
 *
 * Borrow or consume, one rule for the whole API: values (dfr_value) and
 * failures handed in as a result are moved into the call (dfr_deferred_callback,
 * dfr_deferred_errback, dfr_fail, dfr_succeed, dfr_queue_put,
 * dfr_failure_wrap's cause); every other object argument (a deferred, a
 * reactor, a handle, a lock) is borrowed: a callee that keeps it takes its
 * own reference (dfr_deferred_chain, dfr_deferred_list, dfr_deferred_add_timeout).
 * Returned objects are the caller's reference unless documented "borrowed".
 * The exceptions, named so: dfr_await consumes its deferred (a suspended
 * coroutine must not keep the chain alive); dfr_value_deferred /
 * dfr_value_set_deferred make a value of the reference they are given.
 */
#ifndef DEFERRED_DEFERRED_H
#define DEFERRED_DEFERRED_H

#include "failure.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A callback owns `result` and returns the next result: a plain value
 * (callback path), a failure value (errback path) or a deferred value (the
 * chain waits for that deferred and continues with its result). */
typedef dfr_value (*dfr_callback_fn)(dfr_value result, void *data);

/* A function producing a value (maybeDeferred, lock/semaphore run, ...). */
typedef dfr_value (*dfr_task_fn)(void *data);

/* Runs when a cancellable deferred is cancelled before it has a result. */
typedef void (*dfr_canceller_fn)(dfr_deferred *d, void *data);

/* Called with a failure nobody handled when the last reference to the
 * deferred holding it goes. */
typedef void (*dfr_unhandled_error_fn)(const dfr_failure *f, void *data);

typedef enum dfr_state {
    DFR_STATE_INVALID = -1, /* what dfr_deferred_state answers for NULL */
    DFR_PENDING = 0,   /* no result yet (or waiting on another deferred) */
    DFR_SUCCEEDED = 1, /* has a result that is not a failure */
    DFR_FAILED = 2     /* has a failure result */
} dfr_state;

/* A new pending deferred; the caller owns the reference.  NULL on OOM. */
DFR_API dfr_deferred *dfr_deferred_new(void);
/* Same with a canceller; `destroy(data)` runs once the deferred has a
 * result or is freed.  NULL canceller is allowed.  On failure (NULL return)
 * destroy has run. */
DFR_API dfr_deferred *dfr_deferred_new_cancellable(dfr_canceller_fn canceller, void *data,
                                                   dfr_destroy_fn destroy);

/* Reference counting; unref from any thread, NULL ignored.  If the last
 * reference goes while the result is an unhandled failure, the unhandled
 * error hook runs. */
DFR_API dfr_deferred *dfr_deferred_ref(dfr_deferred *d);
DFR_API void dfr_deferred_unref(dfr_deferred *d);

/* Process-wide hook for unhandled failures; NULL fn restores the default,
 * which prints "Unhandled error in Deferred:" and the description to stderr. */
DFR_API void dfr_set_unhandled_error_hook(dfr_unhandled_error_fn fn, void *data);

/* Append a callback/errback pair (NULL passes the result through unchanged).
 * On a deferred that has a result and is not paused it runs before the call
 * returns.  `destroy(data)` runs once, after the pair ran or when it never
 * will.  DFR_EINVAL for NULL d, DFR_ENOMEM; on error destroy has run. */
DFR_API int dfr_deferred_add_callbacks(dfr_deferred *d, dfr_callback_fn cb, dfr_callback_fn eb,
                                       void *data, dfr_destroy_fn destroy);
/* Single-path forms; a NULL fn is DFR_EINVAL. */
DFR_API int dfr_deferred_add_callback(dfr_deferred *d, dfr_callback_fn cb, void *data,
                                      dfr_destroy_fn destroy);
DFR_API int dfr_deferred_add_errback(dfr_deferred *d, dfr_callback_fn eb, void *data,
                                     dfr_destroy_fn destroy);
DFR_API int dfr_deferred_add_both(dfr_deferred *d, dfr_callback_fn fn, void *data,
                                  dfr_destroy_fn destroy);

/* Fire with a value (a failure value takes the errback path).  Takes
 * ownership of v in every case.  DFR_EINVAL for NULL d or a deferred value
 * (chain with a callback instead); DFR_EALREADY when it already fired
 * (v dropped) — except that the first fire after a cancel without a
 * canceller that fired is silently ignored, as in Twisted.  The callbacks
 * run before it returns, except past 32 firings nested in callbacks on
 * this thread: they then run when the 32nd is done; a million levels deep
 * the deferred fails with DFR_EOVERFLOW instead (docs/deferreds.md). */
DFR_API int dfr_deferred_callback(dfr_deferred *d, dfr_value v);
/* Fire with a failure (takes the reference).  DFR_EINVAL for NULL d or f. */
DFR_API int dfr_deferred_errback(dfr_deferred *d, dfr_failure *f);

/* Cancel: without a result, run the canceller; if still without a result,
 * errback with DFR_ECANCELLED.  Waiting on another deferred: cancel that
 * one.  No effect once it has a result, or on NULL.  On a cycle of waits,
 * the cycle's first deferred along the chain stops waiting and fails with
 * DFR_ECANCELLED; on one closed through a canceller (a canceller cancelling
 * a deferred that waits on the one being cancelled: a DeferredList input
 * waiting on the list), that deferred does (docs/deferreds.md). */
DFR_API void dfr_deferred_cancel(dfr_deferred *d);

/* Pause counting: while paused no callback runs.  Takes effect right after
 * the callback that paused returns.  unpause without a pause is
 * DFR_EINVAL.  Pauses nest up to 32767 deep; one more is DFR_EOVERFLOW. */
DFR_API int dfr_deferred_pause(dfr_deferred *d);
DFR_API int dfr_deferred_unpause(dfr_deferred *d);

/* chainDeferred: `other` fires with d's result and d continues with none.
 * Takes its own reference to other.  If other has already fired, d's result
 * becomes a DFR_EALREADY failure.  DFR_EINVAL for NULL, DFR_ENOMEM. */
DFR_API int dfr_deferred_chain(dfr_deferred *d, dfr_deferred *other);

/* DFR_PENDING / DFR_SUCCEEDED / DFR_FAILED; DFR_STATE_INVALID for NULL (a
 * query: a member of its own enum, never an error code; it is -1, the
 * DFR_EINVAL it returned before, so callers comparing with that still work). */
DFR_API int dfr_deferred_state(const dfr_deferred *d);
/* Borrowed current result; NULL while pending, waiting, or for NULL d. */
DFR_API const dfr_value *dfr_deferred_result(const dfr_deferred *d);
/* Current pause count (user pauses only), >= 0; DFR_EINVAL for NULL (an
 * int call answering a count: the count or a negative code). */
DFR_API int dfr_deferred_paused(const dfr_deferred *d);
/* Take d's result now, as a callback would: if d has a result and its
 * callbacks could run now with none left to run (not paused, not waiting on
 * another deferred, not inside one of its own callbacks), move the result
 * into *out and leave none in its place (callbacks added later get none, and
 * a failure taken so is handled), then return true.  Otherwise (and for NULL
 * d or out) false, with *out untouched.  *out is a slot (ffi_forms.h): what
 * it held is dropped.  The await of a deferred that already fired, without a
 * coroutine (the bindings' async/await); d's reference stays the caller's. */
DFR_API bool dfr_deferred_take_result(dfr_deferred *d, dfr_value *out);

/* A deferred that already has `v` (a failure value gives a failed one).
 * NULL on OOM (v dropped).  A deferred value gives that deferred back. */
DFR_API dfr_deferred *dfr_succeed(dfr_value v);
/* A deferred that already failed with f (takes the reference).  NULL f: a
 * DFR_EINVAL failed deferred.  NULL only on OOM (f released). */
DFR_API dfr_deferred *dfr_fail(dfr_failure *f);
/* Call fn(data) now: a deferred result is returned as is, a failure gives a
 * failed deferred, anything else a succeeded one.  NULL fn: a DFR_EINVAL
 * failed deferred.  NULL only on OOM. */
DFR_API dfr_deferred *dfr_maybe_deferred(dfr_task_fn fn, void *data);

#ifdef __cplusplus
}
#endif
#endif
