// Helpers for the stream tests: a real-clock reactor driven by iterate,
// waiting on deferreds, counting open file descriptors.
#pragma once

#include <deferred.h>

#include <catch2/catch.hpp>

#include <dirent.h>
#include <string>
#include <vector>

namespace nettest {

inline int open_fds()
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

struct Reactor {
    dfr_reactor *r;
    Reactor() { r = dfr_reactor_new(nullptr); }
    explicit Reactor(dfr_reactor *x) : r(x) {}
    ~Reactor() { dfr_reactor_free(r); }
    // Iterate until cond() holds; false after `secs` seconds.
    template <class F> bool until(F cond, double secs = 10)
    {
        double end = dfr_reactor_seconds(r) + secs;
        while (!cond()) {
            if (dfr_reactor_seconds(r) > end)
                return false;
            dfr_reactor_iterate(r, 0.01);
        }
        return true;
    }
    // Wait for d and return (a clone of) its result; takes the reference.
    dfr_value wait(dfr_deferred *d, double secs = 10)
    {
        REQUIRE(d != nullptr);
        bool done = until([&] { return dfr_deferred_state(d) != DFR_PENDING; }, secs);
        REQUIRE(done);
        // Take the result out of the chain (a failure is then handled).
        dfr_value v = dfr_none();
        dfr_deferred_add_both(
            d,
            [](dfr_value r, void *out) {
                *static_cast<dfr_value *>(out) = r;
                return dfr_none();
            },
            &v, nullptr);
        dfr_deferred_unref(d);
        return v;
    }
    // A stream from a connect deferred (one reference; REQUIREs success).
    dfr_stream *stream(dfr_deferred *d)
    {
        dfr_value v = wait(d);
        INFO((dfr_is_failure(v) ? dfr_failure_message(dfr_failure_from(&v)) : ""));
        REQUIRE(dfr_stream_from(&v) != nullptr);
        dfr_stream *s = dfr_stream_ref(dfr_stream_from(&v));
        dfr_value_drop(v);
        return s;
    }
    // A client stream connected to 127.0.0.1:port, or to listener l.
    dfr_stream *connect(int port)
    {
        return stream(dfr_reactor_connect_tcp(r, "127.0.0.1", port, nullptr));
    }
    dfr_stream *connect(const dfr_listener *l) { return connect(dfr_listener_port(l)); }
    // Iterate until exactly n streams were accepted into acc; the last one
    // (borrowed: acc holds the reference).
    template <class A> dfr_stream *accepted(A &acc, size_t n = 1)
    {
        REQUIRE(until([&] { return acc.streams.size() == n; }));
        return acc.streams[n - 1];
    }
};

inline std::string str(const dfr_value &v)
{
    return std::string(static_cast<const char *>(dfr_bytes_data(&v)), dfr_bytes_len(&v));
}

// Wait for d (taking it) and check that it fired with bytes reading `want`.
inline void check_text(Reactor &R, dfr_deferred *d, const std::string &want)
{
    dfr_value v = R.wait(d);
    CHECK(str(v) == want);
    dfr_value_drop(v);
}

inline int code(const dfr_value &v)
{
    return dfr_is_failure(v) ? dfr_failure_code(dfr_failure_from(&v)) : 0;
}

// A listener that keeps every accepted stream (references held).
struct Accepted {
    std::vector<dfr_stream *> streams;
    ~Accepted() { clear(); }
    void clear()
    {
        for (auto *s : streams)
            dfr_stream_unref(s);
        streams.clear();
    }
};

inline void keep_accepted(dfr_listener *, dfr_stream *s, void *data)
{
    static_cast<Accepted *>(data)->streams.push_back(dfr_stream_ref(s));
}

// Listen on 127.0.0.1, an ephemeral port; returns the listener.
inline dfr_listener *listen_keep(dfr_reactor *r, Accepted *acc)
{
    dfr_listener *l = nullptr;
    REQUIRE(dfr_reactor_listen_tcp(r, "127.0.0.1", 0, keep_accepted, acc, nullptr, nullptr, &l) ==
            0);
    REQUIRE(dfr_listener_port(l) > 0);
    return l;
}

} // namespace nettest
