/* Coroutine benchmarks (rows in bench_core.c's table).
 *  await_fired:      dfr_await of an already-fired deferred, in one coroutine.
 *                    Floor: the same dfr_succeed + read the result + unref.
 *  await_suspend:    one coroutine awaiting deferreds fired one at a time from
 *                    outside; per suspend + resume.  Floor: a bare pair of our
 *                    context switches (the same assembly, no library).
 *  coroutine_cycle:  create, run to completion, collect.
 *  coroutine_memory: resident bytes per suspended coroutine (default stack). */
#define _GNU_SOURCE
#include <deferred.h>

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"
#include "coro_context.h"

/* ---- await_fired ---- */

static double fired_seconds;

static dfr_value fired_loop(void *data)
{
    long n = *(long *)data;
    int64_t acc = 0;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        dfr_value v = dfr_await(dfr_succeed(dfr_i64(i)));
        acc += v.u.i64;
    }
    fired_seconds = now() - t0;
    sink = acc;
    return dfr_none();
}

double await_fired_dfr(long n)
{
    dfr_deferred *d = dfr_inline_callbacks(fired_loop, &n, NULL);
    dfr_deferred_unref(d);
    return fired_seconds;
}

double await_fired_floor(long n)
{
    int64_t acc = 0;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        dfr_deferred *d = dfr_succeed(dfr_i64(i));
        acc += dfr_deferred_result(d)->u.i64;
        dfr_deferred_unref(d);
    }
    double t = now() - t0;
    sink = acc;
    return t;
}

/* ---- await_suspend ---- */

static dfr_deferred *waiting; /* what the coroutine awaits now (a reference) */

static dfr_value suspend_loop(void *data)
{
    long n = *(long *)data;
    int64_t acc = 0;
    for (long i = 0; i < n; i++) {
        waiting = dfr_deferred_new();
        dfr_value v = dfr_await(dfr_deferred_ref(waiting));
        acc += v.u.i64;
    }
    waiting = NULL;
    return dfr_i64(acc);
}

double await_suspend_dfr(long n)
{
    double t0 = now();
    dfr_deferred *d = dfr_inline_callbacks(suspend_loop, &n, NULL);
    for (long i = 0; i < n; i++) {
        dfr_deferred *w = waiting;
        dfr_deferred_callback(w, dfr_i64(i));
        dfr_deferred_unref(w);
    }
    double t = now() - t0;
    sink = dfr_deferred_result(d)->u.i64;
    dfr_deferred_unref(d);
    return t;
}

static dfr__ctx main_ctx, peer_ctx;

static void peer(void *arg)
{
    (void)arg;
    for (;;) {
        sink++;
        dfr__ctx_switch(&peer_ctx, &main_ctx);
    }
}

double await_suspend_floor(long n)
{
    static void *stack;
    const size_t size = 64 * 1024;
    if (!stack)
        stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    /* A fresh peer each run; the previous one is simply abandoned. */
    dfr__ctx_make(&peer_ctx, stack, size, peer, NULL);
    double t0 = now();
    for (long i = 0; i < n; i++)
        dfr__ctx_switch(&main_ctx, &peer_ctx);
    return now() - t0;
}

/* ---- coroutine_cycle ---- */

static dfr_value return_it(void *data)
{
    return dfr_i64((int64_t)(intptr_t)data);
}

double coroutine_cycle_dfr(long n)
{
    int64_t acc = 0;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        dfr_deferred *d = dfr_inline_callbacks(return_it, (void *)(intptr_t)i, NULL);
        acc += dfr_deferred_result(d)->u.i64;
        dfr_deferred_unref(d);
    }
    double t = now() - t0;
    sink = acc;
    return t;
}

/* ---- coroutine_memory ---- */

static dfr_value wait_for(void *data)
{
    return dfr_await(dfr_deferred_ref(data));
}

void coroutine_memory(long n)
{
    dfr_deferred **ds = malloc((size_t)n * sizeof *ds);
    dfr_deferred **outs = malloc((size_t)n * sizeof *outs);
    for (long i = 0; i < n; i++)
        ds[i] = dfr_deferred_new();
    memset(outs, 0, (size_t)n * sizeof *outs);
    long before = rss_bytes();
    for (long i = 0; i < n; i++)
        outs[i] = dfr_inline_callbacks(wait_for, ds[i], NULL);
    long after = rss_bytes();
    for (long i = 0; i < n; i++) {
        dfr_deferred_callback(ds[i], dfr_none());
        dfr_deferred_unref(ds[i]);
        dfr_deferred_unref(outs[i]);
    }
    free(ds);
    free(outs);
    if (before >= 0 && after >= 0)
        emit_bytes("coroutine_memory", "libdeferred", n, (double)(after - before) / (double)n);
}
