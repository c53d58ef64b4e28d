// Cancellation.  TWISTED_BEHAVIOURS S20-S23; twisted/test/test_defer.py
// (test_noCanceller*, test_raisesAfterCancelAnd*, test_canceller*,
// test_cancelAfterCallback, test_cancelNestedDeferred).
#include <catch2/catch.hpp>

#include "recorder.h"
#include "support.h"

using test::Recorder;

namespace {

const std::string cancelled = test::fail_text(DFR_DOMAIN, DFR_ECANCELLED);

struct Canceller {
    int calls = 0;
    dfr_deferred *seen = nullptr;
    enum { NOTHING, CALLBACK, ERRBACK } action = NOTHING;
};

void canceller(dfr_deferred *d, void *data)
{
    auto *c = static_cast<Canceller *>(data);
    c->calls++;
    c->seen = d;
    if (c->action == Canceller::CALLBACK)
        dfr_deferred_callback(d, dfr_bytes_new("hello!", 6));
    else if (c->action == Canceller::ERRBACK)
        dfr_deferred_errback(d, test::failure(1));
}

dfr_value return_deferred(dfr_value v, void *data)
{
    dfr_value_drop(v);
    return dfr_value_deferred(dfr_deferred_ref(static_cast<dfr_deferred *>(data)));
}

} // namespace

TEST_CASE("S20 cancel without a canceller", "[cancel][S20]")
{
    Recorder cb, eb;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_callbacks(d, test::record, test::record_and_handle, &eb, nullptr);
    dfr_deferred_add_callback(d, test::record, &cb, nullptr);
    dfr_deferred_cancel(d);
    CHECK(eb.seen == std::vector<std::string>{cancelled});
    dfr_deferred_cancel(d); // no-op
    CHECK(eb.seen.size() == 1);
    bool with_errback = GENERATE(false, true);
    // The producer's fire is swallowed once, silently...
    if (with_errback)
        CHECK(dfr_deferred_errback(d, test::failure(2)) == 0);
    else
        CHECK(dfr_deferred_callback(d, dfr_i64(1)) == 0);
    // ...and any further fire is DFR_EALREADY.
    CHECK(dfr_deferred_callback(d, dfr_i64(2)) == DFR_EALREADY);
    CHECK(dfr_deferred_errback(d, test::failure(3)) == DFR_EALREADY);
    CHECK(eb.seen.size() == 1);
    dfr_deferred_unref(d);
}

TEST_CASE("S21 a canceller that does not fire", "[cancel][S21]")
{
    Canceller c;
    Recorder eb;
    dfr_deferred *d = dfr_deferred_new_cancellable(canceller, &c, nullptr);
    dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
    dfr_deferred_cancel(d);
    CHECK(c.calls == 1);
    CHECK(c.seen == d);
    CHECK(eb.seen == std::vector<std::string>{cancelled});
    dfr_deferred_cancel(d);
    CHECK(c.calls == 1);
    CHECK(dfr_deferred_callback(d, dfr_none()) == DFR_EALREADY); // nothing swallowed
    CHECK(dfr_deferred_errback(d, test::failure(1)) == DFR_EALREADY);
    dfr_deferred_unref(d);
}

TEST_CASE("S22 a canceller that fires, and cancel after firing", "[cancel][S22]")
{
    SECTION("callbacks")
    {
        Canceller c;
        c.action = Canceller::CALLBACK;
        Recorder cb, eb;
        dfr_deferred *d = dfr_deferred_new_cancellable(canceller, &c, nullptr);
        dfr_deferred_add_callbacks(d, test::record, test::record_and_handle, &cb, nullptr);
        dfr_deferred_cancel(d);
        CHECK(cb.seen == std::vector<std::string>{"bytes hello!"});
        dfr_deferred_unref(d);
    }
    SECTION("errbacks")
    {
        Canceller c;
        c.action = Canceller::ERRBACK;
        Recorder eb;
        dfr_deferred *d = dfr_deferred_new_cancellable(canceller, &c, nullptr);
        dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
        dfr_deferred_cancel(d);
        CHECK(eb.seen == std::vector<std::string>{"fail test 1"});
        dfr_deferred_unref(d);
    }
    SECTION("already fired: the canceller is not called")
    {
        Canceller c;
        dfr_deferred *d = dfr_deferred_new_cancellable(canceller, &c, nullptr);
        dfr_deferred_callback(d, dfr_bytes_new("biff!", 5));
        dfr_deferred_cancel(d);
        CHECK(c.calls == 0);
        CHECK(test::state(d) == "bytes biff!");
        dfr_deferred_unref(d);
    }
}

TEST_CASE("S23 cancel goes to the deferred being waited on", "[cancel][S23]")
{
    Canceller outer_c, inner_c;
    bool inner_fires = GENERATE(false, true);
    if (inner_fires)
        inner_c.action = Canceller::CALLBACK;
    Recorder r;
    dfr_deferred *b = dfr_deferred_new_cancellable(canceller, &inner_c, nullptr);
    dfr_deferred *a = dfr_deferred_new_cancellable(canceller, &outer_c, nullptr);
    dfr_deferred_add_callback(a, return_deferred, b, nullptr);
    dfr_deferred_add_both(a, test::record_and_handle, &r, nullptr);
    dfr_deferred_callback(a, dfr_none());
    dfr_deferred_cancel(a);
    CHECK(outer_c.calls == 0);
    CHECK(inner_c.calls == 1);
    CHECK(r.seen == std::vector<std::string>{inner_fires ? "bytes hello!" : cancelled});
    dfr_deferred_unref(a);
    dfr_deferred_unref(b);
}

TEST_CASE("cancel forwards down a long chain of waits without recursion", "[cancel]")
{
    const int n = 100000;
    std::vector<dfr_deferred *> ds(n);
    for (auto &d : ds)
        d = dfr_deferred_new();
    for (int i = 0; i + 1 < n; i++)
        dfr_deferred_add_callback(ds[i], return_deferred, ds[i + 1], nullptr);
    Recorder r;
    dfr_deferred_add_errback(ds[0], test::record_and_handle, &r, nullptr);
    for (int i = 0; i + 1 < n; i++)
        dfr_deferred_callback(ds[i], dfr_none());
    dfr_deferred_cancel(ds[0]);
    CHECK(r.seen == std::vector<std::string>{cancelled});
    for (auto d : ds)
        dfr_deferred_unref(d);
}

TEST_CASE("the canceller's destroy runs once: at the result, or at free", "[cancel][destroy]")
{
    int destroyed = 0;
    Canceller c;
    dfr_deferred *d = dfr_deferred_new_cancellable(canceller, &c, nullptr);
    dfr_deferred_unref(d);
    dfr_deferred *e = dfr_deferred_new_cancellable([](dfr_deferred *, void *) {}, &destroyed, test::count_destroy);
    dfr_deferred_unref(e);
    CHECK(destroyed == 1);
    dfr_deferred *f = dfr_deferred_new_cancellable([](dfr_deferred *, void *) {}, &destroyed, test::count_destroy);
    Recorder eb;
    dfr_deferred_add_errback(f, test::record_and_handle, &eb, nullptr);
    dfr_deferred_cancel(f);
    CHECK(destroyed == 2);
    dfr_deferred_unref(f);
    CHECK(destroyed == 2);
}
