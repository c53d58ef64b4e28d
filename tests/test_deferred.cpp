// The Deferred: callback/errback flow, firing, pause, maybeDeferred, bad
// input, the destroy rule and unhandled errors.  TWISTED_BEHAVIOURS S01-S08,
// S24; twisted/test/test_defer.py as named above each case.
#include <catch2/catch.hpp>

#include "recorder.h"
#include "support.h"

#include <thread>

using test::Recorder;
using test::show;

namespace {

dfr_value plus_one(dfr_value v, void *) { return dfr_i64(v.u.i64 + 1); }

dfr_value fail_with(dfr_value v, void *code)
{
    dfr_value_drop(v);
    return dfr_value_failure(test::failure(static_cast<int>(reinterpret_cast<intptr_t>(code))));
}

void *code(int c) { return reinterpret_cast<void *>(static_cast<intptr_t>(c)); }

} // namespace

// testCallbackWithArgs / testCallbackWithKwArgs: data travels with the callback.
TEST_CASE("S01 a callback gets its data and its result goes to the next", "[deferred][S01]")
{
    struct Ctx {
        std::string extra;
        std::string got;
    } ctx{"world", ""};
    Recorder after;
    dfr_deferred *d = dfr_deferred_new();
    REQUIRE(dfr_deferred_add_callback(
                d,
                [](dfr_value v, void *data) -> dfr_value {
                    auto *c = static_cast<Ctx *>(data);
                    c->got = show(v) + "+" + c->extra;
                    return dfr_i64(v.u.i64 * 10);
                },
                &ctx, nullptr) == 0);
    REQUIRE(dfr_deferred_add_callback(d, test::record_and_handle, &after, nullptr) == 0);
    REQUIRE(dfr_deferred_callback(d, dfr_i64(4)) == 0);
    CHECK(ctx.got == "i64 4+world");
    CHECK(after.seen == std::vector<std::string>{"i64 40"});
    CHECK(test::state(d) == "none");
    dfr_deferred_unref(d);
}

// testCallbackErrors and _runCallbacks: path switching.
TEST_CASE("S02 the path switches between callbacks and errbacks", "[deferred][S02]")
{
    Recorder log, skipped;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_callback(d, fail_with, code(1), nullptr);            // 1: fails
    dfr_deferred_add_callback(d, test::record, &skipped, nullptr);         // 2: skipped
    dfr_deferred_add_errback(d, test::record_and_handle, &log, nullptr);   // 3: handles
    dfr_deferred_add_callbacks(d, [](dfr_value v, void *data) -> dfr_value {
        test::record(v, data);
        dfr_value_drop(v);
        return dfr_i64(99);
    }, test::record, &log, nullptr);                                      // 4: cb runs
    dfr_deferred_add_callback(d, fail_with, code(2), nullptr);            // 5: returns failure
    dfr_deferred_add_errback(d, [](dfr_value v, void *data) -> dfr_value { // 6: fails again
        test::record(v, data);
        dfr_value_drop(v);
        return dfr_value_failure(test::failure(3));
    }, &log, nullptr);
    dfr_deferred_add_errback(d, test::record_and_handle, &log, nullptr);   // 7
    REQUIRE(dfr_deferred_callback(d, dfr_i64(0)) == 0);
    CHECK(skipped.seen.empty());
    CHECK(log.seen == std::vector<std::string>{"fail test 1", "none", "fail test 2", "fail test 3"});
    CHECK(test::state(d) == "none");
    dfr_deferred_unref(d);
}

// S03: a failure value given to callback takes the errback path.
TEST_CASE("S03 callback with a failure value behaves like errback", "[deferred][S03]")
{
    Recorder cb, eb;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_callbacks(d, test::record, test::record_and_handle, &eb, nullptr);
    dfr_deferred_add_callback(d, test::record, &cb, nullptr);
    REQUIRE(dfr_deferred_callback(d, dfr_value_failure(test::failure(7))) == 0);
    CHECK(eb.seen == std::vector<std::string>{"fail test 7"});
    CHECK(cb.seen == std::vector<std::string>{"none"});
    dfr_deferred_unref(d);
}

TEST_CASE("S03 firing with a deferred value is DFR_EINVAL and drops the value", "[deferred][S03]")
{
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred *other = dfr_deferred_new();
    CHECK(dfr_deferred_callback(d, dfr_value_deferred(dfr_deferred_ref(other))) == DFR_EINVAL);
    CHECK(dfr_deferred_state(d) == DFR_PENDING);
    dfr_deferred_unref(other); // the reference given away was dropped: this is the last
    dfr_deferred_unref(d);
}

// testAlreadyCalled_CC/CE/EC/EE.
TEST_CASE("S04 firing twice is DFR_EALREADY and keeps the first result", "[deferred][S04]")
{
    bool first_ok = GENERATE(true, false);
    bool second_ok = GENERATE(true, false);
    test::UnhandledCapture unhandled;
    dfr_deferred *d = dfr_deferred_new();
    if (first_ok)
        REQUIRE(dfr_deferred_callback(d, dfr_i64(1)) == 0);
    else
        REQUIRE(dfr_deferred_errback(d, test::failure(1)) == 0);
    int rc = second_ok ? dfr_deferred_callback(d, dfr_i64(2)) : dfr_deferred_errback(d, test::failure(2));
    CHECK(rc == DFR_EALREADY);
    CHECK(test::state(d) == (first_ok ? "i64 1" : "fail test 1"));
    dfr_deferred_unref(d);
    CHECK(unhandled.count() == (first_ok ? 0 : 1));
}

// testImmediateSuccess / testImmediateFailure.
TEST_CASE("S05 succeed and fail fire at once", "[deferred][S05]")
{
    Recorder r;
    dfr_deferred *s = dfr_succeed(dfr_bytes_new("success", 7));
    REQUIRE(dfr_deferred_add_callback(s, test::record, &r, nullptr) == 0);
    CHECK(r.seen == std::vector<std::string>{"bytes success"});
    CHECK(dfr_deferred_state(s) == DFR_SUCCEEDED);

    dfr_deferred *f = dfr_fail(dfr_failure_new("test", 1, "fail"));
    CHECK(dfr_deferred_state(f) == DFR_FAILED);
    std::string message;
    REQUIRE(dfr_deferred_add_errback(
                f,
                [](dfr_value v, void *data) -> dfr_value {
                    *static_cast<std::string *>(data) = dfr_failure_message(dfr_failure_from(&v));
                    dfr_value_drop(v);
                    return dfr_none();
                },
                &message, nullptr) == 0);
    CHECK(message == "fail");
    dfr_deferred_unref(s);
    dfr_deferred_unref(f);
}

// test_reentrantRunCallbacks, test_nonReentrantCallbacks.
TEST_CASE("S06 a callback added from a running callback runs in the same pass, later", "[deferred][S06]")
{
    struct Ctx {
        dfr_deferred *d;
        std::vector<int> order;
        std::vector<int> inside; // the order as seen right after adding cb3
    } ctx{};
    ctx.d = dfr_deferred_new();
    dfr_deferred_add_callback(ctx.d, [](dfr_value v, void *data) -> dfr_value {
        auto *c = static_cast<Ctx *>(data);
        c->order.push_back(1);
        dfr_deferred_add_callback(c->d, [](dfr_value v2, void *data2) -> dfr_value {
            static_cast<Ctx *>(data2)->order.push_back(3);
            return v2;
        }, c, nullptr);
        c->inside = c->order;
        return v;
    }, &ctx, nullptr);
    dfr_deferred_add_callback(ctx.d, [](dfr_value v, void *data) -> dfr_value {
        static_cast<Ctx *>(data)->order.push_back(2);
        return v;
    }, &ctx, nullptr);
    REQUIRE(dfr_deferred_callback(ctx.d, dfr_none()) == 0);
    CHECK(ctx.inside == std::vector<int>{1});
    CHECK(ctx.order == std::vector<int>{1, 2, 3});
    dfr_deferred_unref(ctx.d);
}

// test_reentrantRunCallbacksWithFailure.
TEST_CASE("S06 a failing callback added re-entrantly reaches a later errback", "[deferred][S06]")
{
    struct Ctx {
        dfr_deferred *d;
        Recorder eb;
    } ctx{};
    ctx.d = dfr_deferred_new();
    dfr_deferred_add_callback(ctx.d, [](dfr_value v, void *data) -> dfr_value {
        auto *c = static_cast<Ctx *>(data);
        dfr_deferred_add_callback(c->d, fail_with, code(5), nullptr);
        return v;
    }, &ctx, nullptr);
    REQUIRE(dfr_deferred_callback(ctx.d, dfr_none()) == 0);
    dfr_deferred_add_errback(ctx.d, test::record_and_handle, &ctx.eb, nullptr);
    CHECK(ctx.eb.seen == std::vector<std::string>{"fail test 5"});
    dfr_deferred_unref(ctx.d);
}

// testPausedFailure, testUnpauseBeforeCallback.
TEST_CASE("S07 pause is counted", "[deferred][S07]")
{
    Recorder r;
    dfr_deferred *d = dfr_deferred_new();
    REQUIRE(dfr_deferred_pause(d) == 0);
    REQUIRE(dfr_deferred_pause(d) == 0);
    dfr_deferred_add_callback(d, test::record, &r, nullptr);
    REQUIRE(dfr_deferred_callback(d, dfr_i64(1)) == 0);
    CHECK(r.seen.empty());
    CHECK(dfr_deferred_paused(d) == 2);
    REQUIRE(dfr_deferred_unpause(d) == 0);
    CHECK(r.seen.empty());
    CHECK(dfr_deferred_paused(d) == 1);
    REQUIRE(dfr_deferred_unpause(d) == 0);
    CHECK(r.seen == std::vector<std::string>{"i64 1"});
    dfr_deferred_unref(d);

    // A paused failed deferred runs no errback until unpaused.
    Recorder eb;
    dfr_deferred *f = dfr_fail(test::failure(2));
    dfr_deferred_pause(f);
    dfr_deferred_add_errback(f, test::record_and_handle, &eb, nullptr);
    CHECK(eb.seen.empty());
    dfr_deferred_unpause(f);
    CHECK(eb.seen == std::vector<std::string>{"fail test 2"});
    dfr_deferred_unref(f);

    // pause + unpause before firing leaves it unpaused and not called.
    dfr_deferred *e = dfr_deferred_new();
    dfr_deferred_pause(e);
    dfr_deferred_unpause(e);
    CHECK(dfr_deferred_paused(e) == 0);
    CHECK(dfr_deferred_state(e) == DFR_PENDING);
    dfr_deferred_unref(e);
}

// S08, where we differ (design.md): a pause inside a callback stops the chain
// right after it, and an unbalanced unpause is refused.
TEST_CASE("S08 pausing inside a callback stops the next queued callback", "[deferred][S08]")
{
    struct Ctx {
        dfr_deferred *d;
        Recorder r;
    } ctx{};
    ctx.d = dfr_deferred_new();
    dfr_deferred_add_callback(ctx.d, [](dfr_value v, void *data) -> dfr_value {
        auto *c = static_cast<Ctx *>(data);
        dfr_deferred_pause(c->d);
        c->r.seen.push_back("cb1");
        return v;
    }, &ctx, nullptr);
    dfr_deferred_add_callback(ctx.d, test::record, &ctx.r, nullptr);
    REQUIRE(dfr_deferred_callback(ctx.d, dfr_i64(1)) == 0);
    CHECK(ctx.r.seen == std::vector<std::string>{"cb1"});
    CHECK(dfr_deferred_paused(ctx.d) == 1);
    REQUIRE(dfr_deferred_unpause(ctx.d) == 0);
    CHECK(ctx.r.seen == std::vector<std::string>{"cb1", "i64 1"});
    dfr_deferred_unref(ctx.d);
}

TEST_CASE("S08 an unbalanced unpause is DFR_EINVAL and changes nothing", "[deferred][S08]")
{
    Recorder r;
    dfr_deferred *d = dfr_deferred_new();
    CHECK(dfr_deferred_unpause(d) == DFR_EINVAL);
    CHECK(dfr_deferred_paused(d) == 0);
    dfr_deferred_add_callback(d, test::record, &r, nullptr);
    dfr_deferred_callback(d, dfr_i64(3));
    CHECK(r.seen == std::vector<std::string>{"i64 3"}); // not blocked, unlike Twisted's -1
    dfr_deferred_unref(d);
}

// test_maybeDeferredSync, ...SyncError, ...AsyncDeferred.
TEST_CASE("S24 maybe_deferred wraps plain values, failures and deferreds", "[deferred][S24]")
{
    dfr_deferred *d = dfr_maybe_deferred([](void *) -> dfr_value { return dfr_i64(15); }, nullptr);
    CHECK(test::state(d) == "i64 15");
    dfr_deferred_unref(d);

    dfr_deferred *f = dfr_maybe_deferred([](void *) -> dfr_value {
        return dfr_value_failure(test::failure(9));
    }, nullptr);
    CHECK(test::state(f) == "fail test 9");
    Recorder eb;
    dfr_deferred_add_errback(f, test::record_and_handle, &eb, nullptr);
    dfr_deferred_unref(f);

    dfr_deferred *x = dfr_deferred_new();
    dfr_deferred *same = dfr_maybe_deferred([](void *data) -> dfr_value {
        return dfr_value_deferred(dfr_deferred_ref(static_cast<dfr_deferred *>(data)));
    }, x);
    CHECK(same == x);
    dfr_deferred_unref(same);
    dfr_deferred_unref(x);

    dfr_deferred *bad = dfr_maybe_deferred(nullptr, nullptr);
    CHECK(test::state(bad) == test::fail_text(DFR_DOMAIN, DFR_EINVAL));
    dfr_deferred_add_errback(bad, test::record_and_handle, &eb, nullptr);
    dfr_deferred_unref(bad);
}

TEST_CASE("state and result: pending, succeeded, failed", "[deferred]")
{
    dfr_deferred *d = dfr_deferred_new();
    CHECK(dfr_deferred_state(d) == DFR_PENDING);
    CHECK(dfr_deferred_result(d) == nullptr);
    dfr_deferred_callback(d, dfr_i64(2));
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    CHECK(dfr_deferred_result(d)->u.i64 == 2);
    dfr_deferred_add_callback(d, fail_with, code(1), nullptr);
    CHECK(dfr_deferred_state(d) == DFR_FAILED);
    Recorder eb;
    dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
    dfr_deferred_unref(d);
}

TEST_CASE("bad input never crashes and returns a clear code", "[deferred][bad-input]")
{
    int destroyed = 0;
    CHECK(dfr_deferred_add_callbacks(nullptr, plus_one, nullptr, &destroyed, test::count_destroy) == DFR_EINVAL);
    CHECK(destroyed == 1);
    dfr_deferred *d = dfr_deferred_new();
    CHECK(dfr_deferred_add_callback(d, nullptr, &destroyed, test::count_destroy) == DFR_EINVAL);
    CHECK(dfr_deferred_add_errback(d, nullptr, &destroyed, test::count_destroy) == DFR_EINVAL);
    CHECK(dfr_deferred_add_both(d, nullptr, &destroyed, test::count_destroy) == DFR_EINVAL);
    CHECK(destroyed == 4);
    CHECK(dfr_deferred_callback(nullptr, dfr_bytes_new("x", 1)) == DFR_EINVAL); // value dropped
    CHECK(dfr_deferred_errback(nullptr, test::failure(1)) == DFR_EINVAL);        // failure released
    CHECK(dfr_deferred_errback(d, nullptr) == DFR_EINVAL);
    CHECK(dfr_deferred_pause(nullptr) == DFR_EINVAL);
    CHECK(dfr_deferred_unpause(nullptr) == DFR_EINVAL);
    CHECK(dfr_deferred_chain(nullptr, d) == DFR_EINVAL);
    CHECK(dfr_deferred_chain(d, nullptr) == DFR_EINVAL);
    CHECK(dfr_deferred_state(nullptr) == DFR_EINVAL);
    CHECK(dfr_deferred_result(nullptr) == nullptr);
    CHECK(dfr_deferred_paused(nullptr) == DFR_EINVAL);
    CHECK(dfr_fail(nullptr) == nullptr);
    dfr_deferred_cancel(nullptr);
    dfr_deferred_unref(nullptr);
    CHECK(dfr_deferred_ref(nullptr) == nullptr);
    // Both NULL in add_callbacks is a pass-through link, allowed.
    CHECK(dfr_deferred_add_callbacks(d, nullptr, nullptr, &destroyed, test::count_destroy) == 0);
    dfr_deferred_callback(d, dfr_i64(1));
    CHECK(destroyed == 5);
    CHECK(test::state(d) == "i64 1");
    dfr_deferred_unref(d);
}

TEST_CASE("destroy runs exactly once in every path", "[deferred][destroy]")
{
    int destroyed = 0;
    SECTION("after the callback ran")
    {
        dfr_deferred *d = dfr_deferred_new();
        dfr_deferred_add_callback(d, plus_one, &destroyed, test::count_destroy);
        CHECK(destroyed == 0);
        dfr_deferred_callback(d, dfr_i64(1));
        CHECK(destroyed == 1);
        dfr_deferred_unref(d);
    }
    SECTION("an errback skipped on the callback path")
    {
        dfr_deferred *d = dfr_deferred_new();
        dfr_deferred_add_errback(d, plus_one, &destroyed, test::count_destroy);
        dfr_deferred_callback(d, dfr_i64(1));
        CHECK(destroyed == 1);
        dfr_deferred_unref(d);
    }
    SECTION("the deferred is freed with callbacks pending")
    {
        dfr_deferred *d = dfr_deferred_new();
        for (int i = 0; i < 10; i++)
            dfr_deferred_add_callback(d, plus_one, &destroyed, test::count_destroy);
        dfr_deferred_unref(d);
        CHECK(destroyed == 10);
    }
    SECTION("the canceller's data")
    {
        dfr_deferred *d = dfr_deferred_new_cancellable([](dfr_deferred *, void *) {}, &destroyed,
                                                       test::count_destroy);
        dfr_deferred_callback(d, dfr_none());
        CHECK(destroyed == 1); // no canceller can run once there is a result
        dfr_deferred_unref(d);
        CHECK(destroyed == 1);
    }
    CHECK(destroyed >= 1);
}

TEST_CASE("the unhandled-error hook runs at the last unref of an unhandled failure", "[deferred][unhandled]")
{
    test::UnhandledCapture u;
    dfr_deferred *d = dfr_fail(dfr_failure_new("test", 4, "nobody"));
    dfr_deferred *keep = dfr_deferred_ref(d);
    dfr_deferred_unref(d);
    CHECK(u.count() == 0); // not the last reference yet
    dfr_deferred_unref(keep);
    REQUIRE(u.count() == 1);
    CHECK(u.messages[0] == "nobody");
    CHECK(u.codes[0] == 4);

    Recorder eb;
    dfr_deferred *h = dfr_fail(test::failure(5));
    dfr_deferred_add_errback(h, test::record_and_handle, &eb, nullptr);
    dfr_deferred_unref(h);
    CHECK(u.count() == 1); // handled: no report
}

TEST_CASE("unref from another thread is allowed", "[deferred][threads]")
{
    dfr_deferred *d = dfr_succeed(dfr_bytes_new("x", 1));
    std::thread t([d] { dfr_deferred_unref(d); });
    t.join();
}
