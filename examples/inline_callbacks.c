/* inlineCallbacks in C: the seed's `my_callbacks`.
 *
 * A coroutine is an ordinary function on a stack of its own.  dfr_await
 * hands back a value that is already there at once, and otherwise waits —
 * here for deferreds that the reactor's callLater fires — while the reactor
 * goes on with other work.  A failure comes back as a failure value, caught
 * with an ordinary `if`.  The seed waits 5 s per step; 50 ms keeps this
 * quick. */
#include <deferred.h>

#include <stdio.h>

static dfr_reactor *reactor;

static void say(const char *what, dfr_value v)
{
    printf("%5.3f s: %s", dfr_reactor_seconds(reactor), what);
    if (dfr_is_failure(v))
        printf(" failure: %s\n", dfr_failure_message(dfr_failure_from(&v)));
    else if (dfr_is_i64(v))
        printf(" %lld\n", (long long)v.u.i64);
    else
        printf("\n");
}

static void fire_with_2(void *d)
{
    dfr_deferred_callback(d, dfr_i64(2));
}

static void fail_with_3(void *d)
{
    dfr_deferred_errback(d, dfr_failure_new("example", 3, "3"));
}

static void drop_ref(void *d)
{
    dfr_deferred_unref(d);
}

/* A deferred that `fire` fires after `delay` seconds; the timer holds a
 * reference until then. */
static dfr_deferred *later(double delay, void (*fire)(void *))
{
    dfr_deferred *d = dfr_deferred_new();
    if (d && dfr_call_later(reactor, delay, fire, dfr_deferred_ref(d),
                            drop_ref, NULL) != 0) {
        dfr_deferred_unref(d);
        return NULL;
    }
    return d;
}

static dfr_value my_callbacks(void *data)
{
    (void)data;
    say("first callback", dfr_none());

    dfr_value result = dfr_await(dfr_succeed(dfr_i64(1))); /* already there: no wait */
    say("second callback got", result);

    result = dfr_await(later(0.05, fire_with_2)); /* the coroutine waits here */
    say("third callback got", result);

    result = dfr_await(later(0.05, fail_with_3));
    if (dfr_is_failure(result)) /* the seed's try/except */
        say("fourth callback got", result);
    dfr_value_drop(result);

    return dfr_i64(4); /* returnValue(4) */
}

static int steps_ok;

static dfr_value finished(dfr_value v, void *data)
{
    (void)data;
    say("the coroutine's deferred fired with", v);
    steps_ok = dfr_is_i64(v) && v.u.i64 == 4;
    dfr_value_drop(v);
    dfr_reactor_stop(reactor);
    return dfr_none();
}

int main(void)
{
    reactor = dfr_reactor_new(NULL);
    if (!reactor)
        return 1;
    dfr_deferred *d = dfr_inline_callbacks(my_callbacks, NULL, NULL);
    if (!d)
        return 1;
    /* It ran up to its first real wait before returning. */
    printf("main: dfr_inline_callbacks returned; running the reactor\n");
    dfr_deferred_add_both(d, finished, NULL, NULL);
    dfr_deferred_unref(d);
    dfr_reactor_run(reactor);
    dfr_reactor_free(reactor);
    return steps_ok ? 0 : 1;
}
