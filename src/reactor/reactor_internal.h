/* The reactor layer's internals: its state, shared by reactor.c, timer.c,
 * thread_queue.c, later.c and looping.c, and what the layers above (thread,
 * net) may use: the owner check, the clock, the thread queue and the job
 * sink that thread pools deliver into. */
#ifndef DFR_REACTOR_INTERNAL_H
#define DFR_REACTOR_INTERNAL_H

#include "core/core_internal.h"

#include <deferred/reactor.h>
#include <deferred/thread.h>

#include <pthread.h>
#include <uv.h>

/* ---- timer.c: the timer heap ---- */

/* One pending call, stored inline in the heap: a call without a handle costs
 * no allocation at all. */
typedef struct dfr__timer_entry {
    int64_t time; /* ns on the reactor clock */
    uint64_t seq; /* scheduling order: ties run first-scheduled first */
    dfr__closure call;
    dfr_delayed_call *handle; /* NULL for fire-and-forget calls */
} dfr__timer_entry;

typedef struct dfr__timer_heap {
    dfr__timer_entry *e;
    size_t len, cap;
    uint64_t next_seq;
} dfr__timer_heap;

void dfr__timers_init(dfr__timer_heap *h);
/* dfr_reactor_call_later with a checked delay in nanoseconds. */
int dfr__call_later_ns(dfr_reactor *r, int64_t ns, dfr_fn fn, void *data, dfr_destroy_fn destroy,
                       dfr_delayed_call **out);
/* Run one pass: every call due at `now` that was scheduled before the pass
 * began. */
void dfr__timers_run_due(dfr_reactor *r, int64_t now);
/* Drop every pending call (destroy runs), detaching handles. */
void dfr__timers_clear(dfr_reactor *r);
/* Time of the earliest call; INT64_MAX when none. */
int64_t dfr__timers_next(const dfr__timer_heap *h);

/* ---- thread_queue.c: calls handed to the reactor thread ---- */

/* Completed thread-pool jobs travel intrusively: delivering a result never
 * allocates, so it can never fail. */
typedef struct dfr__job dfr__job;
/* The reactor's side of its pool jobs (thread_queue.c): outlives the reactor
 * while jobs still refer to it. */
typedef struct dfr__sink dfr__sink;

typedef struct dfr__thread_queue {
    pthread_mutex_t lock;
    dfr__closure *calls; /* producers append here */
    size_t len, cap;
    dfr__closure *spare; /* the consumer's batch buffer, swapped in */
    size_t spare_cap;
    dfr__job *done_head, *done_tail;
    bool wake_pending; /* an async send is already on its way */
    bool closed;       /* the reactor is being freed: no more calls */
    bool discarding;   /* ... and no more pool jobs (reactor thread only) */
    atomic_uint waking; /* producers between claiming a wake and sending it */
    dfr__sink *sink;    /* made on the first pool job */
} dfr__thread_queue;

int dfr__tq_init(dfr__thread_queue *q);
void dfr__tq_destroy(dfr__thread_queue *q);
/* Any thread.  DFR_ENOTRUNNING (destroy has run) once the reactor is freed. */
int dfr__tq_push(dfr_reactor *r, dfr_fn fn, void *data, dfr_destroy_fn destroy);
/* Reactor thread: run everything queued (including what the calls queue). */
void dfr__tq_drain(dfr_reactor *r);
/* At reactor free: detach the pool jobs still out (their deferreds fail with
 * DFR_ENOTRUNNING), release queued calls (destroy runs), deliver finished
 * work, then refuse further calls.  Returns once no producer touches r. */
void dfr__tq_discard(dfr_reactor *r);
/* Reactor thread: register a job about to be queued for r.  DFR_ENOTRUNNING
 * once r is being freed, DFR_ENOMEM. */
int dfr__sink_attach(dfr_reactor *r, dfr__job *job);
/* Reactor thread: undo dfr__sink_attach for a job that was never queued. */
void dfr__sink_detach(dfr__job *job);
/* Reactor thread: whether r still takes pool jobs. */
bool dfr__sink_open(const dfr_reactor *r);
/* Any thread: the job's worker side is over (it ran, or never will).  Hands
 * it to its reactor, or, once that reactor is gone, releases it here. */
void dfr__job_finish(dfr__job *job);

/* ---- the job sink: what thread pools (thread/) deliver into ---- */

typedef void (*dfr__job_run_fn)(dfr__job *job);

/* A job lives in its pool's queue, then on a worker, then in its reactor's
 * done list; all along it is registered in the reactor's sink.  If the
 * reactor is freed first the job is detached: `abandon` releases the
 * reactor's side there and then, and `release` the rest wherever the job
 * ends (a worker, or a pool's stop or free). */
struct dfr__job {
    dfr__job *next;             /* pool queue, then the done list */
    dfr__job *sprev, *snext;    /* the sink's list of jobs out */
    dfr__job_run_fn run;        /* on a worker */
    dfr__job_run_fn complete;   /* on the reactor thread; `ran` says whether run ran */
    dfr__job_run_fn abandon;    /* reactor thread, at reactor free */
    dfr__job_run_fn release;    /* a detached job's end, on any thread: frees it */
    dfr__sink *sink;
    atomic_uint refs;           /* 1, and the reactor's while it abandons the job */
    atomic_bool detached;
    bool ran;
};

/* ---- reactor.c ---- */

enum dfr__reactor_state {
    DFR__REACTOR_NEW,
    DFR__REACTOR_STARTING,
    DFR__REACTOR_RUNNING,
    DFR__REACTOR_STOPPING,
    DFR__REACTOR_STOPPED
};

/* An object tied to a reactor that must hear when the reactor is freed
 * (LoopingCall, deferLater): `gone` runs once, on the reactor's thread,
 * after the link was taken off the list and before anything is torn down. */
typedef struct dfr__reactor_link dfr__reactor_link;
struct dfr__reactor_link {
    dfr__reactor_link *prev, *next;
    void (*gone)(dfr__reactor_link *link);
};
void dfr__reactor_link_add(dfr_reactor *r, dfr__reactor_link *link);
void dfr__reactor_link_remove(dfr_reactor *r, dfr__reactor_link *link);

typedef struct dfr__trigger dfr__trigger;

struct dfr_reactor {
    uv_loop_t *loop;
    uv_loop_t own_loop;
    bool owns_loop;
    bool manual_clock;
    _Atomic int64_t manual_now; /* ns; atomic: dfr_reactor_seconds is any-thread */
    uint64_t epoch;     /* uv_hrtime at creation */
    _Atomic(pthread_t) owner; /* read by thread-safe entry points */

    uv_timer_t timer;      /* armed for the earliest call in the future */
    uv_idle_t due;         /* runs calls already due, once per loop iteration */
    int64_t armed_for;     /* INT64_MAX: not armed */
    uv_prepare_t prepare;  /* re-arms the timer before the loop blocks */
    uv_async_t async;      /* wakes the loop for thread calls and stop */
    uv_timer_t wait_timer; /* bounds dfr_reactor_iterate's wait */
    int open_handles;

    dfr__timer_heap timers;
    dfr__thread_queue tq;
    atomic_size_t jobs_in_flight; /* pool jobs not yet completed */

    atomic_int state;
    atomic_bool stop_requested;
    bool startup_done, shutdown_started, finished;
    atomic_bool running; /* dfr_reactor_running is any-thread */
    bool in_run, iterating;
    /* Calls into the reactor (run, iterate, advance) under way on its
     * thread: a free asked for meanwhile waits until the last one returns. */
    unsigned busy;
    bool free_pending; /* dfr_reactor_free was called while busy */
    /* A free from another thread while r runs (a finalizer) and the end of
     * dfr_reactor_run meet here: 0, then 1 (free asked: run frees r on its
     * way out) or 2 (run is done with r: that free takes r over). */
    atomic_int remote_free;
    bool freeing;      /* being torn down: new work is refused */
    bool close_async;  /* freed from a callback of a caller's own uv_run:
                        * r goes when its handles have closed */
    dfr__reactor_link links; /* list head of objects to tell at free */

    dfr__trigger *triggers[2][3]; /* [event][phase], in registration order */
    uint64_t next_trigger_id;
    int firing_event, firing_phase; /* -1 when no event is firing */

    dfr_threadpool *pool; /* made on first use */
    unsigned pool_min, pool_max;

    /* The stream layer (src/net): its state, made on first use, and the
     * hook dfr_reactor_free calls to close its handles and free it. */
    void *net;
    void (*net_free)(dfr_reactor *r);
};

/* Seconds <-> the reactor's integer nanoseconds.  false for NaN, infinite,
 * negative (unless allowed) or absurdly large (> 4.6e9 s) values. */
bool dfr__seconds_to_ns(double s, bool allow_negative, int64_t *ns);
/* Times saturate at +-DFR__NS_END ("the end of time", about 292 years):
 * sums never overflow, and INT64_MAX stays free to mean "no time". */
#define DFR__NS_END (INT64_MAX - 1)
static inline int64_t dfr__ns_add(int64_t a, int64_t b)
{
    int64_t s;
    if (__builtin_add_overflow(a, b, &s))
        return b > 0 ? DFR__NS_END : -DFR__NS_END;
    if (s > DFR__NS_END)
        return DFR__NS_END;
    if (s < -DFR__NS_END)
        return -DFR__NS_END;
    return s;
}
int64_t dfr__reactor_now(const dfr_reactor *r);
/* Whether the calling thread owns r (see reactor.h's thread rule). */
static inline bool dfr__on_reactor_thread(const dfr_reactor *r)
{
    return pthread_equal(pthread_self(), atomic_load_explicit(&r->owner, memory_order_relaxed));
}
/* The check at the top of every reactor-bound entry point: DFR_EINVAL for
 * NULL, DFR_ENOTOWNER off the reactor's thread, DFR_ENOTRUNNING while the
 * reactor is being freed; 0 when r may be used. */
static inline int dfr__reactor_check(const dfr_reactor *r)
{
    if (!r)
        return DFR_EINVAL;
    if (!dfr__on_reactor_thread(r))
        return DFR_ENOTOWNER;
    if (r->freeing)
        return DFR_ENOTRUNNING;
    return 0;
}
/* A failed deferred for a refused call (NULL on OOM). */
dfr_deferred *dfr__reactor_refused(int code);
/* Make sure the uv timer will wake us for the earliest call. */
void dfr__reactor_arm_timer(dfr_reactor *r);
dfr_threadpool *dfr__reactor_pool(dfr_reactor *r);
/* Count a job handed to a pool: its completion keeps a caller's loop alive. */
void dfr__reactor_job_submitted(dfr_reactor *r);
void dfr__reactor_wake(dfr_reactor *r);

#endif
