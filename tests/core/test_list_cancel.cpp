// Cancelling a DeferredList reaches every input, as Twisted's
// DeferredList.cancel() does: it calls cancel() on each input in order,
// including those that already reported to the list.  One that reported and
// now waits on a deferred a later callback of its returned forwards the
// cancel to that one; one that reported and waits on nothing ignores it.
// The expected orders below were observed with Twisted 22.4 (the comment
// above each test gives Twisted's event log).  Plus the lifetimes of the
// references the list keeps for that (src/core/list.c, "Lifetimes").
#include <catch2/catch.hpp>

#include "reactor_support.h"
#include "support.h"

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

namespace {

using test::code_of;
using test::count_destroy;
using test::is_i64;
using test::live_allocations;
using test::result_code;
using test::return_deferred;
using test::swallow;

using Log = std::vector<std::string>;

// A canceller that logs its name and, when `fire`, calls its deferred back
// with `value` (else the cancel fails it with DFR_ECANCELLED).
struct Canceller {
    Log *log;
    const char *name;
    bool fire;
    int64_t value;
    int runs = 0;
};

void log_canceller(dfr_deferred *d, void *data)
{
    auto *c = static_cast<Canceller *>(data);
    c->runs++;
    c->log->push_back(std::string(c->name) + "-canceller");
    if (c->fire)
        REQUIRE(dfr_deferred_callback(d, dfr_i64(c->value)) == 0);
}

dfr_deferred *cancellable(Canceller *c)
{
    dfr_deferred *d = dfr_deferred_new_cancellable(log_canceller, c, nullptr);
    REQUIRE(d != nullptr);
    return d;
}

// The list's own callback: logs "dl-fired", keeps the result (moved), ends
// the chain with none.
struct Fired {
    Log *log;
    test::Seen seen;
};

dfr_value list_fired(dfr_value v, void *data)
{
    auto *f = static_cast<Fired *>(data);
    f->log->push_back("dl-fired");
    f->seen.values.push_back(v);
    return dfr_none();
}

// A later callback of an input: logs `name`, keeps a clone, passes it on.
struct After {
    Log *log;
    const char *name;
    test::Seen seen;
};

dfr_value after(dfr_value v, void *data)
{
    auto *a = static_cast<After *>(data);
    a->log->push_back(a->name);
    a->seen.values.push_back(dfr_value_clone(&v));
    return v;
}

dfr_deferred *list_of(std::initializer_list<dfr_deferred *> ds, unsigned flags, Fired *fired)
{
    std::vector<dfr_deferred *> v(ds);
    dfr_deferred *dl = dfr_deferred_list(v.data(), v.size(), flags);
    REQUIRE(dl != nullptr);
    if (fired)
        REQUIRE(dfr_deferred_add_both(dl, list_fired, fired, nullptr) == 0);
    return dl;
}

// input reports v to the lists, then waits on inner (its next callback
// returns inner).
void report_then_wait(dfr_deferred *input, int64_t v, dfr_deferred *inner)
{
    REQUIRE(dfr_deferred_add_callback(input, return_deferred, inner, nullptr) == 0);
    REQUIRE(dfr_deferred_callback(input, dfr_i64(v)) == 0);
    REQUIRE(dfr_deferred_state(input) == DFR_PENDING); // waits on inner
}

void consume(dfr_deferred *d)
{
    REQUIRE(dfr_deferred_add_errback(d, swallow, nullptr, nullptr) == 0);
}

const dfr_list *entries(const Fired &f)
{
    REQUIRE(f.seen.size() == 1);
    const dfr_list *l = dfr_list_from(f.seen.at(0));
    REQUIRE(l != nullptr);
    return l;
}

bool cancelled_entry(const dfr_list *l, size_t i)
{
    return !dfr_list_ok(l, i) && code_of(dfr_list_get(l, i)) == DFR_ECANCELLED;
}

bool ok_entry(const dfr_list *l, size_t i, int64_t v)
{
    return dfr_list_ok(l, i) && is_i64(dfr_list_get(l, i), v);
}

void unref_all(std::initializer_list<dfr_deferred *> ds)
{
    for (dfr_deferred *d : ds)
        dfr_deferred_unref(d);
}

} // namespace

// Twisted: ['pending-canceller', 'dl-fired', 'inner-canceller'];
// dl [(False, CancelledError), (True, 1)]; input.result 7.
TEST_CASE("Cancelling a list reaches an input that reported but waits on an inner deferred",
          "[list][cancel]")
{
    test::UnhandledCapture unhandled;
    long before = live_allocations();
    Log log;
    Canceller inner_c{&log, "inner", true, 7};
    Canceller pending_c{&log, "pending", false, 0};
    Canceller input_c{&log, "input", false, 0};
    dfr_deferred *inner = cancellable(&inner_c);
    dfr_deferred *pending = cancellable(&pending_c);
    dfr_deferred *input = cancellable(&input_c);
    Fired fired{&log, {}};
    dfr_deferred *dl = list_of({pending, input}, 0, &fired);
    report_then_wait(input, 1, inner);
    dfr_deferred_cancel(dl);

    CHECK(log == Log{"pending-canceller", "dl-fired", "inner-canceller"});
    CHECK(inner_c.runs == 1);
    CHECK(input_c.runs == 0); // it had fired: the cancel went to inner
    CHECK(result_code(pending) == DFR_ECANCELLED);
    CHECK(is_i64(dfr_deferred_result(input), 7));
    const dfr_list *l = entries(fired);
    REQUIRE(dfr_list_len(l) == 2);
    CHECK(cancelled_entry(l, 0));
    CHECK(ok_entry(l, 1, 1));
    // A second cancel has nothing left to do.
    dfr_deferred_cancel(dl);
    CHECK(log.size() == 3);
    consume(pending);
    unref_all({dl, pending, input, inner});
    fired.seen.clear();
    CHECK(live_allocations() == before);
    CHECK(unhandled.count() == 0);
}

// Twisted: ['pending-canceller', 'dl-fired']; the input's canceller does not
// run, its result stays 1, its later callback saw 1 once.
TEST_CASE("Cancelling a list: a reported input that waits on nothing ignores it",
          "[list][cancel]")
{
    test::UnhandledCapture unhandled;
    long before = live_allocations();
    Log log;
    Canceller input_c{&log, "input", false, 0};
    Canceller pending_c{&log, "pending", false, 0};
    dfr_deferred *input = cancellable(&input_c);
    dfr_deferred *pending = cancellable(&pending_c);
    Fired fired{&log, {}};
    dfr_deferred *dl = list_of({input, pending}, 0, &fired);
    After later{&log, "input-later", {}};
    REQUIRE(dfr_deferred_add_callback(input, after, &later, nullptr) == 0);
    REQUIRE(dfr_deferred_callback(input, dfr_i64(1)) == 0);
    SECTION("the input kept by its owner")
    {
    }
    SECTION("the input dropped by its owner (the list still holds it)")
    {
        dfr_deferred_unref(input);
        input = nullptr;
    }
    dfr_deferred_cancel(dl);
    CHECK(log == Log{"input-later", "pending-canceller", "dl-fired"});
    CHECK(input_c.runs == 0);
    if (input)
        CHECK(is_i64(dfr_deferred_result(input), 1));
    REQUIRE(later.seen.size() == 1);
    CHECK(is_i64(later.seen.at(0), 1));
    const dfr_list *l = entries(fired);
    REQUIRE(dfr_list_len(l) == 2);
    CHECK(ok_entry(l, 0, 1));
    CHECK(cancelled_entry(l, 1));
    consume(pending);
    unref_all({dl, pending, input});
    fired.seen.clear();
    later.seen.clear();
    CHECK(live_allocations() == before);
    CHECK(unhandled.count() == 0);
}

// Twisted: the inner deferred has no canceller, so its cancel() fails it with
// CancelledError, which goes on down the input's chain; the producer's one
// later callback on inner is ignored.  ['pending-canceller', 'dl-fired',
// 'after-inner'].
TEST_CASE("Cancelling a list: an input waiting on an inner deferred without a canceller",
          "[list][cancel]")
{
    test::UnhandledCapture unhandled;
    long before = live_allocations();
    Log log;
    Canceller pending_c{&log, "pending", false, 0};
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred *pending = cancellable(&pending_c);
    dfr_deferred *input = dfr_deferred_new();
    Fired fired{&log, {}};
    dfr_deferred *dl = list_of({pending, input}, 0, &fired);
    After later{&log, "after-inner", {}};
    REQUIRE(dfr_deferred_add_callback(input, return_deferred, inner, nullptr) == 0);
    REQUIRE(dfr_deferred_add_both(input, after, &later, nullptr) == 0);
    REQUIRE(dfr_deferred_add_errback(input, swallow, nullptr, nullptr) == 0);
    REQUIRE(dfr_deferred_callback(input, dfr_i64(1)) == 0);
    REQUIRE(dfr_deferred_state(input) == DFR_PENDING);
    dfr_deferred_cancel(dl);

    CHECK(log == Log{"pending-canceller", "dl-fired", "after-inner"});
    REQUIRE(later.seen.size() == 1);
    CHECK(code_of(later.seen.at(0)) == DFR_ECANCELLED);
    CHECK(dfr_deferred_state(input) == DFR_SUCCEEDED); // the errback handled it
    // The producer's later fire of inner is swallowed (it could not know).
    CHECK(dfr_deferred_callback(inner, dfr_i64(99)) == 0);
    CHECK(later.seen.size() == 1);
    const dfr_list *l = entries(fired);
    REQUIRE(dfr_list_len(l) == 2);
    CHECK(cancelled_entry(l, 0));
    CHECK(ok_entry(l, 1, 1));
    consume(pending);
    unref_all({dl, pending, input, inner});
    fired.seen.clear();
    later.seen.clear();
    CHECK(live_allocations() == before);
    CHECK(unhandled.count() == 0);
}

// Twisted, inputs [a (waits on innerA, whose canceller calls back 'A'), p,
// b (waits on innerB, whose canceller does not fire it), c (waits on
// nothing)]: ['innerA-canceller', 'p-canceller', 'dl-fired',
// 'innerB-canceller']; dl [(True, a), (False, Cancelled), (True, b),
// (True, c)]; a 'A', b CancelledError, c 'c'.
TEST_CASE("Cancelling a list reaches every reported input, in order", "[list][cancel]")
{
    test::UnhandledCapture unhandled;
    long before = live_allocations();
    Log log;
    Canceller inner_a_c{&log, "innerA", true, 100};
    Canceller inner_b_c{&log, "innerB", false, 0};
    Canceller a_c{&log, "a", false, 0}, p_c{&log, "p", false, 0}, b_c{&log, "b", false, 0},
        c_c{&log, "c", false, 0};
    dfr_deferred *inner_a = cancellable(&inner_a_c);
    dfr_deferred *inner_b = cancellable(&inner_b_c);
    dfr_deferred *a = cancellable(&a_c), *p = cancellable(&p_c), *b = cancellable(&b_c),
                 *c = cancellable(&c_c);
    Fired fired{&log, {}};
    dfr_deferred *dl = list_of({a, p, b, c}, 0, &fired);
    report_then_wait(a, 1, inner_a);
    report_then_wait(b, 3, inner_b);
    REQUIRE(dfr_deferred_callback(c, dfr_i64(4)) == 0);
    // Dropped by their owner: the list reaches them all the same.
    unref_all({a, b, c});
    dfr_deferred_cancel(dl);

    CHECK(log == Log{"innerA-canceller", "p-canceller", "dl-fired", "innerB-canceller"});
    CHECK(a_c.runs + b_c.runs + c_c.runs == 0);
    CHECK(result_code(p) == DFR_ECANCELLED);
    const dfr_list *l = entries(fired);
    REQUIRE(dfr_list_len(l) == 4);
    CHECK(ok_entry(l, 0, 1));
    CHECK(cancelled_entry(l, 1));
    CHECK(ok_entry(l, 2, 3));
    CHECK(ok_entry(l, 3, 4));
    consume(p);
    CHECK(dfr_deferred_state(inner_a) == DFR_SUCCEEDED);
    // innerB's failure went on to b, leaving none behind.
    CHECK(dfr_deferred_state(inner_b) == DFR_SUCCEEDED);
    unref_all({dl, p, inner_a, inner_b});
    fired.seen.clear();
    CHECK(live_allocations() == before);
    // b's DFR_ECANCELLED went down b's chain, which nothing handled: reported
    // when the list let go of b (it fired, so nobody can cancel through it).
    REQUIRE(unhandled.count() == 1);
    CHECK(unhandled.codes.at(0) == DFR_ECANCELLED);
}

// The same, the inputs' own results looked at (they are kept above).
TEST_CASE("Cancelling a list: the reported inputs' chains continue with the inner results",
          "[list][cancel]")
{
    test::UnhandledCapture unhandled;
    Log log;
    Canceller inner_a_c{&log, "innerA", true, 100};
    Canceller inner_b_c{&log, "innerB", false, 0};
    dfr_deferred *inner_a = cancellable(&inner_a_c);
    dfr_deferred *inner_b = cancellable(&inner_b_c);
    dfr_deferred *a = dfr_deferred_new(), *p = dfr_deferred_new(), *b = dfr_deferred_new(),
                 *c = dfr_deferred_new();
    dfr_deferred *dl = list_of({a, p, b, c}, DFR_CONSUME_ERRORS, nullptr);
    report_then_wait(a, 1, inner_a);
    report_then_wait(b, 3, inner_b);
    REQUIRE(dfr_deferred_callback(c, dfr_i64(4)) == 0);
    dfr_deferred_cancel(dl);
    CHECK(log == Log{"innerA-canceller", "innerB-canceller"});
    CHECK(is_i64(dfr_deferred_result(a), 100));
    CHECK(result_code(b) == DFR_ECANCELLED);
    CHECK(is_i64(dfr_deferred_result(c), 4));
    CHECK(dfr_deferred_state(p) == DFR_SUCCEEDED); // consumed: none
    CHECK(dfr_deferred_state(dl) == DFR_SUCCEEDED);
    consume(b);
    unref_all({dl, a, p, b, c, inner_a, inner_b});
    CHECK(unhandled.count() == 0);
}

// Twisted: a fired list's cancel() does nothing: the inner's canceller does
// not run, the input keeps waiting.
TEST_CASE("Cancelling a list that fired does not reach its reported inputs", "[list][cancel]")
{
    test::UnhandledCapture unhandled;
    long before = live_allocations();
    Log log;
    Canceller inner_c{&log, "inner", true, 7};
    Canceller p_c{&log, "p", false, 0};
    dfr_deferred *inner = cancellable(&inner_c);
    dfr_deferred *input = dfr_deferred_new();
    dfr_deferred *p = cancellable(&p_c);
    Fired fired{&log, {}};
    SECTION("every input reported")
    {
        dfr_deferred *dl = list_of({input}, 0, &fired);
        report_then_wait(input, 1, inner);
        REQUIRE(log == Log{"dl-fired"});
        dfr_deferred_cancel(dl);
        CHECK(log == Log{"dl-fired"});
        CHECK(dfr_deferred_state(input) == DFR_PENDING);
        dfr_deferred_unref(dl);
    }
    SECTION("fireOnOneCallback, fired by the reported input")
    {
        dfr_deferred *dl = list_of({p, input}, DFR_FIRE_ON_ONE_CALLBACK, &fired);
        report_then_wait(input, 1, inner);
        dfr_deferred_cancel(dl);
        CHECK(log == Log{"dl-fired"});
        CHECK(p_c.runs == 0);
        CHECK(dfr_deferred_state(p) == DFR_PENDING);
        CHECK(dfr_deferred_state(input) == DFR_PENDING);
        const dfr_list *pair = entries(fired);
        CHECK(is_i64(dfr_list_get(pair, 0), 1));
        CHECK(is_i64(dfr_list_get(pair, 1), 1));
        dfr_deferred_unref(dl);
    }
    CHECK(inner_c.runs == 0);
    REQUIRE(dfr_deferred_callback(inner, dfr_i64(8)) == 0);
    CHECK(is_i64(dfr_deferred_result(input), 8));
    unref_all({input, inner, p});
    fired.seen.clear();
    CHECK(live_allocations() == before);
    CHECK(unhandled.count() == 0);
}

// Twisted (fireOnOneErrback, consumeErrors, inputs [p, input]): cancelling p
// fires the list with FirstError, and the loop goes on: ['p-canceller',
// 'dl-fired', 'inner-canceller'], input.result 7.
TEST_CASE("Cancelling a fireOnOneErrback list: the loop goes on after it fired",
          "[list][cancel]")
{
    test::UnhandledCapture unhandled;
    Log log;
    Canceller inner_c{&log, "inner", true, 7};
    Canceller p_c{&log, "p", false, 0};
    dfr_deferred *inner = cancellable(&inner_c);
    dfr_deferred *p = cancellable(&p_c);
    dfr_deferred *input = dfr_deferred_new();
    Fired fired{&log, {}};
    dfr_deferred *dl =
        list_of({p, input}, DFR_FIRE_ON_ONE_ERRBACK | DFR_CONSUME_ERRORS, &fired);
    report_then_wait(input, 1, inner);
    dfr_deferred_cancel(dl);
    CHECK(log == Log{"p-canceller", "dl-fired", "inner-canceller"});
    REQUIRE(fired.seen.size() == 1);
    const dfr_failure *first = dfr_failure_from(fired.seen.at(0));
    REQUIRE(first != nullptr);
    CHECK(dfr_failure_code(first) == DFR_EFIRST);
    CHECK(dfr_failure_index(first) == 0);
    CHECK(is_i64(dfr_deferred_result(input), 7));
    CHECK(dfr_deferred_state(p) == DFR_SUCCEEDED); // consumed
    unref_all({dl, p, input, inner});
    CHECK(unhandled.count() == 0);
}

// An input that reported and then waits on the list itself.  Inputs [p,
// input] (Twisted: ['p-canceller', 'dl-fired']): cancelling p fires the list,
// whose result goes on to the input, which then waits on nothing.  Inputs
// [input, p]: Twisted recurses (list -> input -> list ...) until
// RecursionError; here the cycle breaks as for an unreported input
// (test_hostile): the input stops waiting and fails with DFR_ECANCELLED.
TEST_CASE("Cancelling a list: a reported input that waits on the list itself",
          "[list][cancel]")
{
    test::UnhandledCapture unhandled;
    long before = live_allocations();
    Log log;
    Canceller p_c{&log, "p", false, 0};
    dfr_deferred *p = cancellable(&p_c);
    dfr_deferred *input = dfr_deferred_new();
    After later{&log, "input-later", {}};
    bool input_first = GENERATE(false, true);
    INFO("input first: " << input_first);
    dfr_deferred *dl = input_first ? list_of({input, p}, 0, nullptr)
                                   : list_of({p, input}, 0, nullptr);
    REQUIRE(dfr_deferred_add_callback(input, return_deferred, dl, nullptr) == 0);
    REQUIRE(dfr_deferred_add_both(input, after, &later, nullptr) == 0);
    REQUIRE(dfr_deferred_add_both(input, swallow, nullptr, nullptr) == 0);
    REQUIRE(dfr_deferred_callback(input, dfr_i64(1)) == 0);
    REQUIRE(dfr_deferred_state(input) == DFR_PENDING); // waits on dl
    dfr_deferred_cancel(dl);
    REQUIRE(later.seen.size() == 1);
    if (input_first) {
        CHECK(log == Log{"input-later", "p-canceller"});
        CHECK(code_of(later.seen.at(0)) == DFR_ECANCELLED);
    } else {
        CHECK(log == Log{"p-canceller", "input-later"});
        CHECK(dfr_list_from(later.seen.at(0)) != nullptr); // the list's result
    }
    CHECK(result_code(p) == DFR_ECANCELLED);
    CHECK(dfr_deferred_state(dl) == DFR_SUCCEEDED);
    consume(p);
    unref_all({dl, p, input});
    later.seen.clear();
    CHECK(live_allocations() == before);
    CHECK(unhandled.count() == 0);
}

// A reported input that is itself a list which fired and now waits on a
// deferred its own callback returned.  Twisted: DeferredList.cancel() does
// nothing once that list has fired (['p-canceller', 'dl-fired'], the inner
// list still waits).  Here cancelling a fired list that waits forwards the
// cancel like any deferred's (docs/design.md), so innerD's canceller runs
// too (first: dlin is the first input).
TEST_CASE("Cancelling a list whose reported input is a fired list that waits",
          "[list][cancel]")
{
    test::UnhandledCapture unhandled;
    long before = live_allocations();
    Log log;
    Canceller inner_c{&log, "innerD", true, 7};
    Canceller p_c{&log, "p", false, 0};
    dfr_deferred *inner = cancellable(&inner_c);
    dfr_deferred *a = dfr_deferred_new();
    dfr_deferred *p = cancellable(&p_c);
    dfr_deferred *dlin = list_of({a}, 0, nullptr);
    Fired fired{&log, {}};
    dfr_deferred *dlout = list_of({dlin, p}, DFR_CONSUME_ERRORS, &fired);
    REQUIRE(dfr_deferred_add_callback(dlin, return_deferred, inner, nullptr) == 0);
    REQUIRE(dfr_deferred_callback(a, dfr_i64(1)) == 0);
    REQUIRE(dfr_deferred_state(dlin) == DFR_PENDING); // reported to dlout, waits on inner
    dfr_deferred_cancel(dlout);
    CHECK(log == Log{"innerD-canceller", "p-canceller", "dl-fired"});
    CHECK(is_i64(dfr_deferred_result(dlin), 7));
    const dfr_list *l = entries(fired);
    REQUIRE(dfr_list_len(l) == 2);
    CHECK(dfr_list_ok(l, 0)); // dlin's own list, [(true, 1)]
    CHECK(cancelled_entry(l, 1));
    unref_all({dlout, dlin, a, p, inner});
    fired.seen.clear();
    CHECK(live_allocations() == before);
    CHECK(unhandled.count() == 0);
}

// ---------------------------------------------------------------- lifetimes
//
// The list keeps a reference to every input, reported or not, until it fires
// or nobody can cancel it any more.  Nothing more than that: dropped in any
// order, with the reactor freed at any point, everything goes, each destroy
// exactly once.

namespace {

const unsigned lifetime_flags[] = {0, DFR_CONSUME_ERRORS, DFR_FIRE_ON_ONE_CALLBACK,
                                   DFR_FIRE_ON_ONE_ERRBACK};

} // namespace

TEST_CASE("A pending list, a reported input waiting on an inner deferred, all dropped in any "
          "order, are freed",
          "[list][cancel][lifetime]")
{
    test::UnhandledCapture unhandled;
    for (unsigned flags : lifetime_flags) {
        // Drop order over {list, reported input, pending input, inner}.
        std::vector<int> order = {0, 1, 2, 3};
        do {
            INFO("flags " << flags << ", order " << order[0] << order[1] << order[2]
                          << order[3]);
            long before = live_allocations();
            int pending_destroyed = 0, inner_destroyed = 0, input_cb_destroyed = 0,
                dl_cb_destroyed = 0, ran = 0;
            dfr_deferred *pending =
                dfr_deferred_new_cancellable(nullptr, &pending_destroyed, count_destroy);
            dfr_deferred *inner =
                dfr_deferred_new_cancellable(nullptr, &inner_destroyed, count_destroy);
            dfr_deferred *input = dfr_deferred_new();
            dfr_deferred *dl = list_of({pending, input}, flags, nullptr);
            REQUIRE(dfr_deferred_add_both(dl, swallow, &dl_cb_destroyed, count_destroy) == 0);
            REQUIRE(dfr_deferred_add_callback(input, return_deferred, inner, nullptr) == 0);
            REQUIRE(dfr_deferred_add_both(input, test::must_not_run, &ran, nullptr) == 0);
            REQUIRE(dfr_deferred_add_both(input, swallow, &input_cb_destroyed, count_destroy) ==
                    0);
            REQUIRE(dfr_deferred_callback(input, dfr_i64(1)) == 0);
            REQUIRE(dfr_deferred_state(input) == DFR_PENDING);
            dfr_deferred *all[4] = {dl, input, pending, inner};
            for (int who : order)
                dfr_deferred_unref(all[who]);
            CHECK(pending_destroyed == 1);
            CHECK(inner_destroyed == 1);
            CHECK(input_cb_destroyed == 1);
            CHECK(dl_cb_destroyed == 1);
            CHECK(ran == 0);
            CHECK(live_allocations() == before);
        } while (std::next_permutation(order.begin(), order.end()));
    }
    CHECK(unhandled.count() == 0);
}

TEST_CASE("A list dropped while its reported input waits: the inner still completes the "
          "input",
          "[list][cancel][lifetime]")
{
    test::UnhandledCapture unhandled;
    long before = live_allocations();
    int pending_destroyed = 0;
    dfr_deferred *pending = dfr_deferred_new_cancellable(nullptr, &pending_destroyed,
                                                         count_destroy);
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred *input = dfr_deferred_new();
    Log log;
    After later{&log, "input-later", {}};
    dfr_deferred *dl = list_of({pending, input}, 0, nullptr);
    REQUIRE(dfr_deferred_add_callback(input, return_deferred, inner, nullptr) == 0);
    REQUIRE(dfr_deferred_add_callback(input, after, &later, nullptr) == 0);
    REQUIRE(dfr_deferred_callback(input, dfr_i64(1)) == 0);
    unref_all({input, pending, dl}); // the list is orphaned: it lets go of both
    CHECK(pending_destroyed == 1);
    REQUIRE(dfr_deferred_callback(inner, dfr_i64(2)) == 0);
    REQUIRE(later.seen.size() == 1);
    CHECK(is_i64(later.seen.at(0), 2));
    dfr_deferred_unref(inner);
    later.seen.clear();
    CHECK(live_allocations() == before);
    CHECK(unhandled.count() == 0);
}

// The inner deferred is a reactor's deferLater; the reactor is freed at any
// point of the drops (a pending deferLater then fails with
// DFR_ENOTRUNNING, which goes down the input's chain).
TEST_CASE("A reported input waiting on a deferLater: the reactor freed in any order",
          "[list][cancel][lifetime][reactor]")
{
    test::UnhandledCapture unhandled;
    // Over {list, reported input, pending input, inner, the reactor}.
    std::vector<int> order = {0, 1, 2, 3, 4};
    do {
        INFO("order " << order[0] << order[1] << order[2] << order[3] << order[4]);
        long before = live_allocations();
        dfr_reactor *r = test::new_reactor(true);
        REQUIRE(r != nullptr);
        int pending_destroyed = 0, inner_destroyed = 0, input_cb_destroyed = 0;
        test::Seen got;
        dfr_deferred *pending =
            dfr_deferred_new_cancellable(nullptr, &pending_destroyed, count_destroy);
        dfr_deferred *inner = dfr_reactor_defer_later(r, 10, nullptr, &inner_destroyed,
                                                      count_destroy);
        REQUIRE(inner != nullptr);
        dfr_deferred *input = dfr_deferred_new();
        dfr_deferred *dl = list_of({pending, input}, DFR_CONSUME_ERRORS, nullptr);
        REQUIRE(dfr_deferred_add_callback(input, return_deferred, inner, nullptr) == 0);
        REQUIRE(dfr_deferred_add_both(input, test::keep, &got, nullptr) == 0);
        REQUIRE(dfr_deferred_add_both(input, swallow, &input_cb_destroyed, count_destroy) == 0);
        REQUIRE(dfr_deferred_callback(input, dfr_i64(1)) == 0);
        REQUIRE(dfr_deferred_state(input) == DFR_PENDING);
        dfr_deferred *all[4] = {dl, input, pending, inner};
        for (int who : order) {
            if (who == 4) {
                dfr_reactor_free(r);
                r = nullptr;
            } else {
                dfr_deferred_unref(all[who]);
            }
        }
        CHECK(pending_destroyed == 1);
        CHECK(inner_destroyed == 1);
        CHECK(input_cb_destroyed == 1);
        // The reactor holds the pending deferLater, which holds the input
        // waiting on it: freeing the reactor completes the input.
        REQUIRE(got.size() == 1);
        CHECK(code_of(got.at(0)) == DFR_ENOTRUNNING);
        got.clear();
        CHECK(live_allocations() == before);
    } while (std::next_permutation(order.begin(), order.end()));
    CHECK(unhandled.count() == 0);
}

TEST_CASE("A reported input waiting on a deferLater: cancel and reactor free, both orders",
          "[list][cancel][lifetime][reactor]")
{
    test::UnhandledCapture unhandled;
    long before = live_allocations();
    bool cancel_first = GENERATE(true, false);
    INFO("cancel first: " << cancel_first);
    dfr_reactor *r = test::new_reactor(true);
    REQUIRE(r != nullptr);
    test::Seen got;
    dfr_deferred *pending = dfr_deferred_new();
    dfr_deferred *inner = dfr_reactor_defer_later(r, 10, nullptr, nullptr, nullptr);
    dfr_deferred *input = dfr_deferred_new();
    Log log;
    Fired fired{&log, {}};
    dfr_deferred *dl = list_of({pending, input}, DFR_CONSUME_ERRORS, &fired);
    REQUIRE(dfr_deferred_add_callback(input, return_deferred, inner, nullptr) == 0);
    REQUIRE(dfr_deferred_add_both(input, test::keep, &got, nullptr) == 0);
    REQUIRE(dfr_deferred_callback(input, dfr_i64(1)) == 0);
    dfr_deferred_unref(inner); // the reactor holds it while it is pending
    REQUIRE(dfr_reactor_pending_calls(r) == 1);
    if (cancel_first) {
        dfr_deferred_cancel(dl);
        CHECK(dfr_reactor_pending_calls(r) == 0); // the timer went with the cancel
        REQUIRE(got.size() == 1);
        CHECK(code_of(got.at(0)) == DFR_ECANCELLED);
        dfr_reactor_free(r);
    } else {
        dfr_reactor_free(r);
        REQUIRE(got.size() == 1);
        CHECK(code_of(got.at(0)) == DFR_ENOTRUNNING);
        dfr_deferred_cancel(dl); // the input waits on nothing now: only pending
    }
    const dfr_list *l = entries(fired);
    REQUIRE(dfr_list_len(l) == 2);
    CHECK(cancelled_entry(l, 0));
    CHECK(ok_entry(l, 1, 1));
    unref_all({dl, pending, input});
    got.clear();
    fired.seen.clear();
    CHECK(live_allocations() == before);
    CHECK(unhandled.count() == 0);
}
