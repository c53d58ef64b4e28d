// Chaining: a callback returns a deferred (steal or wait), chainDeferred, and
// deep chains.  TWISTED_BEHAVIOURS S09-S19; twisted/test/test_defer.py.
#include <catch2/catch.hpp>

#include "recorder.h"
#include "support.h"

using test::Recorder;

namespace {

// A callback returning the deferred in data (a new reference).
dfr_value return_deferred(dfr_value v, void *data)
{
    dfr_value_drop(v);
    return dfr_value_deferred(dfr_deferred_ref(static_cast<dfr_deferred *>(data)));
}

} // namespace

// test_synchronousImplicitChain.
TEST_CASE("S09 returning a fired deferred steals its result", "[chain][S09]")
{
    Recorder on_first, on_second;
    dfr_deferred *first = dfr_succeed(dfr_bytes_new("obj", 3));
    dfr_deferred *second = dfr_deferred_new();
    dfr_deferred_add_callback(second, return_deferred, first, nullptr);
    dfr_deferred_callback(second, dfr_none());
    dfr_deferred_add_callback(first, test::record, &on_first, nullptr);
    dfr_deferred_add_callback(second, test::record, &on_second, nullptr);
    CHECK(on_first.seen == std::vector<std::string>{"none"});
    CHECK(on_second.seen == std::vector<std::string>{"bytes obj"});
    dfr_deferred_unref(first);
    dfr_deferred_unref(second);
}

// test_asynchronousImplicitChain, test_chainDeferredRecordsImplicitChain.
TEST_CASE("S10 returning a pending deferred makes the outer wait", "[chain][S10]")
{
    Recorder a, b;
    dfr_deferred *first = dfr_deferred_new();
    dfr_deferred *second = dfr_deferred_new();
    dfr_deferred_add_callback(second, return_deferred, first, nullptr);
    dfr_deferred_callback(second, dfr_none());
    CHECK(dfr_deferred_state(second) == DFR_PENDING); // waiting
    CHECK(dfr_deferred_paused(second) == 0);          // a wait is not a user pause
    dfr_deferred_add_callback(first, test::record, &a, nullptr);
    dfr_deferred_add_callback(second, test::record, &b, nullptr);
    CHECK(dfr_deferred_callback(second, dfr_none()) == DFR_EALREADY);
    dfr_deferred_callback(first, dfr_i64(42));
    CHECK(a.seen == std::vector<std::string>{"none"}); // the continuation came first
    CHECK(b.seen == std::vector<std::string>{"i64 42"});
    CHECK(dfr_deferred_state(second) == DFR_SUCCEEDED);
    dfr_deferred_unref(first);
    dfr_deferred_unref(second);
}

// test_synchronousImplicitErrorChain, test_asynchronousImplicitErrorChain,
// test_chainedErrorCleanup.
TEST_CASE("S11 a failure through a chain is reported nowhere once handled", "[chain][S11]")
{
    test::UnhandledCapture u;
    SECTION("synchronous")
    {
        Recorder on_first, eb;
        dfr_deferred *first = dfr_fail(test::failure(1));
        dfr_deferred *second = dfr_deferred_new();
        dfr_deferred_add_callback(second, return_deferred, first, nullptr);
        dfr_deferred_callback(second, dfr_none());
        dfr_deferred_add_callback(first, test::record, &on_first, nullptr);
        dfr_deferred_add_errback(second, test::record_and_handle, &eb, nullptr);
        CHECK(on_first.seen == std::vector<std::string>{"none"});
        CHECK(eb.seen == std::vector<std::string>{"fail test 1"});
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
        CHECK(e.seen == std::vector<std::string>{"fail test 2"});
        CHECK(c1.seen == std::vector<std::string>{"none"});
        CHECK(c2.seen == std::vector<std::string>{"none"});
        dfr_deferred_unref(first);
        dfr_deferred_unref(second);
    }
    CHECK(u.count() == 0);
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
        dfr_deferred_unpause(d2);
        CHECK(r.seen == std::vector<std::string>{"i64 2"});
        dfr_deferred_unref(d1);
        dfr_deferred_unref(d2);
    }
    SECTION("2: a paused fired inner is not stolen")
    {
        Recorder r;
        dfr_deferred *paused = dfr_succeed(dfr_i64(5));
        dfr_deferred_pause(paused);
        dfr_deferred *chained = dfr_deferred_new();
        dfr_deferred_add_callback(chained, return_deferred, paused, nullptr);
        dfr_deferred_callback(chained, dfr_none());
        dfr_deferred_add_callback(chained, test::record, &r, nullptr);
        CHECK(r.seen.empty());
        dfr_deferred_unpause(paused);
        CHECK(r.seen == std::vector<std::string>{"i64 5"});
        dfr_deferred_unref(paused);
        dfr_deferred_unref(chained);
    }
    SECTION("3: pausing the outer does not block the inner")
    {
        Recorder r;
        dfr_deferred *first = dfr_deferred_new();
        dfr_deferred *second = dfr_deferred_new();
        dfr_deferred_add_callback(first, return_deferred, second, nullptr);
        dfr_deferred_callback(first, dfr_none());
        dfr_deferred_pause(first);
        dfr_deferred_callback(second, dfr_none());
        dfr_deferred_add_callback(second, test::record, &r, nullptr);
        CHECK(r.seen == std::vector<std::string>{"none"});
        dfr_deferred_unpause(first);
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
        dfr_deferred_callback(i, dfr_bytes_new("v", 1));
        dfr_deferred_add_callback(o, test::record, &r, nullptr);
        CHECK(r.seen.empty());
        CHECK(dfr_deferred_paused(o) == 1);
        dfr_deferred_unpause(o);
        CHECK(r.seen == std::vector<std::string>{"bytes v"});
        dfr_deferred_unref(o);
        dfr_deferred_unref(i);
    }
}

// test_circularChainWarning / test_circularChainException: we fail the chain.
TEST_CASE("S16 a callback returning its own deferred gets a DFR_EINVAL failure", "[chain][S16]")
{
    Recorder eb, later;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_callback(d, return_deferred, d, nullptr);
    dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
    dfr_deferred_add_callback(d, test::record, &later, nullptr);
    dfr_deferred_callback(d, dfr_bytes_new("foo", 3));
    CHECK(eb.seen == std::vector<std::string>{test::fail_text(DFR_DOMAIN, DFR_EINVAL)});
    CHECK(later.seen == std::vector<std::string>{"none"}); // the chain goes on
    dfr_deferred_cancel(d);                                // no recursion, no effect
    dfr_deferred_unref(d);
}

// test_chainDeferredRecordsExplicitChain, test_explicitChainClearedWhenResolved.
TEST_CASE("S17 chainDeferred", "[chain][S17]")
{
    test::UnhandledCapture u;
    SECTION("callback")
    {
        Recorder r;
        dfr_deferred *a = dfr_deferred_new();
        dfr_deferred *b = dfr_deferred_new();
        REQUIRE(dfr_deferred_chain(a, b) == 0);
        dfr_deferred_add_callback(b, test::record, &r, nullptr);
        dfr_deferred_callback(a, dfr_i64(7));
        CHECK(r.seen == std::vector<std::string>{"i64 7"});
        CHECK(test::state(a) == "none");
        dfr_deferred_unref(a);
        dfr_deferred_unref(b);
    }
    SECTION("errback")
    {
        Recorder r;
        dfr_deferred *a = dfr_deferred_new();
        dfr_deferred *b = dfr_deferred_new();
        dfr_deferred_chain(a, b);
        dfr_deferred_add_errback(b, test::record_and_handle, &r, nullptr);
        dfr_deferred_errback(a, test::failure(1));
        CHECK(r.seen == std::vector<std::string>{"fail test 1"});
        CHECK(test::state(a) == "none");
        dfr_deferred_unref(a);
        dfr_deferred_unref(b);
    }
    SECTION("the other already fired: a's result becomes DFR_EALREADY")
    {
        dfr_deferred *a = dfr_deferred_new();
        dfr_deferred *b = dfr_deferred_new();
        dfr_deferred_chain(a, b);
        dfr_deferred_callback(b, dfr_i64(1));
        CHECK(test::state(a) == "pending");
        dfr_deferred_callback(a, dfr_i64(2));
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
        dfr_deferred_chain(d, d);
        dfr_deferred_callback(d, dfr_i64(1));
        CHECK(test::state(d) == test::fail_text(DFR_DOMAIN, DFR_EALREADY));
        Recorder eb;
        dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
        dfr_deferred_unref(d);
    }
    CHECK(u.count() == 0);
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
        CHECK(dfr_deferred_state(ds[n / 2]) == DFR_PENDING);
        dfr_deferred_callback(ds[n - 1], dfr_bytes_new("end", 3));
    } else {
        dfr_deferred_callback(ds[n - 1], dfr_bytes_new("end", 3));
        for (int i = n - 2; i >= 0; i--)
            dfr_deferred_callback(ds[i], dfr_none());
    }
    CHECK(r.seen == std::vector<std::string>{"bytes end"});
    CHECK(test::state(ds[1]) == "none");
    CHECK(test::state(ds[n - 1]) == "none");
    for (auto d : ds)
        dfr_deferred_unref(d);
}

// design.md: the inner owns its waiter.
TEST_CASE("an outer nobody references still completes when the inner fires", "[chain]")
{
    Recorder r;
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred *outer = dfr_deferred_new();
    dfr_deferred_add_callback(outer, return_deferred, inner, nullptr);
    dfr_deferred_add_callback(outer, test::record, &r, nullptr);
    dfr_deferred_callback(outer, dfr_none());
    dfr_deferred_unref(outer);
    dfr_deferred_callback(inner, dfr_i64(3));
    CHECK(r.seen == std::vector<std::string>{"i64 3"});
    dfr_deferred_unref(inner);
}

TEST_CASE("an inner freed without firing leaves the outer waiting until cancelled", "[chain]")
{
    Recorder eb;
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred *outer = dfr_deferred_new();
    dfr_deferred_add_callback(outer, return_deferred, inner, nullptr);
    dfr_deferred_add_errback(outer, test::record_and_handle, &eb, nullptr);
    dfr_deferred_callback(outer, dfr_none());
    dfr_deferred_unref(inner);
    CHECK(dfr_deferred_state(outer) == DFR_PENDING);
    dfr_deferred_cancel(outer);
    CHECK(eb.seen == std::vector<std::string>{test::fail_text(DFR_DOMAIN, DFR_ECANCELLED)});
    dfr_deferred_unref(outer);
}

TEST_CASE("two deferreds waiting on one inner both continue, in order", "[chain]")
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
    CHECK(r1.seen == std::vector<std::string>{"i64 8"});
    CHECK(r2.seen == std::vector<std::string>{"none"});
    CHECK(after.seen == std::vector<std::string>{"none"});
    for (auto *d : {inner, w1, w2})
        dfr_deferred_unref(d);
}

// test_nestedAsynchronousChainedDeferredsWithExtraCallbacks.
TEST_CASE("callbacks added to a waiting inner keep their place", "[chain]")
{
    struct Ctx {
        dfr_deferred *inner;
        Recorder r;
    } c{};
    c.inner = dfr_deferred_new();
    dfr_deferred *outer = dfr_succeed(dfr_bytes_new("outer", 5));
    dfr_deferred_add_callback(outer, [](dfr_value v, void *data) -> dfr_value {
        auto *ctx = static_cast<Ctx *>(data);
        test::record(v, &ctx->r);
        dfr_value_drop(v);
        dfr_deferred *d = dfr_succeed(dfr_bytes_new("inner", 5));
        dfr_deferred_add_callback(d, [](dfr_value v2, void *data2) -> dfr_value {
            auto *ctx2 = static_cast<Ctx *>(data2);
            test::record(v2, &ctx2->r);
            dfr_value_drop(v2);
            return dfr_value_deferred(dfr_deferred_ref(ctx2->inner));
        }, ctx, nullptr);
        dfr_deferred_add_callback(d, [](dfr_value v2, void *data2) -> dfr_value {
            test::record(v2, data2);
            return dfr_i64(v2.u.i64 * 2);
        }, &ctx->r, nullptr);
        return dfr_value_deferred(d);
    }, &c, nullptr);
    dfr_deferred_add_callback(outer, test::record, &c.r, nullptr);
    CHECK(c.r.seen == std::vector<std::string>{"bytes outer", "bytes inner"});
    dfr_deferred_callback(c.inner, dfr_i64(21));
    CHECK(c.r.seen == std::vector<std::string>{"bytes outer", "bytes inner", "i64 21", "i64 42"});
    dfr_deferred_unref(outer);
    dfr_deferred_unref(c.inner);
}
