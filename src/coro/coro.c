/* Coroutines: inlineCallbacks for C (see docs/coroutines.md).
 *
 * The chain engine drives them: the deferred that dfr_inline_callbacks
 * returns (the coroutine's deferred) resumes the coroutine with every
 * result it receives, before any callback of its own.  A coroutine that
 * awaits a pending deferred switches back to whoever resumed it, and its
 * deferred waits on the awaited one exactly as if a callback had returned
 * it.  So nested coroutines resume from one loop, never by recursion, and
 * cancelling the coroutine's deferred reaches the awaited deferred through
 * the engine's ordinary forwarding.
 *
 * Switches nest strictly: a coroutine always switches back to the context
 * that resumed it.  This file keeps the coroutine's lifetime and the API;
 * the engine (core/deferred_coro.c, core/deferred_await.c) does the
 * switching, dfr_await included. */
#include "coro/coro_internal.h"

#include <string.h>

_Thread_local __attribute__((tls_model("initial-exec"))) dfr__coro *dfr__coro_current;

bool dfr_in_coroutine(void)
{
    return dfr__coro_current != NULL;
}

static void coro_entry(void *arg)
{
    dfr__coro *c = arg;
#if defined(DFR_ASAN)
    __sanitizer_finish_switch_fiber(NULL, &c->caller_bottom, &c->caller_size);
#endif
    c->transfer = c->fn(c->data);
    c->state = DFR__CORO_DONE;
    dfr__coro_switch_out(c, true);
    __builtin_unreachable();
}

/* ---- lifetime ---- */

/* The engine's rare calls on a coroutine (core_internal.h). */
static void discard(dfr__coro *c)
{
    dfr_destroy_fn destroy = c->destroy;
    void *data = c->data;
#if defined(DFR_TSAN)
    __tsan_destroy_fiber(c->fiber);
#endif
    dfr__stack_put(&c->stack);
    /* Last: destroy may start coroutines of its own, reusing this stack. */
    dfr__destroy(destroy, data);
}

static const dfr__coro_ops coro_ops = {.discard = discard};

/* ---- the API ---- */

static dfr_deferred *failed_at_once(int code, void *data, dfr_destroy_fn destroy)
{
    dfr__destroy(destroy, data);
    return dfr_fail(dfr__failure_lib(code));
}

dfr_deferred *dfr_inline_callbacks_ex(dfr_task_fn fn, void *data, dfr_destroy_fn destroy,
                                      const dfr_coroutine_options *opts)
{
    if (DFR__OPTS_BAD(opts))
        return failed_at_once(DFR_EINVAL, data, destroy);
    size_t size = DFR__OPT(opts, dfr_coroutine_options, stack_size, 0);
    if (!size)
        size = DFR_CORO_DEFAULT_STACK;
    if (!fn || size > DFR_CORO_MAX_STACK)
        return failed_at_once(DFR_EINVAL, data, destroy);
    if (size < DFR_CORO_MIN_STACK)
        size = DFR_CORO_MIN_STACK;
    size_t page = dfr__page_size();
    size = (size + page - 1) & ~(page - 1);

    dfr__coro *c = (dfr__coro *)dfr__stack_get(size, sizeof(dfr__coro));
    if (!c) {
        dfr__destroy(destroy, data);
        return NULL;
    }
    memset((char *)c + sizeof c->stack, 0, sizeof *c - sizeof c->stack);
    c->fn = fn;
    c->data = data;
    c->destroy = destroy;
    c->owner = dfr__coro_thread();
    c->state = DFR__CORO_NEW;
    dfr__ctx_make(&c->ctx, c->stack.base, c->stack.size, coro_entry, c);
#if defined(DFR_TSAN)
    c->fiber = __tsan_create_fiber(0);
#endif
    dfr_deferred *d = dfr__deferred_new_coro(c, &coro_ops);
    if (!d) {
        discard(c);
        return NULL;
    }
    c->driver = d;
    dfr__deferred_start(d);
    return d;
}

dfr_deferred *dfr_inline_callbacks(dfr_task_fn fn, void *data, dfr_destroy_fn destroy)
{
    return dfr_inline_callbacks_ex(fn, data, destroy, NULL);
}
