/* The seed's poetry server: send the poem to each client, then close.
 *
 *   poetry-server [--port P] [--iface A] [--num-bytes N] [--delay S] FILE
 *
 * With --num-bytes / --delay it trickles the poem, N bytes every S seconds,
 * as the book's slow server does, so concurrent downloads interleave; each
 * chunk waits until the client has taken the last ones (flow control).
 * --port 0 (the default) takes an ephemeral port; the first line printed
 * says which ("Serving FILE on port P."). */
#include <deferred.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static dfr_reactor *reactor;
static char *poem;
static size_t poem_len, num_bytes;
static double delay;

/* One connection, written top to bottom as a coroutine: the pauses between
 * chunks are awaited timers. */
static dfr_value serve(void *data)
{
    dfr_stream *s = data;
    size_t step = num_bytes ? num_bytes : poem_len;
    for (size_t off = 0; off < poem_len; off += step) {
        size_t n = poem_len - off < step ? poem_len - off : step;
        /* Flow control: a client that reads slowly holds back the next chunk
         * instead of making us queue the whole poem for it. */
        dfr_value w = dfr_await(dfr_stream_wait_writable(s));
        bool gone = dfr_is_failure(w);
        dfr_value_drop(w);
        if (gone || dfr_stream_write(s, poem + off, n) != 0)
            break; /* the client left */
        if (off + n < poem_len && delay > 0) {
            dfr_value v = dfr_await(dfr_reactor_defer_later(reactor, delay, NULL, NULL, NULL));
            dfr_value_drop(v);
        }
    }
    dfr_stream_close(s); /* after the writes are flushed */
    return dfr_none();
}

static void release(void *s)
{
    dfr_stream_unref(s);
}

static void on_accept(dfr_listener *l, dfr_stream *s, void *data)
{
    (void)l, (void)data;
    dfr_deferred *d = dfr_inline_callbacks(serve, dfr_stream_ref(s), release);
    dfr_deferred_unref(d);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n == cap) {
            char *b = realloc(buf, cap = cap ? cap * 2 : 4096);
            if (!b) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *len = n;
    return buf;
}

static int usage(void)
{
    fprintf(stderr, "usage: poetry-server [--port P] [--iface A] [--num-bytes N] [--delay S] FILE\n");
    return 2;
}

int main(int argc, char **argv)
{
    int port = 0;
    const char *iface = "127.0.0.1", *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--port") == 0)
            port = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--iface") == 0)
            iface = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--num-bytes") == 0)
            num_bytes = (size_t)atol(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--delay") == 0)
            delay = atof(argv[++i]);
        else if (argv[i][0] == '-' || file)
            return usage();
        else
            file = argv[i];
    }
    if (!file)
        return usage();
    if (!(poem = slurp(file, &poem_len))) {
        fprintf(stderr, "poetry-server: cannot read %s\n", file);
        return 1;
    }
    reactor = dfr_reactor_new(NULL);
    dfr_listener *l = NULL;
    int rc = reactor ? dfr_reactor_listen_tcp(reactor, iface, port, on_accept, NULL, NULL, NULL, &l)
                     : DFR_ENOMEM;
    if (rc != 0) {
        fprintf(stderr, "poetry-server: cannot listen on %s:%d: %s\n", iface, port,
                dfr_strerror(rc));
        return 1;
    }
    printf("Serving %s on port %d.\n", file, dfr_listener_port(l));
    fflush(stdout);
    dfr_reactor_run(reactor); /* until killed */
    dfr_listener_unref(l);
    dfr_reactor_free(reactor);
    free(poem);
    return 0;
}
