/* deferLater and addTimeout: deferreds tied to the reactor's timers. */
#include "reactor/reactor_internal.h"

#include <math.h>

/* ---- deferLater ---- */

typedef struct later {
    atomic_uint refs; /* the canceller's and the callback entry's */
    dfr_deferred *d;  /* no reference: d owns us (the timer holds d) */
    dfr_reactor *r;   /* while linked: NULL before the timer exists and once r is gone */
    dfr__reactor_link link;
    dfr_delayed_call *dc;
    dfr_task_fn fn;
    void *data;
    dfr_destroy_fn destroy;
} later;

static void later_unref(void *data)
{
    later *l = data;
    if (!dfr__release_last(&l->refs))
        return;
    if (l->r)
        dfr__reactor_link_remove(l->r, &l->link);
    dfr__destroy(l->destroy, l->data);
    dfr__free(l);
}

/* d has a result (or is gone): the timer must not touch it any more. */
static void later_detach(void *data)
{
    later *l = data;
    dfr_delayed_call_cancel(l->dc);
    dfr_delayed_call_unref(l->dc);
    l->dc = NULL;
    later_unref(l);
}

static void later_cancel(dfr_deferred *d, void *data)
{
    DFR_UNUSED(d);
    later *l = data;
    dfr_delayed_call_cancel(l->dc);
}

/* The pending timer holds a reference to d, as Twisted's reactor holds the
 * DelayedCall: a caller may drop its own and still see its callbacks run. */
static void later_due(void *data)
{
    dfr_deferred_callback(data, dfr_none());
}

static void later_timer_gone(void *data)
{
    dfr_deferred_unref(data);
}

static dfr_value later_call(dfr_value v, void *data)
{
    later *l = data;
    dfr_value_drop(v);
    dfr_value r = l->fn ? l->fn(l->data) : dfr_none();
    dfr_destroy_fn destroy = l->destroy;
    l->destroy = NULL;
    dfr__destroy(destroy, l->data);
    return r;
}

/* The reactor is being freed with the timer pending: nothing would ever fire
 * d, so it fails with DFR_ENOTRUNNING (fn does not run, destroy does). */
static void later_reactor_gone(dfr__reactor_link *link)
{
    later *l = (later *)((char *)link - offsetof(later, link));
    l->r = NULL;
    if (!dfr_delayed_call_active(l->dc))
        return;
    dfr_deferred *d = dfr_deferred_ref(l->d); /* firing may release l */
    dfr_deferred_callback(d, dfr__lib_failure_value(DFR_ENOTRUNNING));
    dfr_deferred_unref(d);
}

dfr_deferred *dfr_reactor_defer_later(dfr_reactor *r, double delay, dfr_task_fn fn, void *data,
                              dfr_destroy_fn destroy)
{
    int64_t ns;
    int rc = dfr__reactor_check(r);
    if (!rc && !dfr__seconds_to_ns(delay, false, &ns))
        rc = DFR_EINVAL;
    if (rc) {
        if (destroy)
            destroy(data);
        return dfr__reactor_refused(rc);
    }
    later *l = dfr__calloc(1, sizeof *l);
    if (!l) {
        if (destroy)
            destroy(data);
        return NULL;
    }
    atomic_init(&l->refs, 2);
    l->fn = fn;
    l->data = data;
    l->destroy = destroy;
    dfr_deferred *d = dfr_deferred_new_cancellable(later_cancel, l, later_detach);
    if (!d) {
        later_unref(l); /* later_detach dropped the other */
        return NULL;
    }
    l->d = d;
    /* d is new: its first callback is inline and cannot fail. */
    dfr_deferred_add_callback(d, later_call, l, later_unref);
    dfr_deferred_ref(d); /* the timer's */
    if (dfr_reactor_call_later(r, delay, later_due, d, later_timer_gone, &l->dc) != 0) {
        /* call_later's destroy dropped the timer's reference; drop ours
         * (l goes with d). */
        dfr_deferred_unref(d);
        return NULL;
    }
    l->r = r;
    l->link.gone = later_reactor_gone;
    dfr__reactor_link_add(r, &l->link);
    return d;
}

/* ---- addTimeout ---- */

typedef struct timeout {
    atomic_uint refs; /* the two callback entries'; the timer is stopped before they go */
    dfr_deferred *d;  /* no reference: the cancel entry stops the timer first */
    dfr_delayed_call *dc;
    double seconds;
    bool timed_out;
    dfr__closure on_timeout; /* Twisted's onTimeoutCancel; fn NULL: the default */
} timeout;

static void timeout_unref(void *data)
{
    timeout *t = data;
    if (!dfr__release_last(&t->refs))
        return;
    dfr_delayed_call_unref(t->dc);
    dfr__closure_release(&t->on_timeout);
    dfr__free(t);
}

static void timeout_due(void *data)
{
    timeout *t = data;
    t->timed_out = true;
    dfr_deferred_cancel(t->d);
}

/* Our own cancel shows as DFR_ETIMEDOUT (or as on_timeout makes it);
 * anything else passes through. */
static dfr_value timeout_convert(dfr_value v, void *data)
{
    timeout *t = data;
    if (t->timed_out && t->on_timeout.fn.callback)
        return t->on_timeout.fn.callback(v, t->on_timeout.data);
    if (!t->timed_out || !dfr_failure_check(dfr_failure_from(&v), DFR_DOMAIN, DFR_ECANCELLED))
        return v;
    dfr_value_drop(v);
    dfr_failure *f = dfr_failure_newf(DFR_DOMAIN, DFR_ETIMEDOUT, "Deferred timed out after %g seconds",
                                      t->seconds);
    return dfr_value_failure(f ? f : dfr__failure_static(DFR_ETIMEDOUT));
}

static dfr_value timeout_stop_timer(dfr_value v, void *data)
{
    timeout *t = data;
    dfr_delayed_call_cancel(t->dc);
    return v;
}

static void timeout_entry_gone(void *data)
{
    timeout *t = data;
    dfr_delayed_call_cancel(t->dc); /* d is going away: never touch it */
    timeout_unref(t);
}

int dfr_deferred_add_timeout(dfr_deferred *d, dfr_reactor *r, double seconds)
{
    return dfr_deferred_add_timeout_with(d, r, seconds, NULL, NULL, NULL);
}

/* A refusal: destroy(data) runs, as every entry point's rule says. */
static int timeout_refused(int rc, void *data, dfr_destroy_fn destroy)
{
    dfr__destroy(destroy, data);
    return rc;
}

int dfr_deferred_add_timeout_with(dfr_deferred *d, dfr_reactor *r, double seconds,
                                  dfr_callback_fn on_timeout, void *data, dfr_destroy_fn destroy)
{
    int64_t ns;
    int rc = dfr__reactor_check(r);
    if (rc)
        return timeout_refused(rc, data, destroy);
    if (!d || !dfr__seconds_to_ns(seconds, false, &ns))
        return timeout_refused(DFR_EINVAL, data, destroy);
    if (dfr__deferred_reserve(d, 2) != 0)
        return timeout_refused(DFR_ENOMEM, data, destroy);
    timeout *t = dfr__calloc(1, sizeof *t);
    if (!t)
        return timeout_refused(DFR_ENOMEM, data, destroy);
    atomic_init(&t->refs, 2);
    t->d = d;
    t->seconds = seconds;
    if (dfr_reactor_call_later(r, seconds, timeout_due, t, NULL, &t->dc) != 0) {
        dfr__free(t);
        return timeout_refused(DFR_ENOMEM, data, destroy);
    }
    t->on_timeout = (dfr__closure){{.callback = on_timeout}, data, destroy};
    /* Room is reserved: neither can fail. */
    dfr_deferred_add_both(d, timeout_convert, t, timeout_unref);
    dfr_deferred_add_both(d, timeout_stop_timer, t, timeout_entry_gone);
    return 0;
}
