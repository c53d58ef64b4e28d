// Ports of twisted/internet/test/test_time.py and test_core.py's iterate
// test (Twisted 22.4) on a real-clock reactor: each TEST_CASE is named after
// the Twisted test it ports.
#include <catch2/catch.hpp>

#include "reactor_support.h"
#include "support.h"

#include <chrono>
#include <thread>

namespace {

void stop_reactor(void *data)
{
    dfr_reactor_stop(static_cast<dfr_reactor *>(data));
}

// Twisted's eventSource: a call from another thread.
void post_from_thread(dfr_reactor *r, dfr_fn fn, void *data)
{
    std::thread t([=] { dfr_reactor_call_from_thread(r, fn, data, nullptr); });
    t.join();
}

void post_stop(void *data)
{
    post_from_thread(static_cast<dfr_reactor *>(data), stop_reactor, data);
}

} // namespace

// TimeTestsBuilder.test_delayedCallStopsReactor: a delayed call can stop the
// reactor; run returns.
TEST_CASE("test_delayedCallStopsReactor", "[parity2][reactor]")
{
    test::Reactor R;
    REQUIRE(dfr_reactor_call_later(R.r, 0, stop_reactor, R.r, nullptr, nullptr) == 0);
    REQUIRE(dfr_reactor_run(R.r) == 0);
    CHECK_FALSE(dfr_reactor_running(R.r));
}

// TimeTestsBuilder.test_distantDelayedCall: a call in the extreme future
// does not keep the reactor from working (two calls from another thread
// stop it) and is still pending afterwards.  Twisted's delay is 2**128 + 1
// seconds; ours are at most 4.6e9 seconds (146 years), a larger one is
// DFR_EINVAL (docs/reactor.md "Time", docs/design.md).  The largest
// accepted one is used instead.
TEST_CASE("test_distantDelayedCall", "[parity2][reactor]")
{
    test::Reactor R;
    int destroyed = 0;
    CHECK(dfr_reactor_call_later(R.r, 340282366920938463463374607431768211457.0, [](void *) {}, &destroyed,
                                 test::count_destroy, nullptr) == DFR_EINVAL);
    CHECK(destroyed == 1);
    dfr_delayed_call *dc = nullptr;
    REQUIRE(dfr_reactor_call_later(R.r, 4.6e9, [](void *) {}, nullptr, nullptr, &dc) == 0);
    post_from_thread(R.r, post_stop, R.r);
    REQUIRE(dfr_reactor_run(R.r) == 0);
    CHECK(dfr_delayed_call_active(dc));
    CHECK(dfr_reactor_pending_calls(R.r) == 1);
    CHECK(dfr_delayed_call_time(dc) >= 4.6e9);
    dfr_delayed_call_unref(dc);
}

// SystemEventTestsBuilder.test_iterate: iterate(0) does not block, even with
// a call pending five seconds from now.
TEST_CASE("test_iterate", "[parity2][reactor]")
{
    test::Reactor R;
    dfr_delayed_call *t = nullptr;
    REQUIRE(dfr_reactor_call_later(R.r, 5, stop_reactor, R.r, nullptr, &t) == 0);
    auto start = std::chrono::steady_clock::now();
    REQUIRE(dfr_reactor_iterate(R.r, 0) == 0);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
    CHECK(dfr_delayed_call_cancel(t) == 0);
    dfr_delayed_call_unref(t);
}

// LoopTests (test_task.py), the stop of testStopAtOnceLater made while fn's
// deferred is pending, then start again before it fires.  Twisted starts a
// second run: the first start deferred is replaced and never fires, and when
// the old deferred fires the loop is scheduled twice.  Ours refuses the start
// with DFR_EALREADY_RUNNING until the old deferred fires, which fires the
// first start deferred; a start then works (docs/reactor.md, "Differences
// from Twisted's task module").
TEST_CASE("LoopingCall: start after a stop made while fn's deferred is pending", "[parity2][looping]")
{
    test::Clock c;
    struct State {
        dfr_deferred *pending = nullptr;
        int calls = 0;
    } st;
    dfr_looping_call *lc = dfr_looping_call_new(
        c.r,
        [](void *data) {
            auto *s = static_cast<State *>(data);
            if (s->calls++ > 0)
                return dfr_i64(0);
            s->pending = dfr_deferred_new();
            return dfr_value_deferred(dfr_deferred_ref(s->pending));
        },
        &st, nullptr);
    REQUIRE(lc != nullptr);
    dfr_deferred *first = dfr_looping_call_start(lc, 1, true);
    REQUIRE(st.pending != nullptr);
    REQUIRE(dfr_looping_call_stop(lc) == 0);
    CHECK_FALSE(dfr_looping_call_running(lc));
    CHECK(dfr_deferred_state(first) == DFR_PENDING); // as in Twisted: waits for fn's deferred
    CHECK(test::refused_with(dfr_looping_call_start(lc, 1, true), DFR_EALREADY_RUNNING));
    REQUIRE(dfr_deferred_callback(st.pending, dfr_none()) == 0);
    REQUIRE(dfr_deferred_result(first) != nullptr);
    CHECK(dfr_deferred_result(first)->u.ptr == lc);
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    dfr_deferred *second = dfr_looping_call_start(lc, 1, true);
    CHECK(st.calls == 2);
    CHECK(dfr_looping_call_running(lc));
    CHECK(dfr_reactor_pending_calls(c.r) == 1);
    REQUIRE(dfr_looping_call_stop(lc) == 0);
    CHECK(dfr_deferred_state(second) == DFR_SUCCEEDED);
    for (dfr_deferred *d : {first, second, st.pending})
        dfr_deferred_unref(d);
    dfr_looping_call_unref(lc);
}
