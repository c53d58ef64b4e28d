// A manual-clock reactor for timing tests, freed at scope end.
#pragma once

#include <deferred.h>

#include <string>
#include <vector>

namespace test {

struct Clock {
    dfr_reactor *r;
    Clock()
    {
        dfr_reactor_options o = {};
        o.size = sizeof o;
        o.manual_clock = true;
        r = dfr_reactor_new(&o);
    }
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
