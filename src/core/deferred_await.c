/* dfr_await, in a file of its own and a direct call into coro/'s inline
 * switch: the await round trip is the hot path of every coroutine. */
#include "core/deferred_coro.h"

/* The coroutine's deferred waits on inner as if a callback had returned it,
 * and the coroutine switches out until a result resumes it; a result there
 * already is taken at once. */
dfr_value dfr_await(dfr_deferred *inner)
{
    if (DFR_UNLIKELY(!inner))
        return dfr__lib_failure_value(DFR_EINVAL);
    dfr__coro *c = dfr__coro_current;
    if (DFR_UNLIKELY(!c)) {
        dfr__deferred_unref(inner);
        return dfr__lib_failure_value(DFR_ENOTCORO);
    }
    if (runnable(inner)) {
        /* The fast path: no switch. */
        dfr_value v = inner->result;
        inner->result = dfr_none();
        dfr__deferred_unref(inner);
        return v;
    }
    dfr_deferred *outer = c->driver;
    int rc = inner == outer ? DFR_EDEADLK : settle_waiter(inner);
    if (DFR_UNLIKELY(rc != 0)) {
        dfr__deferred_unref(inner);
        return dfr__lib_failure_value(rc);
    }
    inner->waiter = outer; /* the continuation's reference comes with the step's */
    outer->flags |= DFR__F_WAITING;
    outer->result.type = NULL;
    outer->result.u.ptr = inner;
    c->awaiting = inner;
    c->state = DFR__CORO_SUSPENDED;
    /* A tail call: the resume returns from dfr_await by a jump. */
    return dfr__coro_switch_out(c, false);
}
