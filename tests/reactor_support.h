// Reactors for tests: a manual-clock one for timing tests and a real-clock
// one for thread tests, each freed at scope end.
#pragma once

#include <deferred.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace test {

// A new reactor with the manual clock or the real one (NULL on OOM).
inline dfr_reactor *new_reactor(bool manual_clock)
{
    dfr_reactor_options o = {};
    o.size = sizeof o;
    o.manual_clock = manual_clock;
    return dfr_reactor_new(&o);
}

// A real-clock reactor freed when the scope ends.  Declare it after the data
// its callbacks use (freeing delivers finished pool results) and before
// anything joining threads (threads are joined first).
struct Reactor {
    dfr_reactor *r;
    Reactor() : r(dfr_reactor_new(nullptr)) { REQUIRE(r != nullptr); }
    Reactor(const Reactor &) = delete;
    Reactor &operator=(const Reactor &) = delete;
    ~Reactor() { dfr_reactor_free(r); }
};

// Iterate a reactor that is not running until done() holds; false after
// `limit` seconds.
template <class Done> bool iterate_until(dfr_reactor *r, Done done, double limit = 20.0)
{
    auto end = std::chrono::steady_clock::now() +
               std::chrono::milliseconds(static_cast<long>(limit * 1000));
    while (!done()) {
        if (std::chrono::steady_clock::now() > end)
            return false;
        REQUIRE(dfr_reactor_iterate(r, 0.02) == 0);
    }
    return true;
}

struct Clock {
    dfr_reactor *r;
    Clock() : r(new_reactor(true)) {}
    ~Clock() { dfr_reactor_free(r); }
    void advance(double s) { dfr_reactor_advance(r, s); }
    void pump(std::initializer_list<double> steps)
    {
        for (double s : steps)
            advance(s);
    }
};

// A call that appends its name to a log.
struct Log {
    std::vector<std::string> seen;
};

struct Named {
    Log *log;
    std::string name;
};

inline void append_name(void *data)
{
    auto *n = static_cast<Named *>(data);
    n->log->seen.push_back(n->name);
}

} // namespace test
