/* The tests' own C library: blocking work to run on the reactor's pool. */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

int64_t fib(int32_t n);
int64_t slow_fib(int32_t n, int32_t ms);
double halve(double x);

/* Iterative, so it runs long only when asked to. */
int64_t fib(int32_t n)
{
    int64_t a = 0, b = 1;
    for (int32_t i = 0; i < n; i++) {
        int64_t t = a + b;
        a = b;
        b = t;
    }
    return a;
}

/* fib(n) after blocking the calling thread for `ms` milliseconds. */
int64_t slow_fib(int32_t n, int32_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return fib(n);
}

double halve(double x)
{
    return x / 2;
}

/* ---- deferreds made and consumed by C ---- */
#include <deferred.h>

dfr_deferred *c_sum_coroutine(dfr_deferred *const *ds, size_t n);
dfr_deferred *c_list_of(dfr_deferred *const *ds, size_t n);

typedef struct {
    dfr_deferred *ds[8];
    size_t n;
} sum_args;

static void sum_free(void *p)
{
    sum_args *a = p;
    for (size_t i = 0; i < a->n; i++)
        dfr_deferred_unref(a->ds[i]);
    free(a);
}

/* A C coroutine awaiting each input in turn (JS- or C-made) and adding up
 * their numbers; a failure from any of them is its result. */
static dfr_value sum_body(void *data)
{
    sum_args *a = data;
    double total = 0;
    for (size_t i = 0; i < a->n; i++) {
        dfr_deferred *d = a->ds[i];
        a->ds[i] = NULL;
        dfr_value v = dfr_await(d);
        if (dfr_is_failure(v))
            return v;
        if (dfr_is_i64(v))
            total += (double)v.u.i64;
        else if (dfr_is_f64(v))
            total += v.u.f64;
        else {
            dfr_value_drop(v);
            return dfr_value_failure(dfr_failure_new("testlib", 22, "not a number"));
        }
    }
    return dfr_f64(total);
}

dfr_deferred *c_sum_coroutine(dfr_deferred *const *ds, size_t n)
{
    sum_args *a = calloc(1, sizeof *a);
    if (!a || n > 8) {
        free(a);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        a->ds[i] = dfr_deferred_ref(ds[i]);
    a->n = n;
    return dfr_inline_callbacks(sum_body, a, sum_free);
}

/* A C DeferredList of the inputs plus one deferred C fires itself. */
dfr_deferred *c_list_of(dfr_deferred *const *ds, size_t n)
{
    dfr_deferred *all[9];
    if (n > 8)
        return NULL;
    for (size_t i = 0; i < n; i++)
        all[i] = ds[i];
    all[n] = dfr_succeed(dfr_i64(99));
    dfr_deferred *l = dfr_deferred_list(all, n + 1, 0);
    dfr_deferred_unref(all[n]);
    return l;
}
