// Shared test support: the counting allocator installed by tests/main.cpp,
// allocation-failure injection, unhandled-error capture, and small
// callbacks the test files share.
//
// "S01".."S56" in test names, tags ([S40]) and comments number the Twisted
// behaviours the tests port; each test names the Twisted test it follows
// (twisted/test/test_defer.py, test_task.py, ...), which is the reference.
#pragma once

#include <deferred.h>

#include <atomic>
#include <cstddef>
#include <string>
#include <vector>

namespace test {

// Allocations made through the library's allocator hook since start.
size_t alloc_count();
// Live (not yet freed) allocations right now.
long live_allocations();
// Make the k-th allocation from now fail (1 = the next one); 0 disables.
void fail_allocation_at(long k);
// Whether an injected failure has happened since the last fail_allocation_at.
bool allocation_failed();

// Runs `step(k)` for k = 1, 2, ... with the k-th allocation failing, until a
// run completes without an injected failure.  Checks that nothing leaks in
// each run.  Returns the number of runs.
template <class F> int for_each_allocation_failure(F step);

// Captures unhandled-error reports while alive (restores the default hook).
struct UnhandledCapture {
    UnhandledCapture();
    ~UnhandledCapture();
    int count() const { return static_cast<int>(messages.size()); }
    std::vector<std::string> messages; // dfr_failure_message of each report
    std::vector<int> codes;
};

// A destroy function that increments the int pointed to by data.
void count_destroy(void *data);

// An errback (or callback) that handles its result: drops it, returns none.
inline dfr_value swallow(dfr_value r, void *)
{
    dfr_value_drop(r);
    return dfr_none();
}

// A user type whose drops are counted in test::drops (holds a new int).
inline int drops;
inline void count_drop(void *p)
{
    drops++;
    delete static_cast<int *>(p);
}
inline const dfr_type counted = {sizeof(dfr_type), "counted", count_drop, nullptr};
inline dfr_value counted_value(int x) { return dfr_obj(&counted, new int(x)); }

// The code of a failure value; 0 for any other value or NULL.
inline int code_of(const dfr_value *v)
{
    const dfr_failure *f = v ? dfr_failure_from(v) : nullptr;
    return f ? dfr_failure_code(f) : 0;
}

// The code of d's failure result; 0 while pending or for a success.
inline int result_code(const dfr_deferred *d)
{
    return code_of(dfr_deferred_result(d));
}

inline bool is_i64(const dfr_value *v, int64_t x)
{
    return v && dfr_is_i64(*v) && v->u.i64 == x;
}

// Owns every value it was handed (by keep).
struct Seen {
    std::vector<dfr_value> values;
    Seen() = default;
    Seen(const Seen &) = delete;
    Seen &operator=(const Seen &) = delete;
    ~Seen() { clear(); }
    void clear()
    {
        for (auto &v : values)
            dfr_value_drop(v);
        values.clear();
    }
    size_t size() const { return values.size(); }
    const dfr_value *at(size_t i) const { return &values.at(i); }
};

// Keeps the result in the Seen at data; the chain continues with none.
inline dfr_value keep(dfr_value r, void *data)
{
    static_cast<Seen *>(data)->values.push_back(r);
    return dfr_none();
}

// Counts its calls (data: int*) and passes the result on.
inline dfr_value count_pass(dfr_value r, void *data)
{
    ++*static_cast<int *>(data);
    return r;
}

// A callback that must never run: counts (data: int*) and passes on.
inline dfr_value must_not_run(dfr_value v, void *data)
{
    ++*static_cast<int *>(data);
    return v;
}

// A callback returning the deferred in data (a new reference).
inline dfr_value return_deferred(dfr_value v, void *data)
{
    dfr_value_drop(v);
    return dfr_value_deferred(dfr_deferred_ref(static_cast<dfr_deferred *>(data)));
}

// Debug mode on (or as given) for a scope; off again at its end.
struct DebugMode {
    explicit DebugMode(bool on = true) { dfr_set_debug(on); }
    ~DebugMode() { dfr_set_debug(false); }
};

// Run `op` with the k-th allocation from now failing; whether it did fail.
template <class F> bool inject(long k, F op)
{
    fail_allocation_at(k);
    op();
    bool failed = allocation_failed();
    fail_allocation_at(0);
    return failed;
}

// dfr_failure_describe's text (REQUIREs it).
inline std::string describe(const dfr_failure *f);

// Whether d (a refused call's deferred) already failed with the library's
// `code`; handles the failure and releases d in every case.
inline bool refused_with(dfr_deferred *d, int code)
{
    if (!d)
        return false;
    const dfr_value *v = dfr_deferred_result(d);
    bool ok = v && dfr_is_failure(*v) &&
              dfr_failure_check(static_cast<const dfr_failure *>(v->u.ptr), DFR_DOMAIN, code);
    dfr_deferred_add_errback(d, swallow, nullptr, nullptr);
    dfr_deferred_unref(d);
    return ok;
}

} // namespace test

#include "support_impl.h"
