// Threads: deferToThread on the reactor's pool and on user pools, pool sizing
// and lifecycle, blockingCallFromThread and callFromThread under load
// (behaviours S53-S56, plus the stress tests of issue
// 3; dfr_reactor_defer_call through libffi is in test_ffi.cpp).  Ported in our own words from Twisted's
// twisted/test/test_threads.py, twisted/test/test_threadpool.py and
// twisted/internet/test/test_threads.py; each case names its source.
//
// Catch2 assertions are not thread-safe: code running on pool or helper
// threads only records what it saw, and the test thread (which is also the
// reactor thread) checks it afterwards.
#include <catch2/catch.hpp>

#include "reactor_support.h"
#include "support.h"

#include <deferred/ffi.h> /* the owner checks cover dfr_reactor_defer_call */

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const char *const DOM = "test";

// ---------------------------------------------------------------- helpers

Clock::time_point deadline_in(double seconds)
{
    return Clock::now() + milliseconds(static_cast<long>(seconds * 1000));
}

// Declare a Reactor after the data its callbacks use and before any Joiner.
using test::Reactor;

// Joins its threads when the scope ends (or earlier, with join()).
struct Joiner {
    std::vector<std::thread> threads;
    Joiner() = default;
    Joiner(const Joiner &) = delete;
    Joiner &operator=(const Joiner &) = delete;
    void join()
    {
        for (auto &t : threads)
            if (t.joinable())
                t.join();
    }
    ~Joiner() { join(); }
};

struct Watchdog {
    dfr_reactor *r;
    bool fired;
};

void watchdog_fire(void *data)
{
    auto *w = static_cast<Watchdog *>(data);
    w->fired = true;
    dfr_reactor_stop(w->r);
}

// Run r until something stops it.  A watchdog stops it after `limit`
// seconds; true when the reactor stopped without it.  `just_before` runs
// right before dfr_reactor_run.
template <class F> bool run_for(dfr_reactor *r, double limit, F just_before)
{
    Watchdog w{r, false};
    dfr_delayed_call *dc = nullptr;
    REQUIRE(dfr_reactor_call_later(r, limit, watchdog_fire, &w, nullptr, &dc) == 0);
    just_before();
    REQUIRE(dfr_reactor_run(r) == 0);
    if (!w.fired)
        CHECK(dfr_delayed_call_cancel(dc) == 0);
    dfr_delayed_call_unref(dc);
    return !w.fired;
}

bool run_for(dfr_reactor *r, double limit = 20.0)
{
    return run_for(r, limit, [] {});
}

using test::iterate_until;

// Poll (without a reactor) until done() holds; false after `limit` seconds.
template <class Done> bool wait_until(Done done, double limit = 10.0)
{
    auto end = deadline_in(limit);
    while (!done()) {
        if (Clock::now() > end)
            return false;
        std::this_thread::sleep_for(milliseconds(1));
    }
    return true;
}

using test::code_of;

// A readable account of a value, then drops it (safe on any thread).  The
// library's own failures show their domain and code; ours add the message.
std::string describe(dfr_value v)
{
    std::string s;
    if (dfr_is_failure(v)) {
        const dfr_failure *f = dfr_failure_from(&v);
        s = std::string("fail ") + dfr_failure_domain(f) + " " +
            std::to_string(dfr_failure_code(f));
        if (std::strcmp(dfr_failure_domain(f), DFR_DOMAIN) != 0)
            s += std::string(" ") + dfr_failure_message(f);
    } else if (dfr_is_bytes(v)) {
        s = "ok " + std::string(static_cast<const char *>(dfr_bytes_data(&v)), dfr_bytes_len(&v));
    } else if (dfr_is_i64(v)) {
        s = "i64 " + std::to_string(v.u.i64);
    } else if (dfr_is_none(v)) {
        s = "none";
    } else {
        s = "other";
    }
    dfr_value_drop(v);
    return s;
}

// What describe() says for the library's failure `code`.
std::string lib_fail(int code)
{
    return "fail dfr " + std::to_string(code);
}

std::string describe_result(const dfr_deferred *d)
{
    const dfr_value *v = dfr_deferred_result(d);
    return v ? describe(dfr_value_clone(v)) : "pending";
}

// What a set of deferreds fired with, and on which thread.  Owns the results.
// With `r` set, stops r once `stop_at` results are in.
struct Results {
    dfr_reactor *r = nullptr;
    size_t stop_at = 0;
    std::vector<dfr_value> values;
    std::vector<pthread_t> threads;
    std::vector<bool> running; // whether r was running when it fired
    Results() = default;
    Results(const Results &) = delete;
    Results &operator=(const Results &) = delete;
    ~Results()
    {
        for (auto &v : values)
            dfr_value_drop(v);
    }
    size_t size() const { return values.size(); }
    const dfr_value *at(size_t i) const { return &values.at(i); }
    std::string text(size_t i) const { return describe(dfr_value_clone(at(i))); }
};

dfr_value collect(dfr_value v, void *data)
{
    auto *res = static_cast<Results *>(data);
    res->values.push_back(v);
    res->threads.push_back(pthread_self());
    res->running.push_back(res->r && dfr_reactor_running(res->r));
    if (res->r && res->values.size() == res->stop_at)
        dfr_reactor_stop(res->r);
    return dfr_none();
}

// Record d's result in res and drop our reference (the chain keeps d alive).
void watch(dfr_deferred *d, Results *res)
{
    CHECK(d != nullptr);
    if (!d)
        return;
    CHECK(dfr_deferred_add_both(d, collect, res, nullptr) == 0);
    dfr_deferred_unref(d);
}

bool all_on(const std::vector<pthread_t> &threads, pthread_t t)
{
    for (auto x : threads)
        if (!pthread_equal(x, t))
            return false;
    return true;
}

// Task functions.
dfr_value answer_task(void *)
{
    return dfr_i64(42);
}

dfr_value count_task(void *data)
{
    ++*static_cast<int *>(data);
    return dfr_none();
}

dfr_value fail_e1_task(void *)
{
    return dfr_value_failure(dfr_failure_new(DOM, 42, "E1"));
}

// Twisted's `1 // 0`.
dfr_value divide_by_zero_task(void *)
{
    return dfr_value_failure(dfr_failure_new(DOM, 7, "division by zero"));
}

// ---------------------------------------------------------------- S53

// f(3, y=4) of test_deferredResult, recording where it ran and where its
// data was released.
struct Sum {
    int64_t x, y;
    bool ran = false;
    pthread_t ran_on{};
    int destroyed = 0;
    pthread_t destroyed_on{};
    bool ran_before_destroy = false;
};

dfr_value sum_task(void *data)
{
    auto *s = static_cast<Sum *>(data);
    s->ran = true;
    s->ran_on = pthread_self();
    return dfr_i64(s->x + s->y);
}

void sum_destroy(void *data)
{
    auto *s = static_cast<Sum *>(data);
    s->destroyed++;
    s->destroyed_on = pthread_self();
    s->ran_before_destroy = s->ran;
}

struct Start {
    dfr_reactor *r;
    Sum *sum;
    Results *res;
};

// Twisted: test_threads.py DeferredResultTestCase.test_deferredResult and
// internet/test/test_threads.py test_callFromThread (the result comes back on
// the reactor thread).
TEST_CASE("defer_to_thread fires with the result on the reactor thread", "[thread][S53]")
{
    Sum sum{3, 4};
    Results res;
    Reactor R;
    res.r = R.r;
    res.stop_at = 1;
    Start st{R.r, &sum, &res};
    REQUIRE(dfr_reactor_call_when_running(
                R.r,
                [](void *p) {
                    auto *s = static_cast<Start *>(p);
                    watch(dfr_reactor_defer_to_thread(s->r, sum_task, s->sum, sum_destroy), s->res);
                },
                &st, nullptr) == 0);
    REQUIRE(run_for(R.r));

    pthread_t me = pthread_self();
    REQUIRE(res.size() == 1);
    CHECK(res.text(0) == "i64 7");
    CHECK(pthread_equal(res.threads[0], me));
    CHECK(res.running[0]);
    CHECK(sum.ran);
    CHECK_FALSE(pthread_equal(sum.ran_on, me));
    // destroy ran once, on the reactor thread, after the function.
    CHECK(sum.destroyed == 1);
    CHECK(pthread_equal(sum.destroyed_on, me));
    CHECK(sum.ran_before_destroy);
}

// Twisted: test_threads.py DeferredResultTestCase.test_deferredFailure.
TEST_CASE("defer_to_thread: a failing function fails the deferred", "[thread][S53]")
{
    test::UnhandledCapture unhandled;
    Results res;
    Reactor R;
    res.r = R.r;
    res.stop_at = 1;
    watch(dfr_reactor_defer_to_thread(R.r, fail_e1_task, nullptr, nullptr), &res);
    REQUIRE(run_for(R.r));
    REQUIRE(res.size() == 1);
    CHECK(res.text(0) == "fail test 42 E1");
    CHECK(pthread_equal(res.threads[0], pthread_self()));
    CHECK(unhandled.count() == 0);
}

dfr_value defer_again(dfr_value v, void *data)
{
    dfr_value_drop(v);
    dfr_deferred *d = dfr_reactor_defer_to_thread(static_cast<dfr_reactor *>(data), divide_by_zero_task,
                                          nullptr, nullptr);
    return d ? dfr_value_deferred(d) : dfr_value_failure(dfr_failure_new(DOM, -1, "no deferred"));
}

// Twisted: test_threads.py DeferredResultTestCase.test_deferredFailureAfterSuccess.
TEST_CASE("defer_to_thread: a callback deferring again ends with the second failure",
          "[thread][S53]")
{
    test::UnhandledCapture unhandled;
    Results res;
    Reactor R;
    res.r = R.r;
    res.stop_at = 1;
    dfr_deferred *d = dfr_reactor_defer_to_thread(R.r, answer_task, nullptr, nullptr);
    REQUIRE(d != nullptr);
    REQUIRE(dfr_deferred_add_callback(d, defer_again, R.r, nullptr) == 0);
    watch(d, &res);
    REQUIRE(run_for(R.r));
    REQUIRE(res.size() == 1);
    CHECK(res.text(0) == "fail test 7 division by zero");
    CHECK(unhandled.count() == 0);
}

dfr_value return_deferred_task(void *)
{
    // Made and dropped on the worker, never shared: the library must refuse
    // it rather than wait on it from a pool thread.
    return dfr_value_deferred(dfr_succeed(dfr_i64(1)));
}

// Header contract: fn must not return a deferred.
TEST_CASE("defer_to_thread: a function returning a deferred is a DFR_EINVAL failure",
          "[thread][S53]")
{
    Results res;
    Reactor R;
    watch(dfr_reactor_defer_to_thread(R.r, return_deferred_task, nullptr, nullptr), &res);
    REQUIRE(iterate_until(R.r, [&] { return res.size() == 1; }));
    CHECK(code_of(res.at(0)) == DFR_EINVAL);
    CHECK(dfr_failure_check(dfr_failure_from(res.at(0)), DFR_DOMAIN, DFR_EINVAL));
}

// Twisted: internet/test/test_threads.py test_getThreadPool (work handed to
// the pool before run completes once the reactor runs).
TEST_CASE("defer_to_thread before run: the result arrives once the reactor runs", "[thread][S53]")
{
    Sum sum{20, 22};
    Results res;
    Reactor R;
    res.r = R.r;
    res.stop_at = 1;
    watch(dfr_reactor_defer_to_thread(R.r, sum_task, &sum, sum_destroy), &res);
    REQUIRE(res.size() == 0);
    REQUIRE(run_for(R.r));
    REQUIRE(res.size() == 1);
    CHECK(res.text(0) == "i64 42");
    CHECK(pthread_equal(res.threads[0], pthread_self()));
    CHECK(sum.destroyed == 1);
    // After run returns the pool is joined: nothing is left in flight.
    CHECK(dfr_reactor_stop(R.r) == DFR_ENOTRUNNING);
}

// ---------------------------------------------------------------- S54

struct Blocking {
    dfr_reactor *r = nullptr;
    pthread_t reactor_thread{};
    int off_thread = 0;             // tasks that ran off the reactor thread
    std::vector<std::string> seen;  // written by the pool thread
};

void fire_egg(void *data)
{
    dfr_deferred_callback(static_cast<dfr_deferred *>(data), dfr_bytes_new("egg", 3));
}

void fail_spam(void *data)
{
    dfr_deferred_errback(static_cast<dfr_deferred *>(data), dfr_failure_new(DOM, 2, "spam"));
}

void unref_deferred(void *data)
{
    dfr_deferred_unref(static_cast<dfr_deferred *>(data));
}

Blocking *on_reactor(void *data)
{
    auto *b = static_cast<Blocking *>(data);
    if (!pthread_equal(pthread_self(), b->reactor_thread))
        b->off_thread++;
    return b;
}

// A deferred that fires 10 ms from now through `fire`.
dfr_value later(Blocking *b, dfr_fn fire)
{
    dfr_deferred *d = dfr_deferred_new();
    if (!d)
        return dfr_value_failure(dfr_failure_new(DOM, -1, "no deferred"));
    if (dfr_reactor_call_later(b->r, 0.01, fire, dfr_deferred_ref(d), unref_deferred, nullptr) != 0) {
        dfr_deferred_unref(d);
        return dfr_value_failure(dfr_failure_new(DOM, -1, "no call_later"));
    }
    return dfr_value_deferred(d);
}

dfr_value blocking_succeed(void *data)
{
    on_reactor(data);
    return dfr_value_deferred(dfr_succeed(dfr_bytes_new("foo", 3)));
}

dfr_value blocking_egg_later(void *data)
{
    return later(on_reactor(data), fire_egg);
}

dfr_value blocking_fail(void *data)
{
    on_reactor(data);
    return dfr_value_deferred(dfr_fail(dfr_failure_new(DOM, 1, "bar")));
}

dfr_value blocking_spam_later(void *data)
{
    return later(on_reactor(data), fail_spam);
}

dfr_value blocking_plain(void *data)
{
    on_reactor(data);
    return dfr_bytes_new("plain", 5);
}

dfr_value blocking_failure_value(void *data)
{
    on_reactor(data);
    return dfr_value_failure(dfr_failure_new(DOM, 3, "direct"));
}

// Runs on a pool thread: one blocking call of each kind.
dfr_value blocking_from_pool(void *data)
{
    auto *b = static_cast<Blocking *>(data);
    const dfr_task_fn tasks[] = {blocking_succeed, blocking_egg_later, blocking_fail,
                                 blocking_spam_later, blocking_plain, blocking_failure_value};
    for (dfr_task_fn fn : tasks)
        b->seen.push_back(describe(dfr_reactor_blocking_call_from_thread(b->r, fn, b)));
    return dfr_i64(static_cast<int64_t>(b->seen.size()));
}

// Twisted: test_threads.py test_blockingCallFromThread,
// test_asyncBlockingCallFromThread, test_errorBlockingCallFromThread,
// test_asyncErrorBlockingCallFromThread.
TEST_CASE("blocking_call_from_thread from a pool thread returns values and failures",
          "[thread][S54]")
{
    test::UnhandledCapture unhandled;
    Blocking b;
    Results res;
    Reactor R;
    b.r = R.r;
    b.reactor_thread = pthread_self();
    res.r = R.r;
    res.stop_at = 1;
    // Handed to the pool once the reactor runs (a blocking call made before
    // run has its own case below).
    struct Ctx {
        Blocking *b;
        Results *res;
    } ctx{&b, &res};
    REQUIRE(dfr_reactor_call_when_running(
                R.r,
                [](void *p) {
                    auto *c = static_cast<Ctx *>(p);
                    watch(dfr_reactor_defer_to_thread(c->b->r, blocking_from_pool, c->b, nullptr), c->res);
                },
                &ctx, nullptr) == 0);
    REQUIRE(run_for(R.r));
    REQUIRE(res.size() == 1);
    CHECK(res.text(0) == "i64 6");
    std::vector<std::string> want = {"ok foo",         "ok egg",   "fail test 1 bar",
                                     "fail test 2 spam", "ok plain", "fail test 3 direct"};
    CHECK(b.seen == want);
    CHECK(b.off_thread == 0);
    CHECK(unhandled.count() == 0);
}

struct Deadlock {
    dfr_reactor *r;
    int *ran;
    std::string seen;
};

// Library behaviour (Twisted would hang): a blocking call on the reactor
// thread itself is refused.
TEST_CASE("blocking_call_from_thread on the reactor thread is a DFR_EDEADLK failure",
          "[thread][S54]")
{
    int ran = 0;
    Reactor R;
    // Before run, the thread that made the reactor is its thread.
    CHECK(describe(dfr_reactor_blocking_call_from_thread(R.r, count_task, &ran)) ==
          lib_fail(DFR_EDEADLK));

    Deadlock dl{R.r, &ran, ""};
    REQUIRE(dfr_reactor_call_when_running(
                R.r,
                [](void *p) {
                    auto *d = static_cast<Deadlock *>(p);
                    d->seen = describe(dfr_reactor_blocking_call_from_thread(d->r, count_task, d->ran));
                    dfr_reactor_stop(d->r);
                },
                &dl, nullptr) == 0);
    REQUIRE(run_for(R.r));
    CHECK(dl.seen == lib_fail(DFR_EDEADLK));
    CHECK(ran == 0);
}

struct EarlyBlocking {
    dfr_reactor *r = nullptr;
    pthread_t ran_on{};
    std::string seen;
};

dfr_value stop_and_answer(void *data)
{
    auto *e = static_cast<EarlyBlocking *>(data);
    e->ran_on = pthread_self();
    dfr_reactor_stop(e->r);
    return dfr_i64(42);
}

// Header contract: blocking_call_from_thread is thread-safe, and calls made
// from other threads before run() run once it starts.  The helper starts its
// call just as the reactor starts running, with no synchronisation between
// the two but the library's own (so ThreadSanitizer sees any race between
// dfr_reactor_run and a concurrent blocking call).
TEST_CASE("blocking_call_from_thread made before run waits for the reactor", "[thread][S54]")
{
    EarlyBlocking e;
    std::atomic<bool> go{false};
    Reactor R;
    e.r = R.r;
    Joiner J;
    J.threads.emplace_back([&e, &go] {
        while (!go.load())
            std::this_thread::yield();
        e.seen = describe(dfr_reactor_blocking_call_from_thread(e.r, stop_and_answer, &e));
    });
    REQUIRE(run_for(R.r, 20.0, [&go] { go = true; }));
    J.join();
    CHECK(e.seen == "i64 42");
    CHECK(pthread_equal(e.ran_on, pthread_self()));
}

// Header contract: "reactor freed before the call ran: DFR_ENOTRUNNING
// failure" (and dfr_reactor_free: "pending calls are dropped").
TEST_CASE("blocking_call_from_thread still queued when the reactor is freed fails with "
          "DFR_ENOTRUNNING",
          "[thread][S54]")
{
    int ran = 0;
    std::atomic<bool> returned{false};
    std::string seen;
    Results res;
    dfr_reactor *r = dfr_reactor_new(nullptr);
    REQUIRE(r != nullptr);
    dfr_threadpool *p = dfr_threadpool_new(1, 1, "h6-free");
    REQUIRE(p != nullptr);

    // A finished pool job leaves the reactor's wake-up pending (nobody
    // iterates this reactor), so the blocking call below only queues itself:
    // it neither wakes the loop nor touches the reactor afterwards.
    REQUIRE(dfr_threadpool_start(p) == 0);
    watch(dfr_reactor_defer_to_threadpool(r, p, answer_task, nullptr, nullptr), &res);
    REQUIRE(dfr_threadpool_stop(p) == 0);

    long base = test::live_allocations();
    std::thread t([&] {
        seen = describe(dfr_reactor_blocking_call_from_thread(r, count_task, &ran));
        returned = true;
    });
    // The call allocates its record and then, as this reactor's first thread
    // call, the queue's array while holding the queue lock: once both are
    // counted the call is queued (or is being queued, and free waits for the
    // lock).
    bool queued = wait_until([&] { return test::live_allocations() >= base + 2; });
    if (!queued) // cannot tell: let the reactor answer it before freeing
        CHECK(iterate_until(r, [&] { return returned.load(); }));
    dfr_reactor_free(r);
    t.join();
    dfr_threadpool_free(p);

    CHECK(queued);
    CHECK(seen == lib_fail(DFR_ENOTRUNNING));
    CHECK(ran == 0);
    // The pool's finished work still reached the reactor.
    REQUIRE(res.size() == 1);
    CHECK(res.text(0) == "i64 42");
}

struct Posted {
    int ran = 0;
    int destroyed = 0;
};

void posted_run(void *data)
{
    static_cast<Posted *>(data)->ran++;
}

void posted_destroy(void *data)
{
    static_cast<Posted *>(data)->destroyed++;
}

// Header contract: dfr_reactor_free drops pending calls (their destroy runs);
// calls from threads run "once it starts", and a reactor never run never
// starts.
TEST_CASE("call_from_thread to a reactor that never runs is dropped at free", "[thread]")
{
    Posted posted;
    dfr_reactor *r = dfr_reactor_new(nullptr);
    REQUIRE(r != nullptr);
    std::atomic<int> rc{1};
    std::thread t([&] { rc = dfr_reactor_call_from_thread(r, posted_run, &posted, posted_destroy); });
    t.join();
    REQUIRE(rc == 0);
    dfr_reactor_free(r);
    CHECK(posted.ran == 0);
    CHECK(posted.destroyed == 1);
}

struct PostDuringFree {
    dfr_reactor *r = nullptr;
    Posted posted;
    int rc = 1;
};

dfr_value post_on_result(dfr_value v, void *data)
{
    auto *pf = static_cast<PostDuringFree *>(data);
    dfr_value_drop(v);
    pf->rc = dfr_reactor_call_from_thread(pf->r, posted_run, &pf->posted, posted_destroy);
    return dfr_none();
}

// The destroy rule (deferred/common.h): every destroy runs exactly once.  A pool result delivered while the
// reactor is being freed may post a call; that call cannot run any more, but
// it must still be released.
TEST_CASE("reactor_free: a call posted by a result delivered during free is released",
          "[thread]")
{
    PostDuringFree pf;
    dfr_reactor *r = dfr_reactor_new(nullptr);
    REQUIRE(r != nullptr);
    pf.r = r;
    dfr_threadpool *p = dfr_threadpool_new(1, 1, "h6-free");
    REQUIRE(p != nullptr);
    REQUIRE(dfr_threadpool_start(p) == 0);
    dfr_deferred *d = dfr_reactor_defer_to_threadpool(r, p, answer_task, nullptr, nullptr);
    REQUIRE(d != nullptr);
    REQUIRE(dfr_deferred_add_callback(d, post_on_result, &pf, nullptr) == 0);
    dfr_deferred_unref(d);
    REQUIRE(dfr_threadpool_stop(p) == 0); // finished: the result waits in r's queue
    dfr_reactor_free(r);
    dfr_threadpool_free(p);
    CHECK(pf.rc == 0);
    CHECK(pf.posted.ran == 0);
    CHECK(pf.posted.destroyed == 1);
}

// ---------------------------------------------------------------- S55

struct Fifo {
    std::mutex m;
    std::vector<int> order;
};

struct FifoTask {
    Fifo *fifo;
    int i;
};

dfr_value fifo_task(void *data)
{
    auto *t = static_cast<FifoTask *>(data);
    std::lock_guard<std::mutex> lk(t->fifo->m);
    t->fifo->order.push_back(t->i);
    return dfr_i64(t->i);
}

// Twisted: test_threads.py test_suggestThreadPoolSize and
// internet/test/test_threads.py test_suggestThreadPoolSize, and S55's FIFO
// run with one thread.
TEST_CASE("suggest_threadpool_size 1: tasks run one at a time in FIFO order", "[thread][S55]")
{
    Fifo fifo;
    std::vector<FifoTask> tasks;
    for (int i = 0; i < 50; i++)
        tasks.push_back({&fifo, i});
    Results res;
    Reactor R;
    res.r = R.r;
    res.stop_at = tasks.size();
    REQUIRE(dfr_reactor_suggest_threadpool_size(R.r, 1) == 0);
    CHECK(dfr_reactor_suggest_threadpool_size(R.r, 0) == DFR_EINVAL); // the size stays 1
    for (auto &t : tasks)
        watch(dfr_reactor_defer_to_thread(R.r, fifo_task, &t, nullptr), &res);
    REQUIRE(run_for(R.r));

    std::vector<int> want;
    for (int i = 0; i < 50; i++)
        want.push_back(i);
    {
        std::lock_guard<std::mutex> lk(fifo.m);
        CHECK(fifo.order == want);
    }
    REQUIRE(res.size() == 50);
    for (int i = 0; i < 50; i++)
        CHECK(res.text(static_cast<size_t>(i)) == "i64 " + std::to_string(i));
}

// Tasks that wait until `need` of them run at once (or give up after 3 s).
struct Meet {
    std::mutex m;
    std::condition_variable cv;
    int arrived = 0;
    int need = 0;
    bool gave_up = false;
};

dfr_value meet_task(void *data)
{
    auto *mt = static_cast<Meet *>(data);
    std::unique_lock<std::mutex> lk(mt->m);
    mt->arrived++;
    mt->cv.notify_all();
    bool met = mt->cv.wait_for(lk, std::chrono::seconds(3),
                               [mt] { return mt->arrived >= mt->need || mt->gave_up; });
    met = met && mt->arrived >= mt->need;
    if (!met) {
        mt->gave_up = true; // the others need not wait 3 s each
        mt->cv.notify_all();
    }
    return dfr_i64(met ? 1 : 0);
}

void expect_meeting(dfr_reactor *r, int n)
{
    Meet meet;
    meet.need = n;
    Results res;
    for (int i = 0; i < n; i++)
        watch(dfr_reactor_defer_to_thread(r, meet_task, &meet, nullptr), &res);
    REQUIRE(iterate_until(r, [&] { return res.size() == static_cast<size_t>(n); }));
    int met = 0;
    for (size_t i = 0; i < res.size(); i++)
        met += res.text(i) == "i64 1";
    CHECK(met == n);
}

// Twisted: internet/test/test_threads.py test_suggestThreadPoolSize
// (max == 17), checked by what the pool does: 17 tasks run at once.
TEST_CASE("suggest_threadpool_size 17: seventeen tasks run at once", "[thread][S55]")
{
    Reactor R;
    REQUIRE(dfr_reactor_suggest_threadpool_size(R.r, 17) == 0);
    expect_meeting(R.r, 17);
}

// The same once the pool exists and has an idle thread (resizing a live
// pool; jobs queued while idle threads are still waking need threads too).
TEST_CASE("suggest_threadpool_size on a live pool with an idle thread", "[thread][S55]")
{
    Reactor R;
    REQUIRE(dfr_reactor_suggest_threadpool_size(R.r, 2) == 0);
    Results res;
    watch(dfr_reactor_defer_to_thread(R.r, answer_task, nullptr, nullptr), &res);
    REQUIRE(iterate_until(R.r, [&] { return res.size() == 1; }));
    REQUIRE(dfr_reactor_suggest_threadpool_size(R.r, 17) == 0);
    expect_meeting(R.r, 17);
}

// ---------------------------------------------------------------- S56

struct Flagged {
    std::atomic<int> ran{0};
    int destroyed = 0;
    pthread_t destroyed_on{};
};

dfr_value flagged_test(void *data)
{
    static_cast<Flagged *>(data)->ran++;
    return dfr_bytes_new("test", 4);
}

dfr_value flagged_fail(void *data)
{
    static_cast<Flagged *>(data)->ran++;
    return dfr_value_failure(dfr_failure_new(DOM, 9, "ZeroDivisionError"));
}

dfr_value flagged_slow(void *data)
{
    std::this_thread::sleep_for(milliseconds(2));
    static_cast<Flagged *>(data)->ran++;
    return dfr_none();
}

void flagged_destroy(void *data)
{
    auto *f = static_cast<Flagged *>(data);
    f->destroyed++;
    f->destroyed_on = pthread_self();
}

// Twisted: test_threadpool.py test_attributes, test_start.
TEST_CASE("threadpool: no threads before start, min threads after, none after stop",
          "[thread][S56]")
{
    dfr_threadpool *p = dfr_threadpool_new(3, 10, "h6-pool");
    REQUIRE(p != nullptr);
    CHECK(dfr_threadpool_threads(p) == 0);
    REQUIRE(dfr_threadpool_start(p) == 0);
    CHECK(dfr_threadpool_threads(p) == 3);
    REQUIRE(dfr_threadpool_stop(p) == 0);
    CHECK(dfr_threadpool_threads(p) == 0);
    // A stopped pool starts again.
    REQUIRE(dfr_threadpool_start(p) == 0);
    CHECK(dfr_threadpool_threads(p) == 3);
    dfr_threadpool_free(p);
}

// Twisted: test_threadpool.py test_existingWork, test_callInThreadWithCallback,
// test_callInThreadException (onResult(False, Failure)).
TEST_CASE("threadpool: work queued before start runs after it", "[thread][S56]")
{
    Flagged ok, bad;
    Results res;
    Reactor R;
    dfr_threadpool *p = dfr_threadpool_new(0, 1, nullptr);
    REQUIRE(p != nullptr);
    watch(dfr_reactor_defer_to_threadpool(R.r, p, flagged_test, &ok, flagged_destroy), &res);
    watch(dfr_reactor_defer_to_threadpool(R.r, p, flagged_fail, &bad, flagged_destroy), &res);
    CHECK(dfr_threadpool_threads(p) == 0);
    REQUIRE(dfr_reactor_iterate(R.r, 0.02) == 0);
    CHECK(ok.ran == 0);
    CHECK(res.size() == 0);

    REQUIRE(dfr_threadpool_start(p) == 0);
    REQUIRE(iterate_until(R.r, [&] { return res.size() == 2; }));
    CHECK(res.text(0) == "ok test");
    CHECK(res.text(1) == "fail test 9 ZeroDivisionError");
    CHECK(all_on(res.threads, pthread_self()));
    CHECK(ok.ran == 1);
    CHECK(bad.ran == 1);
    CHECK(ok.destroyed == 1);
    CHECK(pthread_equal(ok.destroyed_on, pthread_self()));
    CHECK(bad.destroyed == 1);
    dfr_threadpool_free(p);
}

// Twisted: test_threadpool.py test_workBeforeStarting,
// test_tooMuchWorkBeforeStarting.
TEST_CASE("threadpool: start makes a thread per queued job, up to max", "[thread][S56]")
{
    size_t jobs = GENERATE(5, 50);
    unsigned want = jobs == 5 ? 5 : 10;
    Flagged f;
    Results res;
    Reactor R;
    dfr_threadpool *p = dfr_threadpool_new(0, 10, "h6-pool");
    REQUIRE(p != nullptr);
    for (size_t i = 0; i < jobs; i++)
        watch(dfr_reactor_defer_to_threadpool(R.r, p, flagged_test, &f, nullptr), &res);
    CHECK(dfr_threadpool_threads(p) == 0);
    REQUIRE(dfr_threadpool_start(p) == 0);
    CHECK(dfr_threadpool_threads(p) == want);
    REQUIRE(iterate_until(R.r, [&] { return res.size() == jobs; }));
    CHECK(f.ran == static_cast<int>(jobs));
    dfr_threadpool_free(p);
}

// Twisted: test_threadpool.py test_start/stop; header: stop finishes the
// queued work and joins, work queued afterwards waits for the next start
// (Twisted drops it: we keep it).
TEST_CASE("threadpool: stop finishes queued work; later work waits for the next start",
          "[thread][S56]")
{
    Flagged f, after;
    Results res;
    Reactor R;
    dfr_threadpool *p = dfr_threadpool_new(1, 2, "h6-pool");
    REQUIRE(p != nullptr);
    REQUIRE(dfr_threadpool_start(p) == 0);
    for (int i = 0; i < 20; i++)
        watch(dfr_reactor_defer_to_threadpool(R.r, p, flagged_slow, &f, nullptr), &res);
    REQUIRE(dfr_threadpool_stop(p) == 0);
    CHECK(f.ran == 20);
    CHECK(dfr_threadpool_threads(p) == 0);
    REQUIRE(iterate_until(R.r, [&] { return res.size() == 20; }));

    watch(dfr_reactor_defer_to_threadpool(R.r, p, flagged_test, &after, flagged_destroy), &res);
    CHECK(dfr_threadpool_threads(p) == 0);
    REQUIRE(dfr_reactor_iterate(R.r, 0.05) == 0);
    CHECK(after.ran == 0);
    CHECK(res.size() == 20);

    REQUIRE(dfr_threadpool_start(p) == 0);
    REQUIRE(iterate_until(R.r, [&] { return res.size() == 21; }));
    CHECK(res.text(20) == "ok test");
    CHECK(after.ran == 1);
    CHECK(after.destroyed == 1);
    dfr_threadpool_free(p);
}

// Header contract: freeing a pool fails its never-started work with
// DFR_ENOTRUNNING (destroy runs, on the reactor thread), while finished work
// still reaches the reactor.
TEST_CASE("threadpool_free: unstarted work fails with DFR_ENOTRUNNING", "[thread][S56]")
{
    test::UnhandledCapture unhandled;
    Flagged never;
    Results res;
    Reactor R;
    dfr_threadpool *p = dfr_threadpool_new(0, 4, "h6-pool");
    REQUIRE(p != nullptr);
    for (int i = 0; i < 3; i++)
        watch(dfr_reactor_defer_to_threadpool(R.r, p, flagged_test, &never, flagged_destroy), &res);
    dfr_threadpool_free(p);
    REQUIRE(iterate_until(R.r, [&] { return res.size() == 3; }));
    for (size_t i = 0; i < 3; i++)
        CHECK(res.text(i) == lib_fail(DFR_ENOTRUNNING));
    CHECK(never.ran == 0);
    CHECK(never.destroyed == 3);
    CHECK(pthread_equal(never.destroyed_on, pthread_self()));
    CHECK(all_on(res.threads, pthread_self()));
    CHECK(unhandled.count() == 0);
}

TEST_CASE("threadpool_free right after start: queued work finishes and reports", "[thread][S56]")
{
    Flagged f;
    Results res;
    Reactor R;
    dfr_threadpool *p = dfr_threadpool_new(0, 2, "h6-pool");
    REQUIRE(p != nullptr);
    REQUIRE(dfr_threadpool_start(p) == 0);
    for (int i = 0; i < 10; i++)
        watch(dfr_reactor_defer_to_threadpool(R.r, p, flagged_slow, &f, flagged_destroy), &res);
    dfr_threadpool_free(p);
    CHECK(f.ran == 10);
    REQUIRE(iterate_until(R.r, [&] { return res.size() == 10; }));
    for (size_t i = 0; i < 10; i++)
        CHECK(res.text(i) == "none");
    CHECK(f.destroyed == 10);
}

// One side of the shared-pool test: a reactor made and run on its own thread.
struct Side {
    dfr_threadpool *pool = nullptr;
    size_t jobs = 0;
    pthread_t thread{};
    size_t fired = 0, wrong_thread = 0, wrong_value = 0, failed_submits = 0;
    int run_rc = 1;
    bool timed_out = false;
    dfr_reactor *r = nullptr;
};

dfr_value side_task(void *data)
{
    return dfr_ptr(data); // tells the side which reactor it belongs to
}

dfr_value side_done(dfr_value v, void *data)
{
    auto *s = static_cast<Side *>(data);
    if (!(v.type == &dfr_type_ptr && v.u.ptr == s))
        s->wrong_value++;
    dfr_value_drop(v);
    if (!pthread_equal(pthread_self(), s->thread))
        s->wrong_thread++;
    if (++s->fired == s->jobs)
        dfr_reactor_stop(s->r);
    return dfr_none();
}

void side_main(Side *s)
{
    s->thread = pthread_self();
    s->r = dfr_reactor_new(nullptr);
    if (!s->r)
        return;
    for (size_t i = 0; i < s->jobs; i++) {
        dfr_deferred *d = dfr_reactor_defer_to_threadpool(s->r, s->pool, side_task, s, nullptr);
        if (!d || dfr_deferred_add_callback(d, side_done, s, nullptr) != 0)
            s->failed_submits++;
        dfr_deferred_unref(d);
    }
    Watchdog w{s->r, false};
    if (dfr_reactor_call_later(s->r, 20, watchdog_fire, &w, nullptr, nullptr) == 0)
        s->run_rc = dfr_reactor_run(s->r);
    s->timed_out = w.fired;
    dfr_reactor_free(s->r);
}

// Header contract: "Results of finished work still reach their reactors" --
// one pool may serve several reactors, each on its own thread.
TEST_CASE("threadpool shared by two reactors on two threads", "[thread][S56]")
{
    dfr_threadpool *p = dfr_threadpool_new(2, 4, "h6-shared");
    REQUIRE(p != nullptr);
    REQUIRE(dfr_threadpool_start(p) == 0);
    Side a, b;
    a.pool = b.pool = p;
    a.jobs = b.jobs = 2000;
    {
        Joiner J;
        J.threads.emplace_back(side_main, &a);
        J.threads.emplace_back(side_main, &b);
    }
    dfr_threadpool_free(p);
    for (Side *s : {&a, &b}) {
        CHECK(s->r != nullptr);
        CHECK(s->run_rc == 0);
        CHECK_FALSE(s->timed_out);
        CHECK(s->failed_submits == 0);
        CHECK(s->fired == s->jobs);
        CHECK(s->wrong_thread == 0);
        CHECK(s->wrong_value == 0);
    }
}

// ---------------------------------------------------------------- callFromThread

constexpr unsigned STRESS_THREADS = 8;
constexpr uint32_t STRESS_CALLS = 200000;
constexpr unsigned SEQ_BITS = 20; // 200,000 < 2^20

struct Stress {
    dfr_reactor *r = nullptr;
    pthread_t reactor_thread{};
    uint32_t next[STRESS_THREADS] = {};
    uint64_t total = 0;
    uint64_t out_of_order = 0;
    uint64_t off_thread = 0;
    std::atomic<uint64_t> post_errors{0};
    std::vector<std::thread> producers;
};

Stress *g_stress = nullptr;

// The data pointer carries (thread << SEQ_BITS | seq): no allocation per call.
void stress_call(void *data)
{
    Stress *s = g_stress;
    auto x = reinterpret_cast<uintptr_t>(data);
    auto t = static_cast<unsigned>(x >> SEQ_BITS);
    auto seq = static_cast<uint32_t>(x & ((uintptr_t{1} << SEQ_BITS) - 1));
    if (t >= STRESS_THREADS || seq != s->next[t])
        s->out_of_order++;
    else
        s->next[t] = seq + 1;
    if (!pthread_equal(pthread_self(), s->reactor_thread))
        s->off_thread++;
    if (++s->total == uint64_t{STRESS_THREADS} * STRESS_CALLS)
        dfr_reactor_stop(s->r);
}

void stress_produce(Stress *s, unsigned t)
{
    uint64_t errors = 0;
    for (uint32_t seq = 0; seq < STRESS_CALLS; seq++) {
        auto x = static_cast<uintptr_t>(t) << SEQ_BITS | seq;
        if (dfr_reactor_call_from_thread(s->r, stress_call, reinterpret_cast<void *>(x), nullptr) != 0)
            errors++;
    }
    s->post_errors += errors;
}

// Issue 3: 8 threads x 200,000 calls, every one run once, in order per thread.
// Twisted: test_threads.py test_wakerOverflow (many calls from a thread).
TEST_CASE("call_from_thread: 8 threads x 200,000 calls, exact count, FIFO per thread",
          "[thread][stress]")
{
    Stress s;
    Reactor R;
    s.r = R.r;
    s.reactor_thread = pthread_self();
    g_stress = &s;
    REQUIRE(dfr_reactor_call_when_running(
                R.r,
                [](void *p) {
                    auto *st = static_cast<Stress *>(p);
                    for (unsigned t = 0; t < STRESS_THREADS; t++)
                        st->producers.emplace_back(stress_produce, st, t);
                },
                &s, nullptr) == 0);
    bool clean = run_for(R.r, 60);
    for (auto &t : s.producers)
        t.join();
    g_stress = nullptr;
    CHECK(clean);
    CHECK(s.producers.size() == STRESS_THREADS);
    CHECK(s.post_errors == 0);
    CHECK(s.total == uint64_t{STRESS_THREADS} * STRESS_CALLS);
    CHECK(s.out_of_order == 0);
    CHECK(s.off_thread == 0);
    for (unsigned t = 0; t < STRESS_THREADS; t++)
        CHECK(s.next[t] == STRESS_CALLS);
}

struct Early;

struct EarlyItem {
    Early *early;
    int from; // 0: the helper thread, 1: the test thread
    int seq;
};

struct Early {
    dfr_reactor *r = nullptr;
    pthread_t reactor_thread{};
    int expected = 0;
    int count = 0;
    int next[2] = {0, 0};
    int out_of_order = 0;
    int off_thread = 0;
    int destroyed = 0;
    int destroyed_off_thread = 0;
};

void early_call(void *data)
{
    auto *item = static_cast<EarlyItem *>(data);
    Early *e = item->early;
    if (item->seq != e->next[item->from])
        e->out_of_order++;
    e->next[item->from] = item->seq + 1;
    if (!pthread_equal(pthread_self(), e->reactor_thread))
        e->off_thread++;
    if (++e->count == e->expected)
        dfr_reactor_stop(e->r);
}

void early_destroy(void *data)
{
    Early *e = static_cast<EarlyItem *>(data)->early;
    e->destroyed++;
    if (!pthread_equal(pthread_self(), e->reactor_thread))
        e->destroyed_off_thread++;
}

// Header contract: calls made before run() run once it starts.  Twisted:
// test_threads.py StartupBehaviorTests (calls before startup are executed
// once it has started).
TEST_CASE("call_from_thread before run: the calls run once the reactor starts", "[thread]")
{
    Early e;
    std::vector<EarlyItem> items;
    for (int i = 0; i < 1000; i++)
        items.push_back({&e, 0, i});
    for (int i = 0; i < 10; i++)
        items.push_back({&e, 1, i});
    e.expected = static_cast<int>(items.size());
    Reactor R;
    e.r = R.r;
    e.reactor_thread = pthread_self();
    std::atomic<int> errors{0};
    std::thread helper([&] {
        for (int i = 0; i < 1000; i++)
            if (dfr_reactor_call_from_thread(R.r, early_call, &items[static_cast<size_t>(i)],
                                     early_destroy) != 0)
                errors++;
    });
    for (size_t i = 1000; i < items.size(); i++)
        REQUIRE(dfr_reactor_call_from_thread(R.r, early_call, &items[i], early_destroy) == 0);
    helper.join();
    REQUIRE(errors == 0);
    CHECK(e.count == 0);
    REQUIRE(run_for(R.r));
    CHECK(e.count == e.expected);
    CHECK(e.next[0] == 1000);
    CHECK(e.next[1] == 10);
    CHECK(e.out_of_order == 0);
    CHECK(e.off_thread == 0);
    CHECK(e.destroyed == e.expected);
    CHECK(e.destroyed_off_thread == 0);
}

struct Marks {
    dfr_reactor *r = nullptr;
    pthread_t reactor_thread{};
    int from_reactor = 0, from_pool = 0, off_thread = 0;
};

void mark_check(Marks *m)
{
    if (!pthread_equal(pthread_self(), m->reactor_thread))
        m->off_thread++;
    if (m->from_reactor && m->from_pool)
        dfr_reactor_stop(m->r);
}

dfr_value post_from_pool(void *data)
{
    auto *m = static_cast<Marks *>(data);
    int rc = dfr_reactor_call_from_thread(
        m->r,
        [](void *p) {
            auto *mk = static_cast<Marks *>(p);
            mk->from_pool++;
            mark_check(mk);
        },
        m, nullptr);
    return dfr_i64(rc);
}

// Twisted: test_threads.py test_callFromThread (from the reactor thread and
// from another thread) and internet/test/test_threads.py
// test_delayedCallFromThread (posted from a delayed call, it runs on the next
// iteration without waiting for anything else).
TEST_CASE("call_from_thread from the reactor thread and from a pool thread", "[thread]")
{
    Marks m;
    Results res;
    Reactor R;
    m.r = R.r;
    m.reactor_thread = pthread_self();
    REQUIRE(dfr_reactor_call_later(
                R.r, 0,
                [](void *p) {
                    auto *mk = static_cast<Marks *>(p);
                    CHECK(dfr_reactor_call_from_thread(
                              mk->r,
                              [](void *q) {
                                  auto *k = static_cast<Marks *>(q);
                                  k->from_reactor++;
                                  mark_check(k);
                              },
                              mk, nullptr) == 0);
                },
                &m, nullptr, nullptr) == 0);
    watch(dfr_reactor_defer_to_thread(R.r, post_from_pool, &m, nullptr), &res);
    auto start = Clock::now();
    REQUIRE(run_for(R.r));
    CHECK(Clock::now() - start < std::chrono::seconds(5));
    CHECK(m.from_reactor == 1);
    CHECK(m.from_pool == 1);
    CHECK(m.off_thread == 0);
    REQUIRE(res.size() == 1);
    CHECK(res.text(0) == "i64 0");
}

// ---------------------------------------------------------------- round trips

struct Trips {
    dfr_reactor *r = nullptr;
    size_t n = 0;
    size_t submitted = 0;
    size_t failed_submits = 0;
    size_t done = 0;
    size_t done_while_submitting = 0;
    size_t not_i64 = 0;
    int64_t sum = 0;
};

dfr_value trip_task(void *data)
{
    return dfr_i64(static_cast<int64_t>(reinterpret_cast<intptr_t>(data)));
}

dfr_value trip_done(dfr_value v, void *data)
{
    auto *t = static_cast<Trips *>(data);
    if (dfr_is_i64(v))
        t->sum += v.u.i64;
    else
        t->not_i64++;
    dfr_value_drop(v);
    if (++t->done == t->n)
        dfr_reactor_stop(t->r);
    return dfr_none();
}

void submit_trips(void *data)
{
    auto *t = static_cast<Trips *>(data);
    for (size_t i = 0; i < t->n; i++) {
        dfr_deferred *d = dfr_reactor_defer_to_thread(t->r, trip_task,
                                              reinterpret_cast<void *>(static_cast<intptr_t>(i)),
                                              nullptr);
        if (!d || dfr_deferred_add_callback(d, trip_done, t, nullptr) != 0) {
            t->failed_submits++;
            dfr_deferred_unref(d);
            continue;
        }
        dfr_deferred_unref(d);
        t->submitted++;
    }
    // Results come back only on this thread, which has been busy: all were
    // in flight at once.
    t->done_while_submitting = t->done;
}

// Issue 3: 100,000 deferToThread round trips, all in flight at once.
TEST_CASE("defer_to_thread: 100,000 round trips in flight at once", "[thread][stress]")
{
    Trips t;
    Reactor R;
    t.r = R.r;
    t.n = 100000;
    REQUIRE(dfr_reactor_call_when_running(R.r, submit_trips, &t, nullptr) == 0);
    REQUIRE(run_for(R.r, 60));
    CHECK(t.failed_submits == 0);
    CHECK(t.submitted == t.n);
    CHECK(t.done_while_submitting == 0);
    CHECK(t.done == t.n);
    CHECK(t.not_i64 == 0);
    CHECK(t.sum == int64_t{99999} * 100000 / 2);
}

// ---------------------------------------------------------------- destroy

struct Destroys {
    pthread_t reactor_thread{};
    std::atomic<int> ran{0};
    int destroyed = 0;
    int destroyed_off_thread = 0;
    int destroyed_before_run = 0;
};

dfr_value destroys_task(void *data)
{
    static_cast<Destroys *>(data)->ran++;
    return dfr_none();
}

void destroys_fn(void *data)
{
    static_cast<Destroys *>(data)->ran++;
}

void destroys_destroy(void *data)
{
    auto *d = static_cast<Destroys *>(data);
    d->destroyed++;
    if (!pthread_equal(pthread_self(), d->reactor_thread))
        d->destroyed_off_thread++;
    if (d->ran == 0)
        d->destroyed_before_run++;
}

// thread.h: destroy runs on the reactor thread (deferToThread), and for
// calls from other threads, after their fn.
TEST_CASE("destroy runs on the reactor thread", "[thread]")
{
    Destroys own, user, posted;
    own.reactor_thread = user.reactor_thread = posted.reactor_thread = pthread_self();
    Results res;
    Reactor R;
    dfr_threadpool *p = dfr_threadpool_new(1, 4, "h6-pool");
    REQUIRE(p != nullptr);
    REQUIRE(dfr_threadpool_start(p) == 0);
    for (int i = 0; i < 10; i++) {
        watch(dfr_reactor_defer_to_thread(R.r, destroys_task, &own, destroys_destroy), &res);
        watch(dfr_reactor_defer_to_threadpool(R.r, p, destroys_task, &user, destroys_destroy), &res);
    }
    std::atomic<int> errors{0};
    std::thread helper([&] {
        for (int i = 0; i < 10; i++)
            if (dfr_reactor_call_from_thread(R.r, destroys_fn, &posted, destroys_destroy) != 0)
                errors++;
    });
    helper.join();
    CHECK(errors == 0);
    REQUIRE(iterate_until(R.r, [&] { return res.size() == 20 && posted.destroyed == 10; }));
    dfr_threadpool_free(p);
    for (Destroys *d : {&own, &user, &posted}) {
        CHECK(d->ran == 10);
        CHECK(d->destroyed == 10);
        CHECK(d->destroyed_off_thread == 0);
        CHECK(d->destroyed_before_run == 0);
    }
}

// ---------------------------------------------------------------- stop

struct StopFromThread {
    dfr_reactor *r = nullptr;
    std::thread stopper;
    int rc1 = 1, rc2 = 1;
    int shutdown_ran = 0;
    pthread_t shutdown_on{};
};

dfr_value note_shutdown(void *data)
{
    auto *s = static_cast<StopFromThread *>(data);
    s->shutdown_ran++;
    s->shutdown_on = pthread_self();
    return dfr_none();
}

// Header contract: dfr_reactor_stop from any thread; DFR_ENOTRUNNING when
// already stopping or not running.
TEST_CASE("reactor_stop from another thread stops an idle reactor", "[thread]")
{
    StopFromThread s;
    Reactor R;
    s.r = R.r;
    REQUIRE(dfr_reactor_add_system_event_trigger(R.r, DFR_DURING, DFR_SHUTDOWN, note_shutdown, &s,
                                         nullptr, nullptr) == 0);
    REQUIRE(dfr_reactor_call_when_running(
                R.r,
                [](void *p) {
                    auto *st = static_cast<StopFromThread *>(p);
                    st->stopper = std::thread([st] {
                        // Give the reactor time to block waiting for events.
                        std::this_thread::sleep_for(milliseconds(50));
                        st->rc1 = dfr_reactor_stop(st->r);
                        st->rc2 = dfr_reactor_stop(st->r);
                    });
                },
                &s, nullptr) == 0);
    bool clean = run_for(R.r);
    if (s.stopper.joinable())
        s.stopper.join();
    CHECK(clean);
    CHECK(s.rc1 == 0);
    CHECK(s.rc2 == DFR_ENOTRUNNING);
    CHECK(s.shutdown_ran == 1);
    CHECK(pthread_equal(s.shutdown_on, pthread_self()));

    std::atomic<int> rc{1};
    std::thread late([&] { rc = dfr_reactor_stop(R.r); });
    late.join();
    CHECK(rc == DFR_ENOTRUNNING);
}

// ---------------------------------------------------------------- bad input

TEST_CASE("thread API: NULL reactor, function or pool", "[thread][errors]")
{
    int destroyed = 0;
    int ran = 0;
    Reactor R;
    dfr_threadpool *p = dfr_threadpool_new(0, 1, nullptr);
    REQUIRE(p != nullptr);

    CHECK(test::refused_with(dfr_reactor_defer_to_thread(nullptr, count_task, &destroyed, test::count_destroy),
                             DFR_EINVAL));
    CHECK(destroyed == 1);
    CHECK(test::refused_with(dfr_reactor_defer_to_thread(R.r, nullptr, &destroyed, test::count_destroy),
                             DFR_EINVAL));
    CHECK(destroyed == 2);
    CHECK(test::refused_with(dfr_reactor_defer_to_thread(nullptr, count_task, &ran, nullptr), DFR_EINVAL));

    CHECK(test::refused_with(
        dfr_reactor_defer_to_threadpool(nullptr, p, count_task, &destroyed, test::count_destroy), DFR_EINVAL));
    CHECK(destroyed == 3);
    CHECK(test::refused_with(
        dfr_reactor_defer_to_threadpool(R.r, nullptr, count_task, &destroyed, test::count_destroy), DFR_EINVAL));
    CHECK(destroyed == 4);
    CHECK(test::refused_with(dfr_reactor_defer_to_threadpool(R.r, p, nullptr, &destroyed, test::count_destroy),
                             DFR_EINVAL));
    CHECK(destroyed == 5);

    CHECK(dfr_reactor_call_from_thread(nullptr, posted_run, &destroyed, test::count_destroy) ==
          DFR_EINVAL);
    CHECK(destroyed == 6);
    CHECK(dfr_reactor_call_from_thread(R.r, nullptr, &destroyed, test::count_destroy) == DFR_EINVAL);
    CHECK(destroyed == 7);

    CHECK(describe(dfr_reactor_blocking_call_from_thread(nullptr, count_task, &ran)) ==
          lib_fail(DFR_EINVAL));
    CHECK(describe(dfr_reactor_blocking_call_from_thread(R.r, nullptr, &ran)) == lib_fail(DFR_EINVAL));
    std::string from_thread;
    std::thread t([&] {
        from_thread = describe(dfr_reactor_blocking_call_from_thread(R.r, nullptr, &ran));
    });
    t.join();
    CHECK(from_thread == lib_fail(DFR_EINVAL));
    CHECK(ran == 0);

    CHECK(dfr_reactor_suggest_threadpool_size(nullptr, 4) == DFR_EINVAL);
    CHECK(dfr_reactor_suggest_threadpool_size(R.r, 0) == DFR_EINVAL);
    CHECK(dfr_reactor_stop(nullptr) == DFR_EINVAL);

    CHECK(dfr_threadpool_new(0, 0, nullptr) == nullptr);
    CHECK(dfr_threadpool_new(5, 2, nullptr) == nullptr);
    CHECK(dfr_threadpool_start(nullptr) == DFR_EINVAL);
    CHECK(dfr_threadpool_stop(nullptr) == DFR_EINVAL);
    CHECK(dfr_threadpool_threads(nullptr) == 0);
    dfr_threadpool_free(nullptr);
    // Stopping a pool that never started is harmless.
    CHECK(dfr_threadpool_stop(p) == 0);
    dfr_threadpool_free(p);
    CHECK(ran == 0);
}

// ---------------------------------------------------------------- allocation failures

// Every allocation of deferToThread, callFromThread and blockingCallFromThread
// failing in turn: an error or a result, never a leak or a lost destroy.
TEST_CASE("thread API under allocation failure", "[thread][alloc]")
{
    test::UnhandledCapture unhandled;
    int runs = test::for_each_allocation_failure([](long) {
        dfr_reactor *r = dfr_reactor_new(nullptr);
        if (!r)
            return;
        int destroyed = 0;
        dfr_deferred *d = dfr_reactor_defer_to_thread(r, answer_task, &destroyed, test::count_destroy);
        if (!d) {
            CHECK(destroyed == 1);
        } else {
            CHECK(iterate_until(r, [&] { return dfr_deferred_state(d) != DFR_PENDING; }));
            std::string got = describe_result(d);
            CHECK((got == "i64 42" || got == lib_fail(DFR_ENOMEM)));
            CHECK(destroyed == 1);
            dfr_deferred_unref(d);
        }
        Posted posted;
        int rc = dfr_reactor_call_from_thread(r, posted_run, &posted, posted_destroy);
        if (rc == 0)
            CHECK(iterate_until(r, [&] { return posted.destroyed == 1; }));
        else
            CHECK(rc == DFR_ENOMEM);
        CHECK(posted.destroyed == 1);
        CHECK(posted.ran == (rc == 0 ? 1 : 0));

        std::atomic<bool> done{false};
        std::string got;
        std::thread t([&] {
            got = describe(dfr_reactor_blocking_call_from_thread(r, answer_task, nullptr));
            done = true;
        });
        CHECK(iterate_until(r, [&] { return done.load(); }));
        t.join();
        CHECK((got == "i64 42" || got == lib_fail(DFR_ENOMEM)));
        dfr_reactor_free(r);
    });
    CHECK(runs > 1);
}


// ---------------------------------------------------------------- lifetimes (issue 11)

// A job that holds its worker until the test opens the gate.
struct Gate {
    std::mutex m;
    std::condition_variable cv;
    bool open = false;
    std::atomic<int> entered{0};
    void pass()
    {
        entered++;
        std::unique_lock<std::mutex> lk(m);
        cv.wait(lk, [this] { return open; });
    }
    void release()
    {
        std::lock_guard<std::mutex> lk(m);
        open = true;
        cv.notify_all();
    }
    bool wait_entered(int n) { return wait_until([&] { return entered.load() >= n; }); }
};

// What happened to one job's data, from whichever thread.
struct Held {
    Gate *gate = nullptr;
    std::atomic<int> ran{0};
    std::atomic<int> destroyed{0};
    std::atomic<bool> destroyed_off_main{false};
    pthread_t main = pthread_self();
};

dfr_value held_task(void *data)
{
    auto *h = static_cast<Held *>(data);
    if (h->gate)
        h->gate->pass();
    h->ran++;
    // A result that owns memory: a leak would show when it is dropped late.
    return dfr_bytes_new("late", 4);
}

void held_destroy(void *data)
{
    auto *h = static_cast<Held *>(data);
    if (!pthread_equal(pthread_self(), h->main))
        h->destroyed_off_main = true;
    h->destroyed++;
}

// Issue 11, defect 2: the reactor freed while a user pool runs its job (and
// has another queued for it).  Both deferreds fail with DFR_ENOTRUNNING at
// the free; the running job's late result is released on its worker, the
// queued one is released without running; each destroy runs once.
TEST_CASE("reactor freed while a user pool still has its work: results are detached",
          "[thread][lifetime]")
{
    test::UnhandledCapture unhandled;
    Gate gate;
    Held running, queued;
    running.gate = &gate;
    dfr_threadpool *p = dfr_threadpool_new(1, 1, "h3-detach");
    REQUIRE(p != nullptr);
    REQUIRE(dfr_threadpool_start(p) == 0);
    dfr_reactor *r = dfr_reactor_new(nullptr);
    REQUIRE(r != nullptr);
    dfr_deferred *d1 = dfr_reactor_defer_to_threadpool(r, p, held_task, &running, held_destroy);
    dfr_deferred *d2 = dfr_reactor_defer_to_threadpool(r, p, held_task, &queued, held_destroy);
    REQUIRE(d1 != nullptr);
    REQUIRE(d2 != nullptr);
    REQUIRE(gate.wait_entered(1));
    dfr_reactor_free(r);

    CHECK(describe_result(d1) == lib_fail(DFR_ENOTRUNNING));
    CHECK(describe_result(d2) == lib_fail(DFR_ENOTRUNNING));
    CHECK(running.destroyed == 0); // its function still uses the data
    gate.release();
    CHECK(wait_until([&] { return running.destroyed == 1 && queued.destroyed == 1; }));
    REQUIRE(dfr_threadpool_stop(p) == 0);
    CHECK(running.ran == 1);
    CHECK(running.destroyed == 1);
    CHECK(running.destroyed_off_main);
    CHECK(queued.ran == 0);
    CHECK(queued.destroyed == 1);
    dfr_deferred_unref(d1);
    dfr_deferred_unref(d2);
    dfr_threadpool_free(p);
}

// The other order: a pool never started, its reactor freed, then the pool:
// the queued job is released by the pool's free, never run.
TEST_CASE("reactor freed, then the unstarted pool holding its work", "[thread][lifetime]")
{
    test::UnhandledCapture unhandled;
    Held h;
    dfr_threadpool *p = dfr_threadpool_new(0, 2, "h3-detach");
    REQUIRE(p != nullptr);
    dfr_reactor *r = dfr_reactor_new(nullptr);
    REQUIRE(r != nullptr);
    dfr_deferred *d = dfr_reactor_defer_to_threadpool(r, p, held_task, &h, held_destroy);
    REQUIRE(d != nullptr);
    dfr_reactor_free(r);
    CHECK(describe_result(d) == lib_fail(DFR_ENOTRUNNING));
    CHECK(h.destroyed == 0);
    dfr_deferred_unref(d);
    dfr_threadpool_free(p);
    CHECK(h.ran == 0);
    CHECK(h.destroyed == 1);
}

struct FreeRace {
    std::atomic<int> destroyed{0};
    std::atomic<int> ran{0};
};

dfr_value race_task(void *data)
{
    static_cast<FreeRace *>(data)->ran++;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    return dfr_bytes_new("x", 1);
}

void race_destroy(void *data)
{
    static_cast<FreeRace *>(data)->destroyed++;
}

// Bindings free from finalizers, on any thread, in any order: a reactor and
// the pool running its work freed at the same time on two threads.
TEST_CASE("reactor and its user pool freed at once on two threads", "[thread][lifetime]")
{
    test::UnhandledCapture unhandled;
    for (int round = 0; round < 40; round++) {
        FreeRace fr;
        Results res;
        dfr_reactor *r = dfr_reactor_new(nullptr);
        REQUIRE(r != nullptr);
        dfr_threadpool *p = dfr_threadpool_new(2, 2, "h3-race");
        REQUIRE(p != nullptr);
        REQUIRE(dfr_threadpool_start(p) == 0);
        for (int i = 0; i < 6; i++)
            watch(dfr_reactor_defer_to_threadpool(r, p, race_task, &fr, race_destroy), &res);
        std::thread t([p, round] {
            if (round % 2)
                std::this_thread::sleep_for(std::chrono::microseconds(300));
            dfr_threadpool_free(p);
        });
        if (round % 3 == 0)
            std::this_thread::sleep_for(std::chrono::microseconds(300));
        dfr_reactor_free(r);
        t.join();
        CHECK(fr.destroyed == 6);
        CHECK(res.size() == 6);
    }
}

struct Resubmit {
    dfr_reactor *r = nullptr;
    Held again;
    std::string seen = "none yet";
};

dfr_value resubmit_on_result(dfr_value v, void *data)
{
    auto *rs = static_cast<Resubmit *>(data);
    dfr_value_drop(v);
    dfr_deferred *d = dfr_reactor_defer_to_thread(rs->r, held_task, &rs->again, held_destroy);
    rs->seen = d ? describe_result(d) : "NULL";
    dfr_deferred_unref(d);
    return dfr_none();
}

// A result delivered while the reactor is freed may hand more work to the
// reactor's pool: that pool is gone, and no new one may start for a reactor
// about to disappear.  The new work fails at once (its destroy runs).
TEST_CASE("defer_to_thread from a result delivered during reactor free fails at once",
          "[thread][lifetime]")
{
    test::UnhandledCapture unhandled;
    Resubmit rs;
    Held first;
    dfr_reactor *r = dfr_reactor_new(nullptr);
    REQUIRE(r != nullptr);
    rs.r = r;
    dfr_deferred *d = dfr_reactor_defer_to_thread(r, held_task, &first, held_destroy);
    REQUIRE(d != nullptr);
    REQUIRE(dfr_deferred_add_callback(d, resubmit_on_result, &rs, nullptr) == 0);
    dfr_deferred_unref(d);
    REQUIRE(wait_until([&] { return first.ran.load() == 1; }));
    dfr_reactor_free(r);
    CHECK(first.destroyed == 1);
    CHECK(rs.seen == lib_fail(DFR_ENOTRUNNING));
    CHECK(rs.again.ran == 0);
    CHECK(rs.again.destroyed == 1);
}

void post_from_destroy(void *data)
{
    auto *pf = static_cast<PostDuringFree *>(data);
    pf->rc = dfr_reactor_call_from_thread(pf->r, posted_run, &pf->posted, posted_destroy);
}

// Every destroy runs once: a call posted while the reactor is freed, after
// its queue was emptied (here: from a pending timer's destroy), is refused
// with DFR_ENOTRUNNING and released.
TEST_CASE("call_from_thread during reactor free, after the queue closed, is released",
          "[thread][lifetime]")
{
    PostDuringFree pf;
    dfr_reactor *r = dfr_reactor_new(nullptr);
    REQUIRE(r != nullptr);
    pf.r = r;
    REQUIRE(dfr_reactor_call_later(r, 100.0, posted_run, &pf.posted, nullptr, nullptr) == 0);
    REQUIRE(dfr_reactor_call_later(r, 100.0, [](void *) {}, &pf, post_from_destroy, nullptr) == 0);
    dfr_reactor_free(r);
    CHECK(pf.rc == DFR_ENOTRUNNING);
    CHECK(pf.posted.ran == 0);
    CHECK(pf.posted.destroyed == 1);
}

// The thread making a blocking call wakes the reactor after queueing it; a
// free that discards the call must not close the wake-up handle under it.
TEST_CASE("blocking_call_from_thread racing with reactor free", "[thread][lifetime]")
{
    for (int round = 0; round < 100; round++) {
        int ran = 0;
        std::atomic<bool> go{false};
        std::string seen;
        dfr_reactor *r = dfr_reactor_new(nullptr);
        REQUIRE(r != nullptr);
        long base = test::live_allocations();
        std::thread t([&] {
            while (!go.load())
                std::this_thread::yield();
            seen = describe(dfr_reactor_blocking_call_from_thread(r, count_task, &ran));
        });
        go = true;
        // Queued once its record and the queue's first array are allocated
        // (the array under the queue lock: free waits for it).  Spin, so
        // that the free meets the call's wake-up.
        auto end = deadline_in(10.0);
        while (test::live_allocations() < base + 2 && Clock::now() < end) {
        }
        bool queued = test::live_allocations() >= base + 2;
        if (!queued)
            CHECK(iterate_until(r, [&] { return !seen.empty(); }));
        dfr_reactor_free(r);
        t.join();
        CHECK(queued);
        CHECK(seen == lib_fail(DFR_ENOTRUNNING));
        CHECK(ran == 0);
    }
}

// Twisted: deferToThread has no canceller; cancelling fails the deferred at
// once and the late result is dropped.  The data's destroy still runs once,
// when the function is done with it.
TEST_CASE("defer_to_thread cancelled while running: late result dropped, destroy once",
          "[thread][lifetime]")
{
    test::UnhandledCapture unhandled;
    Gate gate;
    Held h;
    h.gate = &gate;
    Reactor R;
    dfr_deferred *d = dfr_reactor_defer_to_thread(R.r, held_task, &h, held_destroy);
    REQUIRE(d != nullptr);
    REQUIRE(gate.wait_entered(1));
    dfr_deferred_cancel(d);
    CHECK(describe_result(d) == lib_fail(DFR_ECANCELLED));
    CHECK(h.destroyed == 0);
    gate.release();
    REQUIRE(iterate_until(R.r, [&] { return h.destroyed.load() == 1; }));
    REQUIRE(dfr_reactor_iterate(R.r, 0.01) == 0);
    CHECK(h.ran == 1);
    CHECK(h.destroyed == 1);
    CHECK_FALSE(h.destroyed_off_main);
    CHECK(describe_result(d) == lib_fail(DFR_ECANCELLED));
    dfr_deferred_unref(d);
}

// ---------------------------------------------------------------- pool stop and start (issue 11)

// Issue 11, defect 8: two threads stop a pool whose two workers are busy.
// The second stop waits for the same stop; neither hangs.
TEST_CASE("threadpool: two concurrent stops both return once the pool has stopped",
          "[thread][lifetime]")
{
    Gate gate;
    Held a, b;
    a.gate = b.gate = &gate;
    Reactor R;
    dfr_threadpool *p = dfr_threadpool_new(2, 2, "h3-stop");
    REQUIRE(p != nullptr);
    REQUIRE(dfr_threadpool_start(p) == 0);
    dfr_deferred *da = dfr_reactor_defer_to_threadpool(R.r, p, held_task, &a, held_destroy);
    dfr_deferred *db = dfr_reactor_defer_to_threadpool(R.r, p, held_task, &b, held_destroy);
    REQUIRE(gate.wait_entered(2));
    std::atomic<int> rc1{1}, rc2{1};
    std::atomic<unsigned> threads_seen{99};
    std::atomic<int> returned{0};
    std::thread s1([&] {
        rc1 = dfr_threadpool_stop(p);
        returned++;
    });
    std::thread s2([&] {
        std::this_thread::sleep_for(milliseconds(20));
        rc2 = dfr_threadpool_stop(p);
        threads_seen = dfr_threadpool_threads(p);
        returned++;
    });
    std::this_thread::sleep_for(milliseconds(60));
    CHECK(returned == 0); // both wait for the busy workers
    gate.release();
    bool both = wait_until([&] { return returned.load() == 2; });
    if (!both) { // would hang: leave the stuck threads behind
        s1.detach();
        s2.detach();
        FAIL("a concurrent dfr_threadpool_stop never returned");
    }
    s1.join();
    s2.join();
    CHECK(rc1 == 0);
    CHECK(rc2 == 0);
    CHECK(threads_seen == 0);
    CHECK(dfr_threadpool_threads(p) == 0);
    REQUIRE(iterate_until(R.r, [&] {
        return dfr_deferred_state(da) != DFR_PENDING && dfr_deferred_state(db) != DFR_PENDING;
    }));
    CHECK(describe_result(da) == "ok late");
    CHECK(describe_result(db) == "ok late");
    dfr_deferred_unref(da);
    dfr_deferred_unref(db);
    // The pool starts again.
    REQUIRE(dfr_threadpool_start(p) == 0);
    CHECK(dfr_threadpool_threads(p) == 2);
    dfr_threadpool_free(p);
}

// A start while a stop is in progress waits for it, then starts.
TEST_CASE("threadpool: start during a stop waits for it, then starts", "[thread][lifetime]")
{
    Gate gate;
    Held a;
    a.gate = &gate;
    Reactor R;
    dfr_threadpool *p = dfr_threadpool_new(1, 1, "h3-stop");
    REQUIRE(p != nullptr);
    REQUIRE(dfr_threadpool_start(p) == 0);
    dfr_deferred *d = dfr_reactor_defer_to_threadpool(R.r, p, held_task, &a, held_destroy);
    REQUIRE(gate.wait_entered(1));
    std::atomic<int> stop_rc{1}, start_rc{1};
    std::atomic<bool> stopped{false}, started{false};
    std::thread stopper([&] {
        stop_rc = dfr_threadpool_stop(p);
        stopped = true;
    });
    std::this_thread::sleep_for(milliseconds(30));
    std::thread starter([&] {
        start_rc = dfr_threadpool_start(p);
        started = true;
    });
    std::this_thread::sleep_for(milliseconds(30));
    CHECK_FALSE(started); // waits for the stop
    gate.release();
    stopper.join();
    starter.join();
    CHECK(stop_rc == 0);
    CHECK(start_rc == 0);
    CHECK(dfr_threadpool_threads(p) == 1);
    REQUIRE(iterate_until(R.r, [&] { return dfr_deferred_state(d) != DFR_PENDING; }));
    CHECK(describe_result(d) == "ok late");
    dfr_deferred_unref(d);
    dfr_threadpool_free(p);
}

struct SelfStop {
    dfr_threadpool *p = nullptr;
    int stop_rc = 1, start_rc = 1;
};

dfr_value self_stop_task(void *data)
{
    auto *s = static_cast<SelfStop *>(data);
    s->stop_rc = dfr_threadpool_stop(s->p);
    s->start_rc = dfr_threadpool_start(s->p);
    return dfr_none();
}

// A job stopping its own pool would join its own thread: refused.
TEST_CASE("threadpool: stop from one of its own jobs is DFR_EDEADLK", "[thread][lifetime]")
{
    SelfStop s;
    Results res;
    Reactor R;
    s.p = dfr_threadpool_new(1, 1, "h3-self");
    REQUIRE(s.p != nullptr);
    REQUIRE(dfr_threadpool_start(s.p) == 0);
    watch(dfr_reactor_defer_to_threadpool(R.r, s.p, self_stop_task, &s, nullptr), &res);
    REQUIRE(iterate_until(R.r, [&] { return res.size() == 1; }));
    CHECK(s.stop_rc == DFR_EDEADLK);
    CHECK(s.start_rc == DFR_EALREADY_STARTED);
    CHECK(dfr_threadpool_threads(s.p) == 1);
    REQUIRE(dfr_threadpool_stop(s.p) == 0);
    dfr_threadpool_free(s.p);
}

// Issue 11, defect 9: every allocation of a pool's start, submit and stop
// failing in turn.  A failed start leaves the pool stopped with its queue
// intact and can be retried; every job accepted runs once and fires its
// deferred; every job refused runs its destroy at once.
TEST_CASE("threadpool start, submit and stop under allocation failure", "[thread][alloc]")
{
    test::UnhandledCapture unhandled;
    int runs = test::for_each_allocation_failure([](long) {
        dfr_reactor *r = dfr_reactor_new(nullptr);
        if (!r)
            return;
        dfr_threadpool *p = dfr_threadpool_new(0, 3, "h3-alloc");
        if (!p) {
            dfr_reactor_free(r);
            return;
        }
        int destroyed = 0, submitted = 0;
        std::atomic<int> ran{0};
        std::vector<dfr_deferred *> ds;
        auto submit = [&] {
            submitted++;
            dfr_deferred *d = dfr_reactor_defer_to_threadpool(
                r, p,
                [](void *data) -> dfr_value {
                    ++*static_cast<std::atomic<int> *>(data);
                    return dfr_i64(42);
                },
                &ran, nullptr);
            // destroy counted separately: the data above is shared
            destroyed += d ? 0 : 1;
            if (d)
                ds.push_back(d);
        };
        submit();
        submit();
        int rc = dfr_threadpool_start(p);
        CHECK((rc == 0 || rc == DFR_ENOMEM));
        if (rc != 0) {
            CHECK(dfr_threadpool_threads(p) == 0);
            CHECK(dfr_threadpool_start(p) == 0); // retryable
        }
        submit();
        submit();
        CHECK(iterate_until(r, [&] {
            for (auto *d : ds)
                if (dfr_deferred_state(d) == DFR_PENDING)
                    return false;
            return true;
        }));
        for (auto *d : ds) {
            CHECK(describe_result(d) == "i64 42");
            dfr_deferred_unref(d);
        }
        CHECK(ran == static_cast<int>(ds.size()));
        CHECK(destroyed + static_cast<int>(ds.size()) == submitted);
        CHECK(dfr_threadpool_stop(p) == 0);
        CHECK(dfr_threadpool_threads(p) == 0);

        // A started pool without threads: the submit must make one, or
        // refuse the job (destroy runs) and stay usable.
        CHECK(dfr_threadpool_start(p) == 0);
        int late_destroyed = 0;
        dfr_deferred *d = dfr_reactor_defer_to_threadpool(r, p, answer_task, &late_destroyed,
                                                  test::count_destroy);
        if (!d) {
            CHECK(late_destroyed == 1);
            CHECK(dfr_threadpool_threads(p) == 0);
        } else {
            CHECK(iterate_until(r, [&] { return dfr_deferred_state(d) != DFR_PENDING; }));
            CHECK(describe_result(d) == "i64 42");
            CHECK(late_destroyed == 1);
            dfr_deferred_unref(d);
        }
        dfr_threadpool_free(p);
        dfr_reactor_free(r);
    });
    CHECK(runs > 1);
    CHECK(unhandled.count() == 0);
}

// A start that fails leaves the queue for the retry: jobs queued before are
// neither lost nor run twice (the alloc loop's sharp case, named).
TEST_CASE("threadpool: a failed start keeps the queue; the retry runs it", "[thread][alloc]")
{
    Held a, b;
    Results res;
    Reactor R;
    dfr_threadpool *p = dfr_threadpool_new(0, 2, "h3-retry");
    REQUIRE(p != nullptr);
    watch(dfr_reactor_defer_to_threadpool(R.r, p, held_task, &a, held_destroy), &res);
    watch(dfr_reactor_defer_to_threadpool(R.r, p, held_task, &b, held_destroy), &res);
    test::fail_allocation_at(1); // the threads' id array
    int rc = dfr_threadpool_start(p);
    test::fail_allocation_at(0);
    CHECK(rc == DFR_ENOMEM);
    CHECK(dfr_threadpool_threads(p) == 0);
    REQUIRE(dfr_threadpool_start(p) == 0);
    REQUIRE(iterate_until(R.r, [&] { return res.size() == 2; }));
    CHECK(res.text(0) == "ok late");
    CHECK(res.text(1) == "ok late");
    CHECK(a.ran == 1);
    CHECK(b.ran == 1);
    CHECK(a.destroyed == 1);
    CHECK(b.destroyed == 1);
    dfr_threadpool_free(p);
}

} // namespace

// =============================================================================
// Reactor ownership (issue 11, defect 7; h4-reactor).  Every reactor-bound
// function refuses a thread that does not own the reactor, with
// DFR_ENOTOWNER (a deferred failed with it, where it returns a deferred),
// and touches nothing; dfr_reactor_in_thread says who owns it.
// =============================================================================

namespace {

struct Refusals {
    std::vector<std::string> wrong; // what answered other than expected
    void expect(bool ok, const char *what)
    {
        if (!ok)
            wrong.push_back(what);
    }
};

dfr_value own_task(void *) { return dfr_none(); }
struct Hits {
    std::atomic<int> ran{0}, destroyed{0};
};
void own_call(void *data) { static_cast<Hits *>(data)->ran++; }
void own_destroy(void *data) { static_cast<Hits *>(data)->destroyed++; }
int own_add(int a) { return a + 1; }

// A deferred failed with DFR_ENOTOWNER (released here).
bool refused_deferred(dfr_deferred *d)
{
    bool ok = d && describe_result(d) == lib_fail(DFR_ENOTOWNER);
    if (d) {
        dfr_deferred_add_errback(d, [](dfr_value v, void *) {
            dfr_value_drop(v);
            return dfr_none();
        }, nullptr, nullptr);
        dfr_deferred_unref(d);
    }
    return ok;
}

// Calls every reactor-bound entry point on r (owned by another thread) and
// the objects made on it, recording any that did not refuse.
void call_everything(dfr_reactor *r, dfr_delayed_call *dc, dfr_looping_call *lc, uint64_t trigger,
                     Hits &hits, Refusals &out)
{
    out.expect(!dfr_reactor_in_thread(r), "in_thread");
    out.expect(dfr_reactor_call_later(r, 0, own_call, &hits, own_destroy, nullptr) == DFR_ENOTOWNER,
               "call_later");
    dfr_delayed_call *got = reinterpret_cast<dfr_delayed_call *>(&out);
    out.expect(dfr_reactor_call_later(r, 0, own_call, &hits, own_destroy, &got) == DFR_ENOTOWNER && !got,
               "call_later with a handle");
    out.expect(dfr_delayed_call_cancel(dc) == DFR_ENOTOWNER, "delayed_call_cancel");
    out.expect(dfr_delayed_call_reset(dc, 1) == DFR_ENOTOWNER, "delayed_call_reset");
    out.expect(dfr_delayed_call_delay(dc, 1) == DFR_ENOTOWNER, "delayed_call_delay");
    out.expect(!dfr_delayed_call_active(dc), "delayed_call_active");
    out.expect(std::isnan(dfr_delayed_call_time(dc)), "delayed_call_time");
    out.expect(dfr_reactor_pending_calls(r) == 0, "pending_calls");
    out.expect(dfr_reactor_call_when_running(r, own_call, &hits, own_destroy) == DFR_ENOTOWNER,
               "call_when_running");
    out.expect(dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_SHUTDOWN, own_task, &hits, own_destroy,
                                            nullptr) == DFR_ENOTOWNER,
               "add_system_event_trigger");
    out.expect(dfr_reactor_remove_system_event_trigger(r, trigger) == DFR_ENOTOWNER,
               "remove_system_event_trigger");
    out.expect(refused_deferred(dfr_reactor_defer_later(r, 0, own_task, &hits, own_destroy)), "defer_later");
    dfr_deferred *d = dfr_deferred_new();
    out.expect(dfr_deferred_add_timeout(d, r, 1) == DFR_ENOTOWNER, "add_timeout");
    dfr_deferred_unref(d);
    out.expect(dfr_looping_call_new(r, own_task, &hits, own_destroy) == nullptr, "looping_call_new");
    out.expect(refused_deferred(dfr_looping_call_start(lc, 1, true)), "looping_call_start");
    out.expect(dfr_looping_call_stop(lc) == DFR_ENOTOWNER, "looping_call_stop");
    out.expect(dfr_looping_call_reset(lc) == DFR_ENOTOWNER, "looping_call_reset");
    out.expect(!dfr_looping_call_running(lc), "looping_call_running");
    dfr_looping_call_unref(lc); // refused: the owner frees it
    out.expect(dfr_reactor_advance(r, 1) == DFR_ENOTOWNER, "advance");
    out.expect(dfr_reactor_iterate(r, 0) == DFR_ENOTOWNER, "iterate");
    out.expect(dfr_reactor_suggest_threadpool_size(r, 3) == DFR_ENOTOWNER, "suggest_threadpool_size");
    out.expect(refused_deferred(dfr_reactor_defer_to_thread(r, own_task, &hits, own_destroy)), "defer_to_thread");
    dfr_threadpool *p = dfr_threadpool_new(0, 1, nullptr);
    out.expect(refused_deferred(dfr_reactor_defer_to_threadpool(r, p, own_task, &hits, own_destroy)),
               "defer_to_threadpool");
    dfr_threadpool_free(p);
    ffi_cif cif;
    ffi_type *args_t[] = {&ffi_type_sint};
    int a = 1;
    void *args[] = {&a};
    ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 1, &ffi_type_sint, args_t);
    out.expect(refused_deferred(dfr_reactor_defer_call(r, &cif, reinterpret_cast<void (*)(void)>(own_add), args)),
               "defer_call");
    // The thread-safe ones still work.
    out.expect(!std::isnan(dfr_reactor_seconds(r)), "seconds");
    out.expect(dfr_reactor_call_from_thread(r, own_call, &hits, own_destroy) == 0, "call_from_thread");
}

} // namespace

TEST_CASE("ownership: a second thread is refused everywhere, before run", "[thread][owner]")
{
    dfr_reactor *r = test::new_reactor(true);
    CHECK(dfr_reactor_in_thread(r));
    CHECK_FALSE(dfr_reactor_in_thread(nullptr));
    Hits hits;
    dfr_delayed_call *dc;
    REQUIRE(dfr_reactor_call_later(r, 5, own_call, &hits, own_destroy, &dc) == 0);
    dfr_looping_call *lc = dfr_looping_call_new(r, own_task, nullptr, nullptr);
    uint64_t trigger;
    REQUIRE(dfr_reactor_add_system_event_trigger(r, DFR_BEFORE, DFR_STARTUP, own_task, nullptr, nullptr,
                                         &trigger) == 0);
    Refusals out;
    std::thread t([&] { call_everything(r, dc, lc, trigger, hits, out); });
    t.join();
    CHECK(out.wrong == std::vector<std::string>{});
    CHECK(hits.ran == 0);
    CHECK(hits.destroyed == 8); // every refused call that took data released it
    // Nothing was touched: the one call is still pending, at 5 seconds.
    CHECK(dfr_reactor_pending_calls(r) == 1);
    CHECK(dfr_delayed_call_time(dc) == 5);
    CHECK(dfr_reactor_remove_system_event_trigger(r, trigger) == 0);
    dfr_looping_call_unref(lc);
    dfr_delayed_call_unref(dc);
    dfr_reactor_free(r);
}

TEST_CASE("ownership: the thread that runs the reactor owns it", "[thread][owner]")
{
    dfr_reactor *r = dfr_reactor_new(nullptr);
    Hits hits;
    std::atomic<bool> started{false}, in_thread{false};
    REQUIRE(dfr_reactor_call_when_running(r, [](void *data) {
        static_cast<std::atomic<bool> *>(data)->store(true);
    }, &started, nullptr) == 0);
    int run_rc = 1;
    // Handing over a reactor not yet run: the runner owns it from now on.
    std::thread runner([&] { run_rc = dfr_reactor_run(r); });
    for (int i = 0; i < 10000 && !started; i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    REQUIRE(started);
    CHECK(dfr_reactor_running(r));
    CHECK_FALSE(dfr_reactor_in_thread(r));
    // The defect: these returned success and raced with the loop.
    CHECK(dfr_reactor_call_later(r, 0, own_call, &hits, own_destroy, nullptr) == DFR_ENOTOWNER);
    CHECK(refused_deferred(dfr_reactor_defer_later(r, 0, own_task, &hits, own_destroy)));
    CHECK(hits.destroyed == 2);
    CHECK(dfr_reactor_run(r) == DFR_ENOTOWNER);
    // (A free from here would stop r and free it when run returns:
    // tests/reactor/test_reactor.cpp.)
    CHECK(dfr_reactor_call_from_thread(r, [](void *data) {
        auto *flag = static_cast<std::atomic<bool> *>(data);
        flag->store(true);
    }, &in_thread, nullptr) == 0);
    for (int i = 0; i < 10000 && !in_thread; i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    CHECK(in_thread);
    CHECK(dfr_reactor_stop(r) == 0);
    runner.join();
    CHECK(run_rc == 0);
    // After run it stays with the runner: a second run here is refused.
    CHECK(dfr_reactor_run(r) == DFR_ENOTOWNER);
    CHECK(dfr_reactor_call_later(r, 0, own_call, &hits, own_destroy, nullptr) == DFR_ENOTOWNER);
    CHECK(hits.ran == 0);
    // A reactor nobody runs may be freed by any thread.
    dfr_reactor_free(r);
}

TEST_CASE("ownership: dfr_reactor_in_thread inside callbacks", "[thread][owner]")
{
    dfr_reactor *r = dfr_reactor_new(nullptr);
    struct Seen {
        dfr_reactor *r;
        std::atomic<int> yes{0}, no{0};
    } seen{r};
    REQUIRE(dfr_reactor_call_later(r, 0, [](void *data) {
        auto *s = static_cast<Seen *>(data);
        (dfr_reactor_in_thread(s->r) ? s->yes : s->no)++;
    }, &seen, nullptr, nullptr) == 0);
    dfr_deferred *d = dfr_reactor_defer_to_thread(r, [](void *data) {
        auto *s = static_cast<Seen *>(data);
        (dfr_reactor_in_thread(s->r) ? s->yes : s->no)++; // a worker
        return dfr_none();
    }, &seen, nullptr);
    REQUIRE(d);
    for (int i = 0; i < 2000 && dfr_deferred_state(d) == DFR_PENDING; i++)
        dfr_reactor_iterate(r, 0.01);
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    CHECK(seen.yes == 1);
    CHECK(seen.no == 1);
    dfr_deferred_unref(d);
    dfr_reactor_free(r);
}
