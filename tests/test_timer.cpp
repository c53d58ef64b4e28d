// Timers and the manual clock.  TWISTED_BEHAVIOURS S40, S41, S43, S48;
// twisted/test/test_task.py ClockTests, twisted/test/test_internet.py
// DelayedCall tests, twisted/internet/test/test_base.py.
#include <catch2/catch.hpp>

#include "reactor_support.h"
#include "support.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <random>

using test::Clock;
using test::Log;
using test::Named;

namespace {
void count_call(void *data) { ++*static_cast<int *>(data); }
} // namespace

// testSeconds, testCallLater, testAdvance.
TEST_CASE("S40 the manual clock: callLater, advance, active", "[timer][S40]")
{
    Clock c;
    CHECK(dfr_reactor_seconds(c.r) == 0.0);
    int called = 0;
    dfr_delayed_call *dc;
    REQUIRE(dfr_call_later(c.r, 2, count_call, &called, nullptr, &dc) == 0);
    CHECK(dfr_delayed_call_time(dc) == 2.0);
    CHECK(dfr_delayed_call_active(dc));
    c.advance(1);
    CHECK(called == 0);
    c.advance(1);
    CHECK(called == 1);
    CHECK_FALSE(dfr_delayed_call_active(dc));
    dfr_delayed_call_unref(dc);
}

// testDelayedCallDelay, testDelayedCallReset (lazy and eager), delay back.
TEST_CASE("S40 delay and reset", "[timer][S40]")
{
    Clock c;
    int called = 0;
    dfr_delayed_call *dc;
    SECTION("delay pushes back")
    {
        dfr_call_later(c.r, 1, count_call, &called, nullptr, &dc);
        REQUIRE(dfr_delayed_call_delay(dc, 1) == 0);
        CHECK(dfr_delayed_call_time(dc) == 2.0);
        c.advance(1.5);
        CHECK(called == 0);
        c.advance(1.0);
        CHECK(called == 1);
    }
    SECTION("reset later, from now")
    {
        dfr_call_later(c.r, 2, count_call, &called, nullptr, &dc);
        c.advance(1);
        REQUIRE(dfr_delayed_call_reset(dc, 3) == 0);
        CHECK(dfr_delayed_call_time(dc) == 4.0);
        c.advance(2);
        CHECK(called == 0);
        c.advance(1);
        CHECK(called == 1);
    }
    SECTION("reset earlier")
    {
        dfr_call_later(c.r, 4, count_call, &called, nullptr, &dc);
        dfr_delayed_call_reset(dc, 3);
        CHECK(dfr_delayed_call_time(dc) == 3.0);
        c.advance(3);
        CHECK(called == 1);
    }
    SECTION("delay by a negative amount")
    {
        dfr_call_later(c.r, 10, count_call, &called, nullptr, &dc);
        dfr_delayed_call_delay(dc, 2);
        dfr_delayed_call_delay(dc, -5);
        CHECK(dfr_delayed_call_time(dc) == 7.0);
        c.advance(7);
        CHECK(called == 1);
    }
    dfr_delayed_call_unref(dc);
}

// test_cancelCancelledDelayedCall, test_cancelCalledDelayedCall*, testAdvanceCancel.
TEST_CASE("S41 cancelled and called handles report it until the last unref", "[timer][S41]")
{
    Clock c;
    int called = 0, destroyed = 0;
    dfr_delayed_call *dc;
    dfr_call_later(c.r, 1, count_call, &called, nullptr, &dc);
    dfr_delayed_call_unref(dc); // the call stays scheduled without its handle
    dfr_call_later(c.r, 1, count_call, &destroyed, nullptr, &dc);
    REQUIRE(dfr_delayed_call_cancel(dc) == 0);
    CHECK_FALSE(dfr_delayed_call_active(dc));
    CHECK(dfr_reactor_pending_calls(c.r) == 1); // only the first call remains
    CHECK(dfr_delayed_call_cancel(dc) == DFR_EALREADY_CANCELLED);
    CHECK(dfr_delayed_call_reset(dc, 1) == DFR_EALREADY_CANCELLED);
    CHECK(dfr_delayed_call_delay(dc, 1) == DFR_EALREADY_CANCELLED);
    c.advance(2);
    CHECK(destroyed == 0);
    dfr_delayed_call_unref(dc);

    dfr_call_later(c.r, 1, count_call, &called, nullptr, &dc);
    c.advance(1);
    CHECK(dfr_delayed_call_cancel(dc) == DFR_EALREADY_CALLED_DC);
    CHECK(dfr_delayed_call_reset(dc, 1) == DFR_EALREADY_CALLED_DC);
    CHECK(dfr_delayed_call_delay(dc, 1) == DFR_EALREADY_CALLED_DC);
    dfr_delayed_call_unref(dc);
}

TEST_CASE("S41 inside its own function a call is already called", "[timer][S41]")
{
    Clock c;
    struct Ctx {
        dfr_delayed_call *dc;
        int rc;
        bool active;
    } ctx{};
    dfr_call_later(c.r, 1, [](void *data) {
        auto *x = static_cast<Ctx *>(data);
        x->rc = dfr_delayed_call_cancel(x->dc);
        x->active = dfr_delayed_call_active(x->dc);
    }, &ctx, nullptr, &ctx.dc);
    ctx.active = true;
    c.advance(1);
    CHECK(ctx.rc == DFR_EALREADY_CALLED_DC);
    CHECK_FALSE(ctx.active);
    dfr_delayed_call_unref(ctx.dc);
}

// S43 adapted (design.md): calls scheduled during a pass wait for the next.
TEST_CASE("S43 equal times run in order; calls made during a pass wait for the next", "[timer][S43]")
{
    Clock c;
    Log log;
    std::vector<Named> names;
    names.reserve(11);
    for (int i = 0; i < 10; i++)
        names.push_back({&log, std::to_string(i)});
    for (auto &n : names)
        dfr_call_later(c.r, 1, test::append_name, &n, nullptr, nullptr);
    names.push_back({&log, "nested0"});
    // The nested case: a zero-delay call scheduling another zero-delay call.
    struct Nest {
        dfr_reactor *r;
        Named *inner;
    } nest{c.r, &names.back()};
    dfr_call_later(c.r, 0, [](void *data) {
        auto *x = static_cast<Nest *>(data);
        dfr_call_later(x->r, 0, test::append_name, x->inner, nullptr, nullptr);
    }, &nest, nullptr, nullptr);
    c.advance(0);
    CHECK(log.seen.empty()); // nested0 waits for the next pass
    c.advance(0);
    CHECK(log.seen == std::vector<std::string>{"nested0"});
    c.advance(1);
    std::vector<std::string> want{"nested0"};
    for (int i = 0; i < 10; i++)
        want.push_back(std::to_string(i));
    CHECK(log.seen == want);
}

// S48: distinct deadlines with resets and a cancel.
TEST_CASE("S48 run order follows the deadlines after reset and cancel", "[timer][S48]")
{
    Clock c;
    Log log;
    Named a{&log, "a"}, b{&log, "b"}, cc{&log, "c"}, x{&log, "x"};
    dfr_delayed_call *da, *dcc, *dx;
    dfr_call_later(c.r, 0.02, test::append_name, &a, nullptr, &da);
    dfr_call_later(c.r, 0.03, test::append_name, &b, nullptr, nullptr);
    dfr_call_later(c.r, 0.04, test::append_name, &cc, nullptr, &dcc);
    dfr_call_later(c.r, 0.05, test::append_name, &x, nullptr, &dx);
    dfr_delayed_call_reset(da, 0.05);
    dfr_delayed_call_reset(dcc, 0.01);
    dfr_delayed_call_cancel(dx);
    c.advance(0.1);
    CHECK(log.seen == std::vector<std::string>{"c", "b", "a"});
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    for (auto *h : {da, dcc, dx})
        dfr_delayed_call_unref(h);
}

TEST_CASE("10,000 random schedules, cancels and resets fire in model order", "[timer]")
{
    Clock c;
    std::mt19937 rng(42);
    struct Item {
        int id;
        std::vector<int> *fired;
    };
    std::vector<int> fired;
    std::vector<Item> items(10000);
    std::vector<dfr_delayed_call *> handles(items.size());
    // The model: (time in ms, order of last (re)schedule) -> id.
    std::map<std::pair<long, long>, int> model;
    std::vector<std::pair<long, long>> key(items.size());
    long order = 0;
    for (size_t i = 0; i < items.size(); i++) {
        items[i] = {static_cast<int>(i), &fired};
        long ms = rng() % 1000;
        dfr_call_later(c.r, ms / 1000.0, [](void *data) {
            auto *it = static_cast<Item *>(data);
            it->fired->push_back(it->id);
        }, &items[i], nullptr, &handles[i]);
        key[i] = {ms, order++};
        model[key[i]] = static_cast<int>(i);
    }
    for (size_t i = 0; i < items.size(); i += 3) {
        if (rng() % 2) {
            dfr_delayed_call_cancel(handles[i]);
            model.erase(key[i]);
        } else {
            long ms = rng() % 1000;
            dfr_delayed_call_reset(handles[i], ms / 1000.0);
            model.erase(key[i]);
            key[i] = {ms, order++};
            model[key[i]] = static_cast<int>(i);
        }
    }
    c.advance(1.0);
    std::vector<int> want;
    for (auto &kv : model)
        want.push_back(kv.second);
    CHECK(fired == want);
    for (auto *h : handles)
        dfr_delayed_call_unref(h);
}

TEST_CASE("destroy: at once on cancel, after the call, and at reactor free", "[timer][destroy]")
{
    int destroyed = 0;
    {
        Clock c;
        dfr_delayed_call *dc;
        dfr_call_later(c.r, 1, [](void *) {}, &destroyed, test::count_destroy, &dc);
        dfr_delayed_call_cancel(dc);
        CHECK(destroyed == 1);
        dfr_delayed_call_unref(dc);
        dfr_call_later(c.r, 1, [](void *) {}, &destroyed, test::count_destroy, nullptr);
        c.advance(1);
        CHECK(destroyed == 2);
        dfr_call_later(c.r, 5, [](void *) {}, &destroyed, test::count_destroy, &dc);
        dfr_call_later(c.r, 5, [](void *) {}, &destroyed, test::count_destroy, nullptr);
        dfr_reactor_free(c.r);
        c.r = nullptr;
        CHECK(destroyed == 4);
        // The handle outlives its reactor.
        CHECK(dfr_delayed_call_cancel(dc) == DFR_EALREADY_CANCELLED);
        CHECK_FALSE(dfr_delayed_call_active(dc));
        dfr_delayed_call_unref(dc);
    }
}

TEST_CASE("bad input", "[timer][bad-input]")
{
    Clock c;
    int destroyed = 0;
    for (double bad : std::vector<double>{-1.0, std::nan(""), HUGE_VAL, 1e12})
        CHECK(dfr_call_later(c.r, bad, [](void *) {}, &destroyed, test::count_destroy, nullptr) == DFR_EINVAL);
    CHECK(destroyed == 4);
    CHECK(dfr_call_later(c.r, 1, nullptr, &destroyed, test::count_destroy, nullptr) == DFR_EINVAL);
    CHECK(dfr_call_later(nullptr, 1, [](void *) {}, &destroyed, test::count_destroy, nullptr) == DFR_EINVAL);
    CHECK(destroyed == 6);
    CHECK(dfr_reactor_advance(c.r, -1) == DFR_EINVAL);
    CHECK(dfr_reactor_advance(nullptr, 1) == DFR_EINVAL);
    dfr_reactor *real = dfr_reactor_new(nullptr);
    CHECK(dfr_reactor_advance(real, 1) == DFR_EINVAL);
    dfr_reactor_free(real);
    CHECK(dfr_delayed_call_cancel(nullptr) == DFR_EINVAL);
    CHECK(std::isnan(dfr_delayed_call_time(nullptr)));
    dfr_delayed_call *dc;
    dfr_call_later(c.r, 1, [](void *) {}, nullptr, nullptr, &dc);
    CHECK(dfr_delayed_call_reset(dc, -1) == DFR_EINVAL);
    CHECK(dfr_delayed_call_delay(dc, std::nan("")) == DFR_EINVAL);
    dfr_delayed_call_unref(dc);
    dfr_reactor_options small = {};
    CHECK(dfr_reactor_new(&small) == nullptr); // size 0
}

TEST_CASE("debug mode: a handle used after its last unref is DFR_EINVAL", "[timer][debug]")
{
    dfr_set_debug(true);
    {
        Clock c;
        dfr_delayed_call *dc;
        dfr_call_later(c.r, 1, [](void *) {}, nullptr, nullptr, &dc);
        dfr_delayed_call_cancel(dc);
        dfr_delayed_call_unref(dc);
        CHECK(dfr_delayed_call_cancel(dc) == DFR_EINVAL); // poisoned, not freed yet
        CHECK_FALSE(dfr_delayed_call_active(dc));
    }
    dfr_set_debug(false);
}

TEST_CASE("allocation failures: reactor_new and call_later", "[timer][alloc]")
{
    test::for_each_allocation_failure([](long) {
        dfr_reactor_options o = {};
        o.size = sizeof o;
        o.manual_clock = true;
        dfr_reactor *r = dfr_reactor_new(&o);
        if (!r)
            return;
        int destroyed = 0;
        dfr_delayed_call *dc = nullptr;
        int rc1 = dfr_call_later(r, 1, [](void *) {}, &destroyed, test::count_destroy, &dc);
        int rc2 = dfr_call_later(r, 1, [](void *) {}, &destroyed, test::count_destroy, nullptr);
        CHECK((rc1 == 0 || rc1 == DFR_ENOMEM));
        CHECK((rc2 == 0 || rc2 == DFR_ENOMEM));
        CHECK(destroyed == (rc1 ? 1 : 0) + (rc2 ? 1 : 0));
        dfr_reactor_advance(r, 1);
        CHECK(destroyed == 2);
        dfr_delayed_call_unref(dc);
        dfr_reactor_free(r);
    });
}
