// Coroutines: dfr_inline_callbacks, dfr_await, dfr_in_coroutine.
// Ports Twisted's inlineCallbacks tests (twisted/test/test_defer.py
// InlineCallbacksTests, twisted/test/test_inlinecb.py) and cases of our own.
//
// Code running inside a coroutine uses CHECK, never REQUIRE: an exception
// must not cross the coroutine's first frame.
#include <catch2/catch.hpp>

#include "reactor_support.h"
#include "recorder.h"
#include "support.h"

#include <cfenv>
#include <cstdio>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <pthread.h>
#include <string>
#include <alloca.h>
#include <cstddef>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <thread>
#include <vector>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

using test::show;
using test::state;

namespace {

// Run a callable as a coroutine (the callable outlives the coroutine).
template <class F> dfr_value call_it(void *p)
{
    return (*static_cast<F *>(p))();
}
template <class F> dfr_deferred *start(F &f)
{
    return dfr_inline_callbacks(call_it<F>, &f, nullptr);
}
template <class F> dfr_deferred *start_with_stack(F &f, size_t stack)
{
    dfr_coroutine_options o = {};
    o.size = sizeof o;
    o.stack_size = stack;
    return dfr_inline_callbacks_ex(call_it<F>, &f, nullptr, &o);
}

dfr_failure *fail_with(const char *msg)
{
    return dfr_failure_new("test", 7, msg);
}

std::string failure_message(const dfr_value &v)
{
    const dfr_failure *f = dfr_failure_from(&v);
    return f ? dfr_failure_message(f) : "(not a failure)";
}

int failure_code(const dfr_value *v)
{
    const dfr_failure *f = v ? dfr_failure_from(v) : nullptr;
    return f ? dfr_failure_code(f) : 0;
}

// Counts scaled down under valgrind, where each coroutine is costly.
// ThreadSanitizer runs them full size (CI's TSan stage), except for
// coroutines alive at once: TSan maps over 1 MiB of trace per fiber, and
// 10,000 fibers exceed the kernel's map count (alive_at_once); and a
// million deferreds alive at once (deferreds_at_once).
int scaled(int n)
{
    return RUNNING_ON_VALGRIND ? n / 10 : n;
}

int alive_at_once(int n)
{
#if defined(__SANITIZE_THREAD__)
    return n / 10;
#else
    return scaled(n);
#endif
}

// A million deferreds live at once take over 1.2 GiB under TSan (its shadow
// memory), too much beside the other CI stages; the switches are what TSan
// checks, and the 100,000-await test runs full size.
int deferreds_at_once(int n)
{
    return alive_at_once(n);
}

} // namespace

// ---- S32 basics ----

TEST_CASE("S32: values, fired deferreds, a handled failure and a pending wait", "[coro][S32]")
{
    dfr_deferred *later = dfr_deferred_new();
    struct Seen {
        int64_t a = 0, b = 0;
        std::string c, d;
    } seen;
    auto body = [&]() -> dfr_value {
        seen.a = dfr_await(dfr_succeed(dfr_i64(5))).u.i64;
        seen.b = dfr_await(dfr_succeed(dfr_i64(seen.a + 1))).u.i64;
        dfr_value e = dfr_await(dfr_fail(fail_with("OMG")));
        CHECK(dfr_is_failure(e));
        seen.c = failure_message(e);
        dfr_value_drop(e);
        dfr_value d = dfr_await(dfr_deferred_ref(later));
        seen.d = show(d);
        dfr_value_drop(d);
        return dfr_i64(seen.a * 1000 + seen.b);
    };
    dfr_deferred *outer = start(body);
    REQUIRE(outer);
    CHECK(seen.a == 5);
    CHECK(seen.b == 6);
    CHECK(seen.c == "OMG");
    CHECK(state(outer) == "pending");
    REQUIRE(dfr_deferred_callback(later, dfr_bytes_new("L", 1)) == 0);
    CHECK(seen.d == "bytes L");
    CHECK(state(outer) == "i64 5006");
    CHECK(state(later) == "none"); // the awaited chain continues with none
    dfr_deferred_unref(later);
    dfr_deferred_unref(outer);
}

TEST_CASE("S32: a coroutine that never waits fires at once", "[coro][S32]")
{
    auto none = []() -> dfr_value { return dfr_none(); };
    auto six = []() -> dfr_value { return dfr_i64(6); };
    dfr_deferred *a = start(none);
    dfr_deferred *b = start(six);
    CHECK(state(a) == "none");
    CHECK(state(b) == "i64 6");
    dfr_deferred_unref(a);
    dfr_deferred_unref(b);
}

TEST_CASE("S32: a coroutine returning a failure fails its deferred", "[coro][S32]")
{
    auto buggy = []() -> dfr_value { return dfr_value_failure(fail_with("ZeroDivisionError")); };
    dfr_deferred *d = start(buggy);
    REQUIRE(dfr_deferred_state(d) == DFR_FAILED);
    CHECK(failure_message(*dfr_deferred_result(d)) == "ZeroDivisionError");
    dfr_deferred_add_errback(d, [](dfr_value v, void *) { dfr_value_drop(v); return dfr_none(); },
                             nullptr, nullptr);
    dfr_deferred_unref(d);
}

TEST_CASE("S32: a failure nobody handles is reported once", "[coro][S32]")
{
    test::UnhandledCapture cap;
    auto buggy = []() -> dfr_value { return dfr_value_failure(fail_with("lost")); };
    dfr_deferred_unref(start(buggy));
    REQUIRE(cap.count() == 1);
    CHECK(cap.messages[0] == "lost");
}

TEST_CASE("The function gets its data and destroy runs once, after it returns", "[coro]")
{
    struct Ctx {
        int destroyed = 0;
        bool ran = false;
        bool destroyed_before_return = false;
    } ctx;
    dfr_deferred *later = dfr_deferred_new();
    struct Arg {
        Ctx *ctx;
        dfr_deferred *later;
    } arg{&ctx, later};
    dfr_deferred *d = dfr_inline_callbacks(
        [](void *p) -> dfr_value {
            auto *a = static_cast<Arg *>(p);
            a->ctx->ran = true;
            dfr_value_drop(dfr_await(dfr_deferred_ref(a->later)));
            a->ctx->destroyed_before_return = a->ctx->destroyed != 0;
            return dfr_i64(1);
        },
        &arg, [](void *p) { static_cast<Arg *>(p)->ctx->destroyed++; });
    CHECK(ctx.ran);
    CHECK(ctx.destroyed == 0);
    dfr_deferred_callback(later, dfr_none());
    CHECK(ctx.destroyed == 1);
    CHECK_FALSE(ctx.destroyed_before_return);
    CHECK(state(d) == "i64 1");
    dfr_deferred_unref(d);
    dfr_deferred_unref(later);
    CHECK(ctx.destroyed == 1);
}

// ---- S33 ----

TEST_CASE("S33: a million fired awaits and a million plain values, no recursion", "[coro][S33]")
{
    auto body = []() -> dfr_value {
        int64_t s = 0;
        for (int i = 0; i < 1000000; i++) {
            dfr_value v = dfr_await(dfr_succeed(dfr_i64(1)));
            s += v.u.i64;
        }
        for (int i = 0; i < 1000000; i++) {
            dfr_deferred *d = dfr_deferred_new();
            dfr_deferred_callback(d, dfr_i64(i));
            dfr_value v = dfr_await(d);
            if (v.u.i64 != i)
                return dfr_i64(-1);
        }
        return dfr_i64(s);
    };
    dfr_deferred *d = start_with_stack(body, DFR_CORO_MIN_STACK);
    CHECK(state(d) == "i64 1000000");
    dfr_deferred_unref(d);
}

// ---- S34 (we differ: a returned deferred is chained) ----

TEST_CASE("S34: a coroutine returning a deferred fires with that deferred's result", "[coro][S34]")
{
    dfr_deferred *gate = dfr_deferred_new();
    dfr_deferred *inner = dfr_deferred_new();
    struct Ctx {
        dfr_deferred *gate, *inner;
    } ctx{gate, inner};
    auto body = [&]() -> dfr_value {
        dfr_value_drop(dfr_await(dfr_deferred_ref(ctx.gate)));
        return dfr_value_deferred(dfr_deferred_ref(ctx.inner));
    };
    dfr_deferred *d = start(body);
    dfr_deferred_callback(gate, dfr_none());
    CHECK(state(d) == "pending");
    dfr_deferred_callback(inner, dfr_i64(9));
    CHECK(state(d) == "i64 9");

    auto fired = []() -> dfr_value { return dfr_value_deferred(dfr_succeed(dfr_i64(3))); };
    dfr_deferred *e = start(fired);
    CHECK(state(e) == "i64 3");
    dfr_deferred_unref(e);
    dfr_deferred_unref(d);
    dfr_deferred_unref(gate);
    dfr_deferred_unref(inner);
}

// ---- misuse ----

TEST_CASE("dfr_await outside a coroutine is DFR_ENOTCORO and takes the reference", "[coro]")
{
    CHECK_FALSE(dfr_in_coroutine());
    dfr_deferred *d = dfr_deferred_new();
    dfr_value v = dfr_await(d); // d is gone with the reference
    CHECK(show(v) == "fail dfr -10");
    dfr_value_drop(v);
    dfr_value n = dfr_await(nullptr);
    CHECK(show(n) == "fail dfr -1");
    dfr_value_drop(n);
}

TEST_CASE("dfr_await(NULL) inside a coroutine is DFR_EINVAL", "[coro]")
{
    auto body = []() -> dfr_value { return dfr_await(nullptr); };
    dfr_deferred *d = start(body);
    CHECK(failure_code(dfr_deferred_result(d)) == DFR_EINVAL);
    dfr_deferred_add_errback(d, [](dfr_value v, void *) { dfr_value_drop(v); return dfr_none(); },
                             nullptr, nullptr);
    dfr_deferred_unref(d);
}

TEST_CASE("dfr_in_coroutine is true exactly inside", "[coro]")
{
    dfr_deferred *later = dfr_deferred_new();
    std::vector<bool> seen;
    auto body = [&]() -> dfr_value {
        seen.push_back(dfr_in_coroutine());
        dfr_value_drop(dfr_await(dfr_deferred_ref(later)));
        seen.push_back(dfr_in_coroutine());
        return dfr_none();
    };
    dfr_deferred *d = start(body);
    CHECK_FALSE(dfr_in_coroutine());
    dfr_deferred_callback(later, dfr_none());
    CHECK_FALSE(dfr_in_coroutine());
    CHECK(seen == std::vector<bool>{true, true});
    dfr_deferred_unref(d);
    dfr_deferred_unref(later);
}

TEST_CASE("Bad arguments give a DFR_EINVAL deferred and run destroy", "[coro]")
{
    int destroyed = 0;
    dfr_deferred *a = dfr_inline_callbacks(nullptr, &destroyed, test::count_destroy);
    CHECK(destroyed == 1);
    CHECK(failure_code(dfr_deferred_result(a)) == DFR_EINVAL);

    auto body = []() -> dfr_value { return dfr_i64(1); };
    dfr_coroutine_options zero = {}; // size 0: not an options struct
    dfr_deferred *b = dfr_inline_callbacks_ex(call_it<decltype(body)>, &destroyed,
                                              test::count_destroy, &zero);
    CHECK(destroyed == 2);
    CHECK(failure_code(dfr_deferred_result(b)) == DFR_EINVAL);
    // The options rule: a struct too short to hold stack_size (an older
    // header) takes the default stack.
    dfr_coroutine_options shortopts = {};
    shortopts.size = sizeof(size_t);
    shortopts.stack_size = DFR_CORO_MAX_STACK + 1; // beyond size: not read
    dfr_deferred *s = dfr_inline_callbacks_ex(call_it<decltype(body)>, &body, nullptr, &shortopts);
    REQUIRE(s != nullptr);
    REQUIRE(dfr_deferred_result(s) != nullptr);
    CHECK(dfr_is_i64(*dfr_deferred_result(s)));
    dfr_deferred_unref(s);
    dfr_coroutine_options huge = {};
    huge.size = sizeof huge;
    huge.stack_size = DFR_CORO_MAX_STACK + 1;
    dfr_deferred *c = dfr_inline_callbacks_ex(call_it<decltype(body)>, &body, nullptr, &huge);
    CHECK(failure_code(dfr_deferred_result(c)) == DFR_EINVAL);

    for (dfr_deferred *d : {a, b, c})
        dfr_deferred_add_errback(d, [](dfr_value v, void *) { dfr_value_drop(v); return dfr_none(); },
                                 nullptr, nullptr);
    dfr_deferred_unref(a);
    dfr_deferred_unref(b);
    dfr_deferred_unref(c);
}

TEST_CASE("Options: zero and tiny stack sizes mean the default and the minimum", "[coro]")
{
    auto body = []() -> dfr_value { return dfr_i64(2); };
    for (size_t size : {size_t(0), size_t(1), size_t(4096), size_t(100000)}) {
        dfr_deferred *d = start_with_stack(body, size);
        CHECK(state(d) == "i64 2");
        dfr_deferred_unref(d);
    }
}

TEST_CASE("Awaiting its own deferred is DFR_EDEADLK, not a hang", "[coro]")
{
    dfr_deferred *gate = dfr_deferred_new();
    struct Ctx {
        dfr_deferred *gate, *self = nullptr;
        std::string got;
    } ctx{gate, nullptr, {}};
    auto body = [&]() -> dfr_value {
        dfr_value_drop(dfr_await(dfr_deferred_ref(ctx.gate)));
        dfr_value v = dfr_await(dfr_deferred_ref(ctx.self));
        ctx.got = show(v);
        dfr_value_drop(v);
        return dfr_i64(4);
    };
    dfr_deferred *d = start(body);
    ctx.self = d;
    dfr_deferred_callback(gate, dfr_none());
    CHECK(ctx.got == "fail dfr -11");
    CHECK(state(d) == "i64 4");
    dfr_deferred_unref(d);
    dfr_deferred_unref(gate);
}

// ---- suspension, order, nesting ----

TEST_CASE("10,000 coroutines suspended at once, resumed in reverse order", "[coro]")
{
    const int n = alive_at_once(10000);
    struct Slot {
        dfr_deferred *wait;
        int64_t index;
        std::vector<int64_t> *order;
    };
    std::vector<int64_t> order;
    std::vector<Slot> slots(n);
    std::vector<dfr_deferred *> outers(n);
    for (int i = 0; i < n; i++) {
        slots[i] = Slot{dfr_deferred_new(), i, &order};
        outers[i] = dfr_inline_callbacks(
            [](void *p) -> dfr_value {
                auto *s = static_cast<Slot *>(p);
                dfr_value v = dfr_await(dfr_deferred_ref(s->wait));
                s->order->push_back(s->index);
                return dfr_i64(v.u.i64 * 2);
            },
            &slots[i], nullptr);
        REQUIRE(outers[i]);
    }
    for (int i = 0; i < n; i++)
        REQUIRE(dfr_deferred_state(outers[i]) == DFR_PENDING);
    for (int i = n - 1; i >= 0; i--)
        dfr_deferred_callback(slots[i].wait, dfr_i64(i));
    REQUIRE(order.size() == size_t(n));
    bool reverse = true, values = true;
    for (int i = 0; i < n; i++) {
        reverse = reverse && order[i] == n - 1 - i;
        const dfr_value *r = dfr_deferred_result(outers[i]);
        values = values && r && dfr_is_i64(*r) && r->u.i64 == 2 * i;
        dfr_deferred_unref(outers[i]);
        dfr_deferred_unref(slots[i].wait);
    }
    CHECK(reverse);
    CHECK(values);
}

namespace {
// Whether this kernel has guard regions (Linux 6.13's MADV_GUARD_INSTALL),
// which let coroutine stacks share mappings (coro_stack.c).
bool kernel_has_guard_regions()
{
    long page = sysconf(_SC_PAGESIZE);
    void *p = mmap(nullptr, size_t(page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return false;
    bool ok = madvise(p, size_t(page), 102 /* MADV_GUARD_INSTALL */) == 0;
    munmap(p, size_t(page));
    return ok;
}

size_t mappings()
{
    FILE *f = fopen("/proc/self/maps", "r");
    size_t n = 0;
    for (int c; f && (c = fgetc(f)) != EOF;)
        n += c == '\n';
    if (f)
        fclose(f);
    return n;
}

// Awaits the deferred g; returns its integer + 1, or -1 for another value.
dfr_value await_arg(void *g)
{
    dfr_value v = dfr_await(dfr_deferred_ref(static_cast<dfr_deferred *>(g)));
    return dfr_i64(dfr_is_i64(v) ? v.u.i64 + 1 : -1);
}

// Whether a test of tens of thousands of live coroutines cannot run here:
// under TSan (over 1 MiB of trace per fiber, see alive_at_once) or valgrind
// (too slow), or, when it needs them, without guard regions.
bool too_many_fibers_here(bool need_guard_regions)
{
#if defined(__SANITIZE_THREAD__)
    return true;
#endif
    if (RUNNING_ON_VALGRIND)
        return true;
    if (need_guard_regions && !kernel_has_guard_regions()) {
        WARN("this kernel has no guard regions (Linux < 6.13): about 32,000 live coroutines at most");
        return true;
    }
    return false;
}
} // namespace

// Past the kernel's 65,530 mappings per process: an mprotect'd guard page
// made each stack two mappings, and the 32,744th coroutine failed to start.
TEST_CASE("100,000 coroutines alive at once, in far fewer mappings", "[coro][stack]")
{
    if (too_many_fibers_here(true))
        return; // the 10,000 test runs under valgrind
    const int n = 100000;
    dfr_deferred *gate = dfr_deferred_new();
    std::vector<dfr_deferred *> outers(n);
    size_t before = mappings();
    int started = 0;
    for (int i = 0; i < n; i++) {
        outers[i] = dfr_inline_callbacks(
            [](void *g) -> dfr_value {
                // The first gets the gate's value; its chain goes on with none.
                dfr_value v = dfr_await(dfr_deferred_ref(static_cast<dfr_deferred *>(g)));
                return dfr_i64(dfr_is_i64(v) ? v.u.i64 + 1 : 1);
            },
            gate, nullptr);
        started += outers[i] && dfr_deferred_state(outers[i]) == DFR_PENDING;
    }
    size_t during = mappings();
    REQUIRE(started == n);
    CHECK(during - before < size_t(n) / 100);
    dfr_deferred_callback(gate, dfr_i64(41));
    int done = 0;
    for (int i = 0; i < n; i++) {
        const dfr_value *r = dfr_deferred_result(outers[i]);
        done += r && dfr_is_i64(*r) && r->u.i64 == (i == 0 ? 42 : 1);
        dfr_deferred_unref(outers[i]);
    }
    CHECK(done == n);
    dfr_deferred_unref(gate);
}

// Stacks share mappings; freeing them one by one from the middle split the
// mappings: with 140,000 live and every other one finished, the process
// reached the kernel's 65,530 mappings, unmaps failed and no new coroutine
// (nor any other mapping) could start.  Freed stacks are kept for reuse
// while many are live, and unmapped by runs once few are.
TEST_CASE("Finishing every other of 140,000 live coroutines leaves the mappings whole", "[coro][stack]")
{
    if (too_many_fibers_here(true))
        return;
    const int n = 140000;
    std::vector<dfr_deferred *> gates(n), outers(n);
    size_t before = mappings();
    int started = 0;
    for (int i = 0; i < n; i++) {
        gates[i] = dfr_deferred_new();
        outers[i] = dfr_inline_callbacks(await_arg, gates[i], nullptr);
        started += outers[i] && dfr_deferred_state(outers[i]) == DFR_PENDING;
    }
    REQUIRE(started == n);
    for (int i = 0; i < n; i += 2)
        dfr_deferred_callback(gates[i], dfr_i64(i));
    CHECK(mappings() - before < size_t(n) / 100);
    // The freed stacks serve new coroutines, all alive at once; none fails
    // to start.
    dfr_deferred *gate = dfr_deferred_new();
    std::vector<dfr_deferred *> more(n / 2);
    int again = 0;
    for (auto &d : more) {
        d = dfr_inline_callbacks(await_arg, gate, nullptr);
        again += d && dfr_deferred_state(d) == DFR_PENDING;
    }
    CHECK(mappings() - before < size_t(n) / 100);
    dfr_deferred_callback(gate, dfr_i64(1));
    for (auto *d : more) {
        const dfr_value *r = d ? dfr_deferred_result(d) : nullptr;
        // The first gets the gate's value; the others, none (after it).
        again -= !(r && dfr_is_i64(*r) && r->u.i64 == (d == more[0] ? 2 : -1));
        if (d)
            dfr_deferred_unref(d);
    }
    dfr_deferred_unref(gate);
    CHECK(again == n / 2);
    for (int i = 1; i < n; i += 2)
        dfr_deferred_callback(gates[i], dfr_i64(i));
    int done = 0;
    for (int i = 0; i < n; i++) {
        const dfr_value *r = dfr_deferred_result(outers[i]);
        done += r && dfr_is_i64(*r) && r->u.i64 == i + 1;
        dfr_deferred_unref(outers[i]);
        dfr_deferred_unref(gates[i]);
    }
    CHECK(done == n);
    // Once few are live, the kept stacks go back to the system.
    dfr_trim();
    CHECK(mappings() < before + 64);
}

namespace {
// Makes this process's kernel look older than 6.13 (for a forked child):
// madvise(MADV_GUARD_INSTALL) answers EINVAL, as it does there.
bool pretend_no_guard_regions()
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_madvise, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])), // low half
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 102 /* MADV_GUARD_INSTALL */, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {static_cast<unsigned short>(sizeof f / sizeof f[0]), f};
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
           prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

// The library's budget of mprotect'd guard pages (coro_stack.c).
size_t guard_page_budget()
{
    unsigned long limit = 65530;
    if (FILE *f = fopen("/proc/sys/vm/max_map_count", "r")) {
        if (fscanf(f, "%lu", &limit) != 1)
            limit = 65530;
        fclose(f);
    }
    return limit > 2 * 16384 ? (limit - 16384) / 2 : limit / 4;
}

// Runs child in a fork with the guard regions hidden; its exit status, or
// -1 when it died of a signal (sig says which), 77: no seccomp here.  What
// it wrote to stderr goes to err.
int in_old_kernel_child(int (*child)(), int *sig = nullptr, std::string *err = nullptr)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -2;
    fflush(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGABRT, SIG_DFL); // not the test runner's handlers
        signal(SIGSEGV, SIG_DFL);
        dup2(fds[1], 2);
        close(fds[0]);
        _exit(pretend_no_guard_regions() ? child() : 77);
    }
    close(fds[1]);
    char buf[512];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
        if (err)
            err->append(buf, size_t(n));
    close(fds[0]);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -2;
    if (WIFSIGNALED(status)) {
        if (sig)
            *sig = WTERMSIG(status);
        return -1;
    }
    return WEXITSTATUS(status);
}
} // namespace

// Stacks finished past 4,096 live ones are kept in a list all threads
// share, reused by any thread and unmapped once few are live: four threads,
// 1,100 coroutines each alive at once, finishing out of order, four rounds.
TEST_CASE("Threads share the kept stacks: 4,400 live coroutines on four threads", "[coro][stack]")
{
    if (RUNNING_ON_VALGRIND)
        return; // too slow there
    auto worker = [](int *bad) {
        const int n = 1100;
        for (int round = 0; round < 4; round++) {
            std::vector<dfr_deferred *> gates(n), ds(n);
            for (int i = 0; i < n; i++) {
                gates[i] = dfr_deferred_new();
                ds[i] = dfr_inline_callbacks(await_arg, gates[i], nullptr);
                *bad += !ds[i];
            }
            for (int i = 0; i < n; i += 2)
                dfr_deferred_callback(gates[i], dfr_i64(i));
            for (int i = 1; i < n; i += 2)
                dfr_deferred_callback(gates[i], dfr_i64(i));
            for (int i = 0; i < n; i++) {
                const dfr_value *r = ds[i] ? dfr_deferred_result(ds[i]) : nullptr;
                *bad += !(r && dfr_is_i64(*r) && r->u.i64 == i + 1);
                if (ds[i])
                    dfr_deferred_unref(ds[i]);
                dfr_deferred_unref(gates[i]);
            }
            if (round == 2)
                dfr_trim();
        }
    };
    int bad[4] = {};
    std::vector<std::thread> ts;
    for (int &b : bad)
        ts.emplace_back(worker, &b);
    for (auto &t : ts)
        t.join();
    CHECK(bad[0] + bad[1] + bad[2] + bad[3] == 0);
}

// Without guard regions each mprotect'd guard page makes a stack two
// mappings: near 32,000 live coroutines the process ran out of mappings,
// and then every mmap of the process failed (threads, large mallocs).  Past
// a budget that leaves 16,384 mappings to the rest of the process, stacks
// get a canary below instead, checked at each switch.
TEST_CASE("Without guard regions, 60,000 live coroutines leave the process its mappings", "[coro][stack]")
{
    if (too_many_fibers_here(false))
        return;
    int got = in_old_kernel_child([]() -> int {
        const int n = 60000;
        dfr_deferred *gate = dfr_deferred_new();
        std::vector<dfr_deferred *> ds(n);
        int started = 0;
        for (auto &d : ds) {
            d = dfr_inline_callbacks(await_arg, gate, nullptr);
            started += d && dfr_deferred_state(d) == DFR_PENDING;
        }
        size_t maps = mappings();
        void *page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        bool can_map = page != MAP_FAILED;
        if (can_map)
            munmap(page, 4096);
        dfr_deferred_callback(gate, dfr_i64(1));
        int done = 0;
        for (auto *d : ds) {
            const dfr_value *r = d ? dfr_deferred_result(d) : nullptr;
            done += r && dfr_is_i64(*r) && r->u.i64 == (d == ds[0] ? 2 : -1);
            if (d)
                dfr_deferred_unref(d);
        }
        dfr_deferred_unref(gate);
        return (started == n ? 0 : 1) | (maps < 65530 - 8192 ? 0 : 2) | (can_map ? 0 : 4) |
               (done == n ? 0 : 8);
    });
    if (got == 77) {
        WARN("no seccomp filters here: the path of kernels without guard regions is not tested");
        return;
    }
    INFO("1: not all started, 2: mappings near the limit, 4: mmap failed, 8: wrong results");
    CHECK(got == 0);
}

namespace {
// Overflows the running coroutine's 16 KiB stack by about 2 KiB, then waits:
// the switch out finds the canary below the stack overwritten.
__attribute__((noinline)) void overflow_by_2k(uintptr_t base)
{
    char here;
    size_t n = reinterpret_cast<uintptr_t>(&here) - base + 2048;
    char *buf = static_cast<char *>(alloca(n));
    memset(buf, 0x5a, n);
    __asm__ volatile("" : : "r"(buf) : "memory");
}
} // namespace

TEST_CASE("Without guard pages left, a stack overflow is caught at the next switch", "[coro][stack]")
{
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    return; // the sanitizers move and check frames themselves
#endif
    if (RUNNING_ON_VALGRIND)
        return;
    int sig = 0;
    std::string err;
    int got = in_old_kernel_child(
        []() -> int {
            // Use up the guard pages: the next stack has a canary.
            dfr_deferred *gate = dfr_deferred_new();
            for (size_t i = 0; i <= guard_page_budget(); i++)
                if (!dfr_inline_callbacks(await_arg, gate, nullptr))
                    return 1;
            dfr_coroutine_options o{};
            o.size = sizeof o;
            o.stack_size = 16384;
            dfr_deferred *d = dfr_inline_callbacks_ex(
                [](void *g) -> dfr_value {
                    char top;
                    long page = sysconf(_SC_PAGESIZE);
                    // The usable stack ends at the page holding the first frame.
                    uintptr_t end = reinterpret_cast<uintptr_t>(&top) & ~uintptr_t(page - 1);
                    overflow_by_2k(end - 16384);
                    return dfr_await(dfr_deferred_ref(static_cast<dfr_deferred *>(g)));
                },
                gate, nullptr, &o);
            return d ? 2 : 3; // not reached: the switch out aborts
        },
        &sig, &err);
    if (got == 77) {
        WARN("no seccomp filters here: the path of kernels without guard regions is not tested");
        return;
    }
    CHECK(got == -1);
    CHECK(sig == SIGABRT);
    CHECK(err.find("a coroutine overflowed its") != std::string::npos);
}

namespace {
struct Nest {
    int depth;
    dfr_deferred *bottom; // what the innermost waits for
    int *finished;
};

dfr_value nested(void *p)
{
    auto *n = static_cast<Nest *>(p);
    dfr_value v;
    if (n->depth == 0) {
        v = dfr_await(dfr_deferred_ref(n->bottom));
    } else {
        Nest inner{n->depth - 1, n->bottom, n->finished};
        dfr_deferred *d = dfr_inline_callbacks_ex(nested, &inner, nullptr, nullptr);
        if (!d)
            return dfr_value_failure(dfr_failure_new("test", 1, "no coroutine"));
        v = dfr_await(d);
    }
    ++*n->finished;
    return dfr_is_i64(v) ? dfr_i64(v.u.i64 + 1) : v;
}
} // namespace

TEST_CASE("Nested coroutines: each awaits the next one's deferred", "[coro][nested]")
{
    dfr_deferred *bottom = dfr_deferred_new();
    int finished = 0;
    Nest top{3, bottom, &finished};
    dfr_deferred *d = dfr_inline_callbacks(nested, &top, nullptr);
    CHECK(finished == 0);
    dfr_deferred_callback(bottom, dfr_i64(100));
    CHECK(finished == 4);
    CHECK(state(d) == "i64 104");
    dfr_deferred_unref(d);
    dfr_deferred_unref(bottom);
}

namespace {
// Runs fn on a thread with a 64 KiB stack: proof that nothing recursed.
template <class F> void on_small_stack(F &fn)
{
    pthread_attr_t attr;
    REQUIRE(pthread_attr_init(&attr) == 0);
    REQUIRE(pthread_attr_setstacksize(&attr, 65536) == 0);
    pthread_t t;
    int rc = pthread_create(
        &t, &attr,
        [](void *p) -> void * {
            (*static_cast<F *>(p))();
            return nullptr;
        },
        &fn);
    pthread_attr_destroy(&attr);
    REQUIRE(rc == 0);
    pthread_join(t, nullptr);
}
} // namespace

TEST_CASE("2,000 nested coroutines finish from one loop on a 64 KiB thread stack", "[coro][nested]")
{
    const int depth = scaled(2000);
    int finished = 0;
    std::string result;
    auto scenario = [&] {
        dfr_deferred *bottom = dfr_deferred_new();
        Nest top{depth, bottom, &finished};
        dfr_coroutine_options o = {};
        o.size = sizeof o;
        o.stack_size = 32 * 1024;
        dfr_deferred *d = dfr_inline_callbacks_ex(nested, &top, nullptr, &o);
        dfr_deferred_callback(bottom, dfr_i64(0));
        result = state(d);
        dfr_deferred_unref(d);
        dfr_deferred_unref(bottom);
        dfr_trim(); // this thread's stack pool
    };
    on_small_stack(scenario);
    CHECK(finished == depth + 1);
    CHECK(result == "i64 " + std::to_string(depth + 1));
}

// Bytes mapped in this process (/proc/self/maps).
static size_t mapped_bytes()
{
    size_t total = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return 0;
    unsigned long lo, hi;
    char line[512];
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2)
            total += hi - lo;
    fclose(f);
    return total;
}

TEST_CASE("dfr_trim unmaps this thread's idle coroutine stacks (the coroutine layer's trim hook)",
          "[coro][trim]")
{
    const size_t stack = 16 * 1024 * 1024; // far above anything else this test maps
    auto body = []() -> dfr_value { return dfr_i64(1); };
    dfr_deferred *d = start_with_stack(body, stack);
    REQUIRE(d);
    CHECK(state(d) == "i64 1");
    dfr_deferred_unref(d); // its stack went back to this thread's pool
    size_t before = mapped_bytes();
    dfr_trim();
    size_t after = mapped_bytes();
    CHECK(before >= after + stack);
}

TEST_CASE("A coroutine started inside a coroutine runs at once", "[coro][nested]")
{
    std::vector<std::string> log;
    auto inner = [&]() -> dfr_value {
        log.push_back("inner");
        return dfr_i64(1);
    };
    auto outer = [&]() -> dfr_value {
        log.push_back("outer before");
        dfr_deferred *d = start(inner);
        log.push_back("outer after");
        return dfr_await(d);
    };
    dfr_deferred *d = start(outer);
    CHECK(log == std::vector<std::string>{"outer before", "inner", "outer after"});
    CHECK(state(d) == "i64 1");
    dfr_deferred_unref(d);
}

// ---- failures and cancellation ----

TEST_CASE("A failure awaited later is returned and can be handled", "[coro]")
{
    dfr_deferred *later = dfr_deferred_new();
    auto body = [&]() -> dfr_value {
        dfr_value v = dfr_await(dfr_deferred_ref(later));
        if (dfr_is_failure(v)) {
            std::string m = failure_message(v);
            dfr_value_drop(v);
            return dfr_bytes_new(("recovered from " + m).data(), 14 + m.size() + 1);
        }
        return v;
    };
    dfr_deferred *d = start(body);
    dfr_deferred_errback(later, fail_with("boom"));
    CHECK(state(d) == "bytes recovered from boom");
    dfr_deferred_unref(d);
    dfr_deferred_unref(later);
}

namespace {
struct CancelCtx {
    int cancelled = 0;
    std::vector<std::string> seen;
    dfr_deferred *second = nullptr;
};
void note_cancel(dfr_deferred *, void *data)
{
    static_cast<CancelCtx *>(data)->cancelled++;
}
} // namespace

TEST_CASE("Cancelling while suspended cancels the awaited deferred; the coroutine recovers",
          "[coro][cancel]")
{
    CancelCtx ctx;
    dfr_deferred *waited = dfr_deferred_new_cancellable(note_cancel, &ctx, nullptr);
    auto body = [&]() -> dfr_value {
        dfr_value v = dfr_await(dfr_deferred_ref(waited));
        ctx.seen.push_back(show(v));
        dfr_value_drop(v);
        return dfr_i64(42);
    };
    dfr_deferred *d = start(body);
    dfr_deferred_cancel(d);
    CHECK(ctx.cancelled == 1);
    CHECK(ctx.seen == std::vector<std::string>{"fail dfr -4"});
    CHECK(state(d) == "i64 42"); // not failed by the cancel itself
    dfr_deferred_unref(d);
    dfr_deferred_unref(waited);
}

TEST_CASE("After a cancel the coroutine may wait again and fire later", "[coro][cancel]")
{
    CancelCtx ctx;
    dfr_deferred *first = dfr_deferred_new();
    ctx.second = dfr_deferred_new();
    auto body = [&]() -> dfr_value {
        dfr_value v = dfr_await(dfr_deferred_ref(first));
        ctx.seen.push_back(show(v));
        dfr_value_drop(v);
        return dfr_await(dfr_deferred_ref(ctx.second));
    };
    dfr_deferred *d = start(body);
    dfr_deferred_cancel(d);
    CHECK(ctx.seen == std::vector<std::string>{"fail dfr -4"});
    CHECK(state(d) == "pending");
    dfr_deferred_callback(ctx.second, dfr_i64(5));
    CHECK(state(d) == "i64 5");
    dfr_deferred_unref(d);
    dfr_deferred_unref(first);
    dfr_deferred_unref(ctx.second);
}

TEST_CASE("A coroutine passing the cancel on fails its deferred with it", "[coro][cancel]")
{
    dfr_deferred *waited = dfr_deferred_new();
    auto body = [&]() -> dfr_value { return dfr_await(dfr_deferred_ref(waited)); };
    dfr_deferred *d = start(body);
    dfr_deferred_cancel(d);
    CHECK(failure_code(dfr_deferred_result(d)) == DFR_ECANCELLED);
    dfr_deferred_add_errback(d, [](dfr_value v, void *) { dfr_value_drop(v); return dfr_none(); },
                             nullptr, nullptr);
    dfr_deferred_unref(d);
    dfr_deferred_unref(waited);
}

TEST_CASE("Cancelling a nested coroutine's deferred reaches the innermost wait", "[coro][cancel]")
{
    CancelCtx ctx;
    dfr_deferred *bottom = dfr_deferred_new_cancellable(note_cancel, &ctx, nullptr);
    int finished = 0;
    Nest top{5, bottom, &finished};
    dfr_deferred *d = dfr_inline_callbacks(nested, &top, nullptr);
    dfr_deferred_cancel(d);
    CHECK(ctx.cancelled == 1);
    CHECK(finished == 6);
    CHECK(failure_code(dfr_deferred_result(d)) == DFR_ECANCELLED);
    dfr_deferred_add_errback(d, [](dfr_value v, void *) { dfr_value_drop(v); return dfr_none(); },
                             nullptr, nullptr);
    dfr_deferred_unref(d);
    dfr_deferred_unref(bottom);
}

TEST_CASE("A finished coroutine's deferred ignores cancel", "[coro][cancel]")
{
    auto body = []() -> dfr_value { return dfr_i64(1); };
    dfr_deferred *d = start(body);
    dfr_deferred_cancel(d);
    CHECK(state(d) == "i64 1");
    dfr_deferred_unref(d);
}

TEST_CASE("An awaited deferred freed without firing discards the coroutine", "[coro][discard]")
{
    int destroyed = 0;
    bool resumed = false;
    struct Arg {
        bool *resumed;
    } arg{&resumed};
    dfr_deferred *d = dfr_inline_callbacks(
        [](void *p) -> dfr_value {
            // The only reference to the awaited deferred goes to dfr_await.
            dfr_value v = dfr_await(dfr_deferred_new());
            *static_cast<Arg *>(p)->resumed = true;
            return v;
        },
        &arg, nullptr);
    CHECK_FALSE(resumed);
    CHECK(state(d) == "pending");
    dfr_deferred_unref(d);

    dfr_deferred *waited = dfr_deferred_new();
    dfr_deferred *f = dfr_inline_callbacks(
        [](void *p) -> dfr_value { return dfr_await(static_cast<dfr_deferred *>(p)); }, waited,
        nullptr);
    dfr_deferred *g = dfr_inline_callbacks(
        [](void *) -> dfr_value { return dfr_await(dfr_deferred_new()); }, &destroyed,
        test::count_destroy);
    CHECK(destroyed == 1); // discarded at once: its deferred was freed unfired
    CHECK(state(g) == "pending");
    dfr_deferred_cancel(g);
    CHECK(failure_code(dfr_deferred_result(g)) == DFR_ECANCELLED);
    dfr_deferred_add_errback(g, [](dfr_value v, void *) { dfr_value_drop(v); return dfr_none(); },
                             nullptr, nullptr);
    dfr_deferred_unref(g);
    // f's coroutine holds the only reference to `waited`: it stays suspended
    // until its own deferred goes, then the whole cycle is released.
    CHECK(state(f) == "pending");
    dfr_deferred_unref(f);
}

TEST_CASE("Dropping the coroutine's deferred does not stop it", "[coro]")
{
    dfr_deferred *later = dfr_deferred_new();
    int steps = 0;
    auto body = [&]() -> dfr_value {
        steps++;
        dfr_value_drop(dfr_await(dfr_deferred_ref(later)));
        steps++;
        return dfr_none();
    };
    dfr_deferred_unref(start(body));
    CHECK(steps == 1);
    dfr_deferred_callback(later, dfr_none());
    CHECK(steps == 2);
    dfr_deferred_unref(later);
}

TEST_CASE("Callbacks on the coroutine's deferred run after it returns", "[coro]")
{
    dfr_deferred *later = dfr_deferred_new();
    test::Recorder rec;
    auto body = [&]() -> dfr_value {
        dfr_value v = dfr_await(dfr_deferred_ref(later));
        rec.seen.push_back("coroutine got " + show(v));
        return v;
    };
    dfr_deferred *d = start(body);
    dfr_deferred_add_callback(d, test::record, &rec, nullptr);
    CHECK(rec.seen.empty());
    dfr_deferred_callback(later, dfr_i64(8));
    CHECK(rec.seen == std::vector<std::string>{"coroutine got i64 8", "i64 8"});
    dfr_deferred_unref(d);
    dfr_deferred_unref(later);
}

TEST_CASE("Callbacks of the awaited deferred run first; later ones see none", "[coro]")
{
    dfr_deferred *later = dfr_deferred_new();
    test::Recorder rec;
    dfr_deferred_add_callback(later, test::record, &rec, nullptr);
    auto body = [&]() -> dfr_value {
        dfr_value v = dfr_await(dfr_deferred_ref(later));
        rec.seen.push_back("coroutine got " + show(v));
        return v;
    };
    dfr_deferred *d = start(body);
    dfr_deferred_add_callback(later, test::record, &rec, nullptr);
    dfr_deferred_callback(later, dfr_i64(1));
    CHECK(rec.seen == std::vector<std::string>{"i64 1", "coroutine got i64 1", "none"});
    dfr_deferred_unref(d);
    dfr_deferred_unref(later);
}

// A result fired into a deferred with no callbacks of its own goes straight
// to the coroutine waiting on it (the engine's resume path); these pin that
// path to the general loop's order and lifetimes.
TEST_CASE("A callback added to the firing deferred inside the coroutine runs once it suspends",
          "[coro][resume]")
{
    dfr_deferred *later = dfr_deferred_new();
    dfr_deferred *next = dfr_deferred_new();
    test::Recorder rec;
    auto body = [&]() -> dfr_value {
        dfr_value v = dfr_await(dfr_deferred_ref(later));
        rec.seen.push_back("resumed with " + show(v));
        dfr_deferred_add_callback(later, test::record, &rec, nullptr);
        rec.seen.push_back("suspending");
        return dfr_await(dfr_deferred_ref(next));
    };
    dfr_deferred *d = start(body);
    dfr_deferred_callback(later, dfr_i64(5));
    CHECK(rec.seen == std::vector<std::string>{"resumed with i64 5", "suspending", "none"});
    dfr_deferred_callback(next, dfr_i64(6));
    CHECK(state(d) == "i64 6");
    dfr_deferred_unref(d);
    dfr_deferred_unref(next);
    dfr_deferred_unref(later);
}

// Issue 11, defect 6: the direct path dropped such a callback (only its
// destroy ran) when the coroutine then released the last reference to the
// firing deferred.  The general path (the firing deferred has a callback of
// its own before) and a program without coroutines run it.
TEST_CASE("A callback added to the firing deferred runs even when the coroutine drops it",
          "[coro][resume]")
{
    bool general_path = GENERATE(false, true);
    dfr_deferred *ext = dfr_deferred_new();
    dfr_deferred *next = dfr_deferred_new();
    test::Recorder rec;
    if (general_path)
        dfr_deferred_add_callback(ext, test::record, &rec, nullptr);
    auto body = [&]() -> dfr_value {
        dfr_value v = dfr_await(dfr_deferred_ref(ext));
        rec.seen.push_back("resumed with " + show(v));
        CHECK(dfr_deferred_add_callback(ext, test::record, &rec, nullptr) == 0);
        dfr_deferred_unref(ext); // the firer's reference, handed over: the last
        ext = nullptr;
        rec.seen.push_back("suspending");
        return dfr_await(dfr_deferred_ref(next));
    };
    dfr_deferred *d = start(body);
    dfr_deferred *firing = ext;
    dfr_deferred_callback(firing, dfr_i64(5));
    CHECK(ext == nullptr);
    // record passes its value on: the coroutine sees i64 5 either way.
    std::vector<std::string> want = {"resumed with i64 5", "suspending", "none"};
    if (general_path)
        want.insert(want.begin(), "i64 5");
    CHECK(rec.seen == want);
    dfr_deferred_callback(next, dfr_i64(6));
    CHECK(state(d) == "i64 6");
    dfr_deferred_unref(d);
    dfr_deferred_unref(next);
}

TEST_CASE("Awaiting again the deferred that resumed it gives none", "[coro][resume]")
{
    dfr_deferred *later = dfr_deferred_new();
    std::vector<std::string> got;
    auto body = [&]() -> dfr_value {
        got.push_back(show(dfr_await(dfr_deferred_ref(later))));
        got.push_back(show(dfr_await(dfr_deferred_ref(later))));
        return dfr_i64(1);
    };
    dfr_deferred *d = start(body);
    dfr_deferred_callback(later, dfr_i64(2));
    CHECK(got == std::vector<std::string>{"i64 2", "none"});
    CHECK(state(d) == "i64 1");
    dfr_deferred_unref(d);
    dfr_deferred_unref(later);
}

TEST_CASE("A paused coroutine deferred holds its resumption until unpaused", "[coro][resume]")
{
    dfr_deferred *later = dfr_deferred_new();
    std::string got;
    auto body = [&]() -> dfr_value {
        dfr_value v = dfr_await(dfr_deferred_ref(later));
        got = show(v);
        return v;
    };
    dfr_deferred *d = start(body);
    REQUIRE(dfr_deferred_pause(d) == 0);
    dfr_deferred_callback(later, dfr_i64(4));
    CHECK(got.empty());
    CHECK(state(d) == "pending");
    REQUIRE(dfr_deferred_unpause(d) == 0);
    CHECK(got == "i64 4");
    CHECK(state(d) == "i64 4");
    dfr_deferred_unref(d);
    dfr_deferred_unref(later);
}

TEST_CASE("The firing deferred's last reference may go inside the coroutine it resumes",
          "[coro][resume]")
{
    dfr_deferred *later = dfr_deferred_new();
    dfr_deferred *next = dfr_deferred_new();
    auto body = [&]() -> dfr_value {
        dfr_value v = dfr_await(dfr_deferred_ref(later));
        dfr_deferred_unref(later); // the firer's reference, handed over: the last
        later = nullptr;
        dfr_value_drop(v);
        return dfr_await(dfr_deferred_ref(next));
    };
    dfr_deferred *d = start(body);
    dfr_deferred_callback(later, dfr_i64(3)); // freed once the coroutine suspends
    CHECK(later == nullptr);
    dfr_deferred_callback(next, dfr_i64(7));
    CHECK(state(d) == "i64 7");
    dfr_deferred_unref(d);
    dfr_deferred_unref(next);
}

// The direct path switches by a tail call: dfr_deferred_callback returns by
// the coroutine's switch back, with what the engine gives it then.
TEST_CASE("Firing into a waiting coroutine returns 0 and firing again DFR_EALREADY",
          "[coro][resume]")
{
    dfr_deferred *later = dfr_deferred_new();
    dfr_deferred *next = dfr_deferred_new();
    auto body = [&]() -> dfr_value {
        dfr_value_drop(dfr_await(dfr_deferred_ref(later)));
        return dfr_await(dfr_deferred_ref(next));
    };
    dfr_deferred *d = start(body);
    CHECK(dfr_deferred_callback(later, dfr_i64(1)) == 0); // suspends again
    CHECK(dfr_deferred_callback(later, dfr_i64(2)) == DFR_EALREADY);
    CHECK(dfr_deferred_errback(next, fail_with("late")) == 0); // finishes
    CHECK(dfr_deferred_callback(next, dfr_i64(3)) == DFR_EALREADY);
    CHECK(failure_message(*dfr_deferred_result(d)) == "late");
    dfr_deferred_add_errback(d, [](dfr_value v, void *) { dfr_value_drop(v); return dfr_none(); },
                             nullptr, nullptr);
    dfr_deferred_unref(d);
    dfr_deferred_unref(next);
    dfr_deferred_unref(later);
}

// A coroutine that fires another's awaited deferred resumes it directly and
// gets control back by the same jump: contexts saved that way nest.
namespace {
struct relay {
    dfr_deferred *to_a = nullptr, *to_b = nullptr;
    std::vector<int64_t> b_got;
    uint64_t a_kept = 0;
    int a_rounding = -1;
    int a_fire_rc = 0;
};
dfr_value relay_b(void *p)
{
    relay *r = static_cast<relay *>(p);
    for (;;) {
        r->to_b = dfr_deferred_new();
        dfr_value v = dfr_await(dfr_deferred_ref(r->to_b));
        if (v.u.i64 < 0)
            return dfr_i64((int64_t)r->b_got.size());
        r->b_got.push_back(v.u.i64);
    }
}
dfr_value relay_a(void *p)
{
    relay *r = static_cast<relay *>(p);
    fesetround(FE_DOWNWARD);
    volatile uint64_t in = 1000;
    uint64_t k0 = in, k1 = k0 * 7, k2 = k0 ^ 0x5a5a, k3 = k0 + 13; // live across the fires
    for (int64_t i = 0;; i++) {
        r->to_a = dfr_deferred_new();
        dfr_value v = dfr_await(dfr_deferred_ref(r->to_a));
        dfr_deferred *b_waits = r->to_b;
        // B runs from here and switches back to us (or finishes, at -1).
        r->a_fire_rc |= dfr_deferred_callback(b_waits, dfr_i64(v.u.i64 < 0 ? -1 : v.u.i64 * 10));
        dfr_deferred_unref(b_waits);
        k0 += k1, k1 ^= k2, k2 -= k3, k3 += k0 + (uint64_t)i;
        if (v.u.i64 < 0)
            break;
    }
    r->a_kept = k0 + k1 + k2 + k3;
    r->a_rounding = fegetround();
    return dfr_none();
}
} // namespace

TEST_CASE("A coroutine resuming another directly keeps its registers and rounding mode",
          "[coro][resume][registers]")
{
    relay r;
    dfr_deferred *b = dfr_inline_callbacks(relay_b, &r, nullptr);
    dfr_deferred *a = dfr_inline_callbacks(relay_a, &r, nullptr);
    const int64_t rounds = 1000;
    for (int64_t i = 0; i <= rounds; i++) {
        dfr_deferred *w = r.to_a;
        CHECK(dfr_deferred_callback(w, dfr_i64(i == rounds ? -1 : i)) == 0);
        dfr_deferred_unref(w);
        if (i == 0)
            CHECK(fegetround() == FE_TONEAREST);
    }
    CHECK(r.a_fire_rc == 0);
    REQUIRE(r.b_got.size() == (size_t)rounds);
    for (int64_t i = 0; i < rounds; i++)
        CHECK(r.b_got[(size_t)i] == i * 10);
    uint64_t k0 = 1000, k1 = k0 * 7, k2 = k0 ^ 0x5a5a, k3 = k0 + 13;
    for (int64_t i = 0; i <= rounds; i++)
        k0 += k1, k1 ^= k2, k2 -= k3, k3 += k0 + (uint64_t)i;
    CHECK(r.a_kept == k0 + k1 + k2 + k3);
    CHECK(r.a_rounding == FE_DOWNWARD);
    CHECK(fegetround() == FE_TONEAREST);
    CHECK(state(a) == "none");
    CHECK(state(b) == "i64 1000");
    dfr_deferred_unref(a);
    dfr_deferred_unref(b);
}

TEST_CASE("A paused awaited deferred holds the coroutine until unpaused", "[coro]")
{
    dfr_deferred *later = dfr_succeed(dfr_i64(3));
    dfr_deferred_pause(later);
    std::string got;
    auto body = [&]() -> dfr_value {
        dfr_value v = dfr_await(dfr_deferred_ref(later));
        got = show(v);
        return v;
    };
    dfr_deferred *d = start(body);
    CHECK(got.empty());
    dfr_deferred_unpause(later);
    CHECK(got == "i64 3");
    dfr_deferred_unref(d);
    dfr_deferred_unref(later);
}

TEST_CASE("Awaiting a deferred that waits on another resumes with the inner result", "[coro]")
{
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred *outer = dfr_succeed(dfr_none());
    dfr_deferred_add_callback(
        outer,
        [](dfr_value v, void *p) {
            dfr_value_drop(v);
            return dfr_value_deferred(dfr_deferred_ref(static_cast<dfr_deferred *>(p)));
        },
        inner, nullptr);
    auto body = [&]() -> dfr_value { return dfr_await(dfr_deferred_ref(outer)); };
    dfr_deferred *d = start(body);
    CHECK(state(d) == "pending");
    dfr_deferred_callback(inner, dfr_i64(12));
    CHECK(state(d) == "i64 12");
    dfr_deferred_unref(d);
    dfr_deferred_unref(outer);
    dfr_deferred_unref(inner);
}

TEST_CASE("Coroutines interleave through a DeferredList", "[coro]")
{
    dfr_deferred *a = dfr_deferred_new(), *b = dfr_deferred_new();
    auto ca = [&]() -> dfr_value { return dfr_await(dfr_deferred_ref(a)); };
    auto cb = [&]() -> dfr_value { return dfr_await(dfr_deferred_ref(b)); };
    dfr_deferred *ins[2] = {start(ca), start(cb)};
    dfr_deferred *all = dfr_gather_results(ins, 2, false);
    auto waiter = [&]() -> dfr_value { return dfr_await(dfr_deferred_ref(all)); };
    dfr_deferred *w = start(waiter);
    dfr_deferred_callback(b, dfr_i64(2));
    CHECK(state(w) == "pending");
    dfr_deferred_callback(a, dfr_i64(1));
    CHECK(state(w) == "list 2");
    dfr_deferred_unref(w);
    dfr_deferred_unref(all);
    dfr_deferred_unref(ins[0]);
    dfr_deferred_unref(ins[1]);
    dfr_deferred_unref(a);
    dfr_deferred_unref(b);
}

// ---- stacks ----

namespace {
// Uses about `frames` KiB of stack; returns a checksum the optimizer keeps.
__attribute__((noinline)) int64_t deep(int frames)
{
    volatile char pad[1000];
    pad[0] = static_cast<char>(frames);
    pad[999] = 1;
    if (frames == 0)
        return pad[0] + pad[999];
    return deep(frames - 1) + pad[0];
}
} // namespace

TEST_CASE("The stack-size option gives room for deep recursion", "[coro][stack]")
{
    auto body = []() -> dfr_value {
        dfr_value_drop(dfr_await(dfr_succeed(dfr_none())));
        return dfr_i64(deep(1500)); // about 1.5 MiB of frames
    };
    dfr_deferred *d = start_with_stack(body, 4 * 1024 * 1024);
    REQUIRE(dfr_deferred_state(d) == DFR_SUCCEEDED);
    dfr_deferred_unref(d);
    auto small = []() -> dfr_value { return dfr_i64(deep(100)); };
    dfr_deferred *e = start(small); // the default stack: 100 KiB fits
    CHECK(dfr_deferred_state(e) == DFR_SUCCEEDED);
    dfr_deferred_unref(e);
}

namespace {
uintptr_t g_stack_top;
size_t g_stack_size;
void on_segv(int, siginfo_t *si, void *)
{
    uintptr_t a = reinterpret_cast<uintptr_t>(si->si_addr);
    // The fault must be in the guard page just below the usable stack.
    bool guard = a < g_stack_top - g_stack_size + 64 && a + 2 * 4096 + 64 >= g_stack_top - g_stack_size;
    _exit(guard ? 42 : 43);
}
volatile int g_forever = 1;
__attribute__((noinline)) int64_t overflow(int n)
{
    volatile char pad[512];
    pad[0] = static_cast<char>(n);
    if (!g_forever)
        return pad[0];
    return overflow(n + 1) + pad[0];
}
} // namespace

TEST_CASE("Overflowing a coroutine stack faults on its guard page", "[coro][stack][guard]")
{
    if (RUNNING_ON_VALGRIND)
        return; // valgrind reports the overflow itself; the sanitizer and plain runs check it
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        static char alt[64 * 1024];
        stack_t ss = {};
        ss.ss_sp = alt;
        ss.ss_size = sizeof alt;
        sigaltstack(&ss, nullptr);
        struct sigaction sa = {};
        sa.sa_sigaction = on_segv;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigaction(SIGSEGV, &sa, nullptr);
        sigaction(SIGBUS, &sa, nullptr);
        auto body = []() -> dfr_value {
            volatile char here;
            g_stack_top = reinterpret_cast<uintptr_t>(&here);
            return dfr_i64(overflow(0));
        };
        g_stack_size = 64 * 1024;
        dfr_deferred *d = start_with_stack(body, g_stack_size);
        (void)d;
        _exit(1); // not reached: the overflow never returns
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    INFO("status " << status);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 42);
}

TEST_CASE("A million-deep chain fired inside a coroutine on a 32 KiB stack", "[coro][stack]")
{
    const int n = deferreds_at_once(1000000);
    std::vector<dfr_deferred *> ds(n);
    for (int i = 0; i < n; i++)
        ds[i] = dfr_deferred_new();
    // Each waits on the next: ds[i]'s callback returns ds[i+1].
    for (int i = 0; i + 1 < n; i++)
        dfr_deferred_add_callback(
            ds[i],
            [](dfr_value v, void *p) {
                dfr_value_drop(v);
                return dfr_value_deferred(static_cast<dfr_deferred *>(p));
            },
            dfr_deferred_ref(ds[i + 1]), nullptr);
    for (int i = 0; i + 1 < n; i++)
        dfr_deferred_callback(ds[i], dfr_none());
    auto body = [&]() -> dfr_value {
        dfr_deferred_callback(ds[n - 1], dfr_i64(77));
        return dfr_await(dfr_deferred_ref(ds[0]));
    };
    dfr_coroutine_options o = {};
    o.size = sizeof o;
    o.stack_size = 32 * 1024;
    dfr_deferred *d = dfr_inline_callbacks_ex(call_it<decltype(body)>, &body, nullptr, &o);
    CHECK(state(d) == "i64 77");
    dfr_deferred_unref(d);
    for (dfr_deferred *x : ds)
        dfr_deferred_unref(x);
}

TEST_CASE("Each coroutine keeps its own floating-point rounding mode", "[coro][fp]")
{
    dfr_deferred *later = dfr_deferred_new();
    int inside_after = -1;
    auto body = [&]() -> dfr_value {
        fesetround(FE_UPWARD);
        dfr_value_drop(dfr_await(dfr_deferred_ref(later)));
        inside_after = fegetround();
        return dfr_none();
    };
    REQUIRE(fegetround() == FE_TONEAREST);
    dfr_deferred *d = start(body);
    CHECK(fegetround() == FE_TONEAREST); // the coroutine's mode stayed with it
    dfr_deferred_callback(later, dfr_none());
    CHECK(inside_after == FE_UPWARD);
    CHECK(fegetround() == FE_TONEAREST);
    fesetround(FE_TONEAREST);
    dfr_deferred_unref(d);
    dfr_deferred_unref(later);
}

// The switch saves only what the compiler keeps live across it: values in
// registers on both sides must survive switches that interleave.
namespace {
struct pressure {
    uint64_t seed;
    dfr_deferred *wake[3];
    uint64_t ints = 0;
    double reals = 0;
};
uint64_t int_mix(uint64_t s, int round)
{
    return s * 6364136223846793005ULL + 1442695040888963407ULL * (uint64_t)(round + 1);
}
dfr_value under_pressure(void *p)
{
    pressure *w = static_cast<pressure *>(p);
    volatile uint64_t seed_in = w->seed;
    uint64_t s = seed_in;
    uint64_t a = s + 1, b = s * 3, c = s ^ 0x55, e = s - 7, f = s * s, g = s + 11, h = s << 3,
             i = s | 9, j = s * 13, k = s - 100, l = s + 31;
    double sd = (double)(int64_t)s;
    double x = sd * 0.5, y = sd + 0.25, z = sd * 3.0, u = sd / 7.0, v = sd - 1.5, t = sd * sd;
    for (int round = 0; round < 3; round++) {
        dfr_value_drop(dfr_await(dfr_deferred_ref(w->wake[round])));
        a = int_mix(a, round), b += a, c ^= b, e -= c, f += e, g ^= f, h += g, i -= h, j ^= i,
        k += j, l ^= k;
        x = x * 1.5 + y, y -= z * 0.25, z += u, u = u * 0.5 + v, v -= t * 1e-9, t += x;
    }
    w->ints = a + b + c + e + f + g + h + i + j + k + l;
    w->reals = x + y + z + u + v + t;
    return dfr_none();
}
// The same arithmetic without coroutines.
void expected_pressure(uint64_t s, uint64_t *ints, double *reals)
{
    uint64_t a = s + 1, b = s * 3, c = s ^ 0x55, e = s - 7, f = s * s, g = s + 11, h = s << 3,
             i = s | 9, j = s * 13, k = s - 100, l = s + 31;
    double sd = (double)(int64_t)s;
    double x = sd * 0.5, y = sd + 0.25, z = sd * 3.0, u = sd / 7.0, v = sd - 1.5, t = sd * sd;
    for (int round = 0; round < 3; round++) {
        a = int_mix(a, round), b += a, c ^= b, e -= c, f += e, g ^= f, h += g, i -= h, j ^= i,
        k += j, l ^= k;
        x = x * 1.5 + y, y -= z * 0.25, z += u, u = u * 0.5 + v, v -= t * 1e-9, t += x;
    }
    *ints = a + b + c + e + f + g + h + i + j + k + l;
    *reals = x + y + z + u + v + t;
}
} // namespace

TEST_CASE("Values held in registers survive interleaved switches", "[coro][registers]")
{
    pressure w[2];
    w[0].seed = 12345;
    w[1].seed = 0xfedcba9876543210ULL;
    for (auto &p : w)
        for (auto &d : p.wake)
            d = dfr_deferred_new();
    dfr_deferred *d0 = dfr_inline_callbacks(under_pressure, &w[0], nullptr);
    dfr_deferred *d1 = dfr_inline_callbacks(under_pressure, &w[1], nullptr);
    // The firing side keeps values of its own live across each resume.
    volatile uint64_t mine_in = 424242;
    uint64_t m0 = mine_in, m1 = m0 * 3, m2 = m0 ^ 77, m3 = m0 - 5;
    for (int round = 0; round < 3; round++) {
        dfr_deferred_callback(w[1].wake[round], dfr_none());
        m0 += m1, m1 ^= m2, m2 -= m3, m3 += m0;
        dfr_deferred_callback(w[0].wake[round], dfr_none());
        m0 ^= m3, m1 += m0, m2 ^= m1, m3 -= m2;
    }
    uint64_t e0 = 424242, e1 = e0 * 3, e2 = e0 ^ 77, e3 = e0 - 5;
    for (int round = 0; round < 3; round++) {
        e0 += e1, e1 ^= e2, e2 -= e3, e3 += e0;
        e0 ^= e3, e1 += e0, e2 ^= e1, e3 -= e2;
    }
    CHECK(m0 == e0);
    CHECK(m1 == e1);
    CHECK(m2 == e2);
    CHECK(m3 == e3);
    for (auto &p : w) {
        uint64_t ints;
        double reals;
        expected_pressure(p.seed, &ints, &reals);
        CHECK(p.ints == ints);
        CHECK(p.reals == reals);
        for (auto &d : p.wake)
            dfr_deferred_unref(d);
    }
    CHECK(state(d0) == "none");
    CHECK(state(d1) == "none");
    dfr_deferred_unref(d0);
    dfr_deferred_unref(d1);
}

// ---- threads ----

TEST_CASE("A coroutine fired from a foreign thread fails with DFR_ENOTOWNER", "[coro][thread]")
{
    dfr_deferred *later = dfr_deferred_new();
    int destroyed = 0;
    bool resumed = false;
    struct Arg {
        dfr_deferred *later;
        bool *resumed;
    } arg{later, &resumed};
    dfr_deferred *d = dfr_inline_callbacks(
        [](void *p) -> dfr_value {
            auto *a = static_cast<Arg *>(p);
            dfr_value v = dfr_await(dfr_deferred_ref(a->later));
            *a->resumed = true;
            return v;
        },
        &arg, [](void *p) { (void)p; });
    pthread_t t;
    REQUIRE(pthread_create(
                &t, nullptr,
                [](void *p) -> void * {
                    dfr_deferred_callback(static_cast<dfr_deferred *>(p), dfr_i64(1));
                    return nullptr;
                },
                later) == 0);
    pthread_join(t, nullptr);
    CHECK_FALSE(resumed);
    CHECK(failure_code(dfr_deferred_result(d)) == DFR_ENOTOWNER);
    dfr_deferred_add_errback(d, [](dfr_value v, void *) { dfr_value_drop(v); return dfr_none(); },
                             nullptr, nullptr);
    dfr_deferred_unref(d);
    dfr_deferred_unref(later);
    (void)destroyed;
}

TEST_CASE("Coroutines run on any thread that owns its deferreds", "[coro][thread]")
{
    struct Result {
        std::string value;
    } results[4];
    pthread_t ts[4];
    for (auto &r : results)
        REQUIRE(pthread_create(
                    &ts[&r - results], nullptr,
                    [](void *p) -> void * {
                        dfr_deferred *later = dfr_deferred_new();
                        auto body = [&]() -> dfr_value {
                            dfr_value v = dfr_await(dfr_deferred_ref(later));
                            return dfr_i64(v.u.i64 + 1);
                        };
                        dfr_deferred *d = start(body);
                        dfr_deferred_callback(later, dfr_i64(41));
                        static_cast<Result *>(p)->value = state(d);
                        dfr_deferred_unref(d);
                        dfr_deferred_unref(later);
                        return nullptr; // the thread's stack pool goes at exit
                    },
                    &r) == 0);
    for (pthread_t t : ts)
        pthread_join(t, nullptr);
    for (auto &r : results)
        CHECK(r.value == "i64 42");
}

// ---- with the reactor's manual clock: the seed's my_callbacks ----

namespace {
void fire_i64(void *p)
{
    auto *d = static_cast<dfr_deferred *>(p);
    dfr_deferred_callback(d, dfr_i64(2));
}
void fire_failure(void *p)
{
    dfr_deferred_errback(static_cast<dfr_deferred *>(p), fail_with("3"));
}
} // namespace

TEST_CASE("The seed's my_callbacks on a manual clock", "[coro][reactor]")
{
    test::Clock clock;
    REQUIRE(clock.r);
    std::vector<std::string> log;
    auto body = [&]() -> dfr_value {
        log.push_back("first callback");
        dfr_value result = dfr_await(dfr_succeed(dfr_i64(1)));
        log.push_back("second callback got " + show(result));
        dfr_deferred *d = dfr_deferred_new();
        dfr_reactor_call_later(clock.r, 5, fire_i64, d, nullptr, nullptr);
        result = dfr_await(dfr_deferred_ref(d));
        dfr_deferred_unref(d);
        log.push_back("third callback got " + show(result));
        d = dfr_deferred_new();
        dfr_reactor_call_later(clock.r, 5, fire_failure, d, nullptr, nullptr);
        result = dfr_await(dfr_deferred_ref(d));
        dfr_deferred_unref(d);
        log.push_back("fourth callback got " + failure_message(result));
        dfr_value_drop(result);
        return dfr_none();
    };
    dfr_deferred *done = start(body);
    CHECK(log.size() == 2);
    clock.advance(5);
    CHECK(log.size() == 3);
    clock.advance(5);
    CHECK(log == std::vector<std::string>{"first callback", "second callback got i64 1",
                                          "third callback got i64 2", "fourth callback got 3"});
    CHECK(state(done) == "none");
    dfr_deferred_unref(done);
}

TEST_CASE("deferLater awaited in a coroutine, cancelled through the coroutine", "[coro][reactor]")
{
    test::Clock clock;
    auto body = [&]() -> dfr_value {
        dfr_deferred *d = dfr_reactor_defer_later(clock.r, 10, nullptr, nullptr, nullptr);
        dfr_value v = dfr_await(d);
        int code = failure_code(&v);
        dfr_value_drop(v);
        return dfr_i64(code);
    };
    dfr_deferred *d = start(body);
    clock.advance(1);
    dfr_deferred_cancel(d);
    CHECK(state(d) == "i64 -4");
    CHECK(dfr_reactor_pending_calls(clock.r) == 0);
    dfr_deferred_unref(d);
}

// ---- debug mode and allocation failures ----

TEST_CASE("Coroutines in debug mode (origins recorded)", "[coro][debug]")
{
    dfr_set_debug(true);
    dfr_deferred *later = dfr_deferred_new();
    auto body = [&]() -> dfr_value {
        dfr_value v = dfr_await(dfr_deferred_ref(later));
        return v;
    };
    dfr_deferred *d = start(body);
    dfr_deferred_errback(later, fail_with("debug"));
    CHECK(failure_message(*dfr_deferred_result(d)) == "debug");
    dfr_deferred_add_errback(d, [](dfr_value v, void *) { dfr_value_drop(v); return dfr_none(); },
                             nullptr, nullptr);
    dfr_deferred_unref(d);
    dfr_deferred_unref(later);
    dfr_set_debug(false);
}

TEST_CASE("Allocation failures at every step leak nothing and lose nothing", "[coro][alloc]")
{
    int runs = test::for_each_allocation_failure([](long) {
        int destroyed = 0;
        dfr_deferred *later = dfr_deferred_new();
        struct Arg {
            dfr_deferred *later;
            int *destroyed;
        } arg{later, &destroyed};
        dfr_deferred *d = dfr_inline_callbacks(
            [](void *p) -> dfr_value {
                auto *a = static_cast<Arg *>(p);
                dfr_value v = dfr_await(dfr_succeed(dfr_i64(1)));
                dfr_value_drop(v);
                if (!a->later)
                    return dfr_none();
                dfr_value w = dfr_await(dfr_deferred_ref(a->later));
                return w;
            },
            &arg, [](void *p) { ++*static_cast<Arg *>(p)->destroyed; });
        if (later)
            dfr_deferred_callback(later, dfr_i64(5));
        if (d) {
            const dfr_value *r = dfr_deferred_result(d);
            // Either the value, or a DFR_ENOMEM failure somewhere on the way.
            CHECK((r && (show(*r) == "i64 5" || show(*r) == "none" ||
                         failure_code(r) == DFR_ENOMEM)));
            if (r && dfr_is_failure(*r))
                dfr_deferred_add_errback(d,
                                         [](dfr_value v, void *) {
                                             dfr_value_drop(v);
                                             return dfr_none();
                                         },
                                         nullptr, nullptr);
        }
        dfr_deferred_unref(d);
        dfr_deferred_unref(later);
        CHECK(destroyed == 1);
    });
    CHECK(runs > 2);
}

TEST_CASE("A resumed coroutine awaiting a deferred nobody holds is discarded", "[coro][discard]")
{
    dfr_deferred *later = dfr_deferred_new();
    struct Arg {
        dfr_deferred *later;
        int destroyed;
        bool resumed_twice;
    } arg{later, 0, false};
    dfr_deferred *d = dfr_inline_callbacks(
        [](void *p) -> dfr_value {
            auto *a = static_cast<Arg *>(p);
            dfr_value_drop(dfr_await(dfr_deferred_ref(a->later)));
            dfr_value v = dfr_await(dfr_deferred_new()); // its only reference
            a->resumed_twice = true;
            return v;
        },
        &arg, [](void *p) { static_cast<Arg *>(p)->destroyed++; });
    dfr_deferred_unref(d); // the coroutine's deferred is held by `later` only
    CHECK(arg.destroyed == 0);
    dfr_deferred_callback(later, dfr_none());
    CHECK(arg.destroyed == 1);
    CHECK_FALSE(arg.resumed_twice);
    dfr_deferred_unref(later);
}

// ---- cycles (issue 11, defect 1) ----

TEST_CASE("Cancelling one of two coroutines awaiting each other returns and breaks the cycle",
          "[coro][cancel][cycle]")
{
    dfr_deferred *gate = dfr_deferred_new();
    dfr_deferred *da = nullptr, *db = nullptr;
    std::string got_a, got_b;
    auto body_a = [&]() -> dfr_value {
        dfr_value_drop(dfr_await(dfr_deferred_ref(gate)));
        dfr_value v = dfr_await(dfr_deferred_ref(db)); // db waits on da: a cycle
        got_a = show(v);
        return v;
    };
    auto body_b = [&]() -> dfr_value {
        dfr_value v = dfr_await(dfr_deferred_ref(da));
        got_b = failure_message(v);
        int code = failure_code(&v);
        dfr_value_drop(v);
        return dfr_i64(code);
    };
    da = start(body_a);
    db = start(body_b);
    dfr_deferred_callback(gate, dfr_none());
    CHECK(state(da) == "pending");
    CHECK(state(db) == "pending");
    dfr_deferred_cancel(db); // returns
    // db stops waiting: its coroutine resumes with the cancel and returns
    // the code, which resumes a's coroutine (waiting on db).
    CHECK(failure_code(nullptr) == 0);
    CHECK_FALSE(got_b.empty());
    CHECK(got_a == "i64 " + std::to_string(DFR_ECANCELLED));
    CHECK(state(db) == "none"); // a's coroutine took its result
    CHECK(state(da) == "i64 " + std::to_string(DFR_ECANCELLED));
    dfr_deferred_unref(da);
    dfr_deferred_unref(db);
    dfr_deferred_unref(gate);
}

// ---- ThreadSanitizer (issue 11, defect 10) ----
// Every switch must be one TSan can follow: its shadow stack grew by a
// frame per direct resume, with false races from ~20 awaits and a crash at
// 100,000.  These run full size in every build, TSan's included.

TEST_CASE("100,000 sequential awaits of pending deferreds fired from outside", "[coro][tsan]")
{
    const int n = 100000;
    dfr_deferred *cur = nullptr;
    int64_t sum = 0;
    auto body = [&]() -> dfr_value {
        for (int i = 0; i < n; i++) {
            cur = dfr_deferred_new();
            dfr_value v = dfr_await(dfr_deferred_ref(cur));
            sum += v.u.i64;
        }
        return dfr_i64(sum);
    };
    dfr_deferred *d = start(body);
    for (int i = 0; i < n; i++) {
        dfr_deferred *fired = cur;
        REQUIRE(dfr_deferred_callback(fired, dfr_i64(1)) == 0);
        dfr_deferred_unref(fired);
    }
    CHECK(state(d) == "i64 " + std::to_string(n));
    dfr_deferred_unref(d);
}

namespace {
dfr_value add_one_on_thread(void *p)
{
    return dfr_i64(*static_cast<int64_t *>(p) + 1);
}
dfr_value stop_reactor(dfr_value v, void *r)
{
    dfr_reactor_stop(static_cast<dfr_reactor *>(r));
    return v;
}
} // namespace

TEST_CASE("A reactor's coroutine awaiting deferToThread and deferLater in turn", "[coro][tsan][reactor]")
{
    dfr_reactor *r = dfr_reactor_new(nullptr);
    REQUIRE(r);
    const int rounds = 200;
    int64_t x = 0;
    auto body = [&]() -> dfr_value {
        for (int i = 0; i < rounds; i++) {
            dfr_value v = dfr_await(dfr_reactor_defer_to_thread(r, add_one_on_thread, &x, nullptr));
            if (!dfr_is_failure(v))
                x = v.u.i64;
            dfr_value_drop(v);
            dfr_value_drop(dfr_await(dfr_reactor_defer_later(r, 0, nullptr, nullptr, nullptr)));
        }
        return dfr_i64(x);
    };
    dfr_deferred *d = start(body);
    dfr_deferred_add_both(d, stop_reactor, r, nullptr);
    REQUIRE(dfr_reactor_run(r) == 0);
    CHECK(state(d) == "i64 " + std::to_string(rounds));
    dfr_deferred_unref(d);
    dfr_reactor_free(r);
}
