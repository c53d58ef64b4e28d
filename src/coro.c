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
 * that resumed it. */
#include "coro_context.h"
#include "coro_stack.h"
#include "internal.h"

#include <string.h>

#if defined(DFR_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(DFR_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

enum coro_state { CORO_NEW, CORO_RUNNING, CORO_SUSPENDED, CORO_DONE };

/* The control block, at the top of the coroutine's own stack mapping. */
struct dfr__coro {
    dfr__stack stack;   /* first: the stack module's header */
    dfr__ctx ctx;       /* the coroutine, while it is not running */
    dfr__ctx caller;    /* whoever resumed it, while it runs */
    dfr__coro *resumer; /* the coroutine that resumed it; NULL: a thread's own stack */
    dfr_deferred *driver; /* the deferred it fires (it holds our slot) */
    dfr_task_fn fn;
    void *data;
    dfr_destroy_fn destroy;
    dfr_value transfer;     /* the result it resumes with / the value it returned */
    dfr_deferred *awaiting; /* what it suspended on (a reference), for the engine */
    void *owner; /* this_thread() of the thread that started it */
    enum coro_state state;
#if defined(DFR_ASAN)
    void *fake_stack;    /* ASan's fake frames of the coroutine while switched out */
    void *caller_fake;   /* the resumer's, while the coroutine runs */
    const void *caller_bottom;
    size_t caller_size;
#endif
#if defined(DFR_TSAN)
    void *fiber;
    void *caller_fiber;
#endif
};

/* initial-exec: one %fs-relative access, no __tls_get_addr call.  Its
 * address also names the thread (coroutines compare owners with it). */
static _Thread_local __attribute__((tls_model("initial-exec"))) dfr__coro *current;

static inline void *this_thread(void)
{
    return (void *)&current;
}

bool dfr_in_coroutine(void)
{
    return current != NULL;
}

/* ---- switching, with the sanitizers told about each stack change ---- */

static void switch_in(dfr__coro *c)
{
    c->resumer = current;
    current = c;
#if defined(DFR_ASAN)
    __sanitizer_start_switch_fiber(&c->caller_fake, c->stack.base, c->stack.size);
#endif
#if defined(DFR_TSAN)
    c->caller_fiber = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(c->fiber, 0);
#endif
    dfr__ctx_switch(&c->caller, &c->ctx);
#if defined(DFR_ASAN)
    __sanitizer_finish_switch_fiber(c->caller_fake, NULL, NULL);
#endif
    current = c->resumer;
}

/* Back to the resumer; returns when resumed again (never when finished). */
static void switch_out(dfr__coro *c, bool finished)
{
#if defined(DFR_ASAN)
    /* A finished coroutine's fake frames go (a NULL save slot). */
    __sanitizer_start_switch_fiber(finished ? NULL : &c->fake_stack, c->caller_bottom,
                                   c->caller_size);
#else
    DFR_UNUSED(finished);
#endif
#if defined(DFR_TSAN)
    __tsan_switch_to_fiber(c->caller_fiber, 0);
#endif
    dfr__ctx_switch(&c->ctx, &c->caller);
#if defined(DFR_ASAN)
    __sanitizer_finish_switch_fiber(c->fake_stack, &c->caller_bottom, &c->caller_size);
#endif
}

static void coro_entry(void *arg)
{
    dfr__coro *c = arg;
#if defined(DFR_ASAN)
    __sanitizer_finish_switch_fiber(NULL, &c->caller_bottom, &c->caller_size);
#endif
    c->state = CORO_RUNNING;
    c->transfer = c->fn(c->data);
    c->state = CORO_DONE;
    switch_out(c, true);
    __builtin_unreachable();
}

/* ---- lifetime ---- */

static void release(dfr__coro *c)
{
    dfr_destroy_fn destroy = c->destroy;
    void *data = c->data;
#if defined(DFR_TSAN)
    __tsan_destroy_fiber(c->fiber);
#endif
    dfr__stack_put(&c->stack);
    /* Last: destroy may start coroutines of its own, reusing this stack. */
    if (destroy)
        destroy(data);
}

void dfr__coro_discard(dfr__coro *c)
{
    release(c);
}

void dfr__coro_trim(void)
{
    dfr__stack_trim();
}

bool dfr__coro_step(dfr__coro *c, dfr_value in, dfr_value *out)
{
    if (DFR_UNLIKELY(c->owner != this_thread())) {
        /* Fired on a foreign thread: coroutines never migrate. */
        dfr_value_drop(in);
        release(c);
        *out = dfr__lib_failure_value(DFR_ENOTOWNER);
        return false;
    }
    c->transfer = in;
    switch_in(c);
    if (c->state == CORO_SUSPENDED) {
        *out = dfr_value_deferred(c->awaiting);
        c->awaiting = NULL;
        return true;
    }
    *out = c->transfer;
    release(c);
    return false;
}

/* ---- the API ---- */

static dfr_deferred *failed_at_once(int code, void *data, dfr_destroy_fn destroy)
{
    if (destroy)
        destroy(data);
    return dfr_fail(dfr__failure_lib(code));
}

dfr_deferred *dfr_inline_callbacks_ex(dfr_task_fn fn, void *data, dfr_destroy_fn destroy,
                                      const dfr_coroutine_options *opts)
{
    size_t size = DFR_CORO_DEFAULT_STACK;
    if (opts) {
        if (opts->size < offsetof(dfr_coroutine_options, stack_size) + sizeof opts->stack_size)
            return failed_at_once(DFR_EINVAL, data, destroy);
        if (opts->stack_size)
            size = opts->stack_size;
    }
    if (!fn || size > DFR_CORO_MAX_STACK)
        return failed_at_once(DFR_EINVAL, data, destroy);
    if (size < DFR_CORO_MIN_STACK)
        size = DFR_CORO_MIN_STACK;
    size_t page = dfr__page_size();
    size = (size + page - 1) & ~(page - 1);

    dfr__coro *c = (dfr__coro *)dfr__stack_get(size, sizeof(dfr__coro));
    if (!c) {
        if (destroy)
            destroy(data);
        return NULL;
    }
    memset((char *)c + sizeof c->stack, 0, sizeof *c - sizeof c->stack);
    c->fn = fn;
    c->data = data;
    c->destroy = destroy;
    c->owner = this_thread();
    c->state = CORO_NEW;
    dfr__ctx_make(&c->ctx, c->stack.base, c->stack.size, coro_entry, c);
#if defined(DFR_TSAN)
    c->fiber = __tsan_create_fiber(0);
#endif
    dfr_deferred *d = dfr__deferred_new_coro(c);
    if (!d) {
        release(c);
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

dfr_value dfr_await(dfr_deferred *d)
{
    if (DFR_UNLIKELY(!d))
        return dfr__lib_failure_value(DFR_EINVAL);
    dfr__coro *c = current;
    if (DFR_UNLIKELY(!c)) {
        dfr_deferred_unref(d);
        return dfr__lib_failure_value(DFR_ENOTCORO);
    }
    dfr_value v;
    int rc = dfr__deferred_await(c->driver, d, &v);
    if (rc > 0)
        return v; /* the fast path: no switch */
    if (DFR_UNLIKELY(rc < 0)) {
        dfr_deferred_unref(d);
        return dfr__lib_failure_value(rc);
    }
    c->awaiting = d;
    c->state = CORO_SUSPENDED;
    switch_out(c, false);
    c->state = CORO_RUNNING;
    v = c->transfer;
    c->transfer = dfr_none();
    return v;
}
