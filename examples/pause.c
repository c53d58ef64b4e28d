/* "Generating Deferreds", Advanced Processing Chain Control: pause() stops the
 * chain while callbacks are added to a deferred that has already fired;
 * unpause() then runs them all, in order. */
#include <deferred.h>

#include <stdio.h>

static dfr_value step(dfr_value v, void *name)
{
    printf("  %s sees %lld\n", (const char *)name, (long long)v.u.i64);
    return dfr_i64(v.u.i64 + 1);
}

int main(void)
{
    dfr_deferred *d = dfr_succeed(dfr_i64(1));

    printf("unpaused: a callback added to a fired deferred runs at once\n");
    dfr_deferred_add_callback(d, step, "first", NULL);
    printf("  (first has already run)\n");

    printf("paused: adding three callbacks runs nothing\n");
    dfr_deferred_pause(d);
    dfr_deferred_add_callback(d, step, "second", NULL);
    dfr_deferred_add_callback(d, step, "third", NULL);
    dfr_deferred_add_callback(d, step, "fourth", NULL);
    printf("  (nothing yet; pause count %d)\n", dfr_deferred_paused(d));

    printf("unpause: they run now, in the order added\n");
    dfr_deferred_unpause(d);
    printf("final result: %lld\n", (long long)dfr_deferred_result(d)->u.i64);

    /* Pausing is counted: two pauses need two unpauses. */
    dfr_deferred *e = dfr_deferred_new();
    dfr_deferred_pause(e);
    dfr_deferred_pause(e);
    dfr_deferred_add_callback(e, step, "counted", NULL);
    dfr_deferred_callback(e, dfr_i64(10));
    dfr_deferred_unpause(e);
    printf("after one of two unpauses: still waiting (paused %d)\n", dfr_deferred_paused(e));
    dfr_deferred_unpause(e);

    dfr_deferred_unref(d);
    dfr_deferred_unref(e);
    return 0;
}
