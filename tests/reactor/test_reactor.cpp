// The reactor's lifecycle: run, stop, system event triggers,
// callWhenRunning, iterate, the clock, and running on a caller's libuv loop.
// Behaviours S44-S46, ported from twisted/internet/test/test_core.py,
// twisted/test/test_internet.py (ThreePhaseEventTests, SystemEventTests,
// TimeTests, CallFromThreadStopsAndWakeUpTests).  The real clock is used
// only for the lifecycle (callLater(0), call_when_running) and for two smoke
// tests with delays of at most 20 ms; timing behaviour is in test_timer.cpp
// on the manual clock.
#include <catch2/catch.hpp>

#include "reactor_support.h"
#include "recorder.h"
#include "support.h"

#include <uv.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Events {
    dfr_reactor *r;
    std::vector<std::string> seen;
    Events() : r(dfr_reactor_new(nullptr)) {}
    ~Events() { dfr_reactor_free(r); }
    Events(const Events &) = delete;
    Events &operator=(const Events &) = delete;
    void note(const std::string &s) { seen.push_back(s); }
};

// A trigger or call that records its name (and whether the reactor runs).
struct Note {
    Events *e;
    std::string name;
    bool show_running = false;
};

dfr_value note_trigger(void *data)
{
    auto *n = static_cast<Note *>(data);
    n->e->note(n->show_running ? n->name + (dfr_reactor_running(n->e->r) ? ":running" : ":stopped") : n->name);
    return dfr_none();
}

void note_call(void *data) { note_trigger(data); }

void stop_call(void *data)
{
    auto *e = static_cast<Events *>(data);
    CHECK(dfr_reactor_stop(e->r) == 0);
}

int add_trigger(Events &e, int phase, int event, Note *n, uint64_t *id = nullptr)
{
    return dfr_reactor_add_system_event_trigger(e.r, (dfr_trigger_phase)phase, (dfr_trigger_event)event, note_trigger, n, nullptr, id);
}

dfr_value none_trigger(void *) { return dfr_none(); }

using Strings = std::vector<std::string>;

} // namespace

// test_core.py test_stopWhenNotStarted, test_stopWhenAlreadyStopped,
// test_stopShutDownEvents, test_shutdownFiresTriggersAsynchronously,
// test_runAfterStop.
TEST_CASE("S44 stop semantics and shutdown triggers", "[reactor][S44]")
{
    Events ev;
    REQUIRE(ev.r != nullptr);
    CHECK(dfr_reactor_stop(ev.r) == DFR_ENOTRUNNING);
    Note before{&ev, "before"}, during{&ev, "during"}, after{&ev, "after"};
    add_trigger(ev, DFR_BEFORE, DFR_SHUTDOWN, &before);
    add_trigger(ev, DFR_DURING, DFR_SHUTDOWN, &during);
    add_trigger(ev, DFR_AFTER, DFR_SHUTDOWN, &after);
    REQUIRE(dfr_reactor_call_when_running(ev.r, [](void *data) {
        auto *e = static_cast<Events *>(data);
        CHECK(dfr_reactor_stop(e->r) == 0);
        e->note("stopped");
        if (dfr_reactor_stop(e->r) == DFR_ENOTRUNNING)
            e->note("second stop refused");
        e->note(dfr_reactor_running(e->r) ? "still running" : "not running");
    }, &ev, nullptr) == 0);
    CHECK_FALSE(dfr_reactor_running(ev.r));
    REQUIRE(dfr_reactor_run(ev.r) == 0);
    CHECK(ev.seen == Strings{"stopped", "second stop refused", "still running", "before", "during", "after"});
    CHECK_FALSE(dfr_reactor_running(ev.r));
    CHECK(dfr_reactor_run(ev.r) == DFR_ENOTRESTARTABLE); // not restartable
    CHECK(dfr_reactor_stop(ev.r) == DFR_ENOTRUNNING);
    CHECK(ev.seen.size() == 6); // nothing ran again
}

// test_core.py test_runningForStartupEvents, test_callWhenRunningOrder,
// test_multipleRun.
TEST_CASE("S45 startup phases and callWhenRunning", "[reactor][S45]")
{
    Events ev;
    Note before{&ev, "before", true}, during{&ev, "during", true}, after{&ev, "after", true};
    add_trigger(ev, DFR_BEFORE, DFR_STARTUP, &before);
    add_trigger(ev, DFR_DURING, DFR_STARTUP, &during);
    add_trigger(ev, DFR_AFTER, DFR_STARTUP, &after);
    dfr_reactor_call_when_running(ev.r, [](void *data) { static_cast<Events *>(data)->note("first"); }, &ev, nullptr);
    dfr_reactor_call_when_running(ev.r, [](void *data) {
        auto *e = static_cast<Events *>(data);
        e->note("second");
        // Inside a running reactor: called at once; run again is refused.
        CHECK(dfr_reactor_call_when_running(e->r, [](void *d2) { static_cast<Events *>(d2)->note("at once"); }, e,
                                    nullptr) == 0);
        e->note("returned");
        e->note(dfr_reactor_run(e->r) == DFR_EALREADY_RUNNING ? "run refused" : "run?");
        dfr_reactor_stop(e->r);
    }, &ev, nullptr);
    REQUIRE(dfr_reactor_run(ev.r) == 0);
    CHECK(ev.seen == Strings{"before:stopped", "during:running", "after:running", "first", "second", "at once",
                             "returned", "run refused"});
}

// The running flag in each of the six phases (API decision: false in
// before-startup, true from during-startup until during-shutdown).
TEST_CASE("S45 running in every phase of startup and shutdown", "[reactor][S45]")
{
    Events ev;
    Note bs{&ev, "before-startup", true}, ds{&ev, "during-startup", true}, as{&ev, "after-startup", true};
    Note bsh{&ev, "before-shutdown", true}, dsh{&ev, "during-shutdown", true}, ash{&ev, "after-shutdown", true};
    // Registered out of order: each phase runs its own, in phase order.
    add_trigger(ev, DFR_AFTER, DFR_SHUTDOWN, &ash);
    add_trigger(ev, DFR_DURING, DFR_SHUTDOWN, &dsh);
    add_trigger(ev, DFR_BEFORE, DFR_SHUTDOWN, &bsh);
    add_trigger(ev, DFR_AFTER, DFR_STARTUP, &as);
    add_trigger(ev, DFR_DURING, DFR_STARTUP, &ds);
    add_trigger(ev, DFR_BEFORE, DFR_STARTUP, &bs);
    dfr_reactor_call_when_running(ev.r, stop_call, &ev, nullptr);
    REQUIRE(dfr_reactor_run(ev.r) == 0);
    CHECK(ev.seen == Strings{"before-startup:stopped", "during-startup:running", "after-startup:running",
                             "before-shutdown:running", "during-shutdown:stopped", "after-shutdown:stopped"});
}

// test_core.py test_runWithAsynchronousBeforeStartupTrigger.
TEST_CASE("S46 a before-startup deferred delays startup; a stop during startup waits for it", "[reactor][S46]")
{
    Events ev;
    dfr_reactor_add_system_event_trigger(ev.r, DFR_BEFORE, DFR_STARTUP, [](void *data) -> dfr_value {
        auto *e = static_cast<Events *>(data);
        e->note("trigger");
        dfr_deferred *d = dfr_reactor_defer_later(e->r, 0, nullptr, nullptr, nullptr);
        dfr_deferred_add_callback(d, [](dfr_value v, void *data2) -> dfr_value {
            auto *e2 = static_cast<Events *>(data2);
            e2->note("callback");
            CHECK_FALSE(dfr_reactor_running(e2->r));
            CHECK(dfr_reactor_stop(e2->r) == 0); // accepted before running
            CHECK(dfr_reactor_stop(e2->r) == DFR_ENOTRUNNING);
            return v;
        }, e, nullptr);
        return dfr_value_deferred(d);
    }, &ev, nullptr, nullptr);
    dfr_reactor_call_when_running(ev.r, [](void *data) { static_cast<Events *>(data)->note("running"); }, &ev, nullptr);
    Note shutdown{&ev, "shutdown"};
    add_trigger(ev, DFR_BEFORE, DFR_SHUTDOWN, &shutdown);
    REQUIRE(dfr_reactor_run(ev.r) == 0);
    CHECK(ev.seen == Strings{"trigger", "callback", "running", "shutdown"});
}

// test_internet.py ThreePhaseEventTests test_asynchronousBefore,
// SystemEventTests test_beforeReturnsDeferred; the API decision that every
// phase waits for the deferreds its triggers return.
TEST_CASE("S46 a deferred from a trigger in any phase delays the next phase", "[reactor][S46]")
{
    const char *names[2][3] = {{"bs", "ds", "as"}, {"bsh", "dsh", "ash"}};
    int event = GENERATE(as<int>(), DFR_STARTUP, DFR_SHUTDOWN);
    int phase = GENERATE(as<int>(), DFR_BEFORE, DFR_DURING, DFR_AFTER);
    Events ev;
    struct Waiter {
        Events *e;
        std::string name;
    } waiter{&ev, names[event][phase]};
    std::vector<Note> notes;
    notes.reserve(6);
    for (int e = 0; e < 2; e++)
        for (int p = 0; p < 3; p++) {
            notes.push_back({&ev, names[e][p]});
            if (e == event && p == phase)
                dfr_reactor_add_system_event_trigger(ev.r, (dfr_trigger_phase)p, (dfr_trigger_event)e, [](void *data) -> dfr_value {
                    auto *w = static_cast<Waiter *>(data);
                    w->e->note(w->name);
                    // Fires on a later loop iteration.
                    return dfr_value_deferred(dfr_reactor_defer_later(w->e->r, 0, [](void *d2) -> dfr_value {
                        auto *w2 = static_cast<Waiter *>(d2);
                        w2->e->note(w2->name + " fired");
                        return dfr_none();
                    }, w, nullptr));
                }, &waiter, nullptr, nullptr);
            else
                add_trigger(ev, p, e, &notes.back());
        }
    dfr_reactor_call_when_running(ev.r, [](void *data) {
        auto *e = static_cast<Events *>(data);
        e->note("cwr");
        CHECK(dfr_reactor_stop(e->r) == 0);
    }, &ev, nullptr);
    REQUIRE(dfr_reactor_run(ev.r) == 0);
    Strings want{"bs", "ds", "as", "cwr", "bsh", "dsh", "ash"};
    // The fired note comes before the next phase; the call_when_running call
    // belongs to the after-startup phase itself.
    std::string fired = waiter.name + " fired";
    auto pos = std::find(want.begin(), want.end(), waiter.name) + 1;
    if (waiter.name == "as")
        pos++;
    want.insert(pos, fired);
    INFO("waiting in " << waiter.name);
    CHECK(ev.seen == want);
}

// test_internet.py ThreePhaseEventTests test_beforeTriggerException,
// test_duringTriggerException: a failing trigger is reported (our unhandled
// error hook) and the rest still run; a trigger's deferred that fails, too.
TEST_CASE("S46 a failing trigger is reported and the others still run", "[reactor][S46]")
{
    test::UnhandledCapture u;
    Events ev;
    int event = GENERATE(as<int>(), DFR_STARTUP, DFR_SHUTDOWN);
    int phase = GENERATE(as<int>(), DFR_BEFORE, DFR_DURING, DFR_AFTER);
    bool through_deferred = GENERATE(false, true);
    Note a{&ev, "a"}, b{&ev, "b"};
    if (through_deferred)
        dfr_reactor_add_system_event_trigger(ev.r, (dfr_trigger_phase)phase, (dfr_trigger_event)event, [](void *data) -> dfr_value {
            auto *e = static_cast<Events *>(data);
            dfr_deferred *d = dfr_reactor_defer_later(e->r, 0, [](void *) -> dfr_value {
                return dfr_value_failure(test::failure(21, "deferred trigger failed"));
            }, nullptr, nullptr);
            return dfr_value_deferred(d);
        }, &ev, nullptr, nullptr);
    else
        dfr_reactor_add_system_event_trigger(ev.r, (dfr_trigger_phase)phase, (dfr_trigger_event)event, [](void *) -> dfr_value {
            return dfr_value_failure(test::failure(20, "trigger failed"));
        }, nullptr, nullptr, nullptr);
    add_trigger(ev, phase, event, &a);
    // Something after this phase: the next phase, or the other event.
    if (phase < DFR_AFTER)
        add_trigger(ev, phase + 1, event, &b);
    else if (event == DFR_STARTUP)
        add_trigger(ev, DFR_BEFORE, DFR_SHUTDOWN, &b);
    else
        b.e = nullptr;
    dfr_reactor_call_when_running(ev.r, stop_call, &ev, nullptr);
    REQUIRE(dfr_reactor_run(ev.r) == 0);
    Strings want{"a"};
    if (b.e)
        want.push_back("b");
    CHECK(ev.seen == want);
    REQUIRE(u.count() == 1);
    CHECK(u.codes[0] == (through_deferred ? 21 : 20));
}

// test_internet.py SystemEventTests test_multipleBeforeReturnDeferred,
// test_removeSystemEventTrigger, test_removeNonExistentSystemEventTrigger,
// and S46's list: d1, a raising trigger, d2, a removed during trigger,
// during, after.
TEST_CASE("S46 shutdown waits for every deferred; removed triggers do not run", "[reactor][S46]")
{
    test::UnhandledCapture u;
    struct Ctx {
        Events ev;
        dfr_deferred *d1 = dfr_deferred_new(), *d2 = dfr_deferred_new();
        ~Ctx()
        {
            dfr_deferred_unref(d1);
            dfr_deferred_unref(d2);
        }
    } ctx;
    dfr_reactor *r = ctx.ev.r;
    auto ret1 = [](void *data) -> dfr_value {
        auto *c = static_cast<Ctx *>(data);
        c->ev.note("before 1");
        return dfr_value_deferred(dfr_deferred_ref(c->d1));
    };
    auto ret2 = [](void *data) -> dfr_value {
        auto *c = static_cast<Ctx *>(data);
        c->ev.note("before 3");
        return dfr_value_deferred(dfr_deferred_ref(c->d2));
    };
    auto fails = [](void *data) -> dfr_value {
        static_cast<Ctx *>(data)->ev.note("before 2");
        return dfr_value_failure(test::failure(9, "trigger failed"));
    };
    Note removed_note{&ctx.ev, "removed one ran"}, during{&ctx.ev, "during"}, after{&ctx.ev, "after"};
    Note removed_early{&ctx.ev, "removed early ran"};
    uint64_t removed = 0, removed2 = 0, kept = 0;
    int destroyed = 0;
    REQUIRE(dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_SHUTDOWN, ret1, &ctx, nullptr, &kept) == 0);
    dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_SHUTDOWN, fails, &ctx, nullptr, nullptr);
    dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_SHUTDOWN, ret2, &ctx, nullptr, nullptr);
    dfr_reactor_add_system_event_trigger(r, DFR_DURING, DFR_SHUTDOWN, note_trigger, &removed_note, nullptr, &removed);
    dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_STARTUP, note_trigger, &removed_early, nullptr, &removed2);
    add_trigger(ctx.ev, DFR_DURING, DFR_SHUTDOWN, &during);
    add_trigger(ctx.ev, DFR_AFTER, DFR_SHUTDOWN, &after);
    CHECK(removed != kept);
    CHECK(removed != 0);
    CHECK(dfr_reactor_remove_system_event_trigger(r, removed) == 0);
    CHECK(dfr_reactor_remove_system_event_trigger(r, removed) == DFR_EINVAL);
    CHECK(dfr_reactor_remove_system_event_trigger(r, removed2) == 0);
    CHECK(dfr_reactor_remove_system_event_trigger(r, 999999) == DFR_EINVAL);
    CHECK(dfr_reactor_remove_system_event_trigger(r, 0) == DFR_EINVAL);
    // A removed trigger's destroy runs at removal.
    uint64_t with_destroy = 0;
    dfr_reactor_add_system_event_trigger(r, DFR_AFTER, DFR_SHUTDOWN, none_trigger, &destroyed, test::count_destroy,
                                 &with_destroy);
    CHECK(dfr_reactor_remove_system_event_trigger(r, with_destroy) == 0);
    CHECK(destroyed == 1);
    // Stop at once; fire d1, then (on a later iteration) d2, while shutdown waits.
    dfr_reactor_call_when_running(r, [](void *data) {
        auto *c = static_cast<Ctx *>(data);
        dfr_reactor_stop(c->ev.r);
        dfr_reactor_call_later(c->ev.r, 0, [](void *d) {
            auto *c2 = static_cast<Ctx *>(d);
            c2->ev.note("d1 fires");
            dfr_deferred_callback(c2->d1, dfr_none());
            dfr_reactor_call_later(c2->ev.r, 0, [](void *d3) {
                auto *c3 = static_cast<Ctx *>(d3);
                c3->ev.note("d2 fires");
                dfr_deferred_callback(c3->d2, dfr_none());
            }, c2, nullptr, nullptr);
        }, c, nullptr, nullptr);
    }, &ctx, nullptr);
    REQUIRE(dfr_reactor_run(r) == 0);
    CHECK(ctx.ev.seen == Strings{"before 1", "before 2", "before 3", "d1 fires", "d2 fires", "during", "after"});
    REQUIRE(u.count() == 1);
    CHECK(u.codes[0] == 9);
    CHECK(u.messages[0] == "trigger failed");
    // Triggers run once: they are gone once fired.
    CHECK(dfr_reactor_remove_system_event_trigger(r, kept) == DFR_EINVAL);
}

// test_internet.py ThreePhaseEventTests test_synchronousRemovePendingBefore,
// test_synchronousBeforeRemovesDuring, test_synchronousRemovePendingDuring,
// test_synchronousRemoveAlreadyExecutedBefore (Twisted warns; we refuse with
// DFR_EINVAL), test_synchronousBeforeRemovesConspicuouslySimilarDuring.
TEST_CASE("S46 triggers removed while their event fires", "[reactor][S46]")
{
    struct Ctx {
        Events ev;
        uint64_t ran_before = 0, pending_before = 0, during = 0, pending_during = 0;
        std::vector<int> rcs;
    } ctx;
    dfr_reactor *r = ctx.ev.r;
    Note first{&ctx.ev, "first before"}, pending_before{&ctx.ev, "pending before ran"},
        second{&ctx.ev, "second before"}, during{&ctx.ev, "during ran"}, pending_during{&ctx.ev, "pending during ran"},
        last_during{&ctx.ev, "last during"};
    dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_SHUTDOWN, note_trigger, &first, nullptr, &ctx.ran_before);
    dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_SHUTDOWN, [](void *data) -> dfr_value {
        auto *c = static_cast<Ctx *>(data);
        c->rcs.push_back(dfr_reactor_remove_system_event_trigger(c->ev.r, c->ran_before));    // already ran
        c->rcs.push_back(dfr_reactor_remove_system_event_trigger(c->ev.r, c->pending_before)); // not yet
        c->rcs.push_back(dfr_reactor_remove_system_event_trigger(c->ev.r, c->during));         // a later phase
        return dfr_none();
    }, &ctx, nullptr, nullptr);
    dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_SHUTDOWN, note_trigger, &pending_before, nullptr,
                                 &ctx.pending_before);
    dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_SHUTDOWN, note_trigger, &second, nullptr, nullptr);
    dfr_reactor_add_system_event_trigger(r, DFR_DURING, DFR_SHUTDOWN, [](void *data) -> dfr_value {
        auto *c = static_cast<Ctx *>(data);
        c->rcs.push_back(dfr_reactor_remove_system_event_trigger(c->ev.r, c->pending_during));
        return dfr_none();
    }, &ctx, nullptr, nullptr);
    dfr_reactor_add_system_event_trigger(r, DFR_DURING, DFR_SHUTDOWN, note_trigger, &during, nullptr, &ctx.during);
    dfr_reactor_add_system_event_trigger(r, DFR_DURING, DFR_SHUTDOWN, note_trigger, &pending_during, nullptr,
                                 &ctx.pending_during);
    add_trigger(ctx.ev, DFR_DURING, DFR_SHUTDOWN, &last_during);
    dfr_reactor_call_when_running(r, stop_call, &ctx.ev, nullptr);
    REQUIRE(dfr_reactor_run(r) == 0);
    CHECK(ctx.ev.seen == Strings{"first before", "second before", "last during"});
    CHECK(ctx.rcs == std::vector<int>{DFR_EINVAL, 0, 0, 0});
}

// test_internet.py ThreePhaseEventTests test_asynchronousBeforeRemovesDuring.
TEST_CASE("S46 a during trigger removed while before waits does not run", "[reactor][S46]")
{
    struct Ctx {
        Events ev;
        dfr_deferred *wait = dfr_deferred_new();
        uint64_t during = 0;
        ~Ctx() { dfr_deferred_unref(wait); }
    } ctx;
    dfr_reactor *r = ctx.ev.r;
    Note during{&ctx.ev, "during"}, after{&ctx.ev, "after"};
    dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_STARTUP, [](void *data) -> dfr_value {
        auto *c = static_cast<Ctx *>(data);
        dfr_reactor_call_later(c->ev.r, 0, [](void *d) {
            auto *c2 = static_cast<Ctx *>(d);
            CHECK(dfr_reactor_remove_system_event_trigger(c2->ev.r, c2->during) == 0);
            dfr_deferred_callback(c2->wait, dfr_none());
        }, c, nullptr, nullptr);
        return dfr_value_deferred(dfr_deferred_ref(c->wait));
    }, &ctx, nullptr, nullptr);
    add_trigger(ctx.ev, DFR_DURING, DFR_STARTUP, &during, &ctx.during);
    add_trigger(ctx.ev, DFR_AFTER, DFR_STARTUP, &after);
    dfr_reactor_call_when_running(r, stop_call, &ctx.ev, nullptr);
    REQUIRE(dfr_reactor_run(r) == 0);
    CHECK(ctx.ev.seen == Strings{"after"});
}

// test_internet.py SystemEventTests
// test_subsequentBeforeTriggerFiresPriorBeforeDeferred.
TEST_CASE("S46 a trigger firing an earlier trigger's deferred; the phase still waits for the rest",
          "[reactor][S46]")
{
    struct Ctx {
        Events ev;
        dfr_deferred *first = dfr_deferred_new(), *second = dfr_deferred_new();
        ~Ctx()
        {
            dfr_deferred_unref(first);
            dfr_deferred_unref(second);
        }
    } ctx;
    dfr_reactor *r = ctx.ev.r;
    dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_SHUTDOWN, [](void *data) -> dfr_value {
        return dfr_value_deferred(dfr_deferred_ref(static_cast<Ctx *>(data)->first));
    }, &ctx, nullptr, nullptr);
    dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_SHUTDOWN, [](void *data) -> dfr_value {
        dfr_deferred_callback(static_cast<Ctx *>(data)->first, dfr_none());
        return dfr_none();
    }, &ctx, nullptr, nullptr);
    dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_SHUTDOWN, [](void *data) -> dfr_value {
        auto *c = static_cast<Ctx *>(data);
        c->ev.note("before");
        dfr_reactor_call_later(c->ev.r, 0, [](void *d) {
            auto *c2 = static_cast<Ctx *>(d);
            c2->ev.note("second fires");
            dfr_deferred_callback(c2->second, dfr_none());
        }, c, nullptr, nullptr);
        return dfr_value_deferred(dfr_deferred_ref(c->second));
    }, &ctx, nullptr, nullptr);
    Note during{&ctx.ev, "during"};
    add_trigger(ctx.ev, DFR_DURING, DFR_SHUTDOWN, &during);
    dfr_reactor_call_when_running(r, stop_call, &ctx.ev, nullptr);
    REQUIRE(dfr_reactor_run(r) == 0);
    CHECK(ctx.ev.seen == Strings{"before", "second fires", "during"});
}

// Triggers added while an event fires: to the phase now firing, they run in
// it (Twisted's _ThreePhaseEvent pops its list the same way); to a later
// phase, they run then; to a phase that is over, never (destroy at free).
TEST_CASE("S46 triggers added while the event fires", "[reactor][S46]")
{
    int destroyed = 0;
    {
        struct Ctx {
            Events ev;
            Note late_before{&ev, "added to before"}, late_after{&ev, "added to after"},
                too_late{&ev, "too late ran"};
            int *destroyed;
        } ctx{};
        ctx.destroyed = &destroyed;
        dfr_reactor *r = ctx.ev.r;
        dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_STARTUP, [](void *data) -> dfr_value {
            auto *c = static_cast<Ctx *>(data);
            c->ev.note("before");
            add_trigger(c->ev, DFR_BEFORE, DFR_STARTUP, &c->late_before);
            add_trigger(c->ev, DFR_AFTER, DFR_STARTUP, &c->late_after);
            return dfr_none();
        }, &ctx, nullptr, nullptr);
        dfr_reactor_add_system_event_trigger(r, DFR_AFTER, DFR_STARTUP, [](void *data) -> dfr_value {
            auto *c = static_cast<Ctx *>(data);
            c->ev.note("after");
            dfr_reactor_add_system_event_trigger(c->ev.r, DFR_BEFORE, DFR_STARTUP, note_trigger, &c->too_late,
                                         nullptr, nullptr);
            dfr_reactor_add_system_event_trigger(c->ev.r, DFR_DURING, DFR_STARTUP, none_trigger, c->destroyed,
                                         test::count_destroy, nullptr);
            dfr_reactor_stop(c->ev.r);
            return dfr_none();
        }, &ctx, nullptr, nullptr);
        REQUIRE(dfr_reactor_run(r) == 0);
        CHECK(ctx.ev.seen == Strings{"before", "added to before", "after", "added to after"});
        CHECK(destroyed == 0);
    }
    CHECK(destroyed == 1); // released by dfr_reactor_free
}

// test_core.py: ReactorNotRestartable, ReactorAlreadyRunning,
// ReactorNotRunning in every state.
TEST_CASE("S44 run and stop in every state", "[reactor][S44]")
{
    struct Ctx {
        Events ev;
        std::vector<int> rcs;
    } ctx;
    dfr_reactor *r = ctx.ev.r;
    auto try_both = [](void *data) -> dfr_value {
        auto *c = static_cast<Ctx *>(data);
        c->rcs.push_back(dfr_reactor_run(c->ev.r));
        c->rcs.push_back(dfr_reactor_stop(c->ev.r));
        return dfr_none();
    };
    CHECK(dfr_reactor_stop(r) == DFR_ENOTRUNNING);
    // before-startup: stop is accepted (once); it takes effect after startup.
    dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_STARTUP, try_both, &ctx, nullptr, nullptr);
    dfr_reactor_add_system_event_trigger(r, DFR_AFTER, DFR_STARTUP, try_both, &ctx, nullptr, nullptr);
    dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_SHUTDOWN, try_both, &ctx, nullptr, nullptr);
    dfr_reactor_add_system_event_trigger(r, DFR_AFTER, DFR_SHUTDOWN, try_both, &ctx, nullptr, nullptr);
    REQUIRE(dfr_reactor_run(r) == 0);
    CHECK(ctx.rcs == std::vector<int>{DFR_EALREADY_RUNNING, 0,                            // before startup
                                      DFR_EALREADY_RUNNING, DFR_ENOTRUNNING,              // after startup
                                      DFR_EALREADY_RUNNING, DFR_ENOTRUNNING,              // before shutdown
                                      DFR_EALREADY_RUNNING, DFR_ENOTRUNNING});            // after shutdown
    CHECK(dfr_reactor_run(r) == DFR_ENOTRESTARTABLE);
    CHECK(dfr_reactor_stop(r) == DFR_ENOTRUNNING);
}

// test_core.py test_callWhenRunningOrder; reactor.h: dfr_reactor_call_when_running in a
// running reactor calls at once, also from a timer; registered from a
// before-startup trigger, it queues behind the ones registered earlier.
TEST_CASE("S45 callWhenRunning: order, at once when running, queued from before-startup", "[reactor][S45]")
{
    int destroyed = 0;
    {
        Events ev;
        Note one{&ev, "one"}, two{&ev, "two"}, from_before{&ev, "from before"}, from_during{&ev, "from during"},
            from_timer{&ev, "from timer"};
        struct Ctx {
            Events *ev;
            Note *from_before, *from_during, *from_timer;
            int *destroyed;
        } ctx{&ev, &from_before, &from_during, &from_timer, &destroyed};
        dfr_reactor_add_system_event_trigger(ev.r, DFR_BEFORE, DFR_STARTUP, [](void *data) -> dfr_value {
            auto *c = static_cast<Ctx *>(data);
            dfr_reactor_call_when_running(c->ev->r, note_call, c->from_before, nullptr);
            return dfr_none();
        }, &ctx, nullptr, nullptr);
        dfr_reactor_add_system_event_trigger(ev.r, DFR_DURING, DFR_STARTUP, [](void *data) -> dfr_value {
            auto *c = static_cast<Ctx *>(data);
            c->ev->note("during");
            dfr_reactor_call_when_running(c->ev->r, note_call, c->from_during, nullptr); // running: at once
            return dfr_none();
        }, &ctx, nullptr, nullptr);
        dfr_reactor_call_when_running(ev.r, note_call, &one, nullptr);
        dfr_reactor_call_when_running(ev.r, note_call, &two, nullptr);
        dfr_reactor_call_when_running(ev.r, [](void *data) {
            auto *c = static_cast<Ctx *>(data);
            dfr_reactor_call_later(c->ev->r, 0, [](void *d) {
                auto *c2 = static_cast<Ctx *>(d);
                int before = *c2->destroyed;
                CHECK(dfr_reactor_call_when_running(c2->ev->r, note_call, c2->from_timer, nullptr) == 0);
                // destroy runs right after the call, before returning.
                CHECK(dfr_reactor_call_when_running(c2->ev->r, [](void *) {}, c2->destroyed, test::count_destroy) == 0);
                CHECK(*c2->destroyed == before + 1);
                c2->ev->note("timer done");
                dfr_reactor_stop(c2->ev->r);
            }, c, nullptr, nullptr);
        }, &ctx, nullptr);
        REQUIRE(dfr_reactor_run(ev.r) == 0);
        CHECK(ev.seen == Strings{"during", "from during", "one", "two", "from before", "from timer", "timer done"});
        // After the run: not running, so the call waits (forever); destroy at free.
        CHECK(dfr_reactor_call_when_running(ev.r, note_call, &one, nullptr) == 0);
        CHECK(dfr_reactor_call_when_running(ev.r, [](void *) {}, &destroyed, test::count_destroy) == 0);
        CHECK(destroyed == 1);
        CHECK(ev.seen.size() == 7);
    }
    CHECK(destroyed == 2);
}

// Calls posted with dfr_reactor_call_from_thread before run run first thing, before
// the startup triggers (docs/reactor.md, lifecycle step 1).
TEST_CASE("calls posted before run run before the startup triggers", "[reactor]")
{
    Events ev;
    Note posted{&ev, "posted"}, before{&ev, "before startup"};
    add_trigger(ev, DFR_BEFORE, DFR_STARTUP, &before);
    int rc = 1;
    std::thread t([&] { rc = dfr_reactor_call_from_thread(ev.r, note_call, &posted, nullptr); });
    t.join();
    CHECK(rc == 0);
    dfr_reactor_call_when_running(ev.r, stop_call, &ev, nullptr);
    REQUIRE(dfr_reactor_run(ev.r) == 0);
    CHECK(ev.seen == Strings{"posted", "before startup"});
}

// The thread rule's exception: dfr_reactor_stop from another thread.
TEST_CASE("stop from another thread", "[reactor]")
{
    Events ev;
    std::thread stopper;
    std::atomic<int> rc{1};
    struct Ctx {
        Events *ev;
        std::thread *stopper;
        std::atomic<int> *rc;
    } ctx{&ev, &stopper, &rc};
    dfr_reactor_call_when_running(ev.r, [](void *data) {
        auto *c = static_cast<Ctx *>(data);
        dfr_reactor *r = c->ev->r;
        std::atomic<int> *out = c->rc;
        *c->stopper = std::thread([r, out] { *out = dfr_reactor_stop(r); });
    }, &ctx, nullptr);
    Note shutdown{&ev, "shutdown"};
    add_trigger(ev, DFR_DURING, DFR_SHUTDOWN, &shutdown);
    REQUIRE(dfr_reactor_run(ev.r) == 0);
    stopper.join();
    CHECK(rc == 0);
    CHECK(ev.seen == Strings{"shutdown"});
}

// A zero-delay call that reschedules itself cannot starve the loop
// (test_internet.py testCallFromThreadStops in spirit): a call from a thread
// still gets its turn, on the real clock, within dfr_reactor_run.
TEST_CASE("a self-rescheduling zero-delay call does not starve calls from threads", "[reactor]")
{
    struct Ctx {
        dfr_reactor *r;
        int spins = 0;
        int spins_when_posted_ran = -1;
        bool stop = false;
        static void spin(void *data)
        {
            auto *c = static_cast<Ctx *>(data);
            c->spins++;
            if (c->spins == 3)
                dfr_reactor_call_from_thread(c->r, [](void *d) {
                    auto *c2 = static_cast<Ctx *>(d);
                    c2->spins_when_posted_ran = c2->spins;
                    c2->stop = true;
                    dfr_reactor_stop(c2->r);
                }, c, nullptr);
            if (!c->stop && c->spins < 100000)
                dfr_reactor_call_later(c->r, 0, spin, c, nullptr, nullptr);
        }
    };
    Events ev;
    Ctx ctx{ev.r};
    dfr_reactor_call_later(ev.r, 0, Ctx::spin, &ctx, nullptr, nullptr);
    REQUIRE(dfr_reactor_run(ev.r) == 0);
    CHECK(ctx.spins_when_posted_ran >= 3);
    CHECK(ctx.spins_when_posted_ran < 1000);
}

// Smoke test of the real clock (delays <= 20 ms, driven by dfr_reactor_run):
// calls run in deadline order, not before their time; equal-delay calls
// scheduled before run keep their order (S48 on the real reactor).
TEST_CASE("real clock smoke test: callLater under dfr_reactor_run", "[reactor][smoke]")
{
    struct Ctx {
        Events ev;
        std::vector<double> when;
        double start = 0;
    } ctx;
    dfr_reactor *r = ctx.ev.r;
    std::vector<Note> zeros;
    zeros.reserve(20);
    for (int i = 0; i < 20; i++) {
        zeros.push_back({&ctx.ev, std::to_string(i)});
        dfr_reactor_call_later(r, 0, note_call, &zeros.back(), nullptr, nullptr);
    }
    Note at10{&ctx.ev, "10ms"}, at5{&ctx.ev, "5ms"};
    dfr_delayed_call *cancelled;
    dfr_reactor_call_later(r, 0.01, [](void *data) {
        auto *c = static_cast<Ctx *>(data);
        c->ev.note("20ms");
        c->when.push_back(dfr_reactor_seconds(c->ev.r) - c->start);
        dfr_reactor_stop(c->ev.r);
    }, &ctx, nullptr, &cancelled);
    /* Read before the reset that sets the 20 ms deadline: under valgrind the
     * first run of the calls below can take milliseconds. */
    ctx.start = dfr_reactor_seconds(r);
    dfr_delayed_call_reset(cancelled, 0.02);
    dfr_reactor_call_later(r, 0.01, note_call, &at10, nullptr, nullptr);
    dfr_reactor_call_later(r, 0.005, note_call, &at5, nullptr, nullptr);
    REQUIRE(dfr_reactor_run(r) == 0);
    Strings want;
    for (int i = 0; i < 20; i++)
        want.push_back(std::to_string(i));
    want.insert(want.end(), {"5ms", "10ms", "20ms"});
    CHECK(ctx.ev.seen == want);
    REQUIRE(ctx.when.size() == 1);
    CHECK(ctx.when[0] >= 0.02 - 1e-3); // never (noticeably) early
    CHECK(dfr_reactor_pending_calls(r) == 0);
    CHECK_FALSE(dfr_delayed_call_active(cancelled));
    dfr_delayed_call_unref(cancelled);
}

// Pending calls left when the reactor stops stay pending; free drops them.
TEST_CASE("calls still pending after run are released by dfr_reactor_free", "[reactor]")
{
    int destroyed = 0, called = 0;
    {
        Events ev;
        dfr_reactor_call_later(ev.r, 3600, [](void *data) { ++*static_cast<int *>(data); }, &called, nullptr, nullptr);
        dfr_reactor_call_later(ev.r, 3600, [](void *) {}, &destroyed, test::count_destroy, nullptr);
        dfr_reactor_call_when_running(ev.r, stop_call, &ev, nullptr);
        REQUIRE(dfr_reactor_run(ev.r) == 0);
        CHECK(dfr_reactor_pending_calls(ev.r) == 2);
        CHECK(destroyed == 0);
    }
    CHECK(destroyed == 1);
    CHECK(called == 0);
}

// dfr_reactor_free on a reactor that never ran releases triggers,
// call_when_running calls and timers, each destroy once.
TEST_CASE("dfr_reactor_free of a reactor that never ran releases everything", "[reactor]")
{
    int destroyed = 0;
    dfr_reactor *r = dfr_reactor_new(nullptr);
    REQUIRE(r != nullptr);
    for (int e = 0; e < 2; e++)
        for (int p = 0; p < 3; p++)
            REQUIRE(dfr_reactor_add_system_event_trigger(r, (dfr_trigger_phase)p, (dfr_trigger_event)e, none_trigger, &destroyed, test::count_destroy, nullptr) == 0);
    dfr_reactor_call_when_running(r, [](void *) {}, &destroyed, test::count_destroy);
    dfr_reactor_call_later(r, 0, [](void *) {}, &destroyed, test::count_destroy, nullptr);
    dfr_reactor_free(r);
    CHECK(destroyed == 8);
    dfr_reactor_free(nullptr);
}

// iterate: one loop iteration outside run.  test_internet.py TimeTests
// test_callLater with our own driving.
TEST_CASE("iterate runs calls from threads and due timers outside run", "[reactor][iterate]")
{
    Events ev;
    dfr_reactor *r = ev.r;
    int n = 0;
    auto inc = [](void *data) { ++*static_cast<int *>(data); };
    CHECK(dfr_reactor_iterate(r, 0) == 0); // nothing to do: returns
    dfr_reactor_call_from_thread(r, inc, &n, nullptr);
    CHECK(dfr_reactor_iterate(r, 0) == 0);
    CHECK(n == 1);
    std::thread t([&] { dfr_reactor_call_from_thread(r, inc, &n, nullptr); });
    t.join();
    for (int i = 0; i < 100 && n < 2; i++)
        dfr_reactor_iterate(r, 0.02);
    CHECK(n == 2);
    dfr_reactor_call_later(r, 0, inc, &n, nullptr, nullptr);
    for (int i = 0; i < 100 && n < 3; i++)
        dfr_reactor_iterate(r, 0.02);
    CHECK(n == 3);
    // A bounded wait with only a far timer pending returns.
    dfr_reactor_call_later(r, 3600, inc, &n, nullptr, nullptr);
    auto t0 = std::chrono::steady_clock::now();
    CHECK(dfr_reactor_iterate(r, 0.005) == 0);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
    CHECK(n == 3);
    // Refused inside run.
    int rc = 1;
    struct Ctx {
        dfr_reactor *r;
        int *rc;
    } ctx{r, &rc};
    dfr_reactor_call_when_running(r, [](void *data) {
        auto *c = static_cast<Ctx *>(data);
        *c->rc = dfr_reactor_iterate(c->r, 0);
        dfr_reactor_stop(c->r);
    }, &ctx, nullptr);
    REQUIRE(dfr_reactor_run(r) == 0);
    CHECK(rc == DFR_EALREADY_RUNNING);
    // Bad input.
    CHECK(dfr_reactor_iterate(r, -1) == DFR_EINVAL);
    CHECK(dfr_reactor_iterate(r, std::nan("")) == DFR_EINVAL);
    CHECK(dfr_reactor_iterate(nullptr, 0) == DFR_EINVAL);
}

// test_internet.py TimeTests test_seconds; the manual clock keeps integer
// nanoseconds, so many small steps add up exactly.
TEST_CASE("dfr_reactor_seconds: monotonic on the real clock, exact on the manual clock", "[reactor][clock]")
{
    dfr_reactor *real = dfr_reactor_new(nullptr);
    double prev = dfr_reactor_seconds(real);
    CHECK(prev >= 0);
    CHECK(prev < 60); // counted from the reactor's creation
    bool monotonic = true;
    for (int i = 0; i < 10000; i++) {
        double now = dfr_reactor_seconds(real);
        monotonic = monotonic && now >= prev;
        prev = now;
    }
    CHECK(monotonic);
    dfr_reactor_free(real);

    test::Clock c;
    CHECK(dfr_reactor_seconds(c.r) == 0.0);
    for (int i = 0; i < 1000; i++)
        c.advance(0.001);
    CHECK(dfr_reactor_seconds(c.r) == 1.0);
    for (int i = 0; i < 10; i++)
        c.advance(0.1);
    CHECK(dfr_reactor_seconds(c.r) == 2.0);
    c.advance(0);
    CHECK(dfr_reactor_seconds(c.r) == 2.0);
    // Iterating a manual-clock reactor does not move its time.
    CHECK(dfr_reactor_iterate(c.r, 0) == 0);
    CHECK(dfr_reactor_seconds(c.r) == 2.0);
    CHECK(std::isnan(dfr_reactor_seconds(nullptr)));
}

// The uv_loop option: the test owns and runs the loop; the reactor's timers
// and calls from threads run on it; free closes the reactor's handles so the
// loop closes cleanly.
TEST_CASE("the uv_loop option: timers and thread calls run on the caller's loop", "[reactor][uv]")
{
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    dfr_reactor_options o = {};
    o.size = sizeof o;
    o.uv_loop = &loop;
    dfr_reactor *r = dfr_reactor_new(&o);
    REQUIRE(r != nullptr);
    int timer = 0, posted = 0, posted_here = 0;
    auto inc = [](void *data) { ++*static_cast<int *>(data); };
    REQUIRE(dfr_reactor_call_later(r, 0.001, inc, &timer, nullptr, nullptr) == 0);
    int trc = 1;
    std::thread t([&] { trc = dfr_reactor_call_from_thread(r, inc, &posted, nullptr); });
    t.join();
    CHECK(trc == 0);
    REQUIRE(dfr_reactor_call_from_thread(r, inc, &posted_here, nullptr) == 0);
    // Pool work keeps the caller's loop alive until its result is in.
    dfr_deferred *d = dfr_reactor_defer_to_thread(r, [](void *) -> dfr_value { return dfr_i64(5); }, nullptr, nullptr);
    REQUIRE(d != nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(timer == 1);
    CHECK(posted == 1);
    CHECK(posted_here == 1);
    CHECK(test::state(d) == "i64 5");
    dfr_deferred_unref(d);
    dfr_reactor_free(r);
    CHECK(uv_loop_close(&loop) == 0);
}

// docs/reactor.md: the reactor's handles keep a caller's loop alive only
// while there is something to wait for.
TEST_CASE("the uv_loop option: an idle reactor does not keep the caller's loop alive", "[reactor][uv]")
{
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    dfr_reactor_options o = {};
    o.size = sizeof o;
    o.uv_loop = &loop;
    dfr_reactor *r = dfr_reactor_new(&o);
    REQUIRE(r != nullptr);
    CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0); // returns at once
    dfr_delayed_call *dc;
    int called = 0;
    dfr_reactor_call_later(r, 3600, [](void *data) { ++*static_cast<int *>(data); }, &called, nullptr, &dc);
    dfr_delayed_call_cancel(dc);
    dfr_delayed_call_unref(dc);
    CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0); // the cancelled timer holds nothing
    CHECK(called == 0);
    dfr_reactor_free(r);
    CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("reactor bad input", "[reactor][bad-input]")
{
    int destroyed = 0;
    dfr_reactor *r = dfr_reactor_new(nullptr);
    REQUIRE(r != nullptr);
    CHECK(dfr_reactor_add_system_event_trigger(r, (dfr_trigger_phase)7, DFR_STARTUP, none_trigger, &destroyed, test::count_destroy, nullptr) ==
          DFR_EINVAL);
    CHECK(dfr_reactor_add_system_event_trigger(r, (dfr_trigger_phase)-1, DFR_STARTUP, none_trigger, &destroyed, test::count_destroy, nullptr) ==
          DFR_EINVAL);
    CHECK(dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, (dfr_trigger_event)9, none_trigger, &destroyed, test::count_destroy, nullptr) ==
          DFR_EINVAL);
    CHECK(dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, (dfr_trigger_event)-1, none_trigger, &destroyed, test::count_destroy, nullptr) ==
          DFR_EINVAL);
    CHECK(dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_STARTUP, nullptr, &destroyed, test::count_destroy,
                                       nullptr) == DFR_EINVAL);
    CHECK(dfr_reactor_add_system_event_trigger(nullptr, DFR_BEFORE, DFR_STARTUP, none_trigger, &destroyed,
                                       test::count_destroy, nullptr) == DFR_EINVAL);
    CHECK(dfr_reactor_call_when_running(r, nullptr, &destroyed, test::count_destroy) == DFR_EINVAL);
    CHECK(dfr_reactor_call_when_running(nullptr, [](void *) {}, &destroyed, test::count_destroy) == DFR_EINVAL);
    CHECK(dfr_reactor_call_from_thread(nullptr, [](void *) {}, &destroyed, test::count_destroy) == DFR_EINVAL);
    CHECK(dfr_reactor_call_from_thread(r, nullptr, &destroyed, test::count_destroy) == DFR_EINVAL);
    CHECK(destroyed == 10); // destroy ran for each refused call
    CHECK(dfr_reactor_remove_system_event_trigger(nullptr, 1) == DFR_EINVAL);
    CHECK(dfr_reactor_run(nullptr) == DFR_EINVAL);
    CHECK(dfr_reactor_stop(nullptr) == DFR_EINVAL);
    CHECK_FALSE(dfr_reactor_running(nullptr));
    dfr_reactor_options bad = {};
    bad.size = sizeof bad;
    bad.threadpool_min = 5;
    bad.threadpool_max = 2;
    CHECK(dfr_reactor_new(&bad) == nullptr);
    dfr_reactor_free(r);
    CHECK(destroyed == 10);
}

// The allocation-failure loop over the lifecycle: triggers and
// call_when_running registrations fail cleanly, and a run still completes.
TEST_CASE("allocation failures: triggers, callWhenRunning and a run", "[reactor][alloc]")
{
    test::UnhandledCapture u; // a phase that cannot wait reports nothing lost here
    test::for_each_allocation_failure([](long) {
        dfr_reactor *r = dfr_reactor_new(nullptr);
        if (!r)
            return;
        int destroyed = 0, expected = 0;
        for (int e = 0; e < 2; e++)
            for (int p = 0; p < 3; p++) {
                int rc = dfr_reactor_add_system_event_trigger(r, (dfr_trigger_phase)p, (dfr_trigger_event)e, [](void *data) -> dfr_value {
                    auto *rr = static_cast<dfr_reactor *>(data);
                    dfr_deferred *d = dfr_reactor_defer_later(rr, 0, nullptr, nullptr, nullptr);
                    return d ? dfr_value_deferred(d) : dfr_none();
                }, r, nullptr, nullptr);
                CHECK((rc == 0 || rc == DFR_ENOMEM));
            }
        int rc = dfr_reactor_call_when_running(r, [](void *data) { dfr_reactor_stop(static_cast<dfr_reactor *>(data)); }, r,
                                       nullptr);
        CHECK((rc == 0 || rc == DFR_ENOMEM));
        bool can_stop = rc == 0;
        if (rc != 0) // nothing would stop it: a timer must, or the run is skipped
            can_stop = dfr_reactor_call_later(r, 0, [](void *data) { dfr_reactor_stop(static_cast<dfr_reactor *>(data)); },
                                      r, nullptr, nullptr) == 0;
        rc = dfr_reactor_call_when_running(r, [](void *) {}, &destroyed, test::count_destroy);
        expected++;
        CHECK((rc == 0 || rc == DFR_ENOMEM));
        if (can_stop)
            CHECK(dfr_reactor_run(r) == 0);
        dfr_reactor_free(r);
        CHECK(destroyed == expected);
    });
}

// ---- dfr_reactor_free from inside the reactor (issue 11, defect 3) ----
// A free asked for by a callback that run, iterate or advance is running is
// deferred until that call returns; the rest of the pass still runs.

namespace {

struct FreeFrom {
    dfr_reactor *r = nullptr;
    int freed_from = 0; // how many callbacks asked for the free
    int ran = 0, destroyed = 0;
};

void free_reactor_call(void *data)
{
    auto *f = static_cast<FreeFrom *>(data);
    f->freed_from++;
    dfr_reactor_free(f->r);
    dfr_reactor_free(f->r); // inside a pass, asking twice is the same
}

void count_ran(void *data) { static_cast<FreeFrom *>(data)->ran++; }
void count_gone(void *data) { static_cast<FreeFrom *>(data)->destroyed++; }

} // namespace

TEST_CASE("dfr_reactor_free from a callback run by advance", "[reactor][free]")
{
    dfr_reactor_options o = {};
    o.size = sizeof o;
    o.manual_clock = true;
    FreeFrom f;
    f.r = dfr_reactor_new(&o);
    REQUIRE(dfr_reactor_call_later(f.r, 1, free_reactor_call, &f, count_gone, nullptr) == 0);
    REQUIRE(dfr_reactor_call_later(f.r, 1, count_ran, &f, count_gone, nullptr) == 0); // same pass
    REQUIRE(dfr_reactor_call_later(f.r, 9, count_ran, &f, count_gone, nullptr) == 0); // not due: dropped
    CHECK(dfr_reactor_advance(f.r, 5) == 0); // the reactor is gone when this returns
    CHECK(f.freed_from == 1);
    CHECK(f.ran == 1); // the pass finished
    CHECK(f.destroyed == 3);
}

TEST_CASE("dfr_reactor_free from a callback run by iterate", "[reactor][free]")
{
    FreeFrom f;
    f.r = dfr_reactor_new(nullptr);
    REQUIRE(dfr_reactor_call_later(f.r, 0, free_reactor_call, &f, count_gone, nullptr) == 0);
    REQUIRE(dfr_reactor_call_later(f.r, 0, count_ran, &f, count_gone, nullptr) == 0);
    REQUIRE(dfr_reactor_call_later(f.r, 1000, count_ran, &f, count_gone, nullptr) == 0);
    CHECK(dfr_reactor_iterate(f.r, 0) == 0);
    CHECK(f.freed_from == 1);
    CHECK(f.ran == 1);
    CHECK(f.destroyed == 3);
}

TEST_CASE("dfr_reactor_free while running: freed when run returns", "[reactor][free]")
{
    FreeFrom f;
    f.r = dfr_reactor_new(nullptr);
    REQUIRE(dfr_reactor_call_when_running(f.r, free_reactor_call, &f, count_gone) == 0);
    REQUIRE(dfr_reactor_call_later(f.r, 0, [](void *data) {
        dfr_reactor_stop(static_cast<FreeFrom *>(data)->r);
    }, &f, nullptr, nullptr) == 0);
    REQUIRE(dfr_reactor_call_later(f.r, 1000, count_ran, &f, count_gone, nullptr) == 0);
    CHECK(dfr_reactor_run(f.r) == 0); // and r is gone
    CHECK(f.freed_from == 1);
    CHECK(f.ran == 0);
    CHECK(f.destroyed == 2);
}

// A garbage collector's finalizer (Go, Node, Rust) may free a reactor that
// another thread runs: the reactor stops (its shutdown triggers run), and
// run frees it on its own thread before returning.  Was: silently refused.
namespace {

struct RemoteFree {
    dfr_reactor *r = nullptr;
    std::atomic<bool> started{false};
    int fallback_ran = 0, dropped = 0, shutdown_ran = 0;
    std::thread::id dropped_on;
};

} // namespace

TEST_CASE("dfr_reactor_free from another thread while running", "[reactor][free]")
{
    RemoteFree x;
    x.r = dfr_reactor_new(nullptr);
    REQUIRE(dfr_reactor_call_when_running(x.r, [](void *data) {
        static_cast<RemoteFree *>(data)->started = true;
    }, &x, nullptr) == 0);
    // Only if the free is refused: ends the run so the test can fail cleanly.
    REQUIRE(dfr_reactor_call_later(x.r, 30, [](void *data) {
        auto *rf = static_cast<RemoteFree *>(data);
        rf->fallback_ran++;
        dfr_reactor_stop(rf->r);
    }, &x, [](void *data) {
        auto *rf = static_cast<RemoteFree *>(data);
        rf->dropped++;
        rf->dropped_on = std::this_thread::get_id();
    }, nullptr) == 0);
    REQUIRE(dfr_reactor_add_system_event_trigger(x.r, DFR_BEFORE, DFR_SHUTDOWN, [](void *data) {
        static_cast<RemoteFree *>(data)->shutdown_ran++;
        return dfr_none();
    }, &x, nullptr, nullptr) == 0);
    int run_rc = 1;
    std::thread runner([&] { run_rc = dfr_reactor_run(x.r); });
    std::thread::id runner_id = runner.get_id();
    while (!x.started)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    dfr_reactor_free(x.r); // from this thread: r is not ours to touch after
    runner.join();
    CHECK(run_rc == 0);
    CHECK(x.fallback_ran == 0);
    CHECK(x.shutdown_ran == 1);
    CHECK(x.dropped == 1);
    CHECK(x.dropped_on == runner_id); // freed on the reactor's thread
    if (x.fallback_ran)
        dfr_reactor_free(x.r); // the old refusal left it alive
}

// The free and the end of run race: either run frees r on its way out or the
// free finds run done and takes r over; exactly once either way (ASan,
// valgrind and TSan check the memory).
TEST_CASE("dfr_reactor_free from another thread races with the end of run", "[reactor][free]")
{
    for (int i = 0; i < 200; i++) {
        RemoteFree x;
        x.r = dfr_reactor_new(nullptr);
        REQUIRE(dfr_reactor_call_when_running(x.r, [](void *data) {
            auto *rf = static_cast<RemoteFree *>(data);
            rf->started = true;
            dfr_reactor_stop(rf->r); // the run ends by itself, soon
        }, &x, nullptr) == 0);
        REQUIRE(dfr_reactor_call_later(x.r, 1000, [](void *) {}, &x, [](void *data) {
            static_cast<RemoteFree *>(data)->dropped++;
        }, nullptr) == 0);
        std::thread runner([&] { dfr_reactor_run(x.r); });
        while (!x.started)
            std::this_thread::yield();
        dfr_reactor_free(x.r);
        runner.join();
        CHECK(x.dropped == 1);
    }
}

TEST_CASE("dfr_reactor_free from destroy hooks", "[reactor][free]")
{
    dfr_reactor_options o = {};
    o.size = sizeof o;
    o.manual_clock = true;
    SECTION("a destroy run by dfr_delayed_call_cancel frees the reactor")
    {
        // A binding's finalizer: nothing of the reactor may be touched after.
        FreeFrom f;
        f.r = dfr_reactor_new(&o);
        dfr_delayed_call *dc;
        REQUIRE(dfr_reactor_call_later(f.r, 1, count_ran, &f, [](void *data) {
            auto *ff = static_cast<FreeFrom *>(data);
            ff->freed_from++;
            dfr_reactor_free(ff->r); // outside any pass: at once (once only)
        }, &dc) == 0);
        REQUIRE(dfr_reactor_call_later(f.r, 2, count_ran, &f, count_gone, nullptr) == 0);
        CHECK(dfr_delayed_call_cancel(dc) == 0);
        CHECK(f.freed_from == 1);
        CHECK(f.destroyed == 1);
        CHECK(dfr_delayed_call_cancel(dc) == DFR_EALREADY_CANCELLED);
        dfr_delayed_call_unref(dc);
    }
    SECTION("a destroy run by the free frees again, and schedules")
    {
        FreeFrom f;
        f.r = dfr_reactor_new(&o);
        REQUIRE(dfr_reactor_call_later(f.r, 1, count_ran, &f, [](void *data) {
            auto *ff = static_cast<FreeFrom *>(data);
            ff->destroyed++;
            dfr_reactor_free(ff->r); // does nothing: it is being freed
            // Refused, and its destroy runs at once: nothing is left behind.
            CHECK(dfr_reactor_call_later(ff->r, 0, count_ran, ff, count_gone, nullptr) == DFR_ENOTRUNNING);
            dfr_deferred *d = dfr_reactor_defer_later(ff->r, 0, nullptr, nullptr, nullptr);
            CHECK(test::state(d) == test::fail_text(DFR_DOMAIN, DFR_ENOTRUNNING));
            test::Recorder seen;
            dfr_deferred_add_errback(d, test::record_and_handle, &seen, nullptr);
            dfr_deferred_unref(d);
        }, nullptr) == 0);
        dfr_reactor_free(f.r);
        CHECK(f.ran == 0);
        CHECK(f.destroyed == 2);
    }
}

TEST_CASE("run and iterate from inside iterate or advance are refused", "[reactor][free]")
{
    dfr_reactor *r = dfr_reactor_new(nullptr);
    struct Inner {
        dfr_reactor *r;
        int run_rc = 1, iterate_rc = 1;
    } in{r};
    REQUIRE(dfr_reactor_call_later(r, 0, [](void *data) {
        auto *i = static_cast<Inner *>(data);
        i->iterate_rc = dfr_reactor_iterate(i->r, 0);
        i->run_rc = dfr_reactor_run(i->r);
    }, &in, nullptr, nullptr) == 0);
    CHECK(dfr_reactor_iterate(r, 0) == 0);
    CHECK(in.iterate_rc == DFR_EALREADY_RUNNING);
    CHECK(in.run_rc == DFR_EALREADY_RUNNING);
    dfr_reactor_free(r);
}

// Found with issue 11: after a zero-delay call ran, the idle handle that ran
// it stayed active, so every later poll returned at once (a busy loop in
// run, and iterate never waited).
TEST_CASE("after a zero-delay call the loop blocks again", "[reactor][timer]")
{
    dfr_reactor *r = dfr_reactor_new(nullptr);
    int n = 0;
    REQUIRE(dfr_reactor_call_later(r, 0, [](void *data) { ++*static_cast<int *>(data); }, &n, nullptr, nullptr) == 0);
    CHECK(dfr_reactor_iterate(r, 0) == 0);
    CHECK(n == 1);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 5; i++)
        CHECK(dfr_reactor_iterate(r, 0.02) == 0);
    auto waited = std::chrono::steady_clock::now() - t0;
    CHECK(waited >= std::chrono::milliseconds(90));
    dfr_reactor_free(r);
}

// A wait bounded by max_wait stays bounded when its timer expires before the
// loop polls (libuv 1.44 runs expired timers first, then polled with no
// timeout at all).  Runs on a thread of its own so a hang fails the test.
TEST_CASE("iterate's bounded wait never blocks for good", "[reactor][iterate]")
{
    for (bool manual : {true, false}) {
        std::atomic<int> done{0};
        std::thread t([&] {
            dfr_reactor *r = test::new_reactor(manual);
            for (int i = 0; i < 3000; i++)
                dfr_reactor_iterate(r, 0.001);
            dfr_reactor_free(r);
            done = 1;
        });
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (!done && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (done != 1) {
            t.detach(); // stuck in the poll: leave it to the process's exit
            FAIL("dfr_reactor_iterate(r, 0.001) blocked for good (manual clock: " << manual << ")");
        }
        t.join();
    }
}
