// Deep chains must not grow the C stack (design.md: chains run in a loop over
// an intrusive stack).  Each scenario runs on the default stack and again in
// a thread with a 64 KiB stack, where any recursion per link would crash.
// Twisted: test_boundedStackDepth, S19 (scaled up to a million links).
#include <catch2/catch.hpp>

#include "support.h"

#include <pthread.h>

#include <atomic>

#include <string>
#include <vector>

namespace {

const size_t MILLION = 1000000;
const size_t CHAIN_LINKS = 100000;
const int64_t END = 424242;

// Scenario results are collected without Catch macros (they are not
// thread-safe) and checked on the main thread.
struct Outcome {
    bool ok = true;
    std::string why;
    void expect(bool cond, const char *what, size_t where = 0)
    {
        if (!cond && ok) {
            ok = false;
            why = std::string(what) + " (index " + std::to_string(where) + ")";
        }
    }
};

struct LastKept {
    int calls = 0;
    dfr_value last = dfr_none();
};

dfr_value keep_last(dfr_value r, void *data)
{
    LastKept *rec = static_cast<LastKept *>(data);
    rec->calls++;
    dfr_value_drop(rec->last);
    rec->last = r;
    return dfr_none();
}

using test::return_deferred;

dfr_value count_pass(dfr_value r, void *data)
{
    ++*static_cast<size_t *>(data);
    return r;
}

using test::swallow;

bool is_end(const dfr_value &v)
{
    return dfr_is_i64(v) && v.u.i64 == END;
}

// ds[i]'s callback returns ds[i+1]; a recorder sits behind it on ds[0].
std::vector<dfr_deferred *> make_waiting_chain(size_t n, LastKept *rec, Outcome &out)
{
    std::vector<dfr_deferred *> ds(n);
    for (size_t i = 0; i < n; i++) {
        ds[i] = dfr_deferred_new();
        out.expect(ds[i] != nullptr, "dfr_deferred_new", i);
    }
    for (size_t i = 0; i + 1 < n; i++)
        out.expect(dfr_deferred_add_callback(ds[i], return_deferred, ds[i + 1], nullptr) == 0,
                   "add_callback", i);
    out.expect(dfr_deferred_add_callback(ds[0], keep_last, rec, nullptr) == 0, "add recorder");
    return ds;
}

void check_end_reached(const std::vector<dfr_deferred *> &ds, LastKept &rec, Outcome &out)
{
    out.expect(rec.calls == 1, "the recorder ran once");
    out.expect(is_end(rec.last), "the recorder got the last deferred's value");
    for (size_t i = 1; i < ds.size(); i++) {
        const dfr_value *r = dfr_deferred_result(ds[i]);
        out.expect(r != nullptr && dfr_is_none(*r), "inner links end with none", i);
    }
}

void release_all(std::vector<dfr_deferred *> &ds, LastKept &rec)
{
    for (auto *d : ds)
        dfr_deferred_unref(d);
    ds.clear();
    dfr_value_drop(rec.last);
    rec.last = dfr_none();
}

// Fire ds[0 .. n-2] in order (each then waits on the next), then the last.
Outcome waits_fired_forward()
{
    Outcome out;
    LastKept rec;
    auto ds = make_waiting_chain(MILLION, &rec, out);
    for (size_t i = 0; i + 1 < ds.size(); i++)
        out.expect(dfr_deferred_callback(ds[i], dfr_none()) == 0, "fire", i);
    out.expect(rec.calls == 0, "nothing recorded before the last fires");
    out.expect(dfr_deferred_state(ds[0]) == DFR_PENDING, "ds[0] waits");
    out.expect(dfr_deferred_state(ds[MILLION / 2]) == DFR_PENDING, "a middle link waits");
    out.expect(dfr_deferred_result(ds[1]) == nullptr, "no result while waiting");
    out.expect(dfr_deferred_paused(ds[1]) == 0, "waiting is not a user pause");
    out.expect(dfr_deferred_callback(ds.back(), dfr_i64(END)) == 0, "fire the last");
    check_end_reached(ds, rec, out);
    release_all(ds, rec);
    return out;
}

// Fire ds[n-2] down to ds[0] (each waits on a waiting one), then the last.
Outcome waits_fired_backward_then_last()
{
    Outcome out;
    LastKept rec;
    auto ds = make_waiting_chain(MILLION, &rec, out);
    for (size_t i = ds.size() - 1; i-- > 0;)
        out.expect(dfr_deferred_callback(ds[i], dfr_none()) == 0, "fire", i);
    out.expect(rec.calls == 0, "nothing recorded before the last fires");
    out.expect(dfr_deferred_callback(ds.back(), dfr_i64(END)) == 0, "fire the last");
    check_end_reached(ds, rec, out);
    release_all(ds, rec);
    return out;
}

// Fire the last first, then ds[n-2] down to ds[0]: each steals its inner's
// result (S19 backward).
Outcome waits_last_first()
{
    Outcome out;
    LastKept rec;
    auto ds = make_waiting_chain(MILLION, &rec, out);
    out.expect(dfr_deferred_callback(ds.back(), dfr_i64(END)) == 0, "fire the last");
    for (size_t i = ds.size() - 1; i-- > 0;)
        out.expect(dfr_deferred_callback(ds[i], dfr_none()) == 0, "fire", i);
    check_end_reached(ds, rec, out);
    release_all(ds, rec);
    return out;
}

// Everybody lets go of a million-long waiting chain: it is freed (design.md:
// the inner owns its waiter), without recursion.
Outcome abandoned_waiting_chain()
{
    Outcome out;
    LastKept rec;
    auto ds = make_waiting_chain(MILLION, &rec, out);
    for (size_t i = 0; i + 1 < ds.size(); i++)
        out.expect(dfr_deferred_callback(ds[i], dfr_none()) == 0, "fire", i);
    release_all(ds, rec); // the last one goes with our reference; the rest cascade
    out.expect(rec.calls == 0, "nothing ran");
    return out;
}

// A million callbacks on one deferred, added before and after it fired.
Outcome million_callbacks()
{
    Outcome out;
    size_t calls = 0;
    dfr_deferred *d = dfr_deferred_new();
    for (size_t i = 0; i < MILLION; i++)
        out.expect(dfr_deferred_add_callbacks(d, count_pass, count_pass, &calls, nullptr) == 0,
                   "add", i);
    out.expect(calls == 0, "nothing ran before firing");
    out.expect(dfr_deferred_callback(d, dfr_i64(END)) == 0, "fire");
    out.expect(calls == MILLION, "every callback ran");
    const dfr_value *r = dfr_deferred_result(d);
    out.expect(r && is_end(*r), "the result went through");
    for (size_t i = 0; i < MILLION; i++)
        dfr_deferred_add_callbacks(d, count_pass, count_pass, &calls, nullptr);
    out.expect(calls == 2 * MILLION, "callbacks added after firing ran at once");
    dfr_deferred_unref(d);

    // A failure through a million errbacks.
    calls = 0;
    d = dfr_deferred_new();
    for (size_t i = 0; i < MILLION; i++)
        dfr_deferred_add_errback(d, count_pass, &calls, nullptr);
    dfr_deferred_add_errback(d, swallow, nullptr, nullptr);
    out.expect(dfr_deferred_errback(d, dfr_failure_new("test", 1, "deep")) == 0, "errback");
    out.expect(calls == MILLION, "every errback ran");
    out.expect(dfr_deferred_state(d) == DFR_SUCCEEDED, "handled at the end");
    dfr_deferred_unref(d);
    return out;
}

// chainDeferred: ds[i] chains ds[i+1] (Twisted recurses here, ~330 links).
Outcome chain_deferred_links(bool fail)
{
    Outcome out;
    std::vector<dfr_deferred *> ds(CHAIN_LINKS);
    for (size_t i = 0; i < ds.size(); i++)
        ds[i] = dfr_deferred_new();
    for (size_t i = 0; i + 1 < ds.size(); i++)
        out.expect(dfr_deferred_chain(ds[i], ds[i + 1]) == 0, "chain", i);
    if (fail)
        out.expect(dfr_deferred_errback(ds[0], dfr_failure_new("test", 2, "down the chain")) == 0,
                   "errback");
    else
        out.expect(dfr_deferred_callback(ds[0], dfr_i64(END)) == 0, "callback");
    for (size_t i = 0; i + 1 < ds.size(); i++) {
        const dfr_value *r = dfr_deferred_result(ds[i]);
        out.expect(r != nullptr && dfr_is_none(*r), "links hand their result on", i);
    }
    const dfr_value *last = dfr_deferred_result(ds.back());
    if (fail) {
        out.expect(last && dfr_failure_code(dfr_failure_from(last)) == 2, "the failure arrived");
        dfr_deferred_add_errback(ds.back(), swallow, nullptr, nullptr);
    } else {
        out.expect(last && is_end(*last), "the value arrived");
    }
    for (auto *d : ds)
        dfr_deferred_unref(d);
    return out;
}

Outcome chain_deferred_success() { return chain_deferred_links(false); }
Outcome chain_deferred_failure() { return chain_deferred_links(true); }

// ---- nested values: every drop that can nest frees in a loop ----

// A user type that owns one value (a binding's object holding another).
std::atomic<size_t> boxes_dropped{0};

void box_drop(void *p)
{
    dfr_value *inner = static_cast<dfr_value *>(p);
    dfr_value_drop(*inner);
    delete inner;
    boxes_dropped++;
}

const dfr_type box_type = {sizeof(dfr_type), "box", box_drop, nullptr};

dfr_value box_of(dfr_value v)
{
    return dfr_obj(&box_type, new dfr_value(v));
}

dfr_value keep_result(dfr_value r, void *data)
{
    *static_cast<dfr_value *>(data) = r;
    return dfr_none();
}

// A list value (from a one-input DeferredList) whose entry is v.
dfr_value list_of(dfr_value v, Outcome &out)
{
    dfr_deferred *in = dfr_deferred_new();
    dfr_deferred *dl = dfr_deferred_list(&in, 1, DFR_CONSUME_ERRORS);
    out.expect(dl != nullptr, "dfr_deferred_list");
    dfr_value list = dfr_none();
    if (!dl) {
        dfr_deferred_unref(in);
        dfr_value_drop(v);
        return list;
    }
    dfr_deferred_add_callback(dl, keep_result, &list, nullptr);
    if (dfr_is_failure(v))
        dfr_deferred_errback(in, dfr_failure_from(&v));
    else
        dfr_deferred_callback(in, v);
    dfr_deferred_unref(in);
    dfr_deferred_unref(dl);
    out.expect(dfr_is_list(list), "list value");
    return list;
}

dfr_value failure_with(dfr_value payload, Outcome &out)
{
    dfr_failure *f = dfr_failure_new("test", 1, "nested");
    out.expect(f != nullptr, "dfr_failure_new");
    if (!f) {
        dfr_value_drop(payload);
        return dfr_none();
    }
    out.expect(dfr_failure_set_payload(f, payload) == 0, "dfr_failure_set_payload");
    return dfr_value_failure(f);
}

// A deferred that has fired with v (its result holds v).
dfr_value deferred_with(dfr_value v, Outcome &out)
{
    dfr_deferred *d = dfr_is_failure(v) ? dfr_fail(dfr_failure_from(&v)) : dfr_succeed(v);
    out.expect(d != nullptr, "dfr_succeed");
    return d ? dfr_value_deferred(d) : dfr_none();
}

dfr_value wrap_failure(dfr_value v, Outcome &out) { return failure_with(v, out); }
dfr_value wrap_list(dfr_value v, Outcome &out) { return list_of(v, out); }
dfr_value wrap_box(dfr_value v, Outcome &) { return box_of(v); }
dfr_value wrap_deferred(dfr_value v, Outcome &out) { return deferred_with(v, out); }

// A failure with a cause that has its own payload, whose payload is v.
dfr_value wrap_failure_with_cause(dfr_value v, Outcome &out)
{
    dfr_failure *cause = dfr_failure_new("test", 2, "cause");
    out.expect(cause != nullptr, "dfr_failure_new");
    if (cause)
        dfr_failure_set_payload(cause, box_of(dfr_i64(1)));
    dfr_failure *f = dfr_failure_wrap(cause, "test", 3, "wrapper");
    out.expect(f != nullptr, "dfr_failure_wrap");
    if (!f) {
        dfr_value_drop(v);
        return dfr_none();
    }
    dfr_failure_set_payload(f, v);
    return dfr_value_failure(f);
}

template <size_t N>
Outcome nested(dfr_value (*const (&wrap)[N])(dfr_value, Outcome &), size_t depth = MILLION)
{
    Outcome out;
    boxes_dropped = 0;
    size_t boxes = 0;
    dfr_value v = dfr_i64(END);
    for (size_t i = 0; i < depth && out.ok; i++) {
        auto fn = wrap[i % N];
        if (fn == wrap_box)
            boxes++;
        if (fn == wrap_failure_with_cause)
            boxes++;
        v = fn(v, out);
    }
    dfr_value_drop(v);
    out.expect(boxes_dropped == boxes, "every box dropped", boxes_dropped);
    return out;
}

void quiet_unhandled(const dfr_failure *, void *) {}

dfr_value (*const failures_only[])(dfr_value, Outcome &) = {wrap_failure};
dfr_value (*const lists_only[])(dfr_value, Outcome &) = {wrap_list};
dfr_value (*const boxes_only[])(dfr_value, Outcome &) = {wrap_box};
dfr_value (*const boxed_deferreds[])(dfr_value, Outcome &) = {wrap_deferred, wrap_box};
dfr_value (*const failures_and_lists[])(dfr_value, Outcome &) = {wrap_failure, wrap_list, wrap_box,
                                                                wrap_failure_with_cause};
dfr_value (*const every_kind[])(dfr_value, Outcome &) = {wrap_failure, wrap_list, wrap_box,
                                                         wrap_deferred, wrap_failure_with_cause};

Outcome nested_failures() { return nested(failures_only); }
Outcome nested_lists() { return nested(lists_only); }
Outcome nested_boxes() { return nested(boxes_only); }
Outcome nested_deferreds() { return nested(boxed_deferreds); }
Outcome nested_failures_and_lists() { return nested(failures_and_lists); }
Outcome nested_every_kind() { return nested(every_kind); }

// Run a scenario in a thread whose stack is 64 KiB.
Outcome on_small_stack(Outcome (*scenario)())
{
    struct Ctx {
        Outcome (*scenario)();
        Outcome out;
    } ctx{scenario, Outcome{}};
    pthread_attr_t attr;
    Outcome failed;
    if (pthread_attr_init(&attr) != 0) {
        failed.expect(false, "pthread_attr_init");
        return failed;
    }
    if (pthread_attr_setstacksize(&attr, 65536) != 0) {
        pthread_attr_destroy(&attr);
        failed.expect(false, "pthread_attr_setstacksize(65536)");
        return failed;
    }
    pthread_t t;
    int rc = pthread_create(
        &t, &attr,
        [](void *p) -> void * {
            Ctx *c = static_cast<Ctx *>(p);
            c->out = c->scenario();
            return nullptr;
        },
        &ctx);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        failed.expect(false, "pthread_create");
        return failed;
    }
    pthread_join(t, nullptr);
    return ctx.out;
}

// A DeferredList (or gatherResults) of a DeferredList of ... 100,000 deep:
// the innermost input fires them all (each list's input callback fires its
// list, whose callbacks hold the next list's input entry).
Outcome nested_lists_fired(bool gather)
{
    Outcome out;
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred *cur = dfr_deferred_ref(inner);
    for (size_t i = 0; i < CHAIN_LINKS; i++) {
        dfr_deferred *l = gather ? dfr_gather_results(&cur, 1, false) : dfr_deferred_list(&cur, 1, 0);
        out.expect(l != nullptr, "list", i);
        dfr_deferred_unref(cur);
        cur = l;
    }
    LastKept rec;
    out.expect(dfr_deferred_add_callback(cur, keep_last, &rec, nullptr) == 0, "add recorder");
    out.expect(dfr_deferred_callback(inner, dfr_i64(END)) == 0, "fire");
    out.expect(rec.calls == 1, "the outermost list fired");
    // The outermost list's value: one entry, (true, the next list's value) ...
    const dfr_value *v = &rec.last;
    for (size_t i = 0; i < CHAIN_LINKS && out.ok; i++) {
        out.expect(dfr_is_list(*v), "a list value", i);
        if (!out.ok)
            break;
        const dfr_list *l = dfr_list_from(v);
        out.expect(dfr_list_len(l) == 1 && dfr_list_ok(l, 0), "one ok entry", i);
        v = dfr_list_get(l, 0);
    }
    out.expect(out.ok && is_end(*v), "the innermost result at the bottom");
    dfr_value_drop(rec.last);
    dfr_deferred_unref(cur);
    dfr_deferred_unref(inner);
    return out;
}

Outcome nested_deferred_lists_fired()
{
    return nested_lists_fired(false);
}

Outcome nested_gather_results_fired()
{
    return nested_lists_fired(true);
}

// Cancelling the outermost of 100,000 nested DeferredLists cancels down to
// the innermost input (each list's canceller cancels its inputs).
Outcome nested_lists_cancelled()
{
    Outcome out;
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred *cur = dfr_deferred_ref(inner);
    for (size_t i = 0; i < CHAIN_LINKS; i++) {
        dfr_deferred *l = dfr_deferred_list(&cur, 1, 0);
        out.expect(l != nullptr, "list", i);
        dfr_deferred_unref(cur);
        cur = l;
    }
    dfr_deferred_cancel(cur);
    out.expect(dfr_deferred_state(inner) == DFR_FAILED, "the innermost input was cancelled");
    out.expect(dfr_deferred_state(cur) == DFR_SUCCEEDED, "the outermost list fired");
    dfr_deferred_add_errback(inner, swallow, nullptr, nullptr);
    dfr_deferred_unref(cur);
    dfr_deferred_unref(inner);
    return out;
}

// Callbacks that fire deferreds: ds[i]'s callback fires ds[i+1] with its
// value plus one (Twisted recurses here and raises RecursionError).
struct FiringChain {
    std::vector<dfr_deferred *> ds;
    std::vector<int> ran;        // each callback's runs
    std::vector<char> sync_seen; // ds[i+1]'s callback had run when callback() returned
    std::vector<size_t> order;   // callbacks, in the order they started
};

struct FiringLink {
    FiringChain *c;
    size_t i;
};

dfr_value fire_next(dfr_value v, void *data)
{
    auto *l = static_cast<FiringLink *>(data);
    FiringChain &c = *l->c;
    c.ran[l->i]++;
    c.order.push_back(l->i);
    if (l->i + 1 < c.ds.size()) {
        int64_t n = dfr_is_i64(v) ? v.u.i64 : -1;
        dfr_deferred_callback(c.ds[l->i + 1], dfr_i64(n + 1));
        c.sync_seen[l->i] = c.ran[l->i + 1] > 0;
    }
    return v;
}

Outcome callbacks_firing_the_next(size_t n, bool expect_sync)
{
    Outcome out;
    FiringChain c;
    c.ds.resize(n);
    c.ran.assign(n, 0);
    c.sync_seen.assign(n, 0);
    std::vector<FiringLink> links(n);
    for (size_t i = 0; i < n; i++) {
        c.ds[i] = dfr_deferred_new();
        links[i] = {&c, i};
        out.expect(dfr_deferred_add_callback(c.ds[i], fire_next, &links[i], nullptr) == 0, "add", i);
    }
    out.expect(dfr_deferred_callback(c.ds[0], dfr_i64(0)) == 0, "fire the first");
    // Every link ran once, in order, before the first callback() returned.
    out.expect(c.order.size() == n, "every callback ran");
    for (size_t i = 0; i < n; i++) {
        out.expect(c.ran[i] == 1, "ran once", i);
        out.expect(i >= c.order.size() || c.order[i] == i, "in order", i);
        const dfr_value *r = dfr_deferred_result(c.ds[i]);
        out.expect(r && dfr_is_i64(*r) && r->u.i64 == int64_t(i), "each got its value", i);
        if (expect_sync && i + 1 < n)
            out.expect(c.sync_seen[i], "ran within the callback() that fired it", i);
    }
    for (auto *d : c.ds)
        dfr_deferred_unref(d);
    return out;
}

Outcome callbacks_firing_100000() { return callbacks_firing_the_next(100000, false); }
// FIRE_NEST (deferred_chain.c) levels run within the callback() that fires them.
Outcome callbacks_firing_32() { return callbacks_firing_the_next(32, true); }

// Deep, and the firing deferred dropped by its owner while it waits in the
// queue: it still runs, and is freed after.
dfr_value fire_next_and_drop(dfr_value v, void *data)
{
    auto *next = static_cast<dfr_deferred *>(data);
    if (next) {
        dfr_deferred_callback(next, dfr_value_clone(&v));
        dfr_deferred_unref(next); // the only reference but the queue's
    }
    return v;
}

Outcome callbacks_firing_dropped()
{
    Outcome out;
    const size_t n = 50000;
    std::vector<dfr_deferred *> ds(n);
    size_t last_calls = 0;
    for (size_t i = 0; i < n; i++)
        ds[i] = dfr_deferred_new();
    for (size_t i = 0; i + 1 < n; i++)
        dfr_deferred_add_callback(ds[i], fire_next_and_drop, ds[i + 1], nullptr);
    dfr_deferred_add_callback(ds[n - 1], count_pass, &last_calls, nullptr);
    dfr_deferred *first = ds[0];
    out.expect(dfr_deferred_callback(first, dfr_i64(END)) == 0, "fire the first");
    out.expect(last_calls == 1, "the last link ran once");
    dfr_deferred_unref(first);
    return out;
}

// Runaway recursion: each callback makes and fires a new deferred with the
// same callback, for ever.  It ends as Twisted's does (RecursionError),
// with the deferred fired a million levels deep failing, DFR_EOVERFLOW.
struct Runaway {
    size_t calls = 0, failures = 0;
    int code = 0;
};

dfr_value runaway_eb(dfr_value v, void *data)
{
    auto *r = static_cast<Runaway *>(data);
    r->failures++;
    dfr_failure *f = dfr_failure_from(&v);
    r->code = f ? dfr_failure_code(f) : 0;
    dfr_value_drop(v);
    return dfr_none();
}

dfr_value runaway_cb(dfr_value v, void *data)
{
    static_cast<Runaway *>(data)->calls++;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_callbacks(d, runaway_cb, runaway_eb, data, nullptr);
    dfr_deferred_callback(d, dfr_i64(1));
    dfr_deferred_unref(d);
    return v;
}

Outcome runaway_recursion()
{
    Outcome out;
    Runaway r;
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_callbacks(d, runaway_cb, runaway_eb, &r, nullptr);
    out.expect(dfr_deferred_callback(d, dfr_i64(1)) == 0, "fire");
    out.expect(r.calls == MILLION, "a million levels ran", r.calls);
    out.expect(r.failures == 1, "the next one failed", r.failures);
    out.expect(r.code == DFR_EOVERFLOW, "with DFR_EOVERFLOW");
    dfr_deferred_unref(d);
    return out;
}

// Cancelling the outermost of 100,000 lists, each with an input that
// reported to it and then waits on the list below: the cancel reaches each
// level through that input (the lists fire on the way, each waking the
// input above), past FIRE_NEST levels through the queue.
Outcome nested_reported_inputs_cancelled()
{
    Outcome out;
    std::vector<dfr_deferred *> pending(CHAIN_LINKS), lists(CHAIN_LINKS);
    dfr_deferred *below = nullptr;
    for (size_t i = 0; i < CHAIN_LINKS; i++) {
        pending[i] = dfr_deferred_new();
        dfr_deferred *input = dfr_deferred_new();
        dfr_deferred *ds[2] = {pending[i], input};
        lists[i] = dfr_deferred_list(ds, 2, DFR_CONSUME_ERRORS);
        out.expect(lists[i] != nullptr, "list", i);
        if (below)
            dfr_deferred_add_callback(input, return_deferred, below, nullptr);
        dfr_deferred_callback(input, dfr_i64(static_cast<int64_t>(i)));
        out.expect(dfr_deferred_state(input) == (below ? DFR_PENDING : DFR_SUCCEEDED),
                   "the input waits on the list below", i);
        dfr_deferred_unref(input); // the list holds it
        below = lists[i];
    }
    dfr_deferred_cancel(lists.back());
    for (size_t i = 0; i < CHAIN_LINKS; i++) {
        out.expect(dfr_deferred_state(pending[i]) == DFR_SUCCEEDED, "pending cancelled", i);
        out.expect(dfr_deferred_state(lists[i]) == DFR_SUCCEEDED, "the list fired", i);
    }
    // Each list below gave its result to the input above: the top one keeps it.
    dfr_list *top = dfr_list_from(dfr_deferred_result(lists.back()));
    out.expect(top && dfr_list_len(top) == 2 && !dfr_list_ok(top, 0) && dfr_list_ok(top, 1),
               "the outermost list's entries");
    for (size_t i = 0; i < CHAIN_LINKS; i++) {
        dfr_deferred_unref(pending[i]);
        dfr_deferred_unref(lists[i]);
    }
    return out;
}

void run_both(Outcome (*scenario)())
{
    {
        INFO("on the default stack");
        Outcome out = scenario();
        INFO(out.why);
        CHECK(out.ok);
    }
    {
        INFO("in a thread with a 64 KiB stack");
        Outcome out = on_small_stack(scenario);
        INFO(out.why);
        CHECK(out.ok);
    }
}

} // namespace

// Twisted: test_boundedStackDepth; behaviour S19 (forward)
TEST_CASE("A million deferreds each waiting on the next, fired first to last", "[stack]")
{
    run_both(waits_fired_forward);
}

// Behaviour S19 (a third firing order).
TEST_CASE("A million deferreds each waiting on the next, fired from the back", "[stack]")
{
    run_both(waits_fired_backward_then_last);
}

// Behaviour S19 (backward: the steal path)
TEST_CASE("A million deferreds each returning the next, last fired first", "[stack]")
{
    run_both(waits_last_first);
}

// Twisted: test_chainedErrorCleanup (the chain is collected), scaled up
TEST_CASE("An abandoned million-long waiting chain is freed without recursion", "[stack]")
{
    run_both(abandoned_waiting_chain);
}

// Twisted: test_boundedStackDepth (a long callback list, scaled up).
TEST_CASE("A million callbacks on one deferred", "[stack]")
{
    run_both(million_callbacks);
}

// Twisted: test_chainDeferredRecordsExplicitChain (scaled: Twisted itself
// breaks at ~330 links)
TEST_CASE("A chainDeferred chain of 100,000 links", "[stack][chain]")
{
    run_both(chain_deferred_success);
    run_both(chain_deferred_failure);
}

TEST_CASE("Cancelling 100,000 lists linked by reported inputs that wait on the list below",
          "[stack][list][cancel]")
{
    run_both(nested_reported_inputs_cancelled);
}

// Deferreds were freed in a loop already; a failure's payload is any value: dropping one may drop another failure,
// a list, a deferred or a binding's object, which may hold the next.
TEST_CASE("A million failures nested as payloads free without recursion", "[stack][value]")
{
    run_both(nested_failures);
}

TEST_CASE("A million lists nested in lists free without recursion", "[stack][value]")
{
    run_both(nested_lists);
}

TEST_CASE("A million user values each owning the next free without recursion", "[stack][value]")
{
    run_both(nested_boxes);
}

TEST_CASE("A million deferreds nested through their results free without recursion",
          "[stack][value]")
{
    run_both(nested_deferreds);
}

TEST_CASE("Failures, lists and user values nested in turn, a million deep, free without recursion",
          "[stack][value]")
{
    run_both(nested_failures_and_lists);
}

TEST_CASE("Every kind of value nested in turn, a million deep, frees without recursion",
          "[stack][value]")
{
    dfr_set_unhandled_error_hook(quiet_unhandled, nullptr);
    run_both(nested_every_kind);
    dfr_set_unhandled_error_hook(nullptr, nullptr);
}

// A list firing the list it is an input of recursed once per level and
// overflowed the stack (about 30,000 deep on 8 MiB); past a few levels the
// firing is queued for the outermost one (list.c, fire_or_queue).
TEST_CASE("DeferredLists nested 100,000 deep fire without recursion", "[stack][list]")
{
    run_both(nested_deferred_lists_fired);
    run_both(nested_gather_results_fired);
}

TEST_CASE("DeferredLists nested 100,000 deep cancel without recursion", "[stack][list]")
{
    run_both(nested_lists_cancelled);
}

// Twisted raises RecursionError; past FIRE_NEST levels our firing waits for
// the one at the last level instead (deferred_chain.c), in the same order.
TEST_CASE("Callbacks each firing the next deferred, 100,000 deep", "[stack][nest]")
{
    run_both(callbacks_firing_100000);
    run_both(callbacks_firing_dropped);
}

TEST_CASE("Callbacks firing the next deferred run within callback() below the nesting limit",
          "[stack][nest]")
{
    run_both(callbacks_firing_32);
}

TEST_CASE("Runaway recursion through callbacks ends with DFR_EOVERFLOW a million levels deep",
          "[stack][nest]")
{
    run_both(runaway_recursion);
}
