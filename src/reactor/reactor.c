/* The reactor: a libuv loop (its own or the caller's), the timer heap, the
 * queue of calls from other threads, system event triggers, and the
 * run/stop lifecycle (Twisted's ReactorBase). */
#include "reactor/reactor_internal.h"
#include "thread/thread_internal.h"

#include <math.h>
#include <string.h>

struct dfr__trigger {
    dfr__trigger *next;
    uint64_t id;
    dfr_task_fn fn;   /* a trigger: may return a deferred */
    dfr_fn plain_fn;  /* a call_when_running call */
    void *data;
    dfr_destroy_fn destroy;
};

static void fire_phase(dfr_reactor *r, int event, int phase);
static void enter(dfr_reactor *r);
static bool leave(dfr_reactor *r, bool in_uv_callback);

/* ---- clock ---- */

bool dfr__seconds_to_ns(double s, bool allow_negative, int64_t *ns)
{
    /* 2^62 ns is about 146 years: anything larger is a mistake. */
    if (isnan(s) || (!allow_negative && s < 0) || fabs(s) > 4.6e9)
        return false;
    *ns = llround(s * 1e9);
    return true;
}

int64_t dfr__reactor_now(const dfr_reactor *r)
{
    if (r->manual_clock)
        return atomic_load_explicit(&r->manual_now, memory_order_relaxed);
    return (int64_t)(uv_hrtime() - r->epoch);
}

double dfr_reactor_seconds(const dfr_reactor *r)
{
    return r ? (double)dfr__reactor_now(r) / 1e9 : NAN;
}

bool dfr_reactor_in_thread(const dfr_reactor *r)
{
    return r && dfr__on_reactor_thread(r);
}

dfr_deferred *dfr__reactor_refused(int code)
{
    return dfr_fail(dfr__failure_lib(code));
}

/* ---- objects told when the reactor goes ---- */

void dfr__reactor_link_add(dfr_reactor *r, dfr__reactor_link *link)
{
    link->next = r->links.next;
    link->prev = &r->links;
    link->next->prev = link;
    r->links.next = link;
}

void dfr__reactor_link_remove(dfr_reactor *r, dfr__reactor_link *link)
{
    DFR_UNUSED(r);
    link->prev->next = link->next;
    link->next->prev = link->prev;
    link->prev = link->next = link;
}

/* ---- libuv plumbing ---- */

/* libuv callbacks bracket their work too: on a caller's loop driven by the
 * caller's own uv_run they are the outermost call into r. */
static void run_pass(dfr_reactor *r)
{
    enter(r);
    /* Disarmed for real: an idle handle left running after the last due
     * call would keep every poll from blocking (a busy loop). */
    uv_idle_stop(&r->due);
    uv_timer_stop(&r->timer);
    r->armed_for = INT64_MAX;
    dfr__timers_run_due(r, dfr__reactor_now(r));
    if (leave(r, true))
        dfr__reactor_arm_timer(r);
}

static void on_timer(uv_timer_t *t)
{
    run_pass(t->data);
}

static void on_due(uv_idle_t *i)
{
    run_pass(i->data);
}

void dfr__reactor_arm_timer(dfr_reactor *r)
{
    if (r->manual_clock)
        return;
    int64_t next = dfr__timers_next(&r->timers);
    if (next == r->armed_for)
        return;
    uv_timer_stop(&r->timer);
    uv_idle_stop(&r->due);
    r->armed_for = next;
    if (next == INT64_MAX)
        return;
    /* libuv counts from its cached loop time: refresh it so we never wake early. */
    uv_update_time(r->loop);
    int64_t delta = next - dfr__reactor_now(r);
    if (delta <= 0) {
        /* Due now.  Not a 0 ms uv timer: libuv 1.44 would run it again in
         * the same timers phase, so a zero-delay call that reschedules itself
         * would starve I/O and calls from threads.  An idle handle runs once
         * per loop iteration and keeps the poll from blocking. */
        uv_idle_start(&r->due, on_due);
        return;
    }
    /* Rounded up without overflowing near the end of time. */
    uint64_t ms = (uint64_t)delta / 1000000 + ((uint64_t)delta % 1000000 != 0);
    uv_timer_start(&r->timer, on_timer, ms, 0);
}

/* The async handle keeps the loop alive while we run it ourselves or while
 * pool results are still to come; otherwise a caller's loop may end. */
static void update_async_ref(dfr_reactor *r)
{
    if (r->in_run || r->iterating || atomic_load(&r->jobs_in_flight) > 0)
        uv_ref((uv_handle_t *)&r->async);
    else
        uv_unref((uv_handle_t *)&r->async);
}

static void on_async(uv_async_t *a)
{
    dfr_reactor *r = a->data;
    enter(r);
    dfr__tq_drain(r);
    if (leave(r, true))
        update_async_ref(r);
}

void dfr__reactor_wake(dfr_reactor *r)
{
    uv_async_send(&r->async);
}

/* The bound of dfr_reactor_iterate's wait.  Stopping the loop makes its poll
 * return at once: libuv 1.44 runs an already expired timer before it polls,
 * and would then poll with no timeout at all. */
static void on_wait_timer(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static void reactor_release(dfr_reactor *r);

static void on_closed(uv_handle_t *h)
{
    dfr_reactor *r = h->data;
    if (--r->open_handles == 0 && r->close_async)
        reactor_release(r);
}

/* ---- construction ---- */

/* Read an option only if the caller's struct is large enough to hold it. */
#define HAS_OPTION(o, field) DFR__OPT_HAS(o, dfr_reactor_options, field)

dfr_reactor *dfr_reactor_new(const dfr_reactor_options *opts)
{
    if (DFR__OPTS_BAD(opts))
        return NULL;
    dfr_reactor *r = dfr__calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->pool_max = 10;
    if (opts) {
        if (HAS_OPTION(opts, manual_clock))
            r->manual_clock = opts->manual_clock;
        if (HAS_OPTION(opts, threadpool_min))
            r->pool_min = opts->threadpool_min;
        if (HAS_OPTION(opts, threadpool_max) && opts->threadpool_max)
            r->pool_max = opts->threadpool_max;
        if (HAS_OPTION(opts, uv_loop))
            r->loop = opts->uv_loop;
    }
    if (r->pool_min > r->pool_max) {
        dfr__free(r);
        return NULL;
    }
    if (!r->loop) {
        if (uv_loop_init(&r->own_loop) != 0) {
            dfr__free(r);
            return NULL;
        }
        r->loop = &r->own_loop;
        r->owns_loop = true;
    }
    if (dfr__tq_init(&r->tq) != 0) {
        if (r->owns_loop)
            uv_loop_close(&r->own_loop);
        dfr__free(r);
        return NULL;
    }
    dfr__timers_init(&r->timers);
    atomic_init(&r->owner, pthread_self());
    r->epoch = uv_hrtime();
    r->armed_for = INT64_MAX;
    r->firing_event = r->firing_phase = -1;
    atomic_init(&r->state, DFR__REACTOR_NEW);
    atomic_init(&r->remote_free, 0);
    r->links.prev = r->links.next = &r->links;

    uv_timer_init(r->loop, &r->timer);
    uv_idle_init(r->loop, &r->due);
    uv_timer_init(r->loop, &r->wait_timer);
    uv_async_init(r->loop, &r->async, on_async);
    r->timer.data = r->due.data = r->wait_timer.data = r->async.data = r;
    r->open_handles = 4;
    update_async_ref(r);
    return r;
}

static void free_triggers(dfr_reactor *r)
{
    for (int e = 0; e < 2; e++)
        for (int p = 0; p < 3; p++) {
            dfr__trigger *t = r->triggers[e][p];
            r->triggers[e][p] = NULL;
            while (t) {
                dfr__trigger *next = t->next;
                dfr__destroy(t->destroy, t->data);
                dfr__free(t);
                t = next;
            }
        }
}

static void reactor_destroy(dfr_reactor *r)
{
    /* From here on new work is refused (DFR_ENOTRUNNING): destroy hooks and
     * callbacks that run below must not schedule anything on r. */
    r->freeing = true;
    /* Objects tied to r learn first, while r is still whole: a running
     * LoopingCall stops, a pending deferLater fails. */
    while (r->links.next != &r->links) {
        dfr__reactor_link *link = r->links.next;
        dfr__reactor_link_remove(r, link);
        link->gone(link);
    }
    /* Work still in the pool finishes, and its results are delivered;
     * calls from threads that never ran are released, not run. */
    if (r->pool) {
        dfr_threadpool_free(r->pool);
        r->pool = NULL;
    }
    dfr__tq_discard(r);
    dfr__timers_clear(r);
    free_triggers(r);
    /* Streams and listeners close (their handles must go before the loop). */
    if (r->net_free)
        r->net_free(r);

    uv_close((uv_handle_t *)&r->timer, on_closed);
    uv_close((uv_handle_t *)&r->due, on_closed);
    uv_close((uv_handle_t *)&r->wait_timer, on_closed);
    uv_close((uv_handle_t *)&r->async, on_closed);
    /* Inside a libuv callback: uv_run is not reentrant; the caller's loop
     * finishes closing them, and the last close releases r. */
    if (r->close_async)
        return;
    while (r->open_handles > 0)
        uv_run(r->loop, UV_RUN_NOWAIT);
    reactor_release(r);
}

static void reactor_release(dfr_reactor *r)
{
    if (r->owns_loop)
        uv_loop_close(&r->own_loop);
    dfr__tq_destroy(&r->tq);
    dfr__free(r);
    /* Idle coroutine stacks go with the reactor their coroutines ran on (the
     * layers' trim hooks: the reactor does not name the coroutine layer). */
    dfr__trim_hooks_run();
}

void dfr_reactor_free(dfr_reactor *r)
{
    if (!r)
        return;
    if (!dfr__on_reactor_thread(r)) {
        /* Another thread may free a reactor nobody runs (a finalizer, or
         * after joining the thread that ran it): it takes r over.  One that
         * runs (or has run: its run may not have returned yet) is asked to
         * stop, and its run frees it on the way out, on its own thread;
         * unless run is already done with r (remote_free 2). */
        if (atomic_load(&r->state) != DFR__REACTOR_NEW) {
            dfr_reactor_stop(r);
            int expected = 0;
            if (atomic_compare_exchange_strong(&r->remote_free, &expected, 1))
                return;
        }
        atomic_store_explicit(&r->owner, pthread_self(), memory_order_relaxed);
    }
    if (r->freeing)
        return; /* from a destroy hook run by this very free */
    if (r->busy) {
        /* From a callback run by run, iterate or advance: they still use r.
         * It goes when the outermost of them returns.  A run would only
         * return once stopped, and nobody may stop r after freeing it: the
         * free asks for the stop itself (as a free from another thread). */
        r->free_pending = true;
        if (r->in_run)
            dfr_reactor_stop(r);
        return;
    }
    reactor_destroy(r);
}

/* run, iterate and advance bracket their work: a free asked for by a
 * callback meanwhile happens on the way out. */
static void enter(dfr_reactor *r)
{
    r->busy++;
}

/* False when r is gone (or going: only its handles are left to close).
 * A libuv callback is outermost only under the caller's own uv_run of the
 * caller's loop (run and iterate hold r across theirs). */
static bool leave(dfr_reactor *r, bool in_uv_callback)
{
    if (--r->busy == 0 && r->free_pending) {
        r->close_async = in_uv_callback;
        reactor_destroy(r);
        return false;
    }
    return true;
}

/* ---- system event triggers ---- */

static int add_trigger(dfr_reactor *r, int phase, int event, dfr_task_fn fn, dfr_fn plain_fn,
                       void *data, dfr_destroy_fn destroy, uint64_t *id)
{
    dfr__trigger *t = dfr__calloc(1, sizeof *t);
    if (!t) {
        dfr__destroy(destroy, data);
        return DFR_ENOMEM;
    }
    t->id = ++r->next_trigger_id;
    t->fn = fn;
    t->plain_fn = plain_fn;
    t->data = data;
    t->destroy = destroy;
    dfr__trigger **tail = &r->triggers[event][phase];
    while (*tail)
        tail = &(*tail)->next;
    *tail = t;
    if (id)
        *id = t->id;
    return 0;
}

int dfr_reactor_add_system_event_trigger(dfr_reactor *r, dfr_trigger_phase phase,
                                         dfr_trigger_event event, dfr_task_fn fn, void *data,
                                 dfr_destroy_fn destroy, uint64_t *id)
{
    int rc = dfr__reactor_check(r);
    if (!rc && (!fn || phase < DFR_BEFORE || phase > DFR_AFTER || event < DFR_STARTUP ||
                event > DFR_SHUTDOWN))
        rc = DFR_EINVAL;
    if (rc) {
        dfr__destroy(destroy, data);
        return rc;
    }
    return add_trigger(r, phase, event, fn, NULL, data, destroy, id);
}

int dfr_reactor_remove_system_event_trigger(dfr_reactor *r, uint64_t id)
{
    int rc = dfr__reactor_check(r);
    if (rc)
        return rc;
    for (int e = 0; e < 2; e++)
        for (int p = 0; p < 3; p++)
            for (dfr__trigger **link = &r->triggers[e][p]; *link; link = &(*link)->next) {
                dfr__trigger *t = *link;
                if (t->id != id)
                    continue;
                *link = t->next;
                dfr__destroy(t->destroy, t->data);
                dfr__free(t);
                return 0;
            }
    return DFR_EINVAL;
}

int dfr_reactor_call_when_running(dfr_reactor *r, dfr_fn fn, void *data, dfr_destroy_fn destroy)
{
    int rc = dfr__reactor_check(r);
    if (!rc && !fn)
        rc = DFR_EINVAL;
    if (rc) {
        dfr__destroy(destroy, data);
        return rc;
    }
    if (r->running) {
        fn(data);
        dfr__destroy(destroy, data);
        return 0;
    }
    return add_trigger(r, DFR_AFTER, DFR_STARTUP, NULL, fn, data, destroy, NULL);
}

/* The run loop must look at the reactor's state again: make the current
 * loop iteration return instead of blocking in its poll. */
static void recheck_state(dfr_reactor *r)
{
    if (r->in_run)
        uv_stop(r->loop);
}

/* What happens when a phase is over. */
static void phase_finished(dfr_reactor *r, int event, int phase)
{
    if (phase < DFR_AFTER) {
        fire_phase(r, event, phase + 1);
        return;
    }
    r->firing_event = r->firing_phase = -1;
    if (event == DFR_STARTUP)
        r->startup_done = true;
    else
        r->finished = true;
    recheck_state(r);
}

typedef struct phase_wait {
    dfr_reactor *r;
    int event, phase;
} phase_wait;

/* The deferreds a phase returned have all fired: report failures, go on. */
static dfr_value phase_results(dfr_value v, void *data)
{
    phase_wait *w = data;
    dfr_list *l = dfr_list_from(&v);
    for (size_t i = 0; i < dfr_list_len(l); i++)
        if (!dfr_list_ok(l, i))
            dfr__report_unhandled(NULL, dfr_failure_from(dfr_list_get(l, i)));
    dfr_value_drop(v);
    phase_finished(w->r, w->event, w->phase);
    return dfr_none();
}

static void fire_phase(dfr_reactor *r, int event, int phase)
{
    r->firing_event = event;
    r->firing_phase = phase;
    if (phase == DFR_DURING) {
        atomic_store_explicit(&r->running, event == DFR_STARTUP, memory_order_relaxed);
        if (event == DFR_STARTUP)
            atomic_store(&r->state, DFR__REACTOR_RUNNING);
    }
    dfr_deferred **waits = NULL;
    size_t nwaits = 0, capwaits = 0;
    dfr__trigger *t;
    /* Pop one at a time: triggers added or removed meanwhile are honoured. */
    while ((t = r->triggers[event][phase]) != NULL) {
        r->triggers[event][phase] = t->next;
        dfr_value v = dfr_none();
        if (t->fn)
            v = t->fn(t->data);
        else
            t->plain_fn(t->data);
        dfr__destroy(t->destroy, t->data);
        dfr__free(t);
        if (dfr_is_deferred(v)) {
            if (nwaits == capwaits) {
                size_t cap = capwaits ? capwaits * 2 : 8;
                dfr_deferred **w = dfr__realloc(waits, cap * sizeof *w);
                if (!w) {
                    /* Cannot wait for it: do not lose its failure, though. */
                    dfr_deferred_unref(v.u.ptr);
                    continue;
                }
                waits = w;
                capwaits = cap;
            }
            waits[nwaits++] = v.u.ptr;
        } else if (dfr_is_failure(v)) {
            dfr__report_unhandled(NULL, v.u.ptr);
            dfr_value_drop(v);
        } else {
            dfr_value_drop(v);
        }
    }
    /* The record first: once the list exists, dropping it unfired would
     * leave it and its inputs holding each other. */
    phase_wait *w = nwaits ? dfr__malloc(sizeof *w) : NULL;
    dfr_deferred *all = w ? dfr_deferred_list(waits, nwaits, DFR_CONSUME_ERRORS) : NULL;
    for (size_t i = 0; i < nwaits; i++)
        dfr_deferred_unref(waits[i]);
    dfr__free(waits);
    if (!all) {
        /* Nothing to wait for, or no memory to wait with: go on. */
        dfr__free(w);
        phase_finished(r, event, phase);
        return;
    }
    *w = (phase_wait){r, event, phase};
    dfr_deferred_add_callback(all, phase_results, w, dfr__free);
    dfr_deferred_unref(all);
}

/* ---- running ---- */

static void begin_shutdown_if_asked(dfr_reactor *r)
{
    if (!atomic_load(&r->stop_requested) || !r->startup_done || r->shutdown_started)
        return;
    r->shutdown_started = true;
    atomic_store(&r->state, DFR__REACTOR_STOPPING);
    fire_phase(r, DFR_SHUTDOWN, DFR_BEFORE);
}

int dfr_reactor_run(dfr_reactor *r)
{
    if (!r)
        return DFR_EINVAL;
    /* A reactor not yet run may be handed to another thread to run it (the
     * one that made it must then leave it alone); once run, it stays. */
    int state = atomic_load(&r->state);
    if (state != DFR__REACTOR_NEW && !dfr__on_reactor_thread(r))
        return DFR_ENOTOWNER;
    if (dfr__on_reactor_thread(r) && (r->busy || r->freeing))
        return DFR_EALREADY_RUNNING; /* inside iterate or advance: one loop at a time */
    int expected = DFR__REACTOR_NEW;
    if (!atomic_compare_exchange_strong(&r->state, &expected, DFR__REACTOR_STARTING))
        return expected == DFR__REACTOR_STOPPED ? DFR_ENOTRESTARTABLE : DFR_EALREADY_RUNNING;
    atomic_store_explicit(&r->owner, pthread_self(), memory_order_relaxed);
    enter(r);
    r->in_run = true;
    update_async_ref(r);
    dfr__reactor_arm_timer(r);
    /* Calls posted from other threads before run() run now. */
    dfr__tq_drain(r);
    fire_phase(r, DFR_STARTUP, DFR_BEFORE);
    for (;;) {
        begin_shutdown_if_asked(r);
        if (r->finished)
            break;
        uv_run(r->loop, UV_RUN_ONCE);
    }
    atomic_store_explicit(&r->running, false, memory_order_relaxed);
    if (r->pool) {
        dfr__pool_drain(r->pool);
    }
    dfr__tq_drain(r);
    atomic_store(&r->state, DFR__REACTOR_STOPPED);
    r->in_run = false;
    update_async_ref(r);
    /* As leave(), with the hand-off to a free from another thread as the
     * last touch of r: after it, such a free takes r over.  run is always
     * outermost (refused inside iterate and advance). */
    r->busy--;
    if (r->free_pending || atomic_exchange(&r->remote_free, 2) == 1)
        reactor_destroy(r);
    return 0;
}

int dfr_reactor_stop(dfr_reactor *r)
{
    if (!r)
        return DFR_EINVAL;
    int state = atomic_load(&r->state);
    if (state != DFR__REACTOR_STARTING && state != DFR__REACTOR_RUNNING)
        return DFR_ENOTRUNNING;
    if (atomic_exchange(&r->stop_requested, true))
        return DFR_ENOTRUNNING;
    if (dfr__on_reactor_thread(r))
        recheck_state(r);
    else
        dfr__reactor_wake(r);
    return 0;
}

bool dfr_reactor_running(const dfr_reactor *r)
{
    return r && atomic_load_explicit(&r->running, memory_order_relaxed);
}

int dfr_reactor_iterate(dfr_reactor *r, double max_wait)
{
    int64_t ns;
    int rc = dfr__reactor_check(r);
    if (rc)
        return rc;
    if (!dfr__seconds_to_ns(max_wait, false, &ns))
        return DFR_EINVAL;
    /* libuv's loop is not reentrant: not from a callback it is running. */
    if (r->in_run || r->iterating)
        return DFR_EALREADY_RUNNING;
    enter(r);
    dfr__reactor_arm_timer(r);
    /* Keep the loop alive for this iteration, so it polls (and sees calls
     * from other threads) even when nothing else holds it. */
    r->iterating = true;
    update_async_ref(r);
    if (ns > 0) {
        uint64_t ms = (uint64_t)ns / 1000000 + ((uint64_t)ns % 1000000 != 0);
        uv_update_time(r->loop); /* count the wait from now */
        uv_timer_start(&r->wait_timer, on_wait_timer, ms, 0);
        uv_run(r->loop, UV_RUN_ONCE);
        uv_timer_stop(&r->wait_timer);
    } else {
        uv_run(r->loop, UV_RUN_NOWAIT);
    }
    r->iterating = false;
    update_async_ref(r);
    leave(r, false);
    return 0;
}

int dfr_reactor_advance(dfr_reactor *r, double seconds)
{
    int64_t ns;
    int rc = dfr__reactor_check(r);
    if (rc)
        return rc;
    if (!r->manual_clock || !dfr__seconds_to_ns(seconds, false, &ns))
        return DFR_EINVAL;
    /* Each step is bounded, the sum is not: the clock stops at the end of
     * time (about 292 years), never wraps to negative. */
    int64_t now = dfr__ns_add(atomic_load_explicit(&r->manual_now, memory_order_relaxed), ns);
    atomic_store_explicit(&r->manual_now, now, memory_order_relaxed);
    enter(r);
    dfr__timers_run_due(r, now);
    leave(r, false);
    return 0;
}

/* ---- threads ---- */

int dfr_reactor_call_from_thread(dfr_reactor *r, dfr_fn fn, void *data, dfr_destroy_fn destroy)
{
    if (!r || !fn) {
        dfr__destroy(destroy, data);
        return DFR_EINVAL;
    }
    return dfr__tq_push(r, fn, data, destroy);
}

dfr_threadpool *dfr__reactor_pool(dfr_reactor *r)
{
    if (!r->pool) {
        r->pool = dfr__pool_new(r->pool_min, r->pool_max, "dfr-reactor");
        if (r->pool && dfr_threadpool_start(r->pool) != 0) {
            dfr_threadpool_free(r->pool);
            r->pool = NULL;
        }
    }
    return r->pool;
}

void dfr__reactor_job_submitted(dfr_reactor *r)
{
    atomic_fetch_add(&r->jobs_in_flight, 1);
    update_async_ref(r);
}

int dfr_reactor_suggest_threadpool_size(dfr_reactor *r, unsigned max)
{
    int rc = dfr__reactor_check(r);
    if (rc)
        return rc;
    if (max == 0)
        return DFR_EINVAL;
    r->pool_max = max;
    if (r->pool_min > max)
        r->pool_min = max;
    if (r->pool)
        return dfr__pool_resize(r->pool, r->pool_min, max);
    return 0;
}
