// Hostile programs against the core API: re-entrancy from callbacks,
// cancellers and destroy hooks; bad input of every kind; user types whose
// drop and clone call back into the library.  Each test must end with no
// crash, no leak (the runner's leak check) and every destroy run exactly
// once.  No Twisted counterpart: this is the C API's own contract
// (include/deferred/common.h, "Errors").
#include <catch2/catch.hpp>

#include "support.h"

#include <climits>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

using test::code_of;
using test::count_destroy;
using test::swallow;

namespace {

// ------------------------------------------------ re-entrancy from callbacks

struct Self {
    dfr_deferred *d = nullptr;
    int rc = 1;
    int calls = 0;
};

dfr_value fire_self(dfr_value v, void *data)
{
    auto *s = static_cast<Self *>(data);
    s->calls++;
    s->rc = dfr_deferred_callback(s->d, dfr_i64(7));
    return v;
}

dfr_value cancel_self(dfr_value v, void *data)
{
    auto *s = static_cast<Self *>(data);
    s->calls++;
    dfr_deferred_cancel(s->d);
    return v;
}

dfr_value unref_self(dfr_value v, void *data)
{
    auto *s = static_cast<Self *>(data);
    s->calls++;
    dfr_deferred_unref(s->d);
    return v;
}

dfr_value return_self(dfr_value v, void *data)
{
    auto *s = static_cast<Self *>(data);
    s->calls++;
    dfr_value_drop(v);
    return dfr_value_deferred(dfr_deferred_ref(s->d));
}

dfr_value add_to_self(dfr_value v, void *data)
{
    auto *s = static_cast<Self *>(data);
    s->calls++;
    if (s->calls < 100)
        s->rc = dfr_deferred_add_callback(s->d, add_to_self, s, nullptr);
    return v;
}

dfr_value pause_self(dfr_value v, void *data)
{
    auto *s = static_cast<Self *>(data);
    s->calls++;
    s->rc = dfr_deferred_pause(s->d);
    return v;
}

dfr_value take_self(dfr_value v, void *data)
{
    auto *s = static_cast<Self *>(data);
    s->calls++;
    dfr_value out = dfr_none();
    // Inside its own callbacks: refused, out untouched.
    s->rc = dfr_deferred_take_result(s->d, &out) ? 1 : 0;
    dfr_value_drop(out);
    return v;
}

dfr_value chain_self(dfr_value v, void *data)
{
    auto *s = static_cast<Self *>(data);
    s->calls++;
    s->rc = dfr_deferred_chain(s->d, s->d);
    return v;
}

} // namespace

TEST_CASE("hostile: a callback fires its own deferred", "[hostile][reentrancy]")
{
    Self s;
    s.d = dfr_deferred_new();
    int destroyed = 0;
    REQUIRE(dfr_deferred_add_callback(s.d, fire_self, &s, nullptr) == 0);
    REQUIRE(dfr_deferred_add_callback(s.d, test::count_pass, &destroyed, nullptr) == 0);
    REQUIRE(dfr_deferred_callback(s.d, dfr_i64(1)) == 0);
    CHECK(s.calls == 1);
    CHECK(s.rc == DFR_EALREADY);
    CHECK(destroyed == 1);
    CHECK(test::is_i64(dfr_deferred_result(s.d), 1));
    dfr_deferred_unref(s.d);
}

TEST_CASE("hostile: a callback cancels its own deferred", "[hostile][reentrancy]")
{
    Self s;
    int destroyed = 0;
    s.d = dfr_deferred_new_cancellable(nullptr, &destroyed, count_destroy);
    REQUIRE(dfr_deferred_add_callback(s.d, cancel_self, &s, nullptr) == 0);
    REQUIRE(dfr_deferred_callback(s.d, dfr_i64(1)) == 0);
    CHECK(s.calls == 1);
    CHECK(destroyed == 1);
    CHECK(test::is_i64(dfr_deferred_result(s.d), 1));
    dfr_deferred_unref(s.d);
}

TEST_CASE("hostile: a callback drops the last reference to its own deferred",
          "[hostile][reentrancy]")
{
    for (int firer_holds = 0; firer_holds <= 1; firer_holds++) {
        Self s;
        int destroyed = 0, after = 0;
        s.d = dfr_deferred_new();
        REQUIRE(dfr_deferred_add_callbacks(s.d, unref_self, nullptr, &s, nullptr) == 0);
        REQUIRE(dfr_deferred_add_callbacks(s.d, nullptr, nullptr, &destroyed, count_destroy) ==
                0);
        REQUIRE(dfr_deferred_add_callback(s.d, test::count_pass, &after, nullptr) == 0);
        if (firer_holds)
            dfr_deferred_ref(s.d);
        // Without a reference of the firer's, the deferred is freed by the
        // loop when its chain is done (the callback took the last one).
        dfr_deferred *d = s.d;
        REQUIRE(dfr_deferred_callback(d, test::counted_value(1)) == 0);
        CHECK(s.calls == 1);
        CHECK(after == 1);
        CHECK(destroyed == 1);
        if (firer_holds)
            dfr_deferred_unref(d);
    }
}

TEST_CASE("hostile: a callback returning its own deferred", "[hostile][reentrancy]")
{
    Self s;
    s.d = dfr_deferred_new();
    REQUIRE(dfr_deferred_add_callback(s.d, return_self, &s, nullptr) == 0);
    REQUIRE(dfr_deferred_callback(s.d, dfr_i64(1)) == 0);
    CHECK(s.calls == 1);
    // It cannot wait on itself: the chain goes on with a DFR_EINVAL failure
    // (Twisted raises); a cancel then changes nothing.
    CHECK(code_of(dfr_deferred_result(s.d)) == DFR_EINVAL);
    dfr_deferred_cancel(s.d);
    CHECK(code_of(dfr_deferred_result(s.d)) == DFR_EINVAL);
    dfr_deferred_add_errback(s.d, swallow, nullptr, nullptr);
    dfr_deferred_unref(s.d);
}

TEST_CASE("hostile: a callback adding callbacks to its own deferred, 100 deep",
          "[hostile][reentrancy]")
{
    Self s;
    s.d = dfr_deferred_new();
    REQUIRE(dfr_deferred_add_callback(s.d, add_to_self, &s, nullptr) == 0);
    REQUIRE(dfr_deferred_callback(s.d, dfr_i64(1)) == 0);
    CHECK(s.calls == 100);
    CHECK(s.rc == 0);
    dfr_deferred_unref(s.d);
}

TEST_CASE("hostile: a callback pausing its own deferred, then unreffed paused",
          "[hostile][reentrancy]")
{
    Self s;
    s.d = dfr_deferred_new();
    int later = 0, destroyed = 0;
    REQUIRE(dfr_deferred_add_callback(s.d, pause_self, &s, nullptr) == 0);
    REQUIRE(dfr_deferred_add_callback(s.d, test::must_not_run, &later, nullptr) == 0);
    REQUIRE(dfr_deferred_add_callbacks(s.d, nullptr, nullptr, &destroyed, count_destroy) == 0);
    int drops = test::drops;
    REQUIRE(dfr_deferred_callback(s.d, test::counted_value(1)) == 0);
    CHECK(s.rc == 0);
    CHECK(later == 0);
    CHECK(dfr_deferred_paused(s.d) == 1);
    dfr_deferred_unref(s.d); // paused forever: freed with its pending callback
    CHECK(later == 0);
    CHECK(destroyed == 1);
    CHECK(test::drops == drops + 1);
}

TEST_CASE("hostile: take_result and chain to itself from inside its own callback",
          "[hostile][reentrancy]")
{
    Self s;
    s.d = dfr_deferred_new();
    REQUIRE(dfr_deferred_add_callback(s.d, take_self, &s, nullptr) == 0);
    REQUIRE(dfr_deferred_callback(s.d, dfr_i64(1)) == 0);
    CHECK(s.rc == 0);
    dfr_deferred_unref(s.d);

    Self c;
    c.d = dfr_deferred_new();
    REQUIRE(dfr_deferred_add_callback(c.d, chain_self, &c, nullptr) == 0);
    REQUIRE(dfr_deferred_callback(c.d, dfr_i64(1)) == 0);
    CHECK(c.rc == 0);
    dfr_deferred_add_errback(c.d, swallow, nullptr, nullptr);
    dfr_deferred_unref(c.d);
}

// ------------------------------------------------ cancellers

namespace {

struct Canc {
    int calls = 0;
    int destroyed = 0;
    int rc = 1;
    int mode = 0;
};

void canceller(dfr_deferred *d, void *data)
{
    auto *c = static_cast<Canc *>(data);
    c->calls++;
    switch (c->mode) {
    case 0: // cancel again from inside the canceller
        dfr_deferred_cancel(d);
        break;
    case 1: // fire, then fire again
        dfr_deferred_callback(d, dfr_i64(1));
        c->rc = dfr_deferred_callback(d, dfr_i64(2));
        break;
    case 2: // add a callback that cancels again
        c->rc = dfr_deferred_add_errback(d, swallow, nullptr, nullptr);
        break;
    case 3: // errback with a failure the canceller made, then cancel
        dfr_deferred_errback(d, dfr_failure_new("mine", 5, nullptr));
        dfr_deferred_cancel(d);
        break;
    case 4: // pause itself: the cancel's failure waits
        c->rc = dfr_deferred_pause(d);
        break;
    }
}

void canc_destroy(void *data)
{
    auto *c = static_cast<Canc *>(data);
    c->destroyed++;
}

} // namespace

TEST_CASE("hostile: cancellers that call back into their own deferred", "[hostile][cancel]")
{
    for (int mode = 0; mode <= 4; mode++) {
        INFO("mode " << mode);
        Canc c;
        c.mode = mode;
        dfr_deferred *d = dfr_deferred_new_cancellable(canceller, &c, canc_destroy);
        REQUIRE(d);
        dfr_deferred_cancel(d);
        dfr_deferred_cancel(d);
        CHECK(c.calls == 1);
        if (mode == 1)
            CHECK(c.rc == DFR_EALREADY);
        if (mode == 4) {
            CHECK(dfr_deferred_paused(d) == 1);
            CHECK(dfr_deferred_unpause(d) == 0);
        }
        CHECK(dfr_deferred_state(d) != DFR_PENDING);
        dfr_deferred_add_errback(d, swallow, nullptr, nullptr);
        dfr_deferred_unref(d);
        CHECK(c.destroyed == 1);
    }
}

// ------------------------------------------------ destroy hooks calling in

namespace {

struct Hook {
    dfr_deferred *target = nullptr; // what the hook works on
    dfr_deferred *other = nullptr;
    int runs = 0;
    int rc = 1;
    int mode = 0;
};

void hook_destroy(void *data)
{
    auto *h = static_cast<Hook *>(data);
    h->runs++;
    switch (h->mode) {
    case 0: // add another callback to the same deferred
        h->rc = dfr_deferred_add_callback(h->target, swallow, nullptr, nullptr);
        break;
    case 1: // fire another deferred
        h->rc = dfr_deferred_callback(h->other, dfr_i64(3));
        break;
    case 2: // fire the same deferred again
        h->rc = dfr_deferred_callback(h->target, dfr_i64(3));
        break;
    case 3: // cancel the same deferred
        dfr_deferred_cancel(h->target);
        h->rc = 0;
        break;
    case 4: // drop the other deferred's last reference
        dfr_deferred_unref(h->other);
        h->other = nullptr;
        h->rc = 0;
        break;
    }
}

} // namespace

TEST_CASE("hostile: a callback's destroy hook calls back into the library",
          "[hostile][destroy]")
{
    for (int mode = 0; mode <= 4; mode++) {
        INFO("mode " << mode);
        Hook h;
        h.mode = mode;
        h.target = dfr_deferred_new();
        h.other = dfr_deferred_new();
        int seen = 0;
        REQUIRE(dfr_deferred_add_callback(h.other, test::count_pass, &seen, nullptr) == 0);
        REQUIRE(dfr_deferred_add_callbacks(h.target, nullptr, nullptr, &h, hook_destroy) == 0);
        REQUIRE(dfr_deferred_callback(h.target, dfr_i64(1)) == 0);
        CHECK(h.runs == 1);
        if (mode == 1)
            CHECK(h.rc == 0);
        if (mode == 2)
            CHECK(h.rc == DFR_EALREADY);
        dfr_deferred_unref(h.target);
        dfr_deferred_unref(h.other);
    }
}

TEST_CASE("hostile: destroy hooks run when an unfired deferred is freed call back in",
          "[hostile][destroy]")
{
    for (int mode = 0; mode <= 4; mode++) {
        INFO("mode " << mode);
        Hook h;
        h.mode = mode == 0 || mode == 2 || mode == 3 ? 1 : mode; // target is being freed
        h.other = dfr_deferred_new();
        h.target = nullptr;
        dfr_deferred *d = dfr_deferred_new();
        REQUIRE(dfr_deferred_add_callbacks(d, nullptr, nullptr, &h, hook_destroy) == 0);
        dfr_deferred_unref(d);
        CHECK(h.runs == 1);
        dfr_deferred_unref(h.other);
    }
}

namespace {

// A canceller destroy hook that fires the deferred it belongs to while the
// deferred is being freed: it must not come back to life.
struct Zombie {
    dfr_deferred *d = nullptr;
    int runs = 0;
    int rc = 1;
};

void zombie_destroy(void *data)
{
    auto *z = static_cast<Zombie *>(data);
    z->runs++;
}

} // namespace

TEST_CASE("hostile: canceller data destroyed when the deferred is freed unfired",
          "[hostile][destroy]")
{
    Zombie z;
    z.d = dfr_deferred_new_cancellable(nullptr, &z, zombie_destroy);
    REQUIRE(z.d);
    dfr_deferred_unref(z.d);
    CHECK(z.runs == 1);
}

// ------------------------------------------------ the unhandled error hook

namespace {

int g_hook_calls = 0;

void reentrant_unhandled(const dfr_failure *f, void *)
{
    g_hook_calls++;
    // Make and drop another unhandled failure from inside the hook: it is
    // reported too (once), never recursing without end.
    if (g_hook_calls < 5) {
        dfr_deferred *d = dfr_fail(dfr_failure_new("hook", dfr_failure_code(f) + 1, "again"));
        dfr_deferred_unref(d);
    }
}

} // namespace

TEST_CASE("hostile: the unhandled-error hook makes more unhandled errors", "[hostile][unhandled]")
{
    g_hook_calls = 0;
    dfr_set_unhandled_error_hook(reentrant_unhandled, nullptr);
    dfr_deferred *d = dfr_fail(dfr_failure_new("hook", 1, "first"));
    dfr_deferred_unref(d);
    dfr_set_unhandled_error_hook(nullptr, nullptr);
    CHECK(g_hook_calls == 5);
}

// ------------------------------------------------ user types calling in

namespace {

int g_evil_drops = 0;
dfr_deferred *g_evil_fire = nullptr;

// drop fires a deferred and drops a failure-holding deferred.
void evil_drop(void *p)
{
    g_evil_drops++;
    if (g_evil_fire) {
        dfr_deferred *d = g_evil_fire;
        g_evil_fire = nullptr;
        dfr_deferred_callback(d, dfr_i64(9));
    }
    delete static_cast<int *>(p);
}

// clone gives a deferred value: whoever gets the clone waits on it.
dfr_deferred *g_clone_to = nullptr;
dfr_value deferred_clone(const dfr_value *)
{
    if (g_clone_to)
        return dfr_value_deferred(dfr_deferred_ref(g_clone_to));
    return dfr_value_failure(dfr_failure_new("clone", 1, "no"));
}

const dfr_type evil = {sizeof(dfr_type), "evil", evil_drop, deferred_clone};
const dfr_type no_drop = {sizeof(dfr_type), "nodrop", nullptr, nullptr};
// A type whose size is 0 (a caller that forgot to set it).
const dfr_type zero_size = {0, "zero", nullptr, nullptr};

} // namespace

TEST_CASE("hostile: a user type's drop fires another deferred", "[hostile][types]")
{
    g_evil_drops = 0;
    dfr_deferred *other = dfr_deferred_new();
    test::Seen seen;
    dfr_deferred_add_callback(other, test::keep, &seen, nullptr);
    g_evil_fire = other;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_callback(d, dfr_obj(&evil, new int(1)));
    dfr_deferred_unref(d);
    CHECK(g_evil_drops == 1);
    REQUIRE(seen.size() == 1);
    CHECK(test::is_i64(seen.at(0), 9));
    dfr_deferred_unref(other);
}

TEST_CASE("hostile: a clone giving a deferred or a failure, through a DeferredList",
          "[hostile][types][list]")
{
    for (int with_deferred = 0; with_deferred <= 1; with_deferred++) {
        g_evil_drops = 0;
        dfr_deferred *wait = dfr_deferred_new();
        g_clone_to = with_deferred ? wait : nullptr;
        dfr_deferred *in = dfr_deferred_new();
        dfr_deferred *list = dfr_deferred_list(&in, 1, 0);
        REQUIRE(list);
        test::Seen seen;
        dfr_deferred_add_both(in, test::keep, &seen, nullptr);
        dfr_deferred_callback(in, dfr_obj(&evil, new int(1)));
        dfr_deferred_callback(wait, dfr_i64(4));
        CHECK(dfr_deferred_state(list) == DFR_SUCCEEDED);
        REQUIRE(seen.size() == 1);
        if (with_deferred)
            CHECK(test::is_i64(seen.at(0), 4));
        else
            CHECK(code_of(seen.at(0)) == 1);
        g_clone_to = nullptr;
        dfr_deferred_unref(list);
        dfr_deferred_unref(in);
        dfr_deferred_unref(wait);
        seen.clear();
        CHECK(g_evil_drops == 1);
    }
}

TEST_CASE("hostile: a clone giving the very input it was cloned for", "[hostile][types][list]")
{
    dfr_deferred *in = dfr_deferred_new();
    g_clone_to = in;
    dfr_deferred *list = dfr_deferred_list(&in, 1, 0);
    dfr_deferred_callback(in, dfr_obj(&evil, new int(1)));
    g_clone_to = nullptr;
    dfr_deferred_cancel(in);
    dfr_deferred_add_errback(in, swallow, nullptr, nullptr);
    dfr_deferred_unref(list);
    dfr_deferred_unref(in);
}

TEST_CASE("hostile: values of types without drop or clone, or of size 0, everywhere",
          "[hostile][types]")
{
    int x = 0;
    for (const dfr_type *t : {&no_drop, &zero_size}) {
        dfr_value v = dfr_obj(t, &x);
        dfr_value c = dfr_value_clone(&v);
        CHECK(dfr_is_none(c));
        CHECK(dfr_value_kind(&v) == DFR_KIND_OTHER);
        dfr_deferred *d = dfr_succeed(v);
        REQUIRE(d);
        dfr_deferred *l = dfr_deferred_list(&d, 1, 0);
        dfr_deferred_unref(l);
        dfr_deferred_unref(d);
        dfr_queue *q = dfr_queue_new(1, 1);
        CHECK(dfr_queue_put(q, dfr_obj(t, &x)) == 0);
        CHECK(dfr_queue_put(q, dfr_obj(t, &x)) == DFR_EOVERFLOW);
        dfr_queue_free(q);
    }
}

// ------------------------------------------------ bad input

TEST_CASE("hostile: NULL everywhere in the core API", "[hostile][null]")
{
    int destroyed = 0;
    CHECK(dfr_deferred_add_callbacks(nullptr, nullptr, nullptr, &destroyed, count_destroy) ==
          DFR_EINVAL);
    CHECK(dfr_deferred_add_callback(nullptr, swallow, &destroyed, count_destroy) == DFR_EINVAL);
    CHECK(dfr_deferred_add_errback(nullptr, swallow, &destroyed, count_destroy) == DFR_EINVAL);
    CHECK(dfr_deferred_add_both(nullptr, swallow, &destroyed, count_destroy) == DFR_EINVAL);
    dfr_deferred *d = dfr_deferred_new();
    CHECK(dfr_deferred_add_callback(d, nullptr, &destroyed, count_destroy) == DFR_EINVAL);
    CHECK(dfr_deferred_add_errback(d, nullptr, &destroyed, count_destroy) == DFR_EINVAL);
    CHECK(dfr_deferred_add_both(d, nullptr, &destroyed, count_destroy) == DFR_EINVAL);
    CHECK(destroyed == 7);
    CHECK(dfr_deferred_callback(nullptr, test::counted_value(1)) == DFR_EINVAL);
    CHECK(dfr_deferred_errback(nullptr, dfr_failure_new(nullptr, 1, nullptr)) == DFR_EINVAL);
    CHECK(dfr_deferred_errback(d, nullptr) == DFR_EINVAL);
    CHECK(dfr_deferred_state(d) == DFR_PENDING);
    CHECK(dfr_deferred_chain(nullptr, d) == DFR_EINVAL);
    CHECK(dfr_deferred_chain(d, nullptr) == DFR_EINVAL);
    CHECK(dfr_deferred_pause(nullptr) == DFR_EINVAL);
    CHECK(dfr_deferred_unpause(nullptr) == DFR_EINVAL);
    CHECK(dfr_deferred_unpause(d) == DFR_EINVAL);
    CHECK(dfr_deferred_paused(nullptr) == DFR_EINVAL);
    CHECK(dfr_deferred_state(nullptr) == DFR_STATE_INVALID);
    CHECK(dfr_deferred_result(nullptr) == nullptr);
    dfr_value out = dfr_i64(3);
    CHECK_FALSE(dfr_deferred_take_result(nullptr, &out));
    CHECK_FALSE(dfr_deferred_take_result(d, nullptr));
    CHECK_FALSE(dfr_deferred_take_result(d, &out));
    CHECK(test::is_i64(&out, 3));
    dfr_deferred_cancel(nullptr);
    dfr_deferred_unref(nullptr);
    CHECK(dfr_deferred_ref(nullptr) == nullptr);
    CHECK(test::refused_with(dfr_maybe_deferred(nullptr, nullptr), DFR_EINVAL));
    CHECK(test::refused_with(dfr_fail(nullptr), DFR_EINVAL));
    CHECK(test::refused_with(dfr_deferred_list(nullptr, 1, 0), DFR_EINVAL));
    CHECK(test::refused_with(dfr_gather_results(nullptr, 2, true), DFR_EINVAL));
    dfr_deferred *two[2] = {d, nullptr};
    CHECK(test::refused_with(dfr_deferred_list(two, 2, 0), DFR_EINVAL));
    CHECK(test::refused_with(dfr_deferred_list(two, 1, 0x80), DFR_EINVAL));
    CHECK(test::refused_with(dfr_deferred_list(two, 1, ~0u), DFR_EINVAL));
    // Unknown flags are refused for any n (list.h).
    CHECK(test::refused_with(dfr_deferred_list(nullptr, 0, ~0u), DFR_EINVAL));
    dfr_deferred *empty = dfr_deferred_list(nullptr, 0, DFR_FIRE_ON_ONE_ERRBACK);
    CHECK(dfr_deferred_state(empty) == DFR_SUCCEEDED);
    dfr_deferred_unref(empty);
    dfr_deferred_unref(d);
    // Failures.
    CHECK(dfr_failure_domain(nullptr) == nullptr);
    CHECK(dfr_failure_code(nullptr) == 0);
    CHECK(std::string(dfr_failure_message(nullptr)).empty());
    CHECK(dfr_failure_cause(nullptr) == nullptr);
    CHECK(dfr_failure_index(nullptr) == -1);
    CHECK_FALSE(dfr_failure_check(nullptr, DFR_DOMAIN, DFR_ANY));
    CHECK(dfr_failure_payload(nullptr) == nullptr);
    CHECK(dfr_failure_describe(nullptr) == nullptr);
    CHECK(dfr_failure_set_payload(nullptr, test::counted_value(1)) == DFR_EINVAL);
    CHECK(dfr_failure_ref(nullptr) == nullptr);
    dfr_failure_unref(nullptr);
    // Values.
    CHECK(dfr_is_none(dfr_value_clone(nullptr)));
    CHECK(dfr_bytes_data(nullptr) == nullptr);
    CHECK(dfr_bytes_len(nullptr) == 0);
    CHECK(dfr_failure_from(nullptr) == nullptr);
    CHECK(dfr_deferred_from(nullptr) == nullptr);
    CHECK(dfr_list_from(nullptr) == nullptr);
    CHECK(dfr_list_len(nullptr) == 0);
    CHECK_FALSE(dfr_list_ok(nullptr, 0));
    CHECK(dfr_list_get(nullptr, 0) == nullptr);
    CHECK(dfr_is_none(dfr_list_take(nullptr, 0)));
    dfr_value_drop(dfr_none());
    CHECK(std::string(dfr_strerror(INT_MIN)) == "unknown error");
    CHECK(std::string(dfr_strerror(INT_MAX)) == "unknown error");
    CHECK(std::string(dfr_strerror(1)) == "unknown error");
    CHECK(std::string(dfr_strerror(DFR_EINUSE - 1)) == "unknown error");
    CHECK(dfr_set_allocator(nullptr) == DFR_EINVAL);
}

TEST_CASE("hostile: failures with NULL messages, odd codes and odd domains", "[hostile][failure]")
{
    for (int code : {0, 1, -1, INT_MIN, INT_MAX, DFR_ANY, DFR_EINUSE - 1}) {
        INFO("code " << code);
        dfr_failure *f = dfr_failure_new(nullptr, code, nullptr);
        REQUIRE(f);
        CHECK(std::string(dfr_failure_domain(f)) == DFR_DOMAIN);
        CHECK(std::string(dfr_failure_message(f)).empty());
        CHECK(dfr_failure_code(f) == code);
        CHECK(dfr_failure_check(f, DFR_DOMAIN, DFR_ANY));
        CHECK_FALSE(dfr_failure_check(f, "other", code));
        CHECK(dfr_failure_index(f) == -1);
        char *text = dfr_failure_describe(f);
        REQUIRE(text);
        dfr_free(text);
        dfr_failure *w = dfr_failure_wrap(f, "", code, "");
        REQUIRE(w);
        dfr_failure *g = dfr_failure_newf("x", code, nullptr);
        REQUIRE(g);
        dfr_failure *h = dfr_failure_newf("x", code, "%s", "");
        REQUIRE(h);
        dfr_deferred *d = dfr_fail(w);
        CHECK(dfr_deferred_errback(d, g) == DFR_EALREADY);
        dfr_deferred_add_errback(d, swallow, nullptr, nullptr);
        dfr_deferred_unref(d);
        dfr_failure_unref(h);
    }
    // A wrap with a NULL cause is a plain failure.
    dfr_failure *w = dfr_failure_wrap(nullptr, nullptr, 3, nullptr);
    REQUIRE(w);
    CHECK(dfr_failure_cause(w) == nullptr);
    // A failure as its own payload: a cycle of references the library cannot
    // see; dropping the payload first breaks it.
    CHECK(dfr_failure_set_payload(w, dfr_value_failure(dfr_failure_ref(w))) == 0);
    CHECK(dfr_failure_set_payload(w, dfr_none()) == 0);
    dfr_failure_unref(w);
    // The library's preallocated failures refuse payloads.
    dfr_deferred *c = dfr_deferred_new();
    dfr_deferred_cancel(c);
    const dfr_value *r = dfr_deferred_result(c);
    REQUIRE(r);
    dfr_failure *cf = dfr_failure_from(r);
    int rc = dfr_failure_set_payload(cf, test::counted_value(1));
    CHECK((rc == DFR_EINVAL || rc == 0));
    dfr_deferred_add_errback(c, swallow, nullptr, nullptr);
    dfr_deferred_unref(c);
}

TEST_CASE("hostile: bytes and values through the FFI forms with bad sizes", "[hostile][value]")
{
    dfr_value v = dfr_bytes_new(nullptr, 5);
    CHECK(code_of(&v) == DFR_EINVAL);
    dfr_value_drop(v);
    v = dfr_bytes_new("x", SIZE_MAX);
    CHECK((code_of(&v) == DFR_EINVAL || code_of(&v) == DFR_ENOMEM));
    dfr_value_drop(v);
    v = dfr_bytes_new("x", SIZE_MAX - 8);
    CHECK((code_of(&v) == DFR_EINVAL || code_of(&v) == DFR_ENOMEM));
    dfr_value_drop(v);
    v = dfr_bytes_new(nullptr, 0);
    CHECK(dfr_is_bytes(v));
    CHECK(dfr_bytes_len(&v) == 0);
    dfr_value_drop(v);

    dfr_value slot = dfr_none();
    CHECK(dfr_value_set_bytes(&slot, nullptr, 1) == DFR_EINVAL);
    CHECK(code_of(&slot) == DFR_EINVAL);
    CHECK(dfr_value_set_bytes(&slot, "x", SIZE_MAX) != 0);
    CHECK(dfr_value_set_string(&slot, nullptr) == DFR_EINVAL);
    CHECK(dfr_value_set_string(nullptr, "x") == DFR_EINVAL);
    CHECK(dfr_value_set_failure(&slot, nullptr) == DFR_EINVAL);
    CHECK(dfr_value_set_deferred(&slot, nullptr) == DFR_EINVAL);
    CHECK(dfr_value_set_obj(&slot, nullptr, &slot) == DFR_EINVAL);
    CHECK(dfr_value_set_list(&slot, nullptr, nullptr, 3) == DFR_EINVAL);
    CHECK(dfr_value_set_list(&slot, nullptr, nullptr, SIZE_MAX) == DFR_EINVAL);
    dfr_value items[2] = {test::counted_value(1), test::counted_value(2)};
    int drops = test::drops;
    // An n whose entries cannot be counted in a size_t: refused, and the
    // caller's items are... (only n of them exist: the two given are taken).
    CHECK(dfr_value_set_list(nullptr, items, nullptr, 2) == DFR_EINVAL);
    CHECK(test::drops == drops + 2);
    CHECK(dfr_is_none(items[0]));
    // set_list writing into one of its own items.
    items[0] = test::counted_value(3);
    items[1] = test::counted_value(4);
    CHECK(dfr_value_set_list(&items[1], items, nullptr, 2) == 0);
    CHECK(dfr_is_none(items[0]));
    REQUIRE(dfr_is_list(items[1]));
    dfr_list *l = dfr_list_from(&items[1]);
    CHECK(dfr_list_len(l) == 2);
    CHECK(dfr_list_get(l, 2) == nullptr);
    CHECK(dfr_list_get(l, SIZE_MAX) == nullptr);
    CHECK_FALSE(dfr_list_ok(l, SIZE_MAX));
    dfr_value none = dfr_list_take(l, SIZE_MAX);
    CHECK(dfr_is_none(none));
    dfr_list_take_ffi(l, 0, nullptr);
    dfr_list_take_ffi(nullptr, 0, &slot);
    dfr_value_drop(items[1]);
    // move and copy with NULLs and aliasing.
    dfr_value_move(nullptr, &slot);
    dfr_value_move(&slot, nullptr);
    dfr_value_move(&slot, &slot);
    dfr_value_copy(nullptr, &slot);
    dfr_value_copy(&slot, nullptr);
    dfr_value_copy(&slot, &slot);
    dfr_value_set_none(&slot);
    dfr_value_set_none(nullptr);
    dfr_value_set_i64(nullptr, 1);
    dfr_value_set_f64(nullptr, 1);
    dfr_value_set_ptr(nullptr, nullptr);
    CHECK(dfr_value_get_bytes(nullptr, nullptr) == nullptr);
    size_t len = 7;
    CHECK(dfr_value_get_bytes(nullptr, &len) == nullptr);
    CHECK(len == 0);
    CHECK(dfr_value_kind(nullptr) == DFR_KIND_INVALID);
    CHECK(dfr_value_type(nullptr) == nullptr);
}

TEST_CASE("hostile: f64 values NaN and infinities, i64 extremes travel unchanged",
          "[hostile][value]")
{
    double specials[] = {std::nan(""), INFINITY, -INFINITY, -0.0,
                         std::numeric_limits<double>::denorm_min()};
    for (double x : specials) {
        dfr_deferred *d = dfr_succeed(dfr_f64(x));
        const dfr_value *r = dfr_deferred_result(d);
        REQUIRE(r);
        CHECK(std::memcmp(&r->u.f64, &x, sizeof x) == 0);
        dfr_deferred_unref(d);
    }
    for (int64_t x : {INT64_MIN, INT64_MAX, int64_t(0), int64_t(-1)}) {
        dfr_queue *q = dfr_queue_new(DFR_UNLIMITED, DFR_UNLIMITED);
        CHECK(dfr_queue_put(q, dfr_i64(x)) == 0);
        dfr_deferred *g = dfr_queue_get(q);
        CHECK(test::is_i64(dfr_deferred_result(g), x));
        dfr_deferred_unref(g);
        dfr_queue_free(q);
    }
}

TEST_CASE("hostile: pauses at the limit, unpauses past zero", "[hostile][pause]")
{
    dfr_deferred *d = dfr_deferred_new();
    int rc = 0, n = 0;
    while ((rc = dfr_deferred_pause(d)) == 0 && n < 40000)
        n++;
    CHECK(rc == DFR_EOVERFLOW);
    CHECK(n == 32767);
    dfr_deferred_callback(d, test::counted_value(1));
    int seen = 0;
    dfr_deferred_add_callback(d, test::count_pass, &seen, nullptr);
    for (int i = 0; i < n; i++)
        REQUIRE(dfr_deferred_unpause(d) == 0);
    CHECK(dfr_deferred_unpause(d) == DFR_EINVAL);
    CHECK(seen == 1);
    dfr_deferred_unref(d);
}

// ------------------------------------------------ sync objects

namespace {

struct FreeFrom {
    dfr_lock *lock = nullptr;
    dfr_semaphore *sem = nullptr;
    dfr_queue *queue = nullptr;
    int runs = 0;
};

// Frees the object that fired it, from inside its callback.
dfr_value free_owner(dfr_value v, void *data)
{
    auto *f = static_cast<FreeFrom *>(data);
    f->runs++;
    if (f->lock) {
        dfr_lock_free(f->lock);
        f->lock = nullptr;
    }
    if (f->sem) {
        dfr_semaphore_free(f->sem);
        f->sem = nullptr;
    }
    if (f->queue) {
        dfr_queue_free(f->queue);
        f->queue = nullptr;
    }
    return v;
}

dfr_value task_free_owner(void *data)
{
    free_owner(dfr_none(), data);
    return dfr_i64(1);
}

} // namespace

TEST_CASE("hostile: a lock, semaphore or queue freed from the callback it fires",
          "[hostile][sync]")
{
    SECTION("lock: first acquirer frees it while others wait")
    {
        FreeFrom f;
        f.lock = dfr_lock_new();
        dfr_deferred *a = dfr_lock_acquire(f.lock);
        dfr_deferred *b = dfr_lock_acquire(f.lock);
        dfr_deferred *c = dfr_lock_acquire(f.lock);
        dfr_deferred_add_callback(b, free_owner, &f, nullptr);
        dfr_deferred_add_errback(c, swallow, nullptr, nullptr);
        // a holds it; b gets it on release and frees the lock there.
        dfr_lock *l = f.lock;
        CHECK(dfr_lock_release(l) == 0);
        CHECK(f.runs == 1);
        CHECK(dfr_deferred_state(c) == DFR_SUCCEEDED); // swallowed ECANCELLED
        dfr_deferred_unref(a);
        dfr_deferred_unref(b);
        dfr_deferred_unref(c);
    }
    SECTION("lock: run's fn frees the lock")
    {
        FreeFrom f;
        f.lock = dfr_lock_new();
        int destroyed = 0;
        dfr_deferred *r = dfr_lock_run(f.lock, task_free_owner, &f, nullptr);
        dfr_deferred *r2 = dfr_lock_run(f.lock, task_free_owner, &destroyed, count_destroy);
        CHECK(f.runs == 1);
        CHECK(test::is_i64(dfr_deferred_result(r), 1));
        dfr_deferred_add_errback(r2, swallow, nullptr, nullptr);
        CHECK(destroyed == 1);
        dfr_deferred_unref(r);
        dfr_deferred_unref(r2);
    }
    SECTION("semaphore: a waiter frees it on being given a token")
    {
        FreeFrom f;
        f.sem = dfr_semaphore_new(1);
        dfr_semaphore *s = f.sem;
        dfr_deferred *a = dfr_semaphore_acquire(s);
        dfr_deferred *b = dfr_semaphore_acquire(s);
        dfr_deferred *c = dfr_semaphore_acquire(s);
        dfr_deferred_add_callback(b, free_owner, &f, nullptr);
        dfr_deferred_add_errback(c, swallow, nullptr, nullptr);
        CHECK(dfr_semaphore_release(s) == 0);
        CHECK(f.runs == 1);
        dfr_deferred_unref(a);
        dfr_deferred_unref(b);
        dfr_deferred_unref(c);
    }
    SECTION("semaphore: run's fn frees it, more runs wait")
    {
        FreeFrom f;
        f.sem = dfr_semaphore_new(1);
        int destroyed = 0;
        dfr_deferred *r = dfr_semaphore_run(f.sem, task_free_owner, &f, nullptr);
        CHECK(f.runs == 1);
        dfr_deferred_unref(r);
        (void)destroyed;
    }
    SECTION("queue: a get's callback frees the queue while more gets wait")
    {
        FreeFrom f;
        f.queue = dfr_queue_new(DFR_UNLIMITED, DFR_UNLIMITED);
        dfr_queue *q = f.queue;
        dfr_deferred *a = dfr_queue_get(q);
        dfr_deferred *b = dfr_queue_get(q);
        dfr_deferred_add_callback(a, free_owner, &f, nullptr);
        dfr_deferred_add_errback(b, swallow, nullptr, nullptr);
        CHECK(dfr_queue_put(q, test::counted_value(1)) == 0);
        CHECK(f.runs == 1);
        CHECK(dfr_deferred_state(b) == DFR_SUCCEEDED);
        dfr_deferred_unref(a);
        dfr_deferred_unref(b);
    }
    SECTION("queue: cancel a get from the callback of another, both waiting")
    {
        dfr_queue *q = dfr_queue_new(0, 2);
        dfr_deferred *a = dfr_queue_get(q);
        dfr_deferred *b = dfr_queue_get(q);
        CHECK(test::refused_with(dfr_queue_get(q), DFR_EUNDERFLOW));
        dfr_deferred_cancel(a);
        CHECK(dfr_queue_waiting(q) == 1);
        CHECK(dfr_queue_put(q, dfr_i64(1)) == 0);
        CHECK(test::is_i64(dfr_deferred_result(b), 1));
        CHECK(dfr_queue_put(q, dfr_i64(2)) == DFR_EOVERFLOW);
        dfr_deferred_add_errback(a, swallow, nullptr, nullptr);
        dfr_deferred_unref(a);
        dfr_deferred_unref(b);
        dfr_queue_free(q);
    }
}

TEST_CASE("hostile: sync objects with NULL and extremes", "[hostile][sync]")
{
    int destroyed = 0;
    CHECK(dfr_semaphore_new(0) == nullptr);
    dfr_semaphore *s = dfr_semaphore_new(UINT_MAX);
    REQUIRE(s);
    CHECK(dfr_semaphore_tokens(s) == UINT_MAX);
    CHECK(dfr_semaphore_release(s) == DFR_EINVAL);
    dfr_semaphore_free(s);
    CHECK(test::refused_with(dfr_lock_run(nullptr, task_free_owner, &destroyed, count_destroy),
                             DFR_EINVAL));
    dfr_lock *l = dfr_lock_new();
    CHECK(test::refused_with(dfr_lock_run(l, nullptr, &destroyed, count_destroy), DFR_EINVAL));
    CHECK(dfr_lock_release(l) == DFR_EINVAL);
    dfr_lock_free(l);
    CHECK(test::refused_with(dfr_semaphore_run(nullptr, task_free_owner, &destroyed,
                                               count_destroy),
                             DFR_EINVAL));
    CHECK(destroyed == 3);
    CHECK(dfr_queue_put(nullptr, test::counted_value(1)) == DFR_EINVAL);
    dfr_queue *q = dfr_queue_new(DFR_UNLIMITED, 0);
    CHECK(test::refused_with(dfr_queue_get(q), DFR_EUNDERFLOW));
    dfr_deferred *d = dfr_deferred_new();
    CHECK(dfr_queue_put(q, dfr_value_deferred(d)) == DFR_EINVAL); // d's reference dropped
    dfr_queue_free(q);
    dfr_lock_free(nullptr);
    dfr_semaphore_free(nullptr);
    dfr_queue_free(nullptr);
    CHECK_FALSE(dfr_lock_locked(nullptr));
    CHECK(dfr_lock_waiting(nullptr) == 0);
    CHECK(dfr_semaphore_tokens(nullptr) == 0);
    CHECK(dfr_queue_pending(nullptr) == 0);
    CHECK(dfr_queue_waiting(nullptr) == 0);
}

// ------------------------------------------------ cycles through cancellers

namespace {

dfr_deferred *g_wait_on = nullptr;

dfr_value return_wait_on(dfr_value v, void *)
{
    dfr_value_drop(v);
    return dfr_value_deferred(dfr_deferred_ref(g_wait_on));
}

void cancel_other(dfr_deferred *, void *data)
{
    dfr_deferred_cancel(static_cast<dfr_deferred *>(data));
}

} // namespace

// Twisted recurses until RecursionError.  Was: the cancel did nothing (the
// list was already in its canceller) and both stayed pending forever.
TEST_CASE("hostile: cancelling a list one of whose inputs waits on the list itself",
          "[hostile][cancel][list]")
{
    dfr_deferred *d = dfr_deferred_new();
    test::Seen seen;
    REQUIRE(dfr_deferred_add_callback(d, return_wait_on, nullptr, nullptr) == 0);
    dfr_deferred *list = dfr_deferred_list(&d, 1, 0);
    g_wait_on = list;
    REQUIRE(dfr_deferred_callback(d, dfr_i64(1)) == 0);
    CHECK(dfr_deferred_state(d) == DFR_PENDING); // waits on the list
    CHECK(dfr_deferred_state(list) == DFR_PENDING); // waits on d
    dfr_deferred_cancel(list);
    CHECK(code_of(dfr_deferred_result(d)) == DFR_ECANCELLED);
    REQUIRE(dfr_deferred_state(list) == DFR_SUCCEEDED);
    dfr_list *l = dfr_list_from(dfr_deferred_result(list));
    REQUIRE(dfr_list_len(l) == 1);
    CHECK_FALSE(dfr_list_ok(l, 0));
    CHECK(code_of(dfr_list_get(l, 0)) == DFR_ECANCELLED);
    dfr_deferred_add_errback(d, swallow, nullptr, nullptr);
    dfr_deferred_unref(d);
    dfr_deferred_unref(list);
    g_wait_on = nullptr;
}

TEST_CASE("hostile: a canceller that cancels a deferred waiting on its own",
          "[hostile][cancel]")
{
    dfr_deferred *y = dfr_deferred_new();
    dfr_deferred *x = dfr_deferred_new_cancellable(cancel_other, y, nullptr);
    g_wait_on = x;
    REQUIRE(dfr_deferred_add_callback(y, return_wait_on, nullptr, nullptr) == 0);
    REQUIRE(dfr_deferred_callback(y, dfr_i64(1)) == 0);
    CHECK(dfr_deferred_state(y) == DFR_PENDING);
    dfr_deferred_cancel(x);
    CHECK(code_of(dfr_deferred_result(x)) == DFR_ECANCELLED);
    CHECK(code_of(dfr_deferred_result(y)) == DFR_ECANCELLED);
    for (auto *d : {x, y}) {
        dfr_deferred_add_errback(d, swallow, nullptr, nullptr);
        dfr_deferred_unref(d);
    }
    g_wait_on = nullptr;
}
