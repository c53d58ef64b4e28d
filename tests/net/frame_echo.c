/* An echo server for tests/net/twisted_framing.py: the same framing read four
 * ways, each on its own ephemeral loopback port, so Twisted peers can send it
 * the bytes they send Twisted's own LineReceiver and NetstringReceiver.
 *
 *   frame_echo MAX_LINE MAX_NETSTRING
 *
 * Prints one line per listener, "<lines|netstrings>-<push|pull>[-once] port N",
 * then "ready".  Each frame received is echoed back as a netstring (so the
 * peer sees frame boundaries exactly); a framing error closes the connection
 * (push: dfr_stream_set_framed_protocol; pull: dfr_stream_read_line /
 * _read_netstring in a coroutine).  The "-once" servers close the connection
 * (after the echo) on the first frame. */
#include <deferred.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PULL = 8, ONCE = 16 }; /* or'ed with the framing */
static size_t max_of[3];

/* data: the flags. */
static void echo(dfr_stream *s, const void *frame, size_t len, void *data)
{
    dfr_stream_write_netstring(s, frame, len);
    if ((intptr_t)data & ONCE)
        dfr_stream_close(s);
}

static void release(void *s)
{
    dfr_stream_unref(s);
}

static dfr_value pull_loop(dfr_stream *s, int how)
{
    int framing = how & 3;
    for (;;) {
        dfr_deferred *d = framing == DFR_FRAMING_LINES
                              ? dfr_stream_read_line(s, max_of[framing])
                              : dfr_stream_read_netstring(s, max_of[framing]);
        dfr_value v = dfr_await(d);
        if (dfr_is_failure(v)) { /* EOF, malformed or too long: the stream is closed */
            dfr_value_drop(v);
            dfr_stream_close(s);
            return dfr_none();
        }
        echo(s, dfr_bytes_data(&v), dfr_bytes_len(&v), (void *)(intptr_t)how);
        dfr_value_drop(v);
        if (how & ONCE)
            return dfr_none();
    }
}

static dfr_value pull_lines(void *s)
{
    return pull_loop(s, DFR_FRAMING_LINES | PULL);
}

static dfr_value pull_lines_once(void *s)
{
    return pull_loop(s, DFR_FRAMING_LINES | PULL | ONCE);
}

static dfr_value pull_netstrings(void *s)
{
    return pull_loop(s, DFR_FRAMING_NETSTRINGS | PULL);
}

static dfr_value pull_netstrings_once(void *s)
{
    return pull_loop(s, DFR_FRAMING_NETSTRINGS | PULL | ONCE);
}

/* data: the framing and flags. */
static void on_accept(dfr_listener *l, dfr_stream *s, void *data)
{
    (void)l;
    int how = (int)(intptr_t)data, framing = how & 3;
    if (how & PULL) {
        dfr_task_fn fn = framing == DFR_FRAMING_LINES ? (how & ONCE ? pull_lines_once : pull_lines)
                         : how & ONCE                 ? pull_netstrings_once
                                                      : pull_netstrings;
        dfr_deferred_unref(dfr_inline_callbacks(fn, dfr_stream_ref(s), release));
        return;
    }
    dfr_framed_protocol p = {.size = sizeof p, .framing = framing, .max = max_of[framing],
                             .frame_received = echo};
    if (dfr_stream_set_framed_protocol(s, &p, data, NULL) != 0)
        dfr_stream_abort(s);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: frame_echo MAX_LINE MAX_NETSTRING\n");
        return 2;
    }
    max_of[DFR_FRAMING_LINES] = (size_t)strtoul(argv[1], NULL, 10);
    max_of[DFR_FRAMING_NETSTRINGS] = (size_t)strtoul(argv[2], NULL, 10);
    dfr_reactor *r = dfr_reactor_new(NULL);
    if (!r)
        return 1;
    static const struct {
        const char *name;
        int how;
    } kinds[] = {{"lines-push", DFR_FRAMING_LINES},
                 {"lines-pull", DFR_FRAMING_LINES | PULL},
                 {"netstrings-push", DFR_FRAMING_NETSTRINGS},
                 {"netstrings-pull", DFR_FRAMING_NETSTRINGS | PULL},
                 {"lines-push-once", DFR_FRAMING_LINES | ONCE},
                 {"lines-pull-once", DFR_FRAMING_LINES | PULL | ONCE},
                 {"netstrings-push-once", DFR_FRAMING_NETSTRINGS | ONCE},
                 {"netstrings-pull-once", DFR_FRAMING_NETSTRINGS | PULL | ONCE}};
    enum { N = sizeof kinds / sizeof kinds[0] };
    dfr_listener *ls[N] = {NULL};
    for (int i = 0; i < N; i++) {
        int rc = dfr_reactor_listen_tcp(r, "127.0.0.1", 0, on_accept,
                                        (void *)(intptr_t)kinds[i].how, NULL, NULL, &ls[i]);
        if (rc != 0) {
            fprintf(stderr, "frame_echo: cannot listen: %s\n", dfr_strerror(rc));
            return 1;
        }
        printf("%s port %d\n", kinds[i].name, dfr_listener_port(ls[i]));
    }
    printf("ready\n");
    fflush(stdout);
    dfr_reactor_run(r); /* until killed */
    for (int i = 0; i < N; i++)
        dfr_listener_unref(ls[i]);
    dfr_reactor_free(r);
    return 0;
}
