/* libdeferred — the reactor: timers (callLater), the manual clock (Twisted's
 * task.Clock), calls from other threads, system event triggers, deferLater,
 * addTimeout and LoopingCall.  libuv underneath; this header never includes
 * uv.h.
 *
 * Thread rule: a reactor and everything on it belong to the thread that runs
 * it (before run: the thread that made it).  Thread-safe exceptions:
 * dfr_call_from_thread, dfr_blocking_call_from_thread, dfr_reactor_stop and
 * dropping references. */
#ifndef DEFERRED_REACTOR_H
#define DEFERRED_REACTOR_H

#include "deferred.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dfr_reactor dfr_reactor;
typedef struct dfr_delayed_call dfr_delayed_call;
typedef struct dfr_looping_call dfr_looping_call;

typedef void (*dfr_fn)(void *data);

typedef struct dfr_reactor_options {
    size_t size;             /* sizeof(dfr_reactor_options) */
    bool manual_clock;       /* time moves only by dfr_reactor_advance */
    unsigned threadpool_min; /* default 0 */
    unsigned threadpool_max; /* default 10; 0 means the default */
    void *uv_loop;           /* a uv_loop_t * the caller owns, or NULL */
} dfr_reactor_options;

/* A new reactor (NULL opts: defaults).  NULL on OOM or bad options. */
DFR_API dfr_reactor *dfr_reactor_new(const dfr_reactor_options *opts);
/* Free a reactor that is not running: pending calls are dropped (their
 * destroy runs), the thread pool is joined, handles are closed (on a
 * caller's loop this runs that loop briefly to finish closing them). */
DFR_API void dfr_reactor_free(dfr_reactor *r);

/* Fire the startup triggers and call_when_running calls, run until stopped,
 * fire the shutdown triggers (waiting for the deferreds they return), stop
 * the thread pool.  A reactor runs once: DFR_EALREADY when it is running or
 * has run. */
DFR_API int dfr_reactor_run(dfr_reactor *r);
/* Ask a running (or starting) reactor to stop; any thread.
 * DFR_ENOTRUNNING when not running or already stopping. */
DFR_API int dfr_reactor_stop(dfr_reactor *r);
/* Run one loop iteration, waiting at most max_wait seconds for something to
 * happen (0: do not wait).  Not while running.  DFR_EINVAL for a negative
 * or NaN wait. */
DFR_API int dfr_reactor_iterate(dfr_reactor *r, double max_wait);
/* The reactor's clock in seconds (monotonic; manual clock: starts at 0). */
DFR_API double dfr_reactor_seconds(const dfr_reactor *r);
/* Manual clock only: move time forward and run what became due (one pass).
 * DFR_EINVAL for a negative/NaN amount or a real-clock reactor. */
DFR_API int dfr_reactor_advance(dfr_reactor *r, double seconds);
/* Whether the reactor is running (from the during-startup phase until the
 * during-shutdown phase). */
DFR_API bool dfr_reactor_running(const dfr_reactor *r);

/* callLater: run fn(data) after `delay` seconds (>= 0).  `out` may be NULL;
 * else the caller owns a reference to the handle.  Equal times run in the
 * order scheduled; calls scheduled while due calls run wait for the next
 * pass.  On error destroy(data) has run. */
DFR_API int dfr_call_later(dfr_reactor *r, double delay, dfr_fn fn, void *data,
                           dfr_destroy_fn destroy, dfr_delayed_call **out);
/* Cancel: destroy(data) runs at once.  DFR_EALREADY_CANCELLED /
 * DFR_EALREADY_CALLED_DC once cancelled / run (also from inside its fn). */
DFR_API int dfr_delayed_call_cancel(dfr_delayed_call *dc);
/* Reschedule to `delay` seconds from now. */
DFR_API int dfr_delayed_call_reset(dfr_delayed_call *dc, double delay);
/* Push back by `seconds` (may be negative). */
DFR_API int dfr_delayed_call_delay(dfr_delayed_call *dc, double seconds);
DFR_API bool dfr_delayed_call_active(const dfr_delayed_call *dc);
/* When it will run (reactor seconds) while pending; NaN once it ran or was
 * cancelled, and for NULL. */
DFR_API double dfr_delayed_call_time(const dfr_delayed_call *dc);
DFR_API dfr_delayed_call *dfr_delayed_call_ref(dfr_delayed_call *dc);
DFR_API void dfr_delayed_call_unref(dfr_delayed_call *dc);
/* Number of pending delayed calls (Clock.getDelayedCalls). */
DFR_API size_t dfr_reactor_pending_calls(const dfr_reactor *r);

/* Run fn when the reactor is running (at once if it already is). */
DFR_API int dfr_call_when_running(dfr_reactor *r, dfr_fn fn, void *data, dfr_destroy_fn destroy);
/* Run fn on the reactor thread soon; any thread, FIFO per calling thread,
 * nothing lost.  Calls made before run() run once it starts. */
DFR_API int dfr_call_from_thread(dfr_reactor *r, dfr_fn fn, void *data, dfr_destroy_fn destroy);

/* System event triggers. */
enum { DFR_BEFORE = 0, DFR_DURING = 1, DFR_AFTER = 2 };
enum { DFR_STARTUP = 0, DFR_SHUTDOWN = 1 };
/* fn may return a deferred: the next phase waits for it.  *id (may be NULL)
 * receives a handle for dfr_remove_system_event_trigger.  Triggers run once. */
DFR_API int dfr_add_system_event_trigger(dfr_reactor *r, int phase, int event, dfr_task_fn fn,
                                         void *data, dfr_destroy_fn destroy, uint64_t *id);
/* DFR_EINVAL for an unknown or already removed id. */
DFR_API int dfr_remove_system_event_trigger(dfr_reactor *r, uint64_t id);

/* deferLater: a deferred firing after `delay` with fn(data) (fn NULL: none).
 * Cancelling it cancels the timer.  NULL on bad input or OOM. */
DFR_API dfr_deferred *dfr_defer_later(dfr_reactor *r, double delay, dfr_task_fn fn, void *data,
                                      dfr_destroy_fn destroy);

/* addTimeout: cancel d after `seconds`; the resulting DFR_ECANCELLED becomes
 * DFR_ETIMEDOUT.  The timer goes when d fires. */
DFR_API int dfr_deferred_add_timeout(dfr_deferred *d, dfr_reactor *r, double seconds);

/* LoopingCall. */
DFR_API dfr_looping_call *dfr_looping_call_new(dfr_reactor *r, dfr_task_fn fn, void *data,
                                               dfr_destroy_fn destroy);
/* Start calling fn every `interval` seconds (> 0... or 0: as fast as the
 * loop allows), at once when `now`.  The deferred fires with dfr_ptr(lc)
 * when stopped, or fails with fn's failure.  A deferred from fn delays the
 * next call; missed intervals are skipped.  NULL if running or bad input. */
DFR_API dfr_deferred *dfr_looping_call_start(dfr_looping_call *lc, double interval, bool now);
DFR_API int dfr_looping_call_stop(dfr_looping_call *lc);
/* Restart the interval from now (only while running). */
DFR_API int dfr_looping_call_reset(dfr_looping_call *lc);
DFR_API bool dfr_looping_call_running(const dfr_looping_call *lc);
DFR_API void dfr_looping_call_free(dfr_looping_call *lc);

#ifdef __cplusplus
}
#endif
#endif
