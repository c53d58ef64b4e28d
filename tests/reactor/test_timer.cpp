// Timers and the manual clock: dfr_reactor_call_later, dfr_delayed_call handles and
// dfr_reactor_advance (behaviours S40, S41, S43 adapted, S48), ported from twisted/test/test_task.py (ClockTests),
// twisted/test/test_internet.py (TimeTests, DelayedTests) and
// twisted/internet/test/test_base.py (DelayedCallMixin).  Every timing
// behaviour runs on the manual clock: no test sleeps.
#include <catch2/catch.hpp>

#include "reactor_support.h"
#include "support.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

using test::Clock;
using test::Log;
using test::Named;

namespace {

void count_call(void *data) { ++*static_cast<int *>(data); }

// Separate counts of runs and destroys for one data pointer.
struct Counts {
    int called = 0, destroyed = 0;
};
void counts_call(void *data) { static_cast<Counts *>(data)->called++; }
void counts_destroy(void *data) { static_cast<Counts *>(data)->destroyed++; }
void nothing(void *) {}

// A call that logs "name@seconds" when it runs.
struct Timed {
    dfr_reactor *r;
    std::vector<std::string> *log;
    std::string name;
};

std::string at(const std::string &name, double seconds)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s@%g", name.c_str(), seconds);
    return buf;
}

void log_time(void *data)
{
    auto *t = static_cast<Timed *>(data);
    t->log->push_back(at(t->name, dfr_reactor_seconds(t->r)));
}

// Switches debug mode on for a scope, and off again even if a check throws.
using test::DebugMode;

const double inf = std::numeric_limits<double>::infinity();
const double nan_ = std::numeric_limits<double>::quiet_NaN();

} // namespace

// test_task.py ClockTests: testSeconds, testCallLater, testAdvance,
// test_callLaterOrdering (each call gets a handle of its own);
// test_base.py DelayedCallMixin test_lt/test_gt (calls order by their time).
TEST_CASE("S40 the manual clock starts at 0; callLater runs when time reaches it", "[timer][S40]")
{
    Clock c;
    REQUIRE(c.r != nullptr);
    CHECK(dfr_reactor_seconds(c.r) == 0.0);
    int called = 0;
    dfr_delayed_call *dc = nullptr, *other = nullptr;
    REQUIRE(dfr_reactor_call_later(c.r, 2, count_call, &called, nullptr, &dc) == 0);
    REQUIRE(dfr_reactor_call_later(c.r, 10, nothing, nullptr, nullptr, &other) == 0);
    CHECK(dc != other);
    CHECK(dfr_delayed_call_time(dc) == 2.0);
    CHECK(dfr_delayed_call_time(dc) < dfr_delayed_call_time(other));
    CHECK(dfr_delayed_call_active(dc));
    CHECK(dfr_reactor_pending_calls(c.r) == 2);
    CHECK(dfr_reactor_advance(c.r, 1) == 0);
    CHECK(called == 0);
    CHECK(dfr_reactor_seconds(c.r) == 1.0);
    CHECK(dfr_reactor_advance(c.r, 1) == 0);
    CHECK(called == 1);
    CHECK(dfr_reactor_seconds(c.r) == 2.0);
    CHECK_FALSE(dfr_delayed_call_active(dc));
    CHECK(dfr_reactor_pending_calls(c.r) == 1);
    c.advance(100);
    CHECK(called == 1); // a call runs once
    dfr_delayed_call_unref(dc);
    dfr_delayed_call_unref(other);
}

// test_task.py ClockTests testCallLaterCancelled, test_getDelayedCalls,
// test_getDelayedCallsEmpty; test_internet.py test_cancelDelayedCall.
TEST_CASE("S40 pending calls are counted; a cancelled call never runs", "[timer][S40]")
{
    Clock c;
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    int called = 0;
    dfr_delayed_call *a, *b;
    dfr_reactor_call_later(c.r, 1, count_call, &called, nullptr, &a);
    dfr_reactor_call_later(c.r, 2, count_call, &called, nullptr, &b);
    dfr_reactor_call_later(c.r, 0, count_call, &called, nullptr, nullptr);
    CHECK(dfr_reactor_pending_calls(c.r) == 3);
    REQUIRE(dfr_delayed_call_cancel(a) == 0);
    CHECK_FALSE(dfr_delayed_call_active(a));
    CHECK(dfr_delayed_call_active(b));
    CHECK(dfr_reactor_pending_calls(c.r) == 2);
    c.advance(0);
    CHECK(called == 1);
    c.advance(1);
    CHECK(called == 1); // a was cancelled
    c.advance(1);
    CHECK(called == 2);
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    dfr_delayed_call_unref(a);
    dfr_delayed_call_unref(b);
}

// test_task.py ClockTests testCallLaterDelayed, testCallLaterResetLater,
// testCallLaterResetSooner; S40's delay(2) then delay(-5).
TEST_CASE("S40 delay and reset move the call", "[timer][S40]")
{
    Clock c;
    int called = 0;
    dfr_delayed_call *dc = nullptr;
    SECTION("delay pushes back")
    {
        dfr_reactor_call_later(c.r, 1, count_call, &called, nullptr, &dc);
        REQUIRE(dfr_delayed_call_delay(dc, 1) == 0);
        CHECK(dfr_delayed_call_time(dc) == 2.0);
        c.advance(1.5);
        CHECK(called == 0);
        c.advance(1.0);
        CHECK(called == 1);
    }
    SECTION("reset to later counts from now")
    {
        dfr_reactor_call_later(c.r, 2, count_call, &called, nullptr, &dc);
        c.advance(1);
        REQUIRE(dfr_delayed_call_reset(dc, 3) == 0);
        CHECK(dfr_delayed_call_time(dc) == 4.0);
        c.advance(2);
        CHECK(called == 0);
        c.advance(1);
        CHECK(called == 1);
    }
    SECTION("reset to sooner")
    {
        dfr_reactor_call_later(c.r, 4, count_call, &called, nullptr, &dc);
        REQUIRE(dfr_delayed_call_reset(dc, 3) == 0);
        CHECK(dfr_delayed_call_time(dc) == 3.0);
        c.advance(2.999);
        CHECK(called == 0);
        c.advance(0.001);
        CHECK(called == 1);
    }
    SECTION("delay by a negative amount brings it forward")
    {
        dfr_reactor_call_later(c.r, 10, count_call, &called, nullptr, &dc);
        REQUIRE(dfr_delayed_call_delay(dc, 2) == 0);
        REQUIRE(dfr_delayed_call_delay(dc, -5) == 0);
        CHECK(dfr_delayed_call_time(dc) == 7.0);
        c.advance(6.5);
        CHECK(called == 0);
        c.advance(0.5);
        CHECK(called == 1);
    }
    SECTION("a negative delay into the past runs on the next advance")
    {
        dfr_reactor_call_later(c.r, 1, count_call, &called, nullptr, &dc);
        c.advance(0.5);
        REQUIRE(dfr_delayed_call_delay(dc, -3) == 0);
        CHECK(dfr_delayed_call_time(dc) == -2.0);
        CHECK(called == 0); // nothing runs outside a pass
        c.advance(0);
        CHECK(called == 1);
    }
    SECTION("reset to 0 runs on the next advance")
    {
        dfr_reactor_call_later(c.r, 5, count_call, &called, nullptr, &dc);
        c.advance(1);
        REQUIRE(dfr_delayed_call_reset(dc, 0) == 0);
        CHECK(dfr_delayed_call_time(dc) == 1.0);
        CHECK(called == 0);
        c.advance(0);
        CHECK(called == 1);
    }
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    dfr_delayed_call_unref(dc);
}

// test_task.py ClockTests test_callLaterKeepsCallsOrdered,
// test_callLaterResetKeepsCallsOrdered.
TEST_CASE("S40 a reset call keeps its place among newer calls", "[timer][S40]")
{
    Clock c;
    std::vector<std::string> log;
    Timed a{c.r, &log, "a"}, b{c.r, &log, "b"};
    dfr_delayed_call *da;
    bool reset_first = GENERATE(true, false);
    dfr_reactor_call_later(c.r, 1, log_time, &a, nullptr, &da);
    if (reset_first) {
        dfr_delayed_call_reset(da, 3);
        dfr_reactor_call_later(c.r, 2, log_time, &b, nullptr, nullptr);
    } else {
        dfr_reactor_call_later(c.r, 2, log_time, &b, nullptr, nullptr);
        dfr_delayed_call_reset(da, 3);
    }
    c.pump({1, 1, 1});
    CHECK(log == std::vector<std::string>{"b@2", "a@3"});
    dfr_delayed_call_unref(da);
}

// test_task.py ClockTests test_callLaterResetInsideCallKeepsCallsOrdered.
TEST_CASE("S40 a reset made inside another call keeps the order", "[timer][S40]")
{
    Clock c;
    std::vector<std::string> log;
    Timed b{c.r, &log, "b"}, cc{c.r, &log, "c"};
    dfr_delayed_call *db;
    dfr_reactor_call_later(c.r, 2, log_time, &b, nullptr, &db);
    dfr_reactor_call_later(c.r, 1, [](void *data) {
        CHECK(dfr_delayed_call_reset(static_cast<dfr_delayed_call *>(data), 3) == 0);
    }, db, nullptr, nullptr);
    dfr_reactor_call_later(c.r, 3, log_time, &cc, nullptr, nullptr);
    for (int i = 0; i < 10; i++)
        c.advance(0.5);
    CHECK(log == std::vector<std::string>{"c@3", "b@4"});
    dfr_delayed_call_unref(db);
}

// S41; test_internet.py test_cancelCancelledDelayedCall,
// test_cancelCalledDelayedCallAsynchronous; test_task.py testAdvanceCancel.
TEST_CASE("S41 cancelled and called handles say so until the last unref", "[timer][S41]")
{
    Clock c;
    Counts n;
    int &called = n.called, &destroyed = n.destroyed;
    dfr_delayed_call *dc;
    SECTION("cancelled")
    {
        dfr_reactor_call_later(c.r, 1, counts_call, &n, counts_destroy, &dc);
        dfr_reactor_call_later(c.r, 1, count_call, &called, nullptr, nullptr);
        REQUIRE(dfr_delayed_call_cancel(dc) == 0);
        CHECK(called == 0);
        CHECK(destroyed == 1);
        CHECK_FALSE(dfr_delayed_call_active(dc));
        CHECK(dfr_reactor_pending_calls(c.r) == 1); // gone from the pending calls
        for (int i = 0; i < 2; i++) {
            CHECK(dfr_delayed_call_cancel(dc) == DFR_EALREADY_CANCELLED);
            CHECK(dfr_delayed_call_reset(dc, 1) == DFR_EALREADY_CANCELLED);
            CHECK(dfr_delayed_call_delay(dc, 1) == DFR_EALREADY_CANCELLED);
            c.advance(2);
        }
        CHECK(called == 1); // only the other call ran
        CHECK(destroyed == 1);
    }
    SECTION("called")
    {
        dfr_reactor_call_later(c.r, 1, counts_call, &n, counts_destroy, &dc);
        c.advance(1);
        CHECK(called == 1);
        for (int i = 0; i < 2; i++) {
            CHECK_FALSE(dfr_delayed_call_active(dc));
            CHECK(dfr_delayed_call_cancel(dc) == DFR_EALREADY_RAN);
            CHECK(dfr_delayed_call_reset(dc, 1) == DFR_EALREADY_RAN);
            CHECK(dfr_delayed_call_delay(dc, 1) == DFR_EALREADY_RAN);
            c.advance(2);
        }
        CHECK(called == 1);
        CHECK(destroyed == 1);
    }
    // Extra references keep the handle; each needs its unref.
    CHECK(dfr_delayed_call_ref(dc) == dc);
    dfr_delayed_call_unref(dc);
    CHECK_FALSE(dfr_delayed_call_active(dc));
    dfr_delayed_call_unref(dc);
}

// S41; test_internet.py test_cancelCalledDelayedCallSynchronous;
// test_task.py testAdvanceCancel.
TEST_CASE("S41 inside its own function a call is already called", "[timer][S41]")
{
    Clock c;
    struct Ctx {
        dfr_delayed_call *dc = nullptr;
        int cancel_rc = 0, reset_rc = 0, delay_rc = 0;
        bool active = true;
        int destroyed = 0;
    } ctx;
    dfr_reactor_call_later(c.r, 1, [](void *data) {
        auto *x = static_cast<Ctx *>(data);
        x->cancel_rc = dfr_delayed_call_cancel(x->dc);
        x->reset_rc = dfr_delayed_call_reset(x->dc, 1);
        x->delay_rc = dfr_delayed_call_delay(x->dc, 1);
        x->active = dfr_delayed_call_active(x->dc);
        CHECK(x->destroyed == 0); // destroy runs after the function
    }, &ctx, [](void *data) { static_cast<Ctx *>(data)->destroyed++; }, &ctx.dc);
    c.advance(1);
    CHECK(ctx.cancel_rc == DFR_EALREADY_RAN);
    CHECK(ctx.reset_rc == DFR_EALREADY_RAN);
    CHECK(ctx.delay_rc == DFR_EALREADY_RAN);
    CHECK_FALSE(ctx.active);
    CHECK(ctx.destroyed == 1);
    CHECK(dfr_reactor_pending_calls(c.r) == 0); // reset from inside did not reschedule
    c.advance(5);
    dfr_delayed_call_unref(ctx.dc);
}

// S41: the handle is the caller's alone once the call has run; the reactor
// drops its own reference.  A handle dropped while pending leaves the call
// scheduled.
TEST_CASE("S41 dropping the handle does not cancel the call", "[timer][S41]")
{
    Clock c;
    Counts n;
    int &called = n.called, &destroyed = n.destroyed;
    dfr_delayed_call *dc;
    dfr_reactor_call_later(c.r, 1, counts_call, &n, counts_destroy, &dc);
    dfr_delayed_call_unref(dc);
    CHECK(dfr_reactor_pending_calls(c.r) == 1);
    c.advance(1);
    CHECK(called == 1);
    CHECK(destroyed == 1);
}

// S43 adapted (docs/reactor.md): Twisted's Clock runs a call scheduled during
// advance(0) in the same advance; we run it on the next pass.  Ten equal
// deadlines run in the order scheduled.  (S43's raising call has no C
// counterpart: a C function cannot throw through the reactor.)
TEST_CASE("S43 equal times run in order; calls made during a pass wait for the next", "[timer][S43]")
{
    Clock c;
    Log log;
    std::vector<Named> names;
    names.reserve(11);
    for (int i = 0; i < 10; i++)
        names.push_back({&log, std::to_string(i)});
    for (int i = 0; i < 10; i++)
        dfr_reactor_call_later(c.r, 1, test::append_name, &names[i], nullptr, nullptr);
    names.push_back({&log, "nested0"});
    struct Nest {
        dfr_reactor *r;
        Named *inner;
    } nest{c.r, &names.back()};
    dfr_reactor_call_later(c.r, 0, [](void *data) {
        auto *x = static_cast<Nest *>(data);
        REQUIRE(dfr_reactor_call_later(x->r, 0, test::append_name, x->inner, nullptr, nullptr) == 0);
    }, &nest, nullptr, nullptr);
    c.advance(0);
    CHECK(log.seen.empty()); // nested0 waits for the next pass
    CHECK(dfr_reactor_pending_calls(c.r) == 11);
    c.advance(0);
    CHECK(log.seen == std::vector<std::string>{"nested0"});
    c.advance(1);
    std::vector<std::string> want{"nested0"};
    for (int i = 0; i < 10; i++)
        want.push_back(std::to_string(i));
    CHECK(log.seen == want);
}

// S43 adapted: the next-pass rule holds for calls already overdue, and for
// calls reset or delayed during the pass.
TEST_CASE("S43 a call scheduled, reset or delayed during a pass runs on the next pass", "[timer][S43]")
{
    Clock c;
    std::vector<std::string> log;
    Timed late{c.r, &log, "late"}, moved{c.r, &log, "moved"}, pushed{c.r, &log, "pushed"};
    struct Ctx {
        dfr_reactor *r;
        Timed *late;
        dfr_delayed_call *moved, *pushed;
    } ctx{c.r, &late, nullptr, nullptr};
    dfr_reactor_call_later(c.r, 10, log_time, &moved, nullptr, &ctx.moved);
    dfr_reactor_call_later(c.r, 10, log_time, &pushed, nullptr, &ctx.pushed);
    dfr_reactor_call_later(c.r, 1, [](void *data) {
        auto *x = static_cast<Ctx *>(data);
        dfr_reactor_call_later(x->r, 0, log_time, x->late, nullptr, nullptr);
        dfr_delayed_call_reset(x->moved, 0);
        dfr_delayed_call_delay(x->pushed, -20); // now overdue
    }, &ctx, nullptr, nullptr);
    c.advance(5); // the three are due at 5 (or before) but were touched during the pass
    CHECK(log.empty());
    CHECK(dfr_reactor_pending_calls(c.r) == 3);
    c.advance(0);
    // By deadline: pushed (-9), then late and moved (both 1, scheduled in that order).
    CHECK(log == std::vector<std::string>{"pushed@5", "late@5", "moved@5"});
    dfr_delayed_call_unref(ctx.moved);
    dfr_delayed_call_unref(ctx.pushed);
}

// A zero-delay call that schedules itself again cannot starve the
// loop: each advance runs it once.
namespace {
struct Again {
    dfr_reactor *r;
    int runs = 0;
    static void run(void *data)
    {
        auto *x = static_cast<Again *>(data);
        x->runs++;
        dfr_reactor_call_later(x->r, 0, run, x, nullptr, nullptr);
    }
};
} // namespace

TEST_CASE("S43 a zero-delay call rescheduling itself runs once per advance", "[timer][S43]")
{
    Clock c;
    Again again{c.r};
    dfr_reactor_call_later(c.r, 0, Again::run, &again, nullptr, nullptr);
    for (int i = 1; i <= 5; i++) {
        c.advance(0);
        CHECK(again.runs == i);
    }
    c.advance(3);
    CHECK(again.runs == 6);
    CHECK(dfr_reactor_pending_calls(c.r) == 1); // dropped with the reactor
}

// S48 (with the manual clock; Twisted's heap is unstable, ours is not):
// twenty calls with one deadline run in the order scheduled; a reset or
// delay to an occupied deadline goes behind the calls already there.
TEST_CASE("S48 equal deadlines run in scheduling order; reset and delay go to the back", "[timer][S48]")
{
    Clock c;
    Log log;
    std::vector<Named> names;
    names.reserve(23);
    for (int i = 0; i < 20; i++)
        names.push_back({&log, std::to_string(i)});
    names.push_back({&log, "reset"});
    names.push_back({&log, "delayed"});
    names.push_back({&log, "early"});
    dfr_delayed_call *reset, *delayed, *early;
    dfr_reactor_call_later(c.r, 0.5, test::append_name, &names[20], nullptr, &reset);  // reset to 1 later
    dfr_reactor_call_later(c.r, 0.75, test::append_name, &names[21], nullptr, &delayed); // delay to 1 later
    dfr_reactor_call_later(c.r, 1, test::append_name, &names[22], nullptr, &early);     // first at 1
    for (int i = 0; i < 20; i++)
        dfr_reactor_call_later(c.r, 1, test::append_name, &names[i], nullptr, nullptr);
    dfr_delayed_call_delay(delayed, 0.25);
    dfr_delayed_call_reset(reset, 1);
    // Resetting a call to the deadline it already has also sends it to the back.
    dfr_delayed_call_reset(early, 1);
    c.advance(1);
    std::vector<std::string> want;
    for (int i = 0; i < 20; i++)
        want.push_back(std::to_string(i));
    want.push_back("delayed");
    want.push_back("reset");
    want.push_back("early");
    CHECK(log.seen == want);
    for (auto *h : {reset, delayed, early})
        dfr_delayed_call_unref(h);
}

// S48: distinct deadlines with resets and a cancel.
TEST_CASE("S48 run order follows the deadlines after reset and cancel", "[timer][S48]")
{
    Clock c;
    Log log;
    Named a{&log, "a"}, b{&log, "b"}, cc{&log, "c"}, x{&log, "x"};
    dfr_delayed_call *da, *dcc, *dx;
    dfr_reactor_call_later(c.r, 0.02, test::append_name, &a, nullptr, &da);
    dfr_reactor_call_later(c.r, 0.03, test::append_name, &b, nullptr, nullptr);
    dfr_reactor_call_later(c.r, 0.04, test::append_name, &cc, nullptr, &dcc);
    dfr_reactor_call_later(c.r, 0.05, test::append_name, &x, nullptr, &dx);
    REQUIRE(dfr_delayed_call_reset(da, 0.05) == 0);
    REQUIRE(dfr_delayed_call_reset(dcc, 0.01) == 0);
    REQUIRE(dfr_delayed_call_cancel(dx) == 0);
    c.advance(0.1);
    CHECK(log.seen == std::vector<std::string>{"c", "b", "a"});
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    for (auto *h : {da, dcc, dx})
        dfr_delayed_call_unref(h);
}

// An earlier call of a pass cancels or moves a later call of the same pass.
TEST_CASE("a call cancelled or moved during the pass that would run it does not run then", "[timer]")
{
    Clock c;
    Log log;
    Named first{&log, "first"}, moved{&log, "moved"}, last{&log, "last"};
    struct Ctx {
        Named *first;
        dfr_delayed_call *victim = nullptr, *moved = nullptr;
        int victim_count = 0; // +1 when it runs, +1 when destroyed
    } ctx{&first};
    dfr_reactor_call_later(c.r, 1, [](void *data) {
        auto *x = static_cast<Ctx *>(data);
        test::append_name(x->first);
        CHECK(dfr_delayed_call_cancel(x->victim) == 0);
        CHECK(x->victim_count == 1); // destroyed at once, never run
        CHECK(dfr_delayed_call_reset(x->moved, 1) == 0);
    }, &ctx, nullptr, nullptr);
    dfr_reactor_call_later(c.r, 1, count_call, &ctx.victim_count, test::count_destroy, &ctx.victim);
    dfr_reactor_call_later(c.r, 1, test::append_name, &moved, nullptr, &ctx.moved);
    dfr_reactor_call_later(c.r, 1, test::append_name, &last, nullptr, nullptr);
    c.advance(1);
    CHECK(log.seen == std::vector<std::string>{"first", "last"});
    CHECK(ctx.victim_count == 1);
    CHECK(dfr_delayed_call_time(ctx.moved) == 2.0);
    c.advance(1);
    CHECK(log.seen == std::vector<std::string>{"first", "last", "moved"});
    dfr_delayed_call_unref(ctx.victim);
    dfr_delayed_call_unref(ctx.moved);
}

// The firing order of 10,000 random operations (schedule with and without a
// handle, cancel, reset, delay forwards and backwards, advance) against a
// reference model: pending calls keyed by (deadline, order of the last
// schedule/reset/delay); an advance runs, in key order, every call whose
// deadline has come.  Times are whole milliseconds, kept in nanoseconds.
TEST_CASE("10,000 random schedules, cancels, resets and delays fire in model order", "[timer][model]")
{
    Clock c;
    std::mt19937 rng(20261122);
    auto pick = [&rng](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    const int64_t ms = 1000000;

    struct World;
    struct Item {
        int id;
        World *w;
    };
    struct World {
        std::vector<int> fired;
        std::vector<int> destroyed; // per item
    } w;
    std::vector<Item> items;
    items.reserve(10000);
    w.destroyed.reserve(10000);
    std::vector<dfr_delayed_call *> handles;
    std::vector<std::pair<int64_t, uint64_t>> key; // per item, while pending
    std::vector<bool> pending;
    std::map<std::pair<int64_t, uint64_t>, int> model;
    std::vector<int> live; // items with a handle (lazily cleaned)
    uint64_t order = 0;
    int64_t now = 0;
    size_t fired_checked = 0;
    int ops[5] = {0, 0, 0, 0, 0};

    auto run = [](void *data) {
        auto *it = static_cast<Item *>(data);
        it->w->fired.push_back(it->id);
    };
    auto destroy = [](void *data) {
        auto *it = static_cast<Item *>(data);
        it->w->destroyed[static_cast<size_t>(it->id)]++;
    };
    // A live item with a handle, or -1.
    auto live_item = [&]() -> int {
        while (!live.empty()) {
            size_t i = static_cast<size_t>(pick(static_cast<int>(live.size())));
            int id = live[i];
            if (pending[static_cast<size_t>(id)])
                return id;
            live[i] = live.back();
            live.pop_back();
        }
        return -1;
    };
    auto rekey = [&](int id, int64_t time) {
        model.erase(key[static_cast<size_t>(id)]);
        key[static_cast<size_t>(id)] = {time, order++};
        model[key[static_cast<size_t>(id)]] = id;
    };

    for (int op = 0; op < 10000; op++) {
        int kind = pick(100);
        if (kind < 40 || items.size() < 10) {
            int id = static_cast<int>(items.size());
            items.push_back({id, &w});
            w.destroyed.push_back(0);
            bool with_handle = pick(2) == 0;
            int64_t delay = pick(2000);
            handles.push_back(nullptr);
            REQUIRE(dfr_reactor_call_later(c.r, static_cast<double>(delay) / 1000.0, run, &items.back(), destroy,
                                   with_handle ? &handles.back() : nullptr) == 0);
            key.push_back({now + delay * ms, order++});
            pending.push_back(true);
            model[key.back()] = id;
            if (with_handle)
                live.push_back(id);
            ops[0]++;
        } else if (kind < 55) {
            int id = live_item();
            if (id < 0)
                continue;
            REQUIRE(dfr_delayed_call_cancel(handles[static_cast<size_t>(id)]) == 0);
            CHECK(w.destroyed[static_cast<size_t>(id)] == 1);
            model.erase(key[static_cast<size_t>(id)]);
            pending[static_cast<size_t>(id)] = false;
            ops[1]++;
        } else if (kind < 70) {
            int id = live_item();
            if (id < 0)
                continue;
            int64_t delay = pick(2000);
            REQUIRE(dfr_delayed_call_reset(handles[static_cast<size_t>(id)], static_cast<double>(delay) / 1000.0) == 0);
            rekey(id, now + delay * ms);
            ops[2]++;
        } else if (kind < 85) {
            int id = live_item();
            if (id < 0)
                continue;
            int64_t by = pick(1000) - 500;
            REQUIRE(dfr_delayed_call_delay(handles[static_cast<size_t>(id)], static_cast<double>(by) / 1000.0) == 0);
            rekey(id, key[static_cast<size_t>(id)].first + by * ms);
            ops[3]++;
        } else {
            int64_t step = pick(300);
            REQUIRE(dfr_reactor_advance(c.r, static_cast<double>(step) / 1000.0) == 0);
            now += step * ms;
            std::vector<int> want;
            while (!model.empty() && model.begin()->first.first <= now) {
                int id = model.begin()->second;
                want.push_back(id);
                pending[static_cast<size_t>(id)] = false;
                model.erase(model.begin());
            }
            std::vector<int> got(w.fired.begin() + static_cast<long>(fired_checked), w.fired.end());
            fired_checked = w.fired.size();
            INFO("operation " << op << " at t=" << now / ms << " ms");
            REQUIRE(got == want);
            REQUIRE(dfr_reactor_pending_calls(c.r) == model.size());
            ops[4]++;
        }
        // The handle reports the model's deadline.
        int id = live_item();
        if (id >= 0)
            REQUIRE(dfr_delayed_call_time(handles[static_cast<size_t>(id)]) ==
                    static_cast<double>(key[static_cast<size_t>(id)].first) / 1e9);
    }
    // Everything left runs, in model order.
    c.advance(10);
    std::vector<int> want;
    for (auto &kv : model)
        want.push_back(kv.second);
    std::vector<int> got(w.fired.begin() + static_cast<long>(fired_checked), w.fired.end());
    CHECK(got == want);
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    for (int n : ops)
        CHECK(n > 500); // every kind of operation was exercised
    // destroy ran exactly once for every call, run or cancelled.
    for (size_t i = 0; i < items.size(); i++)
        REQUIRE(w.destroyed[i] == 1);
    for (auto *h : handles)
        dfr_delayed_call_unref(h);
}

// A handle outlives its reactor: the pending call was dropped, which is a
// cancel as far as the handle can tell.
TEST_CASE("a handle that outlives dfr_reactor_free reports DFR_EALREADY_CANCELLED", "[timer][S41]")
{
    Counts n;
    int &called = n.called, &destroyed = n.destroyed;
    dfr_reactor *r = test::new_reactor(true);
    REQUIRE(r != nullptr);
    dfr_delayed_call *pending_dc, *ran_dc, *cancelled_dc;
    dfr_reactor_call_later(r, 5, counts_call, &n, counts_destroy, &pending_dc);
    dfr_reactor_call_later(r, 1, count_call, &called, nullptr, &ran_dc);
    dfr_reactor_call_later(r, 5, counts_call, &n, counts_destroy, &cancelled_dc);
    dfr_delayed_call_cancel(cancelled_dc);
    dfr_reactor_advance(r, 1);
    CHECK(called == 1);
    CHECK(destroyed == 1);
    dfr_reactor_free(r);
    CHECK(destroyed == 2); // the pending call's destroy ran at free
    CHECK(called == 1);
    CHECK_FALSE(dfr_delayed_call_active(pending_dc));
    CHECK(dfr_delayed_call_cancel(pending_dc) == DFR_EALREADY_CANCELLED);
    CHECK(dfr_delayed_call_reset(pending_dc, 1) == DFR_EALREADY_CANCELLED);
    CHECK(dfr_delayed_call_delay(pending_dc, 1) == DFR_EALREADY_CANCELLED);
    CHECK(dfr_delayed_call_cancel(ran_dc) == DFR_EALREADY_RAN);
    CHECK(dfr_delayed_call_cancel(cancelled_dc) == DFR_EALREADY_CANCELLED);
    CHECK(destroyed == 2);
    for (auto *h : {pending_dc, ran_dc, cancelled_dc})
        dfr_delayed_call_unref(h);
}

// The destroy rule (deferred/common.h): destroy runs exactly once — at cancel (before cancel
// returns), after fn ran, or when the reactor is freed.
TEST_CASE("destroy: at once on cancel, after the call, and for every pending call at reactor free", "[timer][destroy]")
{
    Counts n;
    int &called = n.called, &destroyed = n.destroyed;
    dfr_reactor *r = test::new_reactor(true);
    dfr_delayed_call *dc;
    dfr_reactor_call_later(r, 1, counts_call, &n, counts_destroy, &dc);
    REQUIRE(dfr_delayed_call_cancel(dc) == 0);
    CHECK(destroyed == 1);
    CHECK(dfr_delayed_call_cancel(dc) == DFR_EALREADY_CANCELLED);
    CHECK(destroyed == 1);
    dfr_delayed_call_unref(dc);

    // After the call: fn first, then destroy.
    struct Order {
        std::vector<std::string> seen;
    } order;
    dfr_reactor_call_later(r, 1, [](void *data) { static_cast<Order *>(data)->seen.push_back("fn"); }, &order,
                   [](void *data) { static_cast<Order *>(data)->seen.push_back("destroy"); }, nullptr);
    dfr_reactor_advance(r, 1);
    CHECK(order.seen == std::vector<std::string>{"fn", "destroy"});

    // At free: every pending call, with or without a handle, near or far,
    // including 200 so that the heap has grown.
    std::vector<dfr_delayed_call *> kept;
    for (int i = 0; i < 200; i++) {
        dc = nullptr;
        dfr_reactor_call_later(r, i % 7, counts_call, &n, counts_destroy, i % 3 ? nullptr : &dc);
        if (dc)
            kept.push_back(dc);
    }
    CHECK(dfr_reactor_pending_calls(r) == 200);
    dfr_reactor_free(r);
    CHECK(destroyed == 201);
    CHECK(called == 0);
    for (auto *h : kept) {
        CHECK(dfr_delayed_call_cancel(h) == DFR_EALREADY_CANCELLED);
        dfr_delayed_call_unref(h);
    }
}

TEST_CASE("bad input to callLater and the handle functions", "[timer][bad-input]")
{
    Clock c;
    Counts n;
    int &called = n.called, &destroyed = n.destroyed;
    std::vector<double> bad{-1.0, -1e-9, nan_, inf, -inf, 1e12};
    for (double delay : bad) {
        dfr_delayed_call *dc = reinterpret_cast<dfr_delayed_call *>(&called); // must be overwritten
        INFO("delay " << delay);
        CHECK(dfr_reactor_call_later(c.r, delay, counts_call, &n, counts_destroy, &dc) == DFR_EINVAL);
        CHECK(dc == nullptr);
    }
    CHECK(destroyed == static_cast<int>(bad.size()));
    CHECK(dfr_reactor_call_later(c.r, 1, nullptr, &n, counts_destroy, nullptr) == DFR_EINVAL);
    CHECK(dfr_reactor_call_later(nullptr, 1, counts_call, &n, counts_destroy, nullptr) == DFR_EINVAL);
    CHECK(dfr_reactor_call_later(nullptr, 1, count_call, &called, nullptr, nullptr) == DFR_EINVAL);
    CHECK(destroyed == static_cast<int>(bad.size()) + 2);
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    c.advance(1e6);
    CHECK(called == 0);

    // Handles.
    dfr_delayed_call *dc;
    REQUIRE(dfr_reactor_call_later(c.r, 1, count_call, &called, nullptr, &dc) == 0);
    for (double delay : {-1.0, nan_, inf, -inf})
        CHECK(dfr_delayed_call_reset(dc, delay) == DFR_EINVAL);
    for (double by : {nan_, inf, -inf, 1e12, -1e12})
        CHECK(dfr_delayed_call_delay(dc, by) == DFR_EINVAL);
    CHECK(dfr_delayed_call_active(dc)); // untouched by the refused changes
    CHECK(dfr_delayed_call_time(dc) == dfr_reactor_seconds(c.r) + 1);
    dfr_delayed_call_unref(dc);
    CHECK(dfr_delayed_call_cancel(nullptr) == DFR_EINVAL);
    CHECK(dfr_delayed_call_reset(nullptr, 1) == DFR_EINVAL);
    CHECK(dfr_delayed_call_delay(nullptr, 1) == DFR_EINVAL);
    CHECK_FALSE(dfr_delayed_call_active(nullptr));
    CHECK(std::isnan(dfr_delayed_call_time(nullptr)));
    CHECK(dfr_delayed_call_ref(nullptr) == nullptr);
    dfr_delayed_call_unref(nullptr);
    CHECK(dfr_reactor_pending_calls(nullptr) == 0);
}

TEST_CASE("bad input to advance, and advance on a real-clock reactor", "[timer][bad-input]")
{
    Clock c;
    c.advance(1);
    for (double s : {-1.0, -1e-9, nan_, inf, -inf})
        CHECK(dfr_reactor_advance(c.r, s) == DFR_EINVAL);
    CHECK(dfr_reactor_seconds(c.r) == 1.0); // time did not move
    CHECK(dfr_reactor_advance(nullptr, 1) == DFR_EINVAL);
    CHECK(dfr_reactor_advance(c.r, 0) == 0);

    dfr_reactor *real = dfr_reactor_new(nullptr);
    REQUIRE(real != nullptr);
    int called = 0;
    dfr_reactor_call_later(real, 0, count_call, &called, nullptr, nullptr);
    CHECK(dfr_reactor_advance(real, 1) == DFR_EINVAL);
    CHECK(dfr_reactor_advance(real, 0) == DFR_EINVAL);
    CHECK(called == 0); // refused: nothing ran
    dfr_reactor_free(real);

    // Options: too small a struct is refused; a shorter (older) struct that
    // still holds manual_clock is honoured.
    dfr_reactor_options small = {};
    CHECK(dfr_reactor_new(&small) == nullptr);
    dfr_reactor_options old = {};
    old.size = offsetof(dfr_reactor_options, threadpool_min);
    old.manual_clock = true;
    dfr_reactor *r = dfr_reactor_new(&old);
    REQUIRE(r != nullptr);
    CHECK(dfr_reactor_advance(r, 1) == 0);
    CHECK(dfr_reactor_seconds(r) == 1.0);
    dfr_reactor_free(r);
}

// Debug mode only: a handle used after its last unref is reported, not
// undefined (docs/reactor.md).  Outside debug mode that use is a bug in the
// caller and is not tested.
TEST_CASE("debug mode: a handle used after its last unref is DFR_EINVAL", "[timer][debug]")
{
    DebugMode debug;
    Clock c;
    int called = 0;
    dfr_delayed_call *cancelled, *ran, *live;
    dfr_reactor_call_later(c.r, 1, count_call, &called, nullptr, &cancelled);
    dfr_reactor_call_later(c.r, 1, count_call, &called, nullptr, &ran);
    dfr_reactor_call_later(c.r, 5, count_call, &called, nullptr, &live);
    dfr_delayed_call_cancel(cancelled);
    dfr_delayed_call_unref(cancelled);
    c.advance(1);
    dfr_delayed_call_unref(ran);
    for (dfr_delayed_call *dead : {cancelled, ran}) {
        CHECK(dfr_delayed_call_cancel(dead) == DFR_EINVAL);
        CHECK(dfr_delayed_call_reset(dead, 1) == DFR_EINVAL);
        CHECK(dfr_delayed_call_delay(dead, 1) == DFR_EINVAL);
        CHECK_FALSE(dfr_delayed_call_active(dead));
        CHECK(std::isnan(dfr_delayed_call_time(dead)));
        dfr_delayed_call_ref(dead);   // ignored
        dfr_delayed_call_unref(dead); // ignored: no double free
    }
    // Live handles work as usual in debug mode.
    CHECK(dfr_delayed_call_active(live));
    CHECK(dfr_delayed_call_delay(live, 1) == 0);
    c.advance(5);
    CHECK(called == 2);
    CHECK(dfr_delayed_call_cancel(live) == DFR_EALREADY_RAN);
    dfr_delayed_call_unref(live);
    CHECK(dfr_delayed_call_cancel(live) == DFR_EINVAL);
}

// The allocation-failure loop: every allocation of dfr_reactor_new and
// dfr_reactor_call_later (with and without a handle, across heap growth) fails in
// turn; nothing leaks, destroy runs exactly once per call either way.
TEST_CASE("allocation failures: dfr_reactor_new and dfr_reactor_call_later", "[timer][alloc]")
{
    bool manual = GENERATE(true, false);
    int runs = test::for_each_allocation_failure([manual](long) {
        dfr_reactor *r = test::new_reactor(manual);
        if (!r)
            return;
        Counts n;
        int &called = n.called, &destroyed = n.destroyed;
        int failed = 0, scheduled = 0;
        std::vector<dfr_delayed_call *> handles;
        for (int i = 0; i < 80; i++) { // past the heap's first growth
            dfr_delayed_call *dc = reinterpret_cast<dfr_delayed_call *>(&called);
            bool want_handle = i % 2 == 0;
            int before = destroyed;
            int rc = dfr_reactor_call_later(r, 1 + i % 3, counts_call, &n, counts_destroy,
                                    want_handle ? &dc : nullptr);
            scheduled++;
            if (rc == 0) {
                if (want_handle) {
                    REQUIRE(dc != nullptr);
                    handles.push_back(dc);
                }
            } else {
                CHECK(rc == DFR_ENOMEM);
                CHECK(destroyed == before + 1); // destroy ran before returning
                if (want_handle)
                    CHECK(dc == nullptr);
                failed++;
            }
        }
        if (!handles.empty()) {
            CHECK(dfr_delayed_call_reset(handles[0], 2) == 0);
            CHECK(dfr_delayed_call_cancel(handles.back()) == 0);
        }
        if (manual)
            dfr_reactor_advance(r, 3);
        dfr_reactor_free(r);
        CHECK(destroyed == scheduled);
        if (manual)
            CHECK(called == scheduled - failed - (handles.empty() ? 0 : 1));
        else
            CHECK(called == 0);
        for (auto *h : handles)
            dfr_delayed_call_unref(h);
    });
    CHECK(runs > 3);
}

// ---- time at its extremes (issue 11, defect 5) ----
// Each input is bounded (4.6e9 s); sums are not, so they saturate at the end
// of time (2^63 - 2 ns, about 292 years) instead of wrapping negative.

namespace {
const double end_of_time = static_cast<double>(INT64_MAX - 1) / 1e9;
const double denormal = std::numeric_limits<double>::denorm_min();
} // namespace

TEST_CASE("the manual clock saturates at the end of time", "[timer][extremes]")
{
    Clock c;
    REQUIRE(dfr_reactor_advance(c.r, 4.5e9) == 0);
    REQUIRE(dfr_reactor_advance(c.r, 4.5e9) == 0);
    double before = dfr_reactor_seconds(c.r);
    CHECK(before == 9e9);
    // 4.5e9 more would pass 2^63 ns: the call is due at the end of time,
    // still in the future, and not due at the next advance(0).
    Counts n;
    dfr_delayed_call *dc;
    REQUIRE(dfr_reactor_call_later(c.r, 4.5e9, counts_call, &n, counts_destroy, &dc) == 0);
    CHECK(dfr_delayed_call_time(dc) == end_of_time);
    CHECK(dfr_delayed_call_time(dc) > before);
    REQUIRE(dfr_reactor_advance(c.r, 0) == 0);
    CHECK(n.called == 0);
    REQUIRE(dfr_reactor_advance(c.r, 4.5e9) == 0); // the third step
    CHECK(dfr_reactor_seconds(c.r) == end_of_time);
    CHECK(n.called == 1);
    // The clock stays there, never goes back.
    for (double s : {4.6e9, 1.0, 0.0, denormal})
        CHECK(dfr_reactor_advance(c.r, s) == 0);
    CHECK(dfr_reactor_seconds(c.r) == end_of_time);
    // At the end of time every new call is due at once.
    REQUIRE(dfr_reactor_call_later(c.r, 4.6e9, counts_call, &n, counts_destroy, nullptr) == 0);
    REQUIRE(dfr_reactor_advance(c.r, 0) == 0);
    CHECK(n.called == 2);
    CHECK(n.destroyed == 2);
    dfr_delayed_call_unref(dc);
}

TEST_CASE("every time input at its extremes", "[timer][extremes]")
{
    const std::vector<double> refused{-1.0, -denormal, nan_, inf, -inf, 1e300, -1e300, 4.7e9};
    const std::vector<double> accepted{0.0, -0.0, denormal, 1e-10, 4.6e9};
    Clock c;
    Counts n;
    SECTION("advance")
    {
        for (double s : refused)
            CHECK(dfr_reactor_advance(c.r, s) == DFR_EINVAL);
        CHECK(dfr_reactor_seconds(c.r) == 0);
        for (double s : accepted)
            CHECK(dfr_reactor_advance(c.r, s) == 0);
        CHECK(dfr_reactor_seconds(c.r) == 4.6e9);
    }
    SECTION("callLater")
    {
        for (double s : refused)
            CHECK(dfr_reactor_call_later(c.r, s, counts_call, &n, counts_destroy, nullptr) == DFR_EINVAL);
        CHECK(n.destroyed == static_cast<int>(refused.size()));
        for (double s : accepted)
            CHECK(dfr_reactor_call_later(c.r, s, counts_call, &n, counts_destroy, nullptr) == 0);
        c.advance(0);
        CHECK(n.called == 4); // 0, -0, the denormal and 1e-10 (round to 0 ns)
        c.advance(4.6e9);
        CHECK(n.called == 5);
    }
    SECTION("reset and delay, near the end of time and far below 0")
    {
        dfr_delayed_call *dc;
        REQUIRE(dfr_reactor_call_later(c.r, 1, counts_call, &n, counts_destroy, &dc) == 0);
        for (double s : refused)
            if (s >= 0 || std::isnan(s))
                CHECK(dfr_delayed_call_reset(dc, s) == DFR_EINVAL);
        CHECK(dfr_delayed_call_reset(dc, -1) == DFR_EINVAL);
        for (double s : {nan_, inf, -inf, 1e300, -1e300, 4.7e9, -4.7e9})
            CHECK(dfr_delayed_call_delay(dc, s) == DFR_EINVAL);
        CHECK(dfr_delayed_call_time(dc) == 1);
        // Pushed back again and again: it stops at the end of time.
        for (int i = 0; i < 4; i++)
            REQUIRE(dfr_delayed_call_delay(dc, 4.6e9) == 0);
        CHECK(dfr_delayed_call_time(dc) == end_of_time);
        // Pulled forward again and again: far in the past, never wrapping.
        for (int i = 0; i < 8; i++)
            REQUIRE(dfr_delayed_call_delay(dc, -4.6e9) == 0);
        CHECK(dfr_delayed_call_time(dc) == -end_of_time);
        CHECK(dfr_delayed_call_delay(dc, denormal) == 0);
        c.advance(0);
        CHECK(n.called == 1);
        // reset near the end of time.
        dfr_delayed_call_unref(dc);
        c.advance(4.6e9);
        c.advance(4.6e9);
        REQUIRE(dfr_reactor_call_later(c.r, 1, counts_call, &n, counts_destroy, &dc) == 0);
        REQUIRE(dfr_delayed_call_reset(dc, 4.6e9) == 0);
        CHECK(dfr_delayed_call_time(dc) == end_of_time);
        CHECK(dfr_delayed_call_time(dc) > dfr_reactor_seconds(c.r));
        c.advance(0);
        CHECK(n.called == 1);
        c.advance(4.6e9);
        CHECK(n.called == 2);
        dfr_delayed_call_unref(dc);
    }
}

// The real clock near the end of time: arming libuv's timer must not
// overflow (UBSan) and the call stays in the future.
TEST_CASE("a real-clock call at the end of time", "[timer][extremes]")
{
    dfr_reactor *r = dfr_reactor_new(nullptr);
    Counts n;
    dfr_delayed_call *dc;
    REQUIRE(dfr_reactor_call_later(r, 4.6e9, counts_call, &n, counts_destroy, &dc) == 0);
    REQUIRE(dfr_delayed_call_delay(dc, 4.6e9) == 0);
    REQUIRE(dfr_delayed_call_delay(dc, 4.6e9) == 0);
    CHECK(dfr_delayed_call_time(dc) == end_of_time);
    CHECK(dfr_reactor_iterate(r, 0) == 0);
    CHECK(dfr_reactor_iterate(r, denormal) == 0);
    CHECK(n.called == 0);
    for (double w : {-1.0, nan_, inf, 1e300, 4.7e9})
        CHECK(dfr_reactor_iterate(r, w) == DFR_EINVAL);
    // A long wait returns as soon as something is due.
    REQUIRE(dfr_reactor_call_later(r, 0, counts_call, &n, counts_destroy, nullptr) == 0);
    CHECK(dfr_reactor_iterate(r, 4.6e9) == 0);
    CHECK(n.called == 1);
    dfr_delayed_call_unref(dc);
    dfr_reactor_free(r);
    CHECK(n.destroyed == 2);
}
