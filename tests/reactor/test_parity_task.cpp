// Parity with Twisted 22.4's task.Clock, DelayedCall, LoopingCall and
// addTimeout at the edges the other reactor tests leave out: calls that
// cancel or move other calls due in the same advance, a negative delay,
// restarting a LoopingCall from its own start deferred's callbacks (and
// from inside fn), deferLater's fn cancelling its own deferred, and
// addTimeout over cancellers, waits and pauses.  Each case names the Twisted test
// (twisted/test/test_task.py, test_defer.py) or method whose semantics it
// follows.
#include <catch2/catch.hpp>

#include "reactor_support.h"
#include "recorder.h"
#include "support.h"

#include <cmath>
#include <string>
#include <vector>

using test::Clock;
using test::Log;
using test::Named;
using test::Recorder;

namespace {

// A due call that cancels, resets or delays another call.
struct Meddler {
    Log *log;
    dfr_delayed_call *other = nullptr;
    enum { CANCEL, RESET, DELAY, RESET_SELF } what = CANCEL;
    dfr_delayed_call *self = nullptr;
    int rc = 1;
};

void meddle(void *data)
{
    auto *m = static_cast<Meddler *>(data);
    m->log->seen.push_back("meddler");
    if (m->what == Meddler::CANCEL)
        m->rc = dfr_delayed_call_cancel(m->other);
    else if (m->what == Meddler::RESET)
        m->rc = dfr_delayed_call_reset(m->other, 5);
    else if (m->what == Meddler::DELAY)
        m->rc = dfr_delayed_call_delay(m->other, 2);
    else
        m->rc = dfr_delayed_call_reset(m->self, 1);
}

} // namespace

// Clock.advance pops one due call at a time, so a call cancelled, reset or
// delayed by an earlier call of the same advance no longer runs in it.
TEST_CASE("parity: a due call cancels or moves another due call", "[parity][clock]")
{
    Clock c;
    Log log;
    Meddler m{&log};
    Named victim{&log, "victim"};
    dfr_delayed_call *first = nullptr;
    REQUIRE(dfr_reactor_call_later(c.r, 1, meddle, &m, nullptr, &first) == 0);
    REQUIRE(dfr_reactor_call_later(c.r, 1, test::append_name, &victim, nullptr, &m.other) == 0);
    SECTION("cancel")
    {
        c.advance(1);
        CHECK(m.rc == 0);
        CHECK(log.seen == std::vector<std::string>{"meddler"});
        CHECK(dfr_reactor_pending_calls(c.r) == 0);
        CHECK(dfr_delayed_call_cancel(m.other) == DFR_EALREADY_CANCELLED);
    }
    SECTION("reset later")
    {
        m.what = Meddler::RESET;
        c.advance(1);
        CHECK(m.rc == 0);
        CHECK(log.seen == std::vector<std::string>{"meddler"});
        CHECK(dfr_delayed_call_time(m.other) == Approx(6.0));
        c.advance(4.5);
        CHECK(log.seen.size() == 1);
        c.advance(0.5);
        CHECK(log.seen == std::vector<std::string>{"meddler", "victim"});
    }
    SECTION("delay")
    {
        m.what = Meddler::DELAY;
        c.advance(1);
        CHECK(m.rc == 0);
        CHECK(log.seen == std::vector<std::string>{"meddler"});
        CHECK(dfr_delayed_call_time(m.other) == Approx(3.0));
        c.advance(2);
        CHECK(log.seen == std::vector<std::string>{"meddler", "victim"});
    }
    SECTION("reset itself from inside: AlreadyCalled")
    {
        m.what = Meddler::RESET_SELF;
        m.self = first;
        c.advance(1);
        CHECK(m.rc == DFR_EALREADY_RAN);
        CHECK(log.seen == std::vector<std::string>{"meddler", "victim"});
    }
    dfr_delayed_call_unref(first);
    dfr_delayed_call_unref(m.other);
}

// DelayedCall.delay with a negative amount may move a call before now: it
// is due at once, and runs at the next advance, even advance(0).
TEST_CASE("parity: a negative delay makes a call due at once", "[parity][clock]")
{
    Clock c;
    Log log;
    Named n{&log, "n"};
    dfr_delayed_call *dc = nullptr;
    REQUIRE(dfr_reactor_call_later(c.r, 1, test::append_name, &n, nullptr, &dc) == 0);
    c.advance(0.5);
    REQUIRE(dfr_delayed_call_delay(dc, -5) == 0);
    CHECK(dfr_delayed_call_active(dc));
    CHECK(dfr_delayed_call_time(dc) <= 0.5);
    c.advance(0);
    CHECK(log.seen == std::vector<std::string>{"n"});
    CHECK_FALSE(dfr_delayed_call_active(dc));
    dfr_delayed_call_unref(dc);
}

// DelayedCall.reset to an earlier time takes effect at once (eager).
TEST_CASE("parity: reset to zero runs at the next advance(0)", "[parity][clock]")
{
    Clock c;
    Log log;
    Named n{&log, "n"};
    dfr_delayed_call *dc = nullptr;
    REQUIRE(dfr_reactor_call_later(c.r, 10, test::append_name, &n, nullptr, &dc) == 0);
    REQUIRE(dfr_delayed_call_reset(dc, 0) == 0);
    CHECK(dfr_delayed_call_time(dc) == 0.0);
    c.advance(0);
    CHECK(log.seen == std::vector<std::string>{"n"});
    dfr_delayed_call_unref(dc);
}

namespace {

dfr_value tick(void *data)
{
    ++*static_cast<int *>(data);
    return dfr_none();
}

dfr_value fail_tick(void *data)
{
    ++*static_cast<int *>(data);
    return dfr_value_failure(test::failure(7));
}

// A start deferred's callback (or errback) that starts the LoopingCall again.
struct Restart {
    dfr_looping_call *lc;
    dfr_deferred *again = nullptr;
    int fired = 0;
};

dfr_value restart(dfr_value v, void *data)
{
    auto *r = static_cast<Restart *>(data);
    r->fired++;
    dfr_value_drop(v);
    r->again = dfr_looping_call_start(r->lc, 1, false);
    return dfr_none();
}

} // namespace

// LoopingCall.stop clears its state before it fires the start deferred, so
// the deferred's callbacks may start it again (and so may the errbacks of a
// failed run).
TEST_CASE("parity: LoopingCall started again from its start deferred's callbacks", "[parity][looping]")
{
    Clock c;
    int calls = 0;
    SECTION("after stop")
    {
        dfr_looping_call *lc = dfr_looping_call_new(c.r, tick, &calls, nullptr);
        Restart rs{lc};
        dfr_deferred *d = dfr_looping_call_start(lc, 1, true);
        dfr_deferred_add_callback(d, restart, &rs, nullptr);
        CHECK(calls == 1);
        REQUIRE(dfr_looping_call_stop(lc) == 0);
        CHECK(rs.fired == 1);
        REQUIRE(rs.again);
        CHECK(dfr_deferred_state(rs.again) == DFR_PENDING);
        CHECK(dfr_looping_call_running(lc));
        c.advance(1);
        CHECK(calls == 2);
        REQUIRE(dfr_looping_call_stop(lc) == 0);
        CHECK(dfr_deferred_state(rs.again) == DFR_SUCCEEDED);
        dfr_deferred_unref(rs.again);
        dfr_deferred_unref(d);
        dfr_looping_call_unref(lc);
    }
    SECTION("after a failure")
    {
        dfr_looping_call *lc = dfr_looping_call_new(c.r, fail_tick, &calls, nullptr);
        Restart rs{lc};
        dfr_deferred *d = dfr_looping_call_start(lc, 1, false);
        dfr_deferred_add_errback(d, restart, &rs, nullptr);
        c.advance(1);
        CHECK(calls == 1);
        CHECK(rs.fired == 1);
        REQUIRE(rs.again);
        CHECK(dfr_deferred_state(rs.again) == DFR_PENDING);
        CHECK(dfr_looping_call_running(lc));
        c.advance(1);
        CHECK(calls == 2);
        CHECK(test::result_code(rs.again) == 7);
        dfr_deferred_add_errback(rs.again, test::swallow, nullptr, nullptr);
        dfr_deferred_unref(rs.again);
        dfr_deferred_unref(d);
        dfr_looping_call_unref(lc);
    }
}

// LoopingCall.reset and stop assert the call is running: we refuse.
TEST_CASE("parity: LoopingCall reset and stop when not running", "[parity][looping]")
{
    Clock c;
    int calls = 0;
    dfr_looping_call *lc = dfr_looping_call_new(c.r, tick, &calls, nullptr);
    CHECK(dfr_looping_call_reset(lc) == DFR_EINVAL);
    CHECK(dfr_looping_call_stop(lc) == DFR_EINVAL);
    dfr_looping_call_unref(lc);
}

namespace {

void callback_success(dfr_deferred *d, void *) { dfr_deferred_callback(d, dfr_i64(42)); }

} // namespace

// test_callbackAddedToCancelerBeforeTimeout: the timeout's cancel goes to a
// canceller that fires with a success; a callback added before addTimeout
// sees that success, and no TimeoutError appears.
TEST_CASE("parity: a canceller's success under a timeout reaches earlier callbacks", "[parity][timeout]")
{
    Clock c;
    dfr_deferred *d = dfr_deferred_new_cancellable(callback_success, nullptr, nullptr);
    Recorder r;
    dfr_deferred_add_callbacks(d, test::record, test::record, &r, nullptr);
    REQUIRE(dfr_deferred_add_timeout(d, c.r, 10) == 0);
    c.advance(15);
    CHECK(r.seen == std::vector<std::string>{"i64 42"});
    CHECK(test::state(d) == "i64 42");
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    dfr_deferred_unref(d);
}

// addTimeout on a deferred that waits on another: the timeout cancels the
// inner; its CancelledError reaches the outer as TimeoutError.  A callback
// added to the inner after the outer began waiting runs after the outer took
// the result, so it sees none (test_asynchronousImplicitChain).
TEST_CASE("parity: a timeout on an outer waiting on an inner", "[parity][timeout]")
{
    Clock c;
    dfr_deferred *outer = dfr_deferred_new();
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred_add_callback(outer, test::return_deferred, inner, nullptr);
    REQUIRE(dfr_deferred_callback(outer, dfr_none()) == 0);
    REQUIRE(dfr_deferred_add_timeout(outer, c.r, 2) == 0);
    Recorder ri;
    dfr_deferred_add_both(inner, test::record, &ri, nullptr);
    c.advance(2);
    CHECK(ri.seen == std::vector<std::string>{"none"});
    CHECK(test::result_code(outer) == DFR_ETIMEDOUT);
    dfr_deferred_add_errback(outer, test::swallow, nullptr, nullptr);
    dfr_deferred_unref(outer);
    dfr_deferred_unref(inner);
}

// addTimeout on a paused deferred: the timeout's cancel gives it its
// CancelledError at once, and the translation to TimeoutError (a callback of
// the chain) runs when it is unpaused.
TEST_CASE("parity: a timeout on a paused deferred", "[parity][timeout][pause]")
{
    Clock c;
    dfr_deferred *d = dfr_deferred_new();
    REQUIRE(dfr_deferred_pause(d) == 0);
    REQUIRE(dfr_deferred_add_timeout(d, c.r, 1) == 0);
    c.advance(1);
    CHECK(dfr_deferred_state(d) == DFR_FAILED);
    REQUIRE(dfr_deferred_unpause(d) == 0);
    CHECK(test::result_code(d) == DFR_ETIMEDOUT);
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    dfr_deferred_add_errback(d, test::swallow, nullptr, nullptr);
    dfr_deferred_unref(d);
}

namespace {

void errback_cancelled(dfr_deferred *d, void *)
{
    dfr_deferred_errback(d, dfr_failure_new(DFR_DOMAIN, DFR_ECANCELLED, "the canceller's own"));
}

} // namespace

// The timeout translates any CancelledError that results from its cancel,
// also one the canceller makes itself (addTimeout traps CancelledError).
TEST_CASE("parity: a canceller's own CancelledError under a timeout becomes TimeoutError", "[parity][timeout]")
{
    Clock c;
    dfr_deferred *d = dfr_deferred_new_cancellable(errback_cancelled, nullptr, nullptr);
    REQUIRE(dfr_deferred_add_timeout(d, c.r, 1) == 0);
    c.advance(1);
    CHECK(test::result_code(d) == DFR_ETIMEDOUT);
    dfr_deferred_add_errback(d, test::swallow, nullptr, nullptr);
    dfr_deferred_unref(d);
}

namespace {

struct Mover {
    dfr_delayed_call *other = nullptr;
    double reset_to = 0;
};
void move_other(void *data)
{
    auto *m = static_cast<Mover *>(data);
    CHECK(dfr_delayed_call_reset(m->other, m->reset_to) == 0);
}

} // namespace

// A call moved by another call of the same advance to a time that is
// already due: Twisted's Clock runs it in that advance; our pass runs only
// the calls due when it began (docs/reactor.md), so it runs at the next
// advance, even advance(0).
TEST_CASE("parity: a call moved into the past during an advance runs at the next pass", "[parity][clock]")
{
    Clock c;
    Log log;
    Named b{&log, "b"};
    Mover m;
    REQUIRE(dfr_reactor_call_later(c.r, 5, test::append_name, &b, nullptr, &m.other) == 0);
    REQUIRE(dfr_reactor_call_later(c.r, 1, move_other, &m, nullptr, nullptr) == 0);
    c.advance(2);
    CHECK(log.seen.empty());
    CHECK(dfr_delayed_call_time(m.other) == Approx(2.0));
    c.advance(0);
    CHECK(log.seen == std::vector<std::string>{"b"});
    dfr_delayed_call_unref(m.other);
}

namespace {

struct StopStart {
    dfr_looping_call *lc = nullptr;
    int calls = 0;
    bool refused = false;
};
dfr_value stop_then_start(void *data)
{
    auto *s = static_cast<StopStart *>(data);
    if (++s->calls == 2) {
        CHECK(dfr_looping_call_stop(s->lc) == 0);
        s->refused = test::refused_with(dfr_looping_call_start(s->lc, 1, true), DFR_EALREADY_RUNNING);
    }
    return dfr_none();
}

} // namespace

// LoopingCall.start asserts it is not running; from inside fn right after
// stop(), Twisted would replace the start deferred and leave the first one
// unfired.  We refuse that start: the first run fires when fn returns.
TEST_CASE("parity: start from inside fn right after stop is refused", "[parity][looping]")
{
    Clock c;
    StopStart s;
    s.lc = dfr_looping_call_new(c.r, stop_then_start, &s, nullptr);
    dfr_deferred *d = dfr_looping_call_start(s.lc, 1, true);
    c.advance(1);
    CHECK(s.calls == 2);
    CHECK(s.refused);
    CHECK(test::state(d) == "ptr");
    CHECK_FALSE(dfr_looping_call_running(s.lc));
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    dfr_deferred_unref(d);
    dfr_looping_call_unref(s.lc);
}

// Clock.advance with a negative amount moves Twisted's clock backwards; ours
// is monotonic and refuses it.
TEST_CASE("parity: advance by a negative amount is refused", "[parity][clock]")
{
    Clock c;
    c.advance(2);
    CHECK(dfr_reactor_advance(c.r, -1) == DFR_EINVAL);
    CHECK(dfr_reactor_seconds(c.r) == 2.0);
}

namespace {

struct SelfCancel {
    dfr_deferred *d = nullptr;
    int ran = 0;
};
dfr_value cancel_own(void *data)
{
    auto *s = static_cast<SelfCancel *>(data);
    s->ran++;
    dfr_deferred_cancel(s->d);
    return dfr_i64(5);
}

} // namespace

// deferLater's deferred fires, then its callback calls fn: cancelling that
// deferred from inside fn finds it fired and does nothing.
TEST_CASE("parity: deferLater's fn cancels its own deferred", "[parity][later][cancel]")
{
    Clock c;
    SelfCancel s;
    s.d = dfr_reactor_defer_later(c.r, 1, cancel_own, &s, nullptr);
    c.advance(1);
    CHECK(s.ran == 1);
    CHECK(test::state(s.d) == "i64 5");
    dfr_deferred_unref(s.d);
}

// addTimeout on a paused deferred that already has its result: the timer
// stays until the timeout's callbacks can run (they wait behind the pause),
// and when it fires its cancel has no effect.  As in Twisted, the timer
// having fired is enough for a CancelledError that was already there to be
// reported as TimeoutError once unpaused (a quirk we keep).
TEST_CASE("parity: addTimeout on a paused deferred that has its result", "[parity][timeout][pause]")
{
    Clock c;
    dfr_deferred *d = dfr_deferred_new();
    SECTION("a success stays")
    {
        dfr_deferred_callback(d, dfr_i64(5));
        dfr_deferred_pause(d);
        REQUIRE(dfr_deferred_add_timeout(d, c.r, 1) == 0);
        CHECK(dfr_reactor_pending_calls(c.r) == 1);
        c.advance(1);
        dfr_deferred_unpause(d);
        CHECK(test::state(d) == "i64 5");
    }
    SECTION("fired while paused, before the timeout: the timer goes only at unpause")
    {
        dfr_deferred_pause(d);
        REQUIRE(dfr_deferred_add_timeout(d, c.r, 1) == 0);
        dfr_deferred_callback(d, dfr_i64(3));
        CHECK(dfr_reactor_pending_calls(c.r) == 1);
        c.advance(1);
        dfr_deferred_unpause(d);
        CHECK(test::state(d) == "i64 3");
    }
    SECTION("an earlier manual cancel becomes a timeout")
    {
        dfr_deferred_cancel(d);
        dfr_deferred_pause(d);
        REQUIRE(dfr_deferred_add_timeout(d, c.r, 1) == 0);
        c.advance(1);
        dfr_deferred_unpause(d);
        CHECK(test::result_code(d) == DFR_ETIMEDOUT);
        dfr_deferred_add_errback(d, test::swallow, nullptr, nullptr);
    }
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    dfr_deferred_unref(d);
}
