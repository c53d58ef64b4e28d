/* Callbacks, errbacks and chaining: a failure skips callbacks until an
 * errback handles it; a callback may return another deferred, and the chain
 * waits for it (or takes its result at once if it has one);
 * dfr_deferred_chain hands one deferred's result to another.  Then the
 * "Possible sources of error": firing twice, and a failure nobody handles. */
#include <deferred.h>

#include <stdio.h>

#define EXAMPLE "example" /* our failure domain */
enum { E_NOT_FOUND = 1, E_BROKEN = 2 };

static dfr_value fetch(dfr_value v, void *data)
{
    (void)data;
    printf("  fetch(%lld): fails\n", (long long)v.u.i64);
    return dfr_value_failure(dfr_failure_newf(EXAMPLE, E_NOT_FOUND, "no poem number %lld",
                                              (long long)v.u.i64));
}

static dfr_value never(dfr_value v, void *data)
{
    (void)data;
    printf("  never printed: callbacks are skipped while the result is a failure\n");
    return v;
}

static dfr_value recover(dfr_value v, void *data)
{
    (void)data;
    dfr_failure *f = dfr_failure_from(&v);
    if (!dfr_failure_check(f, EXAMPLE, E_NOT_FOUND))
        return v; /* not ours: pass it on, still on the errback path */
    printf("  recover: caught \"%s\", using a default poem\n", dfr_failure_message(f));
    dfr_value_drop(v);
    return dfr_bytes_new("default poem", 12); /* back to the callback path */
}

static dfr_value print_text(dfr_value v, void *label)
{
    if (dfr_is_bytes(v))
        printf("  %s: %.*s\n", (const char *)label, (int)dfr_bytes_len(&v),
               (const char *)dfr_bytes_data(&v));
    else
        printf("  %s: %s\n", (const char *)label, dfr_is_none(v) ? "none" : "?");
    return v;
}

static dfr_value drop_it(dfr_value v, void *data)
{
    (void)data;
    dfr_value_drop(v);
    return dfr_none();
}

/* A callback returning a deferred (given in `data`): the chain continues
 * with that deferred's result.  Returning it gives away a reference. */
static dfr_value transform(dfr_value v, void *inner)
{
    dfr_value_drop(v);
    printf("  transform: returns a deferred that %s\n",
           dfr_deferred_state(inner) == DFR_PENDING ? "has not fired yet" : "already fired");
    return dfr_value_deferred(dfr_deferred_ref(inner));
}

static void print_unhandled(const dfr_failure *f, void *data)
{
    (void)data;
    printf("  unhandled-error hook: [%s %d] %s\n", dfr_failure_domain(f), dfr_failure_code(f),
           dfr_failure_message(f));
}

int main(void)
{
    printf("1. a failure flows past callbacks to an errback, which recovers\n");
    dfr_deferred *d = dfr_deferred_new();
    if (!d)
        return 1;
    dfr_deferred_add_callback(d, fetch, NULL, NULL);
    dfr_deferred_add_callback(d, never, NULL, NULL);
    dfr_deferred_add_errback(d, recover, NULL, NULL);
    dfr_deferred_add_callback(d, print_text, "result", NULL);
    dfr_deferred_add_callback(d, drop_it, NULL, NULL);
    dfr_deferred_callback(d, dfr_i64(7));
    dfr_deferred_unref(d);

    printf("2. a callback returns a pending deferred: the outer chain waits for it\n");
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred *outer = dfr_deferred_new();
    if (!inner || !outer)
        return 1;
    dfr_deferred_add_callback(outer, transform, inner, NULL);
    dfr_deferred_add_callback(outer, print_text, "outer continues with", NULL);
    dfr_deferred_add_callback(outer, drop_it, NULL, NULL);
    dfr_deferred_callback(outer, dfr_none());
    printf("  outer is %s\n", dfr_deferred_state(outer) == DFR_PENDING ? "waiting" : "done");
    dfr_deferred_callback(inner, dfr_bytes_new("the inner result", 16));
    printf("  outer is %s\n", dfr_deferred_state(outer) == DFR_PENDING ? "waiting" : "done");
    dfr_deferred_add_callback(inner, print_text, "inner's own chain now has", NULL);
    dfr_deferred_unref(outer);
    dfr_deferred_unref(inner);

    printf("3. a callback returns a deferred that already fired: its result is taken at once\n");
    inner = dfr_succeed(dfr_bytes_new("stolen", 6));
    outer = dfr_succeed(dfr_none());
    if (!inner || !outer)
        return 1;
    dfr_deferred_add_callback(outer, transform, inner, NULL);
    dfr_deferred_add_callback(outer, print_text, "outer continues with", NULL);
    dfr_deferred_add_callback(inner, print_text, "inner is left with", NULL);
    dfr_deferred_unref(outer);
    dfr_deferred_unref(inner);

    printf("4. dfr_deferred_chain: b fires with a's result, a goes on with none\n");
    dfr_deferred *a = dfr_deferred_new();
    dfr_deferred *b = dfr_deferred_new();
    if (!a || !b)
        return 1;
    dfr_deferred_add_callback(b, print_text, "b got", NULL);
    dfr_deferred_chain(a, b);
    dfr_deferred_add_callback(a, print_text, "a then has", NULL);
    dfr_deferred_callback(a, dfr_bytes_new("from a", 6));
    dfr_deferred_unref(a);
    dfr_deferred_unref(b);

    printf("5. firing a deferred twice is impossible\n");
    d = dfr_deferred_new();
    if (!d)
        return 1;
    printf("  first callback: %d\n", dfr_deferred_callback(d, dfr_i64(1)));
    int rc = dfr_deferred_callback(d, dfr_i64(2));
    printf("  second callback: %d (%s)\n", rc, dfr_strerror(rc));
    rc = dfr_deferred_errback(d, dfr_failure_new(EXAMPLE, E_BROKEN, "too late"));
    printf("  errback after that: %d (%s); the failure was released\n", rc, dfr_strerror(rc));
    dfr_deferred_unref(d);

    printf("6. a failure still unhandled when the last reference goes is reported\n");
    dfr_set_unhandled_error_hook(print_unhandled, NULL);
    d = dfr_fail(dfr_failure_new(EXAMPLE, E_BROKEN, "nobody looked at me"));
    if (!d)
        return 1;
    dfr_deferred_add_callback(d, never, NULL, NULL);
    printf("  dropping the last reference:\n");
    dfr_deferred_unref(d);
    dfr_set_unhandled_error_hook(NULL, NULL); /* back to the default (stderr) */

    dfr_trim();
    return 0;
}
