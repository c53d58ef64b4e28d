/* The Deferred: a result not there yet and the chain of callbacks that will
 * process it.  Chains run in a loop over an intrusive stack (never by
 * recursion), following Twisted's _runCallbacks; see docs/design.md.
 *
 * This file: construction, references, destruction, the unhandled-error
 * report, inspection and the ready-made deferreds.  The rest of the engine
 * is in the files deferred_impl.h lists. */
#include "core/deferred_impl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- construction and references ---- */

dfr_deferred *dfr__deferred_new_ex(dfr_canceller_fn canceller, void *data, dfr_destroy_fn destroy,
                                   unsigned options)
{
    bool with_canceller = canceller || destroy || (options & DFR__NO_SELF_CANCEL);
    bool with_origin = dfr__debug_on();
    size_t size = sizeof(dfr_deferred) + (with_canceller ? sizeof(dfr__canceller_slot) : 0) +
                  (with_origin ? sizeof(dfr__trace) : 0) +
                  ((options & DFR__CORO) ? sizeof(dfr__coro *) : 0);
    dfr_deferred *d = dfr__malloc(size);
    if (!d) {
        dfr__destroy(destroy, data);
        return NULL;
    }
    memset(d, 0, sizeof *d);
    atomic_init(&d->refs, 1);
    if (with_canceller) {
        d->flags |= DFR__F_HAS_CANCELLER;
        dfr__canceller_slot *c = canceller_of(d);
        c->fn = canceller;
        c->data = data;
        c->destroy = destroy;
        c->orphaned = NULL;
    }
    if (options & DFR__NO_SELF_CANCEL)
        d->flags |= DFR__F_NO_SELF_CANCEL;
    if (with_origin) {
        d->flags |= DFR__F_HAS_ORIGIN;
        dfr__trace_capture(origin_of(d), 2);
    }
    if (options & DFR__CORO) {
        d->flags |= DFR__F_CORO;
        *coro_slot(d) = NULL;
    }
    return d;
}

DFR__HOT dfr_deferred *dfr_deferred_new(void)
{
    if (DFR_UNLIKELY(dfr__debug_on()))
        return dfr__deferred_new_ex(NULL, NULL, NULL, 0);
    /* The hot path: only what a plain deferred needs. */
    dfr_deferred *d = block_alloc();
    if (!d)
        return NULL;
    atomic_init(&d->refs, 1);
    d->paused = 0;
    d->flags = 0;
    d->head = d->count = 0;
    d->result = dfr_none();
    d->more = NULL;
    d->waiter = NULL;
    return d;
}

dfr_deferred *dfr_deferred_new_cancellable(dfr_canceller_fn canceller, void *data,
                                           dfr_destroy_fn destroy)
{
    return dfr__deferred_new_ex(canceller, data, destroy, 0);
}

dfr_deferred *dfr_deferred_ref(dfr_deferred *d)
{
    if (d)
        ref_internal(d);
    return d;
}

/* Destruction can cascade (a freed inner releases the outer waiting on it,
 * which may release the next...).  Each thread frees through a loop over a
 * pending list so that a million-long cascade does not recurse. */
static DFR__FAST_TLS dfr_deferred *pending_free;
static DFR__FAST_TLS bool freeing;
static void deferred_destroy(dfr_deferred *d);

void dfr__free_deferred(dfr_deferred *d)
{
    d->link = pending_free;
    pending_free = d;
    if (freeing)
        return;
    freeing = true;
    while ((d = pending_free) != NULL) {
        pending_free = d->link;
        deferred_destroy(d);
    }
    freeing = false;
}

/* The last reference went. */
static inline __attribute__((always_inline)) void release_last(dfr_deferred *d)
{
    /* The last reference went while the deferred runs its own callbacks
     * (its firer held none): the loop frees it when it is done with it. */
    if (d->flags & DFR__F_ON_STACK) {
        /* 0, not the 1 the fast release leaves: a continuation may revive
         * it before the pop (pop_doomed). */
        atomic_store_explicit(&d->refs, 0, memory_order_relaxed);
        d->flags |= DFR__F_DOOMED;
        return;
    }
    /* The common end of a plain deferred: fired, every callback run, a
     * result that owns nothing.  Nothing to release but the block. */
    if ((d->flags & ~DFR__F_CALLED) == 0 && d->head == d->count && !d->waiter &&
        (!d->result.type || !d->result.type->drop)) {
        dfr__block_free(d);
        return;
    }
    dfr__free_deferred(d);
}

/* An owned deferred's release (count c >= DFR__OWNER_REF when read).  A
 * compare-and-swap loop, so that exactly the release leaving only the
 * owner's reference sees it, and runs the hook before letting go of its own
 * (d and the hook's data stay valid meanwhile, whatever thread this is). */
static __attribute__((noinline)) void release_owned(dfr_deferred *d, unsigned c)
{
    while (c > DFR__OWNER_REF + 1) {
        if (atomic_compare_exchange_weak_explicit(&d->refs, &c, c - 1, memory_order_acq_rel,
                                                  memory_order_acquire))
            return;
    }
    if (c == DFR__OWNER_REF + 1) {
        dfr__canceller_slot *cs = canceller_of(d);
        cs->orphaned(d, cs->data);
    }
    /* Below DFR__OWNER_REF: disowned meanwhile, an ordinary release. */
    if (atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) == 1)
        release_last(d);
}

DFR__HOT void dfr_deferred_unref(dfr_deferred *d)
{
    if (!d)
        return;
    /* dfr__release_last, with the owned deferreds' test on the path that
     * does not release the last reference (the count is >= 2 there). */
    unsigned c = atomic_load_explicit(&d->refs, memory_order_acquire);
    if (c != 1) {
        if (DFR_UNLIKELY(c >= DFR__OWNER_REF)) {
            release_owned(d, c);
            return;
        }
        if (atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) != 1)
            return;
    }
    release_last(d);
}

extern __typeof__(dfr_deferred_unref) dfr__deferred_unref
    __attribute__((alias("dfr_deferred_unref")));

void dfr__release_canceller_data(dfr_deferred *d)
{
    dfr__canceller_slot *c = canceller_of(d);
    if (c->orphaned)
        return; /* an owned deferred's data lives as long as it does */
    d->flags |= DFR__F_CANCELLER_DONE;
    dfr__destroy(c->destroy, c->data);
}

/* ---- owned deferreds (core_internal.h) ---- */

dfr_deferred *dfr__deferred_new_owned(dfr_canceller_fn canceller, void *data,
                                      dfr_destroy_fn destroy, dfr_canceller_fn orphaned,
                                      unsigned options)
{
    dfr_deferred *d = dfr__deferred_new_ex(canceller, data, destroy, options | DFR__NO_SELF_CANCEL);
    if (!d)
        return NULL;
    if (!(options & DFR__NO_SELF_CANCEL))
        d->flags &= ~DFR__F_NO_SELF_CANCEL; /* asked for only to get the slot */
    canceller_of(d)->orphaned = orphaned;
    atomic_store_explicit(&d->refs, DFR__OWNER_REF + 1, memory_order_relaxed);
    return d;
}

void dfr__deferred_disown(dfr_deferred *d)
{
    atomic_fetch_sub_explicit(&d->refs, DFR__OWNER_REF - 1, memory_order_acq_rel);
}

void dfr__deferred_release_owner(dfr_deferred *d)
{
    if (atomic_fetch_sub_explicit(&d->refs, DFR__OWNER_REF, memory_order_acq_rel) ==
        DFR__OWNER_REF)
        release_last(d);
}

bool dfr__deferred_waited_on(dfr_deferred *d)
{
    if (d->waiter)
        return true;
    for (uint32_t i = d->head; i < d->count; i++)
        if (entry_at(d, i)->cb == dfr__continue_marker)
            return true;
    return false;
}

/* ---- unhandled errors ---- */

static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static dfr_unhandled_error_fn hook_fn;
static void *hook_data;

void dfr_set_unhandled_error_hook(dfr_unhandled_error_fn fn, void *data)
{
    pthread_mutex_lock(&hook_lock);
    hook_fn = fn;
    hook_data = fn ? data : NULL;
    pthread_mutex_unlock(&hook_lock);
}

void dfr__deferred_print_origin(FILE *out, const dfr_deferred *d)
{
    if (d && (d->flags & DFR__F_HAS_ORIGIN)) {
        fputs("Deferred made at:\n", out);
        dfr__trace_print(out, origin_of(d), "    ");
    }
}

void dfr__report_unhandled(const dfr_deferred *d, const dfr_failure *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&hook_lock);
    dfr_unhandled_error_fn fn = hook_fn;
    void *data = hook_data;
    pthread_mutex_unlock(&hook_lock);
    if (fn) {
        fn(f, data);
        return;
    }
    char *text = dfr_failure_describe(f);
    flockfile(stderr);
    fprintf(stderr, "Unhandled error in Deferred:\n%s", text ? text : "(out of memory)\n");
    dfr__deferred_print_origin(stderr, d);
    funlockfile(stderr);
    free(text);
}

/* An entry that will never run: release what it holds. */
static void discard_entry(dfr__cb_entry *e)
{
    if (e->cb == dfr__continue_marker) {
        /* The deferred waiting on us will never get a result from us. */
        dfr_deferred *outer = e->data;
        outer->result.u.ptr = NULL;
        if (coro_live(outer)) {
            /* Its coroutine waited for us: it can never resume. */
            dfr__coro *c = *coro_slot(outer);
            *coro_slot(outer) = NULL;
            coro_discard(c);
        }
        dfr_deferred_unref(outer);
    } else if (e->destroy) {
        e->destroy(e->data);
    }
}

static void deferred_destroy(dfr_deferred *d)
{
    if (has_usable_result(d)) {
        if (dfr_is_failure(d->result))
            dfr__report_unhandled(d, d->result.u.ptr);
        dfr_value_drop(d->result);
    }
    /* Entries are discarded in order; a destroy may touch other deferreds
     * (never this one: nobody holds it any more). */
    while (d->head < d->count) {
        dfr__cb_entry e = take_entry(d);
        discard_entry(&e);
    }
    if (d->waiter) {
        dfr__cb_entry e = {dfr__continue_marker, dfr__continue_marker, d->waiter, NULL};
        d->waiter = NULL;
        discard_entry(&e);
    }
    dfr__free(d->more);
    if (coro_live(d)) {
        dfr__coro *c = *coro_slot(d);
        *coro_slot(d) = NULL;
        coro_discard(c);
    }
    if ((d->flags & (DFR__F_HAS_CANCELLER | DFR__F_CANCELLER_DONE)) == DFR__F_HAS_CANCELLER) {
        dfr__canceller_slot *c = canceller_of(d);
        dfr__destroy(c->destroy, c->data);
    }
    if (d->flags & (DFR__F_HAS_CANCELLER | DFR__F_HAS_ORIGIN | DFR__F_CORO))
        dfr__free(d); /* a larger block */
    else
        dfr__block_free(d);
}

/* ---- inspection ---- */

int dfr_deferred_state(const dfr_deferred *d)
{
    if (!d)
        return DFR_STATE_INVALID;
    if (!has_usable_result(d))
        return DFR_PENDING;
    return dfr_is_failure(d->result) ? DFR_FAILED : DFR_SUCCEEDED;
}

const dfr_value *dfr_deferred_result(const dfr_deferred *d)
{
    return d && has_usable_result(d) ? &d->result : NULL;
}

int dfr_deferred_paused(const dfr_deferred *d)
{
    return d ? d->paused : DFR_EINVAL;
}

/* The steal of a returned deferred (adopt_returned_deferred) and of
 * dfr_await's fast path, for code that awaits without a coroutine (the
 * bindings' async/await): no callback pair to add and run. */
bool dfr_deferred_take_result(dfr_deferred *d, dfr_value *out)
{
    if (DFR_UNLIKELY(!d || !out))
        return false;
    if (!runnable(d) || d->head != d->count || d->waiter || coro_live(d))
        return false;
    if (DFR_UNLIKELY(out->type != NULL))
        dfr_value_drop(*out); /* a slot, as in ffi_forms.h */
    *out = d->result;
    d->result = dfr_none();
    return true;
}

/* ---- ready-made deferreds ---- */

dfr_deferred *dfr_succeed(dfr_value v)
{
    if (dfr_is_deferred(v))
        return v.u.ptr;
    dfr_deferred *d = dfr_deferred_new();
    if (!d) {
        dfr_value_drop(v);
        return NULL;
    }
    d->result = v;
    d->flags |= DFR__F_CALLED;
    return d;
}

dfr_deferred *dfr_fail(dfr_failure *f)
{
    if (!f)
        return dfr__refused(DFR_EINVAL);
    return dfr_succeed(dfr_value_failure(f));
}

dfr_deferred *dfr_maybe_deferred(dfr_task_fn fn, void *data)
{
    if (!fn)
        return dfr__refused(DFR_EINVAL);
    return dfr_succeed(fn(data));
}
