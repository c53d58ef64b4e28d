/* libdeferred — the reactor: timers (callLater), the manual clock (Twisted's
 * task.Clock), calls from other threads, system event triggers, deferLater,
 * addTimeout and LoopingCall.  libuv underneath; this header never includes
 * uv.h.
 *
 * Thread rule: a reactor and everything on it (delayed calls, LoopingCalls,
 * triggers, deferLater, thread work it reports to) belong to its owning
 * thread: the thread that made it; dfr_reactor_run moves it, for good, to
 * the thread that runs it (a reactor not yet run may be handed to another
 * thread that way; the maker must then leave it alone).  Every reactor-bound
 * function checks: from another thread it returns DFR_ENOTOWNER (functions
 * returning a deferred: a deferred failed with it, destroy has run; queries:
 * false, 0 or NaN) and touches nothing.  Any thread: dfr_reactor_call_from_thread,
 * dfr_reactor_blocking_call_from_thread, dfr_reactor_stop, dfr_reactor_running,
 * dfr_reactor_seconds, dfr_reactor_in_thread, dropping references, and
 * dfr_reactor_free (see there).
 *
 * Lifetimes: handles outlive their reactor safely.  When a reactor is freed,
 * pending delayed calls are dropped (their destroy runs; the handle answers
 * DFR_EALREADY_CANCELLED), a running LoopingCall stops (its start deferred
 * fails with DFR_ENOTRUNNING; later calls on it answer DFR_ENOTRUNNING), a
 * pending deferLater fails with DFR_ENOTRUNNING, an addTimeout timer is
 * dropped (the deferred itself is untouched), and trigger ids die with it.
 * While it is being freed, destroy hooks and callbacks that run cannot
 * schedule new work on it (DFR_ENOTRUNNING).
 *
 * Time: inputs are seconds as doubles; NaN, infinities, magnitudes above
 * 4.6e9 (146 years) and negatives (except dfr_delayed_call_delay) are
 * DFR_EINVAL.  Sums saturate at the end of time (2^63 ns, about 292 years):
 * the manual clock stops there and calls due later are due then. */
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
/* Free a reactor: pending calls are dropped (their destroy runs), the
 * thread pool is joined, handles are closed (on a caller's loop this runs
 * that loop briefly to finish closing them).  Called while dfr_reactor_run,
 * _iterate or _advance is under way on its thread (from a callback, a
 * destroy hook, a finalizer), the free is deferred: r is freed when the
 * outermost of them returns (a run is asked to stop, as dfr_reactor_stop:
 * its shutdown triggers run, then it returns), and must not be used after
 * this call in any case.  From another thread (a garbage collector's finalizer) while r is
 * running: r is asked to stop (as dfr_reactor_stop) and dfr_reactor_run
 * frees it on its own thread before returning, so neither side may use r
 * after that run returns; the shutdown triggers still run first.  From
 * another thread when r is not running, the caller takes r over and frees
 * it now (it must not race with a first dfr_reactor_run, nor with an
 * iterate or advance on r's thread).
 * A second free from a destroy hook run by this free does nothing. */
DFR_API void dfr_reactor_free(dfr_reactor *r);

/* Fire the startup triggers and call_when_running calls, run until stopped,
 * fire the shutdown triggers (waiting for the deferreds they return), stop
 * the thread pool.  A reactor runs once: DFR_EALREADY_RUNNING when it is
 * running or from inside dfr_reactor_iterate / _advance,
 * DFR_ENOTRESTARTABLE when it has run; DFR_ENOTOWNER
 * when it has run on another thread.  Returns 0 having freed r when
 * dfr_reactor_free was called meanwhile (see there). */
DFR_API int dfr_reactor_run(dfr_reactor *r);
/* Ask a running (or starting) reactor to stop; any thread.
 * DFR_ENOTRUNNING when not running or already stopping. */
DFR_API int dfr_reactor_stop(dfr_reactor *r);
/* Run one loop iteration, waiting at most max_wait seconds for something to
 * happen (0: do not wait).  DFR_EALREADY_RUNNING while running or from a callback
 * of an iteration (libuv's loop is not reentrant).  DFR_EINVAL for a bad
 * wait (see Time above). */
DFR_API int dfr_reactor_iterate(dfr_reactor *r, double max_wait);
/* The reactor's clock in seconds (monotonic; manual clock: starts at 0);
 * any thread. */
DFR_API double dfr_reactor_seconds(const dfr_reactor *r);
/* Manual clock only: move time forward and run what became due (one pass).
 * DFR_EINVAL for a bad amount (see Time above) or a real-clock reactor.
 * The clock saturates at the end of time. */
DFR_API int dfr_reactor_advance(dfr_reactor *r, double seconds);
/* Whether the reactor is running (from the during-startup phase until the
 * during-shutdown phase); any thread. */
DFR_API bool dfr_reactor_running(const dfr_reactor *r);
/* Whether the calling thread owns r (Twisted's isInIOThread): the reactor
 * functions may be called from it.  false for NULL; any thread. */
DFR_API bool dfr_reactor_in_thread(const dfr_reactor *r);

/* callLater: run fn(data) after `delay` seconds (>= 0).  `out` may be NULL;
 * else the caller owns a reference to the handle.  Equal times run in the
 * order scheduled; calls scheduled while due calls run wait for the next
 * pass.  On error destroy(data) has run. */
DFR_API int dfr_reactor_call_later(dfr_reactor *r, double delay, dfr_fn fn, void *data,
                           dfr_destroy_fn destroy, dfr_delayed_call **out);
/* Cancel: destroy(data) runs at once.  DFR_EALREADY_CANCELLED /
 * DFR_EALREADY_RAN once cancelled / run (also from inside its fn). */
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
/* Number of pending delayed calls (Clock.getDelayedCalls); 0 off the
 * reactor's thread. */
DFR_API size_t dfr_reactor_pending_calls(const dfr_reactor *r);

/* Run fn when the reactor is running (at once if it already is). */
DFR_API int dfr_reactor_call_when_running(dfr_reactor *r, dfr_fn fn, void *data, dfr_destroy_fn destroy);
/* Run fn on the reactor thread soon; any thread, FIFO per calling thread,
 * nothing lost.  Each loop iteration runs the calls queued when it began
 * (later ones wait for the next).  Calls made before run() run once it starts.  It may race
 * with dfr_reactor_stop and with the end of run: a call that arrives after
 * run returned waits for an iterate, or is released (destroy runs, fn does
 * not) by dfr_reactor_free.  It must not race with dfr_reactor_free itself:
 * r must exist when the call is made (join or tell the posting threads
 * first); one made by a callback or destroy hook that the free runs is
 * refused once the queue closed (DFR_ENOTRUNNING, destroy has run). */
DFR_API int dfr_reactor_call_from_thread(dfr_reactor *r, dfr_fn fn, void *data, dfr_destroy_fn destroy);

/* System event triggers.  Phase and event are distinct enum types (int-sized),
 * so swapping them is a compiler diagnostic (-Wenum-conversion in C, an
 * error in C++). */
typedef enum dfr_trigger_phase { DFR_BEFORE = 0, DFR_DURING = 1, DFR_AFTER = 2 } dfr_trigger_phase;
typedef enum dfr_trigger_event { DFR_STARTUP = 0, DFR_SHUTDOWN = 1 } dfr_trigger_event;
/* fn may return a deferred: the next phase waits for it.  *id (may be NULL)
 * receives a handle for dfr_reactor_remove_system_event_trigger.  Triggers run once. */
DFR_API int dfr_reactor_add_system_event_trigger(dfr_reactor *r, dfr_trigger_phase phase,
                                                 dfr_trigger_event event, dfr_task_fn fn, void *data, dfr_destroy_fn destroy, uint64_t *id);
/* DFR_EINVAL for an unknown or already removed id. */
DFR_API int dfr_reactor_remove_system_event_trigger(dfr_reactor *r, uint64_t id);

/* deferLater: a deferred firing after `delay` with fn(data) (fn NULL: none).
 * Cancelling it cancels the timer.  Refusals come as a failed deferred
 * (destroy has run): DFR_EINVAL for NULL r or a bad delay, DFR_ENOTOWNER
 * off the reactor's thread; NULL only on OOM.  If the reactor is freed
 * first it fails with DFR_ENOTRUNNING (fn does not run). */
DFR_API dfr_deferred *dfr_reactor_defer_later(dfr_reactor *r, double delay, dfr_task_fn fn, void *data,
                                      dfr_destroy_fn destroy);

/* addTimeout: cancel d after `seconds`; the resulting DFR_ECANCELLED becomes
 * DFR_ETIMEDOUT.  The timer goes when d fires. */
DFR_API int dfr_deferred_add_timeout(dfr_deferred *d, dfr_reactor *r, double seconds);
/* addTimeout with Twisted's onTimeoutCancel: when the timeout (and nothing
 * else) cancels d, on_timeout(result, data) gets d's result at that point —
 * usually the DFR_ECANCELLED failure, or whatever d's canceller fired it
 * with — and returns the result that goes on, instead of the conversion to
 * DFR_ETIMEDOUT (on_timeout NULL: that conversion).  It is not called when
 * d fires or is cancelled otherwise.  destroy(data) runs exactly once: when
 * d's chain drops the entry, or at once when refused (the codes of
 * dfr_deferred_add_timeout). */
DFR_API int dfr_deferred_add_timeout_with(dfr_deferred *d, dfr_reactor *r, double seconds,
                                          dfr_callback_fn on_timeout, void *data,
                                          dfr_destroy_fn destroy);

/* LoopingCall. */
DFR_API dfr_looping_call *dfr_looping_call_new(dfr_reactor *r, dfr_task_fn fn, void *data,
                                               dfr_destroy_fn destroy);
/* Start calling fn every `interval` seconds (> 0... or 0: as fast as the
 * loop allows), at once when `now`.  The deferred fires with dfr_ptr(lc)
 * when stopped, or fails with fn's failure (DFR_ENOTRUNNING if the reactor
 * is freed first).  A deferred from fn delays the next call; missed
 * intervals are skipped.  Refusals come as a failed deferred:
 * DFR_EALREADY_RUNNING if running (or a stopped run still waits on fn's deferred), DFR_EINVAL
 * for a bad interval, DFR_ENOTOWNER off the reactor's thread,
 * DFR_ENOTRUNNING once the reactor is gone, DFR_EINVAL for NULL lc.  NULL
 * only on OOM. */
DFR_API dfr_deferred *dfr_looping_call_start(dfr_looping_call *lc, double interval, bool now);
/* DFR_EINVAL when not running; DFR_ENOTRUNNING once the reactor is gone. */
DFR_API int dfr_looping_call_stop(dfr_looping_call *lc);
/* Restart the interval from now (only while running). */
DFR_API int dfr_looping_call_reset(dfr_looping_call *lc);
/* false once stopped, once the reactor is gone, and off its thread. */
DFR_API bool dfr_looping_call_running(const dfr_looping_call *lc);
/* Twisted's LoopingCall.withCount, before start: from then on fn may call
 * dfr_looping_call_count(lc) to learn how many calls were due since it last
 * ran — 1 normally, more when intervals passed while fn's deferred was
 * pending or the loop was late; always 1 for interval 0.  When no whole
 * interval has passed since fn last ran (after a reset or a restart) fn is
 * skipped, so it never sees 0.  DFR_EALREADY_RUNNING while running,
 * DFR_EINVAL for NULL, DFR_ENOTOWNER off the reactor's thread. */
DFR_API int dfr_looping_call_with_count(dfr_looping_call *lc);
/* The count of the call now running (the last one after it); 0 without
 * dfr_looping_call_with_count, before the first call, off the thread. */
DFR_API uint64_t dfr_looping_call_count(const dfr_looping_call *lc);
/* Handle references, as for delayed calls and listeners: new gives the
 * caller one; ref adds one (any thread).  unref on the reactor's thread
 * (elsewhere refused, unless the reactor is gone: post it with
 * dfr_reactor_call_from_thread); the last handle reference stops a running
 * call (its start deferred fires with dfr_ptr(lc)) — a call nobody holds
 * could never be stopped.  The memory goes when the timer and a pending fn
 * deferred are done with it too.  NULL ignored. */
DFR_API dfr_looping_call *dfr_looping_call_ref(dfr_looping_call *lc);
DFR_API void dfr_looping_call_unref(dfr_looping_call *lc);

#ifdef __cplusplus
}
#endif
#endif
