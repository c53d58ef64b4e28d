// Hostile programs against the reactor: the reactor freed while every kind
// of object still refers to it, freed from inside the callbacks it runs
// (timers, deferLater, addTimeout's on_timeout, triggers, LoopingCall,
// thread results, coroutines), handles used after it went, and bad times
// and options.  Each test ends with no crash, no leak (the runner's check)
// and each destroy run exactly once.  The C API's own contract
// (include/deferred/reactor.h, "Lifetimes"); no Twisted counterpart.
#include <catch2/catch.hpp>

#include "reactor_support.h"
#include "support.h"

#include <atomic>
#include <chrono>
#include <cfloat>
#include <climits>
#include <cstring>
#include <cmath>
#include <limits>
#include <thread>

using test::code_of;
using test::count_destroy;
using test::swallow;

namespace {

dfr_reactor *manual()
{
    dfr_reactor_options o = {};
    o.size = sizeof o;
    o.manual_clock = true;
    dfr_reactor *r = dfr_reactor_new(&o);
    REQUIRE(r);
    return r;
}

// Records what an errback or callback saw; handles failures.
struct Seen {
    int calls = 0;
    int code = 0;
    bool ok = false;
};

dfr_value seen_cb(dfr_value v, void *data)
{
    auto *s = static_cast<Seen *>(data);
    s->calls++;
    s->code = code_of(&v);
    s->ok = !dfr_is_failure(v);
    dfr_value_drop(v);
    return dfr_none();
}

dfr_value one(void *) { return dfr_i64(1); }

void nothing(void *) {}

} // namespace

// ------------------------------------------------ the reactor freed first

TEST_CASE("hostile: reactor freed while everything still refers to it",
          "[hostile][reactor][lifetime]")
{
    dfr_reactor *r = manual();
    int destroyed = 0;

    // A delayed call with a handle, a deferLater, an addTimeout (with and
    // without on_timeout), a LoopingCall waiting on fn's deferred, one
    // merely scheduled, a trigger, a call_when_running call.
    dfr_delayed_call *dc = nullptr;
    REQUIRE(dfr_reactor_call_later(r, 5, nothing, &destroyed, count_destroy, &dc) == 0);
    Seen later_seen;
    dfr_deferred *later = dfr_reactor_defer_later(r, 5, one, &destroyed, count_destroy);
    dfr_deferred_add_both(later, seen_cb, &later_seen, nullptr);
    dfr_deferred *timed = dfr_deferred_new();
    REQUIRE(dfr_deferred_add_timeout(timed, r, 5) == 0);
    dfr_deferred *timed2 = dfr_deferred_new();
    REQUIRE(dfr_deferred_add_timeout_with(timed2, r, 5, swallow, &destroyed, count_destroy) == 0);
    dfr_deferred *fn_wait = dfr_deferred_new();
    dfr_looping_call *lc = dfr_looping_call_new(
        r, [](void *data) { return dfr_value_deferred(dfr_deferred_ref(static_cast<dfr_deferred *>(data))); },
        fn_wait, nullptr);
    REQUIRE(lc);
    Seen lc_seen;
    dfr_deferred *lc_d = dfr_looping_call_start(lc, 1, true);
    dfr_deferred_add_both(lc_d, seen_cb, &lc_seen, nullptr);
    dfr_looping_call *lc2 = dfr_looping_call_new(r, one, &destroyed, count_destroy);
    REQUIRE(dfr_looping_call_with_count(lc2) == 0);
    Seen lc2_seen;
    dfr_deferred *lc2_d = dfr_looping_call_start(lc2, 1, false);
    dfr_deferred_add_both(lc2_d, seen_cb, &lc2_seen, nullptr);
    uint64_t id = 0;
    REQUIRE(dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_SHUTDOWN,
                                                 one, &destroyed, count_destroy, &id) == 0);
    REQUIRE(dfr_reactor_call_when_running(r, nothing, &destroyed, count_destroy) == 0);

    dfr_reactor_free(r);

    // call_later, deferLater, the trigger and call_when_running; lc2's data
    // goes with its last handle, timed2's with its chain's entry.
    CHECK(destroyed == 4);
    CHECK(later_seen.calls == 1);
    CHECK(later_seen.code == DFR_ENOTRUNNING);
    CHECK(lc_seen.calls == 1);
    CHECK(lc_seen.code == DFR_ENOTRUNNING);
    CHECK(lc2_seen.calls == 1);
    CHECK(lc2_seen.code == DFR_ENOTRUNNING);
    // Handles answer, never crash.
    CHECK(dfr_delayed_call_cancel(dc) == DFR_EALREADY_CANCELLED);
    CHECK(dfr_delayed_call_reset(dc, 1) != 0);
    CHECK(dfr_delayed_call_delay(dc, 1) != 0);
    CHECK_FALSE(dfr_delayed_call_active(dc));
    CHECK(std::isnan(dfr_delayed_call_time(dc)));
    dfr_delayed_call_unref(dc);
    CHECK(dfr_looping_call_stop(lc) == DFR_ENOTRUNNING);
    CHECK(dfr_looping_call_reset(lc) == DFR_ENOTRUNNING);
    CHECK(dfr_looping_call_with_count(lc) == DFR_ENOTRUNNING);
    CHECK(dfr_looping_call_count(lc) == 0);
    CHECK_FALSE(dfr_looping_call_running(lc));
    CHECK(test::refused_with(dfr_looping_call_start(lc, 1, true), DFR_ENOTRUNNING));
    // fn's deferred fires after the reactor went: nothing is scheduled.
    dfr_deferred_callback(fn_wait, dfr_i64(1));
    dfr_looping_call_unref(lc);
    dfr_looping_call_unref(lc2);
    // The timed deferreds fire or are cancelled after: destroy once.
    dfr_deferred_callback(timed, dfr_i64(1));
    dfr_deferred_cancel(timed2);
    dfr_deferred_add_errback(timed2, swallow, nullptr, nullptr);
    CHECK(destroyed == 6);
    dfr_deferred_unref(timed);
    dfr_deferred_unref(timed2);
    dfr_deferred_unref(fn_wait);
    dfr_deferred_unref(later);
    dfr_deferred_unref(lc_d);
    dfr_deferred_unref(lc2_d);
}

// ------------------------------------------------ freed from inside

namespace {

struct FreeIn {
    dfr_reactor *r = nullptr;
    int runs = 0;
    int destroyed = 0;
};

void free_reactor(void *data)
{
    auto *f = static_cast<FreeIn *>(data);
    f->runs++;
    dfr_reactor_free(f->r);
}

dfr_value free_reactor_cb(dfr_value v, void *data)
{
    free_reactor(data);
    return v;
}

dfr_value free_reactor_task(void *data)
{
    free_reactor(data);
    return dfr_i64(2);
}

void free_in_destroy(void *data)
{
    auto *f = static_cast<FreeIn *>(data);
    f->destroyed++;
    dfr_reactor_free(f->r);
}

} // namespace

TEST_CASE("hostile: reactor freed from a deferLater's callback while more work is due",
          "[hostile][reactor][free]")
{
    FreeIn f;
    f.r = manual();
    int destroyed = 0;
    dfr_deferred *a = dfr_reactor_defer_later(f.r, 1, one, nullptr, nullptr);
    dfr_deferred_add_callback(a, free_reactor_cb, &f, nullptr);
    Seen b_seen;
    dfr_deferred *b = dfr_reactor_defer_later(f.r, 1, one, &destroyed, count_destroy);
    dfr_deferred_add_both(b, seen_cb, &b_seen, nullptr);
    REQUIRE(dfr_reactor_call_later(f.r, 1, nothing, &destroyed, count_destroy, nullptr) == 0);
    dfr_reactor_advance(f.r, 1); // frees it when advance returns
    CHECK(f.runs == 1);
    CHECK(destroyed == 2);
    CHECK(b_seen.calls == 1);
    dfr_deferred_unref(a);
    dfr_deferred_unref(b);
}

TEST_CASE("hostile: reactor freed from addTimeout's on_timeout and from its destroy",
          "[hostile][reactor][free]")
{
    SECTION("on_timeout")
    {
        FreeIn f;
        f.r = manual();
        dfr_deferred *d = dfr_deferred_new();
        REQUIRE(dfr_deferred_add_timeout_with(d, f.r, 1, free_reactor_cb, &f, nullptr) == 0);
        dfr_deferred *d2 = dfr_deferred_new();
        REQUIRE(dfr_deferred_add_timeout(d2, f.r, 2) == 0);
        dfr_reactor_advance(f.r, 1);
        CHECK(f.runs == 1);
        dfr_deferred_add_errback(d, swallow, nullptr, nullptr);
        dfr_deferred_unref(d);
        CHECK(dfr_deferred_state(d2) == DFR_PENDING);
        dfr_deferred_unref(d2);
    }
    SECTION("destroy, when d fires")
    {
        FreeIn f;
        f.r = manual();
        dfr_deferred *d = dfr_deferred_new();
        REQUIRE(dfr_deferred_add_timeout_with(d, f.r, 1, nullptr, &f, free_in_destroy) == 0);
        dfr_deferred_callback(d, dfr_i64(1));
        CHECK(f.destroyed == 1);
        dfr_deferred_unref(d);
    }
    SECTION("destroy, when d fires after the reactor was freed")
    {
        // The entry stays on d's chain: its destroy runs when d fires, not
        // at the free (reactor.h: "an addTimeout timer is dropped").
        FreeIn f;
        f.r = manual();
        int destroyed = 0;
        dfr_deferred *d = dfr_deferred_new();
        REQUIRE(dfr_deferred_add_timeout_with(d, f.r, 1, nullptr, &destroyed, count_destroy) ==
                0);
        dfr_reactor_free(f.r);
        CHECK(destroyed == 0);
        dfr_deferred_callback(d, dfr_i64(1));
        CHECK(destroyed == 1);
        dfr_deferred_unref(d);
    }
}

TEST_CASE("hostile: reactor freed from triggers and call_when_running", "[hostile][reactor][free]")
{
    SECTION("a startup trigger")
    {
        FreeIn f;
        f.r = dfr_reactor_new(nullptr);
        int destroyed = 0;
        REQUIRE(dfr_reactor_add_system_event_trigger(f.r, DFR_DURING, DFR_STARTUP,
                                                     free_reactor_task, &f, nullptr, nullptr) == 0);
        REQUIRE(dfr_reactor_add_system_event_trigger(f.r, DFR_AFTER, DFR_STARTUP, one,
                                                     &destroyed, count_destroy, nullptr) == 0);
        REQUIRE(dfr_reactor_call_later(f.r, 0, [](void *data) {
            dfr_reactor_stop(static_cast<FreeIn *>(data)->r);
        }, &f, nullptr, nullptr) == 0);
        CHECK(dfr_reactor_run(f.r) == 0);
        CHECK(f.runs == 1);
        CHECK(destroyed == 1);
    }
    SECTION("a shutdown trigger")
    {
        FreeIn f;
        f.r = dfr_reactor_new(nullptr);
        REQUIRE(dfr_reactor_add_system_event_trigger(f.r, DFR_BEFORE, DFR_SHUTDOWN,
                                                     free_reactor_task, &f, nullptr, nullptr) == 0);
        REQUIRE(dfr_reactor_call_when_running(f.r, [](void *data) {
            dfr_reactor_stop(static_cast<FreeIn *>(data)->r);
        }, &f, nullptr) == 0);
        CHECK(dfr_reactor_run(f.r) == 0);
        CHECK(f.runs == 1);
    }
    SECTION("call_when_running frees it: the free stops the run")
    {
        // Nobody may stop r after freeing it: run used to wait for a stop
        // that could never legally come (a hang).
        FreeIn f;
        f.r = dfr_reactor_new(nullptr);
        int shutdown = 0;
        REQUIRE(dfr_reactor_add_system_event_trigger(f.r, DFR_BEFORE, DFR_SHUTDOWN, one,
                                                     &shutdown, count_destroy, nullptr) == 0);
        REQUIRE(dfr_reactor_call_when_running(f.r, free_reactor, &f, nullptr) == 0);
        CHECK(dfr_reactor_run(f.r) == 0);
        CHECK(f.runs == 1);
        CHECK(shutdown == 1); // the shutdown triggers ran
    }
    SECTION("a timer frees it while run runs")
    {
        FreeIn f;
        f.r = dfr_reactor_new(nullptr);
        int destroyed = 0;
        REQUIRE(dfr_reactor_call_later(f.r, 0.01, free_reactor, &f, nullptr, nullptr) == 0);
        REQUIRE(dfr_reactor_call_later(f.r, 1000, nothing, &destroyed, count_destroy,
                                       nullptr) == 0);
        CHECK(dfr_reactor_run(f.r) == 0);
        CHECK(f.runs == 1);
        CHECK(destroyed == 1);
    }
    SECTION("a shutdown trigger's deferred fires after the free")
    {
        FreeIn f;
        f.r = dfr_reactor_new(nullptr);
        dfr_deferred *wait = dfr_deferred_new();
        REQUIRE(dfr_reactor_add_system_event_trigger(f.r, DFR_BEFORE, DFR_SHUTDOWN,
            [](void *data) {
                return dfr_value_deferred(dfr_deferred_ref(static_cast<dfr_deferred *>(data)));
            }, wait, nullptr, nullptr) == 0);
        REQUIRE(dfr_reactor_call_when_running(f.r, [](void *data) {
            auto *ff = static_cast<FreeIn *>(data);
            dfr_reactor_stop(ff->r);
            dfr_reactor_free(ff->r);
        }, &f, nullptr) == 0);
        // The shutdown waits for `wait`, which nobody fires: fire it from a
        // timer... there is none; fire it from another thread instead.
        std::thread t([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        });
        t.join();
        dfr_reactor_call_later(f.r, 0.05, [](void *data) {
            dfr_deferred_callback(static_cast<dfr_deferred *>(data), dfr_none());
        }, wait, nullptr, nullptr);
        CHECK(dfr_reactor_run(f.r) == 0);
        dfr_deferred_unref(wait);
    }
}

TEST_CASE("hostile: reactor freed from a thread job's result callback",
          "[hostile][reactor][free][thread]")
{
    FreeIn f;
    f.r = dfr_reactor_new(nullptr);
    int destroyed = 0;
    dfr_deferred *a = dfr_reactor_defer_to_thread(f.r, one, nullptr, nullptr);
    dfr_deferred_add_callback(a, free_reactor_cb, &f, nullptr);
    // Another job that takes longer: still running when the free comes.
    Seen b_seen;
    dfr_deferred *b = dfr_reactor_defer_to_thread(f.r, [](void *) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        return dfr_i64(3);
    }, &destroyed, count_destroy);
    dfr_deferred_add_both(b, seen_cb, &b_seen, nullptr);
    REQUIRE(dfr_reactor_call_later(f.r, 0, [](void *) {}, nullptr, nullptr, nullptr) == 0);
    while (f.runs == 0)
        REQUIRE(dfr_reactor_iterate(f.r, 0.01) == 0); // the free happens at its end
    CHECK(destroyed == 1);
    CHECK(b_seen.calls == 1);
    dfr_deferred_unref(a);
    dfr_deferred_unref(b);
}

TEST_CASE("hostile: reactor freed from a call_from_thread call while run() runs",
          "[hostile][reactor][free][thread]")
{
    FreeIn f;
    f.r = dfr_reactor_new(nullptr);
    std::thread t([&] {
        REQUIRE(dfr_reactor_call_from_thread(f.r, free_reactor, &f, nullptr) == 0);
    });
    t.join();
    CHECK(dfr_reactor_run(f.r) == 0);
    CHECK(f.runs == 1);
}

TEST_CASE("hostile: a flood of calls from threads cannot keep the loop from its timers",
          "[hostile][reactor][thread]")
{
    // Producers faster than the reactor (each call costs it 100 us, they
    // post two each 100 us or so, each batch a few times the last): each
    // wake-up runs the calls queued when it began (as Twisted does), not
    // until the queue is empty, which a flood never is.  The timer stopping
    // the reactor must get its turn while they still post.
    dfr_reactor *r = dfr_reactor_new(nullptr);
    REQUIRE(r);
    struct Flood {
        std::atomic<long> ran{0};
        std::atomic<int> gave_up{0};
    } flood;
    std::atomic<bool> done{false};
    std::atomic<int> refused{0};
    auto produce = [&] {
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (!done.load()) {
            for (int i = 0; i < 2; i++)
                if (dfr_reactor_call_from_thread(r, [](void *d) {
                        auto *fl = static_cast<Flood *>(d);
                        fl->ran.fetch_add(1);
                        auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(100);
                        while (fl->gave_up.load() == 0 && std::chrono::steady_clock::now() < end) {
                        }
                    }, &flood, nullptr) != 0)
                    refused++;
            if (std::chrono::steady_clock::now() > until) {
                flood.gave_up++; // the reactor never got to its timer (the
                break;           // backlog then runs fast, to fail quickly)
            }
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
    };
    std::thread a(produce), b(produce);
    REQUIRE(dfr_reactor_call_later(r, 0.05, [](void *d) {
        dfr_reactor_stop(static_cast<dfr_reactor *>(d));
    }, r, nullptr, nullptr) == 0);
    CHECK(dfr_reactor_run(r) == 0);
    done = true;
    a.join();
    b.join();
    CHECK(flood.gave_up.load() == 0);
    CHECK(refused.load() == 0);
    CHECK(flood.ran.load() > 0);
    dfr_reactor_free(r); // releases the calls still queued
}

// ------------------------------------------------ coroutines

namespace {

struct CoroCtx {
    dfr_reactor *r = nullptr;
    int step = 0;
    int code = 0;
    bool free_inside = false;
};

dfr_value coro_body(void *data)
{
    auto *c = static_cast<CoroCtx *>(data);
    c->step = 1;
    dfr_value v = dfr_await(dfr_reactor_defer_later(c->r, 1, one, nullptr, nullptr));
    c->step = 2;
    c->code = code_of(&v);
    dfr_value_drop(v);
    if (c->free_inside) {
        dfr_reactor_free(c->r);
        c->step = 3;
        return dfr_i64(5);
    }
    // Awaiting more work on a reactor that is being freed: refused at once.
    v = dfr_await(dfr_reactor_defer_later(c->r, 1, one, nullptr, nullptr));
    c->step = 4;
    int code2 = code_of(&v);
    dfr_value_drop(v);
    return dfr_i64(code2);
}

} // namespace

TEST_CASE("hostile: a coroutine awaiting deferLater when the reactor is freed",
          "[hostile][reactor][coro]")
{
    CoroCtx c;
    c.r = manual();
    int destroyed = 0;
    dfr_deferred *d = dfr_inline_callbacks(coro_body, &c, nullptr);
    (void)destroyed;
    REQUIRE(c.step == 1);
    dfr_reactor_free(c.r);
    CHECK(c.step == 4);
    CHECK(c.code == DFR_ENOTRUNNING);
    CHECK(test::is_i64(dfr_deferred_result(d), DFR_ENOTRUNNING));
    dfr_deferred_unref(d);
}

TEST_CASE("hostile: a coroutine frees its reactor", "[hostile][reactor][coro]")
{
    CoroCtx c;
    c.r = manual();
    c.free_inside = true;
    dfr_deferred *d = dfr_inline_callbacks(coro_body, &c, nullptr);
    REQUIRE(c.step == 1);
    dfr_reactor_advance(c.r, 1); // resumes it inside advance: the free waits for advance
    CHECK(c.step == 3);
    CHECK(test::is_i64(dfr_deferred_result(d), 5));
    dfr_deferred_unref(d);
}

TEST_CASE("hostile: a coroutine dropped while it awaits a freed reactor's work",
          "[hostile][reactor][coro]")
{
    CoroCtx c;
    c.r = manual();
    int destroyed = 0;
    dfr_deferred *d = dfr_inline_callbacks(coro_body, &c, nullptr);
    dfr_deferred_cancel(d); // cancels the deferLater it awaits
    CHECK(c.step == 2);     // ... and it awaits a second one
    CHECK(c.code == DFR_ECANCELLED);
    dfr_deferred_unref(d);  // nobody holds its deferred: it still runs on
    dfr_reactor_free(c.r);  // the second fails: it finishes
    CHECK(c.step == 4);
    (void)destroyed;
}

// ------------------------------------------------ bad times and options

TEST_CASE("hostile: every time input with NaN, infinities, negatives and extremes",
          "[hostile][reactor][time]")
{
    dfr_reactor *r = manual();
    const double bad[] = {std::nan(""), -std::nan(""), INFINITY, -INFINITY, -1e-300, -1,
                          4.6000001e9, DBL_MAX, -DBL_MAX};
    for (double x : bad) {
        INFO("x = " << x);
        int destroyed = 0;
        CHECK(dfr_reactor_call_later(r, x, nothing, &destroyed, count_destroy, nullptr) ==
              DFR_EINVAL);
        CHECK(destroyed == 1);
        CHECK(test::refused_with(dfr_reactor_defer_later(r, x, one, &destroyed, count_destroy),
                                 DFR_EINVAL));
        CHECK(destroyed == 2);
        dfr_deferred *d = dfr_deferred_new();
        CHECK(dfr_deferred_add_timeout(d, r, x) == DFR_EINVAL);
        CHECK(dfr_deferred_add_timeout_with(d, r, x, swallow, &destroyed, count_destroy) ==
              DFR_EINVAL);
        CHECK(destroyed == 3);
        dfr_deferred_unref(d);
        CHECK(dfr_reactor_advance(r, x) == DFR_EINVAL);
        CHECK(dfr_reactor_iterate(r, x) == DFR_EINVAL);
        dfr_looping_call *lc = dfr_looping_call_new(r, one, nullptr, nullptr);
        CHECK(test::refused_with(dfr_looping_call_start(lc, x, true), DFR_EINVAL));
        dfr_looping_call_unref(lc);
        dfr_delayed_call *dc = nullptr;
        REQUIRE(dfr_reactor_call_later(r, 1, nothing, nullptr, nullptr, &dc) == 0);
        CHECK(dfr_delayed_call_reset(dc, x) == DFR_EINVAL);
        if (!(x < 0 && x >= -4.6e9))
            CHECK(dfr_delayed_call_delay(dc, x) == DFR_EINVAL);
        CHECK(dfr_delayed_call_cancel(dc) == 0);
        dfr_delayed_call_unref(dc);
    }
    // -0.0 and the smallest positive are zero delays.
    for (double x : {-0.0, std::numeric_limits<double>::denorm_min(), 4.6e9}) {
        int ran = 0;
        REQUIRE(dfr_reactor_call_later(r, x, [](void *p) { ++*static_cast<int *>(p); }, &ran,
                                       nullptr, nullptr) == 0);
        dfr_reactor_advance(r, x);
        CHECK(ran == 1);
    }
    dfr_reactor_free(r);
}

TEST_CASE("hostile: the manual clock at the end of time", "[hostile][reactor][time]")
{
    dfr_reactor *r = manual();
    // Delay a call far into the past: it is due at once.
    dfr_delayed_call *past = nullptr;
    int ran = 0;
    auto bump = [](void *p) { ++*static_cast<int *>(p); };
    REQUIRE(dfr_reactor_call_later(r, 0, bump, &ran, nullptr, &past) == 0);
    CHECK(dfr_delayed_call_delay(past, -4.6e9) == 0);
    CHECK(dfr_delayed_call_time(past) <= 0);
    dfr_reactor_advance(r, 0);
    CHECK(ran == 1);
    dfr_delayed_call_unref(past);
    // A LoopingCall with the smallest interval and withCount, and one with a
    // huge interval, across a jump to the end of time.
    dfr_looping_call *tiny = dfr_looping_call_new(r, one, nullptr, nullptr);
    REQUIRE(dfr_looping_call_with_count(tiny) == 0);
    dfr_deferred *td = dfr_looping_call_start(tiny, 1e-9, true);
    dfr_looping_call *huge = dfr_looping_call_new(r, one, nullptr, nullptr);
    REQUIRE(dfr_looping_call_with_count(huge) == 0);
    dfr_deferred *hd = dfr_looping_call_start(huge, 4.6e9, false);
    dfr_deferred *timed = dfr_deferred_new();
    REQUIRE(dfr_deferred_add_timeout(timed, r, 4.6e9) == 0);
    for (int i = 0; i < 4; i++) {
        CHECK(dfr_reactor_advance(r, 4.6e9) == 0);
        // At the end of time no interval passes any more: fn is skipped,
        // and the count stays the last call's (it was 0 after a skip).
        CHECK(dfr_looping_call_count(tiny) >= 1);
    }
    CHECK(dfr_reactor_seconds(r) >= 9.2e9);
    CHECK(dfr_reactor_seconds(r) < 9.3e9);
    // At the end of time: new calls are due at the end of time, and run.
    int at_end = 0;
    REQUIRE(dfr_reactor_call_later(r, 4.6e9, bump, &at_end, nullptr, nullptr) == 0);
    CHECK(dfr_reactor_advance(r, 1) == 0);
    CHECK(at_end == 1);
    CHECK(dfr_looping_call_reset(tiny) == 0);
    CHECK(dfr_reactor_advance(r, 1) == 0);
    CHECK(dfr_looping_call_stop(tiny) == 0);
    CHECK(dfr_looping_call_stop(huge) == 0);
    CHECK(dfr_deferred_state(timed) == DFR_FAILED);
    dfr_deferred_add_errback(timed, swallow, nullptr, nullptr);
    dfr_deferred_unref(timed);
    dfr_deferred_unref(td);
    dfr_deferred_unref(hd);
    dfr_looping_call_unref(tiny);
    dfr_looping_call_unref(huge);
    dfr_reactor_free(r);
}

TEST_CASE("hostile: options structs of every size", "[hostile][reactor][options]")
{
    struct Big {
        dfr_reactor_options o;
        char tail[64];
    } big = {};
    big.o.size = sizeof big;
    big.o.manual_clock = true;
    std::memset(big.tail, 0xff, sizeof big.tail);
    dfr_reactor *r = dfr_reactor_new(&big.o);
    REQUIRE(r);
    CHECK(dfr_reactor_advance(r, 1) == 0);
    dfr_reactor_free(r);
    for (size_t size : {size_t(0), size_t(1), sizeof(size_t) - 1}) {
        dfr_reactor_options o = {};
        o.size = size;
        CHECK(dfr_reactor_new(&o) == nullptr);
    }
    // A size covering only `size` and manual_clock: the rest defaults.
    dfr_reactor_options o;
    std::memset(&o, 0xff, sizeof o);
    o.size = offsetof(dfr_reactor_options, manual_clock) + sizeof(bool);
    o.manual_clock = true;
    r = dfr_reactor_new(&o);
    REQUIRE(r);
    CHECK(dfr_reactor_advance(r, 1) == 0);
    dfr_reactor_free(r);
    // min > max, and huge pools.
    dfr_reactor_options p = {};
    p.size = sizeof p;
    p.threadpool_min = 5;
    p.threadpool_max = 2;
    CHECK(dfr_reactor_new(&p) == nullptr);
    p.threadpool_min = 0;
    p.threadpool_max = UINT_MAX;
    r = dfr_reactor_new(&p);
    REQUIRE(r);
    CHECK(dfr_reactor_suggest_threadpool_size(r, 0) == DFR_EINVAL);
    CHECK(dfr_reactor_suggest_threadpool_size(r, UINT_MAX) == 0);
    dfr_reactor_free(r);
    // Coroutine options.
    int destroyed = 0;
    dfr_coroutine_options co = {};
    co.size = 0;
    CHECK(test::refused_with(dfr_inline_callbacks_ex(one, &destroyed, count_destroy, &co),
                             DFR_EINVAL));
    co.size = sizeof co;
    co.stack_size = SIZE_MAX;
    CHECK(test::refused_with(dfr_inline_callbacks_ex(one, &destroyed, count_destroy, &co),
                             DFR_EINVAL));
    co.stack_size = DFR_CORO_MAX_STACK + 1;
    CHECK(test::refused_with(dfr_inline_callbacks_ex(one, &destroyed, count_destroy, &co),
                             DFR_EINVAL));
    struct BigCo {
        dfr_coroutine_options o;
        char tail[32];
    } bco = {};
    bco.o.size = sizeof bco;
    std::memset(bco.tail, 0xff, sizeof bco.tail);
    dfr_deferred *d = dfr_inline_callbacks_ex(one, &destroyed, count_destroy, &bco.o);
    CHECK(test::is_i64(dfr_deferred_result(d), 1));
    dfr_deferred_unref(d);
    CHECK(destroyed == 4);
}

TEST_CASE("hostile: NULL and bad arguments across the reactor API", "[hostile][reactor][null]")
{
    int destroyed = 0;
    CHECK(dfr_reactor_run(nullptr) == DFR_EINVAL);
    CHECK(dfr_reactor_stop(nullptr) == DFR_EINVAL);
    CHECK(dfr_reactor_iterate(nullptr, 0) == DFR_EINVAL);
    CHECK(dfr_reactor_advance(nullptr, 0) == DFR_EINVAL);
    CHECK(std::isnan(dfr_reactor_seconds(nullptr)));
    CHECK_FALSE(dfr_reactor_running(nullptr));
    CHECK_FALSE(dfr_reactor_in_thread(nullptr));
    CHECK(dfr_reactor_pending_calls(nullptr) == 0);
    dfr_reactor_free(nullptr);
    CHECK(dfr_reactor_call_later(nullptr, 0, nothing, &destroyed, count_destroy, nullptr) ==
          DFR_EINVAL);
    CHECK(dfr_reactor_call_when_running(nullptr, nothing, &destroyed, count_destroy) ==
          DFR_EINVAL);
    CHECK(dfr_reactor_call_from_thread(nullptr, nothing, &destroyed, count_destroy) ==
          DFR_EINVAL);
    CHECK(dfr_reactor_add_system_event_trigger(nullptr, DFR_BEFORE, DFR_STARTUP, one, &destroyed,
                                               count_destroy, nullptr) == DFR_EINVAL);
    CHECK(test::refused_with(dfr_reactor_defer_later(nullptr, 0, one, &destroyed, count_destroy),
                             DFR_EINVAL));
    CHECK(test::refused_with(dfr_reactor_defer_to_thread(nullptr, one, &destroyed,
                                                         count_destroy),
                             DFR_EINVAL));
    CHECK(destroyed == 6);
    CHECK(dfr_deferred_add_timeout(nullptr, nullptr, 1) == DFR_EINVAL);
    CHECK(dfr_deferred_add_timeout_with(nullptr, nullptr, 1, swallow, &destroyed,
                                        count_destroy) == DFR_EINVAL);
    CHECK(destroyed == 7);
    CHECK(dfr_looping_call_new(nullptr, one, &destroyed, count_destroy) == nullptr);
    CHECK(destroyed == 8);
    CHECK(test::refused_with(dfr_looping_call_start(nullptr, 1, true), DFR_EINVAL));
    CHECK(dfr_looping_call_stop(nullptr) == DFR_EINVAL);
    CHECK(dfr_looping_call_reset(nullptr) == DFR_EINVAL);
    CHECK(dfr_looping_call_with_count(nullptr) == DFR_EINVAL);
    CHECK(dfr_looping_call_count(nullptr) == 0);
    CHECK_FALSE(dfr_looping_call_running(nullptr));
    CHECK(dfr_looping_call_ref(nullptr) == nullptr);
    dfr_looping_call_unref(nullptr);
    CHECK(dfr_delayed_call_cancel(nullptr) == DFR_EINVAL);
    CHECK(dfr_delayed_call_reset(nullptr, 1) == DFR_EINVAL);
    CHECK(dfr_delayed_call_delay(nullptr, 1) == DFR_EINVAL);
    CHECK_FALSE(dfr_delayed_call_active(nullptr));
    CHECK(std::isnan(dfr_delayed_call_time(nullptr)));
    CHECK(dfr_delayed_call_ref(nullptr) == nullptr);
    dfr_delayed_call_unref(nullptr);

    dfr_reactor *r = manual();
    CHECK(dfr_reactor_call_later(r, 0, nullptr, &destroyed, count_destroy, nullptr) ==
          DFR_EINVAL);
    CHECK(dfr_reactor_call_when_running(r, nullptr, &destroyed, count_destroy) == DFR_EINVAL);
    CHECK(dfr_reactor_call_from_thread(r, nullptr, &destroyed, count_destroy) == DFR_EINVAL);
    CHECK(dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_STARTUP, nullptr, &destroyed,
                                               count_destroy, nullptr) == DFR_EINVAL);
    CHECK(dfr_reactor_add_system_event_trigger(r, static_cast<dfr_trigger_phase>(3), DFR_STARTUP,
                                               one, &destroyed, count_destroy, nullptr) ==
          DFR_EINVAL);
    CHECK(dfr_reactor_add_system_event_trigger(r, static_cast<dfr_trigger_phase>(-1),
                                               DFR_STARTUP, one, &destroyed, count_destroy,
                                               nullptr) == DFR_EINVAL);
    CHECK(dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, static_cast<dfr_trigger_event>(2),
                                               one, &destroyed, count_destroy, nullptr) ==
          DFR_EINVAL);
    CHECK(dfr_looping_call_new(r, nullptr, &destroyed, count_destroy) == nullptr);
    CHECK(test::refused_with(dfr_reactor_defer_to_thread(r, nullptr, &destroyed, count_destroy),
                             DFR_EINVAL));
    CHECK(destroyed == 17);
    CHECK(dfr_reactor_remove_system_event_trigger(r, 0) == DFR_EINVAL);
    CHECK(dfr_reactor_remove_system_event_trigger(r, UINT64_MAX) == DFR_EINVAL);
    uint64_t id = 0;
    REQUIRE(dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_STARTUP, one, &destroyed,
                                                 count_destroy, &id) == 0);
    CHECK(dfr_reactor_remove_system_event_trigger(r, id) == 0);
    CHECK(destroyed == 18);
    CHECK(dfr_reactor_remove_system_event_trigger(r, id) == DFR_EINVAL);
    CHECK(dfr_reactor_remove_system_event_trigger(nullptr, id) == DFR_EINVAL);
    dfr_deferred *d = dfr_deferred_new();
    CHECK(dfr_deferred_add_timeout(d, nullptr, 1) == DFR_EINVAL);
    dfr_deferred_unref(d);
    // A real clock cannot be advanced; a manual one cannot run twice.
    dfr_reactor *real = dfr_reactor_new(nullptr);
    CHECK(dfr_reactor_advance(real, 1) == DFR_EINVAL);
    CHECK(dfr_reactor_stop(real) == DFR_ENOTRUNNING);
    dfr_reactor_free(real);
    dfr_reactor_free(r);
}

// ------------------------------------------------ out of memory, everywhere

namespace {

struct Scenario {
    dfr_reactor *r = nullptr;
    dfr_queue *q = nullptr;
    dfr_lock *lock = nullptr;
    int fn_destroyed = 0;
    int coro_destroyed = 0;
    int ticks = 0;
};

dfr_value scenario_locked(void *data)
{
    auto *s = static_cast<Scenario *>(data);
    // Hold the lock across a deferLater.
    dfr_deferred *d = dfr_reactor_defer_later(s->r, 0.5, nullptr, nullptr, nullptr);
    if (!d)
        return dfr_value_failure(dfr_failure_new(nullptr, DFR_ENOMEM, nullptr));
    return dfr_value_deferred(d);
}

// The coroutine: every call may fail for want of memory; it goes on with
// whatever it got (NULL deferreds are refused with DFR_EINVAL by dfr_await).
dfr_value scenario_coro(void *data)
{
    auto *s = static_cast<Scenario *>(data);
    dfr_value v = dfr_await(dfr_reactor_defer_later(s->r, 1, nullptr, nullptr, nullptr));
    dfr_value_drop(v);
    dfr_deferred *ins[3] = {dfr_reactor_defer_later(s->r, 2, nullptr, nullptr, nullptr),
                            dfr_succeed(dfr_bytes_new("abc", 3)), dfr_queue_get(s->q)};
    dfr_deferred *all = nullptr;
    if (ins[0] && ins[1] && ins[2])
        all = dfr_gather_results(ins, 3, true);
    for (auto *d : ins) {
        if (d && !all) {
            dfr_deferred_cancel(d);
            dfr_deferred_add_errback(d, swallow, nullptr, nullptr);
        }
        dfr_deferred_unref(d);
    }
    dfr_deferred_add_timeout(all, s->r, 10);
    v = dfr_await(all);
    dfr_value_drop(v);
    v = dfr_await(dfr_lock_run(s->lock, scenario_locked, s, nullptr));
    dfr_value_drop(v);
    dfr_deferred *inner = dfr_inline_callbacks([](void *) { return dfr_i64(3); }, nullptr,
                                               nullptr);
    v = dfr_await(inner);
    int64_t x = dfr_is_i64(v) ? v.u.i64 : -1;
    dfr_value_drop(v);
    return dfr_i64(x);
}

void scenario(Scenario &s)
{
    dfr_reactor_options o = {};
    o.size = sizeof o;
    o.manual_clock = true;
    s.r = dfr_reactor_new(&o);
    if (!s.r)
        return;
    s.q = dfr_queue_new(DFR_UNLIMITED, DFR_UNLIMITED);
    s.lock = dfr_lock_new();
    dfr_looping_call *lc = dfr_looping_call_new(s.r, [](void *data) {
        static_cast<Scenario *>(data)->ticks++;
        return dfr_none();
    }, &s, [](void *data) { static_cast<Scenario *>(data)->fn_destroyed++; });
    dfr_looping_call_with_count(lc);
    dfr_deferred *lcd = dfr_looping_call_start(lc, 0.5, true);
    dfr_deferred_add_errback(lcd, swallow, nullptr, nullptr);
    dfr_deferred *c = dfr_inline_callbacks(scenario_coro, &s, [](void *data) {
        static_cast<Scenario *>(data)->coro_destroyed++;
    });
    dfr_deferred_add_errback(c, swallow, nullptr, nullptr);
    dfr_queue_put(s.q, dfr_i64(1)); // may be NULL (then refused)
    dfr_deferred *extra[2] = {dfr_reactor_defer_later(s.r, 3, nullptr, nullptr, nullptr),
                              dfr_deferred_new()};
    dfr_deferred *list = extra[0] && extra[1] ? dfr_deferred_list(extra, 2, 0) : nullptr;
    dfr_deferred_add_errback(list, swallow, nullptr, nullptr);
    for (int i = 0; i < 8; i++)
        dfr_reactor_advance(s.r, 0.5);
    dfr_looping_call_stop(lc);
    dfr_looping_call_unref(lc);
    dfr_deferred_unref(lcd);
    dfr_deferred_unref(list);
    for (auto *d : extra)
        dfr_deferred_unref(d);
    dfr_deferred_unref(c);
    dfr_queue_free(s.q);
    dfr_lock_free(s.lock);
    dfr_reactor_free(s.r);
}

} // namespace

TEST_CASE("hostile: a whole scenario with the k-th allocation failing, for every k",
          "[hostile][reactor][alloc]")
{
    test::UnhandledCapture unhandled;
    int runs = test::for_each_allocation_failure([](long) {
        Scenario s;
        scenario(s);
        if (s.r) {
            CHECK(s.coro_destroyed <= 1);
            CHECK(s.fn_destroyed <= 1);
        }
        dfr_trim();
    });
    CHECK(runs > 20);
    // The run without a failure completed everything.
    Scenario s;
    scenario(s);
    CHECK(s.coro_destroyed == 1);
    CHECK(s.fn_destroyed == 1);
    CHECK(s.ticks >= 4);
    dfr_trim();
}

TEST_CASE("hostile: the whole scenario in debug mode, with the k-th allocation failing",
          "[hostile][reactor][alloc][debug]")
{
    test::UnhandledCapture unhandled;
    int runs = test::for_each_allocation_failure([](long) {
        // On and off in each run: debug mode keeps freed delayed-call
        // handles poisoned until it is switched off.
        test::DebugMode debug;
        Scenario s;
        scenario(s);
        dfr_trim();
    });
    CHECK(runs > 20);
}
