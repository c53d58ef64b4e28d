// Hostile programs against the stream API: bad arguments of every kind,
// options structs of every size, and objects freed from inside their own
// callbacks (the reactor from data_received and connection_lost, a stream
// from its own callbacks, a listener from its accept callback).  Each ends
// with no crash, no leak (the runner's check) and no open descriptor.
#include <catch2/catch.hpp>

#include "net/net_support.h"
#include "support.h"

#include <climits>
#include <cstring>
#include <string>
#include <thread>

using nettest::open_fds;
using test::refused_with;

namespace {

int code(const dfr_value &v)
{
    return test::code_of(&v);
}

struct Kept {
    std::vector<dfr_stream *> streams;
    ~Kept()
    {
        for (auto *s : streams)
            dfr_stream_unref(s);
    }
};

void keep_stream(dfr_listener *, dfr_stream *s, void *data)
{
    static_cast<Kept *>(data)->streams.push_back(dfr_stream_ref(s));
}

} // namespace

TEST_CASE("misuse: every bad argument of the stream API")
{
    // libuv opens its process-wide signal pipe with the first loop: count
    // descriptors from after that.
    dfr_reactor_free(dfr_reactor_new(nullptr));
    int fds = open_fds();
    {
        nettest::Reactor R;
        int destroyed = 0;
        for (int port : {-1, 0, 65536, INT_MAX, INT_MIN}) {
            dfr_value v = R.wait(dfr_reactor_connect_tcp(R.r, "127.0.0.1", port, nullptr));
            CHECK(code(v) == DFR_EINVAL);
            dfr_value_drop(v);
        }
        dfr_value v = R.wait(dfr_reactor_connect_tcp(R.r, nullptr, 80, nullptr));
        CHECK(code(v) == DFR_EINVAL);
        dfr_value_drop(v);
        v = R.wait(dfr_reactor_connect_tcp(R.r, "", 80, nullptr));
        CHECK(dfr_is_failure(v));
        dfr_value_drop(v);
        std::string long_path(300, 'x');
        v = R.wait(dfr_reactor_connect_unix(R.r, long_path.c_str(), nullptr));
        CHECK(dfr_is_failure(v));
        dfr_value_drop(v);
        v = R.wait(dfr_reactor_connect_unix(R.r, "", nullptr));
        CHECK(dfr_is_failure(v));
        dfr_value_drop(v);
        // Options: size 0 is bad input; a larger struct's tail is ignored;
        // an unknown family is bad input.
        dfr_connect_options co = {};
        co.size = 0;
        v = R.wait(dfr_reactor_connect_tcp(R.r, "127.0.0.1", 1, &co));
        CHECK(code(v) == DFR_EINVAL);
        dfr_value_drop(v);
        co.size = sizeof co;
        co.family = 5;
        v = R.wait(dfr_reactor_connect_tcp(R.r, "127.0.0.1", 1, &co));
        CHECK(code(v) == DFR_EINVAL);
        dfr_value_drop(v);

        dfr_listener *l = nullptr;
        for (int port : {-1, 65536, INT_MIN}) {
            CHECK(dfr_reactor_listen_tcp(R.r, "127.0.0.1", port, keep_stream, &destroyed,
                                         test::count_destroy, nullptr, &l) == DFR_EINVAL);
            CHECK(l == nullptr);
        }
        CHECK(dfr_reactor_listen_tcp(R.r, "127.0.0.1", 0, nullptr, &destroyed,
                                     test::count_destroy, nullptr, &l) == DFR_EINVAL);
        CHECK(dfr_reactor_listen_tcp(R.r, "127.0.0.1", 0, keep_stream, &destroyed,
                                     test::count_destroy, nullptr, nullptr) == DFR_EINVAL);
        CHECK(dfr_reactor_listen_tcp(nullptr, "127.0.0.1", 0, keep_stream, &destroyed,
                                     test::count_destroy, nullptr, &l) == DFR_EINVAL);
        dfr_listen_options lo = {};
        lo.size = 1;
        CHECK(dfr_reactor_listen_tcp(R.r, "127.0.0.1", 0, keep_stream, &destroyed,
                                     test::count_destroy, &lo, &l) == DFR_EINVAL);
        lo.size = sizeof lo;
        lo.backlog = -5;
        int rc = dfr_reactor_listen_tcp(R.r, "127.0.0.1", 0, keep_stream, &destroyed,
                                        test::count_destroy, &lo, &l);
        CHECK((rc == 0 || rc == DFR_EINVAL));
        if (rc == 0) {
            dfr_value_drop(R.wait(dfr_listener_stop(l)));
            dfr_listener_unref(l);
            l = nullptr;
        }
        CHECK(dfr_reactor_listen_unix(R.r, long_path.c_str(), keep_stream, &destroyed,
                                      test::count_destroy, nullptr, &l) != 0);
        CHECK(dfr_reactor_listen_unix(R.r, nullptr, keep_stream, &destroyed, test::count_destroy,
                                      nullptr, &l) == DFR_EINVAL);
        CHECK(dfr_reactor_listen_unix(R.r, "", keep_stream, &destroyed, test::count_destroy,
                                      nullptr, &l) != 0);
        CHECK(destroyed == 11);
        CHECK(l == nullptr);

        // A real connection for the stream calls.
        Kept acc;
        REQUIRE(dfr_reactor_listen_tcp(R.r, "127.0.0.1", 0, keep_stream, &acc, nullptr, nullptr,
                                       &l) == 0);
        dfr_stream *c = R.connect(l);
        REQUIRE(R.until([&] { return acc.streams.size() == 1; }));
        dfr_protocol p = {};
        p.size = 0;
        CHECK(dfr_stream_set_protocol(c, &p, &destroyed, test::count_destroy) == DFR_EINVAL);
        CHECK(dfr_stream_set_protocol(c, nullptr, &destroyed, test::count_destroy) ==
              DFR_EINVAL);
        CHECK(dfr_stream_set_protocol(nullptr, &p, &destroyed, test::count_destroy) ==
              DFR_EINVAL);
        dfr_framed_protocol fp = {};
        fp.size = sizeof fp;
        fp.framing = 3;
        CHECK(dfr_stream_set_framed_protocol(c, &fp, &destroyed, test::count_destroy) ==
              DFR_EINVAL);
        fp.framing = 0;
        CHECK(dfr_stream_set_framed_protocol(c, &fp, &destroyed, test::count_destroy) ==
              DFR_EINVAL);
        fp.size = 0;
        fp.framing = DFR_FRAMING_LINES;
        CHECK(dfr_stream_set_framed_protocol(c, &fp, &destroyed, test::count_destroy) ==
              DFR_EINVAL);
        CHECK(destroyed == 17);
        CHECK(refused_with(dfr_stream_read_until(c, nullptr, 1, 0), DFR_EINVAL));
        CHECK(refused_with(dfr_stream_read_until(c, "\n", 0, 0), DFR_EINVAL));
        CHECK(refused_with(dfr_stream_read_until(c, "123456789", 9, 0), DFR_EINVAL));
        CHECK(refused_with(dfr_stream_read_exactly(c, 0), DFR_EINVAL));
        CHECK(dfr_stream_set_watermarks(c, 10, 20) == DFR_EINVAL);
        CHECK(dfr_stream_set_watermarks(c, SIZE_MAX, 0) == 0);
        CHECK(dfr_stream_write(c, nullptr, 5) == DFR_EINVAL);
        CHECK(dfr_stream_write(c, nullptr, 0) == 0);
        CHECK(dfr_stream_write(c, "x", 0) == 0);
        CHECK(dfr_stream_write_owned(c, nullptr, 5, nullptr) == DFR_EINVAL);
        CHECK(dfr_stream_write_netstring(c, nullptr, 5) == DFR_EINVAL);
        CHECK(dfr_stream_write_netstring(c, nullptr, 0) == 0);
        // One pull read at a time; a push protocol after a pull read is refused.
        dfr_deferred *rd = dfr_stream_read(acc.streams[0], 0);
        CHECK(refused_with(dfr_stream_read(acc.streams[0], 0), DFR_EINVAL));
        dfr_protocol ok = {};
        ok.size = sizeof ok;
        CHECK(dfr_stream_set_protocol(acc.streams[0], &ok, &destroyed, test::count_destroy) ==
              DFR_EINVAL);
        CHECK(destroyed == 18);
        dfr_value got = R.wait(rd);
        CHECK(nettest::str(got) == "0:,");
        dfr_value_drop(got);
        // NULL everywhere else.
        CHECK(dfr_stream_pause_reading(nullptr) == DFR_EINVAL);
        CHECK(dfr_stream_resume_reading(nullptr) == DFR_EINVAL);
        CHECK(dfr_stream_close(nullptr) == DFR_EINVAL);
        CHECK(dfr_stream_close_write(nullptr) == DFR_EINVAL);
        CHECK(dfr_stream_abort(nullptr) == DFR_EINVAL);
        CHECK_FALSE(dfr_stream_is_open(nullptr));
        CHECK(dfr_stream_reason(nullptr) == nullptr);
        CHECK(dfr_stream_write_buffered(nullptr) == 0);
        CHECK(dfr_stream_set_watermarks(nullptr, 1, 1) == DFR_EINVAL);
        CHECK(dfr_stream_from(nullptr) == nullptr);
        CHECK(dfr_stream_ref(nullptr) == nullptr);
        dfr_stream_unref(nullptr);
        dfr_listener_unref(nullptr);
        CHECK(dfr_listener_ref(nullptr) == nullptr);
        CHECK(refused_with(dfr_stream_read_line(nullptr, 0), DFR_EINVAL));
        CHECK(refused_with(dfr_stream_read_netstring(nullptr, 0), DFR_EINVAL));
        CHECK(refused_with(dfr_stream_read_to_eof(nullptr, 0), DFR_EINVAL));
        CHECK(refused_with(dfr_stream_read_exactly(nullptr, 1), DFR_EINVAL));
        // Calls on a closed stream: close and abort are idempotent.
        CHECK(dfr_stream_abort(c) == 0);
        CHECK(dfr_stream_abort(c) == 0);
        CHECK(dfr_stream_close(c) == 0);
        CHECK(dfr_stream_write(c, "x", 1) == DFR_ECONNLOST);
        CHECK(dfr_stream_write_owned(c, nullptr, 0, nullptr) != 0);
        dfr_failure *why = dfr_stream_reason(c);
        CHECK(why != nullptr);
        dfr_failure_unref(why);
        dfr_value_drop(R.wait(dfr_stream_read(c, 0)));
        dfr_stream_unref(c);
        dfr_value_drop(R.wait(dfr_listener_stop(l)));
        dfr_value_drop(R.wait(dfr_listener_stop(l)));
        dfr_listener_unref(l);
    }
    CHECK(open_fds() == fds);
}

// ------------------------------------------------ freed from inside

namespace {

struct Inside {
    dfr_reactor *r = nullptr;
    dfr_listener *l = nullptr;
    int made = 0, data = 0, lost = 0, destroyed = 0, accepted = 0;
    int mode = 0;
};

void in_made(dfr_stream *s, void *data)
{
    auto *in = static_cast<Inside *>(data);
    in->made++;
    if (in->mode == 3)
        dfr_stream_close(s); // close from connection_made
}

void in_data(dfr_stream *s, const void *, size_t, void *data)
{
    auto *in = static_cast<Inside *>(data);
    in->data++;
    if (in->mode == 0 && in->data == 1)
        dfr_reactor_free(in->r); // freed when the iterate returns
    if (in->mode == 2 && in->data == 1) {
        dfr_stream_abort(s);
        dfr_stream_write(s, "late", 4);
    }
}

void in_lost(dfr_stream *s, const dfr_failure *, void *data)
{
    auto *in = static_cast<Inside *>(data);
    in->lost++;
    if (in->mode == 1)
        dfr_reactor_free(in->r);
    // Calls on the stream from its last callback answer, never crash.
    dfr_stream_write(s, "x", 1);
    dfr_stream_close(s);
}

void in_destroy(void *data)
{
    static_cast<Inside *>(data)->destroyed++;
}

void in_accept(dfr_listener *l, dfr_stream *s, void *data)
{
    auto *in = static_cast<Inside *>(data);
    in->accepted++;
    dfr_protocol p = {};
    p.size = sizeof p;
    p.connection_made = in_made;
    p.data_received = in_data;
    p.connection_lost = in_lost;
    dfr_stream_set_protocol(s, &p, in, in_destroy);
    if (in->mode == 4) {
        // The listener's last reference dropped from its own accept callback.
        dfr_listener_unref(l);
        in->l = nullptr;
    }
}

} // namespace

TEST_CASE("misuse: the reactor, a stream or a listener freed from their own callbacks")
{
    int fds = open_fds();
    for (int mode = 0; mode <= 4; mode++) {
        INFO("mode " << mode);
        Inside in;
        in.mode = mode;
        in.r = dfr_reactor_new(nullptr);
        REQUIRE(dfr_reactor_listen_tcp(in.r, "127.0.0.1", 0, in_accept, &in, nullptr, nullptr,
                                       &in.l) == 0);
        int port = dfr_listener_port(in.l);
        dfr_deferred *cd = dfr_reactor_connect_tcp(in.r, "127.0.0.1", port, nullptr);
        dfr_stream *c = nullptr;
        dfr_deferred_add_callback(cd, [](dfr_value v, void *data) {
            *static_cast<dfr_stream **>(data) = dfr_stream_ref(dfr_stream_from(&v));
            return v;
        }, &c, nullptr);
        bool freed = false;
        for (int i = 0; i < 500 && !freed; i++) {
            if (c && in.accepted && in.data == 0 && mode != 3)
                dfr_stream_write(c, "hello", 5);
            if (c && in.accepted && (mode == 1 || mode == 4) && in.data > 0 && in.lost == 0)
                dfr_stream_close(c);
            dfr_reactor_iterate(in.r, 0.01);
            if ((mode == 0 && in.data > 0) || (mode == 1 && in.lost > 0))
                freed = true; // r is gone
            if (mode >= 2 && in.lost > 0)
                break;
        }
        CHECK(in.accepted == 1);
        if (mode == 0 || mode == 1)
            CHECK(freed);
        else
            CHECK(in.lost == 1);
        dfr_stream_unref(c);
        dfr_deferred_unref(cd);
        dfr_listener_unref(in.l);
        if (!freed)
            dfr_reactor_free(in.r);
        CHECK(in.destroyed == 1);
        CHECK(in.made == 1);
    }
    CHECK(open_fds() == fds);
}

// Handles outlive their reactor (reactor.h, "Lifetimes").  Streams and
// listeners kept after dfr_reactor_free used to read the freed reactor on
// every call (the owner check), unref included.
TEST_CASE("misuse: streams and a listener kept after the reactor is freed")
{
    dfr_reactor_free(dfr_reactor_new(nullptr)); // libuv's signal pipe, see above
    int fds = open_fds();
    for (int other_thread = 0; other_thread <= 1; other_thread++) {
        dfr_reactor *r = dfr_reactor_new(nullptr);
        Kept acc;
        dfr_listener *l = nullptr;
        REQUIRE(dfr_reactor_listen_tcp(r, "127.0.0.1", 0, keep_stream, &acc, nullptr, nullptr,
                                       &l) == 0);
        nettest::Reactor R(r);
        dfr_stream *c = R.connect(l);
        REQUIRE(R.until([&] { return acc.streams.size() == 1; }));
        // One closed before the free, one open at the free, one with a read
        // pending and a written deferred.
        dfr_stream *a = acc.streams[0];
        dfr_deferred *rd = dfr_stream_read(a, 0);
        dfr_deferred *wr = dfr_stream_written(c);
        dfr_stream *closed_early = R.connect(l);
        REQUIRE(dfr_stream_abort(closed_early) == 0);
        REQUIRE(R.until([&] { return !dfr_stream_is_open(closed_early); }));
        R.r = nullptr;
        dfr_reactor_free(r);
        CHECK(dfr_deferred_state(rd) == DFR_FAILED);
        dfr_value_drop(R.wait(rd));
        dfr_value_drop(R.wait(wr));
        auto use = [&](dfr_stream *s) {
            CHECK_FALSE(dfr_stream_is_open(s));
            CHECK(dfr_stream_write(s, "x", 1) == DFR_ECONNLOST);
            CHECK(dfr_stream_write_owned(s, nullptr, 0, nullptr) == DFR_ECONNLOST);
            CHECK(dfr_stream_write_netstring(s, "x", 1) == DFR_ECONNLOST);
            CHECK(dfr_stream_close(s) == 0);
            CHECK(dfr_stream_abort(s) == 0);
            CHECK(dfr_stream_close_write(s) == DFR_ECONNLOST);
            CHECK(dfr_stream_pause_reading(s) == DFR_ECONNLOST);
            CHECK(dfr_stream_resume_reading(s) == DFR_ECONNLOST);
            dfr_protocol p = {};
            p.size = sizeof p;
            int destroyed = 0;
            CHECK(dfr_stream_set_protocol(s, &p, &destroyed, test::count_destroy) ==
                  DFR_ECONNLOST);
            CHECK(destroyed == 1);
            dfr_failure *why = dfr_stream_reason(s);
            CHECK(why != nullptr);
            dfr_failure_unref(why);
            for (dfr_deferred *d : {dfr_stream_read(s, 0), dfr_stream_read_exactly(s, 2),
                                    dfr_stream_read_until(s, "\n", 1, 0),
                                    dfr_stream_read_line(s, 0), dfr_stream_read_netstring(s, 0),
                                    dfr_stream_read_to_eof(s, 0), dfr_stream_wait_writable(s)}) {
                REQUIRE(d);
                CHECK(dfr_deferred_state(d) == DFR_FAILED);
                dfr_deferred_add_errback(d, test::swallow, nullptr, nullptr);
                dfr_deferred_unref(d);
            }
            dfr_deferred *w = dfr_stream_written(s);
            CHECK(dfr_deferred_state(w) != DFR_PENDING);
            dfr_deferred_add_errback(w, test::swallow, nullptr, nullptr);
            dfr_deferred_unref(w);
        };
        auto drop_all = [&] {
            for (dfr_stream *s : {c, a, closed_early})
                use(s);
            CHECK(dfr_listener_port(l) == DFR_ECONNLOST);
            dfr_deferred *st = dfr_listener_stop(l);
            CHECK(dfr_deferred_state(st) == DFR_SUCCEEDED);
            dfr_deferred_unref(st);
            dfr_stream_unref(c);
            dfr_stream_unref(closed_early);
            for (dfr_stream *s : acc.streams) // a, and the far end of closed_early
                dfr_stream_unref(s);
            acc.streams.clear();
            dfr_listener_unref(l);
        };
        if (other_thread) {
            std::thread t(drop_all);
            t.join();
        } else {
            drop_all();
        }
    }
    CHECK(open_fds() == fds);
}
