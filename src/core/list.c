/* DeferredList and gatherResults, and the dfr_list value they fire with. */
#include "core/core_internal.h"

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

/* ---- DeferredList ---- */

typedef struct list_state list_state;

/* One per input: the callback data of the entry we add to it. */
typedef struct input_slot {
    list_state *state;
    dfr_deferred *input; /* our reference until it reports */
} input_slot;

struct list_state {
    atomic_uint refs;      /* the inputs' (one for all) + the canceller + construction */
    size_t attached;       /* input entries not yet released (reactor thread) */
    dfr_deferred *result;  /* our reference until it fires */
    dfr_list *results;
    size_t n, finished;
    unsigned flags;
    input_slot slots[];
};

static void state_unref(void *data)
{
    list_state *s = data;
    if (!dfr__release_last(&s->refs))
        return;
    for (size_t i = 0; i < s->n; i++)
        dfr_deferred_unref(s->slots[i].input);
    dfr__list_unref(s->results);
    dfr_deferred_unref(s->result);
    dfr__free(s);
}

/* The destroy of an input's entry: its data is the slot.  The inputs share
 * one reference to the state, dropped with the last of their entries. */
static void slot_unref(void *data)
{
    list_state *s = ((input_slot *)data)->state;
    if (--s->attached == 0)
        state_unref(s);
}

/* Fire the list's deferred once; the state lets go of it. */
static void fire_list(list_state *s, dfr_value v)
{
    dfr_deferred *d = s->result;
    s->result = NULL;
    dfr_deferred_callback(d, v);
    dfr_deferred_unref(d);
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
    dfr_deferred *input = slot->input;
    slot->input = NULL;
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
    dfr_deferred_unref(input);
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

/* Cancelling the list cancels every input that has not reported. */
static void cancel_inputs(dfr_deferred *d, void *data)
{
    DFR_UNUSED(d);
    list_state *s = data;
    dfr__ref_add(&s->refs);
    for (size_t i = 0; i < s->n; i++) {
        dfr_deferred *input = s->slots[i].input;
        if (input) {
            dfr_deferred_ref(input);
            dfr_deferred_cancel(input);
            dfr_deferred_unref(input);
        }
    }
    state_unref(s);
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
    atomic_init(&s->refs, 1);
    s->n = n;
    s->flags = flags;
    s->results = dfr__list_new(n);
    if (!s->results) {
        dfr__free(s);
        return NULL;
    }
    dfr__ref_add(&s->refs); /* the canceller's */
    s->result = dfr__deferred_new_ex(cancel_inputs, s, state_unref, DFR__NO_SELF_CANCEL);
    if (!s->result) {
        state_unref(s);
        return NULL;
    }
    /* Reserve room on every input first, so that attaching cannot fail
     * half-way (attaching runs callbacks of inputs that already fired). */
    for (size_t i = 0; i < n; i++) {
        if (dfr__deferred_reserve(ds[i], 1) != 0) {
            /* The result deferred holds the state through its canceller. */
            dfr_deferred *result = s->result;
            s->result = NULL;
            dfr_deferred_unref(result);
            state_unref(s);
            return NULL;
        }
    }
    dfr_deferred *result = dfr_deferred_ref(s->result);
    if (n > 0) {
        dfr__ref_add(&s->refs); /* the inputs' */
        s->attached = n;
    }
    if (n == 0) {
        dfr_list *l = s->results;
        s->results = NULL;
        fire_list(s, list_value(l));
    }
    for (size_t i = 0; i < n; i++) {
        input_slot *slot = &s->slots[i];
        slot->state = s;
        slot->input = dfr_deferred_ref(ds[i]);
        if (dfr_deferred_add_callbacks(ds[i], input_succeeded, input_failed, slot, slot_unref) != 0) {
            /* Only if a callback stole the reserved room: count it failed. */
            dfr_value_drop(
                input_reported(slot, dfr_value_failure(dfr__failure_static(DFR_ENOMEM)), false));
        }
    }
    state_unref(s);
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
