/* Benchmarks of libdeferred and its peers in C: `bench_core NAME N [REPS]`
 * prints one JSON line per implementation:
 *   {"bench": NAME, "impl": IMPL, "n": N, "ns_per_op": X[, "bytes_per_op": B]}
 * Each timed figure is the best of at least REPS runs (more, up to MAX_REPS,
 * while the runs so far total under MIN_TOTAL seconds: a 10,000-link run
 * takes ~0.1 ms, and the best of 5 of those is mostly noise).  The `floor`
 * peers are the least the machine can do for the same work, written plainly
 * (see each one).
 *
 * Adding a benchmark: write `static double NAME_IMPL(long n)` returning the
 * seconds n operations took (or a `static void f(long n)` that emits its own
 * lines, for measurements that are not times) and add a row to `benches`
 * below; bench/run's plan lists which N to run it at. */
#define _GNU_SOURCE
#include <deferred.h>

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "bench.h"


/* ---- callback_link: N callbacks x -> x+1 on one pending deferred ----
 * Timed from dfr_deferred_new to the last unref.  At n = 1,000,000 the
 * per-link cost includes the callback array's growth by realloc: 2^20
 * 32-byte entries are 32 MiB, at glibc's largest mmap threshold, so each run
 * gets fresh pages from the kernel and pays their first-touch faults (the
 * floor's 16-byte entries stay in the brk heap, resident from the run
 * before). */

static dfr_value add_one(dfr_value v, void *data)
{
    (void)data;
    v.u.i64 += 1;
    return v;
}

static double link_dfr(long n)
{
    double t0 = now();
    dfr_deferred *d = dfr_deferred_new();
    for (long i = 0; i < n; i++)
        dfr_deferred_add_callback(d, add_one, NULL, NULL);
    dfr_deferred_callback(d, dfr_i64(0));
    sink = dfr_deferred_result(d)->u.i64;
    dfr_deferred_unref(d);
    return now() - t0;
}

/* Floor: append {fn, data} to a growing array, then call each in order. */
typedef struct plain_link {
    int64_t (*fn)(int64_t, void *);
    void *data;
} plain_link;

static int64_t plain_add_one(int64_t x, void *data)
{
    (void)data;
    return x + 1;
}

static double link_floor(long n)
{
    double t0 = now();
    plain_link *a = NULL;
    long cap = 0;
    for (long i = 0; i < n; i++) {
        if (i == cap) {
            cap = cap ? cap * 2 : 4;
            a = realloc(a, (size_t)cap * sizeof *a);
        }
        a[i] = (plain_link){plain_add_one, NULL};
        __asm__ volatile("" ::: "memory"); /* keep the calls indirect */
    }
    int64_t x = 0;
    for (long i = 0; i < n; i++)
        x = a[i].fn(x, a[i].data);
    sink = x;
    free(a);
    return now() - t0;
}

/* ---- deferred_cycle: new + add_callback + callback + unref ---- */

static double cycle_dfr(long n)
{
    double t0 = now();
    for (long i = 0; i < n; i++) {
        dfr_deferred *d = dfr_deferred_new();
        dfr_deferred_add_callback(d, add_one, NULL, NULL);
        dfr_deferred_callback(d, dfr_i64(i));
        dfr_deferred_unref(d);
    }
    return now() - t0;
}

/* Floor: allocate a record holding a function pointer, call it, free it. */
static double cycle_floor(long n)
{
    double t0 = now();
    for (long i = 0; i < n; i++) {
        plain_link *p = malloc(sizeof *p);
        p->fn = plain_add_one;
        __asm__ volatile("" : : "r"(p) : "memory");
        sink = p->fn(i, p->data);
        free(p);
    }
    return now() - t0;
}

/* ---- chain_depth: ds[i]'s callback returns ds[i+1]; fire innermost last ---- */

static dfr_value return_next(dfr_value v, void *data)
{
    dfr_value_drop(v);
    return dfr_value_deferred(dfr_deferred_ref(data));
}

static double chain_dfr(long n)
{
    dfr_deferred **ds = malloc((size_t)n * sizeof *ds);
    double t0 = now();
    for (long i = 0; i < n; i++)
        ds[i] = dfr_deferred_new();
    for (long i = 0; i + 1 < n; i++)
        dfr_deferred_add_callback(ds[i], return_next, ds[i + 1], NULL);
    dfr_deferred_add_callback(ds[0], add_one, NULL, NULL);
    for (long i = 0; i + 1 < n; i++)
        dfr_deferred_callback(ds[i], dfr_none());
    dfr_deferred_callback(ds[n - 1], dfr_i64(1));
    sink = dfr_deferred_result(ds[0])->u.i64;
    for (long i = 0; i < n; i++)
        dfr_deferred_unref(ds[i]);
    double t = now() - t0;
    free(ds);
    return t;
}

/* Floor: a linked list of n records, each pointing to the next, walked from
 * the innermost out with an indirect call per level. */
typedef struct plain_level {
    struct plain_level *outer;
    int64_t (*fn)(int64_t, void *);
} plain_level;

static double chain_floor(long n)
{
    double t0 = now();
    plain_level *inner = NULL, *prev = NULL;
    for (long i = 0; i < n; i++) {
        plain_level *l = malloc(sizeof *l);
        l->outer = prev;
        l->fn = plain_add_one;
        prev = l;
        inner = l;
    }
    int64_t x = 1;
    for (plain_level *l = inner; l;) {
        plain_level *outer = l->outer;
        x = l->fn(x, NULL);
        free(l);
        l = outer;
    }
    sink = x;
    return now() - t0;
}

/* ---- deferred_list: a DeferredList over N pending deferreds, fire them ---- */

static double list_dfr(long n)
{
    dfr_deferred **ds = malloc((size_t)n * sizeof *ds);
    double t0 = now();
    for (long i = 0; i < n; i++)
        ds[i] = dfr_deferred_new();
    dfr_deferred *l = dfr_deferred_list(ds, (size_t)n, 0);
    for (long i = 0; i < n; i++) {
        dfr_deferred_callback(ds[i], dfr_i64(i));
        dfr_deferred_unref(ds[i]);
    }
    sink = (int64_t)dfr_list_len(dfr_list_from(dfr_deferred_result(l)));
    dfr_deferred_unref(l);
    double t = now() - t0;
    free(ds);
    return t;
}

/* Floor: what any "wait for all of these" must do.  n pending records are
 * made (malloc), each knowing its completion function and slot; firing each
 * is an indirect call that stores the result in its slot and counts down,
 * then frees the record.  The last one completes the whole (one more
 * indirect call).  No reference counts, no error paths. */
typedef struct plain_all {
    int64_t *results;
    long remaining;
    void (*done)(struct plain_all *);
} plain_all;

typedef struct plain_pending {
    void (*fire)(struct plain_pending *, int64_t);
    plain_all *all;
    long slot;
} plain_pending;

static void plain_all_done(plain_all *a)
{
    sink = a->results[0];
}

static void plain_fire(plain_pending *p, int64_t v)
{
    plain_all *a = p->all;
    a->results[p->slot] = v;
    if (--a->remaining == 0)
        a->done(a);
}

static double list_floor(long n)
{
    plain_pending **ps = malloc((size_t)n * sizeof *ps);
    double t0 = now();
    for (long i = 0; i < n; i++) {
        ps[i] = malloc(sizeof **ps);
        ps[i]->fire = plain_fire;
    }
    plain_all all = {malloc((size_t)n * sizeof(int64_t)), n, plain_all_done};
    for (long i = 0; i < n; i++) {
        ps[i]->all = &all;
        ps[i]->slot = i;
    }
    for (long i = 0; i < n; i++) {
        plain_pending *p = ps[i];
        __asm__ volatile("" : "+r"(p)::"memory"); /* keep the call indirect */
        p->fire(p, i);
        free(p);
    }
    free(all.results);
    double t = now() - t0;
    free(ps);
    return t;
}

/* ---- memory: what glibc really uses per allocation (the chunk) ---- */

static size_t chunk_bytes;

static void *counting_malloc(size_t n, void *ctx)
{
    (void)ctx;
    void *p = malloc(n);
    if (p)
        chunk_bytes += malloc_usable_size(p) + sizeof(size_t);
    return p;
}

static void *counting_realloc(void *p, size_t n, void *ctx)
{
    (void)ctx;
    if (p)
        chunk_bytes -= malloc_usable_size(p) + sizeof(size_t);
    void *q = realloc(p, n);
    if (q)
        chunk_bytes += malloc_usable_size(q) + sizeof(size_t);
    return q;
}

static void counting_free(void *p, void *ctx)
{
    (void)ctx;
    if (p)
        chunk_bytes -= malloc_usable_size(p) + sizeof(size_t);
    free(p);
}

static void install_counting_allocator(void)
{
    dfr_allocator a = {sizeof a, counting_malloc, counting_realloc, counting_free, NULL};
    if (dfr_set_allocator(&a) != 0) {
        fprintf(stderr, "bench_core: could not install the counting allocator\n");
        exit(2);
    }
}

static void noop(void *data)
{
    (void)data;
}

/* Two figures for n pending deferreds with one callback each, made in a
 * fresh process (the per-thread cache of freed deferreds is empty):
 * bytes_per_op, the glibc chunks the library asked for (usable size + the
 * 8-byte chunk header, i.e. what each allocation really takes), and
 * rss_bytes_per_op, the growth of the resident set (the array of handles is
 * touched beforehand so that it does not count). */
static void pending_memory(long n)
{
    dfr_deferred **ds = malloc((size_t)n * sizeof *ds);
    memset(ds, 0, (size_t)n * sizeof *ds);
    long rss_before = rss_bytes();
    size_t before = chunk_bytes;
    for (long i = 0; i < n; i++) {
        ds[i] = dfr_deferred_new();
        dfr_deferred_add_callback(ds[i], add_one, NULL, NULL);
    }
    double chunks = (double)(chunk_bytes - before) / (double)n;
    long rss_after = rss_bytes();
    if (rss_before >= 0 && rss_after >= 0)
        printf("{\"bench\": \"pending_memory\", \"impl\": \"libdeferred\", \"n\": %ld, "
               "\"ns_per_op\": 0, \"bytes_per_op\": %.1f, \"rss_bytes_per_op\": %.1f}\n",
               n, chunks, (double)(rss_after - rss_before) / (double)n);
    else
        emit_bytes("pending_memory", "libdeferred", n, chunks);
    for (long i = 0; i < n; i++)
        dfr_deferred_unref(ds[i]);
    free(ds);
}

static void timer_memory(long n)
{
    dfr_reactor_options o = {sizeof o, true, 0, 0, NULL};
    dfr_reactor *r = dfr_reactor_new(&o);
    size_t before = chunk_bytes;
    for (long i = 0; i < n; i++)
        dfr_reactor_call_later(r, (double)(i % 1000), noop, NULL, NULL, NULL);
    emit_bytes("timer_memory", "libdeferred", n, (double)(chunk_bytes - before) / (double)n);
    dfr_reactor_free(r);
    /* With a handle the caller keeps. */
    r = dfr_reactor_new(&o);
    dfr_delayed_call **h = malloc((size_t)n * sizeof *h);
    before = chunk_bytes;
    for (long i = 0; i < n; i++)
        dfr_reactor_call_later(r, (double)(i % 1000), noop, NULL, NULL, &h[i]);
    emit_bytes("timer_memory", "libdeferred+handle", n, (double)(chunk_bytes - before) / (double)n);
    for (long i = 0; i < n; i++)
        dfr_delayed_call_unref(h[i]);
    dfr_reactor_free(r);
    free(h);
}

/* ---- call_later: n calls with delays spread over [0, 1 ms) ---- */

static long fired, target;
static dfr_reactor *reactor;

static void count_and_stop(void *data)
{
    (void)data;
    if (++fired == target)
        dfr_reactor_stop(reactor);
}

static unsigned spread(long i)
{
    return (unsigned)((uint64_t)i * 2654435761u % 1000000u); /* ns in [0, 1 ms) */
}

static void schedule_all(void *data)
{
    (void)data;
    for (long i = 0; i < target; i++)
        dfr_reactor_call_later(reactor, spread(i) / 1e9, count_and_stop, NULL, NULL, NULL);
}

static double call_later_dfr(long n)
{
    reactor = dfr_reactor_new(NULL);
    fired = 0;
    target = n;
    double t0 = now();
    dfr_reactor_call_when_running(reactor, schedule_all, NULL, NULL);
    dfr_reactor_run(reactor);
    double t = now() - t0;
    dfr_reactor_free(reactor);
    return t;
}

static void uv_free_handle(uv_handle_t *h)
{
    free(h);
}

static void uv_fired(uv_timer_t *t)
{
    fired++;
    uv_close((uv_handle_t *)t, uv_free_handle);
}

/* libuv, the plain way: one uv_timer_t per call (ms resolution). */
static double call_later_uv(long n)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fired = 0;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        uv_timer_t *t = malloc(sizeof *t);
        uv_timer_init(&loop, t);
        uv_timer_start(t, uv_fired, spread(i) / 1000000u, 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    double t = now() - t0;
    uv_loop_close(&loop);
    return t;
}

static double call_later_cancel_dfr(long n)
{
    dfr_reactor *r = dfr_reactor_new(NULL);
    dfr_delayed_call **h = malloc((size_t)n * sizeof *h);
    double t0 = now();
    for (long i = 0; i < n; i++)
        dfr_reactor_call_later(r, 1.0 + spread(i) / 1e9, noop, NULL, NULL, &h[i]);
    for (long i = 0; i < n; i++) {
        dfr_delayed_call_cancel(h[i]);
        dfr_delayed_call_unref(h[i]);
    }
    double t = now() - t0;
    dfr_reactor_free(r);
    free(h);
    return t;
}

static void uv_never(uv_timer_t *t)
{
    (void)t;
}

static double call_later_cancel_uv(long n)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_t **h = malloc((size_t)n * sizeof *h);
    double t0 = now();
    for (long i = 0; i < n; i++) {
        h[i] = malloc(sizeof **h);
        uv_timer_init(&loop, h[i]);
        uv_timer_start(h[i], uv_never, 1000 + spread(i) / 1000000u, 0);
    }
    for (long i = 0; i < n; i++) {
        uv_timer_stop(h[i]);
        uv_close((uv_handle_t *)h[i], uv_free_handle);
    }
    uv_run(&loop, UV_RUN_DEFAULT); /* runs the close callbacks */
    double t = now() - t0;
    uv_loop_close(&loop);
    free(h);
    return t;
}

/* ---- call_from_thread: 4 producers, n calls in all ---- */

/* 4 producers; the *_8p variants use 8 (the comparison point). */
static int producers = 4;
#define MAX_PRODUCERS 8

static atomic_long received;
static long expected;

static void received_one(void *data)
{
    (void)data;
    if (atomic_fetch_add_explicit(&received, 1, memory_order_relaxed) + 1 == expected)
        dfr_reactor_stop(reactor);
}

static void *produce_dfr(void *arg)
{
    long count = (long)(intptr_t)arg;
    for (long i = 0; i < count; i++)
        dfr_reactor_call_from_thread(reactor, received_one, NULL, NULL);
    return NULL;
}

static void start_producers(void *(*produce)(void *), long n, pthread_t *t)
{
    for (int i = 0; i < producers; i++)
        pthread_create(&t[i], NULL, produce, (void *)(intptr_t)(n / producers));
}

static pthread_t producer_threads[MAX_PRODUCERS];

static void begin_producing(void *data)
{
    start_producers(produce_dfr, (long)(intptr_t)data, producer_threads);
}

static double call_from_thread_dfr(long n)
{
    reactor = dfr_reactor_new(NULL);
    atomic_store(&received, 0);
    expected = n / producers * producers;
    double t0 = now();
    dfr_reactor_call_when_running(reactor, begin_producing, (void *)(intptr_t)n, NULL);
    dfr_reactor_run(reactor);
    double t = now() - t0;
    for (int i = 0; i < producers; i++)
        pthread_join(producer_threads[i], NULL);
    dfr_reactor_free(reactor);
    return t;
}

/* Floor: a mutex-protected linked list of malloc'd nodes and a
 * uv_async_send per call, drained by the async callback — written plainly. */
typedef struct plain_call {
    struct plain_call *next;
    void (*fn)(void *);
    void *data;
} plain_call;

static struct {
    pthread_mutex_t lock;
    plain_call *head, *tail;
    uv_async_t async;
    uv_loop_t loop;
    long done;
} plain_q;

static void plain_received(void *data)
{
    (void)data;
    if (++plain_q.done == expected)
        uv_close((uv_handle_t *)&plain_q.async, NULL);
}

static void plain_drain(uv_async_t *a)
{
    (void)a;
    pthread_mutex_lock(&plain_q.lock);
    plain_call *c = plain_q.head;
    plain_q.head = plain_q.tail = NULL;
    pthread_mutex_unlock(&plain_q.lock);
    while (c) {
        plain_call *next = c->next;
        c->fn(c->data);
        free(c);
        c = next;
    }
}

static void *produce_plain(void *arg)
{
    long count = (long)(intptr_t)arg;
    for (long i = 0; i < count; i++) {
        plain_call *c = malloc(sizeof *c);
        *c = (plain_call){NULL, plain_received, NULL};
        pthread_mutex_lock(&plain_q.lock);
        if (plain_q.tail)
            plain_q.tail->next = c;
        else
            plain_q.head = c;
        plain_q.tail = c;
        pthread_mutex_unlock(&plain_q.lock);
        uv_async_send(&plain_q.async);
    }
    return NULL;
}

static double call_from_thread_floor(long n)
{
    pthread_mutex_init(&plain_q.lock, NULL);
    uv_loop_init(&plain_q.loop);
    uv_async_init(&plain_q.loop, &plain_q.async, plain_drain);
    plain_q.head = plain_q.tail = NULL;
    plain_q.done = 0;
    expected = n / producers * producers;
    pthread_t t[MAX_PRODUCERS];
    double t0 = now();
    start_producers(produce_plain, n, t);
    uv_run(&plain_q.loop, UV_RUN_DEFAULT);
    double elapsed = now() - t0;
    for (int i = 0; i < producers; i++)
        pthread_join(t[i], NULL);
    uv_loop_close(&plain_q.loop);
    pthread_mutex_destroy(&plain_q.lock);
    return elapsed;
}

/* A lock-free multi-producer single-consumer list (Vyukov's intrusive
 * queue) with one node allocation per call and a wake-up only when the
 * consumer may be asleep: the alternative to our mutex-batched queue. */
typedef struct mpsc_node {
    _Atomic(struct mpsc_node *) next;
    void (*fn)(void *);
    void *data;
} mpsc_node;

static struct {
    _Atomic(mpsc_node *) tail;
    mpsc_node *head;
    mpsc_node stub;
    atomic_bool asleep;
    uv_async_t async;
    uv_loop_t loop;
    long done;
} mq;

static void mpsc_push(mpsc_node *n)
{
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    mpsc_node *prev = atomic_exchange_explicit(&mq.tail, n, memory_order_acq_rel);
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

static mpsc_node *mpsc_pop(void)
{
    mpsc_node *head = mq.head;
    mpsc_node *next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (head == &mq.stub) {
        if (!next)
            return NULL;
        mq.head = next;
        head = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next) {
        mq.head = next;
        return head;
    }
    if (head != atomic_load_explicit(&mq.tail, memory_order_acquire))
        return NULL; /* a producer is half-way through: the wake-up follows */
    mpsc_push(&mq.stub);
    next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (next) {
        mq.head = next;
        return head;
    }
    return NULL;
}

static void mpsc_received(void *data)
{
    (void)data;
    if (++mq.done == expected)
        uv_close((uv_handle_t *)&mq.async, NULL);
}

static void mpsc_drain(uv_async_t *a)
{
    (void)a;
    for (;;) {
        atomic_store(&mq.asleep, false);
        mpsc_node *n;
        while ((n = mpsc_pop()) != NULL) {
            n->fn(n->data);
            free(n);
            if (mq.done == expected)
                return;
        }
        atomic_store(&mq.asleep, true);
        /* Re-check after announcing sleep: a push may have raced. */
        if (atomic_load(&mq.stub.next) == NULL && mq.head == &mq.stub)
            return;
        if (mq.head != &mq.stub || atomic_load(&mq.head->next))
            continue;
        return;
    }
}

static void *produce_mpsc(void *arg)
{
    long count = (long)(intptr_t)arg;
    for (long i = 0; i < count; i++) {
        mpsc_node *c = malloc(sizeof *c);
        c->fn = mpsc_received;
        c->data = NULL;
        mpsc_push(c);
        if (atomic_exchange(&mq.asleep, false))
            uv_async_send(&mq.async);
    }
    /* The last producer makes sure the consumer looks once more. */
    uv_async_send(&mq.async);
    return NULL;
}

static double call_from_thread_mpsc(long n)
{
    uv_loop_init(&mq.loop);
    uv_async_init(&mq.loop, &mq.async, mpsc_drain);
    atomic_store(&mq.stub.next, NULL);
    atomic_store(&mq.tail, &mq.stub);
    mq.head = &mq.stub;
    atomic_store(&mq.asleep, true);
    mq.done = 0;
    expected = n / producers * producers;
    pthread_t t[MAX_PRODUCERS];
    double t0 = now();
    start_producers(produce_mpsc, n, t);
    uv_run(&mq.loop, UV_RUN_DEFAULT);
    double elapsed = now() - t0;
    for (int i = 0; i < producers; i++)
        pthread_join(t[i], NULL);
    uv_loop_close(&mq.loop);
    return elapsed;
}

/* ---- defer_to_thread: n no-op tasks, all in flight at once ---- */

static dfr_value nothing(void *data)
{
    (void)data;
    return dfr_none();
}

static dfr_value task_done(dfr_value v, void *data)
{
    (void)data;
    if (++fired == target)
        dfr_reactor_stop(reactor);
    return v;
}

static void submit_all(void *data)
{
    (void)data;
    for (long i = 0; i < target; i++) {
        dfr_deferred *d = dfr_reactor_defer_to_thread(reactor, nothing, NULL, NULL);
        dfr_deferred_add_callback(d, task_done, NULL, NULL);
        dfr_deferred_unref(d);
    }
}

static double defer_to_thread_dfr(long n)
{
    dfr_reactor_options o = {sizeof o, false, 0, 4, NULL}; /* libuv's pool has 4 threads */
    reactor = dfr_reactor_new(&o);
    fired = 0;
    target = n;
    double t0 = now();
    dfr_reactor_call_when_running(reactor, submit_all, NULL, NULL);
    dfr_reactor_run(reactor);
    double t = now() - t0;
    dfr_reactor_free(reactor);
    return t;
}

static void uv_work(uv_work_t *w)
{
    (void)w;
}

static void uv_after(uv_work_t *w, int status)
{
    (void)status;
    fired++;
    free(w);
}

static double defer_to_thread_uv(long n)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    fired = 0;
    double t0 = now();
    for (long i = 0; i < n; i++)
        uv_queue_work(&loop, malloc(sizeof(uv_work_t)), uv_work, uv_after);
    uv_run(&loop, UV_RUN_DEFAULT);
    double t = now() - t0;
    uv_loop_close(&loop);
    return t;
}

/* ---- the table ---- */

typedef struct bench {
    const char *name;
    const char *impl;
    run_fn run;              /* timed: seconds for n operations */
    void (*measure)(long n); /* or: measures once and emits its own lines */
    int producers;           /* call_from_thread*: producer threads */
} bench;

static const bench benches[] = {
    {"callback_link", "libdeferred", link_dfr},
    {"callback_link", "floor", link_floor},
    {"deferred_cycle", "libdeferred", cycle_dfr},
    {"deferred_cycle", "floor", cycle_floor},
    {"chain_depth", "libdeferred", chain_dfr},
    {"chain_depth", "floor", chain_floor},
    {"deferred_list", "libdeferred", list_dfr},
    {"deferred_list", "floor", list_floor},
    {"call_later", "libdeferred", call_later_dfr},
    {"call_later", "libuv", call_later_uv},
    {"call_later_cancel", "libdeferred", call_later_cancel_dfr},
    {"call_later_cancel", "libuv", call_later_cancel_uv},
    {"call_from_thread", "libdeferred", call_from_thread_dfr, .producers = 4},
    {"call_from_thread", "floor", call_from_thread_floor, .producers = 4},
    {"call_from_thread", "mpsc", call_from_thread_mpsc, .producers = 4},
    {"call_from_thread_8p", "libdeferred", call_from_thread_dfr, .producers = 8},
    {"call_from_thread_8p", "floor", call_from_thread_floor, .producers = 8},
    {"call_from_thread_8p", "mpsc", call_from_thread_mpsc, .producers = 8},
    {"defer_to_thread", "libdeferred", defer_to_thread_dfr},
    {"defer_to_thread", "libuv", defer_to_thread_uv},
    {"await_fired", "libdeferred", await_fired_dfr},
    {"await_fired", "floor", await_fired_floor},
    {"await_suspend", "libdeferred", await_suspend_dfr},
    {"await_suspend", "floor", await_suspend_floor},
    {"coroutine_cycle", "libdeferred", coroutine_cycle_dfr},
    {"coroutine_memory", "libdeferred", NULL, coroutine_memory},
    /* Memory: counted through a dfr_allocator, so in a process of their own. */
    {"pending_memory", "libdeferred", NULL, pending_memory},
    {"timer_memory", "libdeferred", NULL, timer_memory},
};

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_core NAME N [REPS]\n");
        return 2;
    }
    const char *name = argv[1];
    long n = atol(argv[2]);
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    if (n <= 0 || reps <= 0)
        return 2;
    int found = 0;
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++) {
        const bench *b = &benches[i];
        if (strcmp(b->name, name) != 0)
            continue;
        found = 1;
        if (b->measure) {
            install_counting_allocator(); /* before the library's first allocation */
            b->measure(n);
        } else {
            if (b->producers)
                producers = b->producers;
            emit(name, b->impl, n, best_of(b->run, n, reps));
        }
        fflush(stdout);
    }
    if (!found) {
        fprintf(stderr, "bench_core: unknown benchmark %s\n", name);
        return 2;
    }
    return 0;
}
