// addTimeout and deferLater on the manual clock (behaviours S39, S52),
// ported from twisted/test/test_defer.py (DeferredAddTimeoutTests) and
// twisted/test/test_task.py (DeferLaterTests).  The *Custom variants of
// Twisted's tests (onTimeoutCancel) use dfr_deferred_add_timeout_with.
#include <catch2/catch.hpp>

#include "reactor_support.h"
#include "recorder.h"
#include "support.h"

#include <cmath>
#include <limits>
#include <string>
#include <thread>

using test::Clock;
using test::Recorder;

namespace {

const std::string timed_out = test::fail_text(DFR_DOMAIN, DFR_ETIMEDOUT);
const std::string cancelled = test::fail_text(DFR_DOMAIN, DFR_ECANCELLED);

// Remembers the failure object (and its message) an errback saw; handles it.
// The pointer is only compared, never followed, after the errback.
struct FailureSeen {
    const dfr_failure *f = nullptr;
    std::string domain, message;
    int code = 0;
    int calls = 0;
};

dfr_value see_failure(dfr_value v, void *data)
{
    auto *s = static_cast<FailureSeen *>(data);
    s->calls++;
    s->f = dfr_failure_from(&v);
    s->domain = dfr_failure_domain(s->f);
    s->code = dfr_failure_code(s->f);
    s->message = dfr_failure_message(s->f);
    dfr_value_drop(v);
    return dfr_none();
}

// A callback returning (a new reference to) the deferred in data.
dfr_value return_inner(dfr_value v, void *data)
{
    dfr_value_drop(v);
    return dfr_value_deferred(dfr_deferred_ref(static_cast<dfr_deferred *>(data)));
}

} // namespace

// test_defer.py test_timedOut; S39 first bullet (TimeoutError(10, "Deferred")).
TEST_CASE("S39 addTimeout fires DFR_ETIMEDOUT at the deadline, not before", "[later][S39]")
{
    Clock c;
    dfr_deferred *d = dfr_deferred_new();
    REQUIRE(dfr_deferred_add_timeout(d, c.r, 10) == 0);
    CHECK(dfr_reactor_pending_calls(c.r) == 1);
    FailureSeen eb;
    SECTION("step by step")
    {
        c.advance(9.999);
        CHECK(dfr_deferred_state(d) == DFR_PENDING);
        c.advance(0.001);
    }
    SECTION("overshooting")
    {
        c.advance(15);
    }
    REQUIRE(dfr_deferred_state(d) == DFR_FAILED);
    dfr_deferred_add_errback(d, see_failure, &eb, nullptr);
    REQUIRE(eb.calls == 1);
    CHECK(eb.domain == DFR_DOMAIN);
    CHECK(eb.code == DFR_ETIMEDOUT);
    CHECK(eb.message.find("10") != std::string::npos); // says how long it waited
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    dfr_deferred_unref(d);
}

// test_defer.py test_timeoutChainable.
TEST_CASE("S39 callbacks added after addTimeout chain as usual", "[later][S39]")
{
    Clock c;
    Recorder r;
    dfr_deferred *d = dfr_deferred_new();
    REQUIRE(dfr_deferred_add_timeout(d, c.r, 5) == 0);
    dfr_deferred_add_callback(d, [](dfr_value v, void *) -> dfr_value {
        dfr_value_drop(v);
        return dfr_bytes_new("done", 4);
    }, nullptr, nullptr);
    dfr_deferred_add_callback(d, test::record, &r, nullptr);
    dfr_deferred_callback(d, dfr_none());
    CHECK(r.seen == std::vector<std::string>{"bytes done"});
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    c.advance(10);
    CHECK(test::state(d) == "bytes done");
    dfr_deferred_unref(d);
}

// test_defer.py test_timedOutProvidedCancelSuccess,
// test_timedOutProvidedCancelFailure: the canceller's own result wins, and
// its failure is passed on as the same object.
TEST_CASE("S39 a canceller's own result wins over the timeout", "[later][S39]")
{
    Clock c;
    SECTION("the canceller calls back")
    {
        Recorder r;
        dfr_deferred *d = dfr_deferred_new_cancellable([](dfr_deferred *x, void *) {
            dfr_deferred_callback(x, dfr_bytes_new("I was cancelled!", 16));
        }, nullptr, nullptr);
        dfr_deferred_add_timeout(d, c.r, 10);
        dfr_deferred_add_both(d, test::record_and_handle, &r, nullptr);
        c.advance(15);
        CHECK(r.seen == std::vector<std::string>{"bytes I was cancelled!"});
        dfr_deferred_unref(d);
    }
    SECTION("the canceller errbacks: the very same failure arrives")
    {
        dfr_failure *mine = test::failure(7, "what!");
        FailureSeen eb;
        dfr_deferred *d = dfr_deferred_new_cancellable([](dfr_deferred *x, void *data) {
            dfr_deferred_errback(x, dfr_failure_ref(static_cast<dfr_failure *>(data)));
        }, mine, nullptr);
        dfr_deferred_add_timeout(d, c.r, 10);
        dfr_deferred_add_errback(d, see_failure, &eb, nullptr);
        c.advance(15);
        REQUIRE(eb.calls == 1);
        CHECK(eb.f == mine);
        CHECK(eb.message == "what!");
        dfr_deferred_unref(d);
        dfr_failure_unref(mine);
    }
    SECTION("a canceller that does nothing: the default cancel becomes the timeout")
    {
        Recorder r;
        dfr_deferred *d = dfr_deferred_new_cancellable([](dfr_deferred *, void *) {}, nullptr, nullptr);
        dfr_deferred_add_timeout(d, c.r, 10);
        dfr_deferred_add_both(d, test::record_and_handle, &r, nullptr);
        c.advance(10);
        CHECK(r.seen == std::vector<std::string>{timed_out});
        // With a canceller, a late fire is an error (Twisted: AlreadyCalledError).
        CHECK(dfr_deferred_callback(d, dfr_i64(1)) == DFR_EALREADY);
        CHECK(r.seen.size() == 1);
        dfr_deferred_unref(d);
    }
    SECTION("no canceller: the operation's late result is silently dropped once")
    {
        Recorder r;
        dfr_deferred *d = dfr_deferred_new();
        dfr_deferred_add_timeout(d, c.r, 10);
        dfr_deferred_add_both(d, test::record_and_handle, &r, nullptr);
        c.advance(10);
        CHECK(r.seen == std::vector<std::string>{timed_out});
        CHECK(dfr_deferred_callback(d, dfr_i64(1)) == 0);
        CHECK(dfr_deferred_callback(d, dfr_i64(2)) == DFR_EALREADY);
        CHECK(r.seen.size() == 1);
        dfr_deferred_unref(d);
    }
}

// test_defer.py test_successResultBeforeTimeout, test_failureBeforeTimeout:
// fired before the timeout, the timer goes, and later waits on an inner
// deferred are never cancelled by it.
TEST_CASE("S39 fired before the timeout: the timer goes; an inner wait is not cancelled", "[later][S39]")
{
    Clock c;
    bool fail = GENERATE(false, true);
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred_add_timeout(d, c.r, 10);
    struct Ctx {
        dfr_deferred *inner;
        std::string seen;
        const dfr_failure *f = nullptr;
    } ctx{inner, {}};
    auto look = [](dfr_value v, void *data) -> dfr_value {
        auto *x = static_cast<Ctx *>(data);
        x->seen = test::show(v);
        if (dfr_is_failure(v))
            x->f = dfr_failure_from(&v);
        dfr_value_drop(v);
        return dfr_value_deferred(dfr_deferred_ref(x->inner));
    };
    dfr_deferred_add_both(d, look, &ctx, nullptr);
    dfr_failure *mine = test::failure(3, "fail");
    if (fail)
        dfr_deferred_errback(d, dfr_failure_ref(mine));
    else
        dfr_deferred_callback(d, dfr_bytes_new("results", 7));
    CHECK(ctx.seen == (fail ? "fail test 3" : "bytes results"));
    if (fail)
        CHECK(ctx.f == mine);
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    c.advance(15);
    CHECK(dfr_deferred_state(inner) == DFR_PENDING);
    CHECK(dfr_deferred_state(d) == DFR_PENDING); // waiting on inner
    dfr_deferred_callback(inner, dfr_none());
    CHECK(test::state(d) == "none");
    dfr_failure_unref(mine);
    dfr_deferred_unref(d);
    dfr_deferred_unref(inner);
}

// test_defer.py test_cancelBeforeTimeout.
TEST_CASE("S39 a manual cancel before the timeout stays DFR_ECANCELLED", "[later][S39]")
{
    Clock c;
    Recorder eb;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_timeout(d, c.r, 10);
    dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
    dfr_deferred_cancel(d);
    CHECK(eb.seen == std::vector<std::string>{cancelled});
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    c.advance(15);
    CHECK(eb.seen.size() == 1);
    dfr_deferred_unref(d);
}

// test_defer.py test_errbackAddedBeforeTimeout,
// test_errbackAddedBeforeTimeoutSuppressesCancellation.
TEST_CASE("S39 an errback added before addTimeout sees DFR_ECANCELLED", "[later][S39]")
{
    Clock c;
    bool trap = GENERATE(false, true);
    Recorder early, late;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_errback(d, trap ? test::record_and_handle : test::record, &early, nullptr);
    dfr_deferred_add_timeout(d, c.r, 10);
    dfr_deferred_add_both(d, test::record_and_handle, &late, nullptr);
    c.advance(10);
    CHECK(early.seen == std::vector<std::string>{cancelled});
    CHECK(late.seen == std::vector<std::string>{trap ? "none" : timed_out});
    dfr_deferred_unref(d);
}

// A deferred that waits on an inner one when the timeout comes: the cancel
// reaches the inner, and the outer reports the timeout.
TEST_CASE("S39 the timeout cancels the inner deferred the outer waits on", "[later][S39]")
{
    Clock c;
    Recorder inner_seen, outer_seen;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred_add_errback(inner, test::record, &inner_seen, nullptr);
    dfr_deferred_add_callback(d, return_inner, inner, nullptr);
    dfr_deferred_callback(d, dfr_none());
    REQUIRE(dfr_deferred_add_timeout(d, c.r, 5) == 0);
    dfr_deferred_add_both(d, test::record_and_handle, &outer_seen, nullptr);
    c.advance(5);
    CHECK(inner_seen.seen == std::vector<std::string>{cancelled});
    CHECK(outer_seen.seen == std::vector<std::string>{timed_out});
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    dfr_deferred_unref(d);
    dfr_deferred_unref(inner);
}

TEST_CASE("S39 addTimeout on a fired deferred, twice, and with 0 seconds", "[later][S39]")
{
    Clock c;
    SECTION("already fired: nothing changes, no timer is left")
    {
        dfr_deferred *d = dfr_succeed(dfr_i64(4));
        REQUIRE(dfr_deferred_add_timeout(d, c.r, 1) == 0);
        CHECK(dfr_reactor_pending_calls(c.r) == 0);
        c.advance(2);
        CHECK(test::state(d) == "i64 4");
        dfr_deferred_unref(d);
    }
    SECTION("two timeouts: the earlier wins, the later timer goes")
    {
        Recorder r;
        dfr_deferred *d = dfr_deferred_new();
        dfr_deferred_add_timeout(d, c.r, 20);
        dfr_deferred_add_timeout(d, c.r, 10);
        CHECK(dfr_reactor_pending_calls(c.r) == 2);
        dfr_deferred_add_both(d, test::record_and_handle, &r, nullptr);
        c.advance(10);
        CHECK(r.seen == std::vector<std::string>{timed_out});
        CHECK(dfr_reactor_pending_calls(c.r) == 0);
        c.advance(20);
        CHECK(r.seen.size() == 1);
        dfr_deferred_unref(d);
    }
    SECTION("0 seconds: on the next pass, not at once")
    {
        Recorder r;
        dfr_deferred *d = dfr_deferred_new();
        REQUIRE(dfr_deferred_add_timeout(d, c.r, 0) == 0);
        dfr_deferred_add_both(d, test::record_and_handle, &r, nullptr);
        CHECK(r.seen.empty());
        c.advance(0);
        CHECK(r.seen == std::vector<std::string>{timed_out});
        dfr_deferred_unref(d);
    }
}

namespace {

// onTimeoutCancel: records what it was given and answers "OVERRIDDEN".
struct Override {
    int calls = 0;
    int destroyed = 0;
    std::string seen;
};

dfr_value override_fn(dfr_value v, void *data)
{
    auto *o = static_cast<Override *>(data);
    o->calls++;
    o->seen = test::show(v);
    dfr_value_drop(v);
    return dfr_bytes_new("OVERRIDDEN", 10);
}

void override_destroy(void *data) { static_cast<Override *>(data)->destroyed++; }

int add_override(dfr_deferred *d, dfr_reactor *r, double seconds, Override &o)
{
    return dfr_deferred_add_timeout_with(d, r, seconds, override_fn, &o, override_destroy);
}

dfr_value cancel_with_value(dfr_deferred *d, void *)
{
    dfr_deferred_callback(d, dfr_bytes_new("success", 7));
    return dfr_none();
}

} // namespace

// test_timedOutCustom: what onTimeoutCancel returns is the result, even a
// success.
TEST_CASE("S39 addTimeout_with: a timeout gives on_timeout's result", "[later][S39][custom]")
{
    Clock c;
    Override o;
    dfr_deferred *d = dfr_deferred_new();
    REQUIRE(add_override(d, c.r, 10, o) == 0);
    c.advance(9);
    CHECK(o.calls == 0);
    c.advance(6);
    CHECK(o.calls == 1);
    CHECK(o.seen == cancelled); // what the timeout's cancel made
    CHECK(test::state(d) == "bytes OVERRIDDEN");
    CHECK(o.destroyed == 1); // the entries ran: the chain let them go
    dfr_deferred_unref(d);
    CHECK(o.destroyed == 1);
}

// test_successResultBeforeTimeoutCustom, test_failureBeforeTimeoutCustom,
// test_cancelBeforeTimeoutCustom: on_timeout runs only for a timeout.
TEST_CASE("S39 addTimeout_with: fired or cancelled first, on_timeout never runs", "[later][S39][custom]")
{
    Clock c;
    Override o;
    dfr_deferred *d = dfr_deferred_new();
    REQUIRE(add_override(d, c.r, 10, o) == 0);
    std::string want;
    SECTION("a success")
    {
        dfr_deferred_callback(d, dfr_bytes_new("a result", 8));
        want = "bytes a result";
    }
    SECTION("a failure")
    {
        dfr_deferred_errback(d, test::failure(7));
        want = test::state(d);
        dfr_deferred_add_errback(d, test::swallow, nullptr, nullptr);
        want = "none";
    }
    SECTION("cancelled by the user")
    {
        dfr_deferred_cancel(d);
        CHECK(test::state(d) == cancelled);
        dfr_deferred_add_errback(d, test::swallow, nullptr, nullptr);
        want = "none";
    }
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    c.advance(15);
    CHECK(o.calls == 0);
    CHECK(test::state(d) == want);
    dfr_deferred_unref(d);
    CHECK(o.destroyed == 1);
}

// test_providedCancelCalledBeforeTimeoutCustom,
// test_callbackAddedToCancelerBeforeTimeoutCustom,
// test_errbackAddedBeforeTimeout(SuppressesCancellation)Custom: on_timeout
// gets whatever the chain holds when the timeout cancelled it.
TEST_CASE("S39 addTimeout_with: on_timeout gets what the chain made of the cancel", "[later][S39][custom]")
{
    Clock c;
    Override o;
    dfr_deferred *d = nullptr;
    std::string want_seen;
    SECTION("a canceller that calls back")
    {
        d = dfr_deferred_new_cancellable(
            [](dfr_deferred *dd, void *) { cancel_with_value(dd, nullptr); }, nullptr, nullptr);
        want_seen = "bytes success";
    }
    SECTION("a canceller that errbacks")
    {
        d = dfr_deferred_new_cancellable(
            [](dfr_deferred *dd, void *) { dfr_deferred_errback(dd, test::failure(3)); }, nullptr,
            nullptr);
        dfr_deferred *probe = dfr_fail(test::failure(3));
        want_seen = test::state(probe);
        dfr_deferred_add_errback(probe, test::swallow, nullptr, nullptr);
        dfr_deferred_unref(probe);
    }
    SECTION("an errback before the timeout that suppresses the cancel")
    {
        d = dfr_deferred_new();
        dfr_deferred_add_errback(d, test::swallow, nullptr, nullptr);
        want_seen = "none";
    }
    SECTION("an errback before the timeout that passes it on")
    {
        d = dfr_deferred_new();
        dfr_deferred_add_errback(d, [](dfr_value v, void *) { return v; }, nullptr, nullptr);
        want_seen = cancelled;
    }
    REQUIRE(add_override(d, c.r, 10, o) == 0);
    c.advance(15);
    CHECK(o.calls == 1);
    CHECK(o.seen == want_seen);
    CHECK(test::state(d) == "bytes OVERRIDDEN");
    dfr_deferred_unref(d);
    CHECK(o.destroyed == 1);
}

// No Twisted counterpart (C ownership): destroy runs once on every path,
// refusals included; NULL on_timeout is the plain addTimeout.
TEST_CASE("S39 addTimeout_with: destroy once on every path; NULL on_timeout; bad input",
          "[later][S39][custom][bad-input]")
{
    Clock c;
    Override o;
    dfr_deferred *d = dfr_deferred_new();
    CHECK(add_override(nullptr, c.r, 1, o) == DFR_EINVAL);
    CHECK(add_override(d, nullptr, 1, o) == DFR_EINVAL);
    CHECK(add_override(d, c.r, -1, o) == DFR_EINVAL);
    CHECK(add_override(d, c.r, std::nan(""), o) == DFR_EINVAL);
    int off_thread = 0;
    std::thread([&] { off_thread = add_override(d, c.r, 1, o); }).join();
    CHECK(off_thread == DFR_ENOTOWNER);
    CHECK(o.destroyed == 5);
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    // Freed unfired: the timer stops, destroy runs.
    REQUIRE(add_override(d, c.r, 1, o) == 0);
    dfr_deferred_unref(d);
    CHECK(o.destroyed == 6);
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    // The reactor freed first: the timer is dropped, the entry stays.
    {
        Override p;
        dfr_reactor *r = test::new_reactor(true);
        dfr_deferred *e = dfr_deferred_new();
        REQUIRE(add_override(e, r, 1, p) == 0);
        dfr_reactor_free(r);
        CHECK(p.calls == 0);
        CHECK(dfr_deferred_state(e) == DFR_PENDING);
        dfr_deferred_unref(e);
        CHECK(p.destroyed == 1);
    }
    // NULL on_timeout: DFR_ETIMEDOUT as with dfr_deferred_add_timeout.
    dfr_deferred *f = dfr_deferred_new();
    int destroyed = 0;
    REQUIRE(dfr_deferred_add_timeout_with(f, c.r, 1, nullptr, &destroyed, test::count_destroy) == 0);
    c.advance(1);
    CHECK(test::state(f) == timed_out);
    dfr_deferred_add_errback(f, test::swallow, nullptr, nullptr);
    dfr_deferred_unref(f);
    CHECK(destroyed == 1);
}

// The FFI twin: on_timeout works on the value in place.
TEST_CASE("S39 addTimeout_with_ffi", "[later][S39][custom][ffi]")
{
    Clock c;
    int destroyed = 0;
    dfr_deferred *d = dfr_deferred_new();
    REQUIRE(dfr_deferred_add_timeout_with_ffi(
                d, c.r, 2,
                [](dfr_value *v, void *) {
                    dfr_value_drop(*v);
                    *v = dfr_i64(42);
                },
                &destroyed, test::count_destroy) == 0);
    c.advance(2);
    CHECK(test::state(d) == "i64 42");
    dfr_deferred_unref(d);
    CHECK(destroyed == 1);
    int refused = 0;
    CHECK(dfr_deferred_add_timeout_with_ffi(nullptr, c.r, 1, nullptr, &refused, test::count_destroy) ==
          DFR_EINVAL);
    CHECK(refused == 1);
}

TEST_CASE("S39 freeing the deferred stops its timer; bad input", "[later][S39][bad-input]")
{
    Clock c;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_timeout(d, c.r, 10);
    dfr_deferred_unref(d);
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    c.advance(20);
    CHECK(dfr_deferred_add_timeout(nullptr, c.r, 1) == DFR_EINVAL);
    dfr_deferred *e = dfr_deferred_new();
    for (double bad : {-1.0, std::nan(""), std::numeric_limits<double>::infinity()})
        CHECK(dfr_deferred_add_timeout(e, c.r, bad) == DFR_EINVAL);
    CHECK(dfr_deferred_add_timeout(e, nullptr, 1) == DFR_EINVAL);
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    dfr_deferred_callback(e, dfr_none());
    CHECK(test::state(e) == "none"); // untouched by the refused calls
    dfr_deferred_unref(e);
}

// test_task.py DeferLaterTests test_callback.
TEST_CASE("S52 deferLater runs fn at the due time and fires with its result", "[later][S52]")
{
    Clock c;
    struct Ctx {
        int calls = 0;
        int destroyed = 0;
    } ctx;
    Recorder r;
    dfr_deferred *d = dfr_reactor_defer_later(c.r, 3, [](void *data) -> dfr_value {
        auto *x = static_cast<Ctx *>(data);
        x->calls++;
        CHECK(x->destroyed == 0);
        return dfr_bytes_new("foo", 3);
    }, &ctx, [](void *data) { static_cast<Ctx *>(data)->destroyed++; });
    REQUIRE(d != nullptr);
    dfr_deferred_add_callback(d, test::record, &r, nullptr);
    c.advance(2);
    CHECK(ctx.calls == 0);
    CHECK(dfr_deferred_state(d) == DFR_PENDING);
    c.advance(1);
    CHECK(ctx.calls == 1);
    CHECK(ctx.destroyed == 1);
    CHECK(r.seen == std::vector<std::string>{"bytes foo"});
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
    c.advance(10);
    CHECK(ctx.calls == 1);
    dfr_deferred_unref(d);
}

// test_task.py DeferLaterTests test_errback, test_cancel, test_noCallback;
// a deferred from fn chains.
TEST_CASE("S52 deferLater: failures, cancel, no fn, and a deferred from fn", "[later][S52]")
{
    Clock c;
    Recorder r;
    SECTION("a failing fn")
    {
        dfr_deferred *d = dfr_reactor_defer_later(c.r, 1, [](void *) -> dfr_value {
            return dfr_value_failure(test::failure(3));
        }, nullptr, nullptr);
        dfr_deferred_add_errback(d, test::record_and_handle, &r, nullptr);
        c.advance(1);
        CHECK(r.seen == std::vector<std::string>{"fail test 3"});
        dfr_deferred_unref(d);
    }
    SECTION("cancel before the due time: fn never runs, its data goes at once")
    {
        struct Ctx {
            int calls = 0, destroyed = 0;
        } ctx;
        dfr_deferred *d = dfr_reactor_defer_later(c.r, 1, [](void *data) -> dfr_value {
            static_cast<Ctx *>(data)->calls++;
            return dfr_none();
        }, &ctx, [](void *data) { static_cast<Ctx *>(data)->destroyed++; });
        dfr_deferred_add_errback(d, test::record_and_handle, &r, nullptr);
        dfr_deferred_cancel(d);
        CHECK(r.seen == std::vector<std::string>{cancelled});
        CHECK(dfr_reactor_pending_calls(c.r) == 0);
        CHECK(ctx.destroyed == 1);
        c.advance(2);
        CHECK(ctx.calls == 0);
        CHECK(ctx.destroyed == 1);
        dfr_deferred_cancel(d); // again: no effect
        CHECK(r.seen.size() == 1);
        dfr_deferred_unref(d);
    }
    SECTION("no fn: fires with none exactly at the due time")
    {
        int destroyed = 0;
        dfr_deferred *e = dfr_reactor_defer_later(c.r, 2.0, nullptr, &destroyed, test::count_destroy);
        c.advance(1.999);
        CHECK(test::state(e) == "pending");
        c.advance(0.001);
        CHECK(test::state(e) == "none");
        CHECK(destroyed == 1);
        dfr_deferred_unref(e);
    }
    SECTION("fn returns a deferred: the result chains")
    {
        bool fail = GENERATE(false, true);
        dfr_deferred *inner = dfr_deferred_new();
        dfr_deferred *d = dfr_reactor_defer_later(c.r, 1, [](void *data) -> dfr_value {
            return dfr_value_deferred(dfr_deferred_ref(static_cast<dfr_deferred *>(data)));
        }, inner, nullptr);
        dfr_deferred_add_both(d, test::record_and_handle, &r, nullptr);
        c.advance(1);
        CHECK(r.seen.empty());
        if (fail)
            dfr_deferred_errback(inner, test::failure(8));
        else
            dfr_deferred_callback(inner, dfr_i64(6));
        CHECK(r.seen == std::vector<std::string>{fail ? "fail test 8" : "i64 6"});
        dfr_deferred_unref(d);
        dfr_deferred_unref(inner);
    }
    SECTION("cancel while fn's deferred is pending cancels that deferred")
    {
        dfr_deferred *inner = dfr_deferred_new();
        dfr_deferred *d = dfr_reactor_defer_later(c.r, 1, [](void *data) -> dfr_value {
            return dfr_value_deferred(dfr_deferred_ref(static_cast<dfr_deferred *>(data)));
        }, inner, nullptr);
        dfr_deferred_add_both(d, test::record_and_handle, &r, nullptr);
        c.advance(1);
        dfr_deferred_cancel(d);
        CHECK(dfr_deferred_state(inner) != DFR_PENDING); // cancelled; its result went on to d
        CHECK(r.seen == std::vector<std::string>{cancelled});
        dfr_deferred_unref(d);
        dfr_deferred_unref(inner);
    }
    SECTION("delay 0: on the next pass, never synchronously")
    {
        dfr_deferred *d = dfr_reactor_defer_later(c.r, 0, nullptr, nullptr, nullptr);
        CHECK(test::state(d) == "pending");
        c.advance(0);
        CHECK(test::state(d) == "none");
        dfr_deferred_cancel(d); // after firing: no effect
        CHECK(test::state(d) == "none");
        dfr_deferred_unref(d);
    }
}

// Lifetimes: the caller drops the deferred, or the reactor goes first.
TEST_CASE("S52 deferLater: dropped deferred, freed reactor", "[later][S52]")
{
    int destroyed = 0, calls = 0;
    struct Ctx {
        int *calls, *destroyed;
    } ctx{&calls, &destroyed};
    auto fn = [](void *data) -> dfr_value {
        ++*static_cast<Ctx *>(data)->calls;
        return dfr_none();
    };
    auto destroy = [](void *data) { ++*static_cast<Ctx *>(data)->destroyed; };
    SECTION("the caller drops its reference: the call still runs and the callbacks fire")
    {
        // As in Twisted (the reactor holds the DelayedCall, which holds the
        // deferred), and as dfr_reactor_defer_to_thread keeps its deferred.
        Clock c;
        Recorder r;
        dfr_deferred *d = dfr_reactor_defer_later(c.r, 1, fn, &ctx, destroy);
        dfr_deferred_add_callback(d, test::record, &r, nullptr);
        dfr_deferred_unref(d);
        CHECK(dfr_reactor_pending_calls(c.r) == 1);
        c.advance(1);
        CHECK(calls == 1);
        CHECK(destroyed == 1);
        CHECK(r.seen == std::vector<std::string>{"none"});
    }
    SECTION("the reactor is freed first: the deferred fails, fn never runs")
    {
        dfr_deferred *d;
        {
            Clock c;
            d = dfr_reactor_defer_later(c.r, 1, fn, &ctx, destroy);
        }
        // Nothing could ever fire it: it says why, instead of hanging.
        CHECK(test::state(d) == test::fail_text(DFR_DOMAIN, DFR_ENOTRUNNING));
        CHECK(calls == 0);
        CHECK(destroyed == 1);
        Recorder r;
        dfr_deferred_add_errback(d, test::record_and_handle, &r, nullptr);
        dfr_deferred_cancel(d); // a no-op now
        CHECK(r.seen == std::vector<std::string>{test::fail_text(DFR_DOMAIN, DFR_ENOTRUNNING)});
        dfr_deferred_unref(d);
    }
    SECTION("the reactor is freed first, the deferred dropped")
    {
        test::UnhandledCapture u;
        dfr_deferred *d;
        {
            Clock c;
            d = dfr_reactor_defer_later(c.r, 1, fn, &ctx, destroy);
        }
        dfr_deferred_unref(d);
        CHECK(calls == 0);
        CHECK(destroyed == 1);
        // Its DFR_ENOTRUNNING failure was dropped unhandled: reported.
        CHECK(u.codes == std::vector<int>{DFR_ENOTRUNNING});
    }
}

// The common Twisted pattern d.addCallback(lambda _: deferLater(...)): the
// deferLater deferred is referenced only by the chain waiting on it.
TEST_CASE("S52 a deferLater deferred returned from a callback fires and chains", "[later][S52]")
{
    Clock c;
    Recorder r;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_callback(d, [](dfr_value v, void *data) -> dfr_value {
        dfr_value_drop(v);
        dfr_deferred *later = dfr_reactor_defer_later(static_cast<dfr_reactor *>(data), 1, [](void *) -> dfr_value {
            return dfr_i64(3);
        }, nullptr, nullptr);
        return dfr_value_deferred(later);
    }, c.r, nullptr);
    dfr_deferred_add_callback(d, test::record, &r, nullptr);
    dfr_deferred_callback(d, dfr_none());
    CHECK(dfr_reactor_pending_calls(c.r) == 1);
    CHECK(r.seen.empty());
    c.advance(1);
    CHECK(r.seen == std::vector<std::string>{"i64 3"});
    dfr_deferred_unref(d);
}

TEST_CASE("S52 deferLater bad input", "[later][S52][bad-input]")
{
    Clock c;
    int destroyed = 0;
    for (double bad : {-1.0, std::nan(""), std::numeric_limits<double>::infinity()})
        CHECK(test::refused_with(dfr_reactor_defer_later(c.r, bad, nullptr, &destroyed, test::count_destroy),
                                 DFR_EINVAL));
    CHECK(test::refused_with(dfr_reactor_defer_later(nullptr, 1, nullptr, &destroyed, test::count_destroy),
                             DFR_EINVAL));
    CHECK(destroyed == 4);
    CHECK(dfr_reactor_pending_calls(c.r) == 0);
}

TEST_CASE("allocation failures: deferLater, addTimeout, LoopingCall, triggers", "[later][alloc]")
{
    test::for_each_allocation_failure([](long) {
        dfr_reactor *r = test::new_reactor(true);
        if (!r)
            return;
        int destroyed = 0;
        Recorder seen;
        dfr_deferred *later = dfr_reactor_defer_later(r, 1, nullptr, &destroyed, test::count_destroy);
        if (!later)
            CHECK(destroyed == 1);
        dfr_deferred *d = dfr_deferred_new();
        if (d) {
            int rc = dfr_deferred_add_timeout(d, r, 1);
            CHECK((rc == 0 || rc == DFR_ENOMEM));
            dfr_deferred_add_both(d, test::record_and_handle, &seen, nullptr);
        }
        dfr_looping_call *lc = dfr_looping_call_new(r, [](void *) -> dfr_value { return dfr_none(); },
                                                    &destroyed, test::count_destroy);
        dfr_deferred *started = lc ? dfr_looping_call_start(lc, 0.5, true) : nullptr;
        if (started)
            dfr_deferred_add_both(started, test::record_and_handle, &seen, nullptr);
        int trc = dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_SHUTDOWN,
                                               [](void *) -> dfr_value { return dfr_none(); },
                                               &destroyed, test::count_destroy, nullptr);
        CHECK((trc == 0 || trc == DFR_ENOMEM));
        dfr_reactor_advance(r, 1);
        dfr_reactor_advance(r, 1);
        if (later)
            dfr_deferred_add_both(later, test::record_and_handle, &seen, nullptr);
        dfr_looping_call_unref(lc);
        dfr_deferred_unref(started);
        dfr_deferred_unref(later);
        dfr_deferred_unref(d);
        dfr_reactor_free(r);
        CHECK(destroyed == 3); // deferLater's, the LoopingCall's and the trigger's data
    });
}


// ---- extremes and lifetimes (issue 11, defects 4 and 5) ----

TEST_CASE("deferLater and addTimeout at the extremes of time", "[later][extremes]")
{
    const double denormal = std::numeric_limits<double>::denorm_min();
    const double end_of_time = static_cast<double>(INT64_MAX - 1) / 1e9;
    Clock c;
    for (double bad : {-denormal, 1e300, 4.7e9, -std::numeric_limits<double>::infinity()}) {
        CHECK(test::refused_with(dfr_reactor_defer_later(c.r, bad, nullptr, nullptr, nullptr), DFR_EINVAL));
        dfr_deferred *d = dfr_deferred_new();
        CHECK(dfr_deferred_add_timeout(d, c.r, bad) == DFR_EINVAL);
        dfr_deferred_unref(d);
    }
    // Near the end of time: due at the end, not wrapped into the past.
    c.advance(4.6e9);
    c.advance(4.5e9);
    dfr_deferred *later = dfr_reactor_defer_later(c.r, 4.6e9, nullptr, nullptr, nullptr);
    dfr_deferred *d = dfr_deferred_new();
    REQUIRE(dfr_deferred_add_timeout(d, c.r, 4.6e9) == 0);
    dfr_deferred *soon = dfr_reactor_defer_later(c.r, denormal, nullptr, nullptr, nullptr);
    c.advance(0);
    CHECK(test::state(later) == "pending");
    CHECK(test::state(d) == "pending");
    CHECK(test::state(soon) == "none");
    c.advance(4.6e9);
    CHECK(dfr_reactor_seconds(c.r) == end_of_time);
    CHECK(test::state(later) == "none");
    CHECK(test::state(d) == timed_out);
    dfr_deferred_add_errback(d, test::record_and_handle, new Recorder, [](void *p) { delete static_cast<Recorder *>(p); });
    for (dfr_deferred *x : {later, d, soon})
        dfr_deferred_unref(x);
}

TEST_CASE("deferLater: the reactor freed from its own fn", "[later][lifetime]")
{
    struct Ctx {
        dfr_reactor *r;
        int destroyed = 0;
    };
    dfr_reactor_options o = {};
    o.size = sizeof o;
    o.manual_clock = true;
    Ctx ctx{dfr_reactor_new(&o)};
    dfr_deferred *d = dfr_reactor_defer_later(ctx.r, 1, [](void *data) {
        dfr_reactor_free(static_cast<Ctx *>(data)->r);
        return dfr_i64(7);
    }, &ctx, [](void *data) { static_cast<Ctx *>(data)->destroyed++; });
    dfr_deferred *other = dfr_reactor_defer_later(ctx.r, 2, nullptr, nullptr, nullptr);
    dfr_reactor_advance(ctx.r, 1); // r is freed as this returns
    CHECK(test::state(d) == "i64 7");
    CHECK(ctx.destroyed == 1);
    CHECK(test::state(other) == test::fail_text(DFR_DOMAIN, DFR_ENOTRUNNING));
    Recorder seen;
    dfr_deferred_add_errback(other, test::record_and_handle, &seen, nullptr);
    dfr_deferred_unref(other);
    dfr_deferred_unref(d);
}
