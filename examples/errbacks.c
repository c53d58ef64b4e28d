/* Callbacks, errbacks and chaining: a failure skips callbacks until an
 * errback handles it; a callback may return another deferred, and the chain
 * waits for it; dfr_deferred_chain hands one deferred's result to another. */
#include <deferred.h>

#include <stdio.h>

#define EXAMPLE "example" /* our failure domain */
enum { E_NOT_FOUND = 1 };

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
        return v; /* not ours: pass it on */
    printf("  recover: caught \"%s\", using a default poem\n", dfr_failure_message(f));
    dfr_value_drop(v);
    return dfr_bytes_new("default poem", 12);
}

static dfr_value print_text(dfr_value v, void *label)
{
    printf("  %s: %.*s\n", (const char *)label, (int)dfr_bytes_len(&v),
           (const char *)dfr_bytes_data(&v));
    return v;
}

/* A callback returning a deferred that fires later: the chain waits. */
static dfr_deferred *later;

static dfr_value transform(dfr_value v, void *data)
{
    (void)data;
    dfr_value_drop(v);
    printf("  transform: returns a deferred that has not fired yet\n");
    return dfr_value_deferred(dfr_deferred_ref(later));
}

int main(void)
{
    printf("1. a failure flows past callbacks to an errback, which recovers\n");
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_callback(d, fetch, NULL, NULL);
    dfr_deferred_add_callback(d, never, NULL, NULL);
    dfr_deferred_add_errback(d, recover, NULL, NULL);
    dfr_deferred_add_callback(d, print_text, "result", NULL);
    dfr_deferred_callback(d, dfr_i64(7));
    dfr_deferred_unref(d);

    printf("2. a callback returns a deferred: the outer chain waits for it\n");
    later = dfr_deferred_new();
    dfr_deferred *outer = dfr_deferred_new();
    dfr_deferred_add_callback(outer, transform, NULL, NULL);
    dfr_deferred_add_callback(outer, print_text, "outer continues with", NULL);
    dfr_deferred_callback(outer, dfr_none());
    printf("  outer is %s\n", dfr_deferred_state(outer) == DFR_PENDING ? "waiting" : "done");
    dfr_deferred_callback(later, dfr_bytes_new("the inner result", 16));
    dfr_deferred_unref(outer);
    dfr_deferred_unref(later);

    printf("3. dfr_deferred_chain: b fires with a's result\n");
    dfr_deferred *a = dfr_deferred_new();
    dfr_deferred *b = dfr_deferred_new();
    dfr_deferred_add_callback(b, print_text, "b got", NULL);
    dfr_deferred_chain(a, b);
    dfr_deferred_callback(a, dfr_bytes_new("from a", 6));
    dfr_deferred_unref(a);
    dfr_deferred_unref(b);
    return 0;
}
