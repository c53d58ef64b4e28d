// dfr_deferred_take_result: the await of a fired deferred without a
// coroutine.  It takes exactly what a callback added now would get, and only
// when such a callback would run at once.
#include <catch2/catch.hpp>

#include "recorder.h"
#include "support.h"

namespace {

using test::counted_value;
using test::drops;

dfr_value plus_one(dfr_value v, void *) { return dfr_i64(v.u.i64 + 1); }

} // namespace

TEST_CASE("take_result moves a fired result out and leaves none", "[deferred][take]")
{
    dfr_deferred *d = dfr_succeed(dfr_i64(41));
    dfr_deferred_add_callback(d, plus_one, nullptr, nullptr);
    dfr_value v = dfr_none();
    REQUIRE(dfr_deferred_take_result(d, &v));
    CHECK(dfr_is_i64(v));
    CHECK(v.u.i64 == 42);
    // The chain goes on with none, as after a callback that consumed it.
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    REQUIRE(dfr_deferred_result(d) != nullptr);
    CHECK(dfr_is_none(*dfr_deferred_result(d)));
    // Taking again gives that none.
    dfr_value again = dfr_i64(7);
    REQUIRE(dfr_deferred_take_result(d, &again));
    CHECK(dfr_is_none(again));
    dfr_deferred_unref(d);
}

TEST_CASE("take_result: an owned value is dropped once, by its new owner", "[deferred][take]")
{
    int before = drops;
    dfr_deferred *d = dfr_succeed(counted_value(1));
    dfr_value v = dfr_none();
    REQUIRE(dfr_deferred_take_result(d, &v));
    dfr_deferred_unref(d);
    CHECK(drops == before);
    dfr_value_drop(v);
    CHECK(drops == before + 1);
}

TEST_CASE("take_result: *out is a slot, what it held is dropped", "[deferred][take]")
{
    int before = drops;
    dfr_deferred *d = dfr_succeed(dfr_i64(3));
    dfr_value v = counted_value(2);
    REQUIRE(dfr_deferred_take_result(d, &v));
    CHECK(drops == before + 1);
    CHECK(v.u.i64 == 3);
    dfr_deferred_unref(d);
}

TEST_CASE("take_result: a taken failure is handled (no unhandled report)", "[deferred][take]")
{
    test::UnhandledCapture u;
    dfr_deferred *d = dfr_fail(test::failure(5));
    dfr_value v = dfr_none();
    REQUIRE(dfr_deferred_take_result(d, &v));
    CHECK(test::code_of(&v) == 5);
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    dfr_deferred_unref(d);
    dfr_value_drop(v);
    CHECK(u.count() == 0);
}

TEST_CASE("take_result refuses when a callback would not run now", "[deferred][take]")
{
    int before = drops;
    dfr_value v = counted_value(9); // untouched on refusal
    SECTION("NULL arguments")
    {
        CHECK_FALSE(dfr_deferred_take_result(nullptr, &v));
        dfr_deferred *d = dfr_succeed(dfr_i64(1));
        CHECK_FALSE(dfr_deferred_take_result(d, nullptr));
        CHECK(dfr_deferred_result(d)->u.i64 == 1);
        dfr_deferred_unref(d);
    }
    SECTION("pending")
    {
        dfr_deferred *d = dfr_deferred_new();
        CHECK_FALSE(dfr_deferred_take_result(d, &v));
        dfr_deferred_unref(d);
    }
    SECTION("paused")
    {
        dfr_deferred *d = dfr_succeed(dfr_i64(1));
        REQUIRE(dfr_deferred_pause(d) == 0);
        CHECK_FALSE(dfr_deferred_take_result(d, &v));
        REQUIRE(dfr_deferred_unpause(d) == 0);
        dfr_value w = dfr_none();
        CHECK(dfr_deferred_take_result(d, &w));
        CHECK(w.u.i64 == 1);
        dfr_deferred_unref(d);
    }
    SECTION("waiting on another deferred")
    {
        dfr_deferred *inner = dfr_deferred_new();
        dfr_deferred *d = dfr_succeed(dfr_i64(1));
        dfr_deferred_add_callback(
            d,
            [](dfr_value r, void *p) {
                dfr_value_drop(r);
                return dfr_value_deferred(dfr_deferred_ref(static_cast<dfr_deferred *>(p)));
            },
            inner, nullptr);
        CHECK_FALSE(dfr_deferred_take_result(d, &v));
        dfr_deferred_callback(inner, dfr_i64(2));
        dfr_value w = dfr_none();
        CHECK(dfr_deferred_take_result(d, &w));
        CHECK(w.u.i64 == 2);
        dfr_deferred_unref(inner);
        dfr_deferred_unref(d);
    }
    SECTION("inside one of its own callbacks")
    {
        struct Seen {
            dfr_deferred *d;
            bool took;
        } seen{nullptr, true};
        seen.d = dfr_deferred_new();
        dfr_deferred_add_callback(
            seen.d,
            [](dfr_value r, void *p) {
                auto *s = static_cast<Seen *>(p);
                dfr_value w = dfr_none();
                s->took = dfr_deferred_take_result(s->d, &w);
                return r;
            },
            &seen, nullptr);
        dfr_deferred_callback(seen.d, dfr_i64(1));
        CHECK_FALSE(seen.took);
        CHECK(dfr_deferred_result(seen.d)->u.i64 == 1);
        dfr_deferred_unref(seen.d);
    }
    CHECK(drops == before);
    CHECK(v.type == &test::counted);
    dfr_value_drop(v);
    CHECK(drops == before + 1);
}
