// LoopingCall on the manual clock.  TWISTED_BEHAVIOURS S49, S51;
// twisted/test/test_task.py LoopTests.
#include <catch2/catch.hpp>

#include "reactor_support.h"
#include "recorder.h"
#include "support.h"

using test::Clock;
using test::Recorder;

namespace {

struct Counter {
    int calls = 0;
    dfr_deferred *next = nullptr; // returned (a new reference) when set
    int fail_on = 0;              // return a failure on this call
    dfr_looping_call *lc = nullptr;
    bool stop_inside = false;
};

dfr_value counting(void *data)
{
    auto *c = static_cast<Counter *>(data);
    c->calls++;
    if (c->stop_inside)
        dfr_looping_call_stop(c->lc);
    if (c->fail_on == c->calls)
        return dfr_value_failure(test::failure(1));
    if (c->next)
        return dfr_value_deferred(dfr_deferred_ref(c->next));
    return dfr_none();
}

} // namespace

// testBasicFunction, testDelayedStart.
TEST_CASE("S49 start now, pump, stop", "[looping][S49]")
{
    Clock c;
    bool now = GENERATE(true, false);
    Counter n;
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
    Recorder done;
    dfr_deferred *d = dfr_looping_call_start(lc, 0.1, now);
    REQUIRE(d != nullptr);
    dfr_deferred_add_callback(d, test::record, &done, nullptr);
    CHECK(n.calls == (now ? 1 : 0));
    c.pump({0.05, 0.1, 0.1});
    CHECK(n.calls == (now ? 3 : 2));
    CHECK(dfr_looping_call_running(lc));
    REQUIRE(dfr_looping_call_stop(lc) == 0);
    CHECK(done.seen == std::vector<std::string>{"ptr"});
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    CHECK_FALSE(dfr_looping_call_running(lc));
    CHECK(dfr_looping_call_stop(lc) == DFR_EINVAL);
    dfr_deferred_unref(d);
    dfr_looping_call_free(lc);
}

// testBadDelay, testStopAtOnce, testStoppingBeforeDelayedStart.
TEST_CASE("S49 bad interval, stop before the first call", "[looping][S49]")
{
    Clock c;
    Counter n;
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
    CHECK(dfr_looping_call_start(lc, -1, true) == nullptr);
    dfr_deferred *d = dfr_looping_call_start(lc, 10, false);
    CHECK(dfr_looping_call_start(lc, 10, false) == nullptr); // already running
    dfr_looping_call_stop(lc);
    CHECK(n.calls == 0);
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    dfr_deferred_unref(d);
    dfr_looping_call_free(lc);
    CHECK(dfr_looping_call_new(nullptr, counting, nullptr, nullptr) == nullptr);
    CHECK(dfr_looping_call_new(c.r, nullptr, nullptr, nullptr) == nullptr);
}

// test_deferredWithCount, adapted: a deferred from fn delays the next call,
// and intervals missed meanwhile are skipped.
TEST_CASE("S51 a deferred from fn delays the next call; missed intervals are skipped", "[looping][S51]")
{
    Clock c;
    Counter n;
    n.next = dfr_deferred_new();
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
    dfr_deferred *d = dfr_looping_call_start(lc, 0.2, false);
    c.pump({0.2, 0.4});
    CHECK(n.calls == 1);
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    dfr_deferred *pending = n.next;
    n.next = nullptr;
    dfr_deferred_callback(pending, dfr_none()); // at t=0.6: next at 0.8
    c.advance(0.2);
    CHECK(n.calls == 2);
    c.advance(1.0); // 1.0, 1.2, 1.4, 1.6, 1.8 were due: one call, the rest skipped
    CHECK(n.calls == 3);
    dfr_looping_call_stop(lc);
    dfr_deferred_unref(pending);
    dfr_deferred_unref(d);
    dfr_looping_call_free(lc);
}

// testFailurePropagation, testFailure.
TEST_CASE("S51 a failure from fn stops it and fails the start deferred", "[looping][S51]")
{
    Clock c;
    Recorder eb;
    SECTION("synchronously on start")
    {
        Counter n;
        n.fail_on = 1;
        dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
        dfr_deferred *d = dfr_looping_call_start(lc, 1, true);
        dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
        CHECK(eb.seen == std::vector<std::string>{"fail test 1"});
        CHECK_FALSE(dfr_looping_call_running(lc));
        CHECK(dfr_reactor_pending_calls(c.r) == 0);
        dfr_deferred_unref(d);
        dfr_looping_call_free(lc);
    }
    SECTION("through fn's deferred, later")
    {
        Counter n;
        n.next = dfr_deferred_new();
        dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
        dfr_deferred *d = dfr_looping_call_start(lc, 1, true);
        dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
        dfr_deferred_errback(n.next, test::failure(2));
        CHECK(eb.seen == std::vector<std::string>{"fail test 2"});
        CHECK(dfr_reactor_pending_calls(c.r) == 0);
        dfr_deferred_unref(n.next);
        dfr_deferred_unref(d);
        dfr_looping_call_free(lc);
    }
}

// S51: stop while fn's deferred is pending; testReset.
TEST_CASE("S51 stop while fn's deferred is pending, and reset", "[looping][S51]")
{
    Clock c;
    Counter n;
    n.next = dfr_deferred_new();
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
    dfr_deferred *d = dfr_looping_call_start(lc, 1, true);
    dfr_looping_call_stop(lc);
    CHECK(dfr_deferred_state(d) == DFR_PENDING);
    dfr_deferred_callback(n.next, dfr_none());
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    dfr_deferred_unref(n.next);
    dfr_deferred_unref(d);
    n.next = nullptr;

    n.calls = 0;
    d = dfr_looping_call_start(lc, 2, false);
    c.advance(1);
    REQUIRE(dfr_looping_call_reset(lc) == 0);
    c.advance(1);
    CHECK(n.calls == 0);
    c.advance(1);
    CHECK(n.calls == 1);
    dfr_looping_call_free(lc); // stops it
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    dfr_deferred_unref(d);
}

TEST_CASE("interval 0 runs once per pass; stop inside fn", "[looping]")
{
    Clock c;
    Counter n;
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
    n.lc = lc;
    dfr_deferred *d = dfr_looping_call_start(lc, 0, true);
    CHECK(n.calls == 1);
    c.advance(0);
    c.advance(0);
    CHECK(n.calls == 3);
    n.stop_inside = true;
    c.advance(0);
    CHECK(n.calls == 4);
    CHECK_FALSE(dfr_looping_call_running(lc));
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    c.advance(0);
    CHECK(n.calls == 4);
    dfr_deferred_unref(d);
    dfr_looping_call_free(lc);
}
