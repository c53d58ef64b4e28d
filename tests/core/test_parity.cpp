// Parity with Twisted 22.4 at the edges the other core tests leave out:
// cancelling either end of a chainDeferred, firing or cancelling deferreds
// that wait on others (paused or running ones too), DeferredList and
// gatherResults over repeated, paused, fired or nested inputs, which
// failures end up unhandled, and re-entrant use of DeferredLock,
// DeferredSemaphore and DeferredQueue from the callbacks they fire.  Where
// Twisted's behaviour is not plain from its own tests, the scenario was run
// against Twisted (Debian's 22.4) first.  Each case names the Twisted test (in
// twisted/test/test_defer.py) or the Twisted method whose semantics it
// follows; where we differ on purpose, docs/*.md says so.
#include <catch2/catch.hpp>

#include "recorder.h"
#include "support.h"

using test::Recorder;
using test::record;
using test::record_and_handle;
using test::return_deferred;
using test::swallow;

namespace {

const std::string cancelled = test::fail_text(DFR_DOMAIN, DFR_ECANCELLED);
const std::string already = test::fail_text(DFR_DOMAIN, DFR_EALREADY);

void do_nothing(dfr_deferred *, void *) {}

} // namespace

// Deferred.cancel on the target of chainDeferred: the target is not waiting
// on the source (only an implicit chain is), so it fails at once; the
// source's later result is then dropped silently, once, as for any fire
// after a cancel without a canceller.
TEST_CASE("parity: cancelling the target of chainDeferred", "[parity][chain][cancel]")
{
    test::UnhandledCapture unhandled;
    dfr_deferred *a = dfr_deferred_new();
    dfr_deferred *b = dfr_deferred_new();
    REQUIRE(dfr_deferred_chain(a, b) == 0);
    Recorder rb;
    dfr_deferred_add_callbacks(b, record, record_and_handle, &rb, nullptr);
    dfr_deferred_cancel(b);
    CHECK(rb.seen == std::vector<std::string>{cancelled});

    REQUIRE(dfr_deferred_callback(a, dfr_i64(7)) == 0);
    // The target swallowed the result: the source continues with none, not
    // an AlreadyCalled failure.
    CHECK(test::state(a) == "none");
    CHECK(rb.seen.size() == 1);
    dfr_deferred_unref(a);
    dfr_deferred_unref(b);
    CHECK(unhandled.count() == 0);
}

// The same with a canceller that does not fire: nothing is swallowed, so the
// source's result reaching the target becomes an AlreadyCalled failure on
// the source (Twisted raises AlreadyCalledError inside the source's chain).
TEST_CASE("parity: chainDeferred into a target cancelled through a canceller", "[parity][chain][cancel]")
{
    test::UnhandledCapture unhandled;
    dfr_deferred *a = dfr_deferred_new();
    dfr_deferred *b = dfr_deferred_new_cancellable(do_nothing, nullptr, nullptr);
    REQUIRE(dfr_deferred_chain(a, b) == 0);
    Recorder rb;
    dfr_deferred_add_errback(b, record_and_handle, &rb, nullptr);
    dfr_deferred_cancel(b);
    CHECK(rb.seen == std::vector<std::string>{cancelled});
    REQUIRE(dfr_deferred_callback(a, dfr_i64(7)) == 0);
    CHECK(test::state(a) == already);
    Recorder ra;
    dfr_deferred_add_errback(a, record_and_handle, &ra, nullptr);
    CHECK(ra.seen == std::vector<std::string>{already});
    dfr_deferred_unref(a);
    dfr_deferred_unref(b);
    CHECK(unhandled.count() == 0);
}

// Cancelling the source of chainDeferred: its CancelledError travels to the
// target, and the source is left with none.
TEST_CASE("parity: cancelling the source of chainDeferred", "[parity][chain][cancel]")
{
    test::UnhandledCapture unhandled;
    dfr_deferred *a = dfr_deferred_new();
    dfr_deferred *b = dfr_deferred_new();
    REQUIRE(dfr_deferred_chain(a, b) == 0);
    dfr_deferred_cancel(a);
    CHECK(test::state(a) == "none");
    CHECK(test::state(b) == cancelled);
    dfr_deferred_add_errback(b, swallow, nullptr, nullptr);
    dfr_deferred_unref(a);
    dfr_deferred_unref(b);
    CHECK(unhandled.count() == 0);
}

// test_resultOfDeferredResultOfDeferredOfFiredDeferredCalled: first waits on
// second, which waits on third; callbacks added to the middle one after the
// last fires still run.
TEST_CASE("parity: three deferreds chained through callbacks", "[parity][chain]")
{
    dfr_deferred *first = dfr_deferred_new();
    dfr_deferred *second = dfr_deferred_new();
    dfr_deferred *third = dfr_deferred_new();
    dfr_deferred_add_callback(first, return_deferred, second, nullptr);
    dfr_deferred_add_callback(second, return_deferred, third, nullptr);
    REQUIRE(dfr_deferred_callback(second, dfr_none()) == 0);
    REQUIRE(dfr_deferred_callback(first, dfr_none()) == 0);
    REQUIRE(dfr_deferred_callback(third, dfr_i64(3)) == 0);
    Recorder r;
    dfr_deferred_add_callback(second, record, &r, nullptr);
    // second's result went on to first (first stole it): second holds none.
    CHECK(r.seen == std::vector<std::string>{"none"});
    CHECK(test::state(first) == "i64 3");
    dfr_deferred_unref(first);
    dfr_deferred_unref(second);
    dfr_deferred_unref(third);
}

// Deferred.cancel on an outer that waits on an inner without a canceller:
// the inner fails with CancelledError, and the operation's late result on
// the inner is swallowed once; the next one is AlreadyCalled.
TEST_CASE("parity: a late result on the inner of a cancelled wait is swallowed once", "[parity][cancel]")
{
    dfr_deferred *outer = dfr_deferred_new();
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred_add_callback(outer, return_deferred, inner, nullptr);
    REQUIRE(dfr_deferred_callback(outer, dfr_none()) == 0);
    dfr_deferred_cancel(outer);
    CHECK(test::state(outer) == cancelled);
    CHECK(dfr_deferred_callback(inner, dfr_i64(1)) == 0);
    CHECK(dfr_deferred_callback(inner, dfr_i64(2)) == DFR_EALREADY);
    CHECK(test::state(outer) == cancelled);
    dfr_deferred_add_errback(outer, swallow, nullptr, nullptr);
    dfr_deferred_unref(outer);
    dfr_deferred_unref(inner);
}

// Cancelling a paused deferred that has no result: the canceller runs and
// the result is set, but nothing runs until unpause (Deferred.cancel then
// _runCallbacks returning early while paused).
TEST_CASE("parity: cancel while paused, the canceller firing", "[parity][cancel][pause]")
{
    struct Fire {
        static void cb(dfr_deferred *d, void *) { dfr_deferred_callback(d, dfr_i64(5)); }
    };
    dfr_deferred *d = dfr_deferred_new_cancellable(Fire::cb, nullptr, nullptr);
    Recorder r;
    dfr_deferred_add_callbacks(d, record, record, &r, nullptr);
    dfr_deferred_pause(d);
    dfr_deferred_cancel(d);
    CHECK(r.seen.empty());
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    dfr_deferred_unpause(d);
    CHECK(r.seen == std::vector<std::string>{"i64 5"});
    dfr_deferred_unref(d);
}

// DeferredList over the same deferred twice: Twisted adds two callback pairs
// to it; the first passes the result on, so both entries get it.
TEST_CASE("parity: a DeferredList over the same deferred twice", "[parity][list]")
{
    SECTION("success")
    {
        dfr_deferred *d = dfr_deferred_new();
        dfr_deferred *ds[2] = {d, d};
        dfr_deferred *dl = dfr_deferred_list(ds, 2, 0);
        REQUIRE(dfr_deferred_callback(d, dfr_i64(4)) == 0);
        const dfr_value *v = dfr_deferred_result(dl);
        REQUIRE(v);
        dfr_list *l = dfr_list_from(v);
        REQUIRE(dfr_list_len(l) == 2);
        CHECK(dfr_list_ok(l, 0));
        CHECK(dfr_list_ok(l, 1));
        CHECK(test::is_i64(dfr_list_get(l, 0), 4));
        CHECK(test::is_i64(dfr_list_get(l, 1), 4));
        CHECK(test::state(d) == "i64 4");
        dfr_deferred_unref(dl);
        dfr_deferred_unref(d);
    }
    SECTION("failure with consumeErrors: the second entry sees the none it left")
    {
        dfr_deferred *d = dfr_deferred_new();
        dfr_deferred *ds[2] = {d, d};
        dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_CONSUME_ERRORS);
        REQUIRE(dfr_deferred_errback(d, test::failure(9)) == 0);
        const dfr_value *v = dfr_deferred_result(dl);
        REQUIRE(v);
        dfr_list *l = dfr_list_from(v);
        REQUIRE(dfr_list_len(l) == 2);
        CHECK_FALSE(dfr_list_ok(l, 0));
        CHECK(test::code_of(dfr_list_get(l, 0)) == 9);
        CHECK(dfr_list_ok(l, 1));
        CHECK(test::show(dfr_list_get(l, 1)) == "none");
        CHECK(test::state(d) == "none");
        dfr_deferred_unref(dl);
        dfr_deferred_unref(d);
    }
}

// A paused input that already has its result does not report until it is
// unpaused (the list's callback is queued behind the pause).
TEST_CASE("parity: a DeferredList waits for a paused input", "[parity][list][pause]")
{
    dfr_deferred *a = dfr_succeed(dfr_i64(1));
    dfr_deferred_pause(a);
    dfr_deferred *b = dfr_succeed(dfr_i64(2));
    dfr_deferred *ds[2] = {a, b};
    dfr_deferred *dl = dfr_deferred_list(ds, 2, 0);
    CHECK(dfr_deferred_state(dl) == DFR_PENDING);
    dfr_deferred_unpause(a);
    REQUIRE(dfr_deferred_state(dl) == DFR_SUCCEEDED);
    dfr_list *l = dfr_list_from(dfr_deferred_result(dl));
    CHECK(test::is_i64(dfr_list_get(l, 0), 1));
    CHECK(test::is_i64(dfr_list_get(l, 1), 2));
    dfr_deferred_unref(dl);
    dfr_deferred_unref(a);
    dfr_deferred_unref(b);
}

// Both fire-on-one flags: whichever input reports first decides
// (DeferredList._cbDeferred).
TEST_CASE("parity: fireOnOneCallback and fireOnOneErrback together", "[parity][list]")
{
    dfr_deferred *a = dfr_deferred_new();
    dfr_deferred *b = dfr_deferred_new();
    dfr_deferred *ds[2] = {a, b};
    SECTION("an errback first")
    {
        dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_FIRE_ON_ONE_CALLBACK | DFR_FIRE_ON_ONE_ERRBACK |
                                                        DFR_CONSUME_ERRORS);
        dfr_deferred_errback(b, test::failure(3));
        REQUIRE(test::result_code(dl) == DFR_EFIRST);
        const dfr_failure *f = dfr_failure_from(dfr_deferred_result(dl));
        CHECK(dfr_failure_index(f) == 1);
        CHECK(dfr_failure_code(dfr_failure_cause(f)) == 3);
        dfr_deferred_callback(a, dfr_i64(1));
        CHECK(test::result_code(dl) == DFR_EFIRST);
        dfr_deferred_add_errback(dl, swallow, nullptr, nullptr);
        dfr_deferred_unref(dl);
    }
    SECTION("a callback first")
    {
        dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_FIRE_ON_ONE_CALLBACK | DFR_FIRE_ON_ONE_ERRBACK |
                                                        DFR_CONSUME_ERRORS);
        dfr_deferred_callback(a, dfr_i64(1));
        REQUIRE(dfr_deferred_state(dl) == DFR_SUCCEEDED);
        dfr_list *l = dfr_list_from(dfr_deferred_result(dl));
        CHECK(test::is_i64(dfr_list_get(l, 0), 1));
        CHECK(test::is_i64(dfr_list_get(l, 1), 0));
        dfr_deferred_errback(b, test::failure(3));
        // consumeErrors still applies after the list fired.
        CHECK(test::state(b) == "none");
        dfr_deferred_unref(dl);
    }
    dfr_deferred_unref(a);
    dfr_deferred_unref(b);
}

// gatherResults fails on the first failure without waiting for the others;
// a later failure of another input stays with that input.
TEST_CASE("parity: gatherResults fails at the first failure", "[parity][list]")
{
    dfr_deferred *a = dfr_deferred_new();
    dfr_deferred *b = dfr_deferred_new();
    dfr_deferred *ds[2] = {a, b};
    dfr_deferred *g = dfr_gather_results(ds, 2, false);
    dfr_deferred_errback(b, test::failure(5));
    REQUIRE(test::result_code(g) == DFR_EFIRST);
    CHECK(dfr_failure_index(dfr_failure_from(dfr_deferred_result(g))) == 1);
    CHECK(test::result_code(b) == 5);
    dfr_deferred_errback(a, test::failure(6));
    CHECK(test::result_code(a) == 6);
    for (dfr_deferred *d : {a, b, g}) {
        dfr_deferred_add_errback(d, swallow, nullptr, nullptr);
        dfr_deferred_unref(d);
    }
}

namespace {

// An acquire callback that releases the lock at once (re-entering release
// from inside the release that handed it over).
struct LockUser {
    dfr_lock *l;
    std::vector<int> *order;
    int id;
};
dfr_value release_at_once(dfr_value v, void *data)
{
    auto *u = static_cast<LockUser *>(data);
    u->order->push_back(u->id);
    CHECK(dfr_lock_release(u->l) == 0);
    return v;
}

} // namespace

// DeferredLock.release hands over by firing the waiter's deferred; a waiter
// that releases from its callback hands over again to the next, in order.
TEST_CASE("parity: a lock released from inside the acquire callback it handed over", "[parity][lock]")
{
    dfr_lock *l = dfr_lock_new();
    std::vector<int> order;
    dfr_deferred *first = dfr_lock_acquire(l);
    std::vector<LockUser> users(3);
    std::vector<dfr_deferred *> ds;
    for (int i = 0; i < 3; i++) {
        users[i] = {l, &order, i};
        dfr_deferred *d = dfr_lock_acquire(l);
        dfr_deferred_add_callback(d, release_at_once, &users[i], nullptr);
        ds.push_back(d);
    }
    CHECK(dfr_lock_waiting(l) == 3);
    REQUIRE(dfr_lock_release(l) == 0);
    CHECK(order == std::vector<int>{0, 1, 2});
    CHECK_FALSE(dfr_lock_locked(l));
    CHECK(dfr_lock_waiting(l) == 0);
    for (dfr_deferred *d : ds)
        dfr_deferred_unref(d);
    dfr_deferred_unref(first);
    dfr_lock_free(l);
}

// A cancelled waiter is skipped: the release goes to the next one.
TEST_CASE("parity: release skips a cancelled waiter of a lock and a semaphore", "[parity][lock][semaphore]")
{
    SECTION("lock")
    {
        dfr_lock *l = dfr_lock_new();
        dfr_deferred *held = dfr_lock_acquire(l);
        dfr_deferred *w1 = dfr_lock_acquire(l);
        dfr_deferred *w2 = dfr_lock_acquire(l);
        dfr_deferred_cancel(w1);
        CHECK(test::state(w1) == cancelled);
        CHECK(dfr_lock_waiting(l) == 1);
        REQUIRE(dfr_lock_release(l) == 0);
        CHECK(dfr_deferred_state(w2) == DFR_SUCCEEDED);
        CHECK(dfr_lock_locked(l));
        REQUIRE(dfr_lock_release(l) == 0);
        CHECK_FALSE(dfr_lock_locked(l));
        dfr_deferred_add_errback(w1, swallow, nullptr, nullptr);
        for (dfr_deferred *d : {held, w1, w2})
            dfr_deferred_unref(d);
        dfr_lock_free(l);
    }
    SECTION("semaphore")
    {
        dfr_semaphore *s = dfr_semaphore_new(1);
        dfr_deferred *held = dfr_semaphore_acquire(s);
        dfr_deferred *w1 = dfr_semaphore_acquire(s);
        dfr_deferred *w2 = dfr_semaphore_acquire(s);
        dfr_deferred_cancel(w1);
        CHECK(dfr_semaphore_waiting(s) == 1);
        REQUIRE(dfr_semaphore_release(s) == 0);
        CHECK(dfr_deferred_state(w2) == DFR_SUCCEEDED);
        CHECK(dfr_semaphore_tokens(s) == 0);
        REQUIRE(dfr_semaphore_release(s) == 0);
        CHECK(dfr_semaphore_tokens(s) == 1);
        CHECK(dfr_semaphore_release(s) == DFR_EINVAL);
        dfr_deferred_add_errback(w1, swallow, nullptr, nullptr);
        for (dfr_deferred *d : {held, w1, w2})
            dfr_deferred_unref(d);
        dfr_semaphore_free(s);
    }
}

namespace {

struct Regetter {
    dfr_queue *q;
    Recorder *seen;
    dfr_deferred *next = nullptr;
};
// A get callback that records its value and asks for the next one.
dfr_value record_and_get_again(dfr_value v, void *data)
{
    auto *g = static_cast<Regetter *>(data);
    g->seen->seen.push_back(test::show(v));
    dfr_value_drop(v);
    if (!g->next)
        g->next = dfr_queue_get(g->q);
    return dfr_none();
}

} // namespace

// DeferredQueue.put fires the oldest waiting get; a get from inside that
// callback waits (or takes a kept value) like any other.
TEST_CASE("parity: a queue get from inside a get callback", "[parity][queue]")
{
    dfr_queue *q = dfr_queue_new(DFR_UNLIMITED, DFR_UNLIMITED);
    Recorder seen;
    Regetter g{q, &seen};
    dfr_deferred *d = dfr_queue_get(q);
    dfr_deferred_add_callback(d, record_and_get_again, &g, nullptr);
    REQUIRE(dfr_queue_put(q, dfr_i64(1)) == 0);
    CHECK(seen.seen == std::vector<std::string>{"i64 1"});
    REQUIRE(g.next);
    CHECK(dfr_deferred_state(g.next) == DFR_PENDING);
    CHECK(dfr_queue_waiting(q) == 1);
    CHECK(dfr_queue_pending(q) == 0);
    REQUIRE(dfr_queue_put(q, dfr_i64(2)) == 0);
    CHECK(test::state(g.next) == "i64 2");
    dfr_deferred_unref(g.next);
    dfr_deferred_unref(d);
    dfr_queue_free(q);
}

// DeferredQueue: the limits apply only when the value (or the get) has to
// wait.  put() first serves a waiting get, so a size of 0 does not refuse
// it; get() first takes a kept value, so a backlog of 0 does not refuse it.
TEST_CASE("parity: queue limits count only what waits", "[parity][queue]")
{
    SECTION("size 0 with a waiting get")
    {
        dfr_queue *q = dfr_queue_new(0, 1);
        dfr_deferred *d = dfr_queue_get(q);
        CHECK(dfr_deferred_state(d) == DFR_PENDING);
        CHECK(dfr_queue_put(q, dfr_i64(1)) == 0);
        CHECK(test::state(d) == "i64 1");
        CHECK(dfr_queue_put(q, dfr_i64(2)) == DFR_EOVERFLOW);
        dfr_deferred_unref(d);
        dfr_queue_free(q);
    }
    SECTION("backlog 0 with a kept value")
    {
        dfr_queue *q = dfr_queue_new(1, 0);
        CHECK(dfr_queue_put(q, dfr_i64(1)) == 0);
        dfr_deferred *d = dfr_queue_get(q);
        CHECK(test::state(d) == "i64 1");
        CHECK(test::refused_with(dfr_queue_get(q), DFR_EUNDERFLOW));
        dfr_deferred_unref(d);
        dfr_queue_free(q);
    }
    SECTION("size 1 backlog 1: one waiting get, then one kept value")
    {
        dfr_queue *q = dfr_queue_new(1, 1);
        dfr_deferred *d = dfr_queue_get(q);
        CHECK(test::refused_with(dfr_queue_get(q), DFR_EUNDERFLOW));
        CHECK(dfr_queue_put(q, dfr_i64(1)) == 0);
        CHECK(test::state(d) == "i64 1");
        CHECK(dfr_queue_put(q, dfr_i64(2)) == 0);
        CHECK(dfr_queue_pending(q) == 1);
        CHECK(dfr_queue_put(q, dfr_i64(3)) == DFR_EOVERFLOW);
        dfr_deferred *e = dfr_queue_get(q);
        CHECK(test::state(e) == "i64 2");
        dfr_deferred_unref(d);
        dfr_deferred_unref(e);
        dfr_queue_free(q);
    }
}

// A deferred waiting on another has been called (Twisted: `called` is True,
// its result is the inner deferred): firing it again is AlreadyCalled, and
// the wait goes on untouched.
TEST_CASE("parity: firing a deferred that waits on another is AlreadyCalled", "[parity][chain]")
{
    dfr_deferred *outer = dfr_deferred_new();
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred_add_callback(outer, return_deferred, inner, nullptr);
    REQUIRE(dfr_deferred_callback(outer, dfr_none()) == 0);
    CHECK(dfr_deferred_callback(outer, dfr_i64(1)) == DFR_EALREADY);
    CHECK(dfr_deferred_errback(outer, test::failure(1)) == DFR_EALREADY);
    REQUIRE(dfr_deferred_callback(inner, dfr_i64(2)) == 0);
    CHECK(test::state(outer) == "i64 2");
    dfr_deferred_unref(outer);
    dfr_deferred_unref(inner);
}

// chainDeferred into a deferred that is itself waiting on another: the
// target was called already, so the source's result becomes AlreadyCalled.
TEST_CASE("parity: chainDeferred into a waiting deferred", "[parity][chain]")
{
    dfr_deferred *a = dfr_deferred_new();
    dfr_deferred *b = dfr_deferred_new();
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred_add_callback(b, return_deferred, inner, nullptr);
    REQUIRE(dfr_deferred_callback(b, dfr_none()) == 0);
    REQUIRE(dfr_deferred_chain(a, b) == 0);
    REQUIRE(dfr_deferred_callback(a, dfr_i64(1)) == 0);
    CHECK(test::state(a) == already);
    dfr_deferred_add_errback(a, swallow, nullptr, nullptr);
    REQUIRE(dfr_deferred_callback(inner, dfr_i64(2)) == 0);
    CHECK(test::state(b) == "i64 2");
    for (dfr_deferred *d : {a, b, inner})
        dfr_deferred_unref(d);
}

// Two sources chained into one target: the second to fire gets AlreadyCalled.
TEST_CASE("parity: two chainDeferred sources into one target", "[parity][chain]")
{
    dfr_deferred *a1 = dfr_deferred_new();
    dfr_deferred *a2 = dfr_deferred_new();
    dfr_deferred *b = dfr_deferred_new();
    REQUIRE(dfr_deferred_chain(a1, b) == 0);
    REQUIRE(dfr_deferred_chain(a2, b) == 0);
    REQUIRE(dfr_deferred_callback(a2, dfr_i64(2)) == 0);
    REQUIRE(dfr_deferred_callback(a1, dfr_i64(1)) == 0);
    CHECK(test::state(b) == "i64 2");
    CHECK(test::state(a2) == "none");
    CHECK(test::state(a1) == already);
    dfr_deferred_add_errback(a1, swallow, nullptr, nullptr);
    for (dfr_deferred *d : {a1, a2, b})
        dfr_deferred_unref(d);
}

// An outer cancelled while it waits: the cancel went to the inner (which
// swallows one late result), not to the outer, so firing the outer now is
// AlreadyCalled.
TEST_CASE("parity: firing an outer after its wait was cancelled is AlreadyCalled", "[parity][cancel]")
{
    dfr_deferred *outer = dfr_deferred_new();
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred_add_callback(outer, return_deferred, inner, nullptr);
    REQUIRE(dfr_deferred_callback(outer, dfr_none()) == 0);
    dfr_deferred_cancel(outer);
    CHECK(test::state(outer) == cancelled);
    CHECK(dfr_deferred_callback(outer, dfr_i64(1)) == DFR_EALREADY);
    CHECK(test::state(outer) == cancelled);
    dfr_deferred_add_errback(outer, swallow, nullptr, nullptr);
    dfr_deferred_unref(outer);
    dfr_deferred_unref(inner);
}

// An outer waiting on a paused inner that already has its result (not
// stolen, test_chainedPausedDeferredWithResult): cancelling the outer goes
// to the inner, which has a result, so nothing changes; unpausing the inner
// delivers its result.
TEST_CASE("parity: cancelling an outer that waits on a paused inner with a result", "[parity][cancel][pause]")
{
    int cancels = 0;
    struct Count {
        static void cb(dfr_deferred *, void *data) { ++*static_cast<int *>(data); }
    };
    dfr_deferred *inner = dfr_deferred_new_cancellable(Count::cb, &cancels, nullptr);
    REQUIRE(dfr_deferred_callback(inner, dfr_i64(3)) == 0);
    dfr_deferred_pause(inner);
    dfr_deferred *outer = dfr_deferred_new();
    dfr_deferred_add_callback(outer, return_deferred, inner, nullptr);
    REQUIRE(dfr_deferred_callback(outer, dfr_none()) == 0);
    CHECK(dfr_deferred_state(outer) == DFR_PENDING);
    dfr_deferred_cancel(outer);
    CHECK(cancels == 0);
    CHECK(dfr_deferred_state(outer) == DFR_PENDING);
    dfr_deferred_unpause(inner);
    CHECK(test::state(outer) == "i64 3");
    dfr_deferred_unref(outer);
    dfr_deferred_unref(inner);
}

namespace {

struct Pending {
    dfr_deferred *d = nullptr;
    int ran = 0;
};
dfr_value return_pending(void *data)
{
    auto *p = static_cast<Pending *>(data);
    p->ran++;
    p->d = dfr_deferred_new();
    return dfr_value_deferred(dfr_deferred_ref(p->d));
}

} // namespace

// DeferredLock.run is acquire().addCallback(maybeDeferred(f) + release):
// cancelling run's deferred while f's deferred is pending cancels f's
// deferred, and the lock is released.
TEST_CASE("parity: cancelling a lock run while fn's deferred is pending", "[parity][lock][cancel]")
{
    dfr_lock *l = dfr_lock_new();
    Pending p;
    dfr_deferred *run = dfr_lock_run(l, return_pending, &p, nullptr);
    REQUIRE(p.ran == 1);
    CHECK(dfr_lock_locked(l));
    dfr_deferred_cancel(run);
    CHECK(test::state(p.d) == "none");
    CHECK(test::state(run) == cancelled);
    CHECK_FALSE(dfr_lock_locked(l));
    dfr_deferred_add_errback(run, swallow, nullptr, nullptr);
    dfr_deferred_unref(run);
    dfr_deferred_unref(p.d);
    dfr_lock_free(l);
}

// Which failures count as unhandled when everything is dropped, as Twisted
// logs them when the deferreds are collected: a failure an input passes on
// (no consumeErrors) is the input's to handle; one held in a list value is
// not a deferred's result; a list's own FirstError is.
TEST_CASE("parity: unhandled failures around lists and chainDeferred", "[parity][list][unhandled]")
{
    test::UnhandledCapture unhandled;
    SECTION("DeferredList without consumeErrors: the input's failure only")
    {
        dfr_deferred *d = dfr_deferred_new();
        dfr_deferred *dl = dfr_deferred_list(&d, 1, 0);
        dfr_deferred_errback(d, test::failure(1));
        CHECK(dfr_deferred_state(dl) == DFR_SUCCEEDED);
        dfr_deferred_unref(dl);
        dfr_deferred_unref(d);
        CHECK(unhandled.codes == std::vector<int>{1});
    }
    SECTION("DeferredList with consumeErrors: none")
    {
        dfr_deferred *d = dfr_deferred_new();
        dfr_deferred *dl = dfr_deferred_list(&d, 1, DFR_CONSUME_ERRORS);
        dfr_deferred_errback(d, test::failure(1));
        dfr_deferred_unref(dl);
        dfr_deferred_unref(d);
        CHECK(unhandled.count() == 0);
    }
    SECTION("gatherResults without consumeErrors: the input's and the FirstError")
    {
        dfr_deferred *d = dfr_deferred_new();
        dfr_deferred *g = dfr_gather_results(&d, 1, false);
        dfr_deferred_errback(d, test::failure(1));
        dfr_deferred_unref(g);
        dfr_deferred_unref(d);
        CHECK(unhandled.count() == 2);
    }
    SECTION("gatherResults with consumeErrors: the FirstError only")
    {
        dfr_deferred *d = dfr_deferred_new();
        dfr_deferred *g = dfr_gather_results(&d, 1, true);
        dfr_deferred_errback(d, test::failure(1));
        dfr_deferred_unref(g);
        dfr_deferred_unref(d);
        CHECK(unhandled.codes == std::vector<int>{DFR_EFIRST});
    }
    SECTION("chainDeferred: the target's failure only")
    {
        dfr_deferred *a = dfr_deferred_new();
        dfr_deferred *b = dfr_deferred_new();
        dfr_deferred_chain(a, b);
        dfr_deferred_errback(a, test::failure(1));
        CHECK(test::state(a) == "none");
        dfr_deferred_unref(a);
        dfr_deferred_unref(b);
        CHECK(unhandled.codes == std::vector<int>{1});
    }
}

namespace {

struct Canceller2 {
    dfr_deferred *victim;
};
dfr_value cancel_victim(dfr_value v, void *data)
{
    dfr_deferred_cancel(static_cast<Canceller2 *>(data)->victim);
    return v;
}

} // namespace

// DeferredSemaphore.release fires the first waiter; that waiter's callback
// cancels the next waiter, which leaves the queue: the following release
// goes to the third.
TEST_CASE("parity: a semaphore waiter's callback cancels the next waiter", "[parity][semaphore][cancel]")
{
    dfr_semaphore *s = dfr_semaphore_new(1);
    dfr_deferred *held = dfr_semaphore_acquire(s);
    dfr_deferred *w1 = dfr_semaphore_acquire(s);
    dfr_deferred *w2 = dfr_semaphore_acquire(s);
    dfr_deferred *w3 = dfr_semaphore_acquire(s);
    Canceller2 c{w2};
    dfr_deferred_add_callback(w1, cancel_victim, &c, nullptr);
    REQUIRE(dfr_semaphore_release(s) == 0);
    CHECK(dfr_deferred_state(w1) == DFR_SUCCEEDED);
    CHECK(test::state(w2) == cancelled);
    CHECK(dfr_semaphore_waiting(s) == 1);
    REQUIRE(dfr_semaphore_release(s) == 0);
    CHECK(dfr_deferred_state(w3) == DFR_SUCCEEDED);
    REQUIRE(dfr_semaphore_release(s) == 0);
    CHECK(dfr_semaphore_tokens(s) == 1);
    dfr_deferred_add_errback(w2, swallow, nullptr, nullptr);
    for (dfr_deferred *d : {held, w1, w2, w3})
        dfr_deferred_unref(d);
    dfr_semaphore_free(s);
}

namespace {

dfr_value free_lock(dfr_value v, void *data)
{
    dfr_lock_free(static_cast<dfr_lock *>(data));
    return v;
}
dfr_value free_queue(dfr_value v, void *data)
{
    dfr_queue_free(static_cast<dfr_queue *>(data));
    return v;
}

} // namespace

// Freeing the object from a callback its own hand-over fired: the other
// waiters fail with DFR_ECANCELLED and nothing is touched afterwards.
TEST_CASE("parity: a lock or queue freed from a callback it fired", "[parity][lock][queue][free]")
{
    SECTION("lock")
    {
        dfr_lock *l = dfr_lock_new();
        dfr_deferred *held = dfr_lock_acquire(l);
        dfr_deferred *w1 = dfr_lock_acquire(l);
        dfr_deferred *w2 = dfr_lock_acquire(l);
        dfr_deferred_add_callback(w1, free_lock, l, nullptr);
        REQUIRE(dfr_lock_release(l) == 0);
        CHECK(dfr_deferred_state(w1) == DFR_SUCCEEDED);
        CHECK(test::state(w2) == cancelled);
        dfr_deferred_add_errback(w2, swallow, nullptr, nullptr);
        for (dfr_deferred *d : {held, w1, w2})
            dfr_deferred_unref(d);
    }
    SECTION("queue")
    {
        dfr_queue *q = dfr_queue_new(DFR_UNLIMITED, DFR_UNLIMITED);
        dfr_deferred *g1 = dfr_queue_get(q);
        dfr_deferred *g2 = dfr_queue_get(q);
        dfr_deferred_add_callback(g1, free_queue, q, nullptr);
        REQUIRE(dfr_queue_put(q, dfr_i64(1)) == 0);
        CHECK(test::state(g1) == "i64 1");
        CHECK(test::state(g2) == cancelled);
        dfr_deferred_add_errback(g2, swallow, nullptr, nullptr);
        dfr_deferred_unref(g1);
        dfr_deferred_unref(g2);
    }
}

namespace {

struct ListHolder {
    dfr_deferred *list = nullptr;
};
dfr_value cancel_list(dfr_value v, void *data)
{
    dfr_deferred_cancel(static_cast<ListHolder *>(data)->list);
    return v;
}

} // namespace

// An input's own callback (added before the list) cancels the list: the
// other inputs are cancelled and the list fires from their results.
TEST_CASE("parity: an input's callback cancels its DeferredList", "[parity][list][cancel]")
{
    ListHolder h;
    dfr_deferred *a = dfr_deferred_new();
    dfr_deferred *b = dfr_deferred_new();
    dfr_deferred_add_callback(a, cancel_list, &h, nullptr);
    dfr_deferred *ds[2] = {a, b};
    h.list = dfr_deferred_list(ds, 2, DFR_CONSUME_ERRORS);
    REQUIRE(dfr_deferred_callback(a, dfr_i64(1)) == 0);
    REQUIRE(dfr_deferred_state(h.list) == DFR_SUCCEEDED);
    dfr_list *l = dfr_list_from(dfr_deferred_result(h.list));
    CHECK(test::is_i64(dfr_list_get(l, 0), 1));
    CHECK_FALSE(dfr_list_ok(l, 1));
    CHECK(test::code_of(dfr_list_get(l, 1)) == DFR_ECANCELLED);
    for (dfr_deferred *d : {a, b, h.list})
        dfr_deferred_unref(d);
}

namespace {

struct Pair {
    dfr_deferred *d1, *d2;
};
dfr_value fire_d2(dfr_value v, void *data)
{
    auto *p = static_cast<Pair *>(data);
    dfr_value_drop(v);
    CHECK(dfr_deferred_callback(p->d2, dfr_none()) == 0);
    return dfr_i64(10);
}
dfr_value add_one(dfr_value v, void *)
{
    return dfr_i64(v.u.i64 + 1);
}

} // namespace

// A callback returning a deferred whose own callbacks are running (further
// up the stack): Twisted takes the value that deferred's running callback was
// given (and that callback's return then replaces it), a snapshot in the
// middle of its chain.  We do not take a result from a running deferred:
// the callback's deferred waits for the end of the other's chain
// (docs/design.md, "Where we differ from Twisted").
TEST_CASE("parity: returning a deferred whose callbacks are running waits for its final result",
          "[parity][chain]")
{
    dfr_deferred *d1 = dfr_deferred_new();
    dfr_deferred *d2 = dfr_deferred_new();
    Pair p{d1, d2};
    dfr_deferred_add_callback(d1, fire_d2, &p, nullptr);
    dfr_deferred_add_callback(d1, add_one, nullptr, nullptr);
    dfr_deferred_add_callback(d2, return_deferred, d1, nullptr);
    REQUIRE(dfr_deferred_callback(d1, dfr_i64(0)) == 0);
    CHECK(test::state(d2) == "i64 11");
    CHECK(test::state(d1) == "none");
    dfr_deferred_unref(d1);
    dfr_deferred_unref(d2);
}

// Cancelling a gatherResults whose input is another gatherResults: the
// cancel goes down to the innermost inputs, and the outer fails with a
// FirstError (index 0) whose cause is the inner FirstError of the
// CancelledError.
TEST_CASE("parity: cancelling nested gatherResults", "[parity][list][cancel]")
{
    test::UnhandledCapture unhandled;
    dfr_deferred *a = dfr_deferred_new();
    dfr_deferred *b = dfr_deferred_new();
    dfr_deferred *g1 = dfr_gather_results(&a, 1, false);
    dfr_deferred *outer_in[2] = {g1, b};
    dfr_deferred *g = dfr_gather_results(outer_in, 2, false);
    dfr_deferred_cancel(g);
    REQUIRE(test::result_code(g) == DFR_EFIRST);
    const dfr_failure *f = dfr_failure_from(dfr_deferred_result(g));
    CHECK(dfr_failure_index(f) == 0);
    const dfr_failure *inner = dfr_failure_cause(f);
    CHECK(dfr_failure_code(inner) == DFR_EFIRST);
    CHECK(dfr_failure_index(inner) == 0);
    CHECK(dfr_failure_code(dfr_failure_cause(inner)) == DFR_ECANCELLED);
    CHECK(test::result_code(b) == DFR_ECANCELLED);
    for (dfr_deferred *d : {a, b, g1, g}) {
        dfr_deferred_add_errback(d, swallow, nullptr, nullptr);
        dfr_deferred_unref(d);
    }
    CHECK(unhandled.count() == 0);
}

// An outer waiting on an inner, paused by the user, then cancelled: the
// cancel reaches the inner, whose CancelledError reaches the outer, where
// the errbacks wait for the unpause.
TEST_CASE("parity: cancelling a paused outer that waits on an inner", "[parity][cancel][pause]")
{
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred *outer = dfr_deferred_new();
    dfr_deferred_add_callback(outer, return_deferred, inner, nullptr);
    REQUIRE(dfr_deferred_callback(outer, dfr_none()) == 0);
    REQUIRE(dfr_deferred_pause(outer) == 0);
    dfr_deferred_cancel(outer);
    Recorder r;
    dfr_deferred_add_errback(outer, record_and_handle, &r, nullptr);
    CHECK(r.seen.empty());
    CHECK(dfr_deferred_paused(outer) == 1);
    REQUIRE(dfr_deferred_unpause(outer) == 0);
    CHECK(r.seen == std::vector<std::string>{cancelled});
    dfr_deferred_unref(outer);
    dfr_deferred_unref(inner);
}

namespace {

void callback_x(dfr_deferred *d, void *) { dfr_deferred_callback(d, dfr_i64(88)); }

} // namespace

// Cancelling a fireOnOneCallback list cancels the inputs in order; an input
// whose canceller answers with a success fires the list with (value, index).
TEST_CASE("parity: cancelling a fireOnOneCallback list whose input's canceller succeeds", "[parity][list][cancel]")
{
    dfr_deferred *y = dfr_deferred_new();
    dfr_deferred *x = dfr_deferred_new_cancellable(callback_x, nullptr, nullptr);
    dfr_deferred *ds[2] = {y, x};
    dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_FIRE_ON_ONE_CALLBACK);
    dfr_deferred_cancel(dl);
    REQUIRE(dfr_deferred_state(dl) == DFR_SUCCEEDED);
    dfr_list *l = dfr_list_from(dfr_deferred_result(dl));
    REQUIRE(dfr_list_len(l) == 2);
    CHECK(test::is_i64(dfr_list_get(l, 0), 88));
    CHECK(test::is_i64(dfr_list_get(l, 1), 1));
    CHECK(test::result_code(y) == DFR_ECANCELLED);
    dfr_deferred_add_errback(y, swallow, nullptr, nullptr);
    for (dfr_deferred *d : {x, y, dl})
        dfr_deferred_unref(d);
}

// A fireOnOneCallback list over inputs that have all fired already fires
// while it is being made, with the first success, and still attaches to the
// inputs after it: a later failed input is consumed under consumeErrors.
TEST_CASE("parity: a fire-on-one list made over fired inputs", "[parity][list]")
{
    dfr_deferred *a = dfr_succeed(dfr_i64(1));
    dfr_deferred *b = dfr_fail(test::failure(2));
    dfr_deferred *ds[2] = {a, b};
    dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_FIRE_ON_ONE_CALLBACK | DFR_CONSUME_ERRORS);
    REQUIRE(dfr_deferred_state(dl) == DFR_SUCCEEDED);
    dfr_list *l = dfr_list_from(dfr_deferred_result(dl));
    CHECK(test::is_i64(dfr_list_get(l, 0), 1));
    CHECK(test::is_i64(dfr_list_get(l, 1), 0));
    CHECK(test::state(a) == "i64 1");
    CHECK(test::state(b) == "none");
    for (dfr_deferred *d : {a, b, dl})
        dfr_deferred_unref(d);
}

namespace {

// o1 waits on o2, which waits on o3 (all pending).
struct Three {
    dfr_deferred *o1 = dfr_deferred_new(), *o2 = dfr_deferred_new(), *o3 = dfr_deferred_new();
    Three()
    {
        dfr_deferred_add_callback(o1, return_deferred, o2, nullptr);
        dfr_deferred_add_callback(o2, return_deferred, o3, nullptr);
        dfr_deferred_callback(o2, dfr_none());
        dfr_deferred_callback(o1, dfr_none());
    }
    ~Three()
    {
        for (dfr_deferred *d : {o1, o2, o3})
            dfr_deferred_unref(d);
    }
};

} // namespace

// Pauses along a chain of three waits: a paused middle holds the result
// until unpaused, then it goes on to the outermost; a paused outermost
// keeps it for its own callbacks until unpaused.
TEST_CASE("parity: pauses along a chain of three waits", "[parity][chain][pause]")
{
    Three t;
    SECTION("the middle paused")
    {
        dfr_deferred_pause(t.o2);
        dfr_deferred_callback(t.o3, dfr_i64(5));
        CHECK(dfr_deferred_state(t.o1) == DFR_PENDING);
        dfr_deferred_unpause(t.o2);
        CHECK(test::state(t.o1) == "i64 5");
        CHECK(test::state(t.o2) == "none");
    }
    SECTION("the outermost paused")
    {
        dfr_deferred_pause(t.o1);
        dfr_deferred_callback(t.o3, dfr_i64(5));
        Recorder r;
        dfr_deferred_add_callback(t.o1, record, &r, nullptr);
        CHECK(r.seen.empty());
        dfr_deferred_unpause(t.o1);
        CHECK(r.seen == std::vector<std::string>{"i64 5"});
        CHECK(test::state(t.o2) == "none");
    }
}
