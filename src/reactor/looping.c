/* LoopingCall: call fn every interval; a deferred from fn delays the next
 * call; intervals missed while fn ran (or the loop was busy) are skipped. */
#include "reactor/reactor_internal.h"

struct dfr_looping_call {
    atomic_uint refs;      /* the handles', the timer's, a pending fn deferred's */
    atomic_uint user_refs; /* the handles' alone: the last one stops a run */
    dfr_reactor *r;   /* NULL once the reactor is gone */
    dfr__reactor_link link;
    dfr__closure task;
    bool running;
    bool counting;     /* withCount: fn may read dfr_looping_call_count */
    bool run_at_start; /* the run started with now = true */
    bool called;       /* last_call is set (kept across runs, as Twisted does) */
    int64_t interval, start_time; /* ns */
    int64_t last_call;            /* when fn last ran (counting) */
    uint64_t count;               /* what dfr_looping_call_count says */
    dfr_delayed_call *call;       /* the next call, while scheduled */
    dfr_deferred *deferred;       /* what start() returned; fires when stopped */
};

static void lc_ref(dfr_looping_call *lc)
{
    dfr__ref_add(&lc->refs);
}

static void lc_unref(void *data)
{
    dfr_looping_call *lc = data;
    if (!dfr__release_last(&lc->refs))
        return;
    if (lc->r)
        dfr__reactor_link_remove(lc->r, &lc->link);
    dfr__closure_release(&lc->task);
    /* A run that can never finish (fn's deferred was dropped unfired). */
    dfr_deferred_unref(lc->deferred);
    dfr__free(lc);
}

static void reactor_gone(dfr__reactor_link *link);

dfr_looping_call *dfr_looping_call_new(dfr_reactor *r, dfr_task_fn fn, void *data, dfr_destroy_fn destroy)
{
    dfr_looping_call *lc = !dfr__reactor_check(r) && fn ? dfr__calloc(1, sizeof *lc) : NULL;
    if (!lc) {
        dfr__destroy(destroy, data);
        return NULL;
    }
    atomic_init(&lc->refs, 1);
    atomic_init(&lc->user_refs, 1);
    lc->r = r;
    lc->task = (dfr__closure){{.task = fn}, data, destroy};
    lc->link.gone = reactor_gone;
    dfr__reactor_link_add(r, &lc->link);
    return lc;
}

/* The start deferred fires (with lc, or a failure) and lc stops running. */
static void finish(dfr_looping_call *lc, dfr_value v)
{
    lc->running = false;
    dfr_deferred *d = lc->deferred;
    lc->deferred = NULL;
    dfr_deferred_callback(d, v);
    dfr_deferred_unref(d);
}

static void drop_call(dfr_looping_call *lc)
{
    if (lc->call) {
        dfr_delayed_call_cancel(lc->call);
        dfr_delayed_call_unref(lc->call);
        lc->call = NULL;
    }
}

static void call_now(void *data);

static void schedule_from(dfr_looping_call *lc, int64_t when)
{
    int64_t delay = 0;
    if (lc->interval > 0) {
        int64_t running_for = when - lc->start_time;
        delay = lc->interval - running_for % lc->interval;
    }
    lc_ref(lc);
    if (dfr__call_later_ns(lc->r, delay, call_now, lc, lc_unref, &lc->call) != 0)
        finish(lc, dfr_value_failure(dfr__failure_static(DFR_ENOMEM)));
}

static dfr_value after_fn(dfr_value v, void *data)
{
    dfr_looping_call *lc = data;
    dfr_value_drop(v);
    if (lc->running)
        schedule_from(lc, dfr__reactor_now(lc->r));
    else if (lc->deferred)
        finish(lc, dfr_ptr(lc));
    return dfr_none();
}

static dfr_value fn_failed(dfr_value v, void *data)
{
    dfr_looping_call *lc = data;
    if (lc->deferred)
        finish(lc, v);
    else
        dfr_value_drop(v);
    return dfr_none();
}

/* Whole intervals from the run's start to t (toward zero, as Twisted's
 * int(elapsed / interval)). */
static int64_t interval_of(const dfr_looping_call *lc, int64_t t)
{
    return (t - lc->start_time) / lc->interval;
}

/* withCount: how many calls were due since fn last ran (or since the start,
 * counting the call at the start when `now`).  0 when none was: fn is then
 * skipped, as Twisted's withCount skips it. */
static uint64_t due_calls(dfr_looping_call *lc)
{
    int64_t now = dfr__reactor_now(lc->r);
    int64_t count = 1;
    if (lc->interval > 0) {
        int64_t last = lc->called ? lc->last_call
                                  : lc->start_time - (lc->run_at_start ? lc->interval : 0);
        count = interval_of(lc, now) - interval_of(lc, last);
    }
    if (count <= 0)
        return 0;
    lc->last_call = now;
    lc->called = true;
    return (uint64_t)count;
}

static void call_now(void *data)
{
    dfr_looping_call *lc = data;
    if (lc->call) {
        dfr_delayed_call_unref(lc->call);
        lc->call = NULL;
    }
    if (lc->counting) {
        /* A skipped call leaves the count of the last call that ran
         * (dfr_looping_call_count never answers 0 once fn has run). */
        uint64_t due = due_calls(lc);
        if (due == 0) {
            after_fn(dfr_none(), lc);
            return;
        }
        lc->count = due;
    }
    dfr_value v = lc->task.fn.task(lc->task.data);
    if (dfr_is_deferred(v)) {
        lc_ref(lc);
        if (dfr_deferred_add_callbacks(v.u.ptr, after_fn, fn_failed, lc, lc_unref) != 0)
            fn_failed(dfr_value_failure(dfr__failure_static(DFR_ENOMEM)), lc);
        dfr_value_drop(v);
    } else if (dfr_is_failure(v)) {
        fn_failed(v, lc);
    } else {
        after_fn(v, lc);
    }
}

/* What a call on lc is refused with: 0 when it may go on. */
static int lc_check(const dfr_looping_call *lc)
{
    if (!lc)
        return DFR_EINVAL;
    if (!lc->r)
        return DFR_ENOTRUNNING; /* its reactor is gone */
    return dfr__reactor_check(lc->r);
}

dfr_deferred *dfr_looping_call_start(dfr_looping_call *lc, double interval, bool now)
{
    int64_t ns;
    int rc = lc ? lc_check(lc) : DFR_EINVAL;
    /* Also refused while a stopped run still waits on fn's deferred. */
    if (!rc && (lc->running || lc->deferred))
        rc = DFR_EALREADY_RUNNING;
    if (!rc && !dfr__seconds_to_ns(interval, false, &ns))
        rc = DFR_EINVAL;
    if (rc)
        return dfr__reactor_refused(rc);
    dfr_deferred *d = dfr_deferred_new();
    if (!d)
        return NULL;
    lc->deferred = dfr_deferred_ref(d);
    lc->running = true;
    lc->interval = ns;
    lc->run_at_start = now;
    lc->start_time = dfr__reactor_now(lc->r);
    lc_ref(lc); /* the first call may finish and fire d synchronously */
    if (now)
        call_now(lc);
    else
        schedule_from(lc, lc->start_time);
    lc_unref(lc);
    return d;
}

int dfr_looping_call_stop(dfr_looping_call *lc)
{
    int rc = lc_check(lc);
    if (rc)
        return rc;
    if (!lc->running)
        return DFR_EINVAL;
    lc->running = false;
    /* While fn's deferred is pending, the start deferred fires when it does. */
    if (lc->call) {
        drop_call(lc);
        finish(lc, dfr_ptr(lc));
    }
    return 0;
}

int dfr_looping_call_reset(dfr_looping_call *lc)
{
    int rc = lc_check(lc);
    if (rc)
        return rc;
    if (!lc->running)
        return DFR_EINVAL;
    if (lc->call) {
        drop_call(lc);
        lc->start_time = dfr__reactor_now(lc->r);
        schedule_from(lc, lc->start_time);
    }
    return 0;
}

bool dfr_looping_call_running(const dfr_looping_call *lc)
{
    return lc_check(lc) == 0 && lc->running;
}

int dfr_looping_call_with_count(dfr_looping_call *lc)
{
    int rc = lc_check(lc);
    if (rc)
        return rc;
    if (lc->running || lc->deferred)
        return DFR_EALREADY_RUNNING;
    lc->counting = true;
    return 0;
}

uint64_t dfr_looping_call_count(const dfr_looping_call *lc)
{
    return lc_check(lc) == 0 && lc->counting ? lc->count : 0;
}

/* The reactor is being freed: stop, and fail a start deferred still
 * waiting with DFR_ENOTRUNNING (nothing would ever fire it). */
static void reactor_gone(dfr__reactor_link *link)
{
    dfr_looping_call *lc = (dfr_looping_call *)((char *)link - offsetof(dfr_looping_call, link));
    lc_ref(lc); /* the start deferred's callbacks may free lc */
    lc->running = false;
    drop_call(lc);
    lc->r = NULL;
    if (lc->deferred)
        finish(lc, dfr__lib_failure_value(DFR_ENOTRUNNING));
    lc_unref(lc);
}

dfr_looping_call *dfr_looping_call_ref(dfr_looping_call *lc)
{
    if (lc) {
        dfr__ref_add(&lc->user_refs);
        lc_ref(lc);
    }
    return lc;
}

void dfr_looping_call_unref(dfr_looping_call *lc)
{
    /* Off its reactor's thread: refused (it would race with the loop). */
    if (!lc || (lc->r && !dfr__on_reactor_thread(lc->r)))
        return;
    /* Nobody could stop a run left without a handle: the last one stops it,
     * as the last reference of a listener stops listening. */
    if (dfr__count_drop(&lc->user_refs) && lc->running)
        dfr_looping_call_stop(lc);
    lc_unref(lc);
}
