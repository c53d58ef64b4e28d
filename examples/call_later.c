/* callLater: schedule calls, cancel one, push one back, and stop the reactor
 * from a timer.  Equal deadlines run in the order they were scheduled. */
#include <deferred.h>

#include <stdio.h>

static dfr_reactor *reactor;

static void say(void *data)
{
    printf("%5.3f s: %s\n", dfr_reactor_seconds(reactor), (const char *)data);
}

static void stop(void *data)
{
    say(data);
    dfr_reactor_stop(reactor);
}

static dfr_value on_shutdown(void *data)
{
    (void)data;
    printf("shutdown trigger: the reactor is stopping\n");
    return dfr_none();
}

int main(void)
{
    reactor = dfr_reactor_new(NULL);
    dfr_reactor_add_system_event_trigger(reactor, DFR_BEFORE, DFR_SHUTDOWN, on_shutdown, NULL, NULL, NULL);

    dfr_delayed_call *never, *later;
    dfr_reactor_call_later(reactor, 0.02, say, "first of two due at 20 ms", NULL, NULL);
    dfr_reactor_call_later(reactor, 0.02, say, "second of two due at 20 ms", NULL, NULL);
    dfr_reactor_call_later(reactor, 0.01, say, "due at 10 ms", NULL, NULL);
    dfr_reactor_call_later(reactor, 0.03, say, "cancelled: never printed", NULL, &never);
    dfr_reactor_call_later(reactor, 0.01, say, "scheduled for 10 ms, pushed back to 40 ms", NULL, &later);
    dfr_reactor_call_later(reactor, 0.05, stop, "stopping at 50 ms", NULL, NULL);

    dfr_delayed_call_cancel(never);
    dfr_delayed_call_delay(later, 0.03);
    printf("pending calls: %zu\n", dfr_reactor_pending_calls(reactor));

    dfr_reactor_run(reactor);
    printf("after run: cancel of the cancelled call says \"%s\", of the called one \"%s\"\n",
           dfr_strerror(dfr_delayed_call_cancel(never)), dfr_strerror(dfr_delayed_call_cancel(later)));
    dfr_delayed_call_unref(never);
    dfr_delayed_call_unref(later);
    dfr_reactor_free(reactor);
    return 0;
}
