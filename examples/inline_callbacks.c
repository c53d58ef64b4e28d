/* inlineCallbacks in C: `my_callbacks` from Part 17 of Dave Peticolas's
 * Twisted Introduction ("the original" below).
 *
 * A coroutine is an ordinary function on a stack of its own.  dfr_await
 * hands back a value that is already there at once (no switch), and
 * otherwise suspends the coroutine until the deferred fires — here
 * deferreds that the reactor's callLater fires — while the reactor goes on
 * with other work.  A failure comes back as a failure value, caught with an
 * ordinary `if` (the original's try/except).  What the function returns is its
 * returnValue: the deferred of dfr_inline_callbacks fires with it.
 * The original waits 5 s per step; 50 ms keeps this quick. */
#include <deferred.h>

#include <stdio.h>

static dfr_reactor *reactor;
static int steps; /* one per step seen with the expected result */

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

/* A deferred that `fire` fires after `delay` seconds (the original's
 * reactor.callLater(5, d.callback, 2)).  The timer holds its own reference
 * until it has run, so the caller may give its reference away at once. */
static dfr_deferred *later(double delay, void (*fire)(void *))
{
    dfr_deferred *d = dfr_deferred_new();
    if (d && dfr_reactor_call_later(reactor, delay, fire, dfr_deferred_ref(d), drop_ref, NULL) != 0) {
        dfr_deferred_unref(d); /* the timer's reference went with destroy */
        return NULL;
    }
    return d;
}

static dfr_value my_callbacks(void *data)
{
    (void)data;
    say("first callback", dfr_none());
    steps += dfr_in_coroutine();

    /* Already has its result: comes right back, the coroutine never leaves. */
    dfr_value result = dfr_await(dfr_succeed(dfr_i64(1)));
    say("second callback got", result);
    steps += dfr_is_i64(result) && result.u.i64 == 1;
    dfr_value_drop(result);

    /* Pending: the coroutine suspends here, main's dfr_inline_callbacks
     * returns, and this line resumes from the reactor 50 ms later. */
    result = dfr_await(later(0.05, fire_with_2));
    say("third callback got", result);
    steps += dfr_is_i64(result) && result.u.i64 == 2;
    dfr_value_drop(result);

    result = dfr_await(later(0.05, fail_with_3));
    if (dfr_is_failure(result)) { /* the original's `except Exception, e` */
        say("fourth callback got", result);
        steps += dfr_failure_check(dfr_failure_from(&result), "example", 3);
    }
    dfr_value_drop(result); /* we own it: handled failures are dropped too */

    return dfr_i64(4); /* returnValue(4); a failure value here would errback */
}

static dfr_value returned; /* what the coroutine's deferred fired with */

/* The original's d.addBoth(lambda _: reactor.stop()). */
static dfr_value finished(dfr_value v, void *data)
{
    (void)data;
    say("the coroutine's deferred fired with", v);
    returned = v; /* keep it for main */
    dfr_reactor_stop(reactor);
    return dfr_none();
}

int main(void)
{
    reactor = dfr_reactor_new(NULL);
    if (!reactor)
        return 1;
    printf("main: in a coroutine? %s\n", dfr_in_coroutine() ? "yes" : "no");
    dfr_deferred *d = dfr_inline_callbacks(my_callbacks, NULL, NULL);
    if (!d)
        return 1;
    /* It ran up to its first real wait (the 50 ms timer) before returning. */
    printf("main: dfr_inline_callbacks returned (%s); running the reactor\n",
           dfr_deferred_state(d) == DFR_PENDING ? "pending" : "already fired?");
    dfr_deferred_add_both(d, finished, NULL, NULL);
    dfr_deferred_unref(d);
    dfr_reactor_run(reactor);
    dfr_reactor_free(reactor);

    bool ok = steps == 4 && dfr_is_i64(returned) && returned.u.i64 == 4;
    printf("main: my_callbacks returned %lld; %d of 4 steps as expected\n",
           dfr_is_i64(returned) ? (long long)returned.u.i64 : -1LL, steps);
    dfr_value_drop(returned);
    return ok ? 0 : 1;
}
