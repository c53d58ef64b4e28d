// DeferredLock, DeferredSemaphore and DeferredQueue (behaviours S36-S38,
// from twisted/test/test_defer.py), freeing them with waiters, and NULL
// arguments.
#include <catch2/catch.hpp>

#include "reactor_support.h"
#include "support.h"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

namespace {

const char *const DOM = "test";

using test::Seen;
using test::keep;

using test::swallow;

dfr_value count_cb(dfr_value r, void *data)
{
    ++*static_cast<int *>(data);
    return r;
}

using test::result_code;

bool result_is_ptr(const dfr_deferred *d, const void *p)
{
    const dfr_value *r = dfr_deferred_result(d);
    return r && r->type == &dfr_type_ptr && r->u.ptr == p;
}

using test::is_i64;

// A task for run(): records that it ran and returns what `ret` says.
struct Task {
    int calls = 0;
    int destroyed = 0;
    dfr_deferred *control = nullptr; // returned (a new reference) when set
    dfr_failure *failure = nullptr;  // returned (a new reference) when set
    int64_t value = 0;
    bool locked_inside = false;
    dfr_lock *lock = nullptr;
};

dfr_value task_fn(void *data)
{
    Task *t = static_cast<Task *>(data);
    t->calls++;
    if (t->lock)
        t->locked_inside = dfr_lock_locked(t->lock);
    if (t->control)
        return dfr_value_deferred(dfr_deferred_ref(t->control));
    if (t->failure)
        return dfr_value_failure(dfr_failure_ref(t->failure));
    return dfr_i64(t->value);
}

void task_destroy(void *data)
{
    static_cast<Task *>(data)->destroyed++;
}

} // namespace

// ---------------------------------------------------------------- S36

// Twisted: testLock (first part)
TEST_CASE("DeferredLock: acquire, wait, hand over on release, then unlock", "[util][lock]")
{
    dfr_lock *lock = dfr_lock_new();
    REQUIRE(lock != nullptr);
    CHECK_FALSE(dfr_lock_locked(lock));

    int counter = 0;
    dfr_deferred *a1 = dfr_lock_acquire(lock);
    REQUIRE(a1 != nullptr);
    REQUIRE(dfr_deferred_add_callback(a1, count_cb, &counter, nullptr) == 0);
    CHECK(dfr_lock_locked(lock));
    CHECK(counter == 1);
    CHECK(result_is_ptr(a1, lock));

    dfr_deferred *a2 = dfr_lock_acquire(lock);
    REQUIRE(a2 != nullptr);
    REQUIRE(dfr_deferred_add_callback(a2, count_cb, &counter, nullptr) == 0);
    CHECK(dfr_lock_locked(lock));
    CHECK(counter == 1);
    CHECK(dfr_deferred_state(a2) == DFR_PENDING);
    CHECK(dfr_lock_waiting(lock) == 1);

    REQUIRE(dfr_lock_release(lock) == 0);
    CHECK(dfr_lock_locked(lock)); // handed over directly
    CHECK(counter == 2);
    CHECK(result_is_ptr(a2, lock));
    CHECK(dfr_lock_waiting(lock) == 0);

    REQUIRE(dfr_lock_release(lock) == 0);
    CHECK_FALSE(dfr_lock_locked(lock));
    CHECK(counter == 2);

    // Releasing an unlocked lock is an error (Twisted asserts).
    CHECK(dfr_lock_release(lock) == DFR_EINVAL);
    CHECK_FALSE(dfr_lock_locked(lock));

    dfr_deferred_unref(a1);
    dfr_deferred_unref(a2);
    dfr_lock_free(lock);
}

// Twisted: testLock (the run() part)
TEST_CASE("DeferredLock: run with a deferred-returning fn holds the lock until it fires",
          "[util][lock]")
{
    dfr_lock *lock = dfr_lock_new();
    REQUIRE(lock != nullptr);
    Task task;
    task.lock = lock;
    task.control = dfr_deferred_new();

    dfr_deferred *result = dfr_lock_run(lock, task_fn, &task, task_destroy);
    REQUIRE(result != nullptr);
    CHECK(task.calls == 1); // called at once: the lock was free
    CHECK(task.locked_inside);
    CHECK(dfr_lock_locked(lock));
    CHECK(dfr_deferred_state(result) == DFR_PENDING);
    Seen got;
    REQUIRE(dfr_deferred_add_callback(result, keep, &got, nullptr) == 0);

    int counter = 0;
    dfr_deferred *next = dfr_lock_acquire(lock);
    REQUIRE(next != nullptr);
    REQUIRE(dfr_deferred_add_callback(next, count_cb, &counter, nullptr) == 0);
    CHECK(counter == 0);
    CHECK(dfr_lock_waiting(lock) == 1);

    REQUIRE(dfr_deferred_callback(task.control, dfr_i64(2)) == 0);
    REQUIRE(got.size() == 1);
    CHECK(is_i64(got.at(0), 2));
    CHECK(dfr_lock_locked(lock)); // the waiter now holds it
    CHECK(counter == 1);
    CHECK(dfr_lock_waiting(lock) == 0);
    CHECK(task.calls == 1);
    CHECK(task.destroyed == 1);

    REQUIRE(dfr_lock_release(lock) == 0);
    CHECK_FALSE(dfr_lock_locked(lock));

    dfr_deferred_unref(task.control);
    dfr_deferred_unref(result);
    dfr_deferred_unref(next);
    dfr_lock_free(lock);
}

// Twisted: testLock (run() waits for the lock like acquire()).
TEST_CASE("DeferredLock: run while locked waits for the lock", "[util][lock]")
{
    dfr_lock *lock = dfr_lock_new();
    REQUIRE(lock != nullptr);
    dfr_deferred *held = dfr_lock_acquire(lock);
    REQUIRE(dfr_deferred_state(held) == DFR_SUCCEEDED);

    Task task;
    task.lock = lock;
    task.value = 41;
    dfr_deferred *result = dfr_lock_run(lock, task_fn, &task, task_destroy);
    REQUIRE(result != nullptr);
    CHECK(task.calls == 0);
    CHECK(dfr_deferred_state(result) == DFR_PENDING);

    REQUIRE(dfr_lock_release(lock) == 0);
    CHECK(task.calls == 1);
    CHECK(task.locked_inside);
    CHECK(is_i64(dfr_deferred_result(result), 41));
    CHECK_FALSE(dfr_lock_locked(lock));
    CHECK(task.destroyed == 1);

    dfr_deferred_unref(held);
    dfr_deferred_unref(result);
    dfr_lock_free(lock);
}

// Twisted: test_cancelLockBeforeAcquired, testLock (cancel part)
TEST_CASE("DeferredLock: cancelling a waiting acquire removes it", "[util][lock][cancel]")
{
    dfr_lock *lock = dfr_lock_new();
    REQUIRE(lock != nullptr);
    dfr_deferred *held = dfr_lock_acquire(lock);
    dfr_deferred *waiter = dfr_lock_acquire(lock);
    REQUIRE(waiter != nullptr);
    CHECK(dfr_lock_waiting(lock) == 1);

    Seen seen;
    REQUIRE(dfr_deferred_add_callbacks(waiter, keep, keep, &seen, nullptr) == 0);
    dfr_deferred_cancel(waiter);
    REQUIRE(seen.size() == 1);
    CHECK(dfr_failure_check(dfr_failure_from(seen.at(0)), DFR_DOMAIN, DFR_ECANCELLED));
    CHECK(dfr_lock_waiting(lock) == 0);

    // The release unlocks: the cancelled waiter does not get the lock.
    REQUIRE(dfr_lock_release(lock) == 0);
    CHECK_FALSE(dfr_lock_locked(lock));
    CHECK(seen.size() == 1);

    dfr_deferred_unref(held);
    dfr_deferred_unref(waiter);
    dfr_lock_free(lock);
}

// Twisted: test_cancelLockAfterAcquired
TEST_CASE("DeferredLock: cancelling an acquire that got the lock does nothing",
          "[util][lock][cancel]")
{
    dfr_lock *lock = dfr_lock_new();
    REQUIRE(lock != nullptr);
    dfr_deferred *d = dfr_lock_acquire(lock);
    REQUIRE(d != nullptr);
    dfr_deferred_cancel(d);
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    CHECK(result_is_ptr(d, lock));
    CHECK(dfr_lock_locked(lock));
    REQUIRE(dfr_lock_release(lock) == 0);
    dfr_deferred_unref(d);
    dfr_lock_free(lock);
}

// Twisted: testLock (run(lambda: 1/0))
TEST_CASE("DeferredLock: run with fn returning a failure fails and leaves it unlocked",
          "[util][lock]")
{
    dfr_lock *lock = dfr_lock_new();
    REQUIRE(lock != nullptr);
    Task task;
    task.failure = dfr_failure_new(DOM, 3, "division by zero");
    dfr_deferred *result = dfr_lock_run(lock, task_fn, &task, task_destroy);
    REQUIRE(result != nullptr);
    CHECK(task.calls == 1);
    CHECK(task.destroyed == 1);
    CHECK(dfr_deferred_state(result) == DFR_FAILED);
    CHECK(dfr_failure_from(dfr_deferred_result(result)) == task.failure);
    CHECK_FALSE(dfr_lock_locked(lock));

    // A deferred returned by fn that fails later also releases the lock.
    Task later;
    later.control = dfr_deferred_new();
    dfr_deferred *r2 = dfr_lock_run(lock, task_fn, &later, task_destroy);
    REQUIRE(r2 != nullptr);
    CHECK(dfr_lock_locked(lock));
    REQUIRE(dfr_deferred_errback(later.control, dfr_failure_new(DOM, 4, "later")) == 0);
    CHECK(result_code(r2) == 4);
    CHECK_FALSE(dfr_lock_locked(lock));
    CHECK(later.destroyed == 1);

    REQUIRE(dfr_deferred_add_errback(result, swallow, nullptr, nullptr) == 0);
    REQUIRE(dfr_deferred_add_errback(r2, swallow, nullptr, nullptr) == 0);
    dfr_failure_unref(task.failure);
    dfr_deferred_unref(later.control);
    dfr_deferred_unref(result);
    dfr_deferred_unref(r2);
    dfr_lock_free(lock);
}

// No Twisted counterpart (C API: NULL arguments).
TEST_CASE("DeferredLock: NULL arguments", "[util][lock][args]")
{
    CHECK(test::refused_with(dfr_lock_acquire(nullptr), DFR_EINVAL));
    CHECK(dfr_lock_release(nullptr) == DFR_EINVAL);
    CHECK_FALSE(dfr_lock_locked(nullptr));
    CHECK(dfr_lock_waiting(nullptr) == 0);
    dfr_lock_free(nullptr);

    // A run that cannot start never calls fn and runs destroy before returning.
    Task task;
    CHECK(test::refused_with(dfr_lock_run(nullptr, task_fn, &task, task_destroy), DFR_EINVAL));
    CHECK(task.calls == 0);
    CHECK(task.destroyed == 1);
}

// No Twisted counterpart (C API: util.h, freeing with waiters).
TEST_CASE("DeferredLock: free with waiters fails them with DFR_ECANCELLED", "[util][lock][free]")
{
    dfr_lock *lock = dfr_lock_new();
    REQUIRE(lock != nullptr);
    dfr_deferred *held = dfr_lock_acquire(lock);
    dfr_deferred *w1 = dfr_lock_acquire(lock);
    dfr_deferred *w2 = dfr_lock_acquire(lock);
    Task task;
    dfr_deferred *run = dfr_lock_run(lock, task_fn, &task, task_destroy);
    REQUIRE(run != nullptr);
    CHECK(dfr_lock_waiting(lock) == 3);

    dfr_lock_free(lock);
    CHECK(result_is_ptr(held, lock)); // the held one is untouched
    CHECK(result_code(w1) == DFR_ECANCELLED);
    CHECK(result_code(w2) == DFR_ECANCELLED);
    CHECK(result_code(run) == DFR_ECANCELLED);
    CHECK(task.calls == 0);
    CHECK(task.destroyed == 1);

    for (dfr_deferred *d : {w1, w2, run}) {
        REQUIRE(dfr_deferred_add_errback(d, swallow, nullptr, nullptr) == 0);
        dfr_deferred_unref(d);
    }
    dfr_deferred_unref(held);
}

// No Twisted counterpart (C API: util.h, a run keeps the memory alive).
TEST_CASE("DeferredLock: a run in progress outlives the freed lock", "[util][lock][free]")
{
    dfr_lock *lock = dfr_lock_new();
    REQUIRE(lock != nullptr);
    Task task;
    task.control = dfr_deferred_new();
    dfr_deferred *run = dfr_lock_run(lock, task_fn, &task, task_destroy);
    REQUIRE(run != nullptr);
    CHECK(task.calls == 1);
    dfr_lock_free(lock);
    CHECK(dfr_deferred_state(run) == DFR_PENDING);
    REQUIRE(dfr_deferred_callback(task.control, dfr_i64(9)) == 0);
    CHECK(is_i64(dfr_deferred_result(run), 9));
    CHECK(task.destroyed == 1);
    dfr_deferred_unref(task.control);
    dfr_deferred_unref(run);
}

// ---------------------------------------------------------------- S37

// Twisted: test_semaphoreInvalidTokens
TEST_CASE("DeferredSemaphore with 0 tokens cannot be made", "[util][semaphore]")
{
    CHECK(dfr_semaphore_new(0) == nullptr);
    dfr_semaphore *s = dfr_semaphore_new(1);
    REQUIRE(s != nullptr);
    CHECK(dfr_semaphore_tokens(s) == 1);
    dfr_semaphore_free(s);
}

// Twisted: testSemaphore
TEST_CASE("DeferredSemaphore with 13 tokens", "[util][semaphore]")
{
    const unsigned N = 13;
    dfr_semaphore *sem = dfr_semaphore_new(N);
    REQUIRE(sem != nullptr);

    // run() with a fn returning a pending deferred.
    Task task;
    task.control = dfr_deferred_new();
    dfr_deferred *run = dfr_semaphore_run(sem, task_fn, &task, task_destroy);
    REQUIRE(run != nullptr);
    Seen results;
    int counter = 0;
    REQUIRE(dfr_deferred_add_callback(run, keep, &results, nullptr) == 0);
    REQUIRE(dfr_deferred_add_callback(run, count_cb, &counter, nullptr) == 0);
    CHECK(results.size() == 0);
    CHECK(task.calls == 1);
    CHECK(dfr_semaphore_tokens(sem) == N - 1);
    REQUIRE(dfr_deferred_callback(task.control, dfr_none()) == 0);
    REQUIRE(results.size() == 1);
    CHECK(dfr_is_none(*results.at(0)));
    CHECK(counter == 1);
    CHECK(dfr_semaphore_tokens(sem) == N);
    CHECK(task.destroyed == 1);

    // N acquires fire at once.
    counter = 0;
    std::vector<dfr_deferred *> held;
    for (unsigned i = 1; i <= N; i++) {
        dfr_deferred *d = dfr_semaphore_acquire(sem);
        REQUIRE(d != nullptr);
        REQUIRE(dfr_deferred_add_callback(d, count_cb, &counter, nullptr) == 0);
        CHECK(counter == static_cast<int>(i));
        CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
        CHECK(result_is_ptr(d, sem));
        held.push_back(d);
    }
    CHECK(dfr_semaphore_tokens(sem) == 0);

    // A cancelled waiter fails and leaves the queue.
    Seen outcome;
    dfr_deferred *cancelled = dfr_semaphore_acquire(sem);
    REQUIRE(cancelled != nullptr);
    CHECK(dfr_semaphore_waiting(sem) == 1);
    REQUIRE(dfr_deferred_add_callbacks(cancelled, keep, keep, &outcome, nullptr) == 0);
    dfr_deferred_cancel(cancelled);
    REQUIRE(outcome.size() == 1);
    CHECK(dfr_failure_check(dfr_failure_from(outcome.at(0)), DFR_DOMAIN, DFR_ECANCELLED));
    CHECK(dfr_semaphore_waiting(sem) == 0);

    // The next one waits; a release hands the token straight over.
    dfr_deferred *waiter = dfr_semaphore_acquire(sem);
    REQUIRE(dfr_deferred_add_callback(waiter, count_cb, &counter, nullptr) == 0);
    CHECK(counter == static_cast<int>(N));
    REQUIRE(dfr_semaphore_release(sem) == 0);
    CHECK(counter == static_cast<int>(N) + 1);
    CHECK(dfr_semaphore_tokens(sem) == 0);
    CHECK(result_is_ptr(waiter, sem));

    for (unsigned i = 1; i <= N; i++) {
        REQUIRE(dfr_semaphore_release(sem) == 0);
        CHECK(counter == static_cast<int>(N) + 1);
        CHECK(dfr_semaphore_tokens(sem) == i);
    }
    // Every token is back: one more release is an error.
    CHECK(dfr_semaphore_release(sem) == DFR_EINVAL);
    CHECK(dfr_semaphore_tokens(sem) == N);

    for (auto *d : held)
        dfr_deferred_unref(d);
    dfr_deferred_unref(cancelled);
    dfr_deferred_unref(waiter);
    dfr_deferred_unref(task.control);
    dfr_deferred_unref(run);
    dfr_semaphore_free(sem);
}

// Twisted: test_cancelSemaphoreAfterAcquired, test_cancelSemaphoreBeforeAcquired
TEST_CASE("DeferredSemaphore: cancel before and after acquiring", "[util][semaphore][cancel]")
{
    dfr_semaphore *sem = dfr_semaphore_new(1);
    REQUIRE(sem != nullptr);
    dfr_deferred *got = dfr_semaphore_acquire(sem);
    dfr_deferred_cancel(got);
    CHECK(dfr_deferred_state(got) == DFR_SUCCEEDED);
    CHECK(result_is_ptr(got, sem));

    dfr_deferred *waiting = dfr_semaphore_acquire(sem);
    dfr_deferred_cancel(waiting);
    CHECK(result_code(waiting) == DFR_ECANCELLED);
    CHECK(dfr_semaphore_waiting(sem) == 0);
    REQUIRE(dfr_deferred_add_errback(waiting, swallow, nullptr, nullptr) == 0);

    REQUIRE(dfr_semaphore_release(sem) == 0);
    CHECK(dfr_semaphore_tokens(sem) == 1);
    dfr_deferred_unref(got);
    dfr_deferred_unref(waiting);
    dfr_semaphore_free(sem);
}

// Twisted: testLock run(lambda: 1/0), for the semaphore.
TEST_CASE("DeferredSemaphore: run with a failing fn gives the token back", "[util][semaphore]")
{
    dfr_semaphore *sem = dfr_semaphore_new(2);
    REQUIRE(sem != nullptr);
    Task task;
    task.failure = dfr_failure_new(DOM, 5, "boom");
    dfr_deferred *run = dfr_semaphore_run(sem, task_fn, &task, task_destroy);
    REQUIRE(run != nullptr);
    CHECK(result_code(run) == 5);
    CHECK(dfr_semaphore_tokens(sem) == 2);
    CHECK(task.destroyed == 1);
    REQUIRE(dfr_deferred_add_errback(run, swallow, nullptr, nullptr) == 0);
    dfr_deferred_unref(run);
    dfr_failure_unref(task.failure);
    dfr_semaphore_free(sem);
}

// No Twisted counterpart (C API: NULL arguments, freeing with waiters).
TEST_CASE("DeferredSemaphore: NULL arguments and free with waiters", "[util][semaphore][free]")
{
    CHECK(test::refused_with(dfr_semaphore_acquire(nullptr), DFR_EINVAL));
    CHECK(dfr_semaphore_release(nullptr) == DFR_EINVAL);
    CHECK(dfr_semaphore_tokens(nullptr) == 0);
    CHECK(dfr_semaphore_waiting(nullptr) == 0);
    dfr_semaphore_free(nullptr);
    Task none;
    CHECK(test::refused_with(dfr_semaphore_run(nullptr, task_fn, &none, task_destroy), DFR_EINVAL));
    CHECK(none.calls == 0);
    CHECK(none.destroyed == 1);

    dfr_semaphore *sem = dfr_semaphore_new(1);
    REQUIRE(sem != nullptr);
    dfr_deferred *held = dfr_semaphore_acquire(sem);
    dfr_deferred *w = dfr_semaphore_acquire(sem);
    Task task;
    dfr_deferred *run = dfr_semaphore_run(sem, task_fn, &task, task_destroy);
    REQUIRE(run != nullptr);
    CHECK(dfr_semaphore_waiting(sem) == 2);
    dfr_semaphore_free(sem);
    CHECK(result_is_ptr(held, sem));
    CHECK(result_code(w) == DFR_ECANCELLED);
    CHECK(result_code(run) == DFR_ECANCELLED);
    CHECK(task.calls == 0);
    CHECK(task.destroyed == 1);
    for (dfr_deferred *d : {w, run}) {
        REQUIRE(dfr_deferred_add_errback(d, swallow, nullptr, nullptr) == 0);
        dfr_deferred_unref(d);
    }
    dfr_deferred_unref(held);
}

// ---------------------------------------------------------------- S38

// Twisted: testQueue (size=2, backlog=2)
TEST_CASE("DeferredQueue with size 2 and backlog 2", "[util][queue]")
{
    const size_t N = 2, M = 2;
    dfr_queue *q = dfr_queue_new(N, M);
    REQUIRE(q != nullptr);

    Seen gotten;
    std::vector<dfr_deferred *> gets;
    for (size_t i = 0; i < M; i++) {
        dfr_deferred *d = dfr_queue_get(q);
        REQUIRE(d != nullptr);
        CHECK(dfr_deferred_state(d) == DFR_PENDING);
        REQUIRE(dfr_deferred_add_callback(d, keep, &gotten, nullptr) == 0);
        gets.push_back(d);
    }
    CHECK(dfr_queue_waiting(q) == M);

    // A third get: the backlog is full.
    dfr_deferred *under = dfr_queue_get(q);
    REQUIRE(under != nullptr);
    CHECK(dfr_deferred_state(under) == DFR_FAILED);
    CHECK(result_code(under) == DFR_EUNDERFLOW);
    CHECK(dfr_failure_check(dfr_failure_from(dfr_deferred_result(under)), DFR_DOMAIN,
                            DFR_EUNDERFLOW));
    REQUIRE(dfr_deferred_add_errback(under, swallow, nullptr, nullptr) == 0);
    dfr_deferred_unref(under);
    CHECK(dfr_queue_waiting(q) == M);

    // Puts go straight to the waiting getters, oldest first.
    for (size_t i = 0; i < M; i++) {
        REQUIRE(dfr_queue_put(q, dfr_i64(static_cast<int64_t>(i))) == 0);
        REQUIRE(gotten.size() == i + 1);
        CHECK(is_i64(gotten.at(i), static_cast<int64_t>(i)));
    }
    CHECK(dfr_queue_waiting(q) == 0);

    // Then they are kept, up to the size.
    for (size_t i = 0; i < N; i++) {
        REQUIRE(dfr_queue_put(q, dfr_i64(static_cast<int64_t>(N + i))) == 0);
        CHECK(gotten.size() == M);
    }
    CHECK(dfr_queue_pending(q) == N);
    CHECK(dfr_queue_put(q, dfr_none()) == DFR_EOVERFLOW);
    // An overflowing value is dropped (the leak check covers owned ones).
    CHECK(dfr_queue_put(q, dfr_bytes_new("lost", 4)) == DFR_EOVERFLOW);
    CHECK(dfr_queue_pending(q) == N);

    // Gets now fire at once, in order.
    for (size_t i = 0; i < N; i++) {
        dfr_deferred *d = dfr_queue_get(q);
        REQUIRE(d != nullptr);
        CHECK(is_i64(dfr_deferred_result(d), static_cast<int64_t>(N + i)));
        gets.push_back(d);
    }
    CHECK(dfr_queue_pending(q) == 0);

    for (auto *d : gets)
        dfr_deferred_unref(d);
    dfr_queue_free(q);
}

// Twisted: testQueue (the unlimited part)
TEST_CASE("DeferredQueue without limits", "[util][queue]")
{
    dfr_queue *q = dfr_queue_new(DFR_UNLIMITED, DFR_UNLIMITED);
    REQUIRE(q != nullptr);
    Seen gotten;
    std::vector<dfr_deferred *> gets;
    for (int i = 0; i < 2; i++) {
        dfr_deferred *d = dfr_queue_get(q);
        REQUIRE(dfr_deferred_add_callback(d, keep, &gotten, nullptr) == 0);
        gets.push_back(d);
    }
    for (int i = 0; i < 2; i++)
        REQUIRE(dfr_queue_put(q, dfr_i64(i)) == 0);
    REQUIRE(gotten.size() == 2);
    CHECK(is_i64(gotten.at(0), 0));
    CHECK(is_i64(gotten.at(1), 1));

    // Many values kept (the store grows), then taken in FIFO order.
    for (int i = 0; i < 100; i++)
        REQUIRE(dfr_queue_put(q, dfr_i64(i)) == 0);
    CHECK(dfr_queue_pending(q) == 100);
    for (int i = 0; i < 50; i++) {
        dfr_deferred *d = dfr_queue_get(q);
        CHECK(is_i64(dfr_deferred_result(d), i));
        dfr_deferred_unref(d);
    }
    for (int i = 100; i < 130; i++)
        REQUIRE(dfr_queue_put(q, dfr_i64(i)) == 0);
    for (int i = 50; i < 130; i++) {
        dfr_deferred *d = dfr_queue_get(q);
        CHECK(is_i64(dfr_deferred_result(d), i));
        dfr_deferred_unref(d);
    }
    CHECK(dfr_queue_pending(q) == 0);
    for (auto *d : gets)
        dfr_deferred_unref(d);
    dfr_queue_free(q);
}

// Twisted: testQueue (size=0, backlog=0)
TEST_CASE("DeferredQueue: size 0 and backlog 0 mean no room", "[util][queue]")
{
    dfr_queue *q = dfr_queue_new(0, DFR_UNLIMITED);
    REQUIRE(q != nullptr);
    CHECK(dfr_queue_put(q, dfr_none()) == DFR_EOVERFLOW);
    CHECK(dfr_queue_pending(q) == 0);
    // A waiting getter still receives a put directly.
    dfr_deferred *g = dfr_queue_get(q);
    REQUIRE(dfr_queue_put(q, dfr_i64(1)) == 0);
    CHECK(is_i64(dfr_deferred_result(g), 1));
    dfr_deferred_unref(g);
    dfr_queue_free(q);

    q = dfr_queue_new(DFR_UNLIMITED, 0);
    REQUIRE(q != nullptr);
    dfr_deferred *d = dfr_queue_get(q);
    REQUIRE(d != nullptr);
    CHECK(result_code(d) == DFR_EUNDERFLOW);
    CHECK(dfr_queue_waiting(q) == 0);
    REQUIRE(dfr_deferred_add_errback(d, swallow, nullptr, nullptr) == 0);
    dfr_deferred_unref(d);
    // A kept value is still available with no backlog.
    REQUIRE(dfr_queue_put(q, dfr_i64(2)) == 0);
    d = dfr_queue_get(q);
    CHECK(is_i64(dfr_deferred_result(d), 2));
    dfr_deferred_unref(d);
    dfr_queue_free(q);
}

// Twisted: test_cancelQueueAfterGet
TEST_CASE("DeferredQueue: a cancelled get is removed", "[util][queue][cancel]")
{
    dfr_queue *q = dfr_queue_new(DFR_UNLIMITED, DFR_UNLIMITED);
    REQUIRE(q != nullptr);
    dfr_deferred *d = dfr_queue_get(q);
    REQUIRE(d != nullptr);
    dfr_deferred_cancel(d);
    CHECK(result_code(d) == DFR_ECANCELLED);
    CHECK(dfr_queue_waiting(q) == 0);
    REQUIRE(dfr_deferred_add_errback(d, swallow, nullptr, nullptr) == 0);

    // The next put is kept, not handed to the cancelled get.
    REQUIRE(dfr_queue_put(q, dfr_bytes_new("x", 1)) == 0);
    CHECK(dfr_queue_pending(q) == 1);
    CHECK(dfr_is_none(*dfr_deferred_result(d)));
    dfr_deferred *next = dfr_queue_get(q);
    REQUIRE(next != nullptr);
    const dfr_value *r = dfr_deferred_result(next);
    REQUIRE(r != nullptr);
    REQUIRE(dfr_is_bytes(*r));
    CHECK(std::string(static_cast<const char *>(dfr_bytes_data(r)), dfr_bytes_len(r)) == "x");

    // Cancelling a get from the middle of the waiters keeps the others' order.
    dfr_deferred *g1 = dfr_queue_get(q);
    dfr_deferred *g2 = dfr_queue_get(q);
    dfr_deferred *g3 = dfr_queue_get(q);
    dfr_deferred_cancel(g2);
    CHECK(dfr_queue_waiting(q) == 2);
    REQUIRE(dfr_queue_put(q, dfr_i64(1)) == 0);
    REQUIRE(dfr_queue_put(q, dfr_i64(3)) == 0);
    CHECK(is_i64(dfr_deferred_result(g1), 1));
    CHECK(is_i64(dfr_deferred_result(g3), 3));
    REQUIRE(dfr_deferred_add_errback(g2, swallow, nullptr, nullptr) == 0);

    for (auto *x : {d, next, g1, g2, g3})
        dfr_deferred_unref(x);
    dfr_queue_free(q);
}

// Twisted: test_cancelQueueAfterSynchronousGet
TEST_CASE("DeferredQueue: cancelling a get that already fired does nothing", "[util][queue][cancel]")
{
    dfr_queue *q = dfr_queue_new(DFR_UNLIMITED, DFR_UNLIMITED);
    REQUIRE(q != nullptr);
    dfr_deferred *d = dfr_queue_get(q);
    REQUIRE(dfr_queue_put(q, dfr_none()) == 0);
    dfr_deferred_cancel(d);
    CHECK(dfr_deferred_state(d) == DFR_SUCCEEDED);
    CHECK(dfr_is_none(*dfr_deferred_result(d)));
    dfr_deferred_unref(d);
    dfr_queue_free(q);
}

// No Twisted counterpart (C API: NULL arguments, deferred values, freeing).
TEST_CASE("DeferredQueue: bad puts, NULL arguments, and free with waiters",
          "[util][queue][args][free]")
{
    CHECK(dfr_queue_put(nullptr, dfr_bytes_new("dropped", 7)) == DFR_EINVAL);
    CHECK(test::refused_with(dfr_queue_get(nullptr), DFR_EINVAL));
    CHECK(dfr_queue_pending(nullptr) == 0);
    CHECK(dfr_queue_waiting(nullptr) == 0);
    dfr_queue_free(nullptr);

    dfr_queue *q = dfr_queue_new(DFR_UNLIMITED, DFR_UNLIMITED);
    REQUIRE(q != nullptr);
    // A deferred value is refused (and its reference dropped).
    CHECK(dfr_queue_put(q, dfr_value_deferred(dfr_deferred_new())) == DFR_EINVAL);
    CHECK(dfr_queue_pending(q) == 0);

    dfr_deferred *g1 = dfr_queue_get(q);
    dfr_deferred *g2 = dfr_queue_get(q);
    CHECK(dfr_queue_waiting(q) == 2);
    dfr_queue_free(q);
    CHECK(result_code(g1) == DFR_ECANCELLED);
    CHECK(result_code(g2) == DFR_ECANCELLED);
    for (auto *d : {g1, g2}) {
        REQUIRE(dfr_deferred_add_errback(d, swallow, nullptr, nullptr) == 0);
        dfr_deferred_unref(d);
    }

    // Kept values are dropped with the queue.
    q = dfr_queue_new(DFR_UNLIMITED, DFR_UNLIMITED);
    REQUIRE(q != nullptr);
    for (int i = 0; i < 10; i++)
        REQUIRE(dfr_queue_put(q, dfr_bytes_new("kept", 4)) == 0);
    dfr_queue_free(q);
}

// ------------------------------------------- run(): data lives with the slot

namespace {

// Records the order of fn calls and destroys across several runs.
struct Logged {
    std::vector<std::string> *log;
    std::string name;
    dfr_deferred *control = nullptr; // returned (a new reference) when set
    int destroyed = 0;
};

dfr_value logged_fn(void *data)
{
    Logged *t = static_cast<Logged *>(data);
    t->log->push_back(t->name + " runs");
    if (t->control)
        return dfr_value_deferred(dfr_deferred_ref(t->control));
    return dfr_i64(1);
}

void logged_destroy(void *data)
{
    Logged *t = static_cast<Logged *>(data);
    t->destroyed++;
    t->log->push_back(t->name + " destroyed");
}

dfr_deferred *run_on(bool lock, dfr_lock *l, dfr_semaphore *s, dfr_task_fn fn, void *data,
                     dfr_destroy_fn destroy)
{
    return lock ? dfr_lock_run(l, fn, data, destroy) : dfr_semaphore_run(s, fn, data, destroy);
}

} // namespace

// No Twisted counterpart (C API: util.h, destroy(data) runs when the slot is
// released; Python frees by garbage collection).
TEST_CASE("run: data is destroyed when the slot is released, not when fn returns",
          "[util][lock][semaphore]")
{
    for (bool lock : {true, false}) {
        INFO((lock ? "lock" : "semaphore"));
        for (int outcome = 0; outcome < 4; outcome++) {
            INFO("outcome " << outcome); // succeed, fail, cancel run, cancel fn's deferred
            dfr_lock *l = lock ? dfr_lock_new() : nullptr;
            dfr_semaphore *s = lock ? nullptr : dfr_semaphore_new(1);
            std::vector<std::string> log;
            Logged a{&log, "a", dfr_deferred_new()}, b{&log, "b"};
            dfr_deferred *ra = run_on(lock, l, s, logged_fn, &a, logged_destroy);
            dfr_deferred *rb = run_on(lock, l, s, logged_fn, &b, logged_destroy);
            REQUIRE(ra != nullptr);
            REQUIRE(rb != nullptr);
            // a's fn returned a pending deferred: its work (and data) goes on.
            CHECK(log == std::vector<std::string>{"a runs"});
            CHECK(a.destroyed == 0);
            CHECK(dfr_deferred_state(rb) == DFR_PENDING);

            if (outcome == 0)
                REQUIRE(dfr_deferred_callback(a.control, dfr_i64(5)) == 0);
            else if (outcome == 1)
                REQUIRE(dfr_deferred_errback(a.control, dfr_failure_new(DOM, 3, "no")) == 0);
            else if (outcome == 2)
                dfr_deferred_cancel(ra);
            else
                dfr_deferred_cancel(a.control);
            // a's data goes just before its slot passes to b.
            CHECK(log == std::vector<std::string>{"a runs", "a destroyed", "b runs",
                                                  "b destroyed"});
            CHECK(a.destroyed == 1);
            CHECK(b.destroyed == 1);
            CHECK(dfr_deferred_state(ra) == (outcome == 0 ? DFR_SUCCEEDED : DFR_FAILED));
            CHECK(is_i64(dfr_deferred_result(rb), 1));
            if (lock)
                CHECK_FALSE(dfr_lock_locked(l));
            else
                CHECK(dfr_semaphore_tokens(s) == 1);
            dfr_deferred_add_errback(ra, swallow, nullptr, nullptr);
            dfr_deferred_unref(ra);
            dfr_deferred_unref(rb);
            dfr_deferred_unref(a.control);
            dfr_lock_free(l);
            dfr_semaphore_free(s);
        }
    }
}

// No Twisted counterpart (C API: util.h).
TEST_CASE("run: fn returning a plain value or failure destroys data at once",
          "[util][lock][semaphore]")
{
    for (bool lock : {true, false}) {
        INFO((lock ? "lock" : "semaphore"));
        dfr_lock *l = lock ? dfr_lock_new() : nullptr;
        dfr_semaphore *s = lock ? nullptr : dfr_semaphore_new(2);
        Task value, failing;
        value.value = 4;
        failing.failure = dfr_failure_new(DOM, 9, "bad");
        dfr_deferred *r1 = run_on(lock, l, s, task_fn, &value, task_destroy);
        CHECK(value.destroyed == 1);
        CHECK(is_i64(dfr_deferred_result(r1), 4));
        dfr_deferred *r2 = run_on(lock, l, s, task_fn, &failing, task_destroy);
        CHECK(failing.destroyed == 1);
        CHECK(result_code(r2) == 9);
        dfr_deferred_add_errback(r2, swallow, nullptr, nullptr);
        dfr_deferred_unref(r1);
        dfr_deferred_unref(r2);
        dfr_failure_unref(failing.failure);
        dfr_lock_free(l);
        dfr_semaphore_free(s);
        CHECK(value.destroyed == 1);
        CHECK(failing.destroyed == 1);
    }
}

// No Twisted counterpart (C API: util.h, the slot and data of a run that
// never fires are released when its deferreds go).
TEST_CASE("run: a never-fired deferred from fn destroys data once when dropped, and a freed "
          "semaphore still destroys on fire",
          "[util][semaphore][free]")
{
    SECTION("dropped unfired")
    {
        dfr_semaphore *s = dfr_semaphore_new(1);
        Task task;
        task.control = dfr_deferred_new();
        dfr_deferred *r = dfr_semaphore_run(s, task_fn, &task, task_destroy);
        REQUIRE(r != nullptr);
        dfr_deferred_unref(r);
        CHECK(task.destroyed == 0); // control still holds the release step
        dfr_deferred_unref(task.control);
        CHECK(task.destroyed == 1);
        dfr_semaphore_free(s);
    }
    SECTION("semaphore freed while fn's deferred is pending")
    {
        dfr_semaphore *s = dfr_semaphore_new(1);
        Task task;
        task.control = dfr_deferred_new();
        dfr_deferred *r = dfr_semaphore_run(s, task_fn, &task, task_destroy);
        REQUIRE(r != nullptr);
        dfr_semaphore_free(s);
        CHECK(task.destroyed == 0);
        REQUIRE(dfr_deferred_callback(task.control, dfr_i64(6)) == 0);
        CHECK(task.destroyed == 1);
        CHECK(is_i64(dfr_deferred_result(r), 6));
        dfr_deferred_unref(r);
        dfr_deferred_unref(task.control);
    }
}

namespace {

using test::inject;
using test::count_pass;

} // namespace

// No Twisted counterpart (C API: out of memory, design.md "Out of memory").
TEST_CASE("OOM: run with a pending deferred keeps data until it fires, or destroys it once",
          "[util][lock][semaphore][alloc]")
{
    for (bool lock : {true, false}) {
        INFO((lock ? "lock" : "semaphore"));
        for (long k = 1; k < 1000; k++) {
            INFO("allocation " << k << " fails");
            long before = test::live_allocations();
            dfr_lock *l = lock ? dfr_lock_new() : nullptr;
            dfr_semaphore *s = lock ? nullptr : dfr_semaphore_new(1);
            Task task;
            int control_calls = 0;
            task.control = dfr_deferred_new();
            // Attaching the release to it must grow its array.
            REQUIRE(dfr_deferred_add_callback(task.control, count_pass, &control_calls,
                                              nullptr) == 0);
            dfr_deferred *r = nullptr;
            bool failed = inject(k, [&] { r = run_on(lock, l, s, task_fn, &task, task_destroy); });
            if (!r) {
                CHECK(failed);
                CHECK(task.calls == 0);
                CHECK(task.destroyed == 1);
            } else if (dfr_deferred_state(r) == DFR_FAILED) {
                // The release could not be attached: data and slot go now.
                CHECK(failed);
                CHECK(result_code(r) == DFR_ENOMEM);
                CHECK(task.destroyed == 1);
                dfr_deferred_add_errback(r, swallow, nullptr, nullptr);
            } else {
                CHECK(task.destroyed == 0);
            }
            REQUIRE(dfr_deferred_callback(task.control, dfr_i64(8)) == 0);
            CHECK(task.destroyed == 1);
            if (r && !failed)
                CHECK(is_i64(dfr_deferred_result(r), 8));
            if (lock)
                CHECK_FALSE(dfr_lock_locked(l));
            else
                CHECK(dfr_semaphore_tokens(s) == 1);
            dfr_deferred_unref(r);
            dfr_deferred_unref(task.control);
            dfr_lock_free(l);
            dfr_semaphore_free(s);
            REQUIRE(test::live_allocations() == before);
            if (!failed)
                break;
        }
    }
}

// ------------------- keeping a semaphore's limit honest under cancellation

namespace {

// Iterate a reactor that is not running until done() holds (false after
// ~20 s: the pool's threads may be slow on a loaded machine).
template <class Done> bool iterate_until(dfr_reactor *r, Done done)
{
    for (int i = 0; i < 1000 && !done(); i++)
        REQUIRE(dfr_reactor_iterate(r, 0.02) == 0);
    return done();
}

// Thread work that runs until told to finish, counting how many run at once.
struct Workers {
    std::atomic<int> running{0}, max_running{0};
    std::atomic<bool> finish[4] = {};
};

struct ThreadJob {
    dfr_reactor *r;
    Workers *w;
    int index;
    int *started; // fn calls, on the reactor thread
};

dfr_value thread_work(void *data)
{
    ThreadJob *j = static_cast<ThreadJob *>(data);
    int now = ++j->w->running;
    int seen = j->w->max_running.load();
    while (now > seen && !j->w->max_running.compare_exchange_weak(seen, now)) {
    }
    while (!j->w->finish[j->index].load())
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    --j->w->running;
    return dfr_i64(j->index);
}

// fn for dfr_semaphore_run: the thread's own deferred holds the slot.
dfr_value start_thread_job(void *data)
{
    ThreadJob *j = static_cast<ThreadJob *>(data);
    ++*j->started;
    dfr_deferred *t = dfr_reactor_defer_to_thread(j->r, thread_work, j, nullptr);
    REQUIRE(t != nullptr);
    return dfr_value_deferred(t);
}

} // namespace

// Twisted behaves the same (a cancelled deferToThread fails at once while
// its worker runs on); this is the documented pattern (docs/reactor.md
// "Cancelling work on a thread") that keeps the limit.
TEST_CASE("semaphore over deferToThread: a timeout on a shielded view keeps the limit",
          "[util][semaphore][thread][cancel]")
{
    // Pool threads polling under valgrind's one-at-a-time scheduling do not
    // finish in reasonable time; the plain and sanitizer builds run it.
    if (RUNNING_ON_VALGRIND)
        return;
    dfr_reactor *r = test::new_reactor(true);
    REQUIRE(r != nullptr);
    dfr_semaphore *sem = dfr_semaphore_new(2);
    Workers w;
    int started = 0;
    ThreadJob jobs[4];
    dfr_deferred *views[4];
    Seen results[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = ThreadJob{r, &w, i, &started};
        // The pattern: the run (and its slot) follows the worker; callers
        // wait for, and time out, a view chained to it.
        dfr_deferred *held = dfr_semaphore_run(sem, start_thread_job, &jobs[i], nullptr);
        REQUIRE(held != nullptr);
        views[i] = dfr_deferred_new();
        REQUIRE(views[i] != nullptr);
        REQUIRE(dfr_deferred_chain(held, views[i]) == 0);
        REQUIRE(dfr_deferred_add_timeout(views[i], r, i == 0 ? 1.0 : 100.0) == 0);
        REQUIRE(dfr_deferred_add_both(views[i], keep, &results[i], nullptr) == 0);
        dfr_deferred_unref(held); // its chain keeps it until the worker ends
    }
    CHECK(started == 2);
    CHECK(dfr_semaphore_waiting(sem) == 2);
    // The workers start without the reactor: poll (dfr_reactor_iterate on a
    // manual clock would wait for an event that never comes).
    for (int i = 0; i < 20000 && w.running.load() != 2; i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    REQUIRE(w.running.load() == 2);

    REQUIRE(dfr_reactor_advance(r, 1.5) == 0); // job 0's view times out
    REQUIRE(results[0].size() == 1);
    CHECK(dfr_failure_code(dfr_failure_from(results[0].at(0))) == DFR_ETIMEDOUT);
    // Its worker still runs, so its slot is still taken: nobody new starts.
    CHECK(started == 2);
    CHECK(dfr_semaphore_tokens(sem) == 0);
    CHECK(dfr_semaphore_waiting(sem) == 2);

    w.finish[0] = true; // the timed-out worker really ends: job 2 starts
    REQUIRE(iterate_until(r, [&] { return started == 3; }));
    CHECK(results[0].size() == 1); // its late result went nowhere
    for (int i = 1; i < 4; i++)
        w.finish[i] = true;
    REQUIRE(iterate_until(r, [&] {
        return results[1].size() == 1 && results[2].size() == 1 && results[3].size() == 1;
    }));
    for (int i = 1; i < 4; i++)
        CHECK(is_i64(results[i].at(0), i));
    CHECK(started == 4);
    CHECK(w.max_running.load() == 2);
    CHECK(dfr_semaphore_tokens(sem) == 2);
    for (dfr_deferred *v : views)
        dfr_deferred_unref(v);
    dfr_semaphore_free(sem);
    dfr_reactor_free(r);
}

namespace {

// Work that fails at once when cancelled but "runs" until finished by hand
// (as a deferToThread does): live counts those started and not finished.
struct Gated {
    int started = 0;
    std::vector<dfr_deferred *> works;
};

dfr_value start_gated(void *data)
{
    Gated *g = static_cast<Gated *>(data);
    g->started++;
    dfr_deferred *d = dfr_deferred_new();
    g->works.push_back(dfr_deferred_ref(d));
    return dfr_value_deferred(d);
}

} // namespace

// Twisted does the same (DeferredList.cancel cancels its inputs in order);
// docs/reactor.md "Cancelling many gated jobs" shows the fix tested here.
TEST_CASE("gatherResults over semaphore-gated work: cancel in order starts queued jobs, "
          "cancel queued ones first does not",
          "[util][semaphore][cancel][list]")
{
    for (bool reverse : {false, true}) {
        INFO((reverse ? "queued first" : "in order"));
        dfr_semaphore *sem = dfr_semaphore_new(2);
        Gated g;
        dfr_deferred *runs[5];
        for (auto &d : runs) {
            d = dfr_semaphore_run(sem, start_gated, &g, nullptr);
            REQUIRE(d != nullptr);
        }
        dfr_deferred *all = dfr_gather_results(runs, 5, true);
        REQUIRE(all != nullptr);
        CHECK(g.started == 2);
        if (reverse) {
            // The fix: queued runs leave the queue without starting, then
            // the running ones find nobody to hand their slot to.
            for (size_t i = 5; i-- > 0;)
                dfr_deferred_cancel(runs[i]);
        }
        dfr_deferred_cancel(all);
        CHECK(dfr_deferred_state(all) == DFR_FAILED);
        // In order, each cancelled running job hands its slot to the next
        // queued one, which starts before its own cancel comes.
        CHECK(g.started == (reverse ? 2 : 5));
        CHECK(dfr_semaphore_tokens(sem) == 2);
        CHECK(dfr_semaphore_waiting(sem) == 0);
        dfr_deferred_add_errback(all, swallow, nullptr, nullptr);
        dfr_deferred_unref(all);
        for (dfr_deferred *d : runs)
            dfr_deferred_unref(d);
        for (dfr_deferred *d : g.works)
            dfr_deferred_unref(d);
        dfr_semaphore_free(sem);
    }
}

// No Twisted counterpart (C API: dfr_strerror and dfr_failure_describe's
// text, seen here through a gather of runs).
TEST_CASE("error text: EALREADY is only about deferreds; a gather's first error is "
          "described without repeating itself",
          "[util][failure]")
{
    // A reactor run twice has a code of its own (DFR_ENOTRESTARTABLE).
    std::string ealready = dfr_strerror(DFR_EALREADY);
    CHECK(ealready.find("deferred") != std::string::npos);

    dfr_semaphore *sem = dfr_semaphore_new(1);
    Task ok, bad;
    bad.failure = dfr_failure_new(DOM, 7, "disk full");
    dfr_deferred *runs[2] = {dfr_semaphore_run(sem, task_fn, &ok, task_destroy),
                             dfr_semaphore_run(sem, task_fn, &bad, task_destroy)};
    dfr_deferred *all = dfr_gather_results(runs, 2, true);
    REQUIRE(all != nullptr);
    const dfr_failure *f = dfr_failure_from(dfr_deferred_result(all));
    REQUIRE(f != nullptr);
    char *text = dfr_failure_describe(f);
    REQUIRE(text != nullptr);
    std::string s = text;
    free(text);
    CHECK(s == "Failure: dfr error -6 [input #1]: first error in a deferred list\n"
               "Caused by: test error 7: disk full\n");
    dfr_deferred_add_errback(all, swallow, nullptr, nullptr);
    dfr_deferred_unref(all);
    for (dfr_deferred *d : runs)
        dfr_deferred_unref(d);
    dfr_failure_unref(bad.failure);
    dfr_semaphore_free(sem);
}
