// The Deferred: callback/errback flow, firing, pause, state and result,
// maybeDeferred, bad input, the destroy rule and unhandled errors.
// Behaviours S01-S08 and S24, ported from twisted/test/test_defer.py
// (the Twisted tests are named above each case).
#include <catch2/catch.hpp>

#include "recorder.h"
#include "support.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

using test::Recorder;
using test::show;

namespace {

using Seen = std::vector<std::string>;

dfr_value plus_one(dfr_value v, void *) { return dfr_i64(v.u.i64 + 1); }

void *code(int c) { return reinterpret_cast<void *>(static_cast<intptr_t>(c)); }

// Drop the result and fail with code `data`.
dfr_value fail_with(dfr_value v, void *c)
{
    dfr_value_drop(v);
    return dfr_value_failure(test::failure(static_cast<int>(reinterpret_cast<intptr_t>(c))));
}

using test::must_not_run;

using test::count_drop;
using test::counted;
using test::counted_value;
using test::drops;

// A failure whose release is visible: its payload is dropped with it.
dfr_failure *counted_failure(int c)
{
    dfr_failure *f = test::failure(c);
    dfr_failure_set_payload(f, counted_value(c));
    return f;
}

// Stores the failure pointer it sees, handles it.
dfr_value remember_failure(dfr_value v, void *data)
{
    *static_cast<const dfr_failure **>(data) = dfr_failure_from(&v);
    dfr_value_drop(v);
    return dfr_none();
}

} // namespace

// testCallbackWithoutArgs, testCallbackWithArgs, testCallbackWithKwArgs,
// testTwoCallbacks: data travels with the callback, results flow on.
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
                    std::string s(static_cast<const char *>(dfr_bytes_data(&v)), dfr_bytes_len(&v));
                    dfr_value_drop(v);
                    s += "!";
                    return dfr_bytes_new(s.data(), s.size());
                },
                &ctx, nullptr) == 0);
    REQUIRE(dfr_deferred_add_callback(d, test::record_and_handle, &after, nullptr) == 0);
    CHECK(ctx.got.empty());
    REQUIRE(dfr_deferred_callback(d, dfr_bytes_new("hello", 5)) == 0);
    CHECK(ctx.got == "bytes hello+world");
    CHECK(after.seen == Seen{"bytes hello!"});
    CHECK(test::state(d) == "none");
    dfr_deferred_unref(d);
}

// testCallbackErrors and the _runCallbacks rules: path switching.
TEST_CASE("S02 the path switches between callbacks and errbacks", "[deferred][S02]")
{
    Recorder log;
    int skipped = 0;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_callback(d, fail_with, code(3), nullptr);               // 1: "ZeroDivisionError"
    dfr_deferred_add_callback(d, must_not_run, &skipped, nullptr);           // 2: skipped
    dfr_deferred_add_errback(d, test::record_and_handle, &log, nullptr);     // 3: handles
    dfr_deferred_add_callbacks(d, [](dfr_value v, void *data) -> dfr_value { // 4: cb runs
        test::record(v, data);
        dfr_value_drop(v);
        return dfr_bytes_new("x", 1);
    }, must_not_run, &log, nullptr);
    dfr_deferred_add_callback(d, fail_with, code(1), nullptr);               // 5: returns a failure
    dfr_deferred_add_errback(d, [](dfr_value v, void *data) -> dfr_value {  // 6: fails again
        test::record(v, data);
        dfr_value_drop(v);
        return dfr_value_failure(test::failure(2));
    }, &log, nullptr);
    dfr_deferred_add_errback(d, test::record_and_handle, &log, nullptr);     // 7
    REQUIRE(dfr_deferred_callback(d, dfr_i64(0)) == 0);
    CHECK(skipped == 0);
    CHECK(log.seen == Seen{"fail test 3", "none", "fail test 1", "fail test 2"});
    CHECK(test::state(d) == "none");
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    dfr_deferred_unref(d);
}

// test_addCallbacksNoneErrback / ...NoneCallbackArgs: a NULL half passes through.
TEST_CASE("a NULL half of a pair passes the result through", "[deferred]")
{
    Recorder r;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_callbacks(d, nullptr, test::record_and_handle, &r, nullptr); // skipped on success
    dfr_deferred_add_callbacks(d, plus_one, nullptr, nullptr, nullptr);
    dfr_deferred_add_callbacks(d, nullptr, nullptr, nullptr, nullptr);
    dfr_deferred_add_callback(d, test::record, &r, nullptr);
    dfr_deferred_callback(d, dfr_i64(1));
    CHECK(r.seen == Seen{"i64 2"});

    Recorder e;
    dfr_deferred *f = dfr_deferred_new();
    dfr_deferred_add_callbacks(f, plus_one, nullptr, nullptr, nullptr); // skipped on failure
    dfr_deferred_add_errback(f, test::record_and_handle, &e, nullptr);
    dfr_deferred_errback(f, test::failure(1));
    CHECK(e.seen == Seen{"fail test 1"});
    dfr_deferred_unref(d);
    dfr_deferred_unref(f);
}

// S03: a failure value given to callback takes the errback path; errback
// hands the very failure to the errback.
TEST_CASE("S03 callback with a failure value behaves like errback", "[deferred][S03]")
{
    int cb_ran = 0;
    const dfr_failure *seen = nullptr;
    dfr_failure *f = test::failure(7);
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_callbacks(d, must_not_run, remember_failure, &seen, nullptr);
    dfr_deferred_add_callback(d, [](dfr_value v, void *data) -> dfr_value {
        ++*static_cast<int *>(data);
        return v;
    }, &cb_ran, nullptr);
    REQUIRE(dfr_deferred_callback(d, dfr_value_failure(f)) == 0);
    CHECK(seen == f);
    CHECK(cb_ran == 1); // the callback after the handling errback
    dfr_deferred_unref(d);
}

TEST_CASE("S03 errback gives the errback the same failure", "[deferred][S03]")
{
    int cb_ran = 0;
    const dfr_failure *seen = nullptr;
    dfr_failure *f = dfr_failure_new("test", 1, "x");
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_callbacks(d, must_not_run, remember_failure, &seen, nullptr);
    REQUIRE(dfr_deferred_errback(d, f) == 0);
    CHECK(seen == f);
    CHECK(cb_ran == 0);
    dfr_deferred_unref(d);
}

// S03 (differs from Twisted, design.md): firing with a deferred is refused.
TEST_CASE("S03 firing with a deferred value is DFR_EINVAL and drops the value", "[deferred][S03]")
{
    int destroyed = 0;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred *other = dfr_deferred_new();
    // other is freed when its only reference (the value) is dropped.
    dfr_deferred_add_callback(other, plus_one, &destroyed, test::count_destroy);
    CHECK(dfr_deferred_callback(d, dfr_value_deferred(other)) == DFR_EINVAL);
    CHECK(destroyed == 1);
    CHECK(dfr_deferred_state(d) == DFR_PENDING);
    CHECK(dfr_deferred_result(d) == nullptr);
    // d can still fire normally.
    CHECK(dfr_deferred_callback(d, dfr_i64(1)) == 0);
    CHECK(test::state(d) == "i64 1");
    dfr_deferred_unref(d);
}

// testAlreadyCalled_CC/CE/EC/EE.
TEST_CASE("S04 firing twice is DFR_EALREADY and keeps the first result", "[deferred][S04]")
{
    bool first_ok = GENERATE(true, false);
    bool second_ok = GENERATE(true, false);
    INFO((first_ok ? "C" : "E") << (second_ok ? "C" : "E"));
    drops = 0;
    test::UnhandledCapture unhandled;
    dfr_deferred *d = dfr_deferred_new();
    dfr_failure *first_failure = test::failure(1);
    dfr_value first_value = dfr_bytes_new("first", 5);
    void *first_ptr = first_ok ? first_value.u.ptr : static_cast<void *>(first_failure);
    if (first_ok) {
        dfr_failure_unref(first_failure);
        REQUIRE(dfr_deferred_callback(d, first_value) == 0);
    } else {
        dfr_value_drop(first_value);
        REQUIRE(dfr_deferred_errback(d, first_failure) == 0);
    }
    int rc = second_ok ? dfr_deferred_callback(d, counted_value(2))
                       : dfr_deferred_errback(d, counted_failure(2));
    CHECK(rc == DFR_EALREADY);
    CHECK(drops == 1); // the second argument was dropped
    CHECK(test::state(d) == (first_ok ? "bytes first" : "fail test 1"));
    REQUIRE(dfr_deferred_result(d) != nullptr);
    CHECK(dfr_deferred_result(d)->u.ptr == first_ptr);
    dfr_deferred_unref(d);
    CHECK(unhandled.count() == (first_ok ? 0 : 1));
}

// testImmediateSuccess / testImmediateFailure.
TEST_CASE("S05 succeed and fail fire at once", "[deferred][S05]")
{
    Recorder r;
    dfr_deferred *s = dfr_succeed(dfr_bytes_new("success", 7));
    REQUIRE(s != nullptr);
    CHECK(dfr_deferred_state(s) == DFR_SUCCEEDED);
    REQUIRE(dfr_deferred_add_callback(s, test::record, &r, nullptr) == 0);
    CHECK(r.seen == Seen{"bytes success"}); // before add_callback returned

    dfr_deferred *f = dfr_fail(dfr_failure_new("test", 1, "fail"));
    REQUIRE(f != nullptr);
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

TEST_CASE("S05 succeed with a failure fails; with a deferred gives it back", "[deferred][S05]")
{
    test::UnhandledCapture u;
    dfr_deferred *f = dfr_succeed(dfr_value_failure(test::failure(2)));
    CHECK(dfr_deferred_state(f) == DFR_FAILED);
    dfr_deferred_unref(f);
    CHECK(u.count() == 1);

    dfr_deferred *x = dfr_deferred_new();
    dfr_deferred *same = dfr_succeed(dfr_value_deferred(dfr_deferred_ref(x)));
    CHECK(same == x);
    CHECK(dfr_deferred_state(x) == DFR_PENDING);
    dfr_deferred_unref(same);
    dfr_deferred_unref(x);

    dfr_deferred *n = dfr_succeed(dfr_none());
    CHECK(dfr_deferred_state(n) == DFR_SUCCEEDED);
    CHECK(test::state(n) == "none");
    dfr_deferred_unref(n);
    CHECK(test::refused_with(dfr_fail(nullptr), DFR_EINVAL));
}

// test_reentrantRunCallbacks, test_nonReentrantCallbacks.
TEST_CASE("S06 a callback added from a running callback runs in the same pass, later", "[deferred][S06]")
{
    struct Ctx {
        dfr_deferred *d;
        std::vector<int> order;
        std::vector<int> inside; // the order right after adding cb3
        int add_rc = -99;
    } ctx{};
    ctx.d = dfr_deferred_new();
    dfr_deferred_add_callback(ctx.d, [](dfr_value v, void *data) -> dfr_value {
        auto *c = static_cast<Ctx *>(data);
        c->order.push_back(1);
        c->add_rc = dfr_deferred_add_callback(c->d, [](dfr_value v2, void *data2) -> dfr_value {
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
    CHECK(ctx.add_rc == 0);
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
        dfr_deferred_add_callback(c->d, [](dfr_value v2, void *) -> dfr_value {
            dfr_value_drop(v2);
            return dfr_value_failure(dfr_failure_new("test", 1, "boom"));
        }, nullptr, nullptr);
        return v;
    }, &ctx, nullptr);
    REQUIRE(dfr_deferred_callback(ctx.d, dfr_none()) == 0);
    CHECK(dfr_deferred_state(ctx.d) == DFR_FAILED);
    std::string message;
    dfr_deferred_add_errback(ctx.d, [](dfr_value v, void *data) -> dfr_value {
        *static_cast<std::string *>(data) = dfr_failure_message(dfr_failure_from(&v));
        dfr_value_drop(v);
        return dfr_none();
    }, &message, nullptr);
    CHECK(message == "boom");
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
    CHECK(r.seen == Seen{"i64 1"});
    CHECK(dfr_deferred_paused(d) == 0);
    dfr_deferred_unref(d);
}

TEST_CASE("S07 a paused failed deferred runs no errback until unpaused", "[deferred][S07]")
{
    Recorder eb;
    dfr_deferred *f = dfr_fail(test::failure(2));
    REQUIRE(dfr_deferred_pause(f) == 0);
    dfr_deferred_add_errback(f, test::record_and_handle, &eb, nullptr);
    CHECK(eb.seen.empty());
    CHECK(dfr_deferred_state(f) == DFR_FAILED);
    REQUIRE(dfr_deferred_unpause(f) == 0);
    CHECK(eb.seen == Seen{"fail test 2"});
    dfr_deferred_unref(f);
}

TEST_CASE("S07 pause and unpause before firing change nothing", "[deferred][S07]")
{
    Recorder r;
    dfr_deferred *e = dfr_deferred_new();
    REQUIRE(dfr_deferred_pause(e) == 0);
    REQUIRE(dfr_deferred_unpause(e) == 0);
    CHECK(dfr_deferred_paused(e) == 0);
    CHECK(dfr_deferred_state(e) == DFR_PENDING);
    dfr_deferred_add_callback(e, test::record, &r, nullptr);
    CHECK(r.seen.empty());
    dfr_deferred_callback(e, dfr_i64(4));
    CHECK(r.seen == Seen{"i64 4"});
    dfr_deferred_unref(e);
}

// The contract: pause() fails with DFR_EOVERFLOW only beyond INT32_MAX.
TEST_CASE("pauses nest 32767 deep; one more is DFR_EOVERFLOW", "[deferred][S07]")
{
    const int n = 32767;
    Recorder r;
    dfr_deferred *d = dfr_succeed(dfr_i64(1));
    int first_error = 0, at = -1;
    for (int i = 0; i < n && !first_error; i++)
        if ((first_error = dfr_deferred_pause(d)) != 0)
            at = i;
    INFO("pause number " << at << " returned " << first_error);
    CHECK(first_error == 0);
    CHECK(dfr_deferred_paused(d) == n);
    CHECK(dfr_deferred_pause(d) == DFR_EOVERFLOW);
    CHECK(dfr_deferred_paused(d) == n);
    dfr_deferred_add_callback(d, test::record, &r, nullptr);
    int unpause_errors = 0;
    while (dfr_deferred_paused(d) > 1)
        if (dfr_deferred_unpause(d) != 0 && ++unpause_errors > 10)
            break;
    CHECK(unpause_errors == 0);
    CHECK(r.seen.empty());
    REQUIRE(dfr_deferred_unpause(d) == 0);
    CHECK(r.seen == Seen{"i64 1"});
    dfr_deferred_unref(d);
}

// S08, where we differ (design.md): a pause inside a callback stops the
// chain right after that callback.
TEST_CASE("S08 pausing inside a callback stops the next queued callback", "[deferred][S08]")
{
    struct Ctx {
        dfr_deferred *d;
        Recorder r;
    } ctx{};
    ctx.d = dfr_deferred_new();
    dfr_deferred_add_callback(ctx.d, [](dfr_value v, void *data) -> dfr_value {
        auto *c = static_cast<Ctx *>(data);
        REQUIRE(dfr_deferred_pause(c->d) == 0);
        c->r.seen.push_back("cb1");
        return v;
    }, &ctx, nullptr);
    dfr_deferred_add_callback(ctx.d, test::record, &ctx.r, nullptr);
    REQUIRE(dfr_deferred_callback(ctx.d, dfr_i64(1)) == 0);
    CHECK(ctx.r.seen == Seen{"cb1"});
    CHECK(dfr_deferred_paused(ctx.d) == 1);
    // It has cb1's result meanwhile.
    CHECK(dfr_deferred_state(ctx.d) == DFR_SUCCEEDED);
    CHECK(test::state(ctx.d) == "i64 1");
    // A callback added now waits too.
    Recorder later;
    dfr_deferred_add_callback(ctx.d, test::record, &later, nullptr);
    CHECK(later.seen.empty());
    REQUIRE(dfr_deferred_unpause(ctx.d) == 0);
    CHECK(ctx.r.seen == Seen{"cb1", "i64 1"});
    CHECK(later.seen == Seen{"i64 1"});
    dfr_deferred_unref(ctx.d);
}

TEST_CASE("S08 a pause undone inside the same callback stops nothing", "[deferred][S08]")
{
    struct Ctx {
        dfr_deferred *d;
        Recorder r;
    } ctx{};
    ctx.d = dfr_deferred_new();
    dfr_deferred_add_callback(ctx.d, [](dfr_value v, void *data) -> dfr_value {
        auto *c = static_cast<Ctx *>(data);
        dfr_deferred_pause(c->d);
        dfr_deferred_unpause(c->d);
        return v;
    }, &ctx, nullptr);
    dfr_deferred_add_callback(ctx.d, test::record, &ctx.r, nullptr);
    dfr_deferred_callback(ctx.d, dfr_i64(1));
    CHECK(ctx.r.seen == Seen{"i64 1"});
    CHECK(dfr_deferred_paused(ctx.d) == 0);
    dfr_deferred_unref(ctx.d);
}

// S08 (differs from Twisted, design.md): no negative pause count.
TEST_CASE("S08 an unbalanced unpause is DFR_EINVAL and changes nothing", "[deferred][S08]")
{
    Recorder r;
    dfr_deferred *d = dfr_deferred_new();
    CHECK(dfr_deferred_unpause(d) == DFR_EINVAL);
    CHECK(dfr_deferred_paused(d) == 0);
    dfr_deferred_add_callback(d, test::record, &r, nullptr);
    dfr_deferred_callback(d, dfr_i64(3));
    CHECK(r.seen == Seen{"i64 3"}); // not blocked, unlike Twisted's -1
    // A pause after it counts from 0, as usual.
    REQUIRE(dfr_deferred_pause(d) == 0);
    CHECK(dfr_deferred_paused(d) == 1);
    Recorder r2;
    dfr_deferred_add_callback(d, test::record, &r2, nullptr);
    CHECK(r2.seen.empty());
    REQUIRE(dfr_deferred_unpause(d) == 0);
    CHECK(r2.seen == Seen{"i64 3"});
    CHECK(dfr_deferred_unpause(d) == DFR_EINVAL);
    CHECK(dfr_deferred_paused(d) == 0);
    dfr_deferred_unref(d);
}

TEST_CASE("state and result: pending, succeeded, failed", "[deferred]")
{
    dfr_deferred *d = dfr_deferred_new();
    CHECK(dfr_deferred_state(d) == DFR_PENDING);
    CHECK(dfr_deferred_result(d) == nullptr);
    CHECK(dfr_deferred_paused(d) == 0);
    dfr_deferred_callback(d, dfr_i64(2));
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    REQUIRE(dfr_deferred_result(d) != nullptr);
    CHECK(dfr_deferred_result(d)->type == &dfr_type_i64);
    CHECK(dfr_deferred_result(d)->u.i64 == 2);
    dfr_deferred_add_callback(d, fail_with, code(1), nullptr);
    CHECK(dfr_deferred_state(d) == DFR_FAILED);
    REQUIRE(dfr_deferred_result(d) != nullptr);
    CHECK(show(dfr_deferred_result(d)) == "fail test 1");
    Recorder eb;
    dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    CHECK(test::state(d) == "none");
    dfr_deferred_unref(d);

    // The borrowed result is the value given: same bytes object.
    dfr_value b = dfr_bytes_new("same", 4);
    void *ptr = b.u.ptr;
    dfr_deferred *e = dfr_succeed(b);
    REQUIRE(dfr_deferred_result(e) != nullptr);
    CHECK(dfr_deferred_result(e)->u.ptr == ptr);
    dfr_deferred_unref(e);
}

// test_maybeDeferredSync, ...SyncFailure, ...Async.
TEST_CASE("S24 maybe_deferred wraps plain values, failures and deferreds", "[deferred][S24]")
{
    int x = 10;
    dfr_deferred *d = dfr_maybe_deferred([](void *data) -> dfr_value {
        return dfr_i64(*static_cast<int *>(data) + 5);
    }, &x);
    REQUIRE(d != nullptr);
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    CHECK(test::state(d) == "i64 15");
    dfr_deferred_unref(d);

    // A failure: the same failure object.
    dfr_failure *fl = test::failure(9);
    dfr_deferred *f = dfr_maybe_deferred([](void *data) -> dfr_value {
        return dfr_value_failure(static_cast<dfr_failure *>(data));
    }, fl);
    REQUIRE(f != nullptr);
    CHECK(dfr_deferred_state(f) == DFR_FAILED);
    REQUIRE(dfr_deferred_result(f) != nullptr);
    CHECK(dfr_failure_from(dfr_deferred_result(f)) == fl);
    Recorder eb;
    dfr_deferred_add_errback(f, test::record_and_handle, &eb, nullptr);
    CHECK(eb.seen == Seen{"fail test 9"});
    dfr_deferred_unref(f);

    // A deferred: that deferred itself, still pending.
    dfr_deferred *px = dfr_deferred_new();
    dfr_deferred *same = dfr_maybe_deferred([](void *data) -> dfr_value {
        return dfr_value_deferred(dfr_deferred_ref(static_cast<dfr_deferred *>(data)));
    }, px);
    CHECK(same == px);
    CHECK(dfr_deferred_state(same) == DFR_PENDING);
    dfr_deferred_unref(same);
    dfr_deferred_unref(px);

    // None.
    dfr_deferred *n = dfr_maybe_deferred([](void *) { return dfr_none(); }, nullptr);
    CHECK(dfr_deferred_state(n) == DFR_SUCCEEDED);
    CHECK(test::state(n) == "none");
    dfr_deferred_unref(n);

    // No function: a DFR_EINVAL failed deferred.
    dfr_deferred *bad = dfr_maybe_deferred(nullptr, nullptr);
    REQUIRE(bad != nullptr);
    CHECK(test::state(bad) == test::fail_text(DFR_DOMAIN, DFR_EINVAL));
    dfr_deferred_add_errback(bad, test::record_and_handle, &eb, nullptr);
    dfr_deferred_unref(bad);
}

TEST_CASE("bad input never crashes and returns a clear code", "[deferred][bad-input]")
{
    int destroyed = 0;
    drops = 0;
    CHECK(dfr_deferred_add_callbacks(nullptr, plus_one, nullptr, &destroyed, test::count_destroy) == DFR_EINVAL);
    CHECK(dfr_deferred_add_callbacks(nullptr, nullptr, nullptr, &destroyed, test::count_destroy) == DFR_EINVAL);
    CHECK(dfr_deferred_add_callback(nullptr, plus_one, &destroyed, test::count_destroy) == DFR_EINVAL);
    CHECK(dfr_deferred_add_errback(nullptr, plus_one, &destroyed, test::count_destroy) == DFR_EINVAL);
    CHECK(dfr_deferred_add_both(nullptr, plus_one, &destroyed, test::count_destroy) == DFR_EINVAL);
    CHECK(destroyed == 5);
    dfr_deferred *d = dfr_deferred_new();
    CHECK(dfr_deferred_add_callback(d, nullptr, &destroyed, test::count_destroy) == DFR_EINVAL);
    CHECK(dfr_deferred_add_errback(d, nullptr, &destroyed, test::count_destroy) == DFR_EINVAL);
    CHECK(dfr_deferred_add_both(d, nullptr, &destroyed, test::count_destroy) == DFR_EINVAL);
    CHECK(destroyed == 8);
    // NULL destroy is fine in the error paths too.
    CHECK(dfr_deferred_add_callback(d, nullptr, nullptr, nullptr) == DFR_EINVAL);
    CHECK(dfr_deferred_add_callbacks(nullptr, plus_one, plus_one, nullptr, nullptr) == DFR_EINVAL);

    // Firing NULL: the argument is dropped anyway.
    CHECK(dfr_deferred_callback(nullptr, counted_value(1)) == DFR_EINVAL);
    CHECK(dfr_deferred_errback(nullptr, counted_failure(2)) == DFR_EINVAL);
    CHECK(drops == 2);
    CHECK(dfr_deferred_errback(nullptr, nullptr) == DFR_EINVAL);
    CHECK(dfr_deferred_errback(d, nullptr) == DFR_EINVAL);
    CHECK(dfr_deferred_state(d) == DFR_PENDING); // the refused errback did not fire it
    // A deferred value is refused, with a NULL deferred too.
    dfr_deferred *other = dfr_deferred_new();
    dfr_deferred_add_callback(other, plus_one, &destroyed, test::count_destroy);
    CHECK(dfr_deferred_callback(nullptr, dfr_value_deferred(other)) == DFR_EINVAL);
    CHECK(destroyed == 9); // other was freed with the dropped value

    CHECK(dfr_deferred_pause(nullptr) == DFR_EINVAL);
    CHECK(dfr_deferred_unpause(nullptr) == DFR_EINVAL);
    CHECK(dfr_deferred_chain(nullptr, d) == DFR_EINVAL);
    CHECK(dfr_deferred_chain(d, nullptr) == DFR_EINVAL);
    CHECK(dfr_deferred_chain(nullptr, nullptr) == DFR_EINVAL);
    // A query: a documented member of its own enum, none of the three states.
    CHECK(dfr_deferred_state(nullptr) == DFR_STATE_INVALID);
    CHECK(DFR_STATE_INVALID != DFR_PENDING);
    CHECK(DFR_STATE_INVALID != DFR_SUCCEEDED);
    CHECK(DFR_STATE_INVALID != DFR_FAILED);
    CHECK(dfr_deferred_result(nullptr) == nullptr);
    CHECK(dfr_deferred_paused(nullptr) == DFR_EINVAL);
    CHECK(test::refused_with(dfr_fail(nullptr), DFR_EINVAL));
    dfr_deferred_cancel(nullptr);
    dfr_deferred_unref(nullptr);
    CHECK(dfr_deferred_ref(nullptr) == nullptr);

    // Both NULL in add_callbacks is a pass-through link, allowed.
    CHECK(dfr_deferred_add_callbacks(d, nullptr, nullptr, &destroyed, test::count_destroy) == 0);
    CHECK(dfr_deferred_state(d) == DFR_PENDING);
    dfr_deferred_callback(d, dfr_i64(1));
    CHECK(destroyed == 10);
    CHECK(test::state(d) == "i64 1");
    // Firing again: DFR_EALREADY, value dropped.
    CHECK(dfr_deferred_callback(d, counted_value(3)) == DFR_EALREADY);
    CHECK(drops == 3);
    // A deferred value on a fired deferred is refused too, and dropped.
    dfr_deferred *third = dfr_deferred_new();
    dfr_deferred_add_callback(third, plus_one, &destroyed, test::count_destroy);
    int rc = dfr_deferred_callback(d, dfr_value_deferred(third));
    CHECK((rc == DFR_EINVAL || rc == DFR_EALREADY));
    CHECK(destroyed == 11);
    CHECK(test::state(d) == "i64 1");
    dfr_deferred_unref(d);
}

TEST_CASE("destroy runs exactly once in every path", "[deferred][destroy]")
{
    int destroyed = 0;
    SECTION("after the callback ran, not before")
    {
        struct Ctx {
            int destroyed = 0;
            int seen_inside = -1;
        } c;
        dfr_deferred *d = dfr_deferred_new();
        dfr_deferred_add_callback(d, [](dfr_value v, void *data) -> dfr_value {
            auto *cx = static_cast<Ctx *>(data);
            cx->seen_inside = cx->destroyed;
            return v;
        }, &c, [](void *data) { static_cast<Ctx *>(data)->destroyed++; });
        CHECK(c.destroyed == 0);
        dfr_deferred_callback(d, dfr_i64(1));
        CHECK(c.seen_inside == 0);
        CHECK(c.destroyed == 1);
        dfr_deferred_unref(d);
        CHECK(c.destroyed == 1);
        destroyed = 1;
    }
    SECTION("a callback added to a fired deferred")
    {
        dfr_deferred *d = dfr_succeed(dfr_i64(1));
        dfr_deferred_add_callback(d, plus_one, &destroyed, test::count_destroy);
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
    SECTION("a callback skipped on the errback path")
    {
        Recorder r;
        dfr_deferred *d = dfr_deferred_new();
        dfr_deferred_add_callback(d, plus_one, &destroyed, test::count_destroy);
        dfr_deferred_add_errback(d, test::record_and_handle, &r, nullptr);
        dfr_deferred_errback(d, test::failure(1));
        CHECK(destroyed == 1);
        CHECK(r.seen == Seen{"fail test 1"});
        dfr_deferred_unref(d);
    }
    SECTION("one destroy for a pair")
    {
        dfr_deferred *d = dfr_deferred_new();
        dfr_deferred_add_both(d, plus_one, &destroyed, test::count_destroy);
        dfr_deferred_add_callbacks(d, plus_one, plus_one, &destroyed, test::count_destroy);
        dfr_deferred_callback(d, dfr_i64(1));
        CHECK(destroyed == 2);
        dfr_deferred_unref(d);
        CHECK(destroyed == 2);
        destroyed = 1;
    }
    SECTION("the deferred is freed with callbacks pending")
    {
        dfr_deferred *d = dfr_deferred_new();
        for (int i = 0; i < 10; i++)
            dfr_deferred_add_callback(d, plus_one, &destroyed, test::count_destroy);
        CHECK(destroyed == 0);
        dfr_deferred_unref(d);
        CHECK(destroyed == 10);
        destroyed = 1;
    }
    SECTION("the deferred is freed paused, with a result and callbacks pending")
    {
        dfr_deferred *d = dfr_succeed(dfr_i64(1));
        dfr_deferred_pause(d);
        for (int i = 0; i < 3; i++)
            dfr_deferred_add_callback(d, plus_one, &destroyed, test::count_destroy);
        CHECK(destroyed == 0);
        dfr_deferred_unref(d);
        CHECK(destroyed == 3);
        destroyed = 1;
    }
    SECTION("synchronous failure: bad argument")
    {
        CHECK(dfr_deferred_add_callback(nullptr, plus_one, &destroyed, test::count_destroy) == DFR_EINVAL);
        CHECK(destroyed == 1);
    }
    SECTION("the canceller's data, once the deferred has a result")
    {
        dfr_deferred *d = dfr_deferred_new_cancellable([](dfr_deferred *, void *) {}, &destroyed,
                                                       test::count_destroy);
        CHECK(destroyed == 0);
        dfr_deferred_callback(d, dfr_none());
        CHECK(destroyed == 1); // no canceller can run once there is a result
        dfr_deferred_unref(d);
        CHECK(destroyed == 1);
    }
    CHECK(destroyed == 1);
}

TEST_CASE("destroy runs once when adding a callback runs out of memory", "[deferred][destroy][alloc]")
{
    int runs = test::for_each_allocation_failure([](long) {
        int destroyed = 0, added = 0, ran = 0;
        dfr_deferred *d = dfr_deferred_new();
        if (!d)
            return;
        for (int i = 0; i < 8; i++) {
            int rc = dfr_deferred_add_callback(d, [](dfr_value v, void *data) -> dfr_value {
                ++*static_cast<int *>(data);
                return v;
            }, &ran, nullptr);
            if (rc == 0)
                added++;
            int rc2 = dfr_deferred_add_callback(d, plus_one, &destroyed, test::count_destroy);
            CHECK((rc2 == 0 || rc2 == DFR_ENOMEM));
            if (rc2 != 0)
                CHECK(destroyed >= 1); // ran before the call returned
        }
        dfr_deferred_callback(d, dfr_i64(0));
        CHECK(ran == added);
        CHECK(destroyed == 8);
        dfr_deferred_unref(d);
        CHECK(destroyed == 8);
    });
    CHECK(runs > 1);
}

// test_errorLog: an unhandled failure is reported when the deferred goes.
TEST_CASE("the unhandled-error hook runs at the last unref of an unhandled failure", "[deferred][unhandled]")
{
    test::UnhandledCapture u;
    dfr_deferred *d = dfr_fail(dfr_failure_new("test", 4, "nobody"));
    CHECK(u.count() == 0); // not when it fails
    dfr_deferred *keep = dfr_deferred_ref(d);
    dfr_deferred_unref(d);
    CHECK(u.count() == 0); // not the last reference yet
    dfr_deferred_unref(keep);
    REQUIRE(u.count() == 1);
    CHECK(u.messages[0] == "nobody");
    CHECK(u.codes[0] == 4);
}

TEST_CASE("the hook gets the failure itself, and its data", "[deferred][unhandled]")
{
    struct Seen2 {
        const dfr_failure *f = nullptr;
        int calls = 0;
        std::string domain;
    } seen;
    dfr_set_unhandled_error_hook([](const dfr_failure *f, void *data) {
        auto *s = static_cast<Seen2 *>(data);
        s->f = f;
        s->calls++;
        s->domain = dfr_failure_domain(f);
    }, &seen);
    dfr_failure *f = dfr_failure_new("mine", 8, "m");
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_errback(d, f);
    dfr_deferred_unref(d);
    dfr_set_unhandled_error_hook(nullptr, nullptr);
    CHECK(seen.calls == 1);
    CHECK(seen.f == f);
    CHECK(seen.domain == "mine");
}

TEST_CASE("no report when an errback handled the failure", "[deferred][unhandled]")
{
    test::UnhandledCapture u;
    Recorder eb;
    dfr_deferred *h = dfr_fail(test::failure(5));
    dfr_deferred_add_errback(h, test::record_and_handle, &eb, nullptr);
    dfr_deferred_unref(h);
    CHECK(eb.seen == Seen{"fail test 5"});

    // A callback path that never failed, a pending deferred, a cancelled and handled one.
    dfr_deferred *ok = dfr_succeed(dfr_i64(1));
    dfr_deferred_unref(ok);
    dfr_deferred *pending = dfr_deferred_new();
    dfr_deferred_unref(pending);
    dfr_deferred *c = dfr_deferred_new();
    dfr_deferred_add_errback(c, test::record_and_handle, &eb, nullptr);
    dfr_deferred_cancel(c);
    dfr_deferred_unref(c);
    CHECK(u.count() == 0);
}

TEST_CASE("an errback that passes the failure on leaves it unhandled", "[deferred][unhandled]")
{
    test::UnhandledCapture u;
    SECTION("returned unchanged")
    {
        Recorder eb;
        dfr_deferred *d = dfr_fail(dfr_failure_new("test", 1, "first"));
        dfr_deferred_add_errback(d, test::record, &eb, nullptr);
        dfr_deferred_unref(d);
        REQUIRE(u.count() == 1);
        CHECK(u.messages[0] == "first");
    }
    SECTION("replaced by another failure")
    {
        dfr_deferred *d = dfr_fail(dfr_failure_new("test", 1, "first"));
        dfr_deferred_add_errback(d, [](dfr_value v, void *) -> dfr_value {
            dfr_value_drop(v);
            return dfr_value_failure(dfr_failure_new("test", 2, "second"));
        }, nullptr, nullptr);
        dfr_deferred_unref(d);
        REQUIRE(u.count() == 1);
        CHECK(u.messages[0] == "second");
        CHECK(u.codes[0] == 2);
    }
    SECTION("a paused deferred never reached its errback")
    {
        Recorder eb;
        dfr_deferred *d = dfr_fail(dfr_failure_new("test", 3, "paused"));
        dfr_deferred_pause(d);
        dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
        dfr_deferred_unref(d);
        CHECK(eb.seen.empty());
        REQUIRE(u.count() == 1);
        CHECK(u.messages[0] == "paused");
    }
    SECTION("a callback failed after the errbacks")
    {
        Recorder eb;
        dfr_deferred *d = dfr_deferred_new();
        dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
        dfr_deferred_add_callback(d, fail_with, code(3), nullptr);
        dfr_deferred_callback(d, dfr_i64(1));
        CHECK(eb.seen.empty());
        dfr_deferred_unref(d);
        REQUIRE(u.count() == 1);
        CHECK(u.codes[0] == 3);
    }
}

// The default hook (restored by NULL) writes the report to stderr.
TEST_CASE("the default report goes to stderr", "[deferred][unhandled]")
{
    dfr_set_unhandled_error_hook(nullptr, nullptr);
    char path[] = "/tmp/dfr-unhandled-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    std::fflush(stderr);
    int saved = dup(2);
    REQUIRE(saved >= 0);
    dup2(fd, 2);
    dfr_deferred *d = dfr_fail(dfr_failure_new("test", 6, "to stderr"));
    dfr_deferred_unref(d);
    std::fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    unlink(path);
    std::string s = text.str();
    INFO(s);
    CHECK(s.find("Unhandled error in Deferred:") != std::string::npos);
    CHECK(s.find("to stderr") != std::string::npos);
    CHECK(s.find("test") != std::string::npos);
}

TEST_CASE("unref from another thread is allowed", "[deferred][threads]")
{
    drops = 0;
    dfr_deferred *d = dfr_succeed(counted_value(1));
    std::thread t([d] { dfr_deferred_unref(d); });
    t.join();
    CHECK(drops == 1);
}

// A firer holding no reference (a timer with a borrowed pointer): the last
// reference may go inside the deferred's own callbacks.  It must finish its
// run first and be freed after (ASan checks the memory).
TEST_CASE("the last reference dropped by the deferred's own callback", "[deferred][destroy]")
{
    Recorder r;
    int destroyed = 0;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_callback(d, [](dfr_value v, void *data) -> dfr_value {
        dfr_deferred_unref(static_cast<dfr_deferred *>(data)); // the only reference
        return v;
    }, d, nullptr);
    dfr_deferred_add_callback(d, test::record, &r, nullptr);
    dfr_deferred_add_callback(d, [](dfr_value v, void *) -> dfr_value { return v; }, &destroyed, test::count_destroy);
    dfr_deferred_callback(d, dfr_i64(1)); // borrowed from here on
    CHECK(r.seen == std::vector<std::string>{"i64 1"});
    CHECK(destroyed == 1);
}
