/* The seed's poetry client 7.0, on real sockets.
 *
 *   poetry-client XFORM_PORT PORT...      (each may also be HOST:PORT)
 *
 * One coroutine per poetry server runs get_transformed_poem exactly as the
 * seed's inlineCallbacks generator does: await the download (on failure
 * print "The poem download failed: <reason>" and fail), await the
 * transform (on failure print "Cummingsify failed!" and keep the original),
 * return the poem.  got_poem prints it; poem_done stops the reactor when
 * every server has been heard from.  Exit code 0, as in the seed. */
#include <deferred.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct address {
    char host[256];
    int port;
} address;

static dfr_reactor *reactor;
static address xform_addr;
static size_t n_addresses, n_results;

/* get_poetry: connect, read until the server closes. */
static dfr_value get_poetry(const address *a)
{
    dfr_value v = dfr_await(dfr_reactor_connect_tcp(reactor, a->host, a->port, NULL));
    if (dfr_is_failure(v))
        return v;
    dfr_stream *s = dfr_stream_ref(dfr_stream_from(&v));
    dfr_value_drop(v);
    dfr_value poem = dfr_await(dfr_stream_read_to_eof(s, 0));
    dfr_stream_unref(s);
    return poem;
}

/* TransformProxy.xform: one netstring "<name>.<poem>" out, one back. */
static dfr_value xform(const char *name, const dfr_value *poem)
{
    dfr_value v = dfr_await(
        dfr_reactor_connect_tcp(reactor, xform_addr.host, xform_addr.port, NULL));
    if (dfr_is_failure(v))
        return v;
    dfr_stream *s = dfr_stream_ref(dfr_stream_from(&v));
    dfr_value_drop(v);
    size_t nl = strlen(name), pl = dfr_bytes_len(poem);
    char *req = malloc(nl + 1 + pl + 1);
    if (!req) {
        dfr_stream_unref(s);
        return dfr_value_failure(dfr_failure_new("poetry", 1, "out of memory"));
    }
    memcpy(req, name, nl);
    req[nl] = '.';
    memcpy(req + nl + 1, dfr_bytes_data(poem), pl);
    dfr_stream_write_netstring(s, req, nl + 1 + pl);
    free(req);
    /* A server that closes without replying gives a failure here. */
    dfr_value reply = dfr_await(dfr_stream_read_netstring(s, 10 * 1024 * 1024));
    dfr_stream_close(s);
    dfr_stream_unref(s);
    return reply;
}

static dfr_value get_transformed_poem(void *data)
{
    const address *a = data;
    dfr_value poem = get_poetry(a);
    if (dfr_is_failure(poem)) {
        fprintf(stderr, "The poem download failed: %s\n",
                dfr_failure_message(dfr_failure_from(&poem)));
        return poem; /* raise */
    }
    dfr_value xformed = xform("cummingsify", &poem);
    if (dfr_is_failure(xformed)) {
        fprintf(stderr, "Cummingsify failed!\n");
        dfr_value_drop(xformed);
        return poem; /* returnValue(poem): the original */
    }
    dfr_value_drop(poem);
    return xformed;
}

static dfr_value got_poem(dfr_value poem, void *data)
{
    (void)data;
    printf("%.*s\n", (int)dfr_bytes_len(&poem), (const char *)dfr_bytes_data(&poem));
    fflush(stdout);
    return poem;
}

static dfr_value poem_done(dfr_value result, void *data)
{
    (void)data;
    dfr_value_drop(result); /* a failed download was reported already */
    if (++n_results == n_addresses)
        dfr_reactor_stop(reactor);
    return dfr_none();
}

/* "PORT" or "HOST:PORT"; the host defaults to 127.0.0.1. */
static bool parse_address(const char *arg, address *a)
{
    const char *colon = strrchr(arg, ':');
    const char *port = colon ? colon + 1 : arg;
    snprintf(a->host, sizeof a->host, "%.*s", colon ? (int)(colon - arg) : 9,
             colon ? arg : "127.0.0.1");
    char *end;
    long p = strtol(port, &end, 10);
    a->port = (int)p;
    return *port && !*end && p > 0 && p < 65536;
}

int main(int argc, char **argv)
{
    if (argc < 3 || !parse_address(argv[1], &xform_addr)) {
        fprintf(stderr, "usage: poetry-client XFORM_PORT PORT1 [PORT2 ...]\n");
        return 2;
    }
    n_addresses = (size_t)argc - 2;
    address *addresses = calloc(n_addresses, sizeof *addresses);
    if (!addresses)
        return 1;
    for (size_t i = 0; i < n_addresses; i++)
        if (!parse_address(argv[i + 2], &addresses[i])) {
            fprintf(stderr, "poetry-client: bad address %s\n", argv[i + 2]);
            return 2;
        }
    reactor = dfr_reactor_new(NULL);
    if (!reactor)
        return 1;
    for (size_t i = 0; i < n_addresses; i++) {
        dfr_deferred *d = dfr_inline_callbacks(get_transformed_poem, &addresses[i], NULL);
        if (!d)
            return 1;
        dfr_deferred_add_callbacks(d, got_poem, NULL, NULL, NULL);
        dfr_deferred_add_both(d, poem_done, NULL, NULL);
        dfr_deferred_unref(d);
    }
    dfr_reactor_run(reactor);
    dfr_reactor_free(reactor);
    free(addresses);
    return 0;
}
