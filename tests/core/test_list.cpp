// maybeDeferred, DeferredList and gatherResults (behaviours S24-S31, from
// twisted/test/test_defer.py), plus the dfr_list accessors and argument
// checking.
#include <catch2/catch.hpp>

#include "support.h"

#include <cstring>
#include <string>
#include <vector>

namespace {

const char *const DOM = "test";

dfr_failure *err(int code, const char *msg)
{
    dfr_failure *f = dfr_failure_new(DOM, code, msg);
    REQUIRE(f != nullptr);
    return f;
}

using test::Seen;
using test::keep;

// Keeps a clone and passes the result on.
dfr_value peek(dfr_value r, void *data)
{
    static_cast<Seen *>(data)->values.push_back(dfr_value_clone(&r));
    return r;
}

using test::swallow;

// Handle a failure the test has finished looking at.
void consume(dfr_deferred *d)
{
    REQUIRE(dfr_deferred_add_errback(d, swallow, nullptr, nullptr) == 0);
}

using test::code_of;
using test::result_code;
using test::is_i64;

std::string bytes_of(const dfr_value *v)
{
    if (!v || !dfr_is_bytes(*v))
        return "<not bytes>";
    return std::string(static_cast<const char *>(dfr_bytes_data(v)), dfr_bytes_len(v));
}

dfr_list *result_list(const dfr_deferred *d)
{
    return dfr_list_from(dfr_deferred_result(d));
}

// A canceller that fires its deferred with "Callback Result", like Twisted's
// fakeCallbackCanceller.
void callback_canceller(dfr_deferred *d, void *)
{
    REQUIRE(dfr_deferred_callback(d, dfr_bytes_new("Callback Result", 15)) == 0);
}

// Counters for the user types below.
int g_drops = 0;
int g_clones = 0;

void obj_drop(void *p)
{
    g_drops++;
    delete static_cast<int *>(p);
}

dfr_value obj_clone(const dfr_value *v)
{
    g_clones++;
    return dfr_obj(v->type, new int(*static_cast<int *>(v->u.ptr)));
}

const dfr_type cloneable_type = {sizeof(dfr_type), "cloneable", obj_drop, obj_clone};
const dfr_type plain_type = {sizeof(dfr_type), "plain", obj_drop, nullptr};

dfr_value task_plus_five(void *data)
{
    return dfr_i64(*static_cast<int64_t *>(data) + 5);
}

dfr_value task_return_failure(void *data)
{
    return dfr_value_failure(dfr_failure_ref(static_cast<dfr_failure *>(data)));
}

dfr_value task_return_deferred(void *data)
{
    return dfr_value_deferred(dfr_deferred_ref(static_cast<dfr_deferred *>(data)));
}

} // namespace

// ---------------------------------------------------------------- S24

// Twisted: test_maybeDeferredSync, test_maybeDeferredSyncWithArgs
TEST_CASE("maybe_deferred: a plain result gives a succeeded deferred", "[list][maybe]")
{
    int64_t ten = 10;
    dfr_deferred *d = dfr_maybe_deferred(task_plus_five, &ten);
    REQUIRE(d != nullptr);
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    CHECK(is_i64(dfr_deferred_result(d), 15));
    Seen cb, eb;
    REQUIRE(dfr_deferred_add_callbacks(d, keep, nullptr, &cb, nullptr) == 0);
    REQUIRE(dfr_deferred_add_callbacks(d, nullptr, keep, &eb, nullptr) == 0);
    CHECK(cb.size() == 1);
    CHECK(eb.size() == 0);
    CHECK(is_i64(cb.at(0), 15));
    dfr_deferred_unref(d);
}

// Twisted: test_maybeDeferredSyncException, test_maybeDeferredSyncFailure
TEST_CASE("maybe_deferred: a returned failure is the deferred's failure, same object",
          "[list][maybe]")
{
    dfr_failure *f = err(3, "not a number");
    dfr_deferred *d = dfr_maybe_deferred(task_return_failure, f);
    REQUIRE(d != nullptr);
    CHECK(dfr_deferred_state(d) == DFR_FAILED);
    CHECK(dfr_failure_from(dfr_deferred_result(d)) == f);
    Seen cb, eb;
    REQUIRE(dfr_deferred_add_callbacks(d, keep, keep, &cb, nullptr) == 0);
    REQUIRE(cb.size() == 1);
    CHECK(dfr_failure_from(cb.at(0)) == f);
    CHECK(std::string(dfr_failure_message(f)) == "not a number");
    dfr_failure_unref(f);
    dfr_deferred_unref(d);
}

// Twisted: test_maybeDeferredAsync, test_maybeDeferredAsyncError
TEST_CASE("maybe_deferred: a returned deferred is given back as is", "[list][maybe]")
{
    SECTION("later success")
    {
        dfr_deferred *x = dfr_deferred_new();
        dfr_deferred *d = dfr_maybe_deferred(task_return_deferred, x);
        REQUIRE(d == x);
        Seen seen;
        REQUIRE(dfr_deferred_add_callback(d, keep, &seen, nullptr) == 0);
        CHECK(seen.size() == 0);
        REQUIRE(dfr_deferred_callback(x, dfr_bytes_new("Success", 7)) == 0);
        REQUIRE(seen.size() == 1);
        CHECK(bytes_of(seen.at(0)) == "Success");
        dfr_deferred_unref(d);
        dfr_deferred_unref(x);
    }
    SECTION("later failure")
    {
        dfr_deferred *x = dfr_deferred_new();
        dfr_deferred *d = dfr_maybe_deferred(task_return_deferred, x);
        REQUIRE(d == x);
        dfr_failure *f = err(4, "runtime");
        REQUIRE(dfr_deferred_errback(x, dfr_failure_ref(f)) == 0);
        CHECK(dfr_deferred_state(d) == DFR_FAILED);
        CHECK(dfr_failure_from(dfr_deferred_result(d)) == f);
        consume(d);
        dfr_failure_unref(f);
        dfr_deferred_unref(d);
        dfr_deferred_unref(x);
    }
}

// No Twisted counterpart (C API: NULL function pointer).
TEST_CASE("maybe_deferred: a NULL fn gives a DFR_EINVAL failed deferred", "[list][maybe]")
{
    dfr_deferred *d = dfr_maybe_deferred(nullptr, nullptr);
    REQUIRE(d != nullptr);
    CHECK(dfr_deferred_state(d) == DFR_FAILED);
    const dfr_failure *f = dfr_failure_from(dfr_deferred_result(d));
    CHECK(dfr_failure_check(f, DFR_DOMAIN, DFR_EINVAL));
    consume(d);
    dfr_deferred_unref(d);
}

// ---------------------------------------------------------------- S25

// Twisted: testDeferredList
TEST_CASE("DeferredList fires after every input with (ok, value) entries in input order",
          "[list]")
{
    test::UnhandledCapture unhandled;
    dfr_deferred *ds[3] = {dfr_deferred_new(), dfr_deferred_new(), dfr_deferred_new()};
    dfr_deferred *dl = dfr_deferred_list(ds, 3, 0);
    REQUIRE(dl != nullptr);
    Seen got;
    REQUIRE(dfr_deferred_add_callbacks(dl, keep, keep, &got, nullptr) == 0);

    REQUIRE(dfr_deferred_callback(ds[2], dfr_i64(3)) == 0);
    CHECK(got.size() == 0);

    // An errback added to an input after the list still sees the failure.
    Seen input_eb;
    REQUIRE(dfr_deferred_add_errback(ds[1], peek, &input_eb, nullptr) == 0);
    REQUIRE(dfr_deferred_add_errback(ds[1], swallow, nullptr, nullptr) == 0);
    dfr_failure *f = err(2, "2");
    REQUIRE(dfr_deferred_errback(ds[1], dfr_failure_ref(f)) == 0);
    CHECK(got.size() == 0);
    CHECK(dfr_deferred_state(dl) == DFR_PENDING);

    REQUIRE(dfr_deferred_callback(ds[0], dfr_i64(1)) == 0);
    REQUIRE(got.size() == 1);
    dfr_list *l = dfr_list_from(got.at(0));
    REQUIRE(l != nullptr);
    REQUIRE(dfr_list_len(l) == 3);
    CHECK(dfr_list_ok(l, 0));
    CHECK(is_i64(dfr_list_get(l, 0), 1));
    CHECK_FALSE(dfr_list_ok(l, 1));
    CHECK(dfr_failure_from(dfr_list_get(l, 1)) == f);
    CHECK(std::string(dfr_failure_message(dfr_failure_from(dfr_list_get(l, 1)))) == "2");
    CHECK(dfr_list_ok(l, 2));
    CHECK(is_i64(dfr_list_get(l, 2), 3));

    // The input's own errback ran, with the same failure, and handled it.
    REQUIRE(input_eb.size() == 1);
    CHECK(dfr_failure_from(input_eb.at(0)) == f);
    CHECK(dfr_deferred_state(ds[1]) == DFR_SUCCEEDED);
    CHECK(dfr_is_none(*dfr_deferred_result(ds[1])));
    // The successful inputs continue with copies of their values.
    CHECK(is_i64(dfr_deferred_result(ds[0]), 1));
    CHECK(is_i64(dfr_deferred_result(ds[2]), 3));

    dfr_failure_unref(f);
    for (auto *d : ds)
        dfr_deferred_unref(d);
    dfr_deferred_unref(dl);
    CHECK(unhandled.count() == 0);
}

// Twisted: testDeferredList (the inputs keep their results); C value
// ownership per design.md "DeferredList".
TEST_CASE("DeferredList: each input's chain continues with a clone of its result", "[list]")
{
    g_drops = g_clones = 0;
    dfr_deferred *ds[4] = {dfr_deferred_new(), dfr_deferred_new(), dfr_deferred_new(),
                           dfr_deferred_new()};
    dfr_deferred *dl = dfr_deferred_list(ds, 4, 0);
    REQUIRE(dl != nullptr);

    REQUIRE(dfr_deferred_callback(ds[0], dfr_i64(-77)) == 0);
    REQUIRE(dfr_deferred_callback(ds[1], dfr_bytes_new("shared", 6)) == 0);
    int *cloneable = new int(5);
    int *plain = new int(6);
    REQUIRE(dfr_deferred_callback(ds[2], dfr_obj(&cloneable_type, cloneable)) == 0);
    REQUIRE(dfr_deferred_callback(ds[3], dfr_obj(&plain_type, plain)) == 0);

    dfr_list *l = result_list(dl);
    REQUIRE(l != nullptr);
    REQUIRE(dfr_list_len(l) == 4);
    for (size_t i = 0; i < 4; i++)
        CHECK(dfr_list_ok(l, i));

    // i64: copied.
    CHECK(is_i64(dfr_list_get(l, 0), -77));
    CHECK(is_i64(dfr_deferred_result(ds[0]), -77));

    // bytes: shared (same storage).
    CHECK(bytes_of(dfr_list_get(l, 1)) == "shared");
    CHECK(bytes_of(dfr_deferred_result(ds[1])) == "shared");
    CHECK(dfr_bytes_data(dfr_list_get(l, 1)) == dfr_bytes_data(dfr_deferred_result(ds[1])));

    // A user type with clone: the list gets the original, the input a clone.
    CHECK(g_clones == 1);
    CHECK(dfr_list_get(l, 2)->u.ptr == cloneable);
    const dfr_value *r2 = dfr_deferred_result(ds[2]);
    REQUIRE(r2 != nullptr);
    CHECK(r2->type == &cloneable_type);
    CHECK(r2->u.ptr != cloneable);
    CHECK(*static_cast<int *>(r2->u.ptr) == 5);

    // A user type without clone: the list gets it, the input continues with none.
    CHECK(dfr_list_get(l, 3)->type == &plain_type);
    CHECK(dfr_list_get(l, 3)->u.ptr == plain);
    CHECK(dfr_deferred_state(ds[3]) == DFR_SUCCEEDED);
    CHECK(dfr_is_none(*dfr_deferred_result(ds[3])));

    CHECK(g_drops == 0);
    for (auto *d : ds)
        dfr_deferred_unref(d);
    CHECK(g_drops == 1); // the clone held by ds[2]
    dfr_deferred_unref(dl);
    CHECK(g_drops == 3); // and both originals, with the list
}

// ---------------------------------------------------------------- S29

// Twisted: testDeferredListDontConsumeErrors
TEST_CASE("DeferredList without consumeErrors: the failure goes on down the input", "[list]")
{
    test::UnhandledCapture unhandled;
    dfr_deferred *d1 = dfr_deferred_new();
    dfr_deferred *dl = dfr_deferred_list(&d1, 1, 0);
    REQUIRE(dl != nullptr);
    Seen trap, lists;
    REQUIRE(dfr_deferred_add_errback(d1, keep, &trap, nullptr) == 0);
    REQUIRE(dfr_deferred_add_callback(dl, keep, &lists, nullptr) == 0);

    REQUIRE(dfr_deferred_errback(d1, err(1, "Bang")) == 0);
    REQUIRE(trap.size() == 1);
    CHECK(std::string(dfr_failure_message(dfr_failure_from(trap.at(0)))) == "Bang");
    REQUIRE(lists.size() == 1);
    dfr_list *l = dfr_list_from(lists.at(0));
    REQUIRE(dfr_list_len(l) == 1);
    CHECK_FALSE(dfr_list_ok(l, 0));
    CHECK(std::string(dfr_failure_message(dfr_failure_from(dfr_list_get(l, 0)))) == "Bang");
    CHECK(dfr_failure_from(dfr_list_get(l, 0)) == dfr_failure_from(trap.at(0)));

    dfr_deferred_unref(d1);
    dfr_deferred_unref(dl);
    CHECK(unhandled.count() == 0);
}

// Twisted: testDeferredListConsumeErrors
TEST_CASE("DeferredList with consumeErrors: the input continues with none, nothing unhandled",
          "[list]")
{
    test::UnhandledCapture unhandled;
    dfr_deferred *d1 = dfr_deferred_new();
    dfr_deferred *dl = dfr_deferred_list(&d1, 1, DFR_CONSUME_ERRORS);
    REQUIRE(dl != nullptr);
    Seen trap, lists;
    REQUIRE(dfr_deferred_add_errback(d1, keep, &trap, nullptr) == 0);
    REQUIRE(dfr_deferred_add_callback(dl, keep, &lists, nullptr) == 0);

    REQUIRE(dfr_deferred_errback(d1, err(1, "Bang")) == 0);
    CHECK(trap.size() == 0);
    CHECK(dfr_deferred_state(d1) == DFR_SUCCEEDED);
    CHECK(dfr_is_none(*dfr_deferred_result(d1)));
    REQUIRE(lists.size() == 1);
    dfr_list *l = dfr_list_from(lists.at(0));
    REQUIRE(dfr_list_len(l) == 1);
    CHECK_FALSE(dfr_list_ok(l, 0));
    CHECK(std::string(dfr_failure_message(dfr_failure_from(dfr_list_get(l, 0)))) == "Bang");

    // Dropping everything reports nothing: the list's copy is not "unhandled".
    dfr_deferred_unref(d1);
    dfr_deferred_unref(dl);
    CHECK(unhandled.count() == 0);
}

// ---------------------------------------------------------------- S27

// Twisted: test_cancelDeferredListWithFireOnOneCallback* (the probe part of S27)
TEST_CASE("fireOnOneCallback fires with (result, index) and later inputs pass through",
          "[list][fire-on-one]")
{
    dfr_deferred *ds[2] = {dfr_deferred_new(), dfr_deferred_new()};
    dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_FIRE_ON_ONE_CALLBACK);
    REQUIRE(dl != nullptr);
    Seen got;
    REQUIRE(dfr_deferred_add_callbacks(dl, keep, keep, &got, nullptr) == 0);

    REQUIRE(dfr_deferred_callback(ds[1], dfr_bytes_new("B", 1)) == 0);
    REQUIRE(got.size() == 1);
    dfr_list *pair = dfr_list_from(got.at(0));
    REQUIRE(pair != nullptr);
    REQUIRE(dfr_list_len(pair) == 2);
    CHECK(bytes_of(dfr_list_get(pair, 0)) == "B");
    CHECK(is_i64(dfr_list_get(pair, 1), 1));
    CHECK(bytes_of(dfr_deferred_result(ds[1])) == "B");

    REQUIRE(dfr_deferred_callback(ds[0], dfr_bytes_new("A", 1)) == 0);
    CHECK(got.size() == 1); // fired once only
    CHECK(bytes_of(dfr_deferred_result(ds[0])) == "A");

    for (auto *d : ds)
        dfr_deferred_unref(d);
    dfr_deferred_unref(dl);
}

// Twisted: testDeferredListWithAlreadyFiredDeferreds, with fireOnOneCallback.
TEST_CASE("fireOnOneCallback with an already-succeeded input fires at construction",
          "[list][fire-on-one]")
{
    dfr_deferred *ds[2] = {dfr_deferred_new(), dfr_succeed(dfr_i64(99))};
    dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_FIRE_ON_ONE_CALLBACK);
    REQUIRE(dl != nullptr);
    REQUIRE(dfr_deferred_state(dl) == DFR_SUCCEEDED);
    dfr_list *pair = result_list(dl);
    REQUIRE(dfr_list_len(pair) == 2);
    CHECK(is_i64(dfr_list_get(pair, 0), 99));
    CHECK(is_i64(dfr_list_get(pair, 1), 1));
    CHECK(is_i64(dfr_deferred_result(ds[1]), 99));
    REQUIRE(dfr_deferred_callback(ds[0], dfr_i64(0)) == 0);
    for (auto *d : ds)
        dfr_deferred_unref(d);
    dfr_deferred_unref(dl);
}

// S27 QUIRK (observed in Twisted 22.4 by a probe): with fireOnOneCallback and
// consumeErrors, all inputs failing fires the list on the callback path.
TEST_CASE("fireOnOneCallback + consumeErrors: all inputs failing fires on the callback path",
          "[list][fire-on-one]")
{
    test::UnhandledCapture unhandled;
    dfr_deferred *ds[2] = {dfr_deferred_new(), dfr_deferred_new()};
    dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_FIRE_ON_ONE_CALLBACK | DFR_CONSUME_ERRORS);
    REQUIRE(dl != nullptr);
    Seen cb, eb;
    REQUIRE(dfr_deferred_add_callbacks(dl, keep, nullptr, &cb, nullptr) == 0);
    REQUIRE(dfr_deferred_add_callbacks(dl, nullptr, keep, &eb, nullptr) == 0);

    dfr_failure *e1 = err(1, "E1");
    dfr_failure *e2 = err(2, "E2");
    REQUIRE(dfr_deferred_errback(ds[0], dfr_failure_ref(e1)) == 0);
    CHECK(cb.size() == 0);
    CHECK(dfr_deferred_state(dl) == DFR_PENDING);
    REQUIRE(dfr_deferred_errback(ds[1], dfr_failure_ref(e2)) == 0);
    REQUIRE(cb.size() == 1);
    CHECK(eb.size() == 0);
    dfr_list *l = dfr_list_from(cb.at(0));
    REQUIRE(dfr_list_len(l) == 2);
    CHECK_FALSE(dfr_list_ok(l, 0));
    CHECK_FALSE(dfr_list_ok(l, 1));
    CHECK(dfr_failure_from(dfr_list_get(l, 0)) == e1);
    CHECK(dfr_failure_from(dfr_list_get(l, 1)) == e2);
    // The inputs' errors were consumed.
    for (auto *d : ds) {
        CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
        CHECK(dfr_is_none(*dfr_deferred_result(d)));
    }
    dfr_failure_unref(e1);
    dfr_failure_unref(e2);
    for (auto *d : ds)
        dfr_deferred_unref(d);
    dfr_deferred_unref(dl);
    CHECK(unhandled.count() == 0);
}

// Twisted: DeferredList._cbDeferred (a fully failed list fires on the
// callback path); companion of the S27 quirk.
TEST_CASE("fireOnOneCallback without consumeErrors: all failing also fires with the list",
          "[list][fire-on-one]")
{
    dfr_deferred *ds[2] = {dfr_deferred_new(), dfr_deferred_new()};
    dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_FIRE_ON_ONE_CALLBACK);
    REQUIRE(dl != nullptr);
    REQUIRE(dfr_deferred_errback(ds[0], err(1, "E1")) == 0);
    REQUIRE(dfr_deferred_errback(ds[1], err(2, "E2")) == 0);
    REQUIRE(dfr_deferred_state(dl) == DFR_SUCCEEDED);
    dfr_list *l = result_list(dl);
    REQUIRE(dfr_list_len(l) == 2);
    CHECK(code_of(dfr_list_get(l, 0)) == 1);
    CHECK(code_of(dfr_list_get(l, 1)) == 2);
    // Not consumed: each input keeps its failure.
    CHECK(result_code(ds[0]) == 1);
    CHECK(result_code(ds[1]) == 2);
    for (auto *d : ds) {
        consume(d);
        dfr_deferred_unref(d);
    }
    dfr_deferred_unref(dl);
}

// ---------------------------------------------------------------- S28

// Twisted: testDeferredListFireOnOneError, FirstErrorTests
TEST_CASE("fireOnOneErrback fails with DFR_EFIRST: index and cause of the first failure",
          "[list][fire-on-one]")
{
    test::UnhandledCapture unhandled;
    dfr_deferred *ds[3] = {dfr_deferred_new(), dfr_deferred_new(), dfr_deferred_new()};
    dfr_deferred *dl = dfr_deferred_list(ds, 3, DFR_FIRE_ON_ONE_ERRBACK);
    REQUIRE(dl != nullptr);
    Seen errors;
    REQUIRE(dfr_deferred_add_errback(dl, keep, &errors, nullptr) == 0);
    // Handle the input's error after it went through the list.
    REQUIRE(dfr_deferred_add_errback(ds[1], swallow, nullptr, nullptr) == 0);

    REQUIRE(dfr_deferred_callback(ds[0], dfr_i64(1)) == 0);
    CHECK(errors.size() == 0);

    dfr_failure *sub = err(7, "from def2");
    REQUIRE(dfr_deferred_errback(ds[1], dfr_failure_ref(sub)) == 0);
    REQUIRE(errors.size() == 1);
    const dfr_failure *first = dfr_failure_from(errors.at(0));
    REQUIRE(first != nullptr);
    CHECK(dfr_failure_check(first, DFR_DOMAIN, DFR_EFIRST));
    CHECK(dfr_failure_index(first) == 1);
    CHECK(dfr_failure_cause(first) == sub);
    CHECK(dfr_failure_check(dfr_failure_cause(first), DOM, 7));
    CHECK(std::string(dfr_failure_message(dfr_failure_cause(first))) == "from def2");
    CHECK(dfr_failure_index(sub) == -1);

    // A later failure does not fire the list again; the input keeps it.
    REQUIRE(dfr_deferred_errback(ds[2], err(8, "later")) == 0);
    CHECK(errors.size() == 1);
    CHECK(result_code(ds[2]) == 8);
    consume(ds[2]);

    dfr_failure_unref(sub);
    for (auto *d : ds)
        dfr_deferred_unref(d);
    dfr_deferred_unref(dl);
    CHECK(unhandled.count() == 0);
}

// Twisted: testDeferredListConsumeErrors combined with fireOnOneErrback.
TEST_CASE("fireOnOneErrback + consumeErrors: the failing input continues with none",
          "[list][fire-on-one]")
{
    test::UnhandledCapture unhandled;
    dfr_deferred *ds[2] = {dfr_deferred_new(), dfr_deferred_new()};
    dfr_deferred *dl =
        dfr_deferred_list(ds, 2, DFR_FIRE_ON_ONE_ERRBACK | DFR_CONSUME_ERRORS);
    REQUIRE(dl != nullptr);
    dfr_failure *sub = err(9, "x");
    REQUIRE(dfr_deferred_errback(ds[0], dfr_failure_ref(sub)) == 0);
    REQUIRE(dfr_deferred_state(dl) == DFR_FAILED);
    const dfr_failure *first = dfr_failure_from(dfr_deferred_result(dl));
    CHECK(dfr_failure_code(first) == DFR_EFIRST);
    CHECK(dfr_failure_index(first) == 0);
    CHECK(dfr_failure_cause(first) == sub);
    CHECK(dfr_deferred_state(ds[0]) == DFR_SUCCEEDED);
    CHECK(dfr_is_none(*dfr_deferred_result(ds[0])));
    REQUIRE(dfr_deferred_callback(ds[1], dfr_i64(2)) == 0);
    consume(dl);
    dfr_failure_unref(sub);
    for (auto *d : ds)
        dfr_deferred_unref(d);
    dfr_deferred_unref(dl);
    CHECK(unhandled.count() == 0);
}

// Twisted: testDeferredListFireOnOneErrorWithAlreadyFiredDeferreds
TEST_CASE("fireOnOneErrback with an already-failed input fails at construction",
          "[list][fire-on-one]")
{
    dfr_deferred *ds[2] = {dfr_deferred_new(), dfr_deferred_new()};
    REQUIRE(dfr_deferred_errback(ds[0], err(1, "Bang")) == 0);
    dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_FIRE_ON_ONE_ERRBACK);
    REQUIRE(dl != nullptr);
    Seen errors;
    REQUIRE(dfr_deferred_add_errback(dl, keep, &errors, nullptr) == 0);
    REQUIRE(errors.size() == 1);
    const dfr_failure *first = dfr_failure_from(errors.at(0));
    CHECK(dfr_failure_code(first) == DFR_EFIRST);
    CHECK(dfr_failure_index(first) == 0);
    CHECK(dfr_failure_check(dfr_failure_cause(first), DOM, 1));
    consume(ds[0]);
    REQUIRE(dfr_deferred_callback(ds[1], dfr_none()) == 0);
    for (auto *d : ds)
        dfr_deferred_unref(d);
    dfr_deferred_unref(dl);
}

// Twisted: testDeferredListWithAlreadyFiredDeferreds
TEST_CASE("DeferredList over already-fired inputs fires at construction", "[list]")
{
    dfr_deferred *ds[2] = {dfr_deferred_new(), dfr_deferred_new()};
    REQUIRE(dfr_deferred_errback(ds[0], err(1, "Bang")) == 0);
    REQUIRE(dfr_deferred_callback(ds[1], dfr_i64(2)) == 0);
    dfr_deferred *dl = dfr_deferred_list(ds, 2, 0);
    REQUIRE(dl != nullptr);
    Seen got;
    REQUIRE(dfr_deferred_add_callback(dl, keep, &got, nullptr) == 0);
    REQUIRE(got.size() == 1);
    dfr_list *l = dfr_list_from(got.at(0));
    REQUIRE(dfr_list_len(l) == 2);
    CHECK_FALSE(dfr_list_ok(l, 0));
    CHECK(code_of(dfr_list_get(l, 0)) == 1);
    CHECK(dfr_list_ok(l, 1));
    CHECK(is_i64(dfr_list_get(l, 1), 2));
    consume(ds[0]); // swallow the error the input still carries
    for (auto *d : ds)
        dfr_deferred_unref(d);
    dfr_deferred_unref(dl);
}

// ---------------------------------------------------------------- S26

// Twisted: testEmptyDeferredList, DeferredListEmptyTests.testDeferredListEmpty.
// Our documented difference: Twisted never fires an empty list with
// fireOnOneCallback; we fire every empty list at once.
TEST_CASE("An empty DeferredList fires at once with an empty list, whatever the flags",
          "[list][empty]")
{
    dfr_deferred *none[1] = {nullptr};
    for (unsigned flags = 0; flags < 8; flags++) {
        INFO("flags " << flags);
        for (int with_array = 0; with_array < 2; with_array++) {
            dfr_deferred *dl = dfr_deferred_list(with_array ? none : nullptr, 0, flags);
            REQUIRE(dl != nullptr);
            CHECK(dfr_deferred_state(dl) == DFR_SUCCEEDED);
            dfr_list *l = result_list(dl);
            CHECK(l != nullptr);
            CHECK(dfr_list_len(l) == 0);
            Seen got;
            REQUIRE(dfr_deferred_add_callback(dl, keep, &got, nullptr) == 0);
            CHECK(got.size() == 1);
            dfr_deferred_unref(dl);
        }
    }
    for (int consume_errors = 0; consume_errors < 2; consume_errors++) {
        dfr_deferred *g = dfr_gather_results(nullptr, 0, consume_errors != 0);
        REQUIRE(g != nullptr);
        CHECK(dfr_deferred_state(g) == DFR_SUCCEEDED);
        CHECK(result_list(g) != nullptr);
        CHECK(dfr_list_len(result_list(g)) == 0);
        dfr_deferred_unref(g);
    }
}

// ---------------------------------------------------------------- cancel

// Twisted: test_cancelDeferredList, test_cancelDeferredListCallback
TEST_CASE("Cancelling a DeferredList cancels its inputs; it fires from their results",
          "[list][cancel]")
{
    test::UnhandledCapture unhandled;
    SECTION("no cancellers: both inputs cancelled, the list succeeds with two failures")
    {
        dfr_deferred *ds[2] = {dfr_deferred_new(), dfr_deferred_new()};
        dfr_deferred *dl = dfr_deferred_list(ds, 2, 0);
        REQUIRE(dl != nullptr);
        dfr_deferred_cancel(dl);
        for (auto *d : ds) {
            CHECK(dfr_deferred_state(d) == DFR_FAILED);
            CHECK(result_code(d) == DFR_ECANCELLED);
            consume(d);
        }
        REQUIRE(dfr_deferred_state(dl) == DFR_SUCCEEDED);
        dfr_list *l = result_list(dl);
        REQUIRE(dfr_list_len(l) == 2);
        for (size_t i = 0; i < 2; i++) {
            CHECK_FALSE(dfr_list_ok(l, i));
            CHECK(dfr_failure_check(dfr_failure_from(dfr_list_get(l, i)), DFR_DOMAIN,
                                    DFR_ECANCELLED));
        }
        for (auto *d : ds)
            dfr_deferred_unref(d);
        dfr_deferred_unref(dl);
    }
    SECTION("a canceller that calls back gives a success entry")
    {
        dfr_deferred *ds[2] = {dfr_deferred_new_cancellable(callback_canceller, nullptr, nullptr),
                               dfr_deferred_new()};
        dfr_deferred *dl = dfr_deferred_list(ds, 2, 0);
        REQUIRE(dl != nullptr);
        dfr_deferred_cancel(dl);
        CHECK(result_code(ds[1]) == DFR_ECANCELLED);
        consume(ds[1]);
        REQUIRE(dfr_deferred_state(dl) == DFR_SUCCEEDED);
        dfr_list *l = result_list(dl);
        REQUIRE(dfr_list_len(l) == 2);
        CHECK(dfr_list_ok(l, 0));
        CHECK(bytes_of(dfr_list_get(l, 0)) == "Callback Result");
        CHECK_FALSE(dfr_list_ok(l, 1));
        CHECK(code_of(dfr_list_get(l, 1)) == DFR_ECANCELLED);
        // A second cancel has nothing left to do.
        dfr_deferred_cancel(dl);
        CHECK(dfr_deferred_state(dl) == DFR_SUCCEEDED);
        for (auto *d : ds)
            dfr_deferred_unref(d);
        dfr_deferred_unref(dl);
    }
    SECTION("an input that reported and waits on nothing: its cancel does nothing")
    {
        // (Twisted cancels it too; test_list_cancel.cpp has the inputs that
        // reported and then wait on a deferred.)
        dfr_deferred *ds[2] = {dfr_deferred_new(), dfr_deferred_new()};
        dfr_deferred *dl = dfr_deferred_list(ds, 2, 0);
        REQUIRE(dl != nullptr);
        REQUIRE(dfr_deferred_callback(ds[0], dfr_i64(5)) == 0);
        dfr_deferred_cancel(dl);
        CHECK(is_i64(dfr_deferred_result(ds[0]), 5));
        CHECK(result_code(ds[1]) == DFR_ECANCELLED);
        consume(ds[1]);
        dfr_list *l = result_list(dl);
        REQUIRE(dfr_list_len(l) == 2);
        CHECK(is_i64(dfr_list_get(l, 0), 5));
        CHECK(code_of(dfr_list_get(l, 1)) == DFR_ECANCELLED);
        for (auto *d : ds)
            dfr_deferred_unref(d);
        dfr_deferred_unref(dl);
    }
    CHECK(unhandled.count() == 0);
}

// Twisted: test_cancelDeferredListWithFireOnOneCallback,
// test_cancelDeferredListWithFireOnOneCallbackAndDeferredCallback
TEST_CASE("Cancelling a fireOnOneCallback DeferredList", "[list][cancel]")
{
    test::UnhandledCapture unhandled;
    SECTION("inputs without cancellers: every input cancelled, list fires with the failures")
    {
        dfr_deferred *ds[2] = {dfr_deferred_new(), dfr_deferred_new()};
        dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_FIRE_ON_ONE_CALLBACK);
        REQUIRE(dl != nullptr);
        dfr_deferred_cancel(dl);
        for (auto *d : ds) {
            CHECK(result_code(d) == DFR_ECANCELLED);
            consume(d);
        }
        REQUIRE(dfr_deferred_state(dl) == DFR_SUCCEEDED);
        dfr_list *l = result_list(dl);
        REQUIRE(dfr_list_len(l) == 2);
        CHECK(code_of(dfr_list_get(l, 0)) == DFR_ECANCELLED);
        CHECK(code_of(dfr_list_get(l, 1)) == DFR_ECANCELLED);
        for (auto *d : ds)
            dfr_deferred_unref(d);
        dfr_deferred_unref(dl);
    }
    SECTION("first input's canceller calls back: (result, 0); the second is still cancelled")
    {
        dfr_deferred *ds[2] = {dfr_deferred_new_cancellable(callback_canceller, nullptr, nullptr),
                               dfr_deferred_new()};
        dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_FIRE_ON_ONE_CALLBACK);
        REQUIRE(dl != nullptr);
        dfr_deferred_cancel(dl);
        CHECK(result_code(ds[1]) == DFR_ECANCELLED);
        consume(ds[1]);
        REQUIRE(dfr_deferred_state(dl) == DFR_SUCCEEDED);
        dfr_list *pair = result_list(dl);
        REQUIRE(dfr_list_len(pair) == 2);
        CHECK(bytes_of(dfr_list_get(pair, 0)) == "Callback Result");
        CHECK(is_i64(dfr_list_get(pair, 1), 0));
        for (auto *d : ds)
            dfr_deferred_unref(d);
        dfr_deferred_unref(dl);
    }
    CHECK(unhandled.count() == 0);
}

// Twisted: test_cancelDeferredListWithFireOnOneErrback,
// test_cancelDeferredListWithFireOnOneErrbackAllDeferredsCallback
TEST_CASE("Cancelling a fireOnOneErrback DeferredList", "[list][cancel]")
{
    test::UnhandledCapture unhandled;
    SECTION("without cancellers: DFR_EFIRST wrapping DFR_ECANCELLED")
    {
        dfr_deferred *ds[2] = {dfr_deferred_new(), dfr_deferred_new()};
        dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_FIRE_ON_ONE_ERRBACK);
        REQUIRE(dl != nullptr);
        dfr_deferred_cancel(dl);
        for (auto *d : ds) {
            CHECK(result_code(d) == DFR_ECANCELLED);
            consume(d);
        }
        REQUIRE(dfr_deferred_state(dl) == DFR_FAILED);
        const dfr_failure *first = dfr_failure_from(dfr_deferred_result(dl));
        CHECK(dfr_failure_code(first) == DFR_EFIRST);
        CHECK(dfr_failure_index(first) == 0);
        CHECK(dfr_failure_check(dfr_failure_cause(first), DFR_DOMAIN, DFR_ECANCELLED));
        consume(dl);
        for (auto *d : ds)
            dfr_deferred_unref(d);
        dfr_deferred_unref(dl);
    }
    SECTION("every canceller calls back: the list succeeds")
    {
        dfr_deferred *ds[2] = {dfr_deferred_new_cancellable(callback_canceller, nullptr, nullptr),
                               dfr_deferred_new_cancellable(callback_canceller, nullptr, nullptr)};
        dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_FIRE_ON_ONE_ERRBACK);
        REQUIRE(dl != nullptr);
        dfr_deferred_cancel(dl);
        REQUIRE(dfr_deferred_state(dl) == DFR_SUCCEEDED);
        dfr_list *l = result_list(dl);
        REQUIRE(dfr_list_len(l) == 2);
        for (size_t i = 0; i < 2; i++) {
            CHECK(dfr_list_ok(l, i));
            CHECK(bytes_of(dfr_list_get(l, i)) == "Callback Result");
        }
        for (auto *d : ds)
            dfr_deferred_unref(d);
        dfr_deferred_unref(dl);
    }
    CHECK(unhandled.count() == 0);
}

// Twisted: test_cancelFiredOnOneCallbackDeferredList,
// test_cancelFiredOnOneErrbackDeferredList
TEST_CASE("Cancelling a DeferredList that already fired does nothing", "[list][cancel]")
{
    SECTION("fired on one callback")
    {
        dfr_deferred *ds[2] = {dfr_deferred_new(), dfr_deferred_new()};
        dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_FIRE_ON_ONE_CALLBACK);
        REQUIRE(dl != nullptr);
        REQUIRE(dfr_deferred_callback(ds[0], dfr_none()) == 0);
        REQUIRE(dfr_deferred_state(dl) == DFR_SUCCEEDED);
        dfr_deferred_cancel(dl);
        CHECK(dfr_deferred_state(ds[1]) == DFR_PENDING);
        CHECK(dfr_deferred_state(dl) == DFR_SUCCEEDED);
        REQUIRE(dfr_deferred_callback(ds[1], dfr_none()) == 0);
        for (auto *d : ds)
            dfr_deferred_unref(d);
        dfr_deferred_unref(dl);
    }
    SECTION("fired on one errback")
    {
        dfr_deferred *ds[2] = {dfr_deferred_new(), dfr_deferred_new()};
        dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_FIRE_ON_ONE_ERRBACK);
        REQUIRE(dl != nullptr);
        REQUIRE(dfr_deferred_errback(ds[0], err(1, "test")) == 0);
        dfr_deferred_cancel(dl);
        CHECK(dfr_deferred_state(ds[1]) == DFR_PENDING);
        CHECK(result_code(ds[0]) == 1);
        CHECK(result_code(dl) == DFR_EFIRST);
        consume(ds[0]);
        consume(dl);
        REQUIRE(dfr_deferred_callback(ds[1], dfr_none()) == 0);
        for (auto *d : ds)
            dfr_deferred_unref(d);
        dfr_deferred_unref(dl);
    }
    SECTION("fired with every result")
    {
        dfr_deferred *d0 = dfr_deferred_new_cancellable(callback_canceller, nullptr, nullptr);
        dfr_deferred *dl = dfr_deferred_list(&d0, 1, 0);
        REQUIRE(dl != nullptr);
        REQUIRE(dfr_deferred_callback(d0, dfr_i64(1)) == 0);
        dfr_deferred_cancel(dl);
        CHECK(is_i64(dfr_deferred_result(d0), 1));
        CHECK(dfr_deferred_state(dl) == DFR_SUCCEEDED);
        dfr_deferred_unref(d0);
        dfr_deferred_unref(dl);
    }
}

// ---------------------------------------------------------------- S31

// Twisted: test_gatherResults
TEST_CASE("gather_results: a list of plain values, or the first failure in DFR_EFIRST",
          "[list][gather]")
{
    SECTION("all succeed")
    {
        dfr_deferred *ds[2] = {dfr_succeed(dfr_i64(1)), dfr_succeed(dfr_i64(2))};
        dfr_deferred *g = dfr_gather_results(ds, 2, false);
        REQUIRE(g != nullptr);
        Seen got;
        REQUIRE(dfr_deferred_add_callback(g, keep, &got, nullptr) == 0);
        REQUIRE(got.size() == 1);
        dfr_list *l = dfr_list_from(got.at(0));
        REQUIRE(dfr_list_len(l) == 2);
        CHECK(dfr_list_ok(l, 0));
        CHECK(dfr_list_ok(l, 1));
        CHECK(is_i64(dfr_list_get(l, 0), 1));
        CHECK(is_i64(dfr_list_get(l, 1), 2));
        for (auto *d : ds)
            dfr_deferred_unref(d);
        dfr_deferred_unref(g);
    }
    SECTION("one fails")
    {
        dfr_failure *bad = err(5, "value error");
        dfr_deferred *ds[2] = {dfr_succeed(dfr_i64(1)), dfr_fail(dfr_failure_ref(bad))};
        dfr_deferred *g = dfr_gather_results(ds, 2, false);
        REQUIRE(g != nullptr);
        Seen errors;
        REQUIRE(dfr_deferred_add_errback(g, keep, &errors, nullptr) == 0);
        REQUIRE(errors.size() == 1);
        const dfr_failure *first = dfr_failure_from(errors.at(0));
        CHECK(dfr_failure_code(first) == DFR_EFIRST);
        CHECK(dfr_failure_index(first) == 1);
        CHECK(dfr_failure_cause(first) == bad);
        // The bad input still carries its error: get rid of it.
        CHECK(dfr_failure_from(dfr_deferred_result(ds[1])) == bad);
        consume(ds[1]);
        dfr_failure_unref(bad);
        for (auto *d : ds)
            dfr_deferred_unref(d);
        dfr_deferred_unref(g);
    }
}

// Twisted: test_gatherResultsWithConsumeErrors
TEST_CASE("gather_results with consume_errors turns the bad input's failure into none",
          "[list][gather]")
{
    test::UnhandledCapture unhandled;
    dfr_deferred *ds[2] = {dfr_succeed(dfr_i64(1)), dfr_fail(err(6, "oh noes"))};
    dfr_deferred *g = dfr_gather_results(ds, 2, true);
    REQUIRE(g != nullptr);
    Seen unconsumed, gathered;
    REQUIRE(dfr_deferred_add_errback(ds[1], keep, &unconsumed, nullptr) == 0);
    REQUIRE(dfr_deferred_add_errback(g, keep, &gathered, nullptr) == 0);
    CHECK(unconsumed.size() == 0);
    REQUIRE(gathered.size() == 1);
    const dfr_failure *first = dfr_failure_from(gathered.at(0));
    CHECK(dfr_failure_code(first) == DFR_EFIRST);
    CHECK(dfr_failure_check(dfr_failure_cause(first), DOM, 6));
    CHECK(std::string(dfr_failure_message(dfr_failure_cause(first))) == "oh noes");
    for (auto *d : ds)
        dfr_deferred_unref(d);
    dfr_deferred_unref(g);
    CHECK(unhandled.count() == 0);
}

// Twisted: test_cancelGatherResults, test_cancelGatherResultsWithAllDeferredsCallback
TEST_CASE("Cancelling gather_results cancels the inputs", "[list][gather][cancel]")
{
    test::UnhandledCapture unhandled;
    SECTION("inputs fail: DFR_EFIRST wrapping DFR_ECANCELLED")
    {
        dfr_deferred *ds[2] = {dfr_deferred_new(), dfr_deferred_new()};
        dfr_deferred *g = dfr_gather_results(ds, 2, false);
        REQUIRE(g != nullptr);
        dfr_deferred_cancel(g);
        for (auto *d : ds) {
            CHECK(result_code(d) == DFR_ECANCELLED);
            consume(d);
        }
        REQUIRE(dfr_deferred_state(g) == DFR_FAILED);
        const dfr_failure *first = dfr_failure_from(dfr_deferred_result(g));
        CHECK(dfr_failure_code(first) == DFR_EFIRST);
        CHECK(dfr_failure_check(dfr_failure_cause(first), DFR_DOMAIN, DFR_ECANCELLED));
        consume(g);
        for (auto *d : ds)
            dfr_deferred_unref(d);
        dfr_deferred_unref(g);
    }
    SECTION("every canceller calls back: a list of their results")
    {
        dfr_deferred *ds[2] = {dfr_deferred_new_cancellable(callback_canceller, nullptr, nullptr),
                               dfr_deferred_new_cancellable(callback_canceller, nullptr, nullptr)};
        dfr_deferred *g = dfr_gather_results(ds, 2, false);
        REQUIRE(g != nullptr);
        dfr_deferred_cancel(g);
        REQUIRE(dfr_deferred_state(g) == DFR_SUCCEEDED);
        dfr_list *l = result_list(g);
        REQUIRE(dfr_list_len(l) == 2);
        CHECK(bytes_of(dfr_list_get(l, 0)) == "Callback Result");
        CHECK(bytes_of(dfr_list_get(l, 1)) == "Callback Result");
        for (auto *d : ds)
            dfr_deferred_unref(d);
        dfr_deferred_unref(g);
    }
    CHECK(unhandled.count() == 0);
}

// ---------------------------------------------------------------- dfr_list

// No Twisted counterpart (C API: the dfr_list value).
TEST_CASE("dfr_list accessors, take, and NULL / out-of-range arguments", "[list][value]")
{
    dfr_deferred *ds[2] = {dfr_succeed(dfr_bytes_new("x", 1)), dfr_fail(err(1, "f"))};
    dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_CONSUME_ERRORS);
    REQUIRE(dl != nullptr);
    dfr_list *l = result_list(dl);
    REQUIRE(l != nullptr);
    CHECK(dfr_is_list(*dfr_deferred_result(dl)));

    CHECK(dfr_list_len(l) == 2);
    CHECK(dfr_list_ok(l, 0));
    CHECK_FALSE(dfr_list_ok(l, 1));
    CHECK_FALSE(dfr_list_ok(l, 2));
    CHECK_FALSE(dfr_list_ok(l, SIZE_MAX));
    CHECK(dfr_list_get(l, 2) == nullptr);
    CHECK(dfr_list_get(l, SIZE_MAX) == nullptr);
    CHECK(dfr_list_len(nullptr) == 0);
    CHECK_FALSE(dfr_list_ok(nullptr, 0));
    CHECK(dfr_list_get(nullptr, 0) == nullptr);
    CHECK(dfr_is_none(dfr_list_take(nullptr, 0)));
    CHECK(dfr_is_none(dfr_list_take(l, 2)));

    dfr_value none = dfr_none();
    dfr_value num = dfr_i64(3);
    CHECK(dfr_list_from(nullptr) == nullptr);
    CHECK(dfr_list_from(&none) == nullptr);
    CHECK(dfr_list_from(&num) == nullptr);

    // Take moves the entry out and leaves none behind.
    dfr_value taken = dfr_list_take(l, 0);
    CHECK(bytes_of(&taken) == "x");
    REQUIRE(dfr_list_get(l, 0) != nullptr);
    CHECK(dfr_is_none(*dfr_list_get(l, 0)));
    CHECK(dfr_is_none(dfr_list_take(l, 0)));
    dfr_value taken_failure = dfr_list_take(l, 1);
    CHECK(code_of(&taken_failure) == 1);
    CHECK(dfr_is_none(*dfr_list_get(l, 1)));
    CHECK(dfr_list_len(l) == 2);

    // A list value clones by sharing.
    dfr_value copy = dfr_value_clone(dfr_deferred_result(dl));
    CHECK(dfr_list_from(&copy) == l);

    dfr_value_drop(taken);
    dfr_value_drop(taken_failure);
    for (auto *d : ds)
        dfr_deferred_unref(d);
    dfr_deferred_unref(dl);
    CHECK(dfr_list_len(dfr_list_from(&copy)) == 2); // still alive through the clone
    dfr_value_drop(copy);
}

// ---------------------------------------------------------------- bad input

// No Twisted counterpart (C API: argument checking).
TEST_CASE("DeferredList and gather_results reject bad arguments without side effects",
          "[list][args]")
{
    g_drops = 0;
    dfr_deferred *good = dfr_deferred_new();
    dfr_deferred *with_null[2] = {good, nullptr};
    dfr_deferred *ok_array[1] = {good};
    long live = test::live_allocations();

    CHECK(test::refused_with(dfr_deferred_list(nullptr, 2, 0), DFR_EINVAL));
    CHECK(test::refused_with(dfr_deferred_list(with_null, 2, 0), DFR_EINVAL));
    CHECK(test::refused_with(dfr_deferred_list(ok_array, 1, 8u), DFR_EINVAL));
    CHECK(test::refused_with(dfr_deferred_list(ok_array, 1, 0x100u), DFR_EINVAL));
    CHECK(test::refused_with(dfr_deferred_list(ok_array, 1, ~0u), DFR_EINVAL));
    CHECK(test::refused_with(dfr_gather_results(nullptr, 1, false), DFR_EINVAL));
    CHECK(test::refused_with(dfr_gather_results(with_null, 2, true), DFR_EINVAL));
    CHECK(test::live_allocations() == live);

    // The valid input was left alone: its chain has nothing of the list on it,
    // so a value without clone reaches the next callback itself.
    Seen seen;
    REQUIRE(dfr_deferred_add_callback(good, keep, &seen, nullptr) == 0);
    int *obj = new int(1);
    REQUIRE(dfr_deferred_callback(good, dfr_obj(&plain_type, obj)) == 0);
    REQUIRE(seen.size() == 1);
    CHECK(seen.at(0)->u.ptr == obj);
    dfr_deferred_unref(good);
}

// ---------------------------------------------------------------- references

// Twisted: test_cancelDeferredListWithOriginalDeferreds, and C reference
// ownership (design.md "DeferredList").
TEST_CASE("DeferredList holds its own references to the inputs", "[list][refs]")
{
    test::UnhandledCapture unhandled;
    SECTION("inputs dropped by the caller: cancelling the list still reaches them")
    {
        struct Ctx {
            int value;
            int *destroyed;
        };
        int destroyed = 0;
        Ctx c1{7, &destroyed}, c2{8, &destroyed};
        auto canceller = [](dfr_deferred *d, void *data) {
            dfr_deferred_callback(d, dfr_i64(static_cast<Ctx *>(data)->value));
        };
        auto destroy = [](void *data) { ++*static_cast<Ctx *>(data)->destroyed; };
        dfr_deferred *ds[2] = {dfr_deferred_new_cancellable(canceller, &c1, destroy),
                               dfr_deferred_new_cancellable(canceller, &c2, destroy)};
        dfr_deferred *dl = dfr_deferred_list(ds, 2, 0);
        REQUIRE(dl != nullptr);
        dfr_deferred_unref(ds[0]);
        dfr_deferred_unref(ds[1]);
        CHECK(destroyed == 0);
        dfr_deferred_cancel(dl);
        CHECK(destroyed == 2);
        REQUIRE(dfr_deferred_state(dl) == DFR_SUCCEEDED);
        dfr_list *l = result_list(dl);
        REQUIRE(dfr_list_len(l) == 2);
        CHECK(dfr_list_ok(l, 0));
        CHECK(dfr_list_ok(l, 1));
        CHECK(is_i64(dfr_list_get(l, 0), 7));
        CHECK(is_i64(dfr_list_get(l, 1), 8));
        dfr_deferred_unref(dl);
    }
    SECTION("inputs dropped, cancelled to failures under consumeErrors: nothing unhandled")
    {
        dfr_deferred *ds[2] = {dfr_deferred_new(), dfr_deferred_new()};
        dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_CONSUME_ERRORS);
        REQUIRE(dl != nullptr);
        dfr_deferred_unref(ds[0]);
        dfr_deferred_unref(ds[1]);
        dfr_deferred_cancel(dl);
        REQUIRE(dfr_deferred_state(dl) == DFR_SUCCEEDED);
        dfr_list *l = result_list(dl);
        REQUIRE(dfr_list_len(l) == 2);
        CHECK(code_of(dfr_list_get(l, 0)) == DFR_ECANCELLED);
        CHECK(code_of(dfr_list_get(l, 1)) == DFR_ECANCELLED);
        dfr_deferred_unref(dl);
    }
    SECTION("the list dropped first: firing the inputs still completes and frees it")
    {
        dfr_deferred *ds[2] = {dfr_deferred_new(), dfr_deferred_new()};
        Seen got;
        dfr_deferred *dl = dfr_deferred_list(ds, 2, 0);
        REQUIRE(dl != nullptr);
        REQUIRE(dfr_deferred_add_callback(dl, keep, &got, nullptr) == 0);
        dfr_deferred_unref(dl);
        REQUIRE(dfr_deferred_callback(ds[0], dfr_i64(1)) == 0);
        dfr_deferred_unref(ds[0]);
        REQUIRE(dfr_deferred_callback(ds[1], dfr_i64(2)) == 0);
        dfr_deferred_unref(ds[1]);
        REQUIRE(got.size() == 1);
        dfr_list *l = dfr_list_from(got.at(0));
        CHECK(is_i64(dfr_list_get(l, 0), 1));
        CHECK(is_i64(dfr_list_get(l, 1), 2));
    }
    CHECK(unhandled.count() == 0);
}

// The same input twice: each entry gets the result, the second one the
// value the first one passed on (the list's own callbacks run in order).
TEST_CASE("DeferredList with the same input twice", "[list]")
{
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred *ds[2] = {d, d};
    dfr_deferred *dl = dfr_deferred_list(ds, 2, 0);
    REQUIRE(dl != nullptr);
    REQUIRE(dfr_deferred_callback(d, dfr_i64(4)) == 0);
    REQUIRE(dfr_deferred_state(dl) == DFR_SUCCEEDED);
    dfr_list *l = result_list(dl);
    REQUIRE(dfr_list_len(l) == 2);
    CHECK(is_i64(dfr_list_get(l, 0), 4));
    CHECK(is_i64(dfr_list_get(l, 1), 4));
    CHECK(is_i64(dfr_deferred_result(d), 4));
    dfr_deferred_unref(d);
    dfr_deferred_unref(dl);
}
