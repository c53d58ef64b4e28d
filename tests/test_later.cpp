// deferLater and addTimeout on the manual clock.  TWISTED_BEHAVIOURS S39,
// S52; twisted/test/test_defer.py DeferredAddTimeoutTests,
// twisted/test/test_task.py DeferLaterTests.
#include <catch2/catch.hpp>

#include "reactor_support.h"
#include "recorder.h"
#include "support.h"

using test::Clock;
using test::Recorder;

namespace {
const std::string timed_out = test::fail_text(DFR_DOMAIN, DFR_ETIMEDOUT);
const std::string cancelled = test::fail_text(DFR_DOMAIN, DFR_ECANCELLED);
} // namespace

TEST_CASE("S39 addTimeout fires DFR_ETIMEDOUT at the deadline", "[later][S39]")
{
    Clock c;
    Recorder eb;
    dfr_deferred *d = dfr_deferred_new();
    REQUIRE(dfr_deferred_add_timeout(d, c.r, 10) == 0);
    dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
    c.advance(9.999);
    CHECK(eb.seen.empty());
    c.advance(0.001);
    CHECK(eb.seen == std::vector<std::string>{timed_out});
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    dfr_deferred_unref(d);
}

TEST_CASE("S39 a canceller's own result wins over the timeout", "[later][S39]")
{
    Clock c;
    bool with_callback = GENERATE(true, false);
    Recorder r;
    dfr_deferred *d = dfr_deferred_new_cancellable(
        with_callback ? [](dfr_deferred *x, void *) { dfr_deferred_callback(x, dfr_bytes_new("I was cancelled!", 16)); }
                      : [](dfr_deferred *x, void *) { dfr_deferred_errback(x, test::failure(7)); },
        nullptr, nullptr);
    dfr_deferred_add_timeout(d, c.r, 10);
    dfr_deferred_add_both(d, test::record_and_handle, &r, nullptr);
    c.advance(10);
    CHECK(r.seen == std::vector<std::string>{with_callback ? "bytes I was cancelled!" : "fail test 7"});
    dfr_deferred_unref(d);
}

TEST_CASE("S39 fired before the timeout: the timer goes, later waits are not cancelled", "[later][S39]")
{
    Clock c;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred_add_timeout(d, c.r, 10);
    dfr_deferred_callback(d, dfr_none());
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    dfr_deferred_add_callback(d, [](dfr_value v, void *data) -> dfr_value {
        dfr_value_drop(v);
        return dfr_value_deferred(dfr_deferred_ref(static_cast<dfr_deferred *>(data)));
    }, inner, nullptr);
    c.advance(15);
    CHECK(dfr_deferred_state(inner) == DFR_PENDING);
    dfr_deferred_callback(inner, dfr_none());
    dfr_deferred_unref(d);
    dfr_deferred_unref(inner);
}

TEST_CASE("S39 a manual cancel before the timeout stays DFR_ECANCELLED", "[later][S39]")
{
    Clock c;
    Recorder eb;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_timeout(d, c.r, 10);
    dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
    dfr_deferred_cancel(d);
    CHECK(eb.seen == std::vector<std::string>{cancelled});
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    dfr_deferred_unref(d);
}

TEST_CASE("S39 an errback added before addTimeout sees DFR_ECANCELLED", "[later][S39]")
{
    Clock c;
    bool trap = GENERATE(false, true);
    Recorder early, late;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_errback(d, trap ? test::record_and_handle : test::record, &early, nullptr);
    dfr_deferred_add_timeout(d, c.r, 10);
    dfr_deferred_add_both(d, test::record_and_handle, &late, nullptr);
    c.advance(10);
    CHECK(early.seen == std::vector<std::string>{cancelled});
    CHECK(late.seen == std::vector<std::string>{trap ? "none" : timed_out});
    dfr_deferred_unref(d);
}

TEST_CASE("S39 freeing the deferred stops its timer", "[later][S39]")
{
    Clock c;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_timeout(d, c.r, 10);
    dfr_deferred_unref(d);
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    c.advance(20);
    CHECK(dfr_deferred_add_timeout(nullptr, c.r, 1) == DFR_EINVAL);
    dfr_deferred *e = dfr_deferred_new();
    CHECK(dfr_deferred_add_timeout(e, c.r, -1) == DFR_EINVAL);
    CHECK(dfr_deferred_add_timeout(e, nullptr, 1) == DFR_EINVAL);
    dfr_deferred_unref(e);
}

TEST_CASE("S52 deferLater runs fn at the due time and fires with its result", "[later][S52]")
{
    Clock c;
    int destroyed = 0;
    struct Ctx {
        int calls = 0;
        int *destroyed;
    } ctx{0, &destroyed};
    Recorder r;
    dfr_deferred *d = dfr_defer_later(c.r, 3, [](void *data) -> dfr_value {
        static_cast<Ctx *>(data)->calls++;
        return dfr_bytes_new("foo", 3);
    }, &ctx, [](void *data) { ++*static_cast<Ctx *>(data)->destroyed; });
    dfr_deferred_add_callback(d, test::record, &r, nullptr);
    c.advance(2);
    CHECK(ctx.calls == 0);
    c.advance(1);
    CHECK(ctx.calls == 1);
    CHECK(destroyed == 1);
    CHECK(r.seen == std::vector<std::string>{"bytes foo"});
    dfr_deferred_unref(d);
}

TEST_CASE("S52 deferLater: failures, cancel, no fn, and a deferred from fn", "[later][S52]")
{
    Clock c;
    Recorder r;
    SECTION("a failing fn")
    {
        dfr_deferred *d = dfr_defer_later(c.r, 1, [](void *) -> dfr_value {
            return dfr_value_failure(test::failure(3));
        }, nullptr, nullptr);
        dfr_deferred_add_errback(d, test::record_and_handle, &r, nullptr);
        c.advance(1);
        CHECK(r.seen == std::vector<std::string>{"fail test 3"});
        dfr_deferred_unref(d);
    }
    SECTION("cancel before the due time")
    {
        int calls = 0, destroyed = 0;
        dfr_deferred *d = dfr_defer_later(c.r, 1, [](void *data) -> dfr_value {
            ++*static_cast<int *>(data);
            return dfr_none();
        }, &calls, nullptr);
        dfr_deferred *e = dfr_defer_later(c.r, 1, nullptr, &destroyed, test::count_destroy);
        dfr_deferred_add_errback(d, test::record_and_handle, &r, nullptr);
        dfr_deferred_cancel(d);
        CHECK(r.seen == std::vector<std::string>{cancelled});
        CHECK(dfr_reactor_pending_calls(c.r) == 1);
        c.advance(2);
        CHECK(calls == 0);
        CHECK(test::state(e) == "none");
        CHECK(destroyed == 1);
        dfr_deferred_unref(d);
        dfr_deferred_unref(e);
    }
    SECTION("fn returns a deferred: the result chains")
    {
        dfr_deferred *inner = dfr_deferred_new();
        dfr_deferred *d = dfr_defer_later(c.r, 1, [](void *data) -> dfr_value {
            return dfr_value_deferred(dfr_deferred_ref(static_cast<dfr_deferred *>(data)));
        }, inner, nullptr);
        dfr_deferred_add_callback(d, test::record, &r, nullptr);
        c.advance(1);
        CHECK(r.seen.empty());
        dfr_deferred_callback(inner, dfr_i64(6));
        CHECK(r.seen == std::vector<std::string>{"i64 6"});
        dfr_deferred_unref(d);
        dfr_deferred_unref(inner);
    }
    SECTION("bad input")
    {
        int destroyed = 0;
        CHECK(dfr_defer_later(c.r, -1, nullptr, &destroyed, test::count_destroy) == nullptr);
        CHECK(dfr_defer_later(nullptr, 1, nullptr, &destroyed, test::count_destroy) == nullptr);
        CHECK(destroyed == 2);
    }
}

TEST_CASE("allocation failures: deferLater, addTimeout, LoopingCall, triggers", "[later][alloc]")
{
    test::for_each_allocation_failure([](long) {
        dfr_reactor_options o = {};
        o.size = sizeof o;
        o.manual_clock = true;
        dfr_reactor *r = dfr_reactor_new(&o);
        if (!r)
            return;
        int destroyed = 0;
        Recorder seen;
        dfr_deferred *later = dfr_defer_later(r, 1, nullptr, &destroyed, test::count_destroy);
        if (!later)
            CHECK(destroyed == 1);
        dfr_deferred *d = dfr_deferred_new();
        if (d) {
            int rc = dfr_deferred_add_timeout(d, r, 1);
            CHECK((rc == 0 || rc == DFR_ENOMEM));
            dfr_deferred_add_both(d, test::record_and_handle, &seen, nullptr);
        }
        dfr_looping_call *lc = dfr_looping_call_new(r, [](void *) -> dfr_value { return dfr_none(); },
                                                    &destroyed, test::count_destroy);
        dfr_deferred *started = lc ? dfr_looping_call_start(lc, 0.5, true) : nullptr;
        if (started)
            dfr_deferred_add_both(started, test::record_and_handle, &seen, nullptr);
        int trc = dfr_add_system_event_trigger(r, DFR_BEFORE, DFR_SHUTDOWN,
                                               [](void *) -> dfr_value { return dfr_none(); },
                                               &destroyed, test::count_destroy, nullptr);
        CHECK((trc == 0 || trc == DFR_ENOMEM));
        dfr_reactor_advance(r, 1);
        dfr_reactor_advance(r, 1);
        if (later)
            dfr_deferred_add_both(later, test::record_and_handle, &seen, nullptr);
        dfr_looping_call_free(lc);
        dfr_deferred_unref(started);
        dfr_deferred_unref(later);
        dfr_deferred_unref(d);
        dfr_reactor_free(r);
    });
}
