// Test runner: installs a counting allocator before anything else, so that
// every test can inject allocation failures and every test case is checked
// for leaked library allocations.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "support.h"

#include <cstdio>
#include <cstdlib>

namespace {

std::atomic<size_t> g_count{0};
std::atomic<long> g_live{0};
std::atomic<long> g_fail_at{0};
std::atomic<bool> g_failed{false};
bool g_leaked = false;

void *counting_malloc(size_t n, void *)
{
    long k = g_fail_at.load(std::memory_order_relaxed);
    if (k > 0 && g_fail_at.fetch_sub(1) == 1) {
        g_failed = true;
        return nullptr;
    }
    void *p = std::malloc(n ? n : 1);
    if (p) {
        g_count++;
        g_live++;
    }
    return p;
}

void *counting_realloc(void *p, size_t n, void *)
{
    long k = g_fail_at.load(std::memory_order_relaxed);
    if (k > 0 && g_fail_at.fetch_sub(1) == 1) {
        g_failed = true;
        return nullptr;
    }
    void *q = std::realloc(p, n ? n : 1);
    if (q && !p) {
        g_count++;
        g_live++;
    }
    return q;
}

void counting_free(void *p, void *)
{
    if (p)
        g_live--;
    std::free(p);
}

struct LeakCheck : Catch::TestEventListenerBase {
    using TestEventListenerBase::TestEventListenerBase;
    long start = 0;
    void testCaseStarting(Catch::TestCaseInfo const &) override
    {
        dfr_trim();
        start = g_live.load();
    }
    void testCaseEnded(Catch::TestCaseStats const &stats) override
    {
        dfr_trim(); // the per-thread cache of freed deferreds is not a leak
        long now = g_live.load();
        if (now != start) {
            std::fprintf(stderr, "LEAK: test case '%s' left %ld library allocations\n",
                         stats.testInfo.name.c_str(), now - start);
            g_leaked = true;
        }
    }
};

} // namespace

CATCH_REGISTER_LISTENER(LeakCheck)

namespace test {
size_t alloc_count() { return g_count.load(); }
long live_allocations()
{
    dfr_trim(); // this thread's cache of freed deferreds is not live memory
    return g_live.load();
}
void fail_allocation_at(long k)
{
    g_failed = false;
    g_fail_at = k;
}
bool allocation_failed() { return g_failed.load(); }

static void capture_hook(const dfr_failure *f, void *data)
{
    auto *c = static_cast<UnhandledCapture *>(data);
    c->messages.emplace_back(dfr_failure_message(f));
    c->codes.push_back(dfr_failure_code(f));
}
UnhandledCapture::UnhandledCapture() { dfr_set_unhandled_error_hook(capture_hook, this); }
UnhandledCapture::~UnhandledCapture() { dfr_set_unhandled_error_hook(nullptr, nullptr); }

void count_destroy(void *data) { ++*static_cast<int *>(data); }
} // namespace test

int main(int argc, char **argv)
{
    dfr_allocator a = {sizeof a, counting_malloc, counting_realloc, counting_free, nullptr};
    if (dfr_set_allocator(&a) != 0) {
        std::fprintf(stderr, "could not install the counting allocator\n");
        return 2;
    }
    int rc = Catch::Session().run(argc, argv);
    if (g_leaked && rc == 0)
        rc = 1;
    return rc;
}
