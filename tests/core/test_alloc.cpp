// Out of memory: every public constructor and operation, run with the k-th
// allocation failing for k = 1, 2, ... until a run completes without an
// injected failure.  Each run must report DFR_ENOMEM / NULL (or a documented
// DFR_ENOMEM failure value), leak nothing, call each destroy exactly once,
// and lose no result that was already delivered.
#include <catch2/catch.hpp>

#include "support.h"

#include <cstring>
#include <string>
#include <vector>

namespace {

const char *const DOM = "test";

using test::inject;

// Like test::for_each_allocation_failure, for steps that do their own set-up
// and tear-down without injected failures: step(k) arms failure k around the
// operation under test (with inject) and returns whether it failed.  Checks
// that each run leaves no library allocation behind.
template <class F> int fail_loop(F step)
{
    int runs = 0;
    for (long k = 1; k < 100000; k++) {
        long before = test::live_allocations();
        bool failed = step(k);
        test::fail_allocation_at(0);
        runs++;
        INFO("allocation " << k << " failed");
        REQUIRE(test::live_allocations() == before);
        if (!failed)
            break;
    }
    return runs;
}

using test::DebugMode;

using test::swallow;

dfr_value pass(dfr_value r, void *)
{
    return r;
}

using test::count_pass;
using test::Seen;
using test::keep;
using test::code_of;
using test::is_i64;

// A user type without clone: a DeferredList that saw it leaves none behind
// on the input, so it shows whether the list's callback ran.
int g_drops = 0;
void obj_drop(void *p)
{
    g_drops++;
    delete static_cast<int *>(p);
}
const dfr_type plain_type = {sizeof(dfr_type), "plain", obj_drop, nullptr};

void noop_canceller(dfr_deferred *, void *) {}

} // namespace

// ---------------------------------------------------------------- deferreds

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: dfr_deferred_new", "[alloc]")
{
    for (bool debug : {false, true}) {
        DebugMode mode(debug);
        int runs = test::for_each_allocation_failure([](long) {
            dfr_deferred *d = dfr_deferred_new();
            if (!d) {
                CHECK(test::allocation_failed());
                return;
            }
            CHECK(dfr_deferred_state(d) == DFR_PENDING);
            dfr_deferred_unref(d);
        });
        CHECK(runs >= 2);
    }
}

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: dfr_deferred_new_cancellable runs destroy exactly once", "[alloc]")
{
    for (bool debug : {false, true}) {
        DebugMode mode(debug);
        for (bool with_canceller : {true, false}) {
            int runs = test::for_each_allocation_failure([&](long) {
                int destroyed = 0;
                dfr_deferred *d = dfr_deferred_new_cancellable(
                    with_canceller ? noop_canceller : nullptr, &destroyed, test::count_destroy);
                if (!d) {
                    CHECK(test::allocation_failed());
                    CHECK(destroyed == 1);
                    return;
                }
                CHECK(destroyed == 0);
                dfr_deferred_unref(d);
                CHECK(destroyed == 1);
            });
            CHECK(runs >= 2);
        }
    }
}

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: add_callbacks growing the array runs destroy once and keeps the chain",
          "[alloc]")
{
    const int ADDS = 40;
    for (int fired = 0; fired < 2; fired++) {
        INFO("fired and paused first: " << fired);
        bool saw_failure = false;
        int runs = fail_loop([&](long k) {
            dfr_deferred *d = fired ? dfr_succeed(dfr_i64(42)) : dfr_deferred_new();
            REQUIRE(d != nullptr);
            if (fired)
                REQUIRE(dfr_deferred_pause(d) == 0);
            int calls[ADDS] = {};
            int rc[ADDS] = {};
            bool failed = inject(k, [&] {
                for (int i = 0; i < ADDS; i++)
                    rc[i] = dfr_deferred_add_callbacks(d, count_pass, count_pass, &calls[i], nullptr);
            });
            int failures = 0;
            for (int i = 0; i < ADDS; i++) {
                CHECK((rc[i] == 0 || rc[i] == DFR_ENOMEM));
                if (rc[i])
                    failures++;
            }
            CHECK(failures == (failed ? 1 : 0));
            if (failed)
                saw_failure = true;
            // Nothing ran yet, and an already delivered result is intact.
            for (int i = 0; i < ADDS; i++)
                CHECK(calls[i] == 0);
            if (fired) {
                CHECK(is_i64(dfr_deferred_result(d), 42));
                REQUIRE(dfr_deferred_unpause(d) == 0);
            } else {
                REQUIRE(dfr_deferred_callback(d, dfr_i64(42)) == 0);
            }
            for (int i = 0; i < ADDS; i++)
                CHECK(calls[i] == (rc[i] == 0 ? 1 : 0));
            CHECK(is_i64(dfr_deferred_result(d), 42));
            dfr_deferred_unref(d);
            return failed;
        });
        CHECK(runs >= 2);
        CHECK(saw_failure);
    }
}

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: a failed add_callbacks runs its destroy before returning, once", "[alloc]")
{
    const int ADDS = 20;
    int runs = fail_loop([&](long k) {
        dfr_deferred *d = dfr_deferred_new();
        REQUIRE(d != nullptr);
        int destroyed[ADDS] = {};
        int rc[ADDS] = {};
        int destroyed_at_return[ADDS] = {};
        bool failed = inject(k, [&] {
            for (int i = 0; i < ADDS; i++) {
                rc[i] = dfr_deferred_add_callbacks(d, pass, pass, &destroyed[i], test::count_destroy);
                destroyed_at_return[i] = destroyed[i];
            }
        });
        for (int i = 0; i < ADDS; i++) {
            INFO("add " << i);
            CHECK(destroyed_at_return[i] == (rc[i] ? 1 : 0));
            if (rc[i])
                CHECK(rc[i] == DFR_ENOMEM);
        }
        REQUIRE(dfr_deferred_callback(d, dfr_none()) == 0);
        for (int i = 0; i < ADDS; i++)
            CHECK(destroyed[i] == 1);
        dfr_deferred_unref(d);
        return failed;
    });
    CHECK(runs >= 2);
}

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: add_callback, add_errback and add_both", "[alloc]")
{
    using add_fn = int (*)(dfr_deferred *, dfr_callback_fn, void *, dfr_destroy_fn);
    const add_fn forms[] = {dfr_deferred_add_callback, dfr_deferred_add_errback,
                            dfr_deferred_add_both};
    for (int form = 0; form < 3; form++) {
        INFO("form " << form);
        bool saw_failure = false;
        fail_loop([&](long k) {
            dfr_deferred *d = dfr_deferred_new();
            REQUIRE(d != nullptr);
            const int ADDS = 12;
            int destroyed[ADDS] = {};
            int rc[ADDS] = {};
            bool failed = inject(k, [&] {
                for (int i = 0; i < ADDS; i++)
                    rc[i] = forms[form](d, pass, &destroyed[i], test::count_destroy);
            });
            for (int i = 0; i < ADDS; i++) {
                CHECK((rc[i] == 0 || rc[i] == DFR_ENOMEM));
                CHECK(destroyed[i] == (rc[i] ? 1 : 0));
            }
            saw_failure = saw_failure || failed;
            if (form == 1)
                REQUIRE(dfr_deferred_errback(d, dfr_failure_new(DOM, 1, "e")) == 0);
            else
                REQUIRE(dfr_deferred_callback(d, dfr_i64(1)) == 0);
            for (int i = 0; i < ADDS; i++)
                CHECK(destroyed[i] == 1);
            if (form == 1)
                REQUIRE(dfr_deferred_add_errback(d, swallow, nullptr, nullptr) == 0);
            dfr_deferred_unref(d);
            return failed;
        });
        CHECK(saw_failure);
    }
}

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: add_callbacks on a fired, unpaused deferred", "[alloc]")
{
    int runs = fail_loop([&](long k) {
        dfr_deferred *d = dfr_succeed(dfr_i64(42));
        REQUIRE(d != nullptr);
        int calls = 0, destroyed = 0, rc = 0;
        bool failed = inject(k, [&] {
            rc = dfr_deferred_add_callbacks(d, count_pass, count_pass, &calls, nullptr);
            if (rc == 0)
                rc = dfr_deferred_add_callbacks(d, pass, pass, &destroyed, test::count_destroy);
        });
        CHECK((rc == 0 || rc == DFR_ENOMEM));
        CHECK(destroyed == 1);
        CHECK(is_i64(dfr_deferred_result(d), 42));
        dfr_deferred_unref(d);
        return failed;
    });
    CHECK(runs >= 1);
}

// ---------------------------------------------------------------- failures

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: dfr_failure_new and dfr_failure_newf", "[alloc][failure]")
{
    std::string long_text(600, 'x');
    for (bool debug : {false, true}) {
        DebugMode mode(debug);
        int runs = test::for_each_allocation_failure([](long) {
            dfr_failure *f = dfr_failure_new(DOM, 1, "message");
            if (!f) {
                CHECK(test::allocation_failed());
                return;
            }
            CHECK(std::string(dfr_failure_message(f)) == "message");
            dfr_failure_unref(f);
        });
        CHECK(runs >= 2);

        runs = test::for_each_allocation_failure([](long) {
            dfr_failure *f = dfr_failure_newf(DOM, 2, "short %d", 5);
            if (!f)
                return;
            CHECK(std::string(dfr_failure_message(f)) == "short 5");
            dfr_failure_unref(f);
        });
        CHECK(runs >= 2);

        // A message longer than any small buffer.
        runs = test::for_each_allocation_failure([&](long) {
            dfr_failure *f = dfr_failure_newf(DOM, 3, "long %s!", long_text.c_str());
            if (!f)
                return;
            CHECK(std::string(dfr_failure_message(f)) == "long " + long_text + "!");
            dfr_failure_unref(f);
        });
        CHECK(runs >= 2);
    }
}

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: dfr_failure_wrap releases the cause when it fails", "[alloc][failure]")
{
    for (bool debug : {false, true}) {
        DebugMode mode(debug);
        int runs = fail_loop([](long k) {
            dfr_failure *cause = dfr_failure_new(DOM, 1, "cause");
            REQUIRE(cause != nullptr);
            // A payload that owns library memory: leaks if the cause leaks.
            REQUIRE(dfr_failure_set_payload(cause, dfr_bytes_new("payload", 7)) == 0);
            dfr_failure *f = nullptr;
            bool failed = inject(k, [&] { f = dfr_failure_wrap(cause, DOM, 2, "wrapper"); });
            if (!f) {
                CHECK(failed);
                return failed; // the cause was released by wrap
            }
            CHECK(dfr_failure_cause(f) == cause);
            CHECK(dfr_failure_code(f) == 2);
            dfr_failure_unref(f);
            return failed;
        });
        CHECK(runs >= 2);
    }
}

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: dfr_failure_describe", "[alloc][failure]")
{
    for (bool debug : {false, true}) {
        DebugMode mode(debug);
        fail_loop([](long k) {
            dfr_failure *f = dfr_failure_wrap(dfr_failure_new(DOM, 1, "inner"), DOM, 2, "outer");
            REQUIRE(f != nullptr);
            char *text = nullptr;
            bool failed = inject(k, [&] { text = dfr_failure_describe(f); });
            if (text) {
                std::string s(text);
                CHECK(s.find("inner") != std::string::npos);
                CHECK(s.find("outer") != std::string::npos);
                dfr_free(text);
            }
            dfr_failure_unref(f);
            return failed;
        });
    }
}

// ---------------------------------------------------------------- values

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: dfr_bytes_new returns a DFR_ENOMEM failure value", "[alloc][value]")
{
    int runs = test::for_each_allocation_failure([](long) {
        dfr_value v = dfr_bytes_new("abc", 3);
        if (test::allocation_failed()) {
            REQUIRE(dfr_is_failure(v));
            CHECK(dfr_failure_check(dfr_failure_from(&v), DFR_DOMAIN, DFR_ENOMEM));
        } else {
            REQUIRE(dfr_is_bytes(v));
            CHECK(dfr_bytes_len(&v) == 3);
            CHECK(std::memcmp(dfr_bytes_data(&v), "abc", 3) == 0);
        }
        CHECK_FALSE(dfr_is_none(v));
        dfr_value_drop(v);
    });
    CHECK(runs >= 2);
}

// ---------------------------------------------------------------- ready-made

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: dfr_succeed drops the value when it fails", "[alloc]")
{
    int runs = fail_loop([](long k) {
        dfr_value v = dfr_bytes_new("value", 5);
        REQUIRE(dfr_is_bytes(v));
        dfr_deferred *d = nullptr;
        bool failed = inject(k, [&] { d = dfr_succeed(v); });
        if (!d) {
            CHECK(failed);
            return failed;
        }
        CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
        CHECK(dfr_bytes_len(dfr_deferred_result(d)) == 5);
        dfr_deferred_unref(d);
        return failed;
    });
    CHECK(runs >= 2);
}

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: dfr_fail releases the failure when it fails", "[alloc]")
{
    int runs = fail_loop([](long k) {
        dfr_failure *f = dfr_failure_new(DOM, 1, "f");
        REQUIRE(f != nullptr);
        dfr_deferred *d = nullptr;
        bool failed = inject(k, [&] { d = dfr_fail(f); });
        if (!d) {
            CHECK(failed);
            return failed;
        }
        CHECK(dfr_failure_from(dfr_deferred_result(d)) == f);
        REQUIRE(dfr_deferred_add_errback(d, swallow, nullptr, nullptr) == 0);
        dfr_deferred_unref(d);
        return failed;
    });
    CHECK(runs >= 2);
}

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: dfr_maybe_deferred", "[alloc]")
{
    auto fn = [](void *data) -> dfr_value {
        ++*static_cast<int *>(data);
        return dfr_bytes_new("made", 4);
    };
    int runs = test::for_each_allocation_failure([&](long) {
        int calls = 0;
        dfr_deferred *d = dfr_maybe_deferred(fn, &calls);
        CHECK(calls == 1);
        if (!d)
            return;
        if (dfr_deferred_state(d) == DFR_FAILED) {
            // The value fn tried to make could not be allocated.
            CHECK(code_of(dfr_deferred_result(d)) == DFR_ENOMEM);
            REQUIRE(dfr_deferred_add_errback(d, swallow, nullptr, nullptr) == 0);
        } else {
            CHECK(dfr_bytes_len(dfr_deferred_result(d)) == 4);
        }
        dfr_deferred_unref(d);
    });
    CHECK(runs >= 2);
}

// ---------------------------------------------------------------- chain

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: dfr_deferred_chain", "[alloc][chain]")
{
    bool saw_failure = false;
    for (int before = 0; before < 6; before++) {
        for (int fired = 0; fired < 2; fired++) {
            INFO(before << " callbacks already there, fired and paused: " << fired);
            fail_loop([&](long k) {
                dfr_deferred *d = dfr_deferred_new();
                dfr_deferred *other = dfr_deferred_new();
                REQUIRE(d != nullptr);
                REQUIRE(other != nullptr);
                for (int i = 0; i < before; i++)
                    REQUIRE(dfr_deferred_add_callbacks(d, pass, pass, nullptr, nullptr) == 0);
                if (fired) {
                    REQUIRE(dfr_deferred_pause(d) == 0);
                    REQUIRE(dfr_deferred_callback(d, dfr_i64(5)) == 0);
                }
                int rc = -100;
                bool failed = inject(k, [&] { rc = dfr_deferred_chain(d, other); });
                CHECK((rc == 0 || rc == DFR_ENOMEM));
                CHECK((rc == DFR_ENOMEM) == failed);
                if (failed)
                    saw_failure = true;
                if (fired) {
                    CHECK(is_i64(dfr_deferred_result(d), 5)); // kept
                    REQUIRE(dfr_deferred_unpause(d) == 0);
                } else {
                    REQUIRE(dfr_deferred_callback(d, dfr_i64(5)) == 0);
                }
                if (rc == 0) {
                    CHECK(is_i64(dfr_deferred_result(other), 5));
                    CHECK(dfr_is_none(*dfr_deferred_result(d)));
                } else {
                    CHECK(dfr_deferred_state(other) == DFR_PENDING);
                    CHECK(is_i64(dfr_deferred_result(d), 5));
                }
                dfr_deferred_unref(d);
                dfr_deferred_unref(other);
                return failed;
            });
        }
    }
    CHECK(saw_failure);
}

// design.md: inside a running chain the only allocation is growing the
// callback array of a pending deferred that a callback returned, when
// another deferred already waits on it (the first waiter has a slot of its
// own); if it fails, the chain continues with a DFR_ENOMEM failure.
TEST_CASE("OOM: a callback returning a pending deferred with several callbacks", "[alloc][chain]")
{
    auto returns_inner = [](dfr_value r, void *data) -> dfr_value {
        dfr_value_drop(r);
        return dfr_value_deferred(dfr_deferred_ref(static_cast<dfr_deferred *>(data)));
    };
    bool saw_failure = false;
    for (int m = 2; m <= 12; m++) {
        INFO("inner has " << m << " callbacks");
        fail_loop([&](long k) {
            dfr_deferred *outer = dfr_deferred_new();
            dfr_deferred *inner = dfr_deferred_new();
            dfr_deferred *first_waiter = dfr_deferred_new();
            int inner_calls = 0;
            for (int i = 0; i < m; i++)
                REQUIRE(dfr_deferred_add_callback(inner, count_pass, &inner_calls, nullptr) == 0);
            Seen first, after;
            REQUIRE(dfr_deferred_add_callback(first_waiter, returns_inner, inner, nullptr) == 0);
            REQUIRE(dfr_deferred_add_callbacks(first_waiter, keep, keep, &first, nullptr) == 0);
            REQUIRE(dfr_deferred_callback(first_waiter, dfr_none()) == 0); // waits on inner
            REQUIRE(dfr_deferred_add_callback(outer, returns_inner, inner, nullptr) == 0);
            REQUIRE(dfr_deferred_add_callbacks(outer, keep, keep, &after, nullptr) == 0);

            int rc = -100;
            bool failed = inject(k, [&] { rc = dfr_deferred_callback(outer, dfr_i64(0)); });
            CHECK(rc == 0);
            if (failed) {
                saw_failure = true;
                // The chain went on with a DFR_ENOMEM failure at once.
                REQUIRE(after.size() == 1);
                CHECK(dfr_failure_check(dfr_failure_from(after.at(0)), DFR_DOMAIN, DFR_ENOMEM));
                CHECK(dfr_deferred_state(outer) == DFR_SUCCEEDED);
            } else {
                CHECK(after.size() == 0);
                CHECK(dfr_deferred_state(outer) == DFR_PENDING);
            }
            REQUIRE(dfr_deferred_callback(inner, dfr_i64(7)) == 0);
            CHECK(inner_calls == m);
            // The first waiter always gets the result; the outer only when
            // it could wait too (then it gets none: the result moved on).
            REQUIRE(first.size() == 1);
            CHECK(is_i64(first.at(0), 7));
            if (failed) {
                CHECK(after.size() == 1);
            } else {
                REQUIRE(after.size() == 1);
                CHECK(dfr_is_none(*after.at(0)));
            }
            CHECK(dfr_is_none(*dfr_deferred_result(inner)));
            first.clear();
            after.clear();
            dfr_deferred_unref(first_waiter);
            dfr_deferred_unref(outer);
            dfr_deferred_unref(inner);
            return failed;
        });
    }
    CHECK(saw_failure);
}

// ---------------------------------------------------------------- cancel

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: cancel outside debug mode allocates nothing", "[alloc][cancel]")
{
    dfr_deferred *d = dfr_deferred_new();
    Seen seen;
    REQUIRE(dfr_deferred_add_callbacks(d, keep, keep, &seen, nullptr) == 0);
    size_t before = test::alloc_count();
    dfr_deferred_cancel(d);
    CHECK(test::alloc_count() == before);
    REQUIRE(seen.size() == 1);
    CHECK(code_of(seen.at(0)) == DFR_ECANCELLED);
    dfr_deferred_unref(d);
}

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: cancel and errback chains in debug mode", "[alloc][cancel][debug]")
{
    DebugMode mode(true);
    fail_loop([](long k) {
        dfr_deferred *d = dfr_deferred_new();
        Seen seen;
        REQUIRE(dfr_deferred_add_callbacks(d, keep, keep, &seen, nullptr) == 0);
        bool failed = inject(k, [&] { dfr_deferred_cancel(d); });
        REQUIRE(seen.size() == 1);
        CHECK(code_of(seen.at(0)) == DFR_ECANCELLED);
        seen.clear();
        dfr_deferred_unref(d);
        return failed;
    });
    // A failure passing through errbacks records them (an allocation).
    int runs = fail_loop([](long k) {
        dfr_deferred *d = dfr_deferred_new();
        for (int i = 0; i < 3; i++)
            REQUIRE(dfr_deferred_add_errback(d, pass, nullptr, nullptr) == 0);
        Seen seen;
        REQUIRE(dfr_deferred_add_errback(d, keep, &seen, nullptr) == 0);
        dfr_failure *f = dfr_failure_new(DOM, 1, "f");
        REQUIRE(f != nullptr);
        bool failed = inject(k, [&] { REQUIRE(dfr_deferred_errback(d, f) == 0); });
        REQUIRE(seen.size() == 1);
        CHECK(code_of(seen.at(0)) == 1);
        seen.clear();
        dfr_deferred_unref(d);
        return failed;
    });
    CHECK(runs >= 2);
}

// ---------------------------------------------------------------- lists

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: dfr_deferred_list and dfr_gather_results", "[alloc][list]")
{
    const unsigned flag_sets[] = {0, DFR_CONSUME_ERRORS, DFR_FIRE_ON_ONE_CALLBACK,
                                  DFR_FIRE_ON_ONE_ERRBACK,
                                  DFR_FIRE_ON_ONE_CALLBACK | DFR_FIRE_ON_ONE_ERRBACK |
                                      DFR_CONSUME_ERRORS};
    for (int gather = 0; gather < 2; gather++) {
        for (unsigned flags : flag_sets) {
            if (gather && flags > DFR_CONSUME_ERRORS)
                continue;
            INFO("gather " << gather << " flags " << flags);
            int runs = fail_loop([&](long k) {
                g_drops = 0;
                // d0: pending with a callback already (attaching must grow
                // its array); d1: already fired with a value that has no
                // clone; d2: pending.
                dfr_deferred *ds[3] = {dfr_deferred_new(), dfr_deferred_new(), dfr_deferred_new()};
                REQUIRE(dfr_deferred_add_callbacks(ds[0], pass, pass, nullptr, nullptr) == 0);
                int *obj = new int(1);
                REQUIRE(dfr_deferred_callback(ds[1], dfr_obj(&plain_type, obj)) == 0);

                dfr_deferred *dl = nullptr;
                bool failed = inject(k, [&] {
                    dl = gather ? dfr_gather_results(ds, 3, flags != 0) : dfr_deferred_list(ds, 3, flags);
                });
                if (!dl) {
                    CHECK(failed);
                    // Nothing of the list is left on the inputs: d1 still
                    // has its own value, the others get theirs.
                    const dfr_value *r1 = dfr_deferred_result(ds[1]);
                    REQUIRE(r1 != nullptr);
                    CHECK(r1->u.ptr == obj);
                    Seen s0, s2;
                    REQUIRE(dfr_deferred_add_callback(ds[0], keep, &s0, nullptr) == 0);
                    REQUIRE(dfr_deferred_add_callback(ds[2], keep, &s2, nullptr) == 0);
                    int *o0 = new int(0), *o2 = new int(2);
                    REQUIRE(dfr_deferred_callback(ds[0], dfr_obj(&plain_type, o0)) == 0);
                    REQUIRE(dfr_deferred_callback(ds[2], dfr_obj(&plain_type, o2)) == 0);
                    REQUIRE(s0.size() == 1);
                    REQUIRE(s2.size() == 1);
                    CHECK(s0.at(0)->u.ptr == o0);
                    CHECK(s2.at(0)->u.ptr == o2);
                } else {
                    REQUIRE(dfr_deferred_callback(ds[0], dfr_i64(10)) == 0);
                    REQUIRE(dfr_deferred_callback(ds[2], dfr_i64(12)) == 0);
                    int state = dfr_deferred_state(dl);
                    if (state == DFR_FAILED) {
                        // Only an allocation at fire time may replace the result.
                        CHECK(failed);
                        CHECK(code_of(dfr_deferred_result(dl)) == DFR_ENOMEM);
                        REQUIRE(dfr_deferred_add_errback(dl, swallow, nullptr, nullptr) == 0);
                    } else {
                        REQUIRE(state == DFR_SUCCEEDED);
                        dfr_list *l = dfr_list_from(dfr_deferred_result(dl));
                        REQUIRE(l != nullptr);
                        if (!gather && (flags & DFR_FIRE_ON_ONE_CALLBACK)) {
                            REQUIRE(dfr_list_len(l) == 2);
                            CHECK(dfr_list_get(l, 0)->u.ptr == obj);
                            CHECK(is_i64(dfr_list_get(l, 1), 1));
                        } else {
                            REQUIRE(dfr_list_len(l) == 3);
                            CHECK(is_i64(dfr_list_get(l, 0), 10));
                            CHECK(dfr_list_get(l, 1)->u.ptr == obj);
                            CHECK(is_i64(dfr_list_get(l, 2), 12));
                        }
                    }
                }
                for (auto *d : ds)
                    dfr_deferred_unref(d);
                dfr_deferred_unref(dl);
                return failed;
            });
            CHECK(runs >= 2);
        }
    }
}

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: cancelling a DeferredList", "[alloc][list][cancel]")
{
    fail_loop([](long k) {
        dfr_deferred *ds[2] = {dfr_deferred_new(), dfr_deferred_new()};
        dfr_deferred *dl = dfr_deferred_list(ds, 2, DFR_CONSUME_ERRORS);
        REQUIRE(dl != nullptr);
        bool failed = inject(k, [&] { dfr_deferred_cancel(dl); });
        REQUIRE(dfr_deferred_state(dl) == DFR_SUCCEEDED);
        dfr_list *l = dfr_list_from(dfr_deferred_result(dl));
        REQUIRE(dfr_list_len(l) == 2);
        CHECK(code_of(dfr_list_get(l, 0)) == DFR_ECANCELLED);
        CHECK(code_of(dfr_list_get(l, 1)) == DFR_ECANCELLED);
        for (auto *d : ds)
            dfr_deferred_unref(d);
        dfr_deferred_unref(dl);
        return failed;
    });
}

// ---------------------------------------------------------------- lock etc.

namespace {
struct Task {
    int calls = 0;
    int destroyed = 0;
    dfr_deferred *control = nullptr;
};
dfr_value task_fn(void *data)
{
    Task *t = static_cast<Task *>(data);
    t->calls++;
    if (t->control)
        return dfr_value_deferred(dfr_deferred_ref(t->control));
    return dfr_i64(77);
}
void task_destroy(void *data)
{
    static_cast<Task *>(data)->destroyed++;
}
} // namespace

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: DeferredLock", "[alloc][lock]")
{
    SECTION("new")
    {
        int runs = test::for_each_allocation_failure([](long) {
            dfr_lock *l = dfr_lock_new();
            if (l) {
                CHECK_FALSE(dfr_lock_locked(l));
                dfr_lock_free(l);
            }
        });
        CHECK(runs >= 2);
    }
    SECTION("acquire a free lock")
    {
        int runs = fail_loop([](long k) {
            dfr_lock *l = dfr_lock_new();
            REQUIRE(l != nullptr);
            dfr_deferred *a = nullptr;
            bool failed = inject(k, [&] { a = dfr_lock_acquire(l); });
            if (!a) {
                CHECK(failed);
                CHECK_FALSE(dfr_lock_locked(l));
            } else {
                CHECK(dfr_lock_locked(l));
                CHECK(dfr_deferred_state(a) == DFR_SUCCEEDED);
                REQUIRE(dfr_lock_release(l) == 0);
            }
            dfr_deferred_unref(a);
            dfr_lock_free(l);
            return failed;
        });
        CHECK(runs >= 2);
    }
    SECTION("acquire a held lock")
    {
        int runs = fail_loop([](long k) {
            dfr_lock *l = dfr_lock_new();
            dfr_deferred *held = dfr_lock_acquire(l);
            REQUIRE(held != nullptr);
            dfr_deferred *w = nullptr;
            bool failed = inject(k, [&] { w = dfr_lock_acquire(l); });
            CHECK(dfr_lock_waiting(l) == (w ? 1u : 0u));
            REQUIRE(dfr_lock_release(l) == 0);
            if (w) {
                CHECK(dfr_deferred_state(w) == DFR_SUCCEEDED);
                CHECK(dfr_lock_locked(l));
                REQUIRE(dfr_lock_release(l) == 0);
            } else {
                CHECK(failed);
            }
            CHECK_FALSE(dfr_lock_locked(l));
            dfr_deferred_unref(w);
            dfr_deferred_unref(held);
            dfr_lock_free(l);
            return failed;
        });
        CHECK(runs >= 2);
    }
    SECTION("run on a free lock, a held lock, and with a deferred result")
    {
        for (int variant = 0; variant < 3; variant++) {
            INFO("variant " << variant);
            int runs = fail_loop([&](long k) {
                dfr_lock *l = dfr_lock_new();
                REQUIRE(l != nullptr);
                dfr_deferred *held = variant == 1 ? dfr_lock_acquire(l) : nullptr;
                Task task;
                int control_calls = 0;
                if (variant == 2) {
                    task.control = dfr_deferred_new();
                    // Attaching the release to it must grow its array.
                    REQUIRE(dfr_deferred_add_callback(task.control, count_pass, &control_calls,
                                                      nullptr) == 0);
                }
                dfr_deferred *r = nullptr;
                bool failed = inject(k, [&] { r = dfr_lock_run(l, task_fn, &task, task_destroy); });
                if (!r) {
                    CHECK(failed);
                    CHECK(task.calls == 0); // a failed call never runs fn
                    CHECK(task.destroyed == 1);
                    CHECK(dfr_lock_locked(l) == (variant == 1));
                }
                if (held)
                    REQUIRE(dfr_lock_release(l) == 0);
                if (task.control)
                    REQUIRE(dfr_deferred_callback(task.control, dfr_i64(78)) == 0);
                if (r) {
                    CHECK(task.calls == 1);
                    CHECK(task.destroyed == 1);
                    int state = dfr_deferred_state(r);
                    if (state == DFR_FAILED) {
                        CHECK(failed);
                        CHECK(code_of(dfr_deferred_result(r)) == DFR_ENOMEM);
                        REQUIRE(dfr_deferred_add_errback(r, swallow, nullptr, nullptr) == 0);
                    } else {
                        CHECK(is_i64(dfr_deferred_result(r), variant == 2 ? 78 : 77));
                    }
                }
                CHECK_FALSE(dfr_lock_locked(l));
                dfr_deferred_unref(r);
                dfr_deferred_unref(held);
                dfr_deferred_unref(task.control);
                dfr_lock_free(l);
                return failed;
            });
            CHECK(runs >= 2);
        }
    }
}

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: DeferredSemaphore", "[alloc][semaphore]")
{
    int runs = test::for_each_allocation_failure([](long) {
        dfr_semaphore *s = dfr_semaphore_new(2);
        if (s)
            dfr_semaphore_free(s);
    });
    CHECK(runs >= 2);

    runs = fail_loop([](long k) {
        dfr_semaphore *s = dfr_semaphore_new(1);
        REQUIRE(s != nullptr);
        dfr_deferred *a = nullptr, *w = nullptr;
        bool failed = inject(k, [&] {
            a = dfr_semaphore_acquire(s);
            w = dfr_semaphore_acquire(s);
        });
        // Whoever got through first holds the token; a second one waits.
        unsigned holders = a ? 1u : (w ? 1u : 0u);
        CHECK(dfr_semaphore_tokens(s) == 1u - holders);
        if (!a && w)
            CHECK(dfr_deferred_state(w) == DFR_SUCCEEDED);
        if (a && w) {
            CHECK(dfr_semaphore_waiting(s) == 1);
            REQUIRE(dfr_semaphore_release(s) == 0);
            CHECK(dfr_deferred_state(w) == DFR_SUCCEEDED);
        }
        dfr_deferred_unref(a);
        dfr_deferred_unref(w);
        dfr_semaphore_free(s);
        return failed;
    });
    CHECK(runs >= 2);

    runs = fail_loop([](long k) {
        dfr_semaphore *s = dfr_semaphore_new(3);
        REQUIRE(s != nullptr);
        Task task;
        dfr_deferred *r = nullptr;
        bool failed = inject(k, [&] { r = dfr_semaphore_run(s, task_fn, &task, task_destroy); });
        CHECK(task.destroyed == 1);
        CHECK(task.calls == (r ? 1 : 0));
        if (r)
            CHECK(is_i64(dfr_deferred_result(r), 77));
        CHECK(dfr_semaphore_tokens(s) == 3);
        dfr_deferred_unref(r);
        dfr_semaphore_free(s);
        return failed;
    });
    CHECK(runs >= 2);
}

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: DeferredQueue", "[alloc][queue]")
{
    SECTION("new")
    {
        int runs = test::for_each_allocation_failure([](long) {
            dfr_queue *q = dfr_queue_new(DFR_UNLIMITED, DFR_UNLIMITED);
            if (q)
                dfr_queue_free(q);
        });
        CHECK(runs >= 2);
    }
    SECTION("put keeping values")
    {
        int runs = fail_loop([](long k) {
            dfr_queue *q = dfr_queue_new(DFR_UNLIMITED, DFR_UNLIMITED);
            REQUIRE(q != nullptr);
            std::vector<dfr_value> vals;
            for (int i = 0; i < 20; i++)
                vals.push_back(dfr_bytes_new("v", 1));
            int rcs[20];
            bool failed = inject(k, [&] {
                for (int i = 0; i < 20; i++)
                    rcs[i] = dfr_queue_put(q, vals[static_cast<size_t>(i)]);
            });
            size_t ok = 0;
            for (int rc : rcs) {
                CHECK((rc == 0 || rc == DFR_ENOMEM));
                ok += rc == 0;
            }
            CHECK(dfr_queue_pending(q) == ok);
            CHECK((ok < 20) == failed);
            dfr_queue_free(q);
            return failed;
        });
        CHECK(runs >= 2);
    }
    SECTION("get: waiting, with a value kept, and underflow")
    {
        for (int variant = 0; variant < 3; variant++) {
            INFO("variant " << variant);
            int runs = fail_loop([&](long k) {
                dfr_queue *q = dfr_queue_new(DFR_UNLIMITED, variant == 2 ? 0 : DFR_UNLIMITED);
                REQUIRE(q != nullptr);
                if (variant == 1)
                    REQUIRE(dfr_queue_put(q, dfr_bytes_new("kept", 4)) == 0);
                dfr_deferred *g = nullptr;
                bool failed = inject(k, [&] { g = dfr_queue_get(q); });
                if (!g) {
                    CHECK(failed);
                    CHECK(dfr_queue_waiting(q) == 0);
                    CHECK(dfr_queue_pending(q) == (variant == 1 ? 1u : 0u)); // value not lost
                } else if (variant == 0) {
                    CHECK(dfr_queue_waiting(q) == 1);
                    REQUIRE(dfr_queue_put(q, dfr_i64(3)) == 0);
                    CHECK(is_i64(dfr_deferred_result(g), 3));
                } else if (variant == 1) {
                    CHECK(dfr_bytes_len(dfr_deferred_result(g)) == 4);
                    CHECK(dfr_queue_pending(q) == 0);
                } else {
                    int code = code_of(dfr_deferred_result(g));
                    CHECK(code == DFR_EUNDERFLOW);
                    REQUIRE(dfr_deferred_add_errback(g, swallow, nullptr, nullptr) == 0);
                }
                dfr_deferred_unref(g);
                dfr_queue_free(q);
                return failed;
            });
            CHECK(runs >= 2);
        }
    }
}
