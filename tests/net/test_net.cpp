// Streams on loopback: connect, listen, both read styles, writing,
// half-close, Unix sockets, resolution, errors.
#include "net_support.h"
#include "support.h"

#include <cstring>
#include <thread>
#include <unistd.h>

using namespace nettest;

TEST_CASE("listen on an ephemeral port, connect, exchange bytes by pull reads")
{
    Reactor R;
    Accepted acc;
    dfr_listener *l = listen_keep(R.r, &acc);
    int port = dfr_listener_port(l);
    dfr_stream *c = R.connect(port);
    dfr_stream *s = R.accepted(acc);
    CHECK(dfr_stream_is_open(c));

    REQUIRE(dfr_stream_write(c, "hello", 5) == 0);
    check_text(R, dfr_stream_read_exactly(s, 5), "hello");

    REQUIRE(dfr_stream_write(s, "world!", 6) == 0);
    dfr_value v = R.wait(dfr_stream_read(c, 3)); // at most 3
    CHECK(str(v) == "wor");
    dfr_value_drop(v);
    check_text(R, dfr_stream_read(c, 0), "ld!");

    dfr_deferred *stopped = dfr_listener_stop(l);
    dfr_value sv = R.wait(stopped);
    CHECK(dfr_is_none(sv));
    CHECK(dfr_listener_port(l) < 0);
    dfr_listener_unref(l);

    // Accepted connections outlive the listener.
    REQUIRE(dfr_stream_write(c, "x", 1) == 0);
    check_text(R, dfr_stream_read(s, 0), "x");
    dfr_stream_unref(c);
}

TEST_CASE("connecting to a closed port fails with DFR_ECONNREFUSED")
{
    Reactor R;
    Accepted acc;
    dfr_listener *l = listen_keep(R.r, &acc);
    int port = dfr_listener_port(l);
    dfr_value_drop(R.wait(dfr_listener_stop(l)));
    dfr_listener_unref(l);
    dfr_value v = R.wait(dfr_reactor_connect_tcp(R.r, "127.0.0.1", port, nullptr));
    CHECK(code(v) == DFR_ECONNREFUSED);
    CHECK(std::string(dfr_failure_message(dfr_failure_from(&v))).find("127.0.0.1") !=
          std::string::npos);
    dfr_value_drop(v);
}

TEST_CASE("connect resolves localhost on the thread pool; unknown names fail")
{
    Reactor R;
    Accepted acc;
    dfr_listener *l = listen_keep(R.r, &acc);
    dfr_connect_options o = {};
    o.size = sizeof o;
    o.family = 4;
    dfr_stream *c =
        R.stream(dfr_reactor_connect_tcp(R.r, "localhost", dfr_listener_port(l), &o));
    R.accepted(acc);
    dfr_stream_unref(c);

    // Without a reachable resolver the lookup times out (EAI_AGAIN) after the
    // resolver's own retries: the same code, later.
    dfr_value v = R.wait(dfr_reactor_connect_tcp(R.r, "no-such-host.invalid", 80, nullptr), 120);
    CHECK(code(v) == DFR_ENOTFOUND);
    dfr_value_drop(v);
    dfr_listener_unref(l);
}

TEST_CASE("bad arguments give failed deferreds or DFR_EINVAL")
{
    Reactor R;
    dfr_value v = R.wait(dfr_reactor_connect_tcp(R.r, "127.0.0.1", 0, nullptr));
    CHECK(code(v) == DFR_EINVAL);
    dfr_value_drop(v);
    v = R.wait(dfr_reactor_connect_tcp(nullptr, "127.0.0.1", 1, nullptr));
    CHECK(code(v) == DFR_EINVAL);
    dfr_value_drop(v);
    v = R.wait(dfr_reactor_connect_unix(R.r, nullptr, nullptr));
    CHECK(code(v) == DFR_EINVAL);
    dfr_value_drop(v);
    dfr_listener *l = nullptr;
    int destroyed = 0;
    CHECK(dfr_reactor_listen_tcp(R.r, "not an address", 0, keep_accepted, &destroyed,
                                 test::count_destroy, nullptr, &l) == DFR_EINVAL);
    CHECK(destroyed == 1);
    CHECK(l == nullptr);
    CHECK(dfr_stream_write(nullptr, "x", 1) == DFR_EINVAL);
    CHECK(dfr_listener_port(nullptr) == DFR_EINVAL);
    // Calls returning a deferred refuse with a failed one, never NULL.
    CHECK(test::refused_with(dfr_listener_stop(nullptr), DFR_EINVAL));
    CHECK(test::refused_with(dfr_stream_read(nullptr, 0), DFR_EINVAL));
    CHECK(test::refused_with(dfr_stream_written(nullptr), DFR_EINVAL));
    CHECK(test::refused_with(dfr_stream_wait_writable(nullptr), DFR_EINVAL));
    CHECK(std::string(dfr_strerror(DFR_ECONNREFUSED)) == "connection refused");
}

TEST_CASE("a taken port is DFR_EADDRINUSE and the destroy runs")
{
    Reactor R;
    Accepted acc;
    dfr_listener *l = listen_keep(R.r, &acc);
    dfr_listener *l2 = nullptr;
    int destroyed = 0;
    CHECK(dfr_reactor_listen_tcp(R.r, "127.0.0.1", dfr_listener_port(l), keep_accepted,
                                 &destroyed, test::count_destroy, nullptr,
                                 &l2) == DFR_EADDRINUSE);
    CHECK(destroyed == 1);
    dfr_listener_unref(l);
}

TEST_CASE("IPv6 loopback")
{
    Reactor R;
    Accepted acc;
    dfr_listener *l = nullptr;
    if (dfr_reactor_listen_tcp(R.r, "::1", 0, keep_accepted, &acc, nullptr, nullptr, &l) != 0) {
        WARN("no IPv6 loopback here");
        return;
    }
    dfr_stream *c = R.stream(dfr_reactor_connect_tcp(R.r, "::1", dfr_listener_port(l), nullptr));
    R.accepted(acc);
    REQUIRE(dfr_stream_write(c, "six", 3) == 0);
    check_text(R, dfr_stream_read_exactly(acc.streams[0], 3), "six");
    dfr_stream_unref(c);
    dfr_listener_unref(l);
}

TEST_CASE("Unix-domain sockets: listen, connect, exchange, path removed at close")
{
    Reactor R;
    Accepted acc;
    std::string path = "/tmp/dfr-test-" + std::to_string(getpid()) + ".sock";
    dfr_listener *l = nullptr;
    REQUIRE(dfr_reactor_listen_unix(R.r, path.c_str(), keep_accepted, &acc, nullptr, nullptr,
                                    &l) == 0);
    CHECK(dfr_listener_port(l) == DFR_EINVAL);
    dfr_stream *c = R.stream(dfr_reactor_connect_unix(R.r, path.c_str(), nullptr));
    R.accepted(acc);
    REQUIRE(dfr_stream_write(acc.streams[0], "unix\n", 5) == 0);
    check_text(R, dfr_stream_read_line(c, 0), "unix");
    dfr_value_drop(R.wait(dfr_listener_stop(l)));
    dfr_listener_unref(l);
    CHECK(access(path.c_str(), F_OK) != 0);
    dfr_value v = R.wait(dfr_reactor_connect_unix(R.r, path.c_str(), nullptr));
    CHECK(code(v) == DFR_ECONNREFUSED);
    dfr_value_drop(v);
    dfr_stream_unref(c);
}

// ---- push style ----

struct Events {
    int made = 0, eof = 0, lost = 0, destroyed = 0, full = 0, drained = 0;
    int lost_code = 0;
    std::string data;
    bool echo = false;
    bool half_closeable = false;
};

static void ev_made(dfr_stream *, void *d) { static_cast<Events *>(d)->made++; }
static void ev_data(dfr_stream *s, const void *buf, size_t n, void *d)
{
    auto *e = static_cast<Events *>(d);
    e->data.append(static_cast<const char *>(buf), n);
    if (e->echo)
        dfr_stream_write(s, buf, n);
}
static void ev_eof(dfr_stream *s, void *d)
{
    static_cast<Events *>(d)->eof++;
    dfr_stream_write(s, "bye", 3);
    dfr_stream_close(s);
}
static void ev_lost(dfr_stream *, const dfr_failure *f, void *d)
{
    auto *e = static_cast<Events *>(d);
    e->lost++;
    e->lost_code = dfr_failure_code(f);
}
static void ev_destroy(void *d) { static_cast<Events *>(d)->destroyed++; }
static void ev_full(dfr_stream *, void *d) { static_cast<Events *>(d)->full++; }
static void ev_drained(dfr_stream *, void *d) { static_cast<Events *>(d)->drained++; }

static dfr_protocol events_protocol(bool half_close)
{
    dfr_protocol p = {};
    p.size = sizeof p;
    p.connection_made = ev_made;
    p.data_received = ev_data;
    p.read_eof = half_close ? ev_eof : nullptr;
    p.connection_lost = ev_lost;
    p.write_full = ev_full;
    p.write_drained = ev_drained;
    return p;
}

static void accept_echo(dfr_listener *, dfr_stream *s, void *data)
{
    auto *e = static_cast<Events *>(data);
    dfr_protocol p = events_protocol(e->half_closeable);
    REQUIRE(dfr_stream_set_protocol(s, &p, e, ev_destroy) == 0);
}

TEST_CASE("push style: connection made, data received, connection lost cleanly")
{
    Reactor R;
    Events server;
    server.echo = true;
    dfr_listener *l = nullptr;
    REQUIRE(dfr_reactor_listen_tcp(R.r, "127.0.0.1", 0, accept_echo, &server, nullptr, nullptr,
                                   &l) == 0);
    dfr_stream *c = R.connect(l);
    Events client;
    dfr_protocol p = events_protocol(false);
    REQUIRE(dfr_stream_set_protocol(c, &p, &client, ev_destroy) == 0);
    CHECK(client.made == 1);
    // A second protocol or a pull read is refused.
    CHECK(dfr_stream_set_protocol(c, &p, nullptr, nullptr) == DFR_EINVAL);
    dfr_value v = R.wait(dfr_stream_read(c, 0));
    CHECK(code(v) == DFR_EINVAL);
    dfr_value_drop(v);

    REQUIRE(dfr_stream_write(c, "ping", 4) == 0);
    REQUIRE(R.until([&] { return client.data == "ping"; }));
    CHECK(server.data == "ping");
    dfr_stream_close(c);
    REQUIRE(R.until([&] { return server.lost == 1 && client.lost == 1; }));
    CHECK(client.lost_code == DFR_ECONNDONE);
    CHECK(server.lost_code == DFR_ECONNDONE);
    CHECK(client.destroyed == 1);
    CHECK(server.destroyed == 1);
    CHECK_FALSE(dfr_stream_is_open(c));
    dfr_failure *why = dfr_stream_reason(c);
    CHECK(dfr_failure_code(why) == DFR_ECONNDONE);
    dfr_failure_unref(why);
    CHECK(dfr_stream_write(c, "x", 1) == DFR_ECONNLOST);
    dfr_stream_unref(c);
    dfr_listener_unref(l);
}

TEST_CASE("half-close: the peer's EOF reaches read_eof, the reply still goes out")
{
    Reactor R;
    Events server;
    server.half_closeable = true;
    dfr_listener *l = nullptr;
    REQUIRE(dfr_reactor_listen_tcp(R.r, "127.0.0.1", 0, accept_echo, &server, nullptr, nullptr,
                                   &l) == 0);
    dfr_stream *c = R.connect(l);
    REQUIRE(dfr_stream_write(c, "question", 8) == 0);
    REQUIRE(dfr_stream_close_write(c) == 0);
    CHECK(dfr_stream_write(c, "more", 4) == DFR_ECONNLOST);
    check_text(R, dfr_stream_read_to_eof(c, 0), "bye");
    CHECK(server.data == "question");
    CHECK(server.eof == 1);
    REQUIRE(R.until([&] { return server.lost == 1; }));
    dfr_stream_unref(c);
    dfr_listener_unref(l);
}

TEST_CASE("pause and resume reading")
{
    Reactor R;
    Accepted acc;
    dfr_listener *l = listen_keep(R.r, &acc);
    dfr_stream *c = R.connect(l);
    Events ev;
    dfr_protocol p = events_protocol(false);
    REQUIRE(dfr_stream_set_protocol(c, &p, &ev, ev_destroy) == 0);
    REQUIRE(dfr_stream_pause_reading(c) == 0);
    R.accepted(acc);
    REQUIRE(dfr_stream_write(acc.streams[0], "abc", 3) == 0);
    for (int i = 0; i < 10; i++)
        dfr_reactor_iterate(R.r, 0.005);
    CHECK(ev.data.empty());
    REQUIRE(dfr_stream_resume_reading(c) == 0);
    REQUIRE(R.until([&] { return ev.data == "abc"; }));
    dfr_stream_unref(c);
    dfr_listener_unref(l);
}

// ---- pull style ----

TEST_CASE("pull reads: exactly, until, line, netstring, to EOF")
{
    Reactor R;
    Accepted acc;
    dfr_listener *l = listen_keep(R.r, &acc);
    dfr_stream *c = R.connect(l);
    dfr_stream *s = R.accepted(acc);
    const char msg[] = "HEAD\r\nline one\r\nline two\n5:hello,0:,a|b||tail";
    REQUIRE(dfr_stream_write(c, msg, sizeof msg - 1) == 0);
    REQUIRE(dfr_stream_close(c) == 0);

    check_text(R, dfr_stream_read_exactly(s, 4), "HEAD");
    check_text(R, dfr_stream_read_until(s, "\r\n", 2, 0), "\r\n");
    check_text(R, dfr_stream_read_line(s, 0), "line one");
    check_text(R, dfr_stream_read_line(s, 0), "line two");
    check_text(R, dfr_stream_read_netstring(s, 0), "hello");
    check_text(R, dfr_stream_read_netstring(s, 0), "");
    check_text(R, dfr_stream_read_until(s, "||", 2, 10), "a|b||");
    check_text(R, dfr_stream_read_to_eof(s, 0), "tail");
    // At the end: read gives empty bytes, exactly fails with ECONNDONE.
    dfr_value v = R.wait(dfr_stream_read(s, 0));
    CHECK(dfr_is_bytes(v));
    CHECK(dfr_bytes_len(&v) == 0);
    dfr_value_drop(v);
    v = R.wait(dfr_stream_read_exactly(s, 1));
    CHECK(code(v) == DFR_ECONNDONE);
    dfr_value_drop(v);
    dfr_stream_unref(c);
    dfr_listener_unref(l);
}

TEST_CASE("one pull read at a time; a cancelled read loses no bytes")
{
    Reactor R;
    Accepted acc;
    dfr_listener *l = listen_keep(R.r, &acc);
    dfr_stream *c = R.connect(l);
    dfr_stream *s = R.accepted(acc);
    dfr_deferred *d = dfr_stream_read_exactly(s, 10);
    dfr_value v = R.wait(dfr_stream_read(s, 0));
    CHECK(code(v) == DFR_EINVAL);
    dfr_value_drop(v);
    REQUIRE(dfr_stream_write(c, "12345", 5) == 0);
    for (int i = 0; i < 10; i++)
        dfr_reactor_iterate(R.r, 0.005);
    CHECK(dfr_deferred_state(d) == DFR_PENDING);
    dfr_deferred_cancel(d);
    v = R.wait(d);
    CHECK(code(v) == DFR_ECANCELLED);
    dfr_value_drop(v);
    REQUIRE(dfr_stream_write(c, "67890", 5) == 0);
    check_text(R, dfr_stream_read_exactly(s, 10), "1234567890");

    // A timeout on a read from a silent peer.
    d = dfr_stream_read(s, 0);
    REQUIRE(dfr_deferred_add_timeout(d, R.r, 0.05) == 0);
    v = R.wait(d);
    CHECK(code(v) == DFR_ETIMEDOUT);
    dfr_value_drop(v);
    CHECK(dfr_stream_is_open(s));
    dfr_stream_unref(c);
    dfr_listener_unref(l);
}

// A read chained from the previous read's callback, as a coroutine's loop
// does: reading goes on between them (no stop and restart), every byte comes
// in order, and once nobody asks the bytes wait for the next read.
struct Chain {
    dfr_stream *s;
    std::string got;
    int left;
};

static dfr_value chain_next(dfr_value v, void *data)
{
    auto *c = static_cast<Chain *>(data);
    if (!dfr_is_failure(v))
        c->got += str(v);
    dfr_value_drop(v);
    if (--c->left > 0) {
        dfr_deferred *d = dfr_stream_read_exactly(c->s, 1);
        dfr_deferred_add_both(d, chain_next, c, nullptr);
        dfr_deferred_unref(d);
    }
    return dfr_none();
}

TEST_CASE("a read issued from the previous read's callback gets every byte in order")
{
    Reactor R;
    Accepted acc;
    dfr_listener *l = listen_keep(R.r, &acc);
    dfr_stream *c = R.stream(dfr_reactor_connect_tcp(R.r, "127.0.0.1", dfr_listener_port(l),
                                                     nullptr));
    REQUIRE(R.until([&] { return acc.streams.size() == 1; }));
    Chain chain{acc.streams[0], "", 12};
    dfr_deferred *d = dfr_stream_read_exactly(chain.s, 1);
    dfr_deferred_add_both(d, chain_next, &chain, nullptr);
    dfr_deferred_unref(d);
    REQUIRE(dfr_stream_write(c, "abcdef", 6) == 0); // several reads out of one buffer
    REQUIRE(R.until([&] { return chain.got.size() == 6; }));
    for (const char *p = "ghijkl"; *p; p++) {  // one read per arrival
        REQUIRE(dfr_stream_write(c, p, 1) == 0);
        size_t want = chain.got.size() + 1;
        REQUIRE(R.until([&] { return chain.got.size() == want; }));
    }
    CHECK(chain.got == "abcdefghijkl");
    REQUIRE(dfr_stream_write(c, "XYZ", 3) == 0);
    for (int i = 0; i < 5; i++)
        dfr_reactor_iterate(R.r, 0.005);
    dfr_value v = R.wait(dfr_stream_read_exactly(chain.s, 3));
    CHECK(str(v) == "XYZ");
    dfr_value_drop(v);
    dfr_stream_unref(c);
    dfr_listener_unref(l);
}

// ---- writing ----

static void count_free(void *p)
{
    static_cast<int *>(p)[0]++;
}

TEST_CASE("writes: copied, owned, written deferred")
{
    Reactor R;
    Accepted acc;
    dfr_listener *l = listen_keep(R.r, &acc);
    dfr_stream *c = R.connect(l);
    R.accepted(acc);
    dfr_value v = R.wait(dfr_stream_written(c)); // nothing pending: at once
    CHECK(dfr_is_none(v));
    static char owned[] = "owned ";
    int freed[1] = {0};
    REQUIRE(dfr_stream_write(c, "copied ", 7) == 0);
    // destroy gets the buffer: use a struct whose first int counts.
    struct Owned {
        int count;
        char text[8];
    } o = {0, "zero"};
    REQUIRE(dfr_stream_write_owned(c, &o, sizeof o, count_free) == 0);
    REQUIRE(dfr_stream_write_owned(c, owned, 6, nullptr) == 0);
    v = R.wait(dfr_stream_written(c));
    CHECK(dfr_is_none(v));
    CHECK(o.count == 1);
    CHECK(dfr_stream_write_buffered(c) == 0);
    v = R.wait(dfr_stream_read_exactly(acc.streams[0], 7 + sizeof o + 6));
    CHECK(str(v).substr(0, 7) == "copied ");
    CHECK(str(v).substr(7 + sizeof o) == "owned ");
    dfr_value_drop(v);
    // Owned bytes on a closed stream are released at once.
    dfr_stream_abort(c);
    CHECK(dfr_stream_write_owned(c, freed, sizeof freed, count_free) == DFR_ECONNLOST);
    CHECK(freed[0] == 1);
    dfr_stream_unref(c);
    dfr_listener_unref(l);
}

TEST_CASE("an accepted stream nobody keeps is closed")
{
    Reactor R;
    dfr_listener *l = nullptr;
    int calls = 0;
    REQUIRE(dfr_reactor_listen_tcp(
                R.r, "127.0.0.1", 0,
                [](dfr_listener *, dfr_stream *s, void *d) {
                    ++*static_cast<int *>(d);
                    dfr_stream_write(s, "go away", 7);
                },
                &calls, nullptr, nullptr, &l) == 0);
    dfr_stream *c = R.connect(l);
    check_text(R, dfr_stream_read_to_eof(c, 0), "go away");
    CHECK(calls == 1);
    dfr_stream_unref(c);
    dfr_listener_unref(l);
}

TEST_CASE("calls from a thread that does not own the reactor are refused")
{
    Reactor R;
    Accepted acc;
    dfr_listener *l = listen_keep(R.r, &acc);
    dfr_stream *c = R.connect(l);
    int wrc = 0, lrc = 0, rcode = 0;
    std::thread t([&] {
        wrc = dfr_stream_write(c, "x", 1);
        dfr_listener *l2 = nullptr;
        lrc = dfr_reactor_listen_tcp(R.r, "127.0.0.1", 0, keep_accepted, &acc, nullptr, nullptr,
                                     &l2);
        dfr_deferred *d = dfr_reactor_connect_tcp(R.r, "127.0.0.1", 1, nullptr);
        rcode = dfr_failure_code(dfr_failure_from(dfr_deferred_result(d)));
        dfr_deferred_add_both(
            d, [](dfr_value v, void *) { dfr_value_drop(v); return dfr_none(); }, nullptr, nullptr);
        dfr_deferred_unref(d);
    });
    t.join();
    CHECK(wrc == DFR_ENOTOWNER);
    CHECK(lrc == DFR_ENOTOWNER);
    CHECK(rcode == DFR_ENOTOWNER);
    dfr_stream_unref(c);
    dfr_listener_unref(l);
}

// ---- push-style framing ----

struct Frames {
    std::vector<std::string> got;
    int lost = 0, code = 0, destroyed = 0;
};

static dfr_framed_protocol frames_protocol(int framing, size_t max)
{
    dfr_framed_protocol p = {};
    p.size = sizeof p;
    p.framing = framing;
    p.max = max;
    p.frame_received = [](dfr_stream *s, const void *f, size_t n, void *d) {
        auto *fr = static_cast<Frames *>(d);
        fr->got.emplace_back(static_cast<const char *>(f), n);
        dfr_stream_write_netstring(s, f, n); // answer each frame
    };
    p.connection_lost = [](dfr_stream *, const dfr_failure *f, void *d) {
        static_cast<Frames *>(d)->lost++;
        static_cast<Frames *>(d)->code = dfr_failure_code(f);
    };
    return p;
}

TEST_CASE("push-style framing: lines and netstrings as protocols, with limits")
{
    Reactor R;
    Accepted acc;
    dfr_listener *l = listen_keep(R.r, &acc);
    int port = dfr_listener_port(l);
    dfr_stream *c1 = R.connect(port);
    dfr_stream *c2 = R.connect(port);
    R.accepted(acc, 2);
    // Bytes that came before the protocol are decoded too.
    REQUIRE(dfr_stream_write(c1, "one\r\ntw", 7) == 0);
    check_text(R, dfr_stream_read_exactly(acc.streams[0], 3), "one");
    Frames lines, nets;
    dfr_framed_protocol p = frames_protocol(DFR_FRAMING_LINES, 10);
    REQUIRE(dfr_stream_set_framed_protocol(acc.streams[0], &p, &lines, [](void *d) {
                static_cast<Frames *>(d)->destroyed++;
            }) == 0);
    p = frames_protocol(DFR_FRAMING_NETSTRINGS, 0);
    REQUIRE(dfr_stream_set_framed_protocol(acc.streams[1], &p, &nets, nullptr) == 0);
    p.framing = 7;
    CHECK(dfr_stream_set_framed_protocol(c1, &p, nullptr, nullptr) == DFR_EINVAL);

    REQUIRE(dfr_stream_write(c1, "o\nthree\n", 8) == 0);
    REQUIRE(dfr_stream_write_netstring(c2, "a", 1) == 0);
    REQUIRE(dfr_stream_write_netstring(c2, "bc", 2) == 0);
    REQUIRE(R.until([&] { return lines.got.size() == 3 && nets.got.size() == 2; }));
    CHECK(lines.got == std::vector<std::string>{"", "two", "three"});
    CHECK(nets.got == std::vector<std::string>{"a", "bc"});
    check_text(R, dfr_stream_read_netstring(c2, 0), "a");

    // Too long: the line connection closes with DFR_EFRAME; the other lives.
    REQUIRE(dfr_stream_write(c1, "0123456789abc\n", 14) == 0);
    REQUIRE(R.until([&] { return lines.lost == 1; }));
    CHECK(lines.code == DFR_EFRAME);
    CHECK(lines.destroyed == 1);
    CHECK(dfr_stream_is_open(acc.streams[1]));
    dfr_stream_unref(c1);
    dfr_stream_unref(c2);
    dfr_listener_unref(l);
}
