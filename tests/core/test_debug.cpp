// Debug mode (dfr_set_debug): failures and deferreds record where they were
// made, failures record the callbacks they passed through, and both show in
// dfr_failure_describe and the unhandled-error report.
// Twisted: testNoDebugging, testSwitchDebugging, test_errorLogDebugInfo,
// test_errbackWithNoArgsNoDebug (Twisted's setDebugging / creator traces).
#include <catch2/catch.hpp>

#include "reactor_support.h"
#include "support.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

const char *const DOM = "test";

using test::DebugMode;
using test::describe;

bool contains(const std::string &s, const std::string &what)
{
    return s.find(what) != std::string::npos;
}

size_t occurrences(const std::string &s, const std::string &what)
{
    size_t n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1))
        n++;
    return n;
}

// The lines of the section that starts with `header` (indented lines after it).
size_t section_lines(const std::string &s, const std::string &header)
{
    size_t at = s.find(header);
    if (at == std::string::npos)
        return 0;
    std::istringstream in(s.substr(at + header.size()));
    std::string line;
    std::getline(in, line); // rest of the header line
    size_t n = 0;
    while (std::getline(in, line) && line.size() > 4 && line.compare(0, 4, "    ") == 0)
        n++;
    return n;
}

dfr_value pass_on(dfr_value r, void *)
{
    return r;
}

using test::swallow;

// Everything written to stderr while alive.
class StderrCapture {
  public:
    StderrCapture()
    {
        char name[] = "/tmp/dfr-test-stderr-XXXXXX";
        fd_ = mkstemp(name);
        REQUIRE(fd_ >= 0);
        path_ = name;
        std::fflush(stderr);
        saved_ = dup(2);
        REQUIRE(saved_ >= 0);
        REQUIRE(dup2(fd_, 2) >= 0);
    }
    std::string finish()
    {
        std::fflush(stderr);
        dup2(saved_, 2);
        close(saved_);
        close(fd_);
        saved_ = fd_ = -1;
        std::ifstream in(path_);
        std::stringstream ss;
        ss << in.rdbuf();
        unlink(path_.c_str());
        return ss.str();
    }
    ~StderrCapture()
    {
        if (saved_ >= 0)
            finish();
    }

  private:
    int fd_ = -1, saved_ = -1;
    std::string path_;
};

} // namespace

// Twisted: testSwitchDebugging, testNoDebugging
TEST_CASE("Debug mode is off by default and can be switched on and off", "[debug]")
{
    CHECK_FALSE(dfr_debug_enabled());
    dfr_set_debug(true);
    CHECK(dfr_debug_enabled());
    dfr_set_debug(true);
    CHECK(dfr_debug_enabled());
    dfr_set_debug(false);
    CHECK_FALSE(dfr_debug_enabled());
}

// Twisted: testNoDebugging
TEST_CASE("Without debug mode, describe has the essentials and no trace", "[debug]")
{
    dfr_failure *f = dfr_failure_wrap(dfr_failure_new(DOM, 7, "inner cause"), DOM, 8, "outer");
    REQUIRE(f != nullptr);
    std::string s = describe(f);
    CHECK(contains(s, "test"));
    CHECK(contains(s, "7"));
    CHECK(contains(s, "8"));
    CHECK(contains(s, "outer"));
    CHECK(contains(s, "inner cause"));
    CHECK(contains(s, "Caused by"));
    CHECK_FALSE(contains(s, "made at"));
    CHECK_FALSE(contains(s, "passed through"));
    dfr_failure_unref(f);
    CHECK(dfr_failure_describe(nullptr) == nullptr);
}

// Twisted: test_errorLogDebugInfo (creator traces in debug mode)
TEST_CASE("In debug mode describe shows where a failure was made", "[debug]")
{
    dfr_failure *plain = dfr_failure_new(DOM, 1, "boom");
    std::string without = describe(plain);
    dfr_failure *traced;
    {
        DebugMode on(true);
        traced = dfr_failure_new(DOM, 1, "boom");
    }
    std::string with = describe(traced);
    INFO(with);
    CHECK(with.size() > without.size());
    CHECK(contains(with, "boom"));
    CHECK(contains(with, "made at"));
    CHECK(section_lines(with, "made at") >= 1);
    CHECK(contains(with, "#0"));
    // The frames are in this test program (its path or symbols).
    CHECK(contains(with, "test_debug"));
    // Recorded at creation: still shown now that debug mode is off.
    CHECK_FALSE(dfr_debug_enabled());
    CHECK(contains(describe(traced), "made at"));
    dfr_failure_unref(plain);
    dfr_failure_unref(traced);
}

// Twisted: FirstErrorTests (the wrapped failure is shown), in debug mode.
TEST_CASE("In debug mode describe traces every failure of the cause chain", "[debug]")
{
    DebugMode on(true);
    dfr_failure *f = dfr_failure_wrap(dfr_failure_new(DOM, 1, "root cause"), DOM, 2, "wrapper");
    REQUIRE(f != nullptr);
    std::string s = describe(f);
    INFO(s);
    CHECK(contains(s, "root cause"));
    CHECK(contains(s, "wrapper"));
    CHECK(contains(s, "Caused by"));
    CHECK(occurrences(s, "made at") == 2);
    CHECK(s.find("wrapper") < s.find("root cause"));
    dfr_failure_unref(f);
}

// Twisted: test_errorInCallbackCapturesVarsWhenDebugging (the traceback
// shows the callbacks the failure went through).
TEST_CASE("In debug mode a failure lists the callbacks it passed through", "[debug]")
{
    for (bool debug : {false, true}) {
        INFO("debug " << debug);
        DebugMode mode(debug);
        dfr_failure *f = dfr_failure_new(DOM, 3, "travelling");
        dfr_deferred *d = dfr_deferred_new();
        REQUIRE(dfr_deferred_add_errback(d, pass_on, nullptr, nullptr) == 0);
        REQUIRE(dfr_deferred_add_callback(d, swallow, nullptr, nullptr) == 0); // skipped
        REQUIRE(dfr_deferred_add_errback(d, pass_on, nullptr, nullptr) == 0);
        REQUIRE(dfr_deferred_add_errback(d, pass_on, nullptr, nullptr) == 0);
        REQUIRE(dfr_deferred_errback(d, dfr_failure_ref(f)) == 0);
        REQUIRE(dfr_deferred_state(d) == DFR_FAILED);
        std::string s = describe(f);
        INFO(s);
        if (debug) {
            CHECK(contains(s, "passed through"));
            CHECK(section_lines(s, "passed through") == 3);
        } else {
            CHECK_FALSE(contains(s, "passed through"));
        }
        REQUIRE(dfr_deferred_add_errback(d, swallow, nullptr, nullptr) == 0);
        dfr_deferred_unref(d);
        dfr_failure_unref(f);
    }
}

// Twisted: testSwitchDebugging
TEST_CASE("Debug mode switched off again records nothing new", "[debug]")
{
    {
        DebugMode on(true);
        dfr_failure *f = dfr_failure_new(DOM, 1, "on");
        CHECK(contains(describe(f), "made at"));
        dfr_failure_unref(f);
    }
    CHECK_FALSE(dfr_debug_enabled());
    dfr_failure *f = dfr_failure_new(DOM, 1, "off");
    dfr_deferred *d = dfr_deferred_new();
    REQUIRE(dfr_deferred_add_errback(d, pass_on, nullptr, nullptr) == 0);
    REQUIRE(dfr_deferred_errback(d, dfr_failure_ref(f)) == 0);
    std::string s = describe(f);
    CHECK_FALSE(contains(s, "made at"));
    CHECK_FALSE(contains(s, "passed through"));
    REQUIRE(dfr_deferred_add_errback(d, swallow, nullptr, nullptr) == 0);
    dfr_deferred_unref(d);
    dfr_failure_unref(f);
}

// Twisted: test_errbackWithNoArgsNoDebug (library-made failures).
TEST_CASE("Library failures made in debug mode are traced too", "[debug]")
{
    DebugMode on(true);
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_cancel(d);
    const dfr_failure *f = dfr_failure_from(dfr_deferred_result(d));
    REQUIRE(f != nullptr);
    CHECK(dfr_failure_check(f, DFR_DOMAIN, DFR_ECANCELLED));
    std::string s = describe(f);
    INFO(s);
    CHECK(contains(s, "made at"));
    REQUIRE(dfr_deferred_add_errback(d, swallow, nullptr, nullptr) == 0);
    dfr_deferred_unref(d);
}

// Twisted: LogTests (test_errorLog, test_errorLogDebugInfo)
TEST_CASE("The unhandled-error report mentions the failure", "[debug][unhandled]")
{
    SECTION("through the hook")
    {
        test::UnhandledCapture capture;
        dfr_deferred *d = dfr_fail(dfr_failure_new(DOM, 11, "kaboom via hook"));
        REQUIRE(d != nullptr);
        dfr_deferred_unref(d);
        REQUIRE(capture.count() == 1);
        CHECK(capture.messages[0] == "kaboom via hook");
        CHECK(capture.codes[0] == 11);
    }
    SECTION("default report on stderr, debug off")
    {
        StderrCapture cap;
        dfr_deferred *d = dfr_fail(dfr_failure_new(DOM, 12, "kaboom on stderr"));
        dfr_deferred_unref(d);
        std::string text = cap.finish();
        INFO(text);
        CHECK(contains(text, "Unhandled error in Deferred:"));
        CHECK(contains(text, "kaboom on stderr"));
        CHECK_FALSE(contains(text, "made at"));
    }
    SECTION("default report on stderr, debug on")
    {
        DebugMode on(true);
        StderrCapture cap;
        dfr_deferred *d = dfr_deferred_new();
        REQUIRE(dfr_deferred_add_errback(d, pass_on, nullptr, nullptr) == 0);
        REQUIRE(dfr_deferred_errback(d, dfr_failure_new(DOM, 13, "kaboom in debug")) == 0);
        dfr_deferred_unref(d);
        std::string text = cap.finish();
        INFO(text);
        CHECK(contains(text, "Unhandled error in Deferred:"));
        CHECK(contains(text, "kaboom in debug"));
        CHECK(contains(text, "made at"));        // the failure's trace
        CHECK(contains(text, "passed through")); // the errback it went through
        CHECK(contains(text, "Deferred made at")); // where the deferred was made
    }
    SECTION("a handled failure is not reported")
    {
        StderrCapture cap;
        dfr_deferred *d = dfr_fail(dfr_failure_new(DOM, 14, "handled"));
        REQUIRE(dfr_deferred_add_errback(d, swallow, nullptr, nullptr) == 0);
        dfr_deferred_unref(d);
        std::string text = cap.finish();
        CHECK_FALSE(contains(text, "Unhandled error"));
    }
}

namespace {

// Each thread runs `chains` chains failed with f, every chain passing it
// through `errbacks` errbacks and a last one that swallows it (a pass too);
// the threads start together.
void pass_on_threads(dfr_failure *f, int threads, int chains, int errbacks)
{
    std::atomic<int> ready{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; t++)
        ts.emplace_back([&] {
            ready++;
            while (ready.load() < threads) {
            }
            for (int c = 0; c < chains; c++) {
                dfr_deferred *d = dfr_deferred_new();
                for (int e = 0; e < errbacks; e++)
                    dfr_deferred_add_errback(d, pass_on, nullptr, nullptr);
                dfr_deferred_add_errback(d, swallow, nullptr, nullptr);
                dfr_deferred_errback(d, dfr_failure_ref(f));
                dfr_deferred_unref(d);
            }
        });
    for (auto &t : ts)
        t.join();
}

} // namespace

// Failures are immutable to their users and shared across threads; the
// passed-through log is the library's own and must be safe to share too
// (it raced: lost entries, a leaked log, a write past its end).
TEST_CASE("In debug mode a failure shared by chains on several threads logs every pass",
          "[debug][threaded]")
{
    DebugMode on(true);
    const int threads = 4;
    SECTION("threads noting the first pass at once keep one log with every entry")
    {
        for (int round = 0; round < 300; round++) {
            dfr_failure *f = dfr_failure_new(DOM, 20, "shared");
            REQUIRE(f != nullptr);
            pass_on_threads(f, threads, 1, 3);
            std::string s = describe(f);
            INFO(s);
            REQUIRE(section_lines(s, "passed through") == size_t(threads * 4));
            REQUIRE_FALSE(contains(s, "more"));
            dfr_failure_unref(f);
        }
    }
    SECTION("a full log counts every pass beyond it")
    {
        for (int round = 0; round < 50; round++) {
            dfr_failure *f = dfr_failure_new(DOM, 21, "shared");
            REQUIRE(f != nullptr);
            pass_on_threads(f, threads, 20, 4); // 400 passes, 64 logged
            std::string s = describe(f);
            INFO(s);
            REQUIRE(section_lines(s, "passed through") == 65); // 64 and the count
            REQUIRE(contains(s, "... and 336 more"));
            dfr_failure_unref(f);
        }
    }
}

namespace {

void never_called(void *) {}

} // namespace

// common.h: dfr_trim gives back the calling thread's caches only.  It used to
// empty debug mode's process-wide quarantine of freed delayed-call handles,
// and every thread trims at its exit: another thread's late cancel of a
// handle it had just released then touched freed memory.
TEST_CASE("Debug mode: dfr_trim on another thread leaves freed handles poisoned",
          "[debug][threaded]")
{
    DebugMode on(true);
    dfr_reactor *r = test::new_reactor(true);
    REQUIRE(r != nullptr);
    dfr_delayed_call *dc = nullptr;
    REQUIRE(dfr_reactor_call_later(r, 1, never_called, nullptr, nullptr, &dc) == 0);
    REQUIRE(dfr_delayed_call_cancel(dc) == 0);
    long before = test::live_allocations();
    dfr_delayed_call_unref(dc); // freed: kept poisoned
    std::thread([] { dfr_trim(); }).join(); // trims again as it exits
    CHECK(test::live_allocations() == before); // the handle is still kept
    CHECK(dfr_delayed_call_cancel(dc) == DFR_EINVAL);
    CHECK_FALSE(dfr_delayed_call_active(dc));
    dfr_reactor_free(r);
}

// Switching debug mode off is what frees the poisoned handles.
TEST_CASE("Debug mode switched off frees the poisoned handles", "[debug]")
{
    long before = test::live_allocations();
    {
        DebugMode on(true);
        dfr_reactor *r = test::new_reactor(true);
        REQUIRE(r != nullptr);
        dfr_delayed_call *dc = nullptr;
        REQUIRE(dfr_reactor_call_later(r, 1, never_called, nullptr, nullptr, &dc) == 0);
        dfr_delayed_call_unref(dc);
        dfr_reactor_free(r); // cancels the call: its handle is freed now
        CHECK(test::live_allocations() > before);
    }
    CHECK(test::live_allocations() == before);
}
