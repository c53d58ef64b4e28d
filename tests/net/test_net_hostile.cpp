// Streams under stress: flow control, framing limits, cancellation,
// hostile peers, many connections, out of memory, reactor shutdown.
#include "net_support.h"
#include "support.h"

#include <algorithm>
#include <arpa/inet.h>
#include <csignal>
#include <cstring>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

using namespace nettest;

// A plain blocking socket connected to 127.0.0.1:port: a peer that is not
// this library, free to misbehave.
static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0);
    return fd;
}

static void raw_reset(int fd)
{
    linger lg = {1, 0}; // close sends RST
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

struct Lost {
    int lost = 0, code = 0;
    size_t bytes = 0;
    int full = 0, drained = 0;
};

static dfr_protocol lost_protocol()
{
    dfr_protocol p = {};
    p.size = sizeof p;
    p.data_received = [](dfr_stream *, const void *, size_t n, void *d) {
        static_cast<Lost *>(d)->bytes += n;
    };
    p.connection_lost = [](dfr_stream *, const dfr_failure *f, void *d) {
        static_cast<Lost *>(d)->lost++;
        static_cast<Lost *>(d)->code = dfr_failure_code(f);
    };
    p.write_full = [](dfr_stream *, void *d) { static_cast<Lost *>(d)->full++; };
    p.write_drained = [](dfr_stream *, void *d) { static_cast<Lost *>(d)->drained++; };
    return p;
}

// ---- flow control ----

struct Writer {
    dfr_stream *s;
    size_t total, chunk, sent = 0, peak = 0;
};

static dfr_value write_all(void *data)
{
    auto *w = static_cast<Writer *>(data);
    std::vector<char> buf(w->chunk, 'z');
    while (w->sent < w->total) {
        dfr_value v = dfr_await(dfr_stream_wait_writable(w->s));
        if (dfr_is_failure(v))
            return v;
        if (dfr_stream_write(w->s, buf.data(), w->chunk) != 0)
            return dfr_i64(-1);
        w->sent += w->chunk;
        w->peak = std::max(w->peak, dfr_stream_write_buffered(w->s));
    }
    return dfr_await(dfr_stream_written(w->s));
}

TEST_CASE("64 MiB to a peer that reads late: the writer waits, the buffer stays bounded")
{
    Reactor R;
    Accepted acc;
    dfr_listener *l = listen_keep(R.r, &acc);
    dfr_stream *c = R.connect(l);
    R.accepted(acc);
    Lost reader;
    dfr_protocol p = lost_protocol();
    dfr_stream *s = acc.streams[0];
    REQUIRE(dfr_stream_set_protocol(s, &p, &reader, nullptr) == 0);
    REQUIRE(dfr_stream_pause_reading(s) == 0);

    const size_t high = 256 * 1024, chunk = 64 * 1024;
    REQUIRE(dfr_stream_set_watermarks(c, high, high / 4) == 0);
    CHECK(dfr_stream_set_watermarks(c, 1, 2) == DFR_EINVAL);
    Writer w{c, (RUNNING_ON_VALGRIND ? 24 : 64) * (size_t)1024 * 1024, chunk};
    dfr_deferred *done = dfr_inline_callbacks(write_all, &w, nullptr);
    for (int i = 0; i < 20; i++)
        dfr_reactor_iterate(R.r, 0.005);
    CHECK(w.sent < w.total); // stalled by the peer
    CHECK(dfr_deferred_state(done) == DFR_PENDING);
    REQUIRE(dfr_stream_resume_reading(s) == 0);
    dfr_value v = R.wait(done, 60);
    CHECK(dfr_is_none(v));
    REQUIRE(R.until([&] { return reader.bytes == w.total; }, 60));
    CHECK(w.peak <= high + chunk);
    dfr_stream_unref(c);
    dfr_listener_unref(l);
}

TEST_CASE("the write watermarks call write_full and write_drained")
{
    Reactor R;
    Accepted acc;
    dfr_listener *l = listen_keep(R.r, &acc);
    dfr_stream *c = R.connect(l);
    Lost ev;
    dfr_protocol p = lost_protocol();
    REQUIRE(dfr_stream_set_protocol(c, &p, &ev, nullptr) == 0);
    R.accepted(acc);
    // Nobody reads at the other end: the kernel's buffers fill, then ours.
    std::vector<char> buf(1024 * 1024, 'q');
    size_t sent = 0;
    for (int i = 0; i < 64 && ev.full == 0; i++) {
        REQUIRE(dfr_stream_write(c, buf.data(), buf.size()) == 0);
        sent += buf.size();
    }
    CHECK(ev.full == 1);
    size_t pending = dfr_stream_write_buffered(c);
    CHECK(pending > 64 * 1024);
    dfr_value v = R.wait(dfr_stream_read_exactly(acc.streams[0], sent), 30);
    CHECK(dfr_bytes_len(&v) == sent);
    dfr_value_drop(v);
    REQUIRE(R.until([&] { return ev.drained == 1; }));
    dfr_stream_unref(c);
    dfr_listener_unref(l);
}

// ---- framing limits ----

TEST_CASE("an over-long line or a malformed netstring closes that connection only")
{
    Reactor R;
    Accepted acc;
    dfr_listener *l = listen_keep(R.r, &acc);
    int port = dfr_listener_port(l);
    dfr_stream *flood = R.connect(port);
    dfr_stream *bad = R.connect(port);
    dfr_stream *good = R.connect(port);
    R.accepted(acc, 3);
    std::string big(100000, 'a');
    REQUIRE(dfr_stream_write(flood, big.data(), big.size()) == 0);
    REQUIRE(dfr_stream_write(bad, "12x:abc,", 8) == 0);
    REQUIRE(dfr_stream_write(good, "3:abc,", 6) == 0);

    dfr_value v = R.wait(dfr_stream_read_line(acc.streams[0], 1024));
    CHECK(code(v) == DFR_EFRAME);
    dfr_value_drop(v);
    v = R.wait(dfr_stream_read_netstring(acc.streams[1], 0));
    CHECK(code(v) == DFR_EFRAME);
    dfr_value_drop(v);
    check_text(R, dfr_stream_read_netstring(acc.streams[2], 0), "abc");
    // The offenders' connections are closed, with the framing reason.
    REQUIRE(R.until([&] { return !dfr_stream_is_open(acc.streams[0]) &&
                                 !dfr_stream_is_open(acc.streams[1]); }));
    dfr_failure *why = dfr_stream_reason(acc.streams[0]);
    CHECK(dfr_failure_code(why) == DFR_EFRAME);
    dfr_failure_unref(why);
    v = R.wait(dfr_stream_read(flood, 0));
    CHECK(((dfr_is_bytes(v) && dfr_bytes_len(&v) == 0) || code(v) == DFR_ECONNRESET));
    dfr_value_drop(v);
    CHECK(dfr_stream_is_open(acc.streams[2]));

    // A netstring over its maximum, and "read until" over its maximum.
    REQUIRE(dfr_stream_write(good, "11:hello world,", 15) == 0);
    v = R.wait(dfr_stream_read_netstring(acc.streams[2], 10));
    CHECK(code(v) == DFR_EFRAME);
    dfr_value_drop(v);
    dfr_stream_unref(flood);
    dfr_stream_unref(bad);
    dfr_stream_unref(good);
    dfr_listener_unref(l);
}

TEST_CASE("netstring decoding: leading zeros, missing comma, split frames")
{
    Reactor R;
    Accepted acc;
    dfr_listener *l = listen_keep(R.r, &acc);
    int port = dfr_listener_port(l);
    const char *bad[] = {"01:a,", "3:abc;", ":abc,"};
    for (const char *b : bad) {
        dfr_stream *c = R.connect(port);
        R.accepted(acc);
        REQUIRE(dfr_stream_write(c, b, strlen(b)) == 0);
        dfr_value v = R.wait(dfr_stream_read_netstring(acc.streams[0], 0));
        INFO(b);
        CHECK(code(v) == DFR_EFRAME);
        dfr_value_drop(v);
        dfr_stream_unref(c);
        acc.clear();
    }
    dfr_stream *c = R.connect(port);
    R.accepted(acc);
    REQUIRE(dfr_stream_write_netstring(c, "split", 5) == 0);
    dfr_deferred *d = dfr_stream_read_netstring(acc.streams[0], 0);
    check_text(R, d, "split");
    dfr_stream_unref(c);
    dfr_listener_unref(l);
}

// SIZE_MAX is the natural "no limit" (0 means the default): nothing may wrap.
// Before the fix, a line's "max + 1" wrapped to 0, so any line still waiting
// for its newline was refused, and a netstring length past size_t wrapped to a
// small one and was read as that.
TEST_CASE("framing with a maximum of SIZE_MAX: nothing wraps around")
{
    Reactor R;
    Accepted acc;
    dfr_listener *l = listen_keep(R.r, &acc);
    dfr_stream *c = R.connect(dfr_listener_port(l));
    R.accepted(acc);
    dfr_stream *s = acc.streams[0];
    dfr_deferred *d = dfr_stream_read_line(s, SIZE_MAX);
    REQUIRE(dfr_stream_write(c, "no limit", 8) == 0);
    // The first part has arrived and is buffered: the line waits for its end.
    CHECK_FALSE(R.until([&] { return dfr_deferred_state(d) != DFR_PENDING; }, 0.2));
    REQUIRE(dfr_stream_write(c, " here\r\n2:ok,", 12) == 0);
    check_text(R, d, "no limit here");

    check_text(R, dfr_stream_read_netstring(s, SIZE_MAX), "ok"); // the largest allowed
    dfr_stream_unref(c);
    acc.clear();

    // 2^64 + 1: past size_t, so malformed here (it must not read as 1).
    c = R.connect(dfr_listener_port(l));
    R.accepted(acc);
    const char *huge = "18446744073709551617:a,";
    REQUIRE(dfr_stream_write(c, huge, strlen(huge)) == 0);
    dfr_value v = R.wait(dfr_stream_read_netstring(acc.streams[0], SIZE_MAX));
    CHECK(code(v) == DFR_EFRAME);
    dfr_value_drop(v);
    dfr_stream_unref(c);
    dfr_listener_unref(l);
}

// ---- cancellation and timeouts ----

TEST_CASE("cancelling a connect aborts it; nothing is left open")
{
    Reactor R;
    Accepted acc;
    dfr_listener *l = listen_keep(R.r, &acc);
    int fds = open_fds();
    dfr_deferred *d = dfr_reactor_connect_tcp(R.r, "127.0.0.1", dfr_listener_port(l), nullptr);
    dfr_deferred_cancel(d);
    dfr_value v = R.wait(d);
    CHECK(code(v) == DFR_ECANCELLED);
    dfr_value_drop(v);
    // While resolving too.
    d = dfr_reactor_connect_tcp(R.r, "localhost", dfr_listener_port(l), nullptr);
    dfr_deferred_cancel(d);
    v = R.wait(d);
    CHECK(code(v) == DFR_ECANCELLED);
    dfr_value_drop(v);
    // With a timeout that fires before the (never run) loop connects.
    d = dfr_reactor_connect_tcp(R.r, "127.0.0.1", dfr_listener_port(l), nullptr);
    REQUIRE(dfr_deferred_add_timeout(d, R.r, 0) == 0);
    v = R.wait(d);
    CHECK((code(v) == DFR_ETIMEDOUT || dfr_stream_from(&v)));
    dfr_value_drop(v);
    // Connections the kernel completed before the cancel are accepted and
    // dropped; then the count is back.
    CHECK(R.until([&] {
        acc.clear();
        return open_fds() == fds;
    }));
    dfr_listener_unref(l);
}

// ---- hostile peers ----

TEST_CASE("a peer that resets mid-write: ECONNRESET, no SIGPIPE, others unharmed")
{
    Reactor R;
    Accepted acc;
    dfr_listener *l = listen_keep(R.r, &acc);
    int port = dfr_listener_port(l);
    struct sigaction sa;
    sigaction(SIGPIPE, nullptr, &sa);
    CHECK(sa.sa_handler == SIG_IGN);

    int fd = raw_connect(port);
    dfr_stream *other = R.connect(port);
    R.accepted(acc, 2);
    dfr_stream *victim = acc.streams[0];
    Lost ev;
    dfr_protocol p = lost_protocol();
    REQUIRE(dfr_stream_set_protocol(victim, &p, &ev, nullptr) == 0);
    std::vector<char> buf(256 * 1024, 'r');
    REQUIRE(dfr_stream_write(victim, buf.data(), buf.size()) == 0);
    raw_reset(fd);
    // Keep writing into the dead connection.
    REQUIRE(R.until([&] {
        dfr_stream_write(victim, buf.data(), 1024);
        return ev.lost == 1;
    }));
    CHECK((ev.code == DFR_ECONNRESET));
    REQUIRE(dfr_stream_write(other, "alive", 5) == 0);
    check_text(R, dfr_stream_read_exactly(acc.streams[1], 5), "alive");
    dfr_stream_unref(other);
    dfr_listener_unref(l);
}

TEST_CASE("a peer that half-closes, and one that resets while we read")
{
    Reactor R;
    Accepted acc;
    dfr_listener *l = listen_keep(R.r, &acc);
    int port = dfr_listener_port(l);
    int a = raw_connect(port), b = raw_connect(port);
    R.accepted(acc, 2);
    REQUIRE(write(a, "half", 4) == 4);
    shutdown(a, SHUT_WR);
    Lost ev;
    dfr_protocol p = lost_protocol();
    REQUIRE(dfr_stream_set_protocol(acc.streams[0], &p, &ev, nullptr) == 0);
    REQUIRE(R.until([&] { return ev.lost == 1; }));
    CHECK(ev.bytes == 4);
    CHECK(ev.code == DFR_ECONNDONE);

    REQUIRE(write(b, "part", 4) == 4);
    check_text(R, dfr_stream_read_exactly(acc.streams[1], 4), "part");
    // Bytes that reached us before the reset are not lost: the read that
    // wanted more fails, the next one gets them.
    dfr_deferred *d = dfr_stream_read_exactly(acc.streams[1], 100);
    REQUIRE(write(b, "kept", 4) == 4);
    for (int i = 0; i < 20; i++)
        dfr_reactor_iterate(R.r, 0.002);
    raw_reset(b);
    dfr_value v = R.wait(d);
    CHECK(code(v) == DFR_ECONNRESET);
    dfr_value_drop(v);
    check_text(R, dfr_stream_read(acc.streams[1], 0), "kept");
    v = R.wait(dfr_stream_read(acc.streams[1], 0));
    CHECK(code(v) == DFR_ECONNRESET);
    dfr_value_drop(v);
    close(a);
    dfr_listener_unref(l);
}

// ---- many connections ----

static void greet_and_drop(dfr_listener *, dfr_stream *s, void *)
{
    dfr_stream_write(s, "hi", 2); // nobody keeps s: closed after the write
}

TEST_CASE("10,000 short connections in a row, then 1,000 at once: nothing leaks")
{
    Reactor R;
    dfr_listener *l = nullptr;
    REQUIRE(dfr_reactor_listen_tcp(R.r, "127.0.0.1", 0, greet_and_drop, nullptr, nullptr,
                                   nullptr, &l) == 0);
    int port = dfr_listener_port(l);
    // Warm up (the shared read buffer, the pool of nothing), then measure.
    dfr_stream *warm = R.connect(port);
    dfr_value_drop(R.wait(dfr_stream_read_to_eof(warm, 0)));
    dfr_stream_unref(warm);
    for (int i = 0; i < 10; i++)
        dfr_reactor_iterate(R.r, 0.001);
    int fds = open_fds();
    long live = test::live_allocations();
    int n = RUNNING_ON_VALGRIND ? 200 : 10000;
    for (int i = 0; i < n; i++) {
        dfr_stream *c = R.connect(port);
        dfr_value v = R.wait(dfr_stream_read_to_eof(c, 0));
        REQUIRE(str(v) == "hi");
        dfr_value_drop(v);
        dfr_stream_unref(c);
    }
    REQUIRE(R.until([&] { return open_fds() == fds && test::live_allocations() == live; }));

    // Both ends of every connection are in this process: 2m descriptors.
    // The usual soft limit is 1,024; raise it to the hard limit, and fit m
    // under what is allowed (accept fails with EMFILE past it).
    int m = RUNNING_ON_VALGRIND ? 100 : 1000;
    struct rlimit lim;
    REQUIRE(getrlimit(RLIMIT_NOFILE, &lim) == 0);
    if (lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
        REQUIRE(getrlimit(RLIMIT_NOFILE, &lim) == 0);
    }
    if (lim.rlim_cur != RLIM_INFINITY)
        m = std::min<int>(m, (static_cast<int>(lim.rlim_cur) - fds - 64) / 2);
    REQUIRE(m >= 100);
    std::vector<dfr_deferred *> ds;
    for (int i = 0; i < m; i++)
        ds.push_back(dfr_reactor_connect_tcp(R.r, "127.0.0.1", port, nullptr));
    std::vector<dfr_stream *> cs;
    for (auto *d : ds)
        cs.push_back(R.stream(d));
    CHECK(open_fds() >= fds + m);
    int ok = 0;
    for (auto *c : cs) {
        dfr_value v = R.wait(dfr_stream_read_to_eof(c, 0));
        ok += str(v) == "hi";
        dfr_value_drop(v);
        dfr_stream_unref(c);
    }
    CHECK(ok == m);
    REQUIRE(R.until([&] { return open_fds() == fds && test::live_allocations() == live; }));
    dfr_listener_unref(l);
}

// ---- the reactor's lifecycle ----

TEST_CASE("reactor shutdown closes listeners, connections and connects; free closes the rest")
{
    int fds = open_fds();
    {
        dfr_reactor *r = dfr_reactor_new(nullptr);
        Accepted acc;
        dfr_listener *l = nullptr;
        REQUIRE(dfr_reactor_listen_tcp(r, "127.0.0.1", 0, keep_accepted, &acc, nullptr, nullptr,
                                       &l) == 0);
        static Lost ev;
        ev = Lost{};
        struct Ctx {
            dfr_reactor *r;
            int port;
        } ctx{r, dfr_listener_port(l)};
        dfr_deferred *d = dfr_reactor_connect_tcp(r, "127.0.0.1", ctx.port, nullptr);
        dfr_deferred_add_callback(
            d,
            [](dfr_value v, void *data) {
                auto *c = static_cast<Ctx *>(data);
                dfr_protocol p = lost_protocol();
                dfr_stream_set_protocol(dfr_stream_from(&v), &p, &ev, nullptr);
                dfr_reactor_stop(c->r);
                return v;
            },
            &ctx, nullptr);
        REQUIRE(dfr_reactor_run(r) == 0);
        CHECK(ev.lost == 1);
        CHECK(ev.code == DFR_ECONNLOST);
        CHECK(dfr_listener_port(l) < 0);
        dfr_deferred_unref(d);
        dfr_listener_unref(l);
        acc.clear();
        dfr_reactor_free(r);
    }
    {
        // Never run: free closes a listener, a connection and a connect.
        dfr_reactor *r = dfr_reactor_new(nullptr);
        Accepted acc;
        dfr_listener *l = nullptr;
        REQUIRE(dfr_reactor_listen_tcp(r, "127.0.0.1", 0, keep_accepted, &acc, nullptr, nullptr,
                                       &l) == 0);
        dfr_deferred *d = dfr_reactor_connect_tcp(r, "127.0.0.1", dfr_listener_port(l), nullptr);
        dfr_deferred *d2 = dfr_reactor_connect_tcp(r, "localhost", dfr_listener_port(l), nullptr);
        dfr_listener_unref(l);
        dfr_reactor_free(r);
        CHECK(dfr_deferred_state(d) == DFR_FAILED);
        CHECK(dfr_deferred_state(d2) == DFR_FAILED);
        for (auto *x : {d, d2})
            dfr_deferred_add_errback(
                x, [](dfr_value v, void *) { dfr_value_drop(v); return dfr_none(); }, nullptr,
                nullptr);
        dfr_deferred_unref(d);
        dfr_deferred_unref(d2);
    }
    CHECK(open_fds() == fds);
}

// ---- out of memory ----

static void oom_scenario()
{
    dfr_reactor *r = dfr_reactor_new(nullptr);
    if (!r)
        return;
    {
        Reactor R(r);
        Accepted acc;
        dfr_listener *l = nullptr;
        if (dfr_reactor_listen_tcp(R.r, "127.0.0.1", 0, keep_accepted, &acc, nullptr, nullptr,
                                   &l) != 0)
            return;
        dfr_deferred *d = dfr_reactor_connect_tcp(R.r, "127.0.0.1", dfr_listener_port(l), nullptr);
        dfr_stream *c = nullptr;
        if (d) {
            dfr_value v = R.wait(d);
            if (dfr_stream_from(&v))
                c = dfr_stream_ref(dfr_stream_from(&v));
            dfr_value_drop(v);
        }
        if (c) {
            R.until([&] { return !acc.streams.empty(); }, 1);
            dfr_stream_write(c, "1:x,", 4);
            dfr_stream_write_netstring(c, "y", 1);
            if (!acc.streams.empty()) {
                dfr_deferred *rd = dfr_stream_read_netstring(acc.streams[0], 0);
                if (rd)
                    dfr_value_drop(R.wait(rd, 2));
                rd = dfr_stream_read_line(acc.streams[0], 0);
                if (rd) {
                    dfr_stream_close(c);
                    dfr_value_drop(R.wait(rd, 2));
                }
            }
            dfr_stream_unref(c);
        }
        dfr_deferred *st = dfr_listener_stop(l);
        if (st)
            dfr_value_drop(R.wait(st));
        dfr_listener_unref(l);
        acc.clear();
    }
}

TEST_CASE("allocation failures anywhere: clean failures, nothing leaks")
{
    test::UnhandledCapture quiet;
    dfr_reactor_free(dfr_reactor_new(nullptr)); // libuv's process-wide fds, made once
    int fds = open_fds();
    int runs = test::for_each_allocation_failure([](long k) {
        int before = open_fds();
        oom_scenario();
        INFO("run " << k);
        CHECK(open_fds() == before);
    });
    CHECK(runs > 10);
    CHECK(open_fds() == fds);
}
