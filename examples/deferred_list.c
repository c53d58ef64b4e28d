/* DeferredList and gatherResults: wait for several deferreds, fired here in
 * a mixed order; the list keeps input order. */
#include <deferred.h>

#include <stdio.h>

static dfr_value print_list(dfr_value v, void *label)
{
    dfr_list *l = dfr_list_from(&v);
    printf("  %s fired with %zu entries:\n", (const char *)label, dfr_list_len(l));
    for (size_t i = 0; i < dfr_list_len(l); i++) {
        const dfr_value *e = dfr_list_get(l, i);
        if (dfr_is_failure(*e))
            printf("    [%zu] failed: %s\n", i, dfr_failure_message(dfr_failure_from(e)));
        else
            printf("    [%zu] %s %lld\n", i, dfr_list_ok(l, i) ? "ok" : "failed", (long long)e->u.i64);
    }
    return v;
}

static dfr_value print_failure(dfr_value v, void *label)
{
    dfr_failure *f = dfr_failure_from(&v);
    printf("  %s failed: input #%lld: %s\n", (const char *)label, (long long)dfr_failure_index(f),
           dfr_failure_message(dfr_failure_cause(f)));
    dfr_value_drop(v);
    return dfr_none();
}

int main(void)
{
    dfr_deferred *ds[3];

    printf("DeferredList over three deferreds, fired 3rd, 1st, then 2nd fails\n");
    for (int i = 0; i < 3; i++)
        ds[i] = dfr_deferred_new();
    dfr_deferred *list = dfr_deferred_list(ds, 3, DFR_CONSUME_ERRORS);
    dfr_deferred_add_callback(list, print_list, "the list", NULL);
    dfr_deferred_callback(ds[2], dfr_i64(30));
    dfr_deferred_callback(ds[0], dfr_i64(10));
    printf("  (two of three in: still waiting)\n");
    dfr_deferred_errback(ds[1], dfr_failure_new("example", 1, "second one failed"));
    for (int i = 0; i < 3; i++)
        dfr_deferred_unref(ds[i]);
    dfr_deferred_unref(list);

    printf("gatherResults: plain values in input order\n");
    for (int i = 0; i < 3; i++)
        ds[i] = dfr_deferred_new();
    dfr_deferred *all = dfr_gather_results(ds, 3, false);
    dfr_deferred_add_callback(all, print_list, "gatherResults", NULL);
    for (int i = 2; i >= 0; i--)
        dfr_deferred_callback(ds[i], dfr_i64(100 + i));
    for (int i = 0; i < 3; i++)
        dfr_deferred_unref(ds[i]);
    dfr_deferred_unref(all);

    printf("gatherResults with a failure: the first failure, wrapped\n");
    for (int i = 0; i < 3; i++)
        ds[i] = dfr_deferred_new();
    all = dfr_gather_results(ds, 3, true);
    dfr_deferred_add_errback(all, print_failure, "gatherResults", NULL);
    dfr_deferred_callback(ds[0], dfr_i64(1));
    dfr_deferred_errback(ds[2], dfr_failure_new("example", 2, "third one failed"));
    dfr_deferred_callback(ds[1], dfr_i64(2));
    for (int i = 0; i < 3; i++)
        dfr_deferred_unref(ds[i]);
    dfr_deferred_unref(all);
    dfr_trim();
    return 0;
}
