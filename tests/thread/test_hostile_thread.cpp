// Hostile programs against the thread API: thread jobs, ffi calls and calls
// from other threads when the reactor is stopped or freed around them; the
// orders that reactor.h allows, run under TSan in CI.  What is allowed:
//  - dfr_reactor_call_from_thread / _stop from any thread while r exists;
//    a call that arrives once r stops running is run by the next iterate,
//    or released (destroy runs) by dfr_reactor_free;
//  - dfr_reactor_free on r's thread once the other threads are done with
//    r (joined, or told to stop calling): a call made after the free is a
//    use after free, which C cannot check (reactor.h, thread.h).
// No Twisted counterpart: the C API's own contract.
#include <catch2/catch.hpp>

#include "reactor_support.h"
#include "support.h"

#include <deferred/ffi.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

using test::code_of;
using test::count_destroy;
using test::swallow;

namespace {

struct Seen {
    int calls = 0;
    int code = 0;
};

dfr_value seen_cb(dfr_value v, void *data)
{
    auto *s = static_cast<Seen *>(data);
    s->calls++;
    s->code = code_of(&v);
    dfr_value_drop(v);
    return dfr_none();
}

std::atomic<int> g_sleeping{0};

dfr_value slow(void *)
{
    g_sleeping++;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return dfr_i64(1);
}

extern "C" int64_t slow_add(int64_t a, int64_t b)
{
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return a + b;
}

struct FreeIn {
    dfr_reactor *r = nullptr;
    int runs = 0;
};

dfr_value free_reactor_cb(dfr_value v, void *data)
{
    auto *f = static_cast<FreeIn *>(data);
    f->runs++;
    dfr_reactor_free(f->r);
    return v;
}

void atomic_destroy(void *data)
{
    static_cast<std::atomic<int> *>(data)->fetch_add(1);
}

} // namespace

TEST_CASE("hostile: thread jobs and ffi calls outstanding when a reactor is freed",
          "[hostile][thread][lifetime]")
{
    dfr_reactor *r = dfr_reactor_new(nullptr);
    REQUIRE(r);
    std::atomic<int> destroyed{0};
    std::vector<dfr_deferred *> ds;
    std::vector<Seen> seen(12);
    for (int i = 0; i < 8; i++)
        ds.push_back(dfr_reactor_defer_to_thread(r, slow, &destroyed, atomic_destroy));
    ffi_cif cif;
    ffi_type *args[2] = {&ffi_type_sint64, &ffi_type_sint64};
    REQUIRE(ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 2, &ffi_type_sint64, args) == FFI_OK);
    int64_t a = 2, b = 3;
    void *vals[2] = {&a, &b};
    for (int i = 0; i < 4; i++)
        ds.push_back(dfr_reactor_defer_call(r, &cif, reinterpret_cast<void (*)(void)>(slow_add),
                                            vals));
    for (size_t i = 0; i < ds.size(); i++) {
        REQUIRE(ds[i]);
        dfr_deferred_add_both(ds[i], seen_cb, &seen[i], nullptr);
    }
    // Freed while they run (never iterated): the pool is stopped first, so
    // every job finishes and reports during the free.
    dfr_reactor_free(r);
    CHECK(destroyed == 8);
    for (size_t i = 0; i < ds.size(); i++) {
        CHECK(seen[i].calls == 1);
        CHECK(seen[i].code == 0);
        dfr_deferred_unref(ds[i]);
    }
}

TEST_CASE("hostile: a user pool's jobs outlive the reactor that asked for them",
          "[hostile][thread][lifetime]")
{
    dfr_threadpool *p = dfr_threadpool_new(0, 2, "hostile-with-a-very-long-thread-name");
    REQUIRE(p);
    REQUIRE(dfr_threadpool_start(p) == 0);
    dfr_reactor *r = dfr_reactor_new(nullptr);
    std::atomic<int> destroyed{0};
    Seen seen[4];
    dfr_deferred *ds[4];
    for (int i = 0; i < 4; i++) {
        ds[i] = dfr_reactor_defer_to_threadpool(r, p, slow, &destroyed, atomic_destroy);
        dfr_deferred_add_both(ds[i], seen_cb, &seen[i], nullptr);
    }
    while (g_sleeping.load() == 0)
        std::this_thread::yield();
    dfr_reactor_free(r); // running jobs finish on the pool; queued ones never run
    for (int i = 0; i < 4; i++) {
        CHECK(seen[i].calls == 1);
        CHECK(seen[i].code == DFR_ENOTRUNNING);
        dfr_deferred_unref(ds[i]);
    }
    dfr_threadpool_free(p); // destroy of every job ran by now, exactly once
    CHECK(destroyed == 4);
    g_sleeping = 0;
}

TEST_CASE("hostile: the reactor freed from a thread job's callback while more jobs run",
          "[hostile][thread][free]")
{
    FreeIn f;
    f.r = dfr_reactor_new(nullptr);
    std::atomic<int> destroyed{0};
    dfr_deferred *first = dfr_reactor_defer_to_thread(f.r, [](void *) { return dfr_i64(1); },
                                                      nullptr, nullptr);
    dfr_deferred_add_callback(first, free_reactor_cb, &f, nullptr);
    Seen seen[3];
    dfr_deferred *more[3];
    for (int i = 0; i < 3; i++) {
        more[i] = dfr_reactor_defer_to_thread(f.r, slow, &destroyed, atomic_destroy);
        dfr_deferred_add_both(more[i], seen_cb, &seen[i], nullptr);
    }
    CHECK(dfr_reactor_run(f.r) == 0); // the free stops the run, then frees
    CHECK(f.runs == 1);
    CHECK(destroyed == 3);
    for (int i = 0; i < 3; i++) {
        CHECK(seen[i].calls == 1);
        dfr_deferred_unref(more[i]);
    }
    dfr_deferred_unref(first);
    g_sleeping = 0;
}

TEST_CASE("hostile: calls from threads racing with stop; the rest released by free",
          "[hostile][thread][tsan]")
{
    for (int round = 0; round < 20; round++) {
        dfr_reactor *r = dfr_reactor_new(nullptr);
        std::atomic<int> ran{0}, destroyed{0}, refused{0}, stop_rc{1};
        std::atomic<bool> go{false};
        std::vector<std::thread> posters;
        for (int t = 0; t < 3; t++) {
            posters.emplace_back([&] {
                while (!go.load())
                    std::this_thread::yield();
                for (int i = 0; i < 200; i++) {
                    // Catch's assertions are not thread-safe: count here.
                    int rc = dfr_reactor_call_from_thread(
                        r, [](void *data) { static_cast<std::atomic<int> *>(data)->fetch_add(1); },
                        &ran, nullptr);
                    if (rc != 0)
                        refused++;
                    dfr_reactor_call_from_thread(r, [](void *) {}, &destroyed, atomic_destroy);
                }
            });
        }
        std::thread stopper([&] {
            while (!go.load())
                std::this_thread::yield();
            std::this_thread::sleep_for(std::chrono::microseconds(100 * (round % 5)));
            stop_rc = dfr_reactor_stop(r);
        });
        REQUIRE(dfr_reactor_call_when_running(r, [](void *data) {
            static_cast<std::atomic<bool> *>(data)->store(true);
        }, &go, nullptr) == 0);
        // A stop before run starts would be refused: the stopper waits for go.
        CHECK(dfr_reactor_run(r) == 0);
        stopper.join();
        for (auto &t : posters)
            t.join();
        dfr_reactor_free(r); // calls that came after the run are released here
        CHECK(refused == 0);
        CHECK((stop_rc == 0 || stop_rc == DFR_ENOTRUNNING));
        CHECK(destroyed == 600);
        CHECK(ran <= 600);
    }
}

TEST_CASE("hostile: a stop and a free from other threads while run runs",
          "[hostile][thread][tsan]")
{
    for (int round = 0; round < 20; round++) {
        dfr_reactor *r = dfr_reactor_new(nullptr);
        std::atomic<bool> go{false};
        REQUIRE(dfr_reactor_call_when_running(r, [](void *data) {
            static_cast<std::atomic<bool> *>(data)->store(true);
        }, &go, nullptr) == 0);
        std::thread other([&] {
            while (!go.load())
                std::this_thread::yield();
            dfr_reactor_stop(r);
            dfr_reactor_free(r); // run frees it on its own thread
        });
        CHECK(dfr_reactor_run(r) == 0);
        other.join();
    }
}

namespace {

dfr_reactor *g_r = nullptr;
std::atomic<int> g_destroy_frees{0};

void destroy_frees(void *)
{
    g_destroy_frees++;
    dfr_reactor_free(g_r);
}

} // namespace

// Both used to hang: the free waited for run to return, and run for a stop
// nobody may ask for once r is freed.
TEST_CASE("hostile: run() ends when a blocking call's fn or a job's destroy frees the reactor",
          "[hostile][thread][free]")
{
    SECTION("blocking_call_from_thread's fn")
    {
        g_r = dfr_reactor_new(nullptr);
        std::atomic<int64_t> got{0};
        std::thread t([&] {
            dfr_value v = dfr_reactor_blocking_call_from_thread(g_r, [](void *) {
                dfr_reactor_free(g_r);
                return dfr_i64(5);
            }, nullptr);
            got = dfr_is_i64(v) ? v.u.i64 : -1;
            dfr_value_drop(v);
        });
        CHECK(dfr_reactor_run(g_r) == 0);
        t.join();
        CHECK(got == 5);
    }
    SECTION("defer_to_thread's destroy")
    {
        g_r = dfr_reactor_new(nullptr);
        g_destroy_frees = 0;
        dfr_deferred *d = dfr_reactor_defer_to_thread(g_r, [](void *) { return dfr_i64(1); },
                                                      nullptr, destroy_frees);
        CHECK(dfr_reactor_run(g_r) == 0);
        CHECK(g_destroy_frees == 1);
        CHECK(test::is_i64(dfr_deferred_result(d), 1));
        dfr_deferred_unref(d);
    }
}
