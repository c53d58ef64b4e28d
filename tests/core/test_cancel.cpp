// Cancellation: without a canceller, with cancellers that do or do not fire,
// after firing, forwarded to the deferred being waited on, and the rule
// that the canceller's destroy runs exactly once.
// Behaviours S20-S23, ported from twisted/test/test_defer.py (the
// Twisted tests are named above each case).
#include <catch2/catch.hpp>

#include "recorder.h"
#include "support.h"

using test::Recorder;

namespace {

using Seen = std::vector<std::string>;

const std::string cancelled = test::fail_text(DFR_DOMAIN, DFR_ECANCELLED);

struct Canceller {
    int calls = 0;
    dfr_deferred *seen = nullptr;
    enum { NOTHING, CALLBACK, ERRBACK, CANCEL_AGAIN } action = NOTHING;
    int fire_rc = -99;
};

void canceller(dfr_deferred *d, void *data)
{
    auto *c = static_cast<Canceller *>(data);
    c->calls++;
    c->seen = d;
    if (c->action == Canceller::CALLBACK)
        c->fire_rc = dfr_deferred_callback(d, dfr_bytes_new("hello!", 6));
    else if (c->action == Canceller::ERRBACK)
        c->fire_rc = dfr_deferred_errback(d, test::failure(1));
    else if (c->action == Canceller::CANCEL_AGAIN)
        dfr_deferred_cancel(d);
}

using test::return_deferred;
using test::must_not_run;

using test::count_drop;
using test::counted;
using test::counted_value;
using test::drops;

// Counts the failures an errback sees and remembers the last one; passes on.
struct FailureLog {
    int count = 0;
    const dfr_failure *last = nullptr;
};
dfr_value log_failure(dfr_value v, void *data)
{
    auto *l = static_cast<FailureLog *>(data);
    l->count++;
    l->last = dfr_failure_from(&v);
    return v;
}

} // namespace

// test_noCanceller, test_raisesAfterCancelAndCallback,
// test_raisesAfterCancelAndErrback, test_noCancellerMultipleCancel,
// test_noCancellerMultipleCancelsAfterCancelAndCallback/Errback.
TEST_CASE("S20 cancel without a canceller", "[cancel][S20]")
{
    bool with_errback = GENERATE(false, true);
    drops = 0;
    int cb_ran = 0;
    FailureLog log;
    Recorder eb;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_callbacks(d, must_not_run, nullptr, &cb_ran, nullptr);
    dfr_deferred_add_errback(d, log_failure, &log, nullptr);
    dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
    dfr_deferred_cancel(d);
    CHECK(cb_ran == 0);
    CHECK(eb.seen == Seen{cancelled});
    CHECK(log.count == 1);
    const dfr_failure *first = log.last;
    CHECK(dfr_failure_check(first, DFR_DOMAIN, DFR_ECANCELLED));
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED); // handled by the last errback

    dfr_deferred_cancel(d); // a second cancel is a no-op
    CHECK(log.count == 1);

    // The producer's first fire is swallowed silently (its argument dropped)...
    if (with_errback) {
        dfr_failure *f = test::failure(2);
        dfr_failure_set_payload(f, counted_value(2));
        CHECK(dfr_deferred_errback(d, f) == 0);
    } else {
        CHECK(dfr_deferred_callback(d, counted_value(1)) == 0);
    }
    CHECK(drops == 1);
    dfr_deferred_cancel(d); // more cancels after it: still nothing
    // ...and every further fire is DFR_EALREADY.
    CHECK(dfr_deferred_callback(d, counted_value(3)) == DFR_EALREADY);
    CHECK(dfr_deferred_errback(d, test::failure(3)) == DFR_EALREADY);
    CHECK(dfr_deferred_callback(d, dfr_i64(4)) == DFR_EALREADY);
    CHECK(drops == 2);
    // The errbacks saw exactly one failure, the same one throughout.
    CHECK(log.count == 1);
    CHECK(log.last == first);
    CHECK(eb.seen.size() == 1);
    CHECK(cb_ran == 0);
    CHECK(test::state(d) == "none");
    dfr_deferred_unref(d);
}

TEST_CASE("S20 an unhandled cancel is reported like any failure", "[cancel][S20][unhandled]")
{
    test::UnhandledCapture u;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_cancel(d);
    CHECK(dfr_deferred_state(d) == DFR_FAILED);
    CHECK(test::state(d) == cancelled);
    dfr_deferred_unref(d);
    REQUIRE(u.count() == 1);
    CHECK(u.codes[0] == DFR_ECANCELLED);
}

// test_cancellerMultipleCancel, test_simpleCanceller, test_cancellerArg.
TEST_CASE("S21 a canceller that does not fire", "[cancel][S21]")
{
    drops = 0;
    Canceller c;
    Recorder eb;
    int cb_ran = 0;
    dfr_deferred *d = dfr_deferred_new_cancellable(canceller, &c, nullptr);
    REQUIRE(d != nullptr);
    dfr_deferred_add_callbacks(d, must_not_run, nullptr, &cb_ran, nullptr);
    dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
    CHECK(c.calls == 0);
    dfr_deferred_cancel(d);
    CHECK(c.calls == 1);
    CHECK(c.seen == d); // called with the deferred itself
    CHECK(eb.seen == Seen{cancelled});
    CHECK(cb_ran == 0);
    dfr_deferred_cancel(d);
    CHECK(c.calls == 1);
    // Nothing is swallowed: the canceller was the producer's chance.
    CHECK(dfr_deferred_callback(d, counted_value(1)) == DFR_EALREADY);
    CHECK(drops == 1);
    dfr_failure *f = test::failure(1);
    dfr_failure_set_payload(f, counted_value(2));
    CHECK(dfr_deferred_errback(d, f) == DFR_EALREADY);
    CHECK(drops == 2);
    CHECK(eb.seen.size() == 1);
    dfr_deferred_unref(d);
}

// A NULL canceller with a destroy behaves as no canceller (S20's rule).
TEST_CASE("S21 new_cancellable with a NULL canceller", "[cancel][S21]")
{
    int destroyed = 0;
    Recorder eb;
    dfr_deferred *d = dfr_deferred_new_cancellable(nullptr, &destroyed, test::count_destroy);
    REQUIRE(d != nullptr);
    dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
    dfr_deferred_cancel(d);
    CHECK(eb.seen == Seen{cancelled});
    CHECK(destroyed == 1);
    CHECK(dfr_deferred_callback(d, dfr_i64(1)) == 0); // swallowed once
    CHECK(dfr_deferred_callback(d, dfr_i64(1)) == DFR_EALREADY);
    dfr_deferred_unref(d);
    CHECK(destroyed == 1);
}

// test_cancellerThatCallbacks, test_cancellerThatErrbacks.
TEST_CASE("S22 a canceller that fires decides the result", "[cancel][S22]")
{
    SECTION("callbacks: only the callback runs")
    {
        Canceller c;
        c.action = Canceller::CALLBACK;
        Recorder cb, eb;
        dfr_deferred *d = dfr_deferred_new_cancellable(canceller, &c, nullptr);
        dfr_deferred_add_callbacks(d, test::record, nullptr, &cb, nullptr);
        dfr_deferred_add_callbacks(d, nullptr, test::record_and_handle, &eb, nullptr);
        dfr_deferred_cancel(d);
        CHECK(c.calls == 1);
        CHECK(c.fire_rc == 0);
        CHECK(cb.seen == Seen{"bytes hello!"});
        CHECK(eb.seen.empty());
        CHECK(test::state(d) == "bytes hello!");
        // The result came from the canceller: later fires are refused.
        CHECK(dfr_deferred_callback(d, dfr_i64(1)) == DFR_EALREADY);
        dfr_deferred_cancel(d);
        CHECK(c.calls == 1);
        dfr_deferred_unref(d);
    }
    SECTION("errbacks: only the errback runs")
    {
        Canceller c;
        c.action = Canceller::ERRBACK;
        Recorder cb, eb;
        dfr_deferred *d = dfr_deferred_new_cancellable(canceller, &c, nullptr);
        dfr_deferred_add_callbacks(d, test::record, nullptr, &cb, nullptr);
        dfr_deferred_add_callbacks(d, nullptr, test::record_and_handle, &eb, nullptr);
        dfr_deferred_cancel(d);
        CHECK(c.fire_rc == 0);
        CHECK(cb.seen.empty());
        CHECK(eb.seen == Seen{"fail test 1"});
        CHECK(dfr_deferred_errback(d, test::failure(2)) == DFR_EALREADY);
        dfr_deferred_unref(d);
    }
}

// test_cancelAfterCallback, test_cancelAfterErrback.
TEST_CASE("S22 cancel after firing does nothing and does not call the canceller", "[cancel][S22]")
{
    test::UnhandledCapture u;
    SECTION("after callback")
    {
        Canceller c;
        dfr_deferred *d = dfr_deferred_new_cancellable(canceller, &c, nullptr);
        dfr_deferred_callback(d, dfr_bytes_new("biff!", 5));
        dfr_deferred_cancel(d);
        CHECK(c.calls == 0);
        CHECK(test::state(d) == "bytes biff!");
        Recorder r;
        dfr_deferred_add_callback(d, test::record, &r, nullptr);
        CHECK(r.seen == Seen{"bytes biff!"});
        dfr_deferred_unref(d);
    }
    SECTION("after errback")
    {
        Canceller c;
        dfr_failure *f = test::failure(1);
        dfr_deferred *d = dfr_deferred_new_cancellable(canceller, &c, nullptr);
        dfr_deferred_errback(d, f);
        dfr_deferred_cancel(d);
        CHECK(c.calls == 0);
        REQUIRE(dfr_deferred_result(d) != nullptr);
        CHECK(dfr_failure_from(dfr_deferred_result(d)) == f);
        Recorder eb;
        dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
        CHECK(eb.seen == Seen{"fail test 1"});
        dfr_deferred_unref(d);
    }
    SECTION("after firing, without a canceller")
    {
        dfr_deferred *d = dfr_succeed(dfr_i64(1));
        dfr_deferred_cancel(d);
        CHECK(test::state(d) == "i64 1");
        dfr_deferred_unref(d);
    }
    SECTION("while its own callbacks run")
    {
        Canceller c;
        dfr_deferred *d = dfr_deferred_new_cancellable(canceller, &c, nullptr);
        dfr_deferred_add_callback(d, [](dfr_value v, void *data) -> dfr_value {
            dfr_deferred_cancel(static_cast<dfr_deferred *>(data));
            return v;
        }, d, nullptr);
        dfr_deferred_callback(d, dfr_i64(5));
        CHECK(c.calls == 0);
        CHECK(test::state(d) == "i64 5");
        dfr_deferred_unref(d);
    }
    CHECK(u.count() == 0);
}

TEST_CASE("a canceller that cancels again is not re-entered", "[cancel][S21]")
{
    Canceller c;
    c.action = Canceller::CANCEL_AGAIN;
    Recorder eb;
    dfr_deferred *d = dfr_deferred_new_cancellable(canceller, &c, nullptr);
    dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
    dfr_deferred_cancel(d);
    CHECK(c.calls == 1);
    CHECK(eb.seen == Seen{cancelled});
    dfr_deferred_unref(d);
}

TEST_CASE("cancelling a paused deferred: the errback waits for unpause", "[cancel]")
{
    Canceller c;
    Recorder eb;
    dfr_deferred *d = dfr_deferred_new_cancellable(canceller, &c, nullptr);
    dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
    dfr_deferred_pause(d);
    dfr_deferred_cancel(d);
    CHECK(c.calls == 1);
    CHECK(eb.seen.empty());
    CHECK(test::state(d) == cancelled);
    dfr_deferred_unpause(d);
    CHECK(eb.seen == Seen{cancelled});
    dfr_deferred_unref(d);
}

// test_cancelNestedDeferred.
TEST_CASE("S23 cancel goes to the deferred being waited on", "[cancel][S23]")
{
    Canceller outer_c, inner_c;
    auto action = GENERATE(Canceller::NOTHING, Canceller::CALLBACK, Canceller::ERRBACK);
    inner_c.action = action;
    Recorder r;
    dfr_deferred *b = dfr_deferred_new_cancellable(canceller, &inner_c, nullptr);
    dfr_deferred *a = dfr_deferred_new_cancellable(canceller, &outer_c, nullptr);
    dfr_deferred_add_callback(a, return_deferred, b, nullptr);
    dfr_deferred_callback(a, dfr_none());
    CHECK(dfr_deferred_state(a) == DFR_PENDING);
    dfr_deferred_cancel(a);
    CHECK(outer_c.calls == 0);
    CHECK(inner_c.calls == 1);
    CHECK(inner_c.seen == b);
    const std::string want = action == Canceller::CALLBACK  ? "bytes hello!"
                             : action == Canceller::ERRBACK ? "fail test 1"
                                                            : cancelled;
    CHECK(test::state(a) == want);
    CHECK(test::state(b) == "none"); // the outer took the inner's result
    dfr_deferred_add_both(a, test::record_and_handle, &r, nullptr);
    CHECK(r.seen == Seen{want});
    dfr_deferred_unref(a);
    dfr_deferred_unref(b);
}

TEST_CASE("S23 cancel forwards to an inner without a canceller", "[cancel][S23]")
{
    Recorder r;
    dfr_deferred *b = dfr_deferred_new();
    dfr_deferred *a = dfr_deferred_new();
    dfr_deferred_add_callback(a, return_deferred, b, nullptr);
    dfr_deferred_add_errback(a, test::record_and_handle, &r, nullptr);
    dfr_deferred_callback(a, dfr_none());
    dfr_deferred_cancel(a);
    CHECK(r.seen == Seen{cancelled});
    // The inner's producer, not knowing, fires it: swallowed once.
    CHECK(dfr_deferred_callback(b, dfr_i64(1)) == 0);
    CHECK(dfr_deferred_callback(b, dfr_i64(1)) == DFR_EALREADY);
    dfr_deferred_unref(a);
    dfr_deferred_unref(b);
}

TEST_CASE("cancel on the inner itself reaches the waiting outer", "[cancel][S23]")
{
    Recorder r;
    dfr_deferred *b = dfr_deferred_new();
    dfr_deferred *a = dfr_deferred_new();
    dfr_deferred_add_callback(a, return_deferred, b, nullptr);
    dfr_deferred_add_errback(a, test::record_and_handle, &r, nullptr);
    dfr_deferred_callback(a, dfr_none());
    dfr_deferred_cancel(b);
    CHECK(r.seen == Seen{cancelled});
    dfr_deferred_unref(a);
    dfr_deferred_unref(b);
}

TEST_CASE("cancel forwards down a long chain of waits without recursion", "[cancel][S19]")
{
    const int n = 100000;
    Canceller innermost;
    innermost.action = Canceller::CALLBACK;
    std::vector<dfr_deferred *> ds(n);
    for (int i = 0; i + 1 < n; i++)
        ds[i] = dfr_deferred_new();
    ds[n - 1] = dfr_deferred_new_cancellable(canceller, &innermost, nullptr);
    for (int i = 0; i + 1 < n; i++)
        dfr_deferred_add_callback(ds[i], return_deferred, ds[i + 1], nullptr);
    Recorder r;
    dfr_deferred_add_both(ds[0], test::record_and_handle, &r, nullptr);
    for (int i = 0; i + 1 < n; i++)
        dfr_deferred_callback(ds[i], dfr_none());
    dfr_deferred_cancel(ds[0]);
    CHECK(innermost.calls == 1);
    CHECK(r.seen == Seen{"bytes hello!"});
    for (auto d : ds)
        dfr_deferred_unref(d);
}

TEST_CASE("the canceller's destroy runs exactly once", "[cancel][destroy]")
{
    int destroyed = 0;
    auto nop = [](dfr_deferred *, void *) {};
    SECTION("freed without a result")
    {
        dfr_deferred *e = dfr_deferred_new_cancellable(nop, &destroyed, test::count_destroy);
        CHECK(destroyed == 0);
        dfr_deferred_unref(e);
        CHECK(destroyed == 1);
    }
    SECTION("fired normally: at the result, not at free")
    {
        dfr_deferred *e = dfr_deferred_new_cancellable(nop, &destroyed, test::count_destroy);
        dfr_deferred_callback(e, dfr_i64(1));
        CHECK(destroyed == 1);
        dfr_deferred_cancel(e);
        dfr_deferred_unref(e);
        CHECK(destroyed == 1);
    }
    SECTION("errbacked normally")
    {
        Recorder eb;
        dfr_deferred *e = dfr_deferred_new_cancellable(nop, &destroyed, test::count_destroy);
        dfr_deferred_add_errback(e, test::record_and_handle, &eb, nullptr);
        dfr_deferred_errback(e, test::failure(1));
        CHECK(destroyed == 1);
        dfr_deferred_unref(e);
        CHECK(destroyed == 1);
    }
    SECTION("cancelled, the canceller not firing")
    {
        Recorder eb;
        dfr_deferred *f = dfr_deferred_new_cancellable(nop, &destroyed, test::count_destroy);
        dfr_deferred_add_errback(f, test::record_and_handle, &eb, nullptr);
        dfr_deferred_cancel(f);
        CHECK(destroyed == 1);
        dfr_deferred_cancel(f);
        dfr_deferred_unref(f);
        CHECK(destroyed == 1);
    }
    SECTION("freed while waiting on another deferred, then the inner fires")
    {
        dfr_deferred *inner = dfr_deferred_new();
        dfr_deferred *outer = dfr_deferred_new_cancellable(nop, &destroyed, test::count_destroy);
        dfr_deferred_add_callback(outer, return_deferred, inner, nullptr);
        dfr_deferred_callback(outer, dfr_none());
        CHECK(destroyed == 1); // it has had a result: the canceller can no longer run
        dfr_deferred_unref(outer);
        dfr_deferred_callback(inner, dfr_i64(1));
        dfr_deferred_unref(inner);
        CHECK(destroyed == 1);
    }
    CHECK(destroyed == 1);
}

// A canceller that fires its deferred can still use its data afterwards:
// the destroy comes after the canceller returns.
TEST_CASE("the canceller's destroy waits until the canceller returns", "[cancel][destroy]")
{
    struct Ctx {
        int destroyed = 0;
        int destroyed_after_fire = -1;
        int calls = 0;
    } c;
    dfr_deferred *d = dfr_deferred_new_cancellable(
        [](dfr_deferred *self, void *data) {
            auto *cx = static_cast<Ctx *>(data);
            cx->calls++;
            dfr_deferred_callback(self, dfr_i64(1));
            cx->destroyed_after_fire = cx->destroyed;
        },
        &c, [](void *data) { static_cast<Ctx *>(data)->destroyed++; });
    dfr_deferred_cancel(d);
    CHECK(c.calls == 1);
    CHECK(c.destroyed_after_fire == 0);
    CHECK(c.destroyed == 1);
    CHECK(test::state(d) == "i64 1");
    dfr_deferred_unref(d);
    CHECK(c.destroyed == 1);
}

TEST_CASE("new_cancellable out of memory: NULL, and destroy has run", "[cancel][destroy][alloc]")
{
    int destroyed = 0;
    test::fail_allocation_at(1);
    dfr_deferred *d = dfr_deferred_new_cancellable(canceller, &destroyed, test::count_destroy);
    bool failed = test::allocation_failed();
    test::fail_allocation_at(0);
    REQUIRE(failed);
    CHECK(d == nullptr);
    CHECK(destroyed == 1);
}

TEST_CASE("cancel(NULL) is harmless", "[cancel][bad-input]")
{
    dfr_deferred_cancel(nullptr);
    dfr_deferred_cancel(nullptr);
    SUCCEED();
}

TEST_CASE("a cancelled chain nobody handles is reported once, by the outer", "[cancel][S23][unhandled]")
{
    test::UnhandledCapture u;
    dfr_deferred *b = dfr_deferred_new();
    dfr_deferred *a = dfr_deferred_new();
    dfr_deferred_add_callback(a, return_deferred, b, nullptr);
    dfr_deferred_callback(a, dfr_none());
    dfr_deferred_cancel(a);
    CHECK(test::state(a) == cancelled);
    CHECK(test::state(b) == "none");
    dfr_deferred_unref(b);
    CHECK(u.count() == 0);
    dfr_deferred_unref(a);
    REQUIRE(u.count() == 1);
    CHECK(u.codes[0] == DFR_ECANCELLED);
}

// ---- cycles of waits (issue 11, defect 1) ----
// a's callback returns b and b's returns a: each waits on the other and
// neither can ever fire.  Twisted's cancel recurses along the waits until
// RecursionError and changes nothing; ours returns, and breaks the cycle:
// the first deferred of the cycle on the walk stops waiting and fails with
// the cancel, which then flows on as from any cancelled inner deferred.
TEST_CASE("cancelling a cycle of waits returns and breaks the cycle", "[cancel][cycle]")
{
    bool cancel_b = GENERATE(false, true);
    Recorder ra, rb;
    dfr_deferred *a = dfr_deferred_new();
    dfr_deferred *b = dfr_deferred_new();
    dfr_deferred_add_callback(a, return_deferred, b, nullptr);
    dfr_deferred_add_callback(b, return_deferred, a, nullptr);
    dfr_deferred_add_both(a, test::record_and_handle, &ra, nullptr);
    dfr_deferred_add_both(b, test::record_and_handle, &rb, nullptr);
    dfr_deferred_callback(a, dfr_none());
    dfr_deferred_callback(b, dfr_none());
    CHECK(dfr_deferred_state(a) == DFR_PENDING);
    CHECK(dfr_deferred_state(b) == DFR_PENDING);
    dfr_deferred *first = cancel_b ? b : a, *second = cancel_b ? a : b;
    Recorder &rf = cancel_b ? rb : ra, &rs = cancel_b ? ra : rb;
    dfr_deferred_cancel(first);
    // first fails with the cancel; its errback handles it, and second,
    // waiting on first, continues with what first's chain left (none).
    CHECK(rf.seen == Seen{cancelled});
    CHECK(rs.seen == Seen{"none"});
    CHECK(test::state(first) == "none");
    CHECK(test::state(second) == "none");
    dfr_deferred_cancel(first); // fired now: nothing more
    CHECK(rf.seen.size() == 1);
    dfr_deferred_unref(a); // no reference cycle is left: nothing leaks
    dfr_deferred_unref(b);
}

TEST_CASE("cancel reaching a cycle from outside breaks it at the cycle's entry",
          "[cancel][cycle]")
{
    // x waits on a; a and b wait on each other.
    Recorder rx, ra, rb;
    dfr_deferred *x = dfr_deferred_new();
    dfr_deferred *a = dfr_deferred_new();
    dfr_deferred *b = dfr_deferred_new();
    dfr_deferred_add_callback(a, return_deferred, b, nullptr);
    dfr_deferred_add_callback(b, return_deferred, a, nullptr);
    dfr_deferred_add_callback(x, return_deferred, a, nullptr);
    dfr_deferred_add_both(x, test::record_and_handle, &rx, nullptr);
    dfr_deferred_add_both(b, test::record_and_handle, &rb, nullptr);
    dfr_deferred_callback(a, dfr_none());
    dfr_deferred_callback(b, dfr_none());
    dfr_deferred_callback(x, dfr_none());
    dfr_deferred_cancel(x);
    // a fails with the cancel; its waiters get it in the order they came: b
    // first (it waited first), x then gets none.
    CHECK(rb.seen == Seen{cancelled});
    CHECK(rx.seen == Seen{"none"});
    dfr_deferred_unref(x);
    dfr_deferred_unref(a);
    dfr_deferred_unref(b);
}

TEST_CASE("a long cycle of waits is cancelled in a loop", "[cancel][cycle][S19]")
{
    const int n = 100000;
    std::vector<dfr_deferred *> ds(n);
    for (auto &d : ds)
        d = dfr_deferred_new();
    for (int i = 0; i < n; i++)
        dfr_deferred_add_callback(ds[i], return_deferred, ds[(i + 1) % n], nullptr);
    Recorder r;
    dfr_deferred_add_both(ds[n / 2], test::record_and_handle, &r, nullptr);
    for (auto d : ds)
        dfr_deferred_callback(d, dfr_none());
    dfr_deferred_cancel(ds[n / 2]);
    CHECK(r.seen == Seen{cancelled});
    for (auto d : ds)
        CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    for (auto d : ds)
        dfr_deferred_unref(d);
}
