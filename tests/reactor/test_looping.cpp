// LoopingCall on the manual clock (behaviours S49, S51), ported from
// twisted/test/test_task.py (LoopTests, ReactorLoopTests).  Most count the
// calls (and note their times) to show which intervals were skipped; the
// "[count]" cases check dfr_looping_call_count, our withCount.
#include <catch2/catch.hpp>

#include "reactor_support.h"
#include "recorder.h"
#include "support.h"

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

using test::Clock;
using test::Recorder;

namespace {

using test::swallow;

struct Counter {
    dfr_reactor *r = nullptr;
    int calls = 0;
    std::vector<double> times;    // reactor seconds of each call
    dfr_deferred *next = nullptr; // returned (a new reference) when set
    int next_on = 0;              // ...only on this call (0: every call)
    int fail_on = 0;              // return a failure on this call
    int stop_on = 0;              // stop from inside on this call
    dfr_looping_call *lc = nullptr;
    double advance_inside = 0; // the call takes this long (advances the clock)
};

dfr_value counting(void *data)
{
    auto *c = static_cast<Counter *>(data);
    c->calls++;
    if (c->r) {
        c->times.push_back(dfr_reactor_seconds(c->r));
        if (c->advance_inside > 0)
            dfr_reactor_advance(c->r, c->advance_inside);
    }
    if (c->stop_on == c->calls)
        CHECK(dfr_looping_call_stop(c->lc) == 0);
    if (c->fail_on == c->calls)
        return dfr_value_failure(test::failure(1));
    if (c->next && (c->next_on == 0 || c->next_on == c->calls))
        return dfr_value_deferred(dfr_deferred_ref(c->next));
    return dfr_none();
}

// Records what the start deferred fired with: the pointer of a ptr value.
struct Done {
    int fired = 0;
    void *ptr = nullptr;
    std::string shown;
};

dfr_value done_cb(dfr_value v, void *data)
{
    auto *d = static_cast<Done *>(data);
    d->fired++;
    d->shown = test::show(v);
    if (v.type == &dfr_type_ptr)
        d->ptr = v.u.ptr;
    dfr_value_drop(v);
    return dfr_none();
}

using Times = std::vector<double>;

} // namespace

// testBasicFunction, testDelayedStart.
TEST_CASE("S49 start now or later, pump, stop", "[looping][S49]")
{
    Clock c;
    bool now = GENERATE(true, false);
    Counter n;
    n.r = c.r;
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
    REQUIRE(lc != nullptr);
    CHECK_FALSE(dfr_looping_call_running(lc));
    Done done;
    dfr_deferred *d = dfr_looping_call_start(lc, 0.1, now);
    REQUIRE(d != nullptr);
    CHECK(dfr_looping_call_running(lc));
    dfr_deferred_add_both(d, done_cb, &done, nullptr);
    CHECK(n.calls == (now ? 1 : 0));
    c.pump({0.05, 0.1, 0.1});
    CHECK(n.calls == (now ? 3 : 2));
    CHECK(n.times == (now ? Times{0, 0.15, 0.25} : Times{0.15, 0.25}));
    CHECK(done.fired == 0);
    REQUIRE(dfr_looping_call_stop(lc) == 0);
    CHECK(done.fired == 1);
    CHECK(done.ptr == lc); // fires with the LoopingCall itself
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    CHECK_FALSE(dfr_looping_call_running(lc));
    CHECK(dfr_looping_call_stop(lc) == DFR_EINVAL);
    c.advance(1);
    CHECK(n.calls == (now ? 3 : 2));
    dfr_deferred_unref(d);
    dfr_looping_call_unref(lc);
}

// No Twisted counterpart (C handles): the handle rules of delayed calls and
// listeners.  A second reference keeps the run going; the last handle
// reference stops it (the start deferred fires with lc).
TEST_CASE("LoopingCall handles: ref keeps it running, the last unref stops it", "[looping]")
{
    Clock c;
    Counter n;
    n.r = c.r;
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
    REQUIRE(lc != nullptr);
    CHECK(dfr_looping_call_ref(lc) == lc);
    CHECK(dfr_looping_call_ref(nullptr) == nullptr);
    Done done;
    dfr_deferred *d = dfr_looping_call_start(lc, 0.1, true);
    REQUIRE(d != nullptr);
    dfr_deferred_add_both(d, done_cb, &done, nullptr);
    dfr_looping_call_unref(lc); // one handle left: still running
    CHECK(dfr_looping_call_running(lc));
    c.advance(0.1);
    CHECK(n.calls == 2);
    CHECK(done.fired == 0);
    dfr_looping_call_unref(lc); // the last handle: stopped
    CHECK(done.fired == 1);
    CHECK(done.ptr == lc);
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    c.advance(1);
    CHECK(n.calls == 2);
    dfr_deferred_unref(d);
    dfr_looping_call_unref(nullptr);
}

// testBadDelay, testStopAtOnce, testStoppingBeforeDelayedStart.
TEST_CASE("S49 bad intervals; stop before the first call", "[looping][S49]")
{
    Clock c;
    Counter n;
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
    for (double bad : {-1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
        dfr_deferred *refused = dfr_looping_call_start(lc, bad, true);
        CHECK(test::state(refused) == test::fail_text(DFR_DOMAIN, DFR_EINVAL));
        dfr_deferred_add_errback(refused, swallow, nullptr, nullptr);
        dfr_deferred_unref(refused);
    }
    CHECK(n.calls == 0);
    CHECK_FALSE(dfr_looping_call_running(lc));
    double interval = GENERATE(0.0, 10.0);
    dfr_deferred *d = dfr_looping_call_start(lc, interval, false);
    REQUIRE(d != nullptr);
    dfr_deferred *again = dfr_looping_call_start(lc, 10, false); // already running: says so
    CHECK(test::state(again) == test::fail_text(DFR_DOMAIN, DFR_EALREADY_RUNNING));
    dfr_deferred_add_errback(again, swallow, nullptr, nullptr);
    dfr_deferred_unref(again);
    REQUIRE(dfr_looping_call_stop(lc) == 0);
    CHECK(n.calls == 0);
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    c.advance(20);
    CHECK(n.calls == 0);
    dfr_deferred_unref(d);
    dfr_looping_call_unref(lc);
}

// testStopAtOnceLater: a stop from another timer before the first call.
TEST_CASE("S49 stopped from a timer before its first call, it never runs", "[looping][S49]")
{
    Clock c;
    Counter n;
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
    dfr_deferred *d = dfr_looping_call_start(lc, 1, false);
    dfr_reactor_call_later(c.r, 0, [](void *data) {
        CHECK(dfr_looping_call_stop(static_cast<dfr_looping_call *>(data)) == 0);
    }, lc, nullptr, nullptr);
    c.advance(0);
    c.advance(5);
    CHECK(n.calls == 0);
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    dfr_deferred_unref(d);
    dfr_looping_call_unref(lc);
}

// fn's data: destroy runs once, when the LoopingCall is freed (not at
// stop); a stopped LoopingCall starts again.
TEST_CASE("S49 restart after stop; destroy at free", "[looping][S49]")
{
    Clock c;
    int destroyed = 0;
    struct Ctx {
        int calls = 0;
        int *destroyed;
    } ctx{0, &destroyed};
    dfr_looping_call *lc = dfr_looping_call_new(c.r, [](void *data) -> dfr_value {
        static_cast<Ctx *>(data)->calls++;
        return dfr_none();
    }, &ctx, [](void *data) { ++*static_cast<Ctx *>(data)->destroyed; });
    for (int round = 0; round < 3; round++) {
        dfr_deferred *d = dfr_looping_call_start(lc, 1, true);
        REQUIRE(d != nullptr);
        c.pump({1, 1});
        dfr_looping_call_stop(lc);
        CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
        dfr_deferred_unref(d);
        CHECK(ctx.calls == 3 * (round + 1));
        CHECK(destroyed == 0);
    }
    dfr_looping_call_unref(lc);
    CHECK(destroyed == 1);
}

// test_reactorTimeSkips.
TEST_CASE("S51 time that passed between calls: the next call is the next interval in the future",
          "[looping][S51]")
{
    Clock c;
    Counter n;
    n.r = c.r;
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
    dfr_deferred *d = dfr_looping_call_start(lc, 0.5, true);
    CHECK(n.times == Times{0});
    c.advance(2);
    CHECK(n.times == Times{0, 2});
    c.advance(1);
    CHECK(n.times == Times{0, 2, 3});
    c.advance(0);
    CHECK(n.times == Times{0, 2, 3});
    dfr_looping_call_unref(lc);
    dfr_deferred_unref(d);
}

// test_callbackTimeSkips: the call itself takes longer than the interval
// (it advances the clock from inside).
TEST_CASE("S51 a call that takes longer than the interval skips the intervals it covered", "[looping][S51]")
{
    Clock c;
    Counter n;
    n.r = c.r;
    n.advance_inside = 2;
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
    dfr_deferred *d = dfr_looping_call_start(lc, 0.5, true);
    CHECK(n.times == Times{0});
    CHECK(dfr_reactor_seconds(c.r) == 2.0);
    c.advance(0); // 2 is now, not the future: skipped
    CHECK(n.times == Times{0});
    n.advance_inside = 1;
    c.advance(0.5);
    CHECK(n.times == Times{0, 2.5});
    CHECK(dfr_reactor_seconds(c.r) == 3.5);
    c.advance(0);
    CHECK(n.times == Times{0, 2.5});
    n.advance_inside = 0;
    c.advance(0.5);
    CHECK(n.times == Times{0, 2.5, 4});
    CHECK(dfr_reactor_seconds(c.r) == 4.0);
    dfr_looping_call_unref(lc);
    dfr_deferred_unref(d);
}

// test_reactorTimeCountSkips and test_countLengthyIntervalCounts, counting
// calls instead of withCount: a late call keeps the original schedule, and
// a long advance gives one call, not one per missed interval.
TEST_CASE("S51 late calls keep the schedule; a long advance runs it once", "[looping][S51]")
{
    Clock c;
    Counter n;
    n.r = c.r;
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
    dfr_deferred *d = dfr_looping_call_start(lc, 0.5, true);
    c.advance(0.51);
    CHECK(n.calls == 2);
    c.advance(1.51); // t = 2.02: intervals at 1.0, 1.5 and 2.0 passed
    CHECK(n.calls == 3);
    CHECK(n.times.back() == Approx(2.02));
    c.advance(0);
    CHECK(n.calls == 3);
    c.advance(0.47); // 2.49: not yet
    CHECK(n.calls == 3);
    c.advance(0.01); // 2.5: on schedule again
    CHECK(n.calls == 4);
    // A delay of less than one interval: the next call is still due on time.
    c.advance(0.875); // 3.375: the call due at 3.0, late
    CHECK(n.calls == 5);
    c.advance(0.125); // 3.5
    CHECK(n.calls == 6);
    CHECK(n.times.back() == 3.5);
    dfr_looping_call_unref(lc);
    dfr_deferred_unref(d);
}

// test_withCountFloatingPointBoundary: ten steps of 0.1 s give ten calls
// (the clock keeps integer nanoseconds: no floating-point drift).
TEST_CASE("S51 ten steps of a tenth of a second give ten calls", "[looping][S51]")
{
    Clock c;
    Counter n;
    n.r = c.r;
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
    dfr_deferred *d = dfr_looping_call_start(lc, 0.1, false);
    for (int i = 0; i < 10; i++) {
        c.advance(0.1);
        CHECK(n.calls == i + 1);
    }
    CHECK(dfr_reactor_seconds(c.r) == 1.0);
    dfr_looping_call_unref(lc);
    dfr_deferred_unref(d);
}

// test_deferredWithCount, counting calls: a deferred from fn delays the next
// call, and intervals missed meanwhile are skipped.
TEST_CASE("S51 a deferred from fn delays the next call; missed intervals are skipped", "[looping][S51]")
{
    Clock c;
    Counter n;
    n.r = c.r;
    n.next = dfr_deferred_new();
    n.next_on = 1;
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
    dfr_deferred *d = dfr_looping_call_start(lc, 0.2, false);
    CHECK(n.calls == 0);
    c.pump({0.2, 0.4});
    CHECK(n.calls == 1);
    CHECK(dfr_reactor_pending_calls(c.r) == 0); // nothing scheduled while it waits
    dfr_deferred_callback(n.next, dfr_none()); // at t=0.6: next at 0.8
    c.advance(0.2);
    CHECK(n.times == Times{0.2, 0.8});
    c.advance(1.0); // 1.0 ... 1.8 were due: one call
    CHECK(n.calls == 3);
    dfr_looping_call_stop(lc);
    dfr_deferred_unref(n.next);
    dfr_deferred_unref(d);
    dfr_looping_call_unref(lc);
}

// testWaitDeferred: fn's deferred fires (from a timer) after the interval
// and its callback stops the loop: nothing is scheduled meanwhile or after.
TEST_CASE("S51 fn is not called again before its deferred fires", "[looping][S51]")
{
    Clock c;
    struct Ctx {
        dfr_reactor *r;
        dfr_looping_call *lc = nullptr;
        int calls = 0;
    } ctx{c.r};
    dfr_looping_call *lc = dfr_looping_call_new(c.r, [](void *data) -> dfr_value {
        auto *x = static_cast<Ctx *>(data);
        x->calls++;
        dfr_deferred *d = dfr_deferred_new();
        dfr_deferred_add_callback(d, [](dfr_value v, void *data2) -> dfr_value {
            dfr_looping_call_stop(static_cast<Ctx *>(data2)->lc);
            return v;
        }, x, nullptr);
        dfr_reactor_call_later(x->r, 1, [](void *dd) { dfr_deferred_callback(static_cast<dfr_deferred *>(dd), dfr_none()); },
                       dfr_deferred_ref(d), [](void *dd) { dfr_deferred_unref(static_cast<dfr_deferred *>(dd)); },
                       nullptr);
        return dfr_value_deferred(d);
    }, &ctx, nullptr);
    ctx.lc = lc;
    dfr_deferred *d = dfr_looping_call_start(lc, 0.2, true);
    c.pump({0.2, 0.8});
    CHECK(ctx.calls == 1);
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    dfr_deferred_unref(d);
    dfr_looping_call_unref(lc);
}

// The usual way to make fn asynchronous: return dfr_reactor_defer_later's deferred.
// Only the LoopingCall's wait references it.
TEST_CASE("S51 fn returning a deferLater deferred: the next call waits for it", "[looping][S51]")
{
    Clock c;
    struct Ctx {
        dfr_reactor *r;
        int calls = 0;
    } ctx{c.r};
    dfr_looping_call *lc = dfr_looping_call_new(c.r, [](void *data) -> dfr_value {
        auto *x = static_cast<Ctx *>(data);
        x->calls++;
        return dfr_value_deferred(dfr_reactor_defer_later(x->r, 0.3, nullptr, nullptr, nullptr));
    }, &ctx, nullptr);
    dfr_deferred *d = dfr_looping_call_start(lc, 0.2, true);
    CHECK(ctx.calls == 1);
    CHECK(dfr_reactor_pending_calls(c.r) == 1); // the deferLater timer
    c.advance(0.2);
    CHECK(ctx.calls == 1); // still waiting
    c.advance(0.1);        // 0.3: fn's deferred fires; the next call is due at 0.4
    CHECK(ctx.calls == 1);
    c.advance(0.1);
    CHECK(ctx.calls == 2);
    dfr_looping_call_stop(lc);
    CHECK(dfr_deferred_state(d) == DFR_PENDING); // until fn's deferred fires
    c.advance(0.3);
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    dfr_deferred_unref(d);
    dfr_looping_call_unref(lc);
}

// testFailure, testFailAndStop, testFailurePropagation.
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
        dfr_looping_call_unref(lc);
    }
    SECTION("on a later call")
    {
        Counter n;
        n.fail_on = 3;
        dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
        dfr_deferred *d = dfr_looping_call_start(lc, 1, false);
        dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
        c.pump({1, 1});
        CHECK(eb.seen.empty());
        c.advance(1);
        CHECK(eb.seen == std::vector<std::string>{"fail test 1"});
        CHECK_FALSE(dfr_looping_call_running(lc));
        c.advance(5);
        CHECK(n.calls == 3);
        CHECK(dfr_reactor_pending_calls(c.r) == 0);
        dfr_deferred_unref(d);
        dfr_looping_call_unref(lc);
    }
    SECTION("stop, then fail, in the same call: the failure wins")
    {
        Counter n;
        n.fail_on = 1;
        n.stop_on = 1;
        dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
        n.lc = lc;
        dfr_deferred *d = dfr_looping_call_start(lc, 0.1, true);
        dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
        CHECK(eb.seen == std::vector<std::string>{"fail test 1"});
        dfr_deferred_unref(d);
        dfr_looping_call_unref(lc);
    }
    SECTION("through fn's deferred, errbacked by a timer")
    {
        Counter n;
        n.next = dfr_deferred_new();
        dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
        dfr_deferred *d = dfr_looping_call_start(lc, 1, true);
        dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
        dfr_reactor_call_later(c.r, 0.3, [](void *data) {
            dfr_deferred_errback(static_cast<dfr_deferred *>(data), test::failure(2));
        }, n.next, nullptr, nullptr);
        c.advance(0.3);
        CHECK(eb.seen == std::vector<std::string>{"fail test 2"});
        CHECK_FALSE(dfr_looping_call_running(lc));
        CHECK(dfr_reactor_pending_calls(c.r) == 0);
        dfr_deferred_unref(n.next);
        dfr_deferred_unref(d);
        dfr_looping_call_unref(lc);
    }
}

// S51: stop while fn's deferred is pending; test_reset.
TEST_CASE("S51 stop while fn's deferred is pending; reset", "[looping][S51]")
{
    Clock c;
    Counter n;
    n.next = dfr_deferred_new();
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
    Done done;
    dfr_deferred *d = dfr_looping_call_start(lc, 1, true);
    dfr_deferred_add_both(d, done_cb, &done, nullptr);
    CHECK(dfr_looping_call_reset(lc) == 0); // waiting on fn: nothing to move
    REQUIRE(dfr_looping_call_stop(lc) == 0);
    CHECK_FALSE(dfr_looping_call_running(lc));
    CHECK(done.fired == 0); // not before fn's deferred fires
    dfr_deferred_callback(n.next, dfr_none());
    CHECK(done.fired == 1);
    CHECK(done.ptr == lc);
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
    c.advance(2);
    CHECK(n.calls == 2);
    dfr_looping_call_unref(lc); // stops it
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    dfr_deferred_unref(d);
}

// testEveryIteration, test_withCountIntervalZero (adapted: we run one call
// per pass, so each advance(0) makes one call).
TEST_CASE("interval 0 calls once per pass; stop inside fn", "[looping][zero]")
{
    Clock c;
    Counter n;
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
    n.lc = lc;
    n.stop_on = 6;
    dfr_deferred *d = dfr_looping_call_start(lc, 0, true);
    CHECK(n.calls == 1);
    for (int i = 2; i <= 6; i++) {
        c.advance(0);
        CHECK(n.calls == i);
    }
    CHECK_FALSE(dfr_looping_call_running(lc));
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    c.advance(0);
    CHECK(n.calls == 6);
    dfr_deferred_unref(d);
    dfr_looping_call_unref(lc);
}

// test_withCountIntervalZeroDelay: with interval 0, a deferred from fn
// blocks the loop however much time passes; it goes on once it fires.
TEST_CASE("interval 0 waits for fn's deferred", "[looping][zero]")
{
    Clock c;
    Counter n;
    n.next = dfr_deferred_new();
    n.next_on = 2;
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
    dfr_deferred *d = dfr_looping_call_start(lc, 0, false);
    c.advance(0);
    c.advance(0);
    CHECK(n.calls == 2);
    c.advance(2);
    CHECK(n.calls == 2);
    dfr_deferred_callback(n.next, dfr_none());
    CHECK(n.calls == 2); // the next call comes on the next pass
    c.advance(0);
    CHECK(n.calls == 3);
    c.advance(0);
    CHECK(n.calls == 4);
    dfr_looping_call_unref(lc);
    dfr_deferred_unref(n.next);
    dfr_deferred_unref(d);
}

namespace {

// withCount: fn records (time, count); it may return a deferred on one call
// and stop the loop on another.
struct Counted {
    dfr_reactor *r = nullptr;
    dfr_looping_call *lc = nullptr;
    std::vector<std::pair<double, uint64_t>> seen;
    dfr_deferred *next = nullptr; // returned (a new reference) on call next_on
    size_t next_on = 0;
    size_t stop_on = 0;
};

dfr_value count_fn(void *data)
{
    auto *c = static_cast<Counted *>(data);
    c->seen.emplace_back(dfr_reactor_seconds(c->r), dfr_looping_call_count(c->lc));
    if (c->seen.size() == c->stop_on)
        CHECK(dfr_looping_call_stop(c->lc) == 0);
    if (c->next && c->seen.size() == c->next_on)
        return dfr_value_deferred(dfr_deferred_ref(c->next));
    return dfr_none();
}

using Seen = std::vector<std::pair<double, uint64_t>>;

// A withCount LoopingCall on c: fn is count_fn over n.
dfr_looping_call *counted_lc(Clock &c, Counted &n)
{
    n.r = c.r;
    n.lc = dfr_looping_call_new(c.r, count_fn, &n, nullptr);
    REQUIRE(n.lc != nullptr);
    REQUIRE(dfr_looping_call_with_count(n.lc) == 0);
    return n.lc;
}

std::vector<uint64_t> counts(const Seen &seen)
{
    std::vector<uint64_t> out;
    for (auto &s : seen)
        out.push_back(s.second);
    return out;
}

} // namespace

// test_reactorTimeCountSkips: late calls are counted in whole intervals.
TEST_CASE("withCount: a late call counts the intervals it missed", "[looping][count]")
{
    Clock c;
    Counted n;
    dfr_looping_call *lc = counted_lc(c, n);
    dfr_deferred *d = dfr_looping_call_start(lc, 0.5, true);
    CHECK(n.seen == Seen{{0, 1}});
    c.advance(0.51);
    CHECK(n.seen == Seen{{0, 1}, {0.51, 1}});
    c.advance(1.51);
    REQUIRE(n.seen.size() == 3);
    CHECK(n.seen[2].first == Approx(2.02));
    CHECK(n.seen[2].second == 3);
    c.advance(0);
    CHECK(n.seen.size() == 3);
    CHECK(dfr_looping_call_count(lc) == 3); // the last call's, after it
    dfr_looping_call_unref(lc);
    dfr_deferred_unref(d);
}

// test_countLengthyIntervalCounts: only calls that were due count, so a
// call 1.75 intervals after the last one still counts 1.
TEST_CASE("withCount: counts calls due, not the time between calls", "[looping][count]")
{
    Clock c;
    Counted n;
    dfr_looping_call *lc = counted_lc(c, n);
    dfr_deferred *d = dfr_looping_call_start(lc, 0.5, true);
    c.advance(0.51);
    c.advance(0.5 * 1.75);
    c.advance(0.5 * 0.25);
    CHECK(counts(n.seen) == std::vector<uint64_t>{1, 1, 1, 1});
    REQUIRE(n.seen.size() == 4);
    CHECK(n.seen[2].first == Approx(1.385));
    CHECK(n.seen[3].first == Approx(1.51));
    dfr_looping_call_unref(lc);
    dfr_deferred_unref(d);
}

// test_withCountFloatingPointBoundary: ten steps of a tenth of a second
// (and the rounding error of their sum) count ten calls, never a 0.
TEST_CASE("withCount: ten tenths count ten, no call counts 0", "[looping][count]")
{
    Clock c;
    Counted n;
    dfr_looping_call *lc = counted_lc(c, n);
    dfr_deferred *d = dfr_looping_call_start(lc, 1.0 / 10, false);
    double sum = 0;
    for (int i = 0; i < 10; i++) {
        c.advance(1.0 / 10);
        sum += 1.0 / 10;
    }
    c.advance(std::max(0.0, 1.0 - sum));
    uint64_t total = 0;
    for (uint64_t k : counts(n.seen)) {
        CHECK(k > 0);
        total += k;
    }
    CHECK(total == 10);
    dfr_looping_call_unref(lc);
    dfr_deferred_unref(d);
}

// test_withCountIntervalZero (one call per pass here): always 1.
TEST_CASE("withCount: interval 0 counts 1", "[looping][count][zero]")
{
    Clock c;
    Counted n;
    n.stop_on = 5;
    dfr_looping_call *lc = counted_lc(c, n);
    dfr_deferred *d = dfr_looping_call_start(lc, 0, false);
    for (int i = 0; i < 8; i++)
        c.advance(i % 2 ? 0 : 3);
    CHECK(counts(n.seen) == std::vector<uint64_t>{1, 1, 1, 1, 1});
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    dfr_looping_call_unref(lc);
    dfr_deferred_unref(d);
}

// test_deferredWithCount: while fn's deferred is pending, fn is not called;
// the next call counts what was missed meanwhile.
TEST_CASE("withCount: the call after a slow deferred counts what it missed", "[looping][count]")
{
    Clock c;
    Counted n;
    n.next = dfr_deferred_new();
    n.next_on = 1;
    dfr_looping_call *lc = counted_lc(c, n);
    dfr_deferred *d = dfr_looping_call_start(lc, 0.2, false);
    CHECK(n.seen.empty());
    c.pump({0.2, 0.4});
    CHECK(counts(n.seen) == std::vector<uint64_t>{1});
    dfr_deferred_callback(n.next, dfr_none()); // at 0.6: the next call is at 0.8
    c.advance(0.2);
    CHECK(counts(n.seen) == std::vector<uint64_t>{1, 3});
    dfr_looping_call_unref(lc);
    dfr_deferred_unref(n.next);
    dfr_deferred_unref(d);
}

// Twisted keeps the time of the last call across reset and restart: a call
// that comes before a whole interval has passed since then is skipped (fn
// never sees 0).
TEST_CASE("withCount: reset and restart keep the last call's time; no call counts 0", "[looping][count]")
{
    Clock c;
    Counted n;
    dfr_looping_call *lc = counted_lc(c, n);
    dfr_deferred *d = dfr_looping_call_start(lc, 1, true); // calls at 0
    c.advance(0.5);
    REQUIRE(dfr_looping_call_reset(lc) == 0); // start 0.5: the next due at 1.5
    c.advance(1);
    CHECK(counts(n.seen) == std::vector<uint64_t>{1, 1});
    REQUIRE(dfr_looping_call_stop(lc) == 0);
    dfr_deferred_unref(d);
    // Restarted at 1.75 with now: the last call (1.5) is less than an
    // interval before, so the call at the start is skipped...
    c.advance(0.25);
    d = dfr_looping_call_start(lc, 1, true);
    CHECK(n.seen.size() == 2);
    // ...and the run goes on from its own start.
    c.advance(1);
    CHECK(counts(n.seen) == std::vector<uint64_t>{1, 1, 1});
    CHECK(n.seen[2].first == Approx(2.75));
    REQUIRE(dfr_looping_call_stop(lc) == 0);
    dfr_deferred_unref(d);
    // Restarted with a longer interval: the call at the start is skipped
    // again, the one after a whole interval counts 1.
    d = dfr_looping_call_start(lc, 10, true);
    CHECK(n.seen.size() == 3);
    c.advance(10);
    CHECK(counts(n.seen) == std::vector<uint64_t>{1, 1, 1, 1});
    for (uint64_t k : counts(n.seen))
        CHECK(k > 0);
    dfr_looping_call_unref(lc);
    dfr_deferred_unref(d);
}

TEST_CASE("withCount: refused while running, without a reactor thread or lc; count is 0 without it",
          "[looping][count][bad-input]")
{
    Clock c;
    Counter plain;
    plain.r = c.r;
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &plain, nullptr);
    dfr_deferred *d = dfr_looping_call_start(lc, 1, true);
    CHECK(dfr_looping_call_count(lc) == 0); // not counting
    CHECK(dfr_looping_call_with_count(lc) == DFR_EALREADY_RUNNING);
    CHECK(dfr_looping_call_with_count(nullptr) == DFR_EINVAL);
    CHECK(dfr_looping_call_count(nullptr) == 0);
    REQUIRE(dfr_looping_call_stop(lc) == 0);
    int off_thread = 0;
    std::thread([&] { off_thread = dfr_looping_call_with_count(lc); }).join();
    CHECK(off_thread == DFR_ENOTOWNER);
    CHECK(dfr_looping_call_with_count(lc) == 0); // between runs: fine
    dfr_looping_call_unref(lc);
    dfr_deferred_unref(d);
}

// Stopping from inside fn on the synchronous first call: start hands back
// a deferred that has already fired.
TEST_CASE("stop inside the first, synchronous call", "[looping]")
{
    Clock c;
    Counter n;
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
    n.lc = lc;
    n.stop_on = 1;
    dfr_deferred *d = dfr_looping_call_start(lc, 1, true);
    REQUIRE(d != nullptr);
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    CHECK_FALSE(dfr_looping_call_running(lc));
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    dfr_deferred_unref(d);
    dfr_looping_call_unref(lc);
}

// dfr_looping_call_unref while running: it stops (the start deferred fires),
// destroy runs once, nothing is left scheduled.
TEST_CASE("free while running", "[looping][free]")
{
    Clock c;
    int destroyed = 0;
    Done done;
    SECTION("a call is scheduled")
    {
        Counter n;
        dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
        dfr_looping_call *lc2 = dfr_looping_call_new(c.r, [](void *) -> dfr_value { return dfr_none(); },
                                                     &destroyed, test::count_destroy);
        dfr_deferred *d = dfr_looping_call_start(lc2, 1, true);
        dfr_deferred_add_both(d, done_cb, &done, nullptr);
        dfr_deferred *d1 = dfr_looping_call_start(lc, 1, true);
        dfr_looping_call_unref(lc2);
        CHECK(done.fired == 1);
        CHECK(done.ptr == static_cast<void *>(lc2)); // compared, not followed
        CHECK(destroyed == 1);
        CHECK(dfr_reactor_pending_calls(c.r) == 1); // only lc's
        c.advance(5);
        CHECK(n.calls == 2); // the intervals in between were skipped
        dfr_looping_call_unref(lc);
        CHECK(dfr_reactor_pending_calls(c.r) == 0);
        dfr_deferred_unref(d);
        dfr_deferred_unref(d1);
    }
    SECTION("from inside fn")
    {
        struct Ctx {
            dfr_looping_call *lc = nullptr;
            int calls = 0;
        } ctx;
        ctx.lc = dfr_looping_call_new(c.r, [](void *data) -> dfr_value {
            auto *x = static_cast<Ctx *>(data);
            if (++x->calls == 2)
                dfr_looping_call_unref(x->lc);
            return dfr_none();
        }, &ctx, nullptr);
        dfr_deferred *d = dfr_looping_call_start(ctx.lc, 1, true);
        dfr_deferred_add_both(d, done_cb, &done, nullptr);
        c.advance(1);
        CHECK(ctx.calls == 2);
        CHECK(done.fired == 1);
        CHECK(dfr_reactor_pending_calls(c.r) == 0);
        c.advance(5);
        CHECK(ctx.calls == 2);
        dfr_deferred_unref(d);
    }
    SECTION("while fn's deferred is pending, which then fires")
    {
        Counter n;
        n.next = dfr_deferred_new();
        dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
        dfr_deferred *d = dfr_looping_call_start(lc, 1, true);
        dfr_deferred_add_both(d, done_cb, &done, nullptr);
        dfr_looping_call_unref(lc);
        CHECK(done.fired == 0);
        dfr_deferred_callback(n.next, dfr_none());
        CHECK(done.fired == 1);
        CHECK(dfr_reactor_pending_calls(c.r) == 0);
        c.advance(5);
        CHECK(n.calls == 1);
        dfr_deferred_unref(n.next);
        dfr_deferred_unref(d);
    }
    SECTION("while fn's deferred is pending, which is dropped unfired")
    {
        Counter n;
        n.next = dfr_deferred_new();
        dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
        dfr_deferred *d = dfr_looping_call_start(lc, 1, true);
        dfr_looping_call_unref(lc);
        dfr_deferred_unref(n.next); // nothing can fire it any more
        CHECK(dfr_deferred_state(d) == DFR_PENDING);
        dfr_deferred_unref(d); // and the test's leak check must find nothing
    }
}

// Starting again after a stop while the previous run still waits on fn's
// deferred: the old run must neither resurrect a second schedule nor leak.
TEST_CASE("start again while the stopped run still waits on fn's deferred", "[looping]")
{
    Clock c;
    Counter n;
    n.next = dfr_deferred_new();
    n.next_on = 1;
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
    Done first, second;
    dfr_deferred *d1 = dfr_looping_call_start(lc, 1, true);
    dfr_deferred_add_both(d1, done_cb, &first, nullptr);
    dfr_looping_call_stop(lc);
    dfr_deferred *d2 = dfr_looping_call_start(lc, 1, false);
    REQUIRE(d2 != nullptr);
    if (dfr_deferred_state(d2) == DFR_PENDING) {
        dfr_deferred_add_both(d2, done_cb, &second, nullptr);
        dfr_deferred_callback(n.next, dfr_none()); // the first run is over
        CHECK(first.fired == 1);
        CHECK(second.fired == 0);
        c.advance(1);
        CHECK(n.calls == 2); // one schedule only
        CHECK(dfr_reactor_pending_calls(c.r) == 1);
        dfr_looping_call_stop(lc);
        CHECK(second.fired == 1);
    } else {
        // Refused until the previous run has finished.
        CHECK(test::state(d2) == test::fail_text(DFR_DOMAIN, DFR_EALREADY_RUNNING));
        dfr_deferred_add_errback(d2, swallow, nullptr, nullptr);
        dfr_deferred_callback(n.next, dfr_none());
        CHECK(first.fired == 1);
    }
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    dfr_looping_call_unref(lc);
    dfr_deferred_unref(n.next);
    dfr_deferred_unref(d1);
    dfr_deferred_unref(d2);
}

TEST_CASE("LoopingCall bad input", "[looping][bad-input]")
{
    Clock c;
    int destroyed = 0;
    CHECK(dfr_looping_call_new(nullptr, counting, &destroyed, test::count_destroy) == nullptr);
    CHECK(dfr_looping_call_new(c.r, nullptr, &destroyed, test::count_destroy) == nullptr);
    CHECK(destroyed == 2);
    CHECK(test::refused_with(dfr_looping_call_start(nullptr, 1, true), DFR_EINVAL));
    CHECK(dfr_looping_call_stop(nullptr) == DFR_EINVAL);
    CHECK(dfr_looping_call_reset(nullptr) == DFR_EINVAL);
    CHECK_FALSE(dfr_looping_call_running(nullptr));
    dfr_looping_call_unref(nullptr);
    Counter n;
    dfr_looping_call *lc = dfr_looping_call_new(c.r, counting, &n, nullptr);
    CHECK(dfr_looping_call_stop(lc) == DFR_EINVAL);  // not running
    CHECK(dfr_looping_call_reset(lc) == DFR_EINVAL); // not running
    dfr_looping_call_unref(lc);
    CHECK(n.calls == 0);
}

// The allocation-failure loop; fn's deferreds (when it returns any) are
// the test's own, fired after each step, so every run finishes.
TEST_CASE("allocation failures: LoopingCall start, run and stop", "[looping][alloc]")
{
    bool with_deferred = GENERATE(false, true);
    test::for_each_allocation_failure([with_deferred](long) {
        dfr_reactor *r = test::new_reactor(true);
        if (!r)
            return;
        int destroyed = 0;
        struct Ctx {
            bool with_deferred;
            std::vector<dfr_deferred *> pending;
            void fire_all()
            {
                for (auto *p : pending) {
                    dfr_deferred_callback(p, dfr_none());
                    dfr_deferred_unref(p);
                }
                pending.clear();
            }
        } ctx{with_deferred, {}};
        dfr_looping_call *lc = dfr_looping_call_new(r, [](void *data) -> dfr_value {
            auto *x = static_cast<Ctx *>(data);
            if (!x->with_deferred)
                return dfr_none();
            dfr_deferred *d = dfr_deferred_new();
            if (!d)
                return dfr_value_failure(test::failure(99, "no memory for my deferred"));
            x->pending.push_back(dfr_deferred_ref(d));
            return dfr_value_deferred(d);
        }, &ctx, nullptr);
        dfr_looping_call *other = dfr_looping_call_new(r, [](void *) -> dfr_value { return dfr_none(); },
                                                       &destroyed, test::count_destroy);
        if (!other)
            CHECK(destroyed == 1);
        Recorder seen;
        dfr_deferred *d = lc ? dfr_looping_call_start(lc, 0.5, true) : nullptr;
        if (d)
            dfr_deferred_add_both(d, test::record_and_handle, &seen, nullptr);
        dfr_deferred *d2 = other ? dfr_looping_call_start(other, 0.25, false) : nullptr;
        if (d2)
            dfr_deferred_add_both(d2, test::record_and_handle, &seen, nullptr);
        for (int i = 0; i < 6; i++) {
            dfr_reactor_advance(r, 0.25);
            ctx.fire_all();
        }
        dfr_looping_call_stop(lc);
        dfr_looping_call_stop(other);
        ctx.fire_all();
        if (d)
            CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
        dfr_looping_call_unref(lc);
        dfr_looping_call_unref(other);
        CHECK(destroyed == 1);
        dfr_deferred_unref(d);
        dfr_deferred_unref(d2);
        dfr_reactor_free(r);
    });
}

// ---- a LoopingCall outlives its reactor (issue 11, defect 4) ----
// Every order of frees: reactor first (idle, running, waiting on fn's
// deferred), LoopingCall first, and frees from inside callbacks.

namespace {

dfr_reactor *manual_reactor()
{
    return test::new_reactor(true);
}

const std::string not_running = test::fail_text(DFR_DOMAIN, DFR_ENOTRUNNING);

// After its reactor is gone, every call on lc answers and touches nothing.
void check_orphaned(dfr_looping_call *lc)
{
    CHECK_FALSE(dfr_looping_call_running(lc));
    CHECK(dfr_looping_call_reset(lc) == DFR_ENOTRUNNING);
    CHECK(dfr_looping_call_stop(lc) == DFR_ENOTRUNNING);
    dfr_deferred *d = dfr_looping_call_start(lc, 1, true);
    CHECK(test::state(d) == not_running);
    dfr_deferred_add_errback(d, swallow, nullptr, nullptr);
    dfr_deferred_unref(d);
}

} // namespace

TEST_CASE("LoopingCall: the reactor is freed first", "[looping][lifetime]")
{
    int destroyed = 0;
    Counter n;
    SECTION("running, a call scheduled")
    {
        dfr_reactor *r = manual_reactor();
        dfr_looping_call *lc = dfr_looping_call_new(r, counting, &n, nullptr);
        dfr_deferred *d = dfr_looping_call_start(lc, 1, true);
        test::Recorder seen;
        dfr_deferred_add_both(d, test::record_and_handle, &seen, nullptr);
        dfr_reactor_free(r);
        CHECK(seen.seen == std::vector<std::string>{not_running});
        CHECK(n.calls == 1);
        check_orphaned(lc);
        dfr_looping_call_unref(lc);
        dfr_deferred_unref(d);
    }
    SECTION("running, waiting on fn's deferred")
    {
        dfr_reactor *r = manual_reactor();
        n.next = dfr_deferred_new();
        dfr_looping_call *lc = dfr_looping_call_new(r, counting, &n, nullptr);
        dfr_deferred *d = dfr_looping_call_start(lc, 1, true);
        dfr_reactor_free(r);
        CHECK(test::state(d) == not_running);
        dfr_deferred_add_errback(d, swallow, nullptr, nullptr);
        check_orphaned(lc);
        dfr_deferred_callback(n.next, dfr_none()); // late: nothing to schedule on
        CHECK(n.calls == 1);
        dfr_looping_call_unref(lc);
        dfr_deferred_unref(n.next);
        dfr_deferred_unref(d);
    }
    SECTION("never started; its data is released at its own free")
    {
        dfr_reactor *r = manual_reactor();
        dfr_looping_call *lc = dfr_looping_call_new(r, counting, &destroyed, test::count_destroy);
        dfr_reactor_free(r);
        check_orphaned(lc);
        CHECK(destroyed == 0);
        dfr_looping_call_unref(lc);
        CHECK(destroyed == 1);
    }
    SECTION("the start deferred's errback frees the LoopingCall")
    {
        dfr_reactor *r = manual_reactor();
        dfr_looping_call *lc = dfr_looping_call_new(r, counting, &destroyed, test::count_destroy);
        dfr_deferred *d = dfr_looping_call_start(lc, 1, false);
        dfr_deferred_add_errback(d, [](dfr_value v, void *data) {
            dfr_looping_call_unref(static_cast<dfr_looping_call *>(data));
            dfr_value_drop(v);
            return dfr_none();
        }, lc, nullptr);
        dfr_reactor_free(r);
        CHECK(destroyed == 1);
        dfr_deferred_unref(d);
    }
}

TEST_CASE("LoopingCall: freed first, then the reactor", "[looping][lifetime]")
{
    int destroyed = 0;
    dfr_reactor *r = manual_reactor();
    dfr_looping_call *lc = dfr_looping_call_new(r, counting, &destroyed, test::count_destroy);
    dfr_deferred *d = dfr_looping_call_start(lc, 1, false);
    dfr_looping_call_unref(lc);
    CHECK(destroyed == 1);
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    dfr_reactor_free(r);
    dfr_deferred_unref(d);
}

TEST_CASE("LoopingCall: fn frees the reactor", "[looping][lifetime]")
{
    struct Ctx {
        dfr_reactor *r;
        int calls = 0;
    } ctx{manual_reactor()};
    dfr_looping_call *lc = dfr_looping_call_new(ctx.r, [](void *data) {
        auto *c = static_cast<Ctx *>(data);
        if (++c->calls == 2)
            dfr_reactor_free(c->r); // freed when advance returns
        return dfr_none();
    }, &ctx, nullptr);
    dfr_deferred *d = dfr_looping_call_start(lc, 1, true);
    dfr_reactor_advance(ctx.r, 1);
    CHECK(ctx.calls == 2);
    CHECK(test::state(d) == not_running);
    dfr_deferred_add_errback(d, swallow, nullptr, nullptr);
    check_orphaned(lc);
    dfr_looping_call_unref(lc);
    dfr_deferred_unref(d);
}
