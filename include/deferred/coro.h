/* libdeferred — coroutines: Twisted's inlineCallbacks for C.
 *
 * A coroutine is an ordinary C function running on a stack of its own.
 * Inside it, dfr_await(d) waits for a deferred and returns its result, so
 * asynchronous code reads top to bottom and failures are handled with
 * ordinary `if`s.  See docs/coroutines.md.
 *
 * Thread rule: a coroutine lives on the thread that started it (the
 * reactor's) and is only ever resumed there.
 */
#ifndef DEFERRED_CORO_H
#define DEFERRED_CORO_H

#include "deferred.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Options for dfr_inline_callbacks_ex; `size` = sizeof(dfr_coroutine_options). */
typedef struct dfr_coroutine_options {
    size_t size;
    /* Usable stack in bytes; 0 means the default (DFR_CORO_DEFAULT_STACK).
     * Rounded up to whole pages; at least DFR_CORO_MIN_STACK.  Above
     * DFR_CORO_MAX_STACK is DFR_EINVAL.  A guard page sits below it: an
     * overflow faults (SIGSEGV).  On kernels before Linux 6.13, past ~24,000
     * live coroutines, a canary replaces it: an overflow aborts at the
     * coroutine's next switch (docs/coroutines.md). */
    size_t stack_size;
} dfr_coroutine_options;

#define DFR_CORO_DEFAULT_STACK ((size_t)256 * 1024)
#define DFR_CORO_MIN_STACK ((size_t)16 * 1024)
#define DFR_CORO_MAX_STACK ((size_t)1024 * 1024 * 1024)

/* Run fn(data) now on a new coroutine until its first wait; the returned
 * deferred (the caller's reference) fires with what fn returns: a value, a
 * failure, or — a deferred value — that deferred's eventual result.
 * `destroy(data)` runs once: after fn returned, or when the coroutine is
 * discarded (see dfr_await).  NULL fn or bad options give a deferred that
 * already failed with DFR_EINVAL (destroy has run).  NULL only when the
 * stack or the deferred cannot be allocated (destroy has run). */
DFR_API dfr_deferred *dfr_inline_callbacks(dfr_task_fn fn, void *data, dfr_destroy_fn destroy);
DFR_API dfr_deferred *dfr_inline_callbacks_ex(dfr_task_fn fn, void *data, dfr_destroy_fn destroy,
                                              const dfr_coroutine_options *opts);

/* Wait for d inside a coroutine and return its result (a value or a
 * failure value); d's own chain continues with none.  Takes the reference
 * to d in every case.  Returns at once, without switching, when d already
 * has a result; otherwise the coroutine suspends until d fires, and
 * resumes on its own thread.
 *  - NULL d: a DFR_EINVAL failure.  Outside a coroutine: DFR_ENOTCORO.
 *  - Cancelling the deferred of dfr_inline_callbacks cancels d; dfr_await
 *    returns what the cancel produced (normally DFR_ECANCELLED).  The
 *    coroutine decides what its deferred fires with.
 *  - Fired on another thread: the coroutine is not resumed there; its
 *    deferred fails with DFR_ENOTOWNER and it is discarded.
 *  - If d is freed without ever firing, the coroutine can never resume: it
 *    is discarded — its stack is reused and destroy(data) runs, but its
 *    own locals are not cleaned up (C has no unwinding). */
DFR_API dfr_value dfr_await(dfr_deferred *d);

/* True inside a coroutine (on the calling thread). */
DFR_API bool dfr_in_coroutine(void);

#ifdef __cplusplus
}
#endif
#endif
