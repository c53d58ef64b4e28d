/* Poetry client 7.0 in C: fetch a poem, then transform it, falling back to
 * the original when the transform fails — written top to bottom as a
 * coroutine (the seed's get_transformed_poem).
 *
 * Timers stand in for the network until libdeferred has TCP: get_poetry
 * and cummingsify return deferreds that callLater fires (or fails) after a
 * few milliseconds.  Three downloads run at once and interleave; a
 * DeferredList stops the reactor when all are done, as the seed's poem_done
 * does. */
#include <deferred.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static dfr_reactor *reactor;

/* ---- stand-ins for the network ---- */

typedef struct reply {
    dfr_deferred *d;
    bool ok; /* false: fail with `error` */
    const char *error;
    char text[128];
} reply;

static void deliver(void *data)
{
    reply *r = data;
    if (r->ok)
        dfr_deferred_callback(r->d, dfr_bytes_new(r->text, strlen(r->text)));
    else
        dfr_deferred_errback(r->d, dfr_failure_new("poetry", 1, r->error));
}

static void reply_free(void *data)
{
    reply *r = data;
    dfr_deferred_unref(r->d);
    free(r);
}

/* A deferred fired after `delay` seconds with `text`, or failed with `error`. */
static dfr_deferred *after(double delay, const char *text, const char *error)
{
    reply *r = malloc(sizeof *r);
    dfr_deferred *d = dfr_deferred_new();
    if (!r || !d) {
        free(r);
        dfr_deferred_unref(d);
        return NULL;
    }
    *r = (reply){dfr_deferred_ref(d), text != NULL, error, ""};
    if (text)
        snprintf(r->text, sizeof r->text, "%s", text);
    if (dfr_call_later(reactor, delay, deliver, r, reply_free, NULL) != 0) {
        dfr_deferred_unref(d);
        return NULL;
    }
    return d;
}

typedef struct server {
    const char *name;
    const char *poem; /* NULL: the server is down */
    double delay;
    bool transform_works;
} server;

static dfr_deferred *get_poetry(const server *s)
{
    return after(s->delay, s->poem, "connection refused");
}

static dfr_deferred *cummingsify(const server *s, dfr_value poem)
{
    char out[128];
    size_t n = dfr_bytes_len(&poem) < sizeof out - 1 ? dfr_bytes_len(&poem) : sizeof out - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower(((const unsigned char *)dfr_bytes_data(&poem))[i]);
    out[n] = '\0';
    dfr_value_drop(poem);
    return after(0.01, s->transform_works ? out : NULL, "Cummingsify failed!");
}

static void print_bytes(const char *who, const char *what, dfr_value v)
{
    printf("%5.3f s: %-8s %s: %.*s\n", dfr_reactor_seconds(reactor), who, what,
           (int)dfr_bytes_len(&v), (const char *)dfr_bytes_data(&v));
}

/* ---- the coroutine: client 7.0's get_transformed_poem ---- */

static dfr_value get_transformed_poem(void *data)
{
    const server *s = data;
    dfr_value poem = dfr_await(get_poetry(s));
    if (dfr_is_failure(poem)) {
        printf("%5.3f s: %-8s The poem download failed: %s\n", dfr_reactor_seconds(reactor),
               s->name, dfr_failure_message(dfr_failure_from(&poem)));
        return poem; /* the failure goes on to whoever waits for this poem */
    }
    print_bytes(s->name, "got", poem);

    dfr_value xformed = dfr_await(cummingsify(s, dfr_value_clone(&poem)));
    if (dfr_is_failure(xformed)) {
        printf("%5.3f s: %-8s %s Keeping the original.\n", dfr_reactor_seconds(reactor),
               s->name, dfr_failure_message(dfr_failure_from(&xformed)));
        dfr_value_drop(xformed);
        return poem; /* fall back to the original */
    }
    dfr_value_drop(poem);
    print_bytes(s->name, "transformed", xformed);
    return xformed;
}

/* ---- main: start three, wait for all (the seed's poem_done) ---- */

static int outcome_ok;

static dfr_value all_done(dfr_value v, void *data)
{
    (void)data;
    const dfr_list *l = dfr_list_from(&v);
    size_t n = l ? dfr_list_len(l) : 0;
    int ok = n == 3;
    for (size_t i = 0; i < n; i++) {
        const dfr_value *r = dfr_list_get(l, i);
        printf("poem %zu: %s\n", i, dfr_list_ok(l, i) ? "done" : "failed");
        ok = ok && dfr_list_ok(l, i) == (i != 2) && r;
    }
    outcome_ok = ok;
    dfr_value_drop(v);
    dfr_reactor_stop(reactor);
    return dfr_none();
}

int main(void)
{
    static const server servers[3] = {
        {"science", "I AM NOT A SCIENTIST", 0.03, true},
        {"fascin", "FASCINATION IS A TIDE", 0.02, false}, /* its transform fails */
        {"down", NULL, 0.01, true},                        /* the server is down */
    };
    reactor = dfr_reactor_new(NULL);
    if (!reactor)
        return 1;
    dfr_deferred *ds[3];
    for (int i = 0; i < 3; i++) {
        ds[i] = dfr_inline_callbacks(get_transformed_poem, (void *)&servers[i], NULL);
        if (!ds[i])
            return 1;
    }
    /* A failed poem is an outcome to report: the list consumes its error. */
    dfr_deferred *all = dfr_deferred_list(ds, 3, DFR_CONSUME_ERRORS);
    for (int i = 0; i < 3; i++)
        dfr_deferred_unref(ds[i]);
    if (!all)
        return 1;
    dfr_deferred_add_both(all, all_done, NULL, NULL);
    dfr_deferred_unref(all);
    dfr_reactor_run(reactor);
    dfr_reactor_free(reactor);
    return outcome_ok ? 0 : 1;
}
