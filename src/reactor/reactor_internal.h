/* Internal state of the reactor, shared by reactor.c, timer.c,
 * thread_queue.c, threadpool.c, thread.c, later.c and looping.c. */
#ifndef DFR_REACTOR_INTERNAL_H
#define DFR_REACTOR_INTERNAL_H

#include "internal.h"

#include <deferred/reactor.h>
#include <deferred/thread.h>

#include <pthread.h>
#include <uv.h>

/* ---- timer.c: the timer heap ---- */

/* One pending call, stored inline in the heap: a call without a handle costs
 * no allocation at all. */
typedef struct timer_entry {
    int64_t time; /* ns on the reactor clock */
    uint64_t seq; /* scheduling order: ties run first-scheduled first */
    dfr_fn fn;
    void *data;
    dfr_destroy_fn destroy;
    dfr_delayed_call *handle; /* NULL for fire-and-forget calls */
} timer_entry;

typedef struct timer_heap {
    timer_entry *e;
    size_t len, cap;
    uint64_t next_seq;
} timer_heap;

void dfr__timers_init(timer_heap *h);
/* dfr_call_later with a checked delay in nanoseconds. */
int dfr__call_later_ns(dfr_reactor *r, int64_t ns, dfr_fn fn, void *data, dfr_destroy_fn destroy,
                       dfr_delayed_call **out);
/* Run one pass: every call due at `now` that was scheduled before the pass
 * began. */
void dfr__timers_run_due(dfr_reactor *r, int64_t now);
/* Drop every pending call (destroy runs), detaching handles. */
void dfr__timers_clear(dfr_reactor *r);
/* Time of the earliest call; INT64_MAX when none. */
int64_t dfr__timers_next(const timer_heap *h);

/* ---- thread_queue.c: calls handed to the reactor thread ---- */

typedef struct thread_call {
    dfr_fn fn;
    void *data;
    dfr_destroy_fn destroy;
} thread_call;

/* Completed thread-pool jobs travel intrusively: delivering a result never
 * allocates, so it can never fail. */
typedef struct dfr__job dfr__job;

typedef struct thread_queue {
    pthread_mutex_t lock;
    thread_call *calls; /* producers append here */
    size_t len, cap;
    thread_call *spare; /* the consumer's batch buffer, swapped in */
    size_t spare_cap;
    dfr__job *done_head, *done_tail;
    bool wake_pending; /* an async send is already on its way */
} thread_queue;

int dfr__tq_init(thread_queue *q);
void dfr__tq_destroy(thread_queue *q);
/* Any thread. */
int dfr__tq_push(dfr_reactor *r, dfr_fn fn, void *data, dfr_destroy_fn destroy);
void dfr__tq_push_done(dfr_reactor *r, dfr__job *job);
/* Reactor thread: run everything queued (including what the calls queue). */
void dfr__tq_drain(dfr_reactor *r);
/* At reactor free: release queued calls (destroy runs), deliver finished work. */
void dfr__tq_discard(dfr_reactor *r);

/* ---- threadpool.c ---- */

typedef void (*dfr__job_run_fn)(dfr__job *job);

struct dfr__job {
    dfr__job *next;
    dfr__job_run_fn run;      /* on a worker */
    dfr__job_run_fn complete; /* on the reactor thread; `ran` says whether run ran */
    dfr_reactor *r;
    bool ran;
};

int dfr__pool_submit(dfr_threadpool *p, dfr__job *job);
/* Wait for every queued job to finish, then join the threads. */
void dfr__pool_drain(dfr_threadpool *p);
size_t dfr__pool_in_flight(const dfr_threadpool *p);
dfr_threadpool *dfr__pool_new(unsigned min, unsigned max, const char *name);
int dfr__pool_resize(dfr_threadpool *p, unsigned min, unsigned max);

/* ---- reactor.c ---- */

enum reactor_state { R_NEW, R_STARTING, R_RUNNING, R_STOPPING, R_STOPPED };

typedef struct trigger trigger;

struct dfr_reactor {
    uv_loop_t *loop;
    uv_loop_t own_loop;
    bool owns_loop;
    bool manual_clock;
    int64_t manual_now; /* ns */
    uint64_t epoch;     /* uv_hrtime at creation */
    _Atomic(pthread_t) owner; /* read by thread-safe entry points */

    uv_timer_t timer;      /* armed for the earliest call in the future */
    uv_idle_t due;         /* runs calls already due, once per loop iteration */
    int64_t armed_for;     /* INT64_MAX: not armed */
    uv_prepare_t prepare;  /* re-arms the timer before the loop blocks */
    uv_async_t async;      /* wakes the loop for thread calls and stop */
    uv_timer_t wait_timer; /* bounds dfr_reactor_iterate's wait */
    int open_handles;

    timer_heap timers;
    thread_queue tq;
    atomic_size_t jobs_in_flight; /* pool jobs not yet completed */

    atomic_int state;
    atomic_bool stop_requested;
    bool startup_done, shutdown_started, finished, running;
    bool in_run, iterating;

    trigger *triggers[2][3]; /* [event][phase], in registration order */
    uint64_t next_trigger_id;
    int firing_event, firing_phase; /* -1 when no event is firing */

    dfr_threadpool *pool; /* made on first use */
    unsigned pool_min, pool_max;

    /* The stream layer (src/net): its state, made on first use, and the
     * hook dfr_reactor_free calls to close its handles and free it. */
    void *net;
    void (*net_free)(dfr_reactor *r);
};

/* Seconds <-> the reactor's integer nanoseconds.  false for NaN, negative
 * (unless allowed) or absurdly large values. */
bool dfr__seconds_to_ns(double s, bool allow_negative, int64_t *ns);
int64_t dfr__reactor_now(const dfr_reactor *r);
bool dfr__on_reactor_thread(const dfr_reactor *r);
/* Make sure the uv timer will wake us for the earliest call. */
void dfr__reactor_arm_timer(dfr_reactor *r);
dfr_threadpool *dfr__reactor_pool(dfr_reactor *r);
/* Count a job handed to a pool: its completion keeps a caller's loop alive. */
void dfr__reactor_job_submitted(dfr_reactor *r);
void dfr__reactor_wake(dfr_reactor *r);

#endif
