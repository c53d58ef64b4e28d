/* The chain engine: adding callbacks, firing, the callback loop (Twisted's
 * _runCallbacks, as a loop over an intrusive stack), cancel and pause. */
#include "core/deferred_coro.h"
#include "core/deferred_impl.h"

/* Marks a continuation: data is the deferred waiting on this one (a
 * reference).  Never called. */
dfr_value dfr__continue_marker(dfr_value v, void *data)
{
    DFR_UNUSED(data);
    return v;
}
/* Marks chainDeferred: data is the deferred to fire (a reference). */
dfr_value dfr__chain_marker(dfr_value v, void *data)
{
    DFR_UNUSED(data);
    return v;
}

/* ---- adding callbacks ---- */

/* Double the capacity of `more` (at least 4 entries). */
int dfr__grow_entries(dfr_deferred *d)
{
    unsigned log2 = d->flags >> DFR__CAP_SHIFT;
    log2 = log2 ? log2 + 1 : 2;
    if (log2 > DFR__CAP_LOG2_MAX)
        return DFR_ENOMEM;
    dfr__cb_entry *more = dfr__realloc(d->more, ((size_t)1 << log2) * sizeof(dfr__cb_entry));
    if (!more)
        return DFR_ENOMEM;
    d->more = more;
    d->flags = (uint16_t)((d->flags & DFR__FLAG_MASK) | (log2 << DFR__CAP_SHIFT));
    return 0;
}

int dfr__deferred_reserve(dfr_deferred *d, uint32_t n)
{
    /* Entries up to index count+n-1 (one more for a waiter to settle);
     * index i >= 1 lives in more[i-1]. */
    if (d->waiter)
        n++;
    while (d->count + n > 1 && d->count + n - 1 > cap_of(d)) {
        int rc = dfr__grow_entries(d);
        if (rc)
            return rc;
    }
    return 0;
}

DFR__HOT int dfr_deferred_add_callbacks(dfr_deferred *d, dfr_callback_fn cb, dfr_callback_fn eb, void *data,
                               dfr_destroy_fn destroy)
{
    if (!d) {
        dfr__destroy(destroy, data);
        return DFR_EINVAL;
    }
    int rc = settle_waiter(d);
    if (rc == 0)
        rc = push_entry(d, cb, eb, data, destroy);
    if (rc) {
        dfr__destroy(destroy, data);
        return rc;
    }
    if (runnable(d))
        dfr__run_callbacks(d);
    return 0;
}

static int add_one(dfr_deferred *d, dfr_callback_fn cb, dfr_callback_fn eb, void *data,
                   dfr_destroy_fn destroy)
{
    if (!cb && !eb) {
        dfr__destroy(destroy, data);
        return DFR_EINVAL;
    }
    return dfr_deferred_add_callbacks(d, cb, eb, data, destroy);
}

DFR__HOT int dfr_deferred_add_callback(dfr_deferred *d, dfr_callback_fn cb, void *data, dfr_destroy_fn destroy)
{
    return add_one(d, cb, NULL, data, destroy);
}

int dfr_deferred_add_errback(dfr_deferred *d, dfr_callback_fn eb, void *data, dfr_destroy_fn destroy)
{
    return add_one(d, NULL, eb, data, destroy);
}

int dfr_deferred_add_both(dfr_deferred *d, dfr_callback_fn fn, void *data, dfr_destroy_fn destroy)
{
    return add_one(d, fn, fn, data, destroy);
}

static void unref_deferred(void *data)
{
    dfr__deferred_unref(data);
}

/* chainDeferred(d, d): handing d's result to d itself can only fail as
 * "already called" (S17); no reference to itself, which would leak it. */
static dfr_value chained_to_itself(dfr_value v, void *data)
{
    DFR_UNUSED(data);
    dfr_value_drop(v);
    return dfr__lib_failure_value(DFR_EALREADY);
}

int dfr_deferred_chain(dfr_deferred *d, dfr_deferred *other)
{
    if (!d || !other)
        return DFR_EINVAL;
    if (d == other)
        return dfr_deferred_add_callbacks(d, chained_to_itself, chained_to_itself, NULL, NULL);
    ref_internal(other);
    return dfr_deferred_add_callbacks(d, dfr__chain_marker, dfr__chain_marker, other,
                                      unref_deferred);
}

/* ---- firing ---- */

/* Callbacks firing deferreds: a callback that fires another deferred runs
 * that one's callbacks inside its own frame, and so on, one set of C frames
 * per level (a callback firing the next deferred, 100,000 deep, overflowed
 * the stack; Twisted's 250th fails with RecursionError).  Past FIRE_NEST
 * nested firings on a thread's stack, the run waits in a queue that the
 * firing at the last level drains once its own run is done: the same
 * callbacks in the same order for each deferred, a bounded stack.  The level a firing
 * would have had still counts: past FIRE_LEVEL_MAX the deferred fails with
 * DFR_EOVERFLOW instead of its result, so that runaway recursion ends as in
 * Twisted rather than looping for ever.  On a coroutine's stack firings run
 * in place, uncounted: a coroutine may suspend inside a run, which would
 * leave the thread's count raised. */
#define FIRE_NEST 32
#define FIRE_LEVEL_MAX 1000000u

typedef struct queued_run {
    dfr_deferred *d; /* a reference */
    unsigned level;  /* the nesting it was fired at */
    struct queued_run *next;
} queued_run;

static DFR__FAST_TLS struct {
    unsigned depth; /* nested run_fired frames on this stack */
    unsigned base;  /* level = base + depth (a drained run's level) */
    queued_run *head, *tail;
} firing;

/* Past FIRE_NEST levels d waits in the queue (true); out of memory, false:
 * it runs at once, as before. */
static bool queue_run(dfr_deferred *d, unsigned level)
{
    if (firing.depth < FIRE_NEST)
        return false;
    queued_run *q = dfr__malloc(sizeof *q);
    if (!q)
        return false;
    ref_internal(d);
    *q = (queued_run){d, level, NULL};
    if (firing.tail)
        firing.tail->next = q;
    else
        firing.head = q;
    firing.tail = q;
    return true;
}

static void run_fired(dfr_deferred *d)
{
    if (dfr__coro_current) { /* not counted: it may suspend inside */
        dfr__run_callbacks(d);
        return;
    }
    unsigned level = firing.base + firing.depth;
    if (DFR_UNLIKELY(level >= FIRE_LEVEL_MAX)) {
        dfr_value_drop(d->result);
        dfr_failure *f = dfr_failure_new(DFR_DOMAIN, DFR_EOVERFLOW,
                                         "callbacks firing deferreds nested over a million deep");
        d->result = dfr_value_failure(f ? f : dfr__failure_static(DFR_ENOMEM));
    }
    if (queue_run(d, level))
        return;
    unsigned at = firing.depth;
    firing.depth++;
    dfr__run_callbacks(d);
    firing.depth--;
    if (DFR_LIKELY(!firing.head) || at != FIRE_NEST - 1)
        return;
    /* The last level that runs in place: the runs queued above it, in
     * order, each at the level it was fired at.  Draining here rather than
     * in the outermost firing keeps the wait short when the outermost is far
     * away (an event loop's callback running code that fires deferreds).
     * A run may have happened meanwhile (a callback added to it ran it), or
     * its deferred be paused: then there is nothing to do here. */
    unsigned base = firing.base;
    while (firing.head) {
        queued_run *q = firing.head;
        firing.head = q->next;
        if (!firing.head)
            firing.tail = NULL;
        dfr_deferred *qd = q->d;
        firing.base = q->level - at;
        dfr__free(q);
        firing.depth++;
        if (runnable(qd))
            dfr__run_callbacks(qd);
        firing.depth--;
        dfr__deferred_unref(qd);
    }
    firing.base = base;
}

static int fire(dfr_deferred *d, dfr_value v)
{
    if (d->flags & DFR__F_CALLED) {
        dfr_value_drop(v);
        if (d->flags & DFR__F_SUPPRESS) {
            d->flags &= ~DFR__F_SUPPRESS;
            return 0;
        }
        return DFR_EALREADY;
    }
    if (feeds_coroutine(d))
        return resume_waiting_coroutine(d, v);
    set_result(d, v);
    if (runnable(d))
        run_fired(d);
    return 0;
}

DFR__HOT int dfr_deferred_callback(dfr_deferred *d, dfr_value v)
{
    if (!d || dfr_is_deferred(v)) {
        dfr_value_drop(v);
        return DFR_EINVAL;
    }
    return fire(d, v);
}

int dfr_deferred_errback(dfr_deferred *d, dfr_failure *f)
{
    if (!d || !f) {
        dfr_failure_unref(f);
        return DFR_EINVAL;
    }
    return fire(d, dfr_value_failure(f));
}

/* ---- the callback loop ---- */

/* A callback of `cur` returned the deferred `inner` (a reference we own).
 * Either take its result now, or make cur wait for it.  The continuation
 * needs a reference to cur: when the running stack holds one (`ref` is
 * DFR__REF_HELD), that one moves to it and DFR__REF_MOVED is returned;
 * otherwise `ref` is. */
DFR__HOT dfr__stack_ref dfr__adopt_returned_deferred(dfr_deferred *cur, dfr_deferred *inner,
                                            dfr__stack_ref ref)
{
    if (inner == cur) {
        /* Twisted warns and then hangs forever; we fail the chain instead. */
        cur->result = dfr__lib_failure_value(DFR_EINVAL);
        dfr__deferred_unref(inner);
        return ref;
    }
    if (runnable(inner)) {
        /* Steal: inner has a result and nothing of its own left to run. */
        cur->result = inner->result;
        inner->result = dfr_none();
        dfr__deferred_unref(inner);
        return ref;
    }
    if (settle_waiter(inner) != 0) {
        cur->result = dfr_value_failure(dfr__failure_static(DFR_ENOMEM));
        dfr__deferred_unref(inner);
        return ref;
    }
    inner->waiter = cur; /* the continuation holds a reference */
    if (ref != DFR__REF_HELD)
        ref_internal(cur);
    cur->flags |= DFR__F_WAITING;
    cur->result.type = NULL;
    cur->result.u.ptr = inner;
    dfr__deferred_unref(inner);
    return ref == DFR__REF_HELD ? DFR__REF_MOVED : ref;
}

/* chainDeferred: hand cur's result to `other`.  Returns other when it must
 * now run (its reference moves to the caller), else NULL. */
static dfr_deferred *hand_over(dfr_deferred *cur, dfr_deferred *other)
{
    if (other->flags & DFR__F_CALLED) {
        dfr_value_drop(cur->result);
        if (other->flags & DFR__F_SUPPRESS) {
            other->flags &= ~DFR__F_SUPPRESS;
            cur->result = dfr_none();
        } else {
            cur->result = dfr__lib_failure_value(DFR_EALREADY);
        }
        dfr__deferred_unref(other);
        return NULL;
    }
    set_result(other, cur->result);
    cur->result = dfr_none();
    if (runnable(other))
        return other;
    dfr__deferred_unref(other);
    return NULL;
}

/* Only the deferreds this loop pushes carry a reference of the stack's own.
 * The one it starts with is the caller's: if its last reference goes while
 * it runs (the firer held none), unref marks it doomed and the pop frees it,
 * which costs no atomic operation on the common path. */
DFR__HOT void dfr__run_callbacks(dfr_deferred *d)
{
    d->flags |= DFR__F_ON_STACK;
    d->link = NULL;
    dfr_deferred *top = d;

    while (top) {
        dfr_deferred *cur = top;
        dfr_deferred *next = NULL; /* a deferred to run before cur continues */
        /* cur is the caller's; every deferred pushed since carries a reference */
        dfr__stack_ref ref = cur != d ? DFR__REF_HELD : DFR__REF_NONE;

        while (cur->paused == 0 && !(cur->flags & DFR__F_WAITING)) {
            if (coro_live(cur)) {
                ref = dfr__coro_step(cur, ref);
                continue;
            }
            dfr__cb_entry e;
            if (cur->head < cur->count) {
                e = take_entry(cur);
            } else if (cur->waiter) {
                e = (dfr__cb_entry){dfr__continue_marker, dfr__continue_marker, cur->waiter, NULL};
                cur->waiter = NULL;
            } else {
                break;
            }
            bool failed = dfr_is_failure(cur->result);
            dfr_callback_fn fn = failed ? e.eb : e.cb;

            if (fn == dfr__continue_marker) {
                /* The outer deferred waiting on cur gets cur's result. */
                dfr_deferred *outer = e.data;
                outer->result = cur->result;
                outer->flags &= ~DFR__F_WAITING;
                cur->result = dfr_none();
                if (runnable(outer)) {
                    next = outer; /* the continuation's reference moves to the stack */
                    break;
                }
                dfr__deferred_unref(outer);
                continue;
            }
            if (fn == dfr__chain_marker) {
                next = hand_over(cur, e.data);
                if (next)
                    break;
                continue;
            }
            if (!fn) {
                dfr__destroy(e.destroy, e.data);
                continue;
            }

            dfr_value in = cur->result;
            cur->result = dfr_none();
            if (failed && dfr__debug_on())
                dfr__failure_note_passed(in.u.ptr, (const void *)fn);
            dfr_value out = fn(in, e.data);
            dfr__destroy(e.destroy, e.data);
            if (dfr_is_deferred(out)) {
                ref = dfr__adopt_returned_deferred(cur, out.u.ptr, ref);
            } else {
                cur->result = out;
            }
        }

        if (next) {
            next->flags |= DFR__F_ON_STACK;
            next->link = top;
            top = next;
            continue;
        }
        /* cur has run all it can: pop it. */
        top = cur->link;
        cur->flags &= ~DFR__F_ON_STACK;
        if (ref == DFR__REF_HELD)
            dfr__deferred_unref(cur);
        else if (cur->flags & DFR__F_DOOMED)
            pop_doomed(cur);
    }
}

/* ---- cancel and pause ---- */

/* The deferred d waits on, or NULL. */
static inline dfr_deferred *waits_on(const dfr_deferred *d)
{
    return (d->flags & DFR__F_WAITING) ? d->result.u.ptr : NULL;
}

/* The end of the chain of waits from d, or, when the chain runs into a
 * cycle (a waits on b which waits on a: nothing can ever fire it), the
 * first deferred of the cycle, with *cycle set.  Brent's algorithm: a loop
 * with O(1) memory; the chain is as long as users make it. */
static dfr_deferred *innermost(dfr_deferred *d, bool *cycle)
{
    dfr_deferred *mark = d, *p = d, *q;
    size_t power = 1, len = 0;
    *cycle = false;
    while ((q = waits_on(p)) != NULL) {
        p = q;
        len++;
        if (p == mark) {
            *cycle = true;
            break;
        }
        if (len == power) {
            mark = p;
            power *= 2;
            len = 0;
        }
    }
    if (!*cycle)
        return p;
    /* len is the cycle's length: a walker len steps ahead of another meets
     * it at the cycle's first deferred. */
    dfr_deferred *ahead = d, *behind = d;
    for (size_t i = 0; i < len; i++)
        ahead = waits_on(ahead);
    while (ahead != behind) {
        ahead = waits_on(ahead);
        behind = waits_on(behind);
    }
    return behind;
}

/* d waits on inner within a cycle: take back the continuation inner holds
 * for d (and its reference, which the caller's replaces).  False if there
 * is none (never expected). */
static bool stop_waiting(dfr_deferred *d, dfr_deferred *inner)
{
    if (inner->waiter == d) {
        inner->waiter = NULL;
    } else {
        uint32_t i = inner->head;
        while (i < inner->count &&
               !(entry_at(inner, i)->cb == dfr__continue_marker && entry_at(inner, i)->data == d))
            i++;
        if (i == inner->count)
            return false;
        *entry_at(inner, i) = (dfr__cb_entry){NULL, NULL, NULL, NULL}; /* the loop skips it */
    }
    d->flags &= ~DFR__F_WAITING;
    d->result = dfr_none();
    dfr__deferred_unref(d); /* the continuation's; the caller holds another */
    return true;
}

void dfr_deferred_cancel(dfr_deferred *d)
{
    if (!d)
        return;
    /* Forward down the chain of waits in a loop: the innermost gets the
     * cancel.  A cycle has no innermost: its first deferred stops waiting
     * and fails with the cancel, which breaks the cycle (Twisted recurses
     * until RecursionError and changes nothing). */
    bool cycle;
    dfr_deferred *start = d;
    d = innermost(d, &cycle);
    /* A cycle through a canceller: the innermost is running its canceller,
     * which cancelled start (a DeferredList whose input waits on the list
     * itself).  Forwarding would do nothing and leave both pending forever:
     * start stops waiting and fails, as the first deferred of a cycle of
     * waits does. */
    if (!cycle && d != start && (d->flags & DFR__F_IN_CANCELLER)) {
        cycle = true;
        d = start;
    }
    ref_internal(d);
    if (cycle) {
        if (stop_waiting(d, waits_on(d))) {
            d->result = dfr__lib_failure_value(DFR_ECANCELLED);
            if (runnable(d))
                dfr__run_callbacks(d);
        }
    } else if (!(d->flags & DFR__F_CALLED)) {
        dfr__canceller_slot *c = (d->flags & DFR__F_HAS_CANCELLER) ? canceller_of(d) : NULL;
        if (c && c->fn) {
            if (!(d->flags & (DFR__F_CANCELLER_DONE | DFR__F_IN_CANCELLER))) {
                d->flags |= DFR__F_IN_CANCELLER;
                c->fn(d, c->data);
                d->flags &= ~DFR__F_IN_CANCELLER;
                if (d->flags & DFR__F_CALLED)
                    release_canceller(d); /* it fired d from inside */
            }
        } else if (!(d->flags & DFR__F_NO_SELF_CANCEL)) {
            d->flags |= DFR__F_SUPPRESS;
        }
        if (!(d->flags & (DFR__F_CALLED | DFR__F_NO_SELF_CANCEL)))
            fire(d, dfr__lib_failure_value(DFR_ECANCELLED));
    } else if (d->flags & DFR__F_WAITING) {
        /* Its inner deferred was freed without firing: nothing can ever
         * complete it, so the cancel does. */
        d->flags &= ~DFR__F_WAITING;
        d->result = dfr__lib_failure_value(DFR_ECANCELLED);
        if (runnable(d))
            dfr__run_callbacks(d);
    }
    dfr__deferred_unref(d);
}

int dfr_deferred_pause(dfr_deferred *d)
{
    if (!d)
        return DFR_EINVAL;
    if (d->paused == INT16_MAX)
        return DFR_EOVERFLOW;
    d->paused++;
    return 0;
}

int dfr_deferred_unpause(dfr_deferred *d)
{
    if (!d || d->paused == 0)
        return DFR_EINVAL;
    if (--d->paused == 0 && runnable(d))
        dfr__run_callbacks(d);
    return 0;
}
