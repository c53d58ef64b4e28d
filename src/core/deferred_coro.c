/* The coroutine glue: the chain engine drives coroutines (coro/coro.c) as
 * the first step of their deferred, and resumes them from the loop
 * (coro_step) or straight from a firing (deferred_coro.h). */
#include "core/deferred_coro.h"

static dfr__stack_ref coro_stepped(dfr_deferred *cur, dfr__coro *c, dfr__stack_ref ref);

/* What run_callbacks does once the coroutine resumed by
 * resume_waiting_coroutine switches back; on the firer's stack. */
int dfr__coroutine_switched_back(void *arg)
{
    dfr__coro *c = arg;
    dfr__coro_left(c);
    dfr_deferred *d = c->firing, *w = c->driver;
    dfr__stack_ref ref = coro_stepped(w, c, DFR__REF_HELD);
    w->flags &= ~DFR__F_ON_STACK;
    if (DFR_UNLIKELY(ref != DFR__REF_MOVED)) {
        /* It finished (or was refused): its deferred goes on as usual. */
        if (runnable(w))
            dfr__run_callbacks(w);
        dfr__deferred_unref(w);
    } else if (DFR_UNLIKELY(w->flags & DFR__F_DOOMED)) {
        pop_doomed(w); /* what it awaits next was dropped, and w with it */
    }
    d->flags &= ~DFR__F_ON_STACK;
    /* What d gained meanwhile runs first, even when its last reference went
     * meanwhile: run_callbacks frees a doomed d when it pops it. */
    if (DFR_UNLIKELY(d->head < d->count || d->waiter) && runnable(d))
        dfr__run_callbacks(d);
    else if (DFR_UNLIKELY(d->flags & DFR__F_DOOMED))
        pop_doomed(d);
    return 0;
}

/* cur's coroutine comes before its callbacks: resume it with cur's result.
 * What it awaits next, cur waits on; what it returns, cur continues with. */
dfr__stack_ref dfr__coro_step(dfr_deferred *cur, dfr__stack_ref ref)
{
    dfr__coro **slot = coro_slot(cur);
    dfr__coro *c = *slot;
    dfr_value in = cur->result;
    cur->result = dfr_none();
    if (DFR_UNLIKELY(c->owner != dfr__coro_thread())) {
        /* Fired on a foreign thread: coroutines never migrate. */
        dfr_value_drop(in);
        *slot = NULL;
        coro_discard(c);
        cur->result = dfr__lib_failure_value(DFR_ENOTOWNER);
        return ref;
    }
    dfr__coro_switch_in(c, in);
    return coro_stepped(cur, c, ref);
}

/* cur's coroutine c has switched back: suspended (dfr_await already made
 * cur wait on what it awaits) or finished. */
static dfr__stack_ref coro_stepped(dfr_deferred *cur, dfr__coro *c, dfr__stack_ref ref)
{
    if (c->state == DFR__CORO_SUSPENDED) {
        dfr_deferred *awaited = c->awaiting;
        c->awaiting = NULL;
        if (ref != DFR__REF_HELD)
            ref_internal(cur); /* for the continuation */
        dfr__deferred_unref(awaited); /* may discard the coroutine: it is switched out */
        return ref == DFR__REF_HELD ? DFR__REF_MOVED : ref;
    }
    dfr_value out = c->transfer;
    *coro_slot(cur) = NULL;
    coro_discard(c);
    if (!dfr_is_deferred(out)) {
        cur->result = out;
    } else if (out.u.ptr == cur) {
        /* Returning its own deferred would wait forever. */
        dfr__deferred_unref(cur);
        cur->result = dfr__lib_failure_value(DFR_EDEADLK);
    } else {
        return dfr__adopt_returned_deferred(cur, out.u.ptr, ref);
    }
    return ref;
}

/* ---- what coro.c needs ---- */

_Atomic(const dfr__coro_ops *) dfr__coro_layer;

dfr_deferred *dfr__deferred_new_coro(dfr__coro *c, const dfr__coro_ops *ops)
{
    /* Once: the same ops every call, and no write sharing after the first. */
    if (DFR_UNLIKELY(atomic_load_explicit(&dfr__coro_layer, memory_order_relaxed) != ops))
        atomic_store_explicit(&dfr__coro_layer, ops, memory_order_relaxed);
    dfr_deferred *d = dfr__deferred_new_ex(NULL, NULL, NULL, DFR__CORO);
    if (d)
        *coro_slot(d) = c;
    return d;
}

void dfr__deferred_start(dfr_deferred *d)
{
    d->flags |= DFR__F_CALLED;
    dfr__run_callbacks(d);
}
