// Ports of the reactor-thread tests of Twisted 22.4 the other thread tests
// did not name: twisted/internet/test/test_threads.py (isInIOThread, the
// reactor's thread pool torn down when the reactor stops or is dropped
// unrun) and twisted/test/test_threads.py's StartupBehaviorTests.  Each
// TEST_CASE is named after the Twisted test it ports.  Twisted's
// getThreadPool() has no counterpart (the reactor's pool is not exposed):
// "the pool is gone" is observed as the process's thread count.
//
// Catch2 assertions are not thread-safe: other threads only record.
#include <catch2/catch.hpp>

#include "reactor_support.h"
#include "support.h"

#include <dirent.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace {

// Threads of this process now (/proc/self/task).
int thread_count()
{
    DIR *dir = opendir("/proc/self/task");
    REQUIRE(dir != nullptr);
    int n = 0;
    while (struct dirent *e = readdir(dir))
        n += e->d_name[0] != '.';
    closedir(dir);
    return n;
}

struct Probe {
    dfr_reactor *r = nullptr;
    std::atomic<int> in_thread{-1}; // -1: not run; else 0/1
    std::atomic<int> ran{0};
};

dfr_value probe_on_worker(void *data)
{
    auto *p = static_cast<Probe *>(data);
    p->in_thread = dfr_reactor_in_thread(p->r) ? 1 : 0;
    p->ran++;
    dfr_reactor_call_from_thread(p->r, [](void *r) { dfr_reactor_stop(static_cast<dfr_reactor *>(r)); },
                                 p->r, nullptr);
    return dfr_none();
}

dfr_value drop_result(dfr_value v, void *)
{
    dfr_value_drop(v);
    return dfr_none();
}

} // namespace

// ThreadTestsBuilder.test_isInIOThread: on the thread running the reactor,
// isInIOThread is true.
TEST_CASE("test_isInIOThread", "[parity2][thread]")
{
    Probe p;
    test::Reactor R;
    p.r = R.r;
    REQUIRE(dfr_reactor_call_when_running(
                R.r,
                [](void *data) {
                    auto *pp = static_cast<Probe *>(data);
                    pp->in_thread = dfr_reactor_in_thread(pp->r) ? 1 : 0;
                    dfr_reactor_stop(pp->r);
                },
                &p, nullptr) == 0);
    REQUIRE(dfr_reactor_run(R.r) == 0);
    CHECK(p.in_thread == 1);
}

// ThreadTestsBuilder.test_isNotInIOThread: on a pool thread it is false; the
// worker stops the reactor through callFromThread.
TEST_CASE("test_isNotInIOThread", "[parity2][thread]")
{
    Probe p;
    test::Reactor R;
    p.r = R.r;
    dfr_deferred *d = dfr_reactor_defer_to_thread(R.r, probe_on_worker, &p, nullptr);
    REQUIRE(d != nullptr);
    dfr_deferred_add_both(d, drop_result, nullptr, nullptr);
    dfr_deferred_unref(d);
    REQUIRE(dfr_reactor_run(R.r) == 0);
    CHECK(p.in_thread == 0);
}

// ThreadTestsBuilder.test_stopThreadPool and
// test_stopThreadPoolWhenStartedAfterReactorRan: once the reactor stopped,
// its pool is gone — the pool made before the run (work queued before it)
// and the one made while running (work queued from a callWhenRunning).
TEST_CASE("test_stopThreadPool/test_stopThreadPoolWhenStartedAfterReactorRan", "[parity2][thread]")
{
    bool before_run = GENERATE(true, false);
    INFO((before_run ? "pool used before run" : "pool used while running"));
    int threads_before = thread_count();
    Probe p;
    {
        test::Reactor R;
        p.r = R.r;
        auto submit = [](void *data) {
            auto *pp = static_cast<Probe *>(data);
            dfr_deferred *d = dfr_reactor_defer_to_thread(pp->r, probe_on_worker, pp, nullptr);
            dfr_deferred_add_both(d, drop_result, nullptr, nullptr);
            dfr_deferred_unref(d);
        };
        if (before_run)
            submit(&p);
        else
            REQUIRE(dfr_reactor_call_when_running(R.r, submit, &p, nullptr) == 0);
        REQUIRE(dfr_reactor_run(R.r) == 0);
        CHECK(p.ran == 1);
        // The run joined the pool's threads before returning.
        CHECK(thread_count() == threads_before);
    }
    CHECK(thread_count() == threads_before);
}

// ThreadTestsBuilder.test_cleanUpThreadPoolEvenBeforeReactorIsRun: a reactor
// that never runs still tears its pool down (here: when it is freed).
// Unlike Twisted, whose pool starts with the reactor, ours starts on demand,
// so the work queued before the run has run (docs/design.md).
TEST_CASE("test_cleanUpThreadPoolEvenBeforeReactorIsRun", "[parity2][thread]")
{
    int threads_before = thread_count();
    int destroyed = 0;
    {
        test::Reactor R;
        dfr_deferred *d = dfr_reactor_defer_to_thread(
            R.r, [](void *) { return dfr_i64(1); }, &destroyed, test::count_destroy);
        REQUIRE(d != nullptr);
        dfr_deferred_add_both(d, drop_result, nullptr, nullptr);
        dfr_deferred_unref(d);
    }
    CHECK(destroyed == 1);
    CHECK(thread_count() == threads_before);
}

// StartupBehaviorTests.testCallBeforeStartupUnexecuted: a call handed to a
// reactor that never runs is never made, and nothing is left behind (the
// process could exit).  Twisted's call is a callInThread, which waits for
// the reactor's start; ours starts the pool on demand (docs/design.md), so
// the port is the call that does wait for the run: callFromThread, made from
// another thread.  Its destroy runs once, when the reactor is freed.
TEST_CASE("testCallBeforeStartupUnexecuted", "[parity2][thread]")
{
    int threads_before = thread_count();
    std::atomic<int> ran{0};
    int destroyed = 0;
    {
        test::Reactor R;
        std::thread t([&] {
            dfr_reactor_call_from_thread(
                R.r, [](void *data) { ++*static_cast<std::atomic<int> *>(data); }, &ran, nullptr);
        });
        t.join();
        REQUIRE(dfr_reactor_call_from_thread(R.r, [](void *) {}, &destroyed, test::count_destroy) == 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        CHECK(ran == 0);
        CHECK(destroyed == 0);
    }
    CHECK(ran == 0);
    CHECK(destroyed == 1);
    CHECK(thread_count() == threads_before);
}
