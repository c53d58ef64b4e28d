/* DeferredList and gatherResults, and the dfr_list value they fire with. */
#include "core/core_internal.h"

#include <sched.h>
#include <stddef.h>
#include <string.h>

typedef struct list_entry {
    dfr_value v;
    bool ok;
} list_entry;

struct dfr_list {
    atomic_uint refs;
    size_t n;
    size_t dropped;   /* once dying: entries handed to value.c's loop */
    dfr__dying dying; /* once the last reference went */
    list_entry e[];
};

/* ---- the list value ---- */

dfr_list *dfr__list_new(size_t n)
{
    if (n > (SIZE_MAX - sizeof(dfr_list)) / sizeof(list_entry))
        return NULL;
    dfr_list *l = dfr__calloc(1, sizeof(dfr_list) + n * sizeof(list_entry));
    if (!l)
        return NULL;
    atomic_init(&l->refs, 1);
    l->n = n;
    return l;
}

void dfr__list_set(dfr_list *l, size_t i, bool ok, dfr_value v)
{
    dfr_value old = l->e[i].v;
    l->e[i].v = v;
    l->e[i].ok = ok;
    dfr_value_drop(old);
}

dfr_list *dfr__list_ref(dfr_list *l)
{
    dfr__ref_add(&l->refs);
    return l;
}

/* The dying list's entries, in order (value.c drops them in a loop: a list
 * of lists does not recurse). */
static int list_take(dfr__dying *d, dfr_value *child)
{
    dfr_list *l = (dfr_list *)((char *)d - offsetof(dfr_list, dying));
    while (l->dropped < l->n && !l->e[l->dropped].v.type)
        l->dropped++;
    if (l->dropped + 1 < l->n) {
        *child = l->e[l->dropped++].v;
        return DFR__TAKE_MORE;
    }
    *child = l->dropped < l->n ? l->e[l->dropped].v : dfr_none();
    dfr__free(l);
    return child->type ? DFR__TAKE_LAST : DFR__TAKE_DONE;
}

dfr__dying *dfr__list_release(dfr_list *l)
{
    if (!l || !dfr__release_last(&l->refs))
        return NULL;
    l->dropped = 0;
    l->dying.take = list_take;
    return &l->dying;
}

void dfr__list_unref(dfr_list *l)
{
    dfr__drop_dying(dfr__list_release(l));
}

dfr_list *dfr_list_from(const dfr_value *v)
{
    return v && v->type == &dfr_type_list ? v->u.ptr : NULL;
}

size_t dfr_list_len(const dfr_list *l)
{
    return l ? l->n : 0;
}

bool dfr_list_ok(const dfr_list *l, size_t i)
{
    return l && i < l->n && l->e[i].ok;
}

const dfr_value *dfr_list_get(const dfr_list *l, size_t i)
{
    return l && i < l->n ? &l->e[i].v : NULL;
}

dfr_value dfr_list_take(dfr_list *l, size_t i)
{
    if (!l || i >= l->n)
        return dfr_none();
    dfr_value v = l->e[i].v;
    l->e[i].v = dfr_none();
    return v;
}

static dfr_value list_value(dfr_list *l)
{
    return dfr_obj(&dfr_type_list, l);
}

/* ---- DeferredList ----
 *
 * Lifetimes.  The state holds the list's deferred (to fire it) and, while
 * someone can cancel that deferred, a reference to each input, reported or
 * not: Twisted's cancel() cancels every input, and one that reported may
 * since wait on a deferred a later callback of its returned, which that
 * cancel reaches (even if the caller dropped the input).  Each input holds
 * the state through our callback entry until that runs; the deferred holds
 * it through its canceller's data.  That is a cycle when inputs never fire,
 * so the deferred is an owned one (core_internal.h): its count tells when
 * every reference but the state's is gone and nothing waits on it.  Nobody
 * can cancel it then, and list_orphaned drops the input references: inputs
 * nothing else holds are freed (unfired ones unreported: their entries'
 * release counts down `attached`), and once no entry is left no input can
 * ever report: the state lets go of the deferred, which frees both.  Inputs
 * held elsewhere (a timer) still report and fire the list, so callbacks
 * added before it was dropped still run.  Once the list has fired,
 * cancelling it does nothing: the input references go then too.
 *
 * Threads: everything runs on the reactor thread, except that the hook runs
 * where the last other reference went, which may be a garbage collector's
 * thread.  So the input references are atomic (exchanged by whoever drops
 * them), `attached` is atomic, and `gate` keeps the hook's look at the
 * deferred's waiters and the deferred's firing apart. */

typedef struct list_state list_state;

/* One per input: the callback data of the entry we add to it. */
typedef struct input_slot {
    list_state *state;
    _Atomic(dfr_deferred *) input; /* our reference, while we need one */
} input_slot;

enum { GATE_OPEN, GATE_HOOK, GATE_FIRED };

struct list_state {
    atomic_uint refs;       /* the entries' (one for all) + the deferred's */
    atomic_size_t attached; /* input entries not yet released, + 1 while constructing */
    atomic_uint gate;       /* GATE_*: the hook looks, or the deferred fired */
    dfr_deferred *result;   /* the owner's reference until it fires or is let go */
    dfr_list *results;
    size_t n, finished;
    unsigned flags;
    bool cancelling;        /* cancel_inputs runs: it still needs the inputs */
    input_slot slots[];
};

/* Drop our references to the inputs: nobody can cancel through us any more. */
static void drop_inputs(list_state *s)
{
    for (size_t i = 0; i < s->n; i++) {
        _Atomic(dfr_deferred *) *p = &s->slots[i].input;
        /* A second drop (orphaned, then fired) finds none: a load, not a
         * locked exchange, each. */
        if (atomic_load_explicit(p, memory_order_relaxed))
            dfr_deferred_unref(atomic_exchange_explicit(p, NULL, memory_order_acq_rel));
    }
}

static void state_unref(void *data)
{
    list_state *s = data;
    if (!dfr__release_last(&s->refs))
        return;
    drop_inputs(s);
    dfr__list_unref(s->results);
    dfr__free(s);
}

/* An entry goes (or the construction is done).  The entries share one
 * reference to the state, dropped with the last of them. */
static void entry_gone(list_state *s)
{
    if (atomic_fetch_sub_explicit(&s->attached, 1, memory_order_acq_rel) != 1)
        return;
    /* No input can report any more.  The deferred is still ours only if it
     * never fired: then it was orphaned (while we held the inputs, each
     * one reported), and nobody can fire or cancel it: let it go. */
    dfr_deferred *d = s->result;
    s->result = NULL;
    if (d)
        dfr__deferred_release_owner(d);
    state_unref(s);
}

/* The destroy of an input's entry (it ran, or its input was freed unfired):
 * its data is the slot. */
static void slot_unref(void *data)
{
    entry_gone(((input_slot *)data)->state);
}

/* Every reference to the list's deferred but ours is gone (on any thread;
 * the caller's reference keeps d and us alive meanwhile).  Unless something
 * waits on d (cancelling that reaches the inputs), drop the inputs. */
static void list_orphaned(dfr_deferred *d, void *data)
{
    list_state *s = data;
    unsigned open = GATE_OPEN;
    if (!atomic_compare_exchange_strong_explicit(&s->gate, &open, GATE_HOOK,
                                                 memory_order_acq_rel, memory_order_acquire))
        return; /* it fired (the inputs went then), or another hook looks */
    bool waited = dfr__deferred_waited_on(d);
    atomic_store_explicit(&s->gate, GATE_OPEN, memory_order_release);
    if (!waited)
        drop_inputs(s);
}

/* Lists cancelling lists: a list's canceller cancels its inputs, which may
 * be lists whose cancellers cancel theirs, and so on, one C frame set per
 * level (cancelling a DeferredList of a DeferredList ... 30000 deep
 * overflowed the stack).  Past CANCEL_NEST nested cancels on a thread, the
 * cancel waits in a queue that the outermost cancel_inputs runs once its
 * own loop is done.  (Lists firing lists need nothing here: each level is
 * one nested firing, which the chain bounds, deferred_chain.c.) */
#define CANCEL_NEST 32

/* A cancel waiting for the outermost call (a reference). */
typedef struct queued_cancel {
    dfr_deferred *d;
    struct queued_cancel *next;
} queued_cancel;

static _Thread_local struct {
    unsigned depth;
    queued_cancel *head, *tail;
} cancelling;

/* Cancels d, then drops the reference. */
static void run_cancel(dfr_deferred *d)
{
    cancelling.depth++;
    dfr_deferred_cancel(d);
    dfr_deferred_unref(d);
    cancelling.depth--;
}

/* Past CANCEL_NEST levels the cancel waits in the queue (true).  Out of
 * memory: false, and it runs here, as before. */
static bool queue_cancel(dfr_deferred *d)
{
    if (cancelling.depth < CANCEL_NEST)
        return false;
    queued_cancel *q = dfr__malloc(sizeof *q);
    if (!q)
        return false;
    *q = (queued_cancel){d, NULL};
    if (cancelling.tail)
        cancelling.tail->next = q;
    else
        cancelling.head = q;
    cancelling.tail = q;
    return true;
}

/* In the outermost call (depth 0): the queued cancels, in order. */
static void drain_cancels(void)
{
    if (cancelling.depth > 0)
        return;
    while (cancelling.head) {
        queued_cancel *q = cancelling.head;
        cancelling.head = q->next;
        if (!cancelling.head)
            cancelling.tail = NULL;
        dfr_deferred *qd = q->d;
        dfr__free(q);
        run_cancel(qd);
    }
}

/* Fire the list's deferred once; the state lets go of it, and of the inputs
 * (cancelling a fired list does nothing). */
static void fire_list(list_state *s, dfr_value v)
{
    unsigned open = GATE_OPEN;
    while (!atomic_compare_exchange_weak_explicit(&s->gate, &open, GATE_FIRED,
                                                  memory_order_acq_rel, memory_order_acquire)) {
        /* A hook on another thread reads d's waiters: a few loads (yield in
         * case that thread lost its processor meanwhile). */
        if (open == GATE_HOOK)
            sched_yield();
        open = GATE_OPEN;
    }
    dfr_deferred *d = s->result;
    s->result = NULL;
    dfr__deferred_disown(d);
    dfr_deferred_callback(d, v); /* drops v if d was cancelled meanwhile */
    dfr_deferred_unref(d);
    if (!s->cancelling)
        drop_inputs(s);
}

static dfr_value first_success(list_state *s, size_t i, dfr_value v)
{
    dfr_list *pair = dfr__list_new(2);
    dfr_value pass = dfr_value_clone(&v);
    if (!pair) {
        dfr_value_drop(v);
        fire_list(s, dfr_value_failure(dfr__failure_static(DFR_ENOMEM)));
        return pass;
    }
    dfr__list_set(pair, 0, true, v);
    dfr__list_set(pair, 1, true, dfr_i64((int64_t)i));
    fire_list(s, list_value(pair));
    return pass;
}

static dfr_value input_reported(input_slot *slot, dfr_value v, bool ok)
{
    list_state *s = slot->state;
    size_t i = (size_t)(slot - s->slots);
    /* The input stays ours (slot->input) until the list fires or is
     * orphaned: cancelling the list still reaches it. */
    s->finished++;
    bool consume = !ok && (s->flags & DFR_CONSUME_ERRORS);
    dfr_value pass;

    if (!s->result) {
        /* Already fired: pass results through untouched. */
        pass = consume ? (dfr_value_drop(v), dfr_none()) : v;
    } else if (ok && (s->flags & DFR_FIRE_ON_ONE_CALLBACK)) {
        pass = first_success(s, i, v);
    } else if (!ok && (s->flags & DFR_FIRE_ON_ONE_ERRBACK)) {
        dfr_failure *cause = dfr_failure_ref(v.u.ptr);
        pass = consume ? (dfr_value_drop(v), dfr_none()) : v;
        fire_list(s, dfr_value_failure(dfr__failure_first(cause, i)));
    } else {
        pass = consume ? dfr_none() : dfr_value_clone(&v);
        dfr__list_set(s->results, i, ok, v);
        if (s->finished == s->n) {
            dfr_list *l = s->results;
            s->results = NULL;
            fire_list(s, list_value(l));
        }
    }
    return pass;
}

static dfr_value input_succeeded(dfr_value v, void *data)
{
    return input_reported(data, v, true);
}

static dfr_value input_failed(dfr_value v, void *data)
{
    return input_reported(data, v, false);
}

/* Cancelling the list cancels every input, in order, as Twisted's
 * DeferredList.cancel does (we hold them: whoever cancels holds the list's
 * deferred, so it is not orphaned).  One that has not reported gets the
 * cancel; one that reported and now waits on a deferred a later callback
 * of its returned forwards it there (dfr_deferred_cancel); one that
 * reported and waits on nothing ignores it.  Inputs may be lists: their
 * cancels nest, bounded above (past CANCEL_NEST levels they wait for the
 * outermost cancel_inputs).  cancel_input takes the reference. */
static void cancel_input(dfr_deferred *input)
{
    if (!queue_cancel(input))
        run_cancel(input);
}

static void cancel_inputs(dfr_deferred *d, void *data)
{
    DFR_UNUSED(d);
    list_state *s = data;
    dfr__ref_add(&s->refs);
    /* Every input is cancelled, even once an early one fired the list
     * (Twisted). */
    s->cancelling = true;
    for (size_t i = 0; i < s->n; i++) {
        dfr_deferred *input = atomic_load_explicit(&s->slots[i].input, memory_order_acquire);
        if (input)
            cancel_input(dfr_deferred_ref(input));
    }
    s->cancelling = false;
    if (atomic_load_explicit(&s->gate, memory_order_relaxed) == GATE_FIRED)
        drop_inputs(s);
    state_unref(s);
    drain_cancels();
}

static dfr_deferred *make_list(dfr_deferred *const *ds, size_t n, unsigned flags)
{
    const unsigned known = DFR_FIRE_ON_ONE_CALLBACK | DFR_FIRE_ON_ONE_ERRBACK | DFR_CONSUME_ERRORS;
    if ((n && !ds) || (flags & ~known))
        return dfr__refused(DFR_EINVAL);
    for (size_t i = 0; i < n; i++)
        if (!ds[i])
            return dfr__refused(DFR_EINVAL);
    if (n > (SIZE_MAX - sizeof(list_state)) / sizeof(input_slot))
        return NULL;

    list_state *s = dfr__calloc(1, sizeof(list_state) + n * sizeof(input_slot));
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1); /* the entries' (the construction counts as one) */
    atomic_init(&s->attached, n + 1);
    atomic_init(&s->gate, GATE_OPEN);
    s->n = n;
    s->flags = flags;
    for (size_t i = 0; i < n; i++) {
        s->slots[i].state = s;
        atomic_init(&s->slots[i].input, NULL);
    }
    s->results = dfr__list_new(n);
    if (!s->results) {
        dfr__free(s);
        return NULL;
    }
    dfr__ref_add(&s->refs); /* the deferred's, until it is freed */
    dfr_deferred *result = dfr__deferred_new_owned(cancel_inputs, s, state_unref, list_orphaned,
                                                   DFR__NO_SELF_CANCEL);
    if (!result) {
        state_unref(s);
        return NULL;
    }
    /* Reserve room on every input first, so that attaching cannot fail
     * half-way (attaching runs callbacks of inputs that already fired). */
    for (size_t i = 0; i < n; i++) {
        if (dfr__deferred_reserve(ds[i], 1) != 0) {
            dfr__deferred_release_owner(result);
            dfr_deferred_unref(result); /* frees it, and its hold on the state */
            state_unref(s);
            return NULL;
        }
    }
    /* `result` is the caller's reference; the state's is the owner's. */
    s->result = result;
    if (n == 0) {
        dfr_list *l = s->results;
        s->results = NULL;
        fire_list(s, list_value(l));
    }
    for (size_t i = 0; i < n; i++) {
        input_slot *slot = &s->slots[i];
        /* An input that already fired may have fired the list: then we
         * hold no more inputs. */
        if (s->result)
            atomic_store_explicit(&slot->input, dfr_deferred_ref(ds[i]), memory_order_relaxed);
        if (dfr_deferred_add_callbacks(ds[i], input_succeeded, input_failed, slot, slot_unref) != 0) {
            /* Only if a callback stole the reserved room: count it failed
             * (its destroy ran: the construction's count keeps us). */
            dfr_value_drop(
                input_reported(slot, dfr_value_failure(dfr__failure_static(DFR_ENOMEM)), false));
        }
    }
    entry_gone(s); /* the construction's */
    return result;
}

dfr_deferred *dfr_deferred_list(dfr_deferred *const *ds, size_t n, unsigned flags)
{
    return make_list(ds, n, flags);
}

dfr_deferred *dfr_gather_results(dfr_deferred *const *ds, size_t n, bool consume_errors)
{
    unsigned flags = DFR_FIRE_ON_ONE_ERRBACK | (consume_errors ? DFR_CONSUME_ERRORS : 0);
    return make_list(ds, n, flags);
}
