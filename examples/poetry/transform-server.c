/* The seed's transform server.
 *
 *   transform-server [--port P] [--iface A]
 *
 * Netstring protocol: the request is one netstring "<transform>.<poem>";
 * the reply is one netstring with the transformed poem, then the server
 * closes.  `cummingsify` lower-cases the poem.  An unknown transform or a
 * malformed request closes the connection without a reply.  The first line
 * printed says which port it took ("Transform server on port P."). */
#include <deferred.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REQUEST (1024 * 1024)

/* One request, as a coroutine: read a netstring, answer it, close. */
static dfr_value serve(void *data)
{
    dfr_stream *s = data;
    dfr_value req = dfr_await(dfr_stream_read_netstring(s, MAX_REQUEST));
    if (dfr_is_failure(req)) {
        /* Malformed or too long: the stream is closed already. */
        dfr_value_drop(req);
        return dfr_none();
    }
    const char *p = dfr_bytes_data(&req);
    size_t n = dfr_bytes_len(&req);
    const char *dot = memchr(p, '.', n);
    if (dot && (size_t)(dot - p) == strlen("cummingsify") &&
        memcmp(p, "cummingsify", (size_t)(dot - p)) == 0) {
        size_t len = n - (size_t)(dot - p) - 1;
        char *out = malloc(len ? len : 1);
        if (out) {
            for (size_t i = 0; i < len; i++)
                out[i] = (char)tolower((unsigned char)dot[1 + i]);
            dfr_stream_write_netstring(s, out, len);
            free(out);
        }
    }
    dfr_value_drop(req);
    dfr_stream_close(s); /* after the reply, if any, is flushed */
    return dfr_none();
}

static void release(void *s)
{
    dfr_stream_unref(s);
}

static void on_accept(dfr_listener *l, dfr_stream *s, void *data)
{
    (void)l, (void)data;
    dfr_deferred_unref(dfr_inline_callbacks(serve, dfr_stream_ref(s), release));
}

int main(int argc, char **argv)
{
    int port = 0;
    const char *iface = "127.0.0.1";
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--port") == 0)
            port = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--iface") == 0)
            iface = argv[++i];
        else {
            fprintf(stderr, "usage: transform-server [--port P] [--iface A]\n");
            return 2;
        }
    }
    dfr_reactor *r = dfr_reactor_new(NULL);
    dfr_listener *l = NULL;
    int rc = r ? dfr_reactor_listen_tcp(r, iface, port, on_accept, NULL, NULL, NULL, &l)
               : DFR_ENOMEM;
    if (rc != 0) {
        fprintf(stderr, "transform-server: cannot listen on %s:%d: %s\n", iface, port,
                dfr_strerror(rc));
        return 1;
    }
    printf("Transform server on port %d.\n", dfr_listener_port(l));
    fflush(stdout);
    dfr_reactor_run(r); /* until killed */
    dfr_listener_unref(l);
    dfr_reactor_free(r);
    return 0;
}
