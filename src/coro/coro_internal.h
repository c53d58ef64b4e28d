/* The coroutine control block and its two switches.  coro.c owns the
 * lifetime and the API; the chain engine (core/deferred_coro.[ch],
 * core/deferred_await.c) resumes and suspends coroutines with these inline,
 * since the await round trip is the hot path of every coroutine. */
#ifndef DFR_CORO_INTERNAL_H
#define DFR_CORO_INTERNAL_H

#include "core/core_internal.h"
#include "coro/coro_context.h"
#include "coro/coro_stack.h"

#if defined(DFR_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(DFR_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

enum dfr__coro_state { DFR__CORO_NEW, DFR__CORO_RUNNING, DFR__CORO_SUSPENDED, DFR__CORO_DONE };

/* At the top of the coroutine's own stack mapping. */
struct dfr__coro {
    dfr__stack stack;   /* first: the stack module's header */
    dfr__ctx ctx;       /* the coroutine, while it is not running */
    dfr__ctx caller;    /* whoever resumed it, while it runs */
    dfr__coro *resumer; /* the coroutine that resumed it; NULL: a thread's own stack */
    dfr_deferred *driver; /* the deferred it fires (it holds our slot) */
    dfr_task_fn fn;
    void *data;
    dfr_destroy_fn destroy;
    dfr_value transfer;     /* the value it returned */
    dfr__ctx_then caller_then; /* how its resumer takes control back (NULL: inline switch) */
    dfr_deferred *firing;   /* the deferred whose result resumed it directly (deferred_coro.h) */
    dfr_deferred *awaiting; /* what it suspended on (a reference), for the engine */
    void *owner; /* dfr__coro_thread() of the thread that started it */
    enum dfr__coro_state state;
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

/* The coroutine running on this thread, or NULL.  initial-exec: one
 * %fs-relative access, no __tls_get_addr call. */
extern _Thread_local __attribute__((tls_model("initial-exec"))) dfr__coro *dfr__coro_current;

/* Names the calling thread (coroutines compare owners with it). */
static inline void *dfr__coro_thread(void)
{
    return (void *)&dfr__coro_current;
}

/* These are always inlined, even at -O0: a function that tells TSan of a
 * fiber switch must not return on the other fiber, or TSan pops its frame
 * from the wrong shadow stack (one frame leaked per resume: false races,
 * then a crash).  Each fiber switch sits in the frame that also makes the
 * stack switch, which is on the same fiber again when it returns. */
#define DFR__CORO_INLINE static inline __attribute__((always_inline))

/* The resumer's side of a switch to c, before it; the sanitizers hear of
 * each stack change. */
DFR__CORO_INLINE void dfr__coro_enter(dfr__coro *c)
{
    c->resumer = dfr__coro_current;
    dfr__coro_current = c;
    c->state = DFR__CORO_RUNNING;
#if defined(DFR_ASAN)
    __sanitizer_start_switch_fiber(&c->caller_fake, c->stack.base, c->stack.size);
#endif
#if defined(DFR_TSAN)
    c->caller_fiber = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(c->fiber, 0);
#endif
}

/* The resumer's side once c has switched back to it. */
DFR__CORO_INLINE void dfr__coro_left(dfr__coro *c)
{
#if defined(DFR_ASAN)
    __sanitizer_finish_switch_fiber(c->caller_fake, NULL, NULL);
#endif
    dfr__coro_current = c->resumer;
}

/* Run c, handing it v (what its dfr_await returns), until it switches back. */
DFR__CORO_INLINE void dfr__coro_switch_in(dfr__coro *c, dfr_value v)
{
    dfr__coro_enter(c);
    c->caller_then = NULL;
    dfr__ctx_switch_give(&c->caller, &c->ctx, v);
    dfr__coro_left(c);
}

/* Run c, handing it v; once it switches back, then(c) runs on our stack
 * (first calling dfr__coro_left) and this returns what then returns.  A
 * caller that returns this at once hands control over by a tail call, and
 * the switch back returns from that caller by a jump (coro_context.h). */
DFR__CORO_INLINE int dfr__coro_resume(dfr__coro *c, dfr_value v, dfr__ctx_then then)
{
#if defined(DFR_TSAN)
    /* Under TSan, an ordinary switch and call: what TSan sees is plain
     * calls and returns on each fiber. */
    dfr__coro_switch_in(c, v);
    return then(c); /* its dfr__coro_left repeats switch_in's: harmless */
#else
    dfr__coro_enter(c);
    c->caller_then = then;
    return dfr__ctx_resume(&c->caller, &c->ctx, v);
#endif
}

/* From inside c, back to its resumer; returns what c is resumed with
 * (never, when finished). */
DFR__CORO_INLINE dfr_value dfr__coro_switch_out(dfr__coro *c, bool finished)
{
    dfr__stack_check(&c->stack); /* a stack without a guard page */
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
#if defined(DFR_ASAN)
    dfr_value v = dfr__ctx_suspend(&c->ctx, &c->caller, c->caller_then, c);
    __sanitizer_finish_switch_fiber(c->fake_stack, &c->caller_bottom, &c->caller_size);
    return v;
#else
    return dfr__ctx_suspend(&c->ctx, &c->caller, c->caller_then, c);
#endif
}

#endif
