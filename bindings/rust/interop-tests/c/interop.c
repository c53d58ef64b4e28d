/* The C half of the cross-language tests: deferreds made and fired by C
 * code (a timer, a thread-pool job, a coroutine, a DeferredList) that Rust
 * awaits, and C code consuming deferreds Rust made. */
#include <deferred.h>

static dfr_value answer(void *data)
{
    return dfr_i64((int64_t)(intptr_t)data);
}

/* deferLater with a C task: fires with v after delay seconds. */
dfr_deferred *interop_c_later(dfr_reactor *r, double delay, int64_t v)
{
    return dfr_reactor_defer_later(r, delay, answer, (void *)(intptr_t)v, NULL);
}

static dfr_value square_on_pool(void *data)
{
    int64_t v = (int64_t)(intptr_t)data;
    return dfr_i64(v * v);
}

/* A C thread-pool job: fires with v*v on the reactor thread. */
dfr_deferred *interop_c_pool(dfr_reactor *r, int64_t v)
{
    return dfr_reactor_defer_to_thread(r, square_on_pool, (void *)(intptr_t)v, NULL);
}

typedef struct pair {
    dfr_deferred *a, *b;
} pair;

static pair pairs[8];
static int npairs;

static dfr_value sum_coro(void *data)
{
    pair *p = data;
    dfr_value a = dfr_await(p->a);
    if (dfr_is_failure(a))
        return a;
    dfr_value b = dfr_await(p->b);
    if (dfr_is_failure(b))
        return b;
    if (!dfr_is_i64(a) || !dfr_is_i64(b)) {
        dfr_value_drop(a);
        dfr_value_drop(b);
        return dfr_value_failure(dfr_failure_new(NULL, DFR_EINVAL, "not i64"));
    }
    return dfr_i64(a.u.i64 + b.u.i64);
}

/* A C coroutine awaiting two deferreds (takes both references). */
dfr_deferred *interop_c_await_sum(dfr_deferred *a, dfr_deferred *b)
{
    pair *p = &pairs[npairs++ % 8];
    p->a = a;
    p->b = b;
    return dfr_inline_callbacks(sum_coro, p, NULL);
}

static dfr_value sum_list(dfr_value v, void *data)
{
    (void)data;
    dfr_list *l = dfr_list_from(&v);
    int64_t sum = 0;
    for (size_t i = 0; i < dfr_list_len(l); i++) {
        const dfr_value *e = dfr_list_get(l, i);
        if (!dfr_list_ok(l, i) || !dfr_is_i64(*e)) {
            dfr_value_drop(v);
            return dfr_value_failure(dfr_failure_new(NULL, DFR_EINVAL, "bad entry"));
        }
        sum += e->u.i64;
    }
    dfr_value_drop(v);
    return dfr_i64(sum);
}

/* A C DeferredList of a deferred from Rust and two C timers (1 and 2
 * seconds, values 10 and 20), summed by a C callback. */
dfr_deferred *interop_c_list_sum(dfr_reactor *r, dfr_deferred *from_rust)
{
    dfr_deferred *ds[3] = {from_rust, interop_c_later(r, 1, 10), interop_c_later(r, 2, 20)};
    dfr_deferred *l = dfr_deferred_list(ds, 3, 0);
    dfr_deferred_unref(ds[1]);
    dfr_deferred_unref(ds[2]);
    if (l)
        dfr_deferred_add_callback(l, sum_list, NULL, NULL);
    return l;
}

static dfr_value first_entry(dfr_value v, void *data)
{
    (void)data;
    dfr_value e = dfr_list_take(dfr_list_from(&v), 0);
    dfr_value_drop(v);
    return e;
}

/* A C DeferredList of one input whose callback hands back entry 0 as is. */
dfr_deferred *interop_c_list_first(dfr_deferred *d)
{
    dfr_deferred *l = dfr_deferred_list(&d, 1, DFR_CONSUME_ERRORS);
    if (l)
        dfr_deferred_add_callback(l, first_entry, NULL, NULL);
    return l;
}
