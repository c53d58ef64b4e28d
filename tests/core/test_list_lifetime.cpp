// DeferredList lifetimes: a pending list whose inputs never fire is freed
// when the caller drops the list and the inputs (in any order), while a list
// someone can still cancel keeps reaching its inputs (docs/deferreds.md,
// "Lifetimes"; src/core/list.c).
#include <catch2/catch.hpp>

#include "support.h"

#include <algorithm>
#include <thread>
#include <vector>

namespace {

using test::count_destroy;
using test::is_i64;
using test::keep;
using test::live_allocations;
using test::result_code;
using test::Seen;
using test::swallow;

// A pending input whose destroy counter shows when it is freed (the
// canceller's data goes at the result or at the free, exactly once).
dfr_deferred *counted_input(int *destroyed)
{
    dfr_deferred *d = dfr_deferred_new_cancellable(nullptr, destroyed, count_destroy);
    REQUIRE(d != nullptr);
    return d;
}

struct Flavour {
    const char *name;
    bool gather;
    unsigned flags;
};

const Flavour flavours[] = {
    {"list", false, 0},
    {"list consumeErrors", false, DFR_CONSUME_ERRORS},
    {"list fireOnOneCallback", false, DFR_FIRE_ON_ONE_CALLBACK},
    {"list fireOnOneErrback", false, DFR_FIRE_ON_ONE_ERRBACK},
    {"list fireOnOneErrback + consumeErrors", false,
     DFR_FIRE_ON_ONE_ERRBACK | DFR_CONSUME_ERRORS},
    {"gatherResults", true, 0},
    {"gatherResults consumeErrors", true, 1},
};

dfr_deferred *make(const Flavour &f, dfr_deferred *const *ds, size_t n)
{
    dfr_deferred *dl = f.gather ? dfr_gather_results(ds, n, f.flags != 0)
                                : dfr_deferred_list(ds, n, f.flags);
    REQUIRE(dl != nullptr);
    return dl;
}

} // namespace

TEST_CASE("A pending list and its unfired inputs, all dropped in any order, are freed",
          "[list][lifetime]")
{
    test::UnhandledCapture unhandled;
    for (const Flavour &f : flavours) {
        // Drop order over {list, input 0, input 1, input 2}: every permutation.
        std::vector<int> order = {0, 1, 2, 3};
        do {
            INFO(f.name << ", order " << order[0] << order[1] << order[2] << order[3]);
            long before = live_allocations();
            int destroyed[3] = {0, 0, 0};
            int cb_destroyed = 0;
            Seen got;
            dfr_deferred *ds[3];
            for (int i = 0; i < 3; i++)
                ds[i] = counted_input(&destroyed[i]);
            dfr_deferred *dl = make(f, ds, 3);
            REQUIRE(dfr_deferred_add_callback(dl, keep, &got, nullptr) == 0);
            REQUIRE(dfr_deferred_add_both(dl, swallow, &cb_destroyed, count_destroy) == 0);
            for (int who : order)
                dfr_deferred_unref(who == 0 ? dl : ds[who - 1]);
            for (int i = 0; i < 3; i++)
                CHECK(destroyed[i] == 1);
            CHECK(cb_destroyed == 1);
            CHECK(got.size() == 0);
            CHECK(live_allocations() == before);
        } while (std::next_permutation(order.begin(), order.end()));
    }
    CHECK(unhandled.count() == 0);
}

TEST_CASE("An orphaned list frees the inputs nothing else holds at once", "[list][lifetime]")
{
    long before = live_allocations();
    int destroyed[2] = {0, 0};
    dfr_deferred *ds[2] = {counted_input(&destroyed[0]), counted_input(&destroyed[1])};
    dfr_deferred *dl = dfr_deferred_list(ds, 2, 0);
    dfr_deferred_unref(ds[0]);
    dfr_deferred_unref(ds[1]);
    CHECK(destroyed[0] == 0); // the list still holds them: it can be cancelled
    CHECK(destroyed[1] == 0);
    dfr_deferred_unref(dl);
    CHECK(destroyed[0] == 1);
    CHECK(destroyed[1] == 1);
    CHECK(live_allocations() == before);
}

TEST_CASE("Cancelling the list still reaches inputs the caller dropped", "[list][lifetime]")
{
    test::UnhandledCapture unhandled;
    for (const Flavour &f : flavours) {
        INFO(f.name);
        long before = live_allocations();
        int destroyed[2] = {0, 0};
        dfr_deferred *ds[2] = {counted_input(&destroyed[0]), counted_input(&destroyed[1])};
        dfr_deferred *dl = make(f, ds, 2);
        dfr_deferred_unref(ds[0]);
        dfr_deferred_unref(ds[1]);
        // Other references come and go: the list is never orphaned by them.
        dfr_deferred *extra = dfr_deferred_ref(dl);
        dfr_deferred_unref(extra);
        CHECK(destroyed[0] == 0);
        dfr_deferred_cancel(dl);
        CHECK(destroyed[0] == 1);
        CHECK(destroyed[1] == 1);
        CHECK(dfr_deferred_state(dl) != DFR_PENDING);
        REQUIRE(dfr_deferred_add_both(dl, swallow, nullptr, nullptr) == 0);
        dfr_deferred_unref(dl);
        CHECK(live_allocations() == before);
    }
    // Inputs failing with the cancel and passing it on are unhandled
    // without consumeErrors: expected, as before.
}

TEST_CASE("A list returned into a chain: cancelling the chain reaches the dropped inputs",
          "[list][lifetime]")
{
    long before = live_allocations();
    int destroyed[2] = {0, 0};
    dfr_deferred *ds[2] = {counted_input(&destroyed[0]), counted_input(&destroyed[1])};
    dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_CONSUME_ERRORS);
    dfr_deferred *outer = dfr_deferred_new();
    // The callback returns the list (the reference moves into the chain).
    REQUIRE(dfr_deferred_add_callback(outer, test::return_deferred, dl, nullptr) == 0);
    REQUIRE(dfr_deferred_callback(outer, dfr_none()) == 0);
    REQUIRE(dfr_deferred_state(outer) == DFR_PENDING); // waits on the list
    dfr_deferred_unref(dl);
    dfr_deferred_unref(ds[0]);
    dfr_deferred_unref(ds[1]);
    CHECK(destroyed[0] == 0); // the chain can still cancel them
    dfr_deferred_cancel(outer);
    CHECK(destroyed[0] == 1);
    CHECK(destroyed[1] == 1);
    REQUIRE(dfr_deferred_state(outer) == DFR_SUCCEEDED);
    dfr_list *l = dfr_list_from(dfr_deferred_result(outer));
    REQUIRE(dfr_list_len(l) == 2);
    CHECK(test::code_of(dfr_list_get(l, 0)) == DFR_ECANCELLED);
    dfr_deferred_unref(outer);
    CHECK(live_allocations() == before);
}

TEST_CASE("Callbacks on a dropped list run when inputs held elsewhere fire", "[list][lifetime]")
{
    test::UnhandledCapture unhandled;
    SECTION("every input held: the list fires")
    {
        long before = live_allocations();
        dfr_deferred *ds[2] = {dfr_deferred_new(), dfr_deferred_new()};
        Seen got;
        dfr_deferred *dl = dfr_deferred_list(ds, 2, 0);
        REQUIRE(dfr_deferred_add_callback(dl, keep, &got, nullptr) == 0);
        dfr_deferred_unref(dl);
        REQUIRE(dfr_deferred_callback(ds[1], dfr_i64(2)) == 0);
        REQUIRE(dfr_deferred_callback(ds[0], dfr_i64(1)) == 0);
        REQUIRE(got.size() == 1);
        dfr_list *l = dfr_list_from(got.at(0));
        CHECK(is_i64(dfr_list_get(l, 0), 1));
        CHECK(is_i64(dfr_list_get(l, 1), 2));
        got.clear();
        dfr_deferred_unref(ds[0]);
        dfr_deferred_unref(ds[1]);
        CHECK(live_allocations() == before);
    }
    SECTION("fireOnOneCallback, one input held and one dropped: the held one fires it")
    {
        long before = live_allocations();
        int destroyed = 0;
        dfr_deferred *held = dfr_deferred_new();
        dfr_deferred *ds[2] = {counted_input(&destroyed), held};
        Seen got;
        dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_FIRE_ON_ONE_CALLBACK);
        REQUIRE(dfr_deferred_add_callback(dl, keep, &got, nullptr) == 0);
        dfr_deferred_unref(ds[0]);
        dfr_deferred_unref(dl);
        CHECK(destroyed == 1); // nothing else held it: freed unfired
        REQUIRE(dfr_deferred_callback(held, dfr_i64(5)) == 0);
        REQUIRE(got.size() == 1);
        dfr_list *pair = dfr_list_from(got.at(0));
        CHECK(is_i64(dfr_list_get(pair, 0), 5));
        CHECK(is_i64(dfr_list_get(pair, 1), 1));
        got.clear();
        dfr_deferred_unref(held);
        CHECK(live_allocations() == before);
    }
    SECTION("one held input fires, the other was freed: the list never fires, all freed")
    {
        long before = live_allocations();
        int destroyed = 0, cb_destroyed = 0, ran = 0;
        dfr_deferred *held = dfr_deferred_new();
        dfr_deferred *ds[2] = {held, counted_input(&destroyed)};
        dfr_deferred *dl = dfr_deferred_list(ds, 2, 0);
        REQUIRE(dfr_deferred_add_callback(dl, test::must_not_run, &ran, nullptr) == 0);
        REQUIRE(dfr_deferred_add_both(dl, swallow, &cb_destroyed, count_destroy) == 0);
        dfr_deferred_unref(dl);
        dfr_deferred_unref(ds[1]);
        CHECK(destroyed == 1);
        REQUIRE(dfr_deferred_callback(held, dfr_i64(5)) == 0);
        CHECK(cb_destroyed == 1); // no input can report any more: the list went
        CHECK(ran == 0);
        dfr_deferred_unref(held);
        CHECK(live_allocations() == before);
    }
    SECTION("gatherResults, held input fails: the errback runs")
    {
        long before = live_allocations();
        dfr_deferred *held = dfr_deferred_new();
        int destroyed = 0;
        dfr_deferred *ds[2] = {counted_input(&destroyed), held};
        Seen got;
        dfr_deferred *dl = dfr_gather_results(ds, 2, true);
        REQUIRE(dfr_deferred_add_errback(dl, keep, &got, nullptr) == 0);
        dfr_deferred_unref(dl);
        dfr_deferred_unref(ds[0]);
        CHECK(destroyed == 1);
        REQUIRE(dfr_deferred_errback(held, dfr_failure_new("test", 3, "boom")) == 0);
        REQUIRE(got.size() == 1);
        CHECK(test::code_of(got.at(0)) == DFR_EFIRST);
        got.clear();
        dfr_deferred_unref(held);
        CHECK(live_allocations() == before);
    }
    CHECK(unhandled.count() == 0);
}

TEST_CASE("A fired fireOnOne list lets go of the inputs still pending", "[list][lifetime]")
{
    test::UnhandledCapture unhandled;
    long before = live_allocations();
    int destroyed = 0;
    dfr_deferred *ds[2] = {dfr_deferred_new(), counted_input(&destroyed)};
    dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_FIRE_ON_ONE_CALLBACK);
    dfr_deferred_unref(ds[1]);
    REQUIRE(dfr_deferred_callback(ds[0], dfr_i64(1)) == 0);
    REQUIRE(dfr_deferred_state(dl) == DFR_SUCCEEDED);
    CHECK(destroyed == 1); // nobody can cancel a fired list: input 1 went
    dfr_deferred_cancel(dl); // does nothing
    dfr_deferred_unref(dl);
    dfr_deferred_unref(ds[0]);
    CHECK(live_allocations() == before);
    CHECK(unhandled.count() == 0);
}

TEST_CASE("Nested lists: dropped in any order are freed; cancelling the outer reaches all",
          "[list][lifetime]")
{
    test::UnhandledCapture unhandled;
    SECTION("all dropped, every order")
    {
        // Drop order over {outer, inner, a, b, c}: inner = list(a, b), outer = list(inner, c).
        std::vector<int> order = {0, 1, 2, 3, 4};
        do {
            INFO("order " << order[0] << order[1] << order[2] << order[3] << order[4]);
            long before = live_allocations();
            int destroyed[3] = {0, 0, 0};
            int cb_destroyed[2] = {0, 0};
            dfr_deferred *in[3];
            for (int i = 0; i < 3; i++)
                in[i] = counted_input(&destroyed[i]);
            dfr_deferred *inner = dfr_deferred_list(in, 2, 0);
            REQUIRE(inner != nullptr);
            dfr_deferred *outer_in[2] = {inner, in[2]};
            dfr_deferred *outer = dfr_gather_results(outer_in, 2, false);
            REQUIRE(outer != nullptr);
            REQUIRE(dfr_deferred_add_both(inner, test::count_pass, &cb_destroyed[0], nullptr) == 0);
            REQUIRE(dfr_deferred_add_both(outer, swallow, &cb_destroyed[1], count_destroy) == 0);
            dfr_deferred *all[5] = {outer, inner, in[0], in[1], in[2]};
            for (int who : order)
                dfr_deferred_unref(all[who]);
            for (int i = 0; i < 3; i++)
                CHECK(destroyed[i] == 1);
            CHECK(cb_destroyed[0] == 0); // count_pass never ran
            CHECK(cb_destroyed[1] == 1);
            CHECK(live_allocations() == before);
        } while (std::next_permutation(order.begin(), order.end()));
    }
    SECTION("only the outer kept: cancelling it cancels the inner list's inputs")
    {
        long before = live_allocations();
        int destroyed[3] = {0, 0, 0};
        dfr_deferred *in[3];
        for (int i = 0; i < 3; i++)
            in[i] = counted_input(&destroyed[i]);
        dfr_deferred *inner = dfr_deferred_list(in, 2, DFR_CONSUME_ERRORS);
        dfr_deferred *outer_in[2] = {inner, in[2]};
        dfr_deferred *outer = dfr_deferred_list(outer_in, 2, DFR_CONSUME_ERRORS);
        REQUIRE(outer != nullptr);
        dfr_deferred_unref(inner);
        for (auto *d : in)
            dfr_deferred_unref(d);
        CHECK(destroyed[0] == 0);
        dfr_deferred_cancel(outer);
        for (int i = 0; i < 3; i++)
            CHECK(destroyed[i] == 1);
        REQUIRE(dfr_deferred_state(outer) == DFR_SUCCEEDED);
        dfr_list *l = dfr_list_from(dfr_deferred_result(outer));
        REQUIRE(dfr_list_len(l) == 2);
        CHECK(dfr_list_ok(l, 0)); // the inner list fired with its cancelled inputs
        CHECK(test::code_of(dfr_list_get(l, 1)) == DFR_ECANCELLED);
        dfr_deferred_unref(outer);
        CHECK(live_allocations() == before);
    }
    CHECK(unhandled.count() == 0);
}

TEST_CASE("The last reference to a list dropped on another thread frees it",
          "[list][lifetime][thread]")
{
    long before = live_allocations();
    int destroyed[2] = {0, 0};
    int cb_destroyed = 0;
    dfr_deferred *ds[2] = {counted_input(&destroyed[0]), counted_input(&destroyed[1])};
    dfr_deferred *dl = dfr_deferred_list(ds, 2, 0);
    REQUIRE(dfr_deferred_add_both(dl, swallow, &cb_destroyed, count_destroy) == 0);
    dfr_deferred_unref(ds[0]);
    dfr_deferred_unref(ds[1]);
    // A garbage collector's finalizer thread, say.
    std::thread t([dl] { dfr_deferred_unref(dl); });
    t.join();
    CHECK(destroyed[0] == 1);
    CHECK(destroyed[1] == 1);
    CHECK(cb_destroyed == 1);
    CHECK(live_allocations() == before);
}

TEST_CASE("A list dropped on another thread while a held input fires", "[list][lifetime][thread]")
{
    // The hook on the other thread and the firing on this one meet at the
    // list's gate; whichever order, every hook runs once and all is freed.
    for (int round = 0; round < 200; round++) {
        long before = live_allocations();
        int destroyed = 0;
        Seen got;
        dfr_deferred *held = dfr_deferred_new();
        dfr_deferred *ds[2] = {held, counted_input(&destroyed)};
        dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_FIRE_ON_ONE_CALLBACK);
        REQUIRE(dfr_deferred_add_callback(dl, keep, &got, nullptr) == 0);
        dfr_deferred_unref(ds[1]);
        std::thread t([dl] { dfr_deferred_unref(dl); });
        REQUIRE(dfr_deferred_callback(held, dfr_i64(1)) == 0);
        t.join();
        CHECK(got.size() == 1);
        got.clear();
        CHECK(destroyed == 1);
        dfr_deferred_unref(held);
        CHECK(live_allocations() == before);
    }
}

TEST_CASE("A list dropped on another thread while a reported input waits on an inner deferred",
          "[list][lifetime][thread]")
{
    // The hook on the other thread lets go of the reported input too (the
    // list held it for its cancel); the inner deferred then completes it.
    for (int round = 0; round < 50; round++) {
        long before = live_allocations();
        int destroyed = 0;
        Seen got;
        dfr_deferred *inner = dfr_deferred_new();
        dfr_deferred *input = dfr_deferred_new();
        dfr_deferred *ds[2] = {counted_input(&destroyed), input};
        dfr_deferred *dl = dfr_deferred_list(ds, 2, 0);
        REQUIRE(dfr_deferred_add_callback(input, test::return_deferred, inner, nullptr) == 0);
        REQUIRE(dfr_deferred_add_callback(input, keep, &got, nullptr) == 0);
        REQUIRE(dfr_deferred_callback(input, dfr_i64(1)) == 0);
        dfr_deferred_unref(ds[0]);
        dfr_deferred_unref(input);
        std::thread t([dl] { dfr_deferred_unref(dl); });
        t.join();
        CHECK(destroyed == 1);
        REQUIRE(dfr_deferred_callback(inner, dfr_i64(2)) == 0);
        REQUIRE(got.size() == 1);
        CHECK(is_i64(got.at(0), 2));
        got.clear();
        dfr_deferred_unref(inner);
        CHECK(live_allocations() == before);
    }
}

TEST_CASE("OOM: an orphaned list still frees everything", "[list][lifetime][alloc]")
{
    test::UnhandledCapture unhandled;
    for (const Flavour &f : flavours) {
        INFO(f.name);
        test::for_each_allocation_failure([&](long) {
            int destroyed[2] = {0, 0};
            int cb_destroyed = 0;
            dfr_deferred *ds[2] = {dfr_deferred_new_cancellable(nullptr, &destroyed[0],
                                                                count_destroy),
                                   dfr_deferred_new_cancellable(nullptr, &destroyed[1],
                                                                count_destroy)};
            // A callback already there: the list's reserve must grow it.
            int passes = 0;
            if (ds[0])
                dfr_deferred_add_callback(ds[0], test::count_pass, &passes, nullptr);
            dfr_deferred *dl = (ds[0] && ds[1]) ? (f.gather ? dfr_gather_results(ds, 2, f.flags != 0)
                                                            : dfr_deferred_list(ds, 2, f.flags))
                                                 : nullptr;
            if (dl)
                dfr_deferred_add_both(dl, swallow, &cb_destroyed, count_destroy);
            else
                cb_destroyed = 1;
            dfr_deferred_unref(ds[1]);
            dfr_deferred_unref(dl);
            dfr_deferred_unref(ds[0]);
            CHECK(destroyed[0] == 1); // a refused new_cancellable runs it too
            CHECK(destroyed[1] == 1);
            CHECK(cb_destroyed == 1);
            CHECK(passes == 0);
        });
    }
    CHECK(unhandled.count() == 0);
}
