/* The core layer's internals (values, failures, the chain engine,
 * DeferredList, the FFI adapters), for the layers above: sync, coro,
 * reactor, thread, net.  The engine's own private parts are in
 * core/deferred_impl.h. */
#ifndef DFR_CORE_INTERNAL_H
#define DFR_CORE_INTERNAL_H

#include "base/base_internal.h"

/* ---- value.c: drops that nest run in a loop, not by recursion ----
 * A container value (failure, list) whose last reference went becomes a
 * frame on this thread's stack of dying containers, linked through the
 * container itself (no allocation).  The loop asks the top frame for its
 * children one at a time and drops them: a nested container is pushed, not
 * recursed into; drop hooks of other types (deferreds, user types) run
 * directly up to a bounded depth, deeper ones wait on a side stack. */
typedef struct dfr__dying dfr__dying;
enum {
    DFR__TAKE_DONE, /* no child left: the container freed itself */
    DFR__TAKE_MORE, /* a child; the container has more */
    DFR__TAKE_LAST  /* its last child: the container freed itself */
};
struct dfr__dying {
    dfr__dying *next;
    int (*take)(dfr__dying *self, dfr_value *child);
};
/* Drop a dying container's children and free it (NULL: nothing). */
void dfr__drop_dying(dfr__dying *d);

/* ---- failure.c ---- */
/* Drop a reference: the failure's frame when it was the last, else NULL. */
dfr__dying *dfr__failure_release(dfr_failure *f);
/* Immortal failures used where allocating one is impossible or wasteful
 * (OOM inside a chain, cancellation outside debug mode). */
dfr_failure *dfr__failure_static(int code);
/* A library failure (domain "dfr"): allocated in debug mode so that it can
 * record where it was made, otherwise (or on OOM) the immortal one. */
dfr_failure *dfr__failure_lib(int code);
/* DFR_EFIRST wrapping `cause` (takes the reference) for input `index`. */
dfr_failure *dfr__failure_first(dfr_failure *cause, size_t index);
/* Debug mode: note that failure f passed through callback fn. */
void dfr__failure_note_passed(dfr_failure *f, const void *fn);

static inline dfr_value dfr__lib_failure_value(int code)
{
    return dfr_value_failure(dfr__failure_lib(code));
}

/* The error rule for deferred-returning calls: a refusal is a deferred that
 * already failed with `code`; NULL only when even that cannot be allocated. */
static inline dfr_deferred *dfr__refused(int code)
{
    return dfr_succeed(dfr__lib_failure_value(code));
}

/* ---- the chain engine (deferred.c, deferred_chain.c) ---- */
enum {
    /* Cancel runs the canceller only: the deferred does not errback itself
     * (DeferredList: it fires from its inputs' results). */
    DFR__NO_SELF_CANCEL = 1u << 0,
    /* Driven by a coroutine (coro.c): a slot for it follows the struct. */
    DFR__CORO = 1u << 1
};
dfr_deferred *dfr__deferred_new_ex(dfr_canceller_fn canceller, void *data, dfr_destroy_fn destroy,
                                   unsigned options);
/* Owned deferreds: a deferred held by an internal structure (a list's
 * state) that also holds what the deferred's canceller reaches.  The count
 * starts at the owner's reference and the caller's.  When every reference
 * but the owner's is gone, nobody can cancel it any more: `orphaned(d,
 * data)` runs then, on the thread of that release, which still holds its
 * reference meanwhile (it may run again if internal code took and dropped
 * one).  The canceller's data lives until d is freed (not only until its
 * result), so the hook always finds it.  NULL on OOM (destroy has run). */
dfr_deferred *dfr__deferred_new_owned(dfr_canceller_fn canceller, void *data,
                                      dfr_destroy_fn destroy, dfr_canceller_fn orphaned,
                                      unsigned options);
/* The owner's reference becomes an ordinary one: no more hook. */
void dfr__deferred_disown(dfr_deferred *d);
/* The owner drops its reference. */
void dfr__deferred_release_owner(dfr_deferred *d);
/* Something waits on d (a deferred whose callback returned it, a
 * coroutine awaiting it): cancelling that reaches d. */
bool dfr__deferred_waited_on(dfr_deferred *d);
/* Make sure n more callbacks can be added without allocating. */
int dfr__deferred_reserve(dfr_deferred *d, uint32_t n);
/* Report a failure nobody handled (the unhandled-error hook); d may be NULL. */
void dfr__report_unhandled(const dfr_deferred *d, const dfr_failure *f);
/* Print where the deferred was made (debug mode), nothing otherwise. */
void dfr__deferred_print_origin(FILE *out, const dfr_deferred *d);

/* ---- deferred_coro.c: what coroutines need of the chain engine ---- */
typedef struct dfr__coro dfr__coro;
/* The coroutine layer's side of the engine's rare calls (the hot resume and
 * await paths are direct: deferred_coro.h, deferred_await.c). */
typedef struct dfr__coro_ops {
    /* c is finished, refused, or can never be resumed (what it awaited
     * went): release its stack and run its destroy. */
    void (*discard)(dfr__coro *c);
} dfr__coro_ops;
/* A deferred driven by coroutine c: before its callbacks run, each result
 * it receives resumes c (coro_step in deferred_coro.c).  `ops` (static
 * storage, the same every call) registers the coroutine layer with the
 * engine.  NULL on OOM. */
dfr_deferred *dfr__deferred_new_coro(dfr__coro *c, const dfr__coro_ops *ops);
/* Run c's first step (the deferred counts as fired from now on). */
void dfr__deferred_start(dfr_deferred *d);
/* dfr_await is the engine's too (deferred_await.c): its switch out is a
 * tail call there. */

/* ---- deferred_cache.c: dfr_trim and the layers' per-thread caches ----
 * A per-thread cache of a layer above (coroutine stacks) calls this before
 * keeping anything: it arms dfr_trim() for this thread's exit and adds
 * `trim` (the layer's hook, emptying this thread's cache) to what dfr_trim
 * runs.  False when that cannot be done: then do not cache. */
bool dfr__trim_at_thread_exit(dfr__hook *trim);
/* Run the trim hooks of the layers above on this thread: dfr_trim without
 * emptying the cache of freed deferreds. */
void dfr__trim_hooks_run(void);

/* ---- list.c ---- */
dfr_list *dfr__list_new(size_t n);
void dfr__list_set(dfr_list *l, size_t i, bool ok, dfr_value v);
dfr_list *dfr__list_ref(dfr_list *l);
void dfr__list_unref(dfr_list *l);
/* Drop a reference: the list's frame when it was the last, else NULL. */
dfr__dying *dfr__list_release(dfr_list *l);

/* ---- ffi_wrap.c: the FFI forms' adapter ----
 * A callback or task in FFI form (dfr_value_fn) registered with the engine
 * as an ordinary dfr_callback_fn / dfr_task_fn.  The engine owns the
 * adapter as its `data`; its `destroy` runs the user's destroy and frees
 * the adapter, so the user's destroy runs exactly when, and as often as,
 * the engine's rule says. */
typedef struct dfr__ffi_wrap {
    dfr_value_fn cb, eb; /* eb: the errback of a callback pair */
    void *data;
    dfr_destroy_fn destroy;
} dfr__ffi_wrap;

/* A new adapter; NULL on OOM, and then destroy(data) has run. */
dfr__ffi_wrap *dfr__ffi_wrap_new(dfr_value_fn cb, dfr_value_fn eb, void *data,
                                 dfr_destroy_fn destroy);
/* The engine's destroy for an adapter. */
void dfr__ffi_wrap_destroy(void *w);
/* dfr_callback_fn running w->cb / w->eb on the result in place. */
dfr_value dfr__ffi_run_cb(dfr_value v, void *w);
dfr_value dfr__ffi_run_eb(dfr_value v, void *w);
/* dfr_task_fn running w->cb on a none slot. */
dfr_value dfr__ffi_run_task(void *w);

#endif
