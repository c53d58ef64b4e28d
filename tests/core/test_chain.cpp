// Chaining: a callback returns a deferred (steal its result, or wait for it),
// chainDeferred, deep chains, and who keeps a waiting chain alive.
// Behaviours S09-S19, ported from twisted/test/test_defer.py (the
// Twisted tests are named above each case); docs/design.md for our choices.
#include <catch2/catch.hpp>

#include "recorder.h"
#include "support.h"

using test::Recorder;

namespace {

using Seen = std::vector<std::string>;

using test::return_deferred;

// Records the identity of the value it sees and passes it through.
dfr_value record_ptr(dfr_value v, void *data)
{
    *static_cast<void **>(data) = v.u.ptr;
    return v;
}

using test::count_drop;
using test::counted;
using test::counted_value;
using test::drops;

} // namespace

// test_synchronousImplicitChain.
TEST_CASE("S09 returning a fired deferred steals its result", "[chain][S09]")
{
    Recorder on_first, on_second;
    void *seen = nullptr;
    dfr_value obj = dfr_bytes_new("obj", 3);
    void *obj_ptr = obj.u.ptr;
    dfr_deferred *first = dfr_succeed(obj);
    dfr_deferred *second = dfr_deferred_new();
    dfr_deferred_add_callback(second, return_deferred, first, nullptr);
    REQUIRE(dfr_deferred_callback(second, dfr_none()) == 0);
    // The inner is left with none; the outer has the very object.
    CHECK(test::state(first) == "none");
    CHECK(dfr_deferred_state(first) == DFR_SUCCEEDED);
    CHECK(dfr_deferred_state(second) == DFR_SUCCEEDED);
    REQUIRE(dfr_deferred_result(second) != nullptr);
    CHECK(dfr_deferred_result(second)->u.ptr == obj_ptr);
    dfr_deferred_add_callback(first, test::record, &on_first, nullptr);
    dfr_deferred_add_callback(second, record_ptr, &seen, nullptr);
    dfr_deferred_add_callback(second, test::record, &on_second, nullptr);
    CHECK(on_first.seen == Seen{"none"});
    CHECK(on_second.seen == Seen{"bytes obj"});
    CHECK(seen == obj_ptr);
    dfr_deferred_unref(first);
    dfr_deferred_unref(second);
}

// test_asynchronousImplicitChain, test_chainDeferredRecordsImplicitChain.
TEST_CASE("S10 returning a pending deferred makes the outer wait", "[chain][S10]")
{
    Recorder a, b;
    void *seen = nullptr;
    dfr_deferred *first = dfr_deferred_new();
    dfr_deferred *second = dfr_deferred_new();
    dfr_deferred_add_callback(second, return_deferred, first, nullptr);
    REQUIRE(dfr_deferred_callback(second, dfr_none()) == 0);
    // Waiting: pending, no result, and not a user pause.
    CHECK(dfr_deferred_state(second) == DFR_PENDING);
    CHECK(dfr_deferred_result(second) == nullptr);
    CHECK(dfr_deferred_paused(second) == 0);
    // It was called, though: firing it again is refused.
    CHECK(dfr_deferred_callback(second, dfr_none()) == DFR_EALREADY);

    dfr_deferred_add_callback(first, test::record, &a, nullptr);
    dfr_deferred_add_callback(second, record_ptr, &seen, nullptr);
    dfr_deferred_add_callback(second, test::record, &b, nullptr);
    CHECK(a.seen.empty());
    CHECK(b.seen.empty());
    dfr_value obj = dfr_bytes_new("obj", 3);
    void *obj_ptr = obj.u.ptr;
    REQUIRE(dfr_deferred_callback(first, obj) == 0);
    CHECK(a.seen == Seen{"none"}); // the continuation was queued before A
    CHECK(b.seen == Seen{"bytes obj"});
    CHECK(seen == obj_ptr);
    CHECK(dfr_deferred_state(second) == DFR_SUCCEEDED);
    CHECK(dfr_deferred_paused(second) == 0);
    CHECK(test::state(first) == "none");
    dfr_deferred_unref(first);
    dfr_deferred_unref(second);
}

// design.md: the pause count is the user's only; a wait is tracked apart.
TEST_CASE("a user pause and unpause do not release a chain wait", "[chain][S10]")
{
    Recorder r;
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred *outer = dfr_deferred_new();
    dfr_deferred_add_callback(outer, return_deferred, inner, nullptr);
    dfr_deferred_add_callback(outer, test::record, &r, nullptr);
    dfr_deferred_callback(outer, dfr_none());
    CHECK(dfr_deferred_unpause(outer) == DFR_EINVAL);
    REQUIRE(dfr_deferred_pause(outer) == 0);
    REQUIRE(dfr_deferred_unpause(outer) == 0);
    CHECK(r.seen.empty());
    CHECK(dfr_deferred_state(outer) == DFR_PENDING);
    dfr_deferred_callback(inner, dfr_i64(1));
    CHECK(r.seen == Seen{"i64 1"});
    dfr_deferred_unref(inner);
    dfr_deferred_unref(outer);
}

// test_synchronousImplicitErrorChain, test_asynchronousImplicitErrorChain,
// test_chainedErrorCleanup.
TEST_CASE("S11 a failure through a chain is reported nowhere once handled", "[chain][S11]")
{
    test::UnhandledCapture u;
    SECTION("synchronous")
    {
        Recorder on_first, eb;
        dfr_failure *f = test::failure(1);
        dfr_deferred *first = dfr_fail(f);
        dfr_deferred *second = dfr_deferred_new();
        dfr_deferred_add_callback(second, return_deferred, first, nullptr);
        dfr_deferred_callback(second, dfr_none());
        CHECK(dfr_deferred_state(second) == DFR_FAILED);
        CHECK(dfr_failure_from(dfr_deferred_result(second)) == f);
        dfr_deferred_add_callback(first, test::record, &on_first, nullptr);
        dfr_deferred_add_errback(second, test::record_and_handle, &eb, nullptr);
        CHECK(on_first.seen == Seen{"none"});
        CHECK(eb.seen == Seen{"fail test 1"});
        dfr_deferred_unref(first);
        dfr_deferred_unref(second);
    }
    SECTION("asynchronous")
    {
        Recorder e, c1, c2;
        dfr_deferred *first = dfr_deferred_new();
        dfr_deferred *second = dfr_deferred_new();
        dfr_deferred_add_callback(second, return_deferred, first, nullptr);
        dfr_deferred_callback(second, dfr_none());
        dfr_deferred_add_errback(second, test::record_and_handle, &e, nullptr);
        dfr_deferred_add_callback(second, test::record, &c2, nullptr);
        dfr_deferred_add_callback(first, test::record, &c1, nullptr);
        dfr_deferred_errback(first, test::failure(2));
        CHECK(e.seen == Seen{"fail test 2"});
        CHECK(c1.seen == Seen{"none"});
        CHECK(c2.seen == Seen{"none"}); // E handled it: back on the callback path
        dfr_deferred_unref(first);
        dfr_deferred_unref(second);
    }
    SECTION("cleanup: the callback returns a failed deferred nobody else holds")
    {
        Recorder results, errors;
        dfr_deferred *d = dfr_deferred_new();
        dfr_deferred_add_callback(d, [](dfr_value v, void *) -> dfr_value {
            dfr_value_drop(v);
            return dfr_value_deferred(dfr_fail(dfr_failure_new("test", 3, "zoop")));
        }, nullptr, nullptr);
        dfr_deferred_callback(d, dfr_none());
        dfr_deferred_add_callbacks(d, test::record, test::record_and_handle, &errors, nullptr);
        CHECK(errors.seen == Seen{"fail test 3"});
        dfr_deferred_unref(d);
    }
    CHECK(u.count() == 0);
}

// test_errorClearedByChaining.
TEST_CASE("an errback returning a pending deferred clears the failure", "[chain][S11]")
{
    test::UnhandledCapture u;
    dfr_deferred *good = dfr_deferred_new();
    dfr_deferred *bad = dfr_fail(test::failure(1));
    dfr_deferred_add_errback(bad, return_deferred, good, nullptr);
    CHECK(dfr_deferred_state(bad) == DFR_PENDING);
    dfr_deferred_unref(good);
    dfr_deferred_unref(bad);
    CHECK(u.count() == 0);
}

// An unhandled failure met through a chain is reported once, by the outer.
TEST_CASE("an unhandled failure through a chain is reported exactly once", "[chain][unhandled]")
{
    test::UnhandledCapture u;
    bool async = GENERATE(false, true);
    dfr_deferred *inner = async ? dfr_deferred_new() : dfr_fail(dfr_failure_new("test", 1, "once"));
    dfr_deferred *outer = dfr_deferred_new();
    dfr_deferred_add_callback(outer, return_deferred, inner, nullptr);
    dfr_deferred_callback(outer, dfr_none());
    if (async)
        dfr_deferred_errback(inner, dfr_failure_new("test", 1, "once"));
    dfr_deferred_unref(inner);
    CHECK(u.count() == 0);
    dfr_deferred_unref(outer);
    REQUIRE(u.count() == 1);
    CHECK(u.messages[0] == "once");
}

// test_doubleAsynchronousImplicitChaining.
TEST_CASE("waiting is transitive: C fires B which fires A", "[chain]")
{
    Recorder r;
    dfr_deferred *first = dfr_deferred_new();
    dfr_deferred *second = dfr_deferred_new();
    dfr_deferred *third = dfr_deferred_new();
    dfr_deferred_add_callback(second, return_deferred, first, nullptr);
    dfr_deferred_add_callback(third, return_deferred, second, nullptr);
    dfr_deferred_add_callback(third, test::record, &r, nullptr);
    dfr_deferred_callback(second, dfr_none());
    dfr_deferred_callback(third, dfr_none());
    CHECK(r.seen.empty());
    CHECK(dfr_deferred_state(second) == DFR_PENDING);
    CHECK(dfr_deferred_state(third) == DFR_PENDING);
    dfr_deferred_callback(first, dfr_bytes_new("result", 6));
    CHECK(r.seen == Seen{"bytes result"});
    for (auto *d : {first, second, third})
        dfr_deferred_unref(d);
}

namespace {

struct Nested {
    dfr_deferred *inner;
    Recorder r;
    bool extra; // add a callback to the middle deferred after it waits
};

dfr_value nested_cb(dfr_value v, void *data)
{
    auto *ctx = static_cast<Nested *>(data);
    test::record(v, &ctx->r);
    dfr_value_drop(v);
    dfr_deferred *d = dfr_succeed(dfr_bytes_new("inner", 5));
    dfr_deferred_add_callback(d, [](dfr_value v2, void *data2) -> dfr_value {
        auto *ctx2 = static_cast<Nested *>(data2);
        test::record(v2, &ctx2->r);
        dfr_value_drop(v2);
        return dfr_value_deferred(dfr_deferred_ref(ctx2->inner));
    }, ctx, nullptr);
    dfr_deferred_add_callback(d, [](dfr_value v2, void *data2) -> dfr_value {
        test::record(v2, data2);
        return dfr_i64(v2.u.i64 * 2);
    }, &ctx->r, nullptr);
    if (ctx->extra)
        dfr_deferred_add_callback(d, [](dfr_value v2, void *data2) -> dfr_value {
            test::record(v2, data2);
            return dfr_i64(v2.u.i64 + 1);
        }, &ctx->r, nullptr);
    return dfr_value_deferred(d);
}

} // namespace

// test_nestedAsynchronousChainedDeferreds, test_innerCallbacksPreserved,
// test_nestedAsynchronousChainedDeferredsWithExtraCallbacks.
TEST_CASE("the middle deferred's callbacks run between the inner and the outer", "[chain]")
{
    bool extra = GENERATE(false, true);
    bool outer_cb_first = GENERATE(false, true); // add the outer's recorder before/after firing
    Nested c{};
    c.extra = extra;
    c.inner = dfr_deferred_new();
    dfr_deferred *outer = dfr_succeed(dfr_bytes_new("outer", 5));
    dfr_deferred_add_callback(outer, nested_cb, &c, nullptr);
    if (outer_cb_first)
        dfr_deferred_add_callback(outer, test::record, &c.r, nullptr);
    CHECK(c.r.seen == Seen{"bytes outer", "bytes inner"});
    CHECK(dfr_deferred_state(outer) == DFR_PENDING);
    dfr_deferred_callback(c.inner, dfr_i64(21));
    if (!outer_cb_first)
        dfr_deferred_add_callback(outer, test::record, &c.r, nullptr);
    // The middle's second callback sees 21 and makes 42; the extra one sees
    // 42 and makes 43; the outer's recorder sees the last.
    Seen want{"bytes outer", "bytes inner", "i64 21"};
    if (extra)
        want.insert(want.end(), {"i64 42", "i64 43"});
    else
        want.push_back("i64 42");
    CHECK(c.r.seen == want);
    dfr_deferred_unref(outer);
    dfr_deferred_unref(c.inner);
}

// test_continueCallbackNotFirst, test_callbackOrderPreserved.
TEST_CASE("a callback added to the outer after it waits runs after the middle's callbacks", "[chain]")
{
    struct Ctx {
        dfr_deferred *a;
        Recorder r;
    } c{};
    c.a = dfr_deferred_new();
    dfr_deferred *outer = dfr_deferred_new();
    dfr_deferred_add_callback(outer, [](dfr_value v, void *data) -> dfr_value {
        auto *ctx = static_cast<Ctx *>(data);
        test::record(v, &ctx->r);
        dfr_value_drop(v);
        dfr_deferred *d = dfr_deferred_new();
        dfr_deferred_add_callback(d, [](dfr_value v2, void *data2) -> dfr_value {
            auto *ctx2 = static_cast<Ctx *>(data2);
            ctx2->r.seen.push_back("first");
            dfr_value_drop(v2);
            return dfr_value_deferred(dfr_deferred_ref(ctx2->a));
        }, ctx, nullptr);
        dfr_deferred_add_callback(d, [](dfr_value v2, void *data2) -> dfr_value {
            static_cast<Recorder *>(data2)->seen.push_back("second " + test::show(v2));
            dfr_value_drop(v2);
            return dfr_none();
        }, &ctx->r, nullptr);
        dfr_deferred_callback(d, dfr_none());
        return dfr_value_deferred(d);
    }, &c, nullptr);
    dfr_deferred_add_callback(outer, [](dfr_value v, void *data) -> dfr_value {
        static_cast<Recorder *>(data)->seen.push_back("final");
        return v;
    }, &c.r, nullptr);
    dfr_deferred_callback(outer, dfr_bytes_new("outer", 5));
    CHECK(c.r.seen == Seen{"bytes outer", "first"});
    dfr_deferred_callback(c.a, dfr_bytes_new("withers", 7));
    CHECK(c.r.seen == Seen{"bytes outer", "first", "second bytes withers", "final"});
    dfr_deferred_unref(outer);
    dfr_deferred_unref(c.a);
}

// testReturnDeferred, test_chainedPausedDeferredWithResult, test_pausedDeferredChained.
TEST_CASE("S15 paused inner and paused outer", "[chain][S15]")
{
    SECTION("1: a paused inner holds the outer until unpaused")
    {
        Recorder r;
        dfr_deferred *d2 = dfr_deferred_new();
        dfr_deferred_pause(d2);
        dfr_deferred *d1 = dfr_deferred_new();
        dfr_deferred_add_callback(d1, return_deferred, d2, nullptr);
        dfr_deferred_add_callback(d1, test::record, &r, nullptr);
        dfr_deferred_callback(d1, dfr_i64(1));
        CHECK(r.seen.empty());
        dfr_deferred_callback(d2, dfr_i64(2));
        CHECK(r.seen.empty());
        CHECK(dfr_deferred_state(d1) == DFR_PENDING);
        dfr_deferred_unpause(d2);
        CHECK(r.seen == Seen{"i64 2"});
        dfr_deferred_unref(d1);
        dfr_deferred_unref(d2);
    }
    SECTION("2: a paused fired inner is not stolen")
    {
        Recorder r;
        void *seen = nullptr;
        dfr_value obj = dfr_bytes_new("obj", 3);
        void *obj_ptr = obj.u.ptr;
        dfr_deferred *paused = dfr_succeed(obj);
        dfr_deferred_pause(paused);
        dfr_deferred *chained = dfr_deferred_new();
        dfr_deferred_add_callback(chained, return_deferred, paused, nullptr);
        dfr_deferred_callback(chained, dfr_none());
        dfr_deferred_add_callback(chained, record_ptr, &seen, nullptr);
        dfr_deferred_add_callback(chained, test::record, &r, nullptr);
        CHECK(r.seen.empty());
        CHECK(test::state(paused) == "bytes obj"); // still the inner's
        dfr_deferred_unpause(paused);
        CHECK(r.seen == Seen{"bytes obj"});
        CHECK(seen == obj_ptr);
        CHECK(test::state(paused) == "none");
        dfr_deferred_unref(paused);
        dfr_deferred_unref(chained);
    }
    SECTION("3: pausing the outer does not block the inner")
    {
        Recorder r, o;
        dfr_deferred *first = dfr_deferred_new();
        dfr_deferred *second = dfr_deferred_new();
        dfr_deferred_add_callback(first, return_deferred, second, nullptr);
        dfr_deferred_callback(first, dfr_none());
        dfr_deferred_pause(first);
        dfr_deferred_callback(second, dfr_none());
        dfr_deferred_add_callback(second, test::record, &r, nullptr);
        CHECK(r.seen == Seen{"none"});
        dfr_deferred_add_callback(first, test::record, &o, nullptr);
        CHECK(o.seen.empty());
        dfr_deferred_unpause(first);
        CHECK(o.seen == Seen{"none"});
        dfr_deferred_unref(first);
        dfr_deferred_unref(second);
    }
    SECTION("4: a paused outer gets the result on unpause")
    {
        Recorder r;
        dfr_deferred *o = dfr_deferred_new();
        dfr_deferred *i = dfr_deferred_new();
        dfr_deferred_add_callback(o, return_deferred, i, nullptr);
        dfr_deferred_callback(o, dfr_none());
        dfr_deferred_pause(o);
        CHECK(dfr_deferred_paused(o) == 1); // the wait itself is not counted (design.md)
        dfr_deferred_callback(i, dfr_bytes_new("v", 1));
        dfr_deferred_add_callback(o, test::record, &r, nullptr);
        CHECK(r.seen.empty());
        CHECK(dfr_deferred_paused(o) == 1);
        dfr_deferred_unpause(o);
        CHECK(r.seen == Seen{"bytes v"});
        CHECK(dfr_deferred_paused(o) == 0);
        dfr_deferred_unref(o);
        dfr_deferred_unref(i);
    }
}

// test_circularChainWarning / test_circularChainException: we fail the
// chain with DFR_EINVAL instead of hanging (design.md).
TEST_CASE("S16 a callback returning its own deferred gets a DFR_EINVAL failure", "[chain][S16]")
{
    test::UnhandledCapture u;
    Recorder eb, later;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_callback(d, return_deferred, d, nullptr);
    dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
    dfr_deferred_add_callback(d, test::record, &later, nullptr);
    REQUIRE(dfr_deferred_callback(d, dfr_bytes_new("foo", 3)) == 0);
    CHECK(eb.seen == Seen{test::fail_text(DFR_DOMAIN, DFR_EINVAL)});
    CHECK(later.seen == Seen{"none"}); // the chain goes on
    CHECK(dfr_deferred_paused(d) == 0);
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    dfr_deferred_cancel(d); // no recursion, no effect
    CHECK(test::state(d) == "none");
    dfr_deferred_unref(d);
    CHECK(u.count() == 0);
}

TEST_CASE("S16 unhandled, the DFR_EINVAL failure is reported", "[chain][S16]")
{
    test::UnhandledCapture u;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_callback(d, return_deferred, d, nullptr);
    dfr_deferred_callback(d, dfr_none());
    CHECK(test::state(d) == test::fail_text(DFR_DOMAIN, DFR_EINVAL));
    dfr_deferred_unref(d);
    REQUIRE(u.count() == 1);
    CHECK(u.codes[0] == DFR_EINVAL);
}

// test_chainDeferredRecordsExplicitChain, test_explicitChainClearedWhenResolved.
TEST_CASE("S17 chainDeferred", "[chain][S17]")
{
    test::UnhandledCapture u;
    SECTION("callback: the other gets the value, d continues with none")
    {
        Recorder r, after;
        dfr_deferred *a = dfr_deferred_new();
        dfr_deferred *b = dfr_deferred_new();
        REQUIRE(dfr_deferred_chain(a, b) == 0);
        dfr_deferred_add_callback(a, test::record, &after, nullptr);
        dfr_deferred_add_callback(b, test::record, &r, nullptr);
        CHECK(dfr_deferred_state(b) == DFR_PENDING);
        REQUIRE(dfr_deferred_callback(a, dfr_i64(7)) == 0);
        CHECK(r.seen == Seen{"i64 7"});
        CHECK(after.seen == Seen{"none"});
        CHECK(test::state(a) == "none");
        CHECK(test::state(b) == "i64 7");
        dfr_deferred_unref(a);
        dfr_deferred_unref(b);
    }
    SECTION("errback: the other gets the failure, d continues with none")
    {
        Recorder r;
        dfr_failure *f = test::failure(1);
        const dfr_failure *seen = nullptr;
        dfr_deferred *a = dfr_deferred_new();
        dfr_deferred *b = dfr_deferred_new();
        REQUIRE(dfr_deferred_chain(a, b) == 0);
        dfr_deferred_add_errback(b, [](dfr_value v, void *data) -> dfr_value {
            *static_cast<const dfr_failure **>(data) = dfr_failure_from(&v);
            dfr_value_drop(v);
            return dfr_none();
        }, &seen, nullptr);
        dfr_deferred_errback(a, f);
        CHECK(seen == f);
        CHECK(test::state(a) == "none");
        CHECK(dfr_deferred_state(a) == DFR_SUCCEEDED);
        dfr_deferred_unref(a);
        dfr_deferred_unref(b);
    }
    SECTION("d already fired: the other fires at once")
    {
        Recorder r;
        dfr_deferred *a = dfr_succeed(dfr_i64(3));
        dfr_deferred *b = dfr_deferred_new();
        dfr_deferred_add_callback(b, test::record, &r, nullptr);
        REQUIRE(dfr_deferred_chain(a, b) == 0);
        CHECK(r.seen == Seen{"i64 3"});
        CHECK(test::state(a) == "none");
        dfr_deferred_unref(a);
        dfr_deferred_unref(b);
    }
    SECTION("the other fired first: it is unaffected, d's result becomes DFR_EALREADY")
    {
        dfr_deferred *a = dfr_deferred_new();
        dfr_deferred *b = dfr_deferred_new();
        REQUIRE(dfr_deferred_chain(a, b) == 0);
        REQUIRE(dfr_deferred_callback(b, dfr_i64(1)) == 0);
        CHECK(test::state(a) == "pending");
        CHECK(dfr_deferred_callback(a, dfr_i64(2)) == 0); // a itself fires fine
        CHECK(test::state(a) == test::fail_text(DFR_DOMAIN, DFR_EALREADY));
        CHECK(test::state(b) == "i64 1");
        Recorder eb;
        dfr_deferred_add_errback(a, test::record_and_handle, &eb, nullptr);
        CHECK(eb.seen == Seen{test::fail_text(DFR_DOMAIN, DFR_EALREADY)});
        dfr_deferred_unref(a);
        dfr_deferred_unref(b);
    }
    SECTION("the other had fired before the chain call")
    {
        dfr_deferred *a = dfr_deferred_new();
        dfr_deferred *b = dfr_succeed(dfr_i64(1));
        REQUIRE(dfr_deferred_chain(a, b) == 0);
        drops = 0;
        dfr_deferred_callback(a, counted_value(2));
        CHECK(drops == 1); // a's value was not lost, it was released
        CHECK(test::state(a) == test::fail_text(DFR_DOMAIN, DFR_EALREADY));
        CHECK(test::state(b) == "i64 1");
        Recorder eb;
        dfr_deferred_add_errback(a, test::record_and_handle, &eb, nullptr);
        dfr_deferred_unref(a);
        dfr_deferred_unref(b);
    }
    SECTION("chained to itself")
    {
        dfr_deferred *d = dfr_deferred_new();
        REQUIRE(dfr_deferred_chain(d, d) == 0);
        REQUIRE(dfr_deferred_callback(d, dfr_i64(1)) == 0);
        CHECK(test::state(d) == test::fail_text(DFR_DOMAIN, DFR_EALREADY));
        Recorder eb;
        dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
        CHECK(eb.seen.size() == 1);
        dfr_deferred_unref(d);
    }
    SECTION("the chain keeps its own reference to the other")
    {
        Recorder r;
        dfr_deferred *a = dfr_deferred_new();
        dfr_deferred *b = dfr_deferred_new();
        dfr_deferred_add_callback(b, test::record, &r, nullptr);
        REQUIRE(dfr_deferred_chain(a, b) == 0);
        dfr_deferred_unref(b);
        dfr_deferred_callback(a, dfr_i64(5));
        CHECK(r.seen == Seen{"i64 5"});
        dfr_deferred_unref(a);
    }
    SECTION("d freed unfired releases the other")
    {
        int destroyed = 0;
        dfr_deferred *a = dfr_deferred_new();
        dfr_deferred *b = dfr_deferred_new();
        dfr_deferred_add_both(b, [](dfr_value v, void *) { return v; }, &destroyed, test::count_destroy);
        REQUIRE(dfr_deferred_chain(a, b) == 0);
        dfr_deferred_unref(b);
        CHECK(destroyed == 0);
        dfr_deferred_unref(a);
        CHECK(destroyed == 1); // b went with a
    }
    SECTION("chains of chains")
    {
        Recorder r;
        dfr_deferred *a = dfr_deferred_new();
        dfr_deferred *b = dfr_deferred_new();
        dfr_deferred *c = dfr_deferred_new();
        dfr_deferred_chain(a, b);
        dfr_deferred_chain(b, c);
        dfr_deferred_add_callback(c, test::record, &r, nullptr);
        dfr_deferred_callback(a, dfr_bytes_new("x", 1));
        CHECK(r.seen == Seen{"bytes x"});
        CHECK(test::state(a) == "none");
        CHECK(test::state(b) == "none");
        for (auto *d : {a, b, c})
            dfr_deferred_unref(d);
    }
    CHECK(u.count() == 0);
}

// chainDeferred onto a deferred cancelled without a canceller: Twisted's
// d.callback is swallowed once, and d continues with None.
TEST_CASE("S17 chainDeferred into a cancelled deferred is swallowed once", "[chain][S17]")
{
    Recorder eb, after;
    dfr_deferred *a = dfr_deferred_new();
    dfr_deferred *b = dfr_deferred_new();
    dfr_deferred_add_errback(b, test::record_and_handle, &eb, nullptr);
    REQUIRE(dfr_deferred_chain(a, b) == 0);
    dfr_deferred_cancel(b);
    CHECK(eb.seen == Seen{test::fail_text(DFR_DOMAIN, DFR_ECANCELLED)});
    dfr_deferred_add_callback(a, test::record, &after, nullptr);
    dfr_deferred_callback(a, dfr_i64(1));
    CHECK(after.seen == Seen{"none"});
    CHECK(eb.seen.size() == 1);
    dfr_deferred_unref(a);
    dfr_deferred_unref(b);
}

// A self-chained deferred dropped before it fires: the chain's reference
// to itself must not keep it alive (leak).
TEST_CASE("a deferred chained to itself and dropped unfired is freed", "[chain][S17]")
{
    int destroyed = 0;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_both(d, [](dfr_value v, void *) { return v; }, &destroyed, test::count_destroy);
    REQUIRE(dfr_deferred_chain(d, d) == 0);
    dfr_deferred_unref(d);
    CHECK(destroyed == 1);
}

// S19: 100,000-link chains, both directions, without recursion.
TEST_CASE("S19 long implicit chains in both directions", "[chain][S19]")
{
    const int n = 100000;
    std::vector<dfr_deferred *> ds(n);
    bool forward = GENERATE(true, false);
    for (auto &d : ds)
        d = dfr_deferred_new();
    for (int i = 0; i + 1 < n; i++)
        dfr_deferred_add_callback(ds[i], return_deferred, ds[i + 1], nullptr);
    Recorder r;
    dfr_deferred_add_callback(ds[0], test::record, &r, nullptr);
    if (forward) {
        for (int i = 0; i + 1 < n; i++)
            dfr_deferred_callback(ds[i], dfr_none());
        CHECK(r.seen.empty());
        int waiting = 0;
        for (int i = 0; i + 1 < n; i++)
            if (dfr_deferred_state(ds[i]) == DFR_PENDING && !dfr_deferred_result(ds[i]) &&
                dfr_deferred_paused(ds[i]) == 0)
                waiting++;
        CHECK(waiting == n - 1);
        dfr_deferred_callback(ds[n - 1], dfr_bytes_new("end", 3));
    } else {
        dfr_deferred_callback(ds[n - 1], dfr_bytes_new("end", 3));
        for (int i = n - 2; i >= 0; i--)
            dfr_deferred_callback(ds[i], dfr_none());
    }
    CHECK(r.seen == Seen{"bytes end"});
    int none = 0;
    for (int i = 1; i < n; i++)
        if (test::state(ds[i]) == "none")
            none++;
    CHECK(none == n - 1);
    for (auto d : ds)
        dfr_deferred_unref(d);
}

// design.md: chainDeferred is a link of the same loop (Twisted recurses).
TEST_CASE("S19 a 100,000-link chainDeferred chain", "[chain][S19][S17]")
{
    const int n = 100000;
    std::vector<dfr_deferred *> ds(n);
    for (auto &d : ds)
        d = dfr_deferred_new();
    int errors = 0;
    for (int i = 0; i + 1 < n; i++)
        if (dfr_deferred_chain(ds[i], ds[i + 1]) != 0)
            errors++;
    REQUIRE(errors == 0);
    Recorder r;
    dfr_deferred_add_callback(ds[n - 1], test::record, &r, nullptr);
    dfr_deferred_callback(ds[0], dfr_bytes_new("end", 3));
    CHECK(r.seen == Seen{"bytes end"});
    int none = 0;
    for (int i = 0; i + 1 < n; i++)
        if (test::state(ds[i]) == "none")
            none++;
    CHECK(none == n - 1);
    for (auto d : ds)
        dfr_deferred_unref(d);
}

TEST_CASE("S19 a long waiting chain nobody references is freed without recursion", "[chain][S19]")
{
    const int n = 100000;
    int destroyed = 0;
    std::vector<dfr_deferred *> ds(n);
    for (auto &d : ds)
        d = dfr_deferred_new();
    for (int i = 0; i + 1 < n; i++)
        dfr_deferred_add_callback(ds[i], return_deferred, ds[i + 1], nullptr);
    dfr_deferred_add_callback(ds[0], [](dfr_value v, void *) { return v; }, &destroyed, test::count_destroy);
    for (int i = 0; i + 1 < n; i++)
        dfr_deferred_callback(ds[i], dfr_none());
    for (int i = 0; i + 1 < n; i++)
        dfr_deferred_unref(ds[i]);
    CHECK(destroyed == 0); // kept alive by the innermost
    dfr_deferred_unref(ds[n - 1]);
    CHECK(destroyed == 1); // the whole chain went
}

// design.md: the inner owns its waiter.
TEST_CASE("an outer nobody references still completes when the inner fires", "[chain]")
{
    drops = 0;
    Recorder r;
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred *outer = dfr_deferred_new();
    dfr_deferred_add_callback(outer, return_deferred, inner, nullptr);
    dfr_deferred_add_callback(outer, test::record, &r, nullptr);
    dfr_deferred_callback(outer, dfr_none());
    dfr_deferred_unref(outer);
    CHECK(r.seen.empty());
    dfr_deferred_callback(inner, counted_value(3));
    CHECK(r.seen == Seen{"obj counted"});
    CHECK(drops == 1); // the outer was freed with its result once done
    dfr_deferred_unref(inner);
}

TEST_CASE("an inner freed without firing leaves the outer waiting until cancelled", "[chain][cancel]")
{
    Recorder eb;
    int cb_ran = 0;
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred *outer = dfr_deferred_new();
    dfr_deferred_add_callback(outer, return_deferred, inner, nullptr);
    dfr_deferred_add_callbacks(outer, [](dfr_value v, void *data) -> dfr_value {
        ++*static_cast<int *>(data);
        return v;
    }, nullptr, &cb_ran, nullptr);
    dfr_deferred_add_errback(outer, test::record_and_handle, &eb, nullptr);
    dfr_deferred_callback(outer, dfr_none());
    dfr_deferred_unref(inner);
    CHECK(dfr_deferred_state(outer) == DFR_PENDING);
    CHECK(dfr_deferred_result(outer) == nullptr);
    CHECK(eb.seen.empty());
    CHECK(dfr_deferred_callback(outer, dfr_i64(1)) == DFR_EALREADY);
    dfr_deferred_cancel(outer);
    CHECK(eb.seen == Seen{test::fail_text(DFR_DOMAIN, DFR_ECANCELLED)});
    CHECK(cb_ran == 0);
    dfr_deferred_cancel(outer); // once it has a result: nothing
    CHECK(eb.seen.size() == 1);
    dfr_deferred_unref(outer);
}

TEST_CASE("an inner and outer both dropped unfired are freed, destroys run", "[chain]")
{
    int destroyed = 0;
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred *outer = dfr_deferred_new();
    dfr_deferred_add_callback(outer, return_deferred, inner, nullptr);
    auto pass = [](dfr_value v, void *) { return v; };
    dfr_deferred_add_callback(outer, pass, &destroyed, test::count_destroy);
    dfr_deferred_add_callback(inner, pass, &destroyed, test::count_destroy);
    dfr_deferred_callback(outer, dfr_none());
    dfr_deferred_unref(outer);
    CHECK(destroyed == 0);
    dfr_deferred_unref(inner);
    CHECK(destroyed == 2);
}

TEST_CASE("two deferreds waiting on one inner: the first continues, the second gets none", "[chain]")
{
    Recorder r1, r2, after;
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred *w1 = dfr_deferred_new();
    dfr_deferred *w2 = dfr_deferred_new();
    for (auto *w : {w1, w2})
        dfr_deferred_add_callback(w, return_deferred, inner, nullptr);
    dfr_deferred_add_callback(w1, test::record, &r1, nullptr);
    dfr_deferred_add_callback(w2, test::record, &r2, nullptr);
    dfr_deferred_callback(w1, dfr_none());
    dfr_deferred_callback(w2, dfr_none());
    dfr_deferred_add_callback(inner, test::record, &after, nullptr); // behind both waiters
    dfr_deferred_callback(inner, dfr_i64(8));
    CHECK(r1.seen == Seen{"i64 8"});
    CHECK(r2.seen == Seen{"none"});
    CHECK(after.seen == Seen{"none"});
    for (auto *d : {inner, w1, w2})
        dfr_deferred_unref(d);
}

TEST_CASE("a callback added to the inner after a waiter sees none", "[chain][S10]")
{
    Recorder before, after, outer_r;
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred *outer = dfr_deferred_new();
    dfr_deferred_add_callback(inner, test::record, &before, nullptr); // before the waiter
    dfr_deferred_add_callback(outer, return_deferred, inner, nullptr);
    dfr_deferred_add_callback(outer, test::record, &outer_r, nullptr);
    dfr_deferred_callback(outer, dfr_none());
    dfr_deferred_add_callback(inner, test::record, &after, nullptr); // after the waiter
    dfr_deferred_callback(inner, dfr_i64(4));
    CHECK(before.seen == Seen{"i64 4"});
    CHECK(outer_r.seen == Seen{"i64 4"});
    CHECK(after.seen == Seen{"none"});
    dfr_deferred_unref(inner);
    dfr_deferred_unref(outer);
}

// design.md (Stealing): a deferred whose callbacks are running is not
// stolen from; the one returning it waits for the end of its chain.
TEST_CASE("a callback returning a deferred that is running waits for its chain to end", "[chain][S09]")
{
    struct Ctx {
        dfr_deferred *d1, *d2;
        Recorder r;
    } c{};
    c.d1 = dfr_deferred_new();
    c.d2 = dfr_deferred_new();
    dfr_deferred_add_callback(c.d2, return_deferred, c.d1, nullptr);
    dfr_deferred_add_callback(c.d2, [](dfr_value v, void *data) -> dfr_value {
        static_cast<Recorder *>(data)->seen.push_back("d2 " + test::show(v));
        return v;
    }, &c.r, nullptr);
    dfr_deferred_add_callback(c.d1, [](dfr_value v, void *data) -> dfr_value {
        auto *cx = static_cast<Ctx *>(data);
        dfr_deferred_callback(cx->d2, dfr_none()); // d2 now returns d1, running
        cx->r.seen.push_back(std::string("d2 waits: ") +
                             (dfr_deferred_state(cx->d2) == DFR_PENDING ? "yes" : "no"));
        dfr_value_drop(v);
        return dfr_i64(2);
    }, &c, nullptr);
    dfr_deferred_add_callback(c.d1, [](dfr_value v, void *data) -> dfr_value {
        static_cast<Recorder *>(data)->seen.push_back("d1 " + test::show(v));
        return dfr_i64(v.u.i64 + 1);
    }, &c.r, nullptr);
    dfr_deferred_callback(c.d1, dfr_i64(1));
    CHECK(c.r.seen == Seen{"d2 waits: yes", "d1 i64 2", "d2 i64 3"});
    CHECK(test::state(c.d1) == "none");
    CHECK(test::state(c.d2) == "i64 3");
    dfr_deferred_unref(c.d1);
    dfr_deferred_unref(c.d2);
}

// chainDeferred hands a failure on: the other reports it, d does not.
TEST_CASE("S17 an unhandled failure handed on by chainDeferred is reported once, by the other", "[chain][S17][unhandled]")
{
    test::UnhandledCapture u;
    dfr_deferred *a = dfr_deferred_new();
    dfr_deferred *b = dfr_deferred_new();
    dfr_deferred_chain(a, b);
    dfr_deferred_errback(a, dfr_failure_new("test", 1, "handed on"));
    dfr_deferred_unref(a);
    CHECK(u.count() == 0);
    dfr_deferred_unref(b);
    REQUIRE(u.count() == 1);
    CHECK(u.messages[0] == "handed on");
}

TEST_CASE("A running inner deferred whose callback returns an unheld pending deferred is freed",
          "[chain]")
{
    // c fires; b (waiting on c, held only by that wait) runs next and its
    // callback returns a deferred nobody holds: b can never finish, and goes.
    dfr_deferred *c = dfr_deferred_new();
    dfr_deferred *b = dfr_succeed(dfr_none());
    int destroyed = 0;
    dfr_deferred_add_callback(
        b, [](dfr_value v, void *p) { dfr_value_drop(v); return dfr_value_deferred(dfr_deferred_ref(static_cast<dfr_deferred *>(p))); },
        c, nullptr);
    dfr_deferred_add_callback(
        b, [](dfr_value v, void *) { dfr_value_drop(v); return dfr_value_deferred(dfr_deferred_new()); },
        nullptr, nullptr);
    dfr_deferred_add_callback(b, [](dfr_value v, void *) { return v; }, &destroyed, test::count_destroy);
    dfr_deferred_unref(b);
    CHECK(destroyed == 0);
    dfr_deferred_callback(c, dfr_i64(1));
    CHECK(destroyed == 1); // b was freed with its last callback unrun
    dfr_deferred_unref(c);
}

// A sibling of issue 11's lifetime defects: the last reference dropped by a
// callback while the deferred runs, then a later callback returning a
// pending deferred.  The pop freed the outer although the inner's
// continuation held it (a use after free when the inner fired).
TEST_CASE("an outer whose last reference goes in a callback can still wait on an inner",
          "[chain]")
{
    Recorder r;
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred *outer = dfr_deferred_new();
    dfr_deferred_add_callback(
        outer,
        [](dfr_value v, void *data) {
            dfr_deferred_unref(static_cast<dfr_deferred *>(data)); // the last reference
            return v;
        },
        outer, nullptr);
    dfr_deferred_add_callback(outer, return_deferred, inner, nullptr);
    dfr_deferred_add_callback(outer, test::record, &r, nullptr);
    dfr_deferred_callback(outer, dfr_none());
    CHECK(r.seen.empty());
    dfr_deferred_callback(inner, dfr_i64(9));
    CHECK(r.seen == Seen{"i64 9"});
    dfr_deferred_unref(inner);
}
