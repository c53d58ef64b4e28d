// The reactor's lifecycle: run, stop, triggers, callWhenRunning, iterate and
// running on a caller's libuv loop.  TWISTED_BEHAVIOURS S44-S46;
// twisted/internet/test/test_core.py, twisted/test/test_internet.py
// (ThreePhaseEventTests, SystemEventTests).
#include <catch2/catch.hpp>

#include "reactor_support.h"
#include "recorder.h"
#include "support.h"

#include <uv.h>

namespace {

struct Events {
    dfr_reactor *r;
    std::vector<std::string> seen;
};

dfr_value note_phase(void *data);

struct PhaseNote {
    Events *e;
    std::string name;
};

dfr_value note_phase(void *data)
{
    auto *p = static_cast<PhaseNote *>(data);
    p->e->seen.push_back(p->name + (dfr_reactor_running(p->e->r) ? ":running" : ":stopped"));
    return dfr_none();
}

} // namespace

// test_stopWhenNotStarted, test_stopWhenAlreadyStopped, test_stopShutDownEvents,
// test_shutdownFiresTriggersAsynchronously, test_runAfterStop.
TEST_CASE("S44 stop semantics and shutdown triggers", "[reactor][S44]")
{
    Events ev{dfr_reactor_new(nullptr), {}};
    CHECK(dfr_reactor_stop(ev.r) == DFR_ENOTRUNNING);
    PhaseNote before{&ev, "before"}, during{&ev, "during"}, after{&ev, "after"};
    dfr_add_system_event_trigger(ev.r, DFR_BEFORE, DFR_SHUTDOWN, note_phase, &before, nullptr, nullptr);
    dfr_add_system_event_trigger(ev.r, DFR_DURING, DFR_SHUTDOWN, note_phase, &during, nullptr, nullptr);
    dfr_add_system_event_trigger(ev.r, DFR_AFTER, DFR_SHUTDOWN, note_phase, &after, nullptr, nullptr);
    dfr_call_when_running(ev.r, [](void *data) {
        auto *e = static_cast<Events *>(data);
        CHECK(dfr_reactor_stop(e->r) == 0);
        e->seen.push_back("stopped");
        if (dfr_reactor_stop(e->r) == DFR_ENOTRUNNING)
            e->seen.push_back("second stop refused");
        e->seen.push_back(dfr_reactor_running(e->r) ? "still running" : "not running");
    }, &ev, nullptr);
    REQUIRE(dfr_reactor_run(ev.r) == 0);
    CHECK(ev.seen == std::vector<std::string>{"stopped", "second stop refused", "still running",
                                              "before:running", "during:stopped", "after:stopped"});
    CHECK_FALSE(dfr_reactor_running(ev.r));
    CHECK(dfr_reactor_run(ev.r) == DFR_EALREADY); // not restartable
    CHECK(dfr_reactor_stop(ev.r) == DFR_ENOTRUNNING);
    dfr_reactor_free(ev.r);
}

// test_runningForStartupEvents, test_callWhenRunningOrder, test_multipleRun.
TEST_CASE("S45 startup phases and callWhenRunning", "[reactor][S45]")
{
    Events ev{dfr_reactor_new(nullptr), {}};
    PhaseNote before{&ev, "before"}, during{&ev, "during"}, after{&ev, "after"};
    dfr_add_system_event_trigger(ev.r, DFR_BEFORE, DFR_STARTUP, note_phase, &before, nullptr, nullptr);
    dfr_add_system_event_trigger(ev.r, DFR_DURING, DFR_STARTUP, note_phase, &during, nullptr, nullptr);
    dfr_add_system_event_trigger(ev.r, DFR_AFTER, DFR_STARTUP, note_phase, &after, nullptr, nullptr);
    dfr_call_when_running(ev.r, [](void *data) { static_cast<Events *>(data)->seen.push_back("first"); }, &ev, nullptr);
    dfr_call_when_running(ev.r, [](void *data) {
        auto *e = static_cast<Events *>(data);
        e->seen.push_back("second");
        // Inside a running reactor: called at once; run again is refused.
        dfr_call_when_running(e->r, [](void *d2) { static_cast<Events *>(d2)->seen.push_back("at once"); }, e, nullptr);
        e->seen.push_back(dfr_reactor_run(e->r) == DFR_EALREADY ? "run refused" : "run?");
        dfr_reactor_stop(e->r);
    }, &ev, nullptr);
    REQUIRE(dfr_reactor_run(ev.r) == 0);
    CHECK(ev.seen == std::vector<std::string>{"before:stopped", "during:running", "after:running", "first",
                                              "second", "at once", "run refused"});
    dfr_reactor_free(ev.r);
}

// test_runWithAsynchronousBeforeStartupTrigger.
TEST_CASE("S46 a before-startup deferred delays startup; stop during startup waits", "[reactor][S46]")
{
    struct Ctx {
        dfr_reactor *r;
        std::vector<std::string> seen;
    } ctx{dfr_reactor_new(nullptr), {}};
    dfr_add_system_event_trigger(ctx.r, DFR_BEFORE, DFR_STARTUP, [](void *data) -> dfr_value {
        auto *c = static_cast<Ctx *>(data);
        c->seen.push_back("trigger");
        dfr_deferred *d = dfr_defer_later(c->r, 0, nullptr, nullptr, nullptr);
        dfr_deferred_add_callback(d, [](dfr_value v, void *data2) -> dfr_value {
            auto *c2 = static_cast<Ctx *>(data2);
            c2->seen.push_back("callback");
            CHECK(dfr_reactor_stop(c2->r) == 0); // accepted before running
            return v;
        }, c, nullptr);
        return dfr_value_deferred(d);
    }, &ctx, nullptr, nullptr);
    dfr_call_when_running(ctx.r, [](void *data) { static_cast<Ctx *>(data)->seen.push_back("running"); }, &ctx, nullptr);
    REQUIRE(dfr_reactor_run(ctx.r) == 0);
    CHECK(ctx.seen == std::vector<std::string>{"trigger", "callback", "running"});
    dfr_reactor_free(ctx.r);
}

// ThreePhaseEventTests, SystemEventTests: deferreds delay the next phase,
// failures are reported, removed triggers do not run, triggers run once.
TEST_CASE("S46 shutdown triggers: waiting, failures, removal", "[reactor][S46]")
{
    test::UnhandledCapture u;
    struct Ctx {
        dfr_reactor *r;
        dfr_deferred *d1, *d2;
        std::vector<std::string> seen;
    } ctx{dfr_reactor_new(nullptr), dfr_deferred_new(), dfr_deferred_new(), {}};
    auto ret1 = [](void *data) -> dfr_value {
        return dfr_value_deferred(dfr_deferred_ref(static_cast<Ctx *>(data)->d1));
    };
    auto ret2 = [](void *data) -> dfr_value {
        return dfr_value_deferred(dfr_deferred_ref(static_cast<Ctx *>(data)->d2));
    };
    auto fails = [](void *) -> dfr_value { return dfr_value_failure(test::failure(9, "trigger failed")); };
    uint64_t removed;
    dfr_add_system_event_trigger(ctx.r, DFR_BEFORE, DFR_SHUTDOWN, ret1, &ctx, nullptr, nullptr);
    dfr_add_system_event_trigger(ctx.r, DFR_BEFORE, DFR_SHUTDOWN, fails, &ctx, nullptr, nullptr);
    dfr_add_system_event_trigger(ctx.r, DFR_BEFORE, DFR_SHUTDOWN, ret2, &ctx, nullptr, nullptr);
    dfr_add_system_event_trigger(ctx.r, DFR_DURING, DFR_SHUTDOWN, [](void *data) -> dfr_value {
        static_cast<Ctx *>(data)->seen.push_back("removed one ran");
        return dfr_none();
    }, &ctx, nullptr, &removed);
    dfr_add_system_event_trigger(ctx.r, DFR_DURING, DFR_SHUTDOWN, [](void *data) -> dfr_value {
        static_cast<Ctx *>(data)->seen.push_back("during");
        return dfr_none();
    }, &ctx, nullptr, nullptr);
    dfr_add_system_event_trigger(ctx.r, DFR_AFTER, DFR_SHUTDOWN, [](void *data) -> dfr_value {
        auto *c = static_cast<Ctx *>(data);
        c->seen.push_back("after");
        return dfr_none();
    }, &ctx, nullptr, nullptr);
    CHECK(dfr_remove_system_event_trigger(ctx.r, removed) == 0);
    CHECK(dfr_remove_system_event_trigger(ctx.r, removed) == DFR_EINVAL);
    CHECK(dfr_remove_system_event_trigger(ctx.r, 999999) == DFR_EINVAL);
    // Stop at once; fire d1, then d2, from timers while shutdown waits.
    dfr_call_when_running(ctx.r, [](void *data) {
        auto *c = static_cast<Ctx *>(data);
        dfr_reactor_stop(c->r);
        dfr_call_later(c->r, 0.001, [](void *d) {
            auto *c2 = static_cast<Ctx *>(d);
            c2->seen.push_back("d1 fires");
            dfr_deferred_callback(c2->d1, dfr_none());
        }, c, nullptr, nullptr);
        dfr_call_later(c->r, 0.002, [](void *d) {
            auto *c2 = static_cast<Ctx *>(d);
            c2->seen.push_back("d2 fires");
            dfr_deferred_callback(c2->d2, dfr_none());
        }, c, nullptr, nullptr);
    }, &ctx, nullptr);
    REQUIRE(dfr_reactor_run(ctx.r) == 0);
    CHECK(ctx.seen == std::vector<std::string>{"d1 fires", "d2 fires", "during", "after"});
    CHECK(u.count() == 1);
    dfr_deferred_unref(ctx.d1);
    dfr_deferred_unref(ctx.d2);
    dfr_reactor_free(ctx.r);
}

TEST_CASE("iterate runs calls from threads and timers outside run", "[reactor]")
{
    dfr_reactor *r = dfr_reactor_new(nullptr);
    int n = 0;
    dfr_call_from_thread(r, [](void *data) { ++*static_cast<int *>(data); }, &n, nullptr);
    CHECK(dfr_reactor_iterate(r, 0) == 0);
    CHECK(n == 1);
    dfr_call_later(r, 0.001, [](void *data) { ++*static_cast<int *>(data); }, &n, nullptr, nullptr);
    for (int i = 0; i < 1000 && n < 2; i++)
        dfr_reactor_iterate(r, 0.01);
    CHECK(n == 2);
    CHECK(dfr_reactor_iterate(r, -1) == DFR_EINVAL);
    CHECK(dfr_reactor_iterate(nullptr, 0) == DFR_EINVAL);
    double t0 = dfr_reactor_seconds(r);
    double t1 = dfr_reactor_seconds(r);
    CHECK(t1 >= t0);
    dfr_reactor_free(r);
}

TEST_CASE("the uv_loop option: our timers and thread calls run on the caller's loop", "[reactor][uv]")
{
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    dfr_reactor_options o = {};
    o.size = sizeof o;
    o.uv_loop = &loop;
    dfr_reactor *r = dfr_reactor_new(&o);
    REQUIRE(r != nullptr);
    int timer = 0, posted = 0;
    dfr_call_later(r, 0.001, [](void *data) { ++*static_cast<int *>(data); }, &timer, nullptr, nullptr);
    dfr_call_from_thread(r, [](void *data) { ++*static_cast<int *>(data); }, &posted, nullptr);
    // Pool work keeps the caller's loop alive until its result is in.
    dfr_deferred *d = dfr_defer_to_thread(r, [](void *) -> dfr_value { return dfr_i64(5); }, nullptr, nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(timer == 1);
    CHECK(posted == 1);
    CHECK(test::state(d) == "i64 5");
    dfr_deferred_unref(d);
    dfr_reactor_free(r);
    CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("reactor bad input", "[reactor][bad-input]")
{
    int destroyed = 0;
    dfr_reactor *r = dfr_reactor_new(nullptr);
    CHECK(dfr_add_system_event_trigger(r, 7, DFR_STARTUP, [](void *) -> dfr_value { return dfr_none(); },
                                       &destroyed, test::count_destroy, nullptr) == DFR_EINVAL);
    CHECK(dfr_add_system_event_trigger(r, DFR_BEFORE, 9, nullptr, &destroyed, test::count_destroy, nullptr) == DFR_EINVAL);
    CHECK(dfr_call_when_running(r, nullptr, &destroyed, test::count_destroy) == DFR_EINVAL);
    CHECK(dfr_call_from_thread(nullptr, [](void *) {}, &destroyed, test::count_destroy) == DFR_EINVAL);
    CHECK(destroyed == 4);
    CHECK(dfr_reactor_run(nullptr) == DFR_EINVAL);
    CHECK(dfr_reactor_stop(nullptr) == DFR_EINVAL);
    CHECK_FALSE(dfr_reactor_running(nullptr));
    dfr_reactor_options bad = {};
    bad.size = sizeof bad;
    bad.threadpool_min = 5;
    bad.threadpool_max = 2;
    CHECK(dfr_reactor_new(&bad) == nullptr);
    // Triggers never fired are released at free.
    dfr_add_system_event_trigger(r, DFR_AFTER, DFR_SHUTDOWN, [](void *) -> dfr_value { return dfr_none(); },
                                 &destroyed, test::count_destroy, nullptr);
    dfr_reactor_free(r);
    CHECK(destroyed == 5);
    dfr_reactor_free(nullptr);
}
