/* The coroutine glue's inline part: the await round trip, measured to the
 * nanosecond, resumes a coroutine straight from dfr_deferred_callback
 * (deferred_chain.c's fire), a direct call into coro/'s inline switch. */
#ifndef DFR_CORE_DEFERRED_CORO_H
#define DFR_CORE_DEFERRED_CORO_H

#include "core/deferred_impl.h"
#include "coro/coro_internal.h"

/* What the callback loop does once the coroutine resumed by
 * resume_waiting_coroutine switches back (deferred_coro.c). */
int dfr__coroutine_switched_back(void *arg);

/* d, with no callbacks of its own, is waited on by a suspended coroutine
 * of this thread that nothing holds back: the result can go straight to it. */
static inline bool feeds_coroutine(const dfr_deferred *d)
{
    const dfr_deferred *w = d->waiter;
    return w && d->head == d->count && d->paused == 0 && !(d->flags & DFR__F_ON_STACK) &&
           (w->flags & (DFR__F_CORO | DFR__F_ON_STACK)) == DFR__F_CORO && w->paused == 0 &&
           coro_live(w) &&
           (*coro_slot(w))->owner == dfr__coro_thread();
}

/* What run_callbacks(d) would do for such a d, without the general loop:
 * the await round trip is the hot path of every coroutine.  The order is
 * the loop's: d stays on the running stack while the coroutine runs (so a
 * callback added to d meanwhile runs after it suspends), then whatever d
 * gained meanwhile runs.  The switch is this call's tail (see
 * dfr__coro_resume): dfr_deferred_callback returns by the switch back. */
static inline int resume_waiting_coroutine(dfr_deferred *d, dfr_value v)
{
    dfr_deferred *w = d->waiter; /* the continuation's reference is ours now */
    d->waiter = NULL;
    set_result(d, dfr_none());
    d->flags |= DFR__F_ON_STACK;
    w->flags = (uint16_t)((w->flags & ~DFR__F_WAITING) | DFR__F_ON_STACK);
    w->result = dfr_none();
    dfr__coro *c = *coro_slot(w);
    c->firing = d;
    return dfr__coro_resume(c, v, dfr__coroutine_switched_back);
}

#endif
