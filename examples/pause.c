/* "Generating Deferreds", Advanced Processing Chain Control and Synchronous
 * callback execution: on a deferred that already has its result, each
 * callback runs as soon as it is added.  pause() holds the chain while
 * several callbacks are added; unpause() then runs them all, in order.
 * The function that pauses is the one that must unpause. */
#include <deferred.h>

#include <stdio.h>

static dfr_value step(dfr_value v, void *name)
{
    printf("  %s sees %lld\n", (const char *)name, (long long)v.u.i64);
    return dfr_i64(v.u.i64 + 1);
}

/* Adds three callbacks as one unit: none runs until all are in place. */
static void add_steps(dfr_deferred *d)
{
    dfr_deferred_pause(d);
    dfr_deferred_add_callback(d, step, "second", NULL);
    printf("  (second added: nothing ran, pause count %d)\n", dfr_deferred_paused(d));
    dfr_deferred_add_callback(d, step, "third", NULL);
    dfr_deferred_add_callback(d, step, "fourth", NULL);
    printf("  (all three added; unpausing)\n");
    dfr_deferred_unpause(d); /* ours to undo, not the firer's */
}

int main(void)
{
    dfr_deferred *d = dfr_succeed(dfr_i64(1));
    if (!d)
        return 1;

    printf("unpaused: a callback added to a fired deferred runs at once\n");
    dfr_deferred_add_callback(d, step, "first", NULL);
    printf("  (add_callback returned; first has already run)\n");

    printf("paused: callbacks are held until unpause, then run in the order added\n");
    add_steps(d);
    printf("final result: %lld\n", (long long)dfr_deferred_result(d)->u.i64);

    printf("pauses are counted: two pauses need two unpauses\n");
    dfr_deferred *e = dfr_deferred_new();
    if (!e)
        return 1;
    dfr_deferred_pause(e);
    dfr_deferred_pause(e);
    dfr_deferred_add_callback(e, step, "counted", NULL);
    dfr_deferred_callback(e, dfr_i64(10));
    printf("  fired while paused: nothing ran, state %s\n",
           dfr_deferred_state(e) == DFR_SUCCEEDED ? "succeeded" : "pending");
    dfr_deferred_unpause(e);
    printf("  after one unpause: still held (pause count %d)\n", dfr_deferred_paused(e));
    dfr_deferred_unpause(e);
    printf("  after the second: the callback ran\n");
    printf("an unpause too many: %s\n", dfr_strerror(dfr_deferred_unpause(e)));

    dfr_deferred_unref(d);
    dfr_deferred_unref(e);
    dfr_trim();
    return 0;
}
