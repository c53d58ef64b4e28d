/* Poetry client 7.0 in C: fetch a poem, then transform it, falling back to
 * the original when the transform fails — written top to bottom as a
 * coroutine (get_transformed_poem from Part 17 of Dave Peticolas's Twisted
 * Introduction).
 *
 * Timers stand in for the network here, so that every path (a transform
 * failing for one poem, a server down) shows up in one deterministic run;
 * examples/poetry/ is the same client on real sockets.  get_poetry and
 * xform_cummingsify return deferreds that the reactor fires (or fails) a
 * few milliseconds later, via deferLater.  Three
 * coroutines run at once and interleave — the timestamps show it — and a
 * DeferredList stops the reactor when all are done, as the Introduction's
 * poem_done does. */
#include <deferred.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static dfr_reactor *reactor;

static void say(const char *who, const char *what, const dfr_value *v)
{
    printf("%5.3f s: %-8s %s", dfr_reactor_seconds(reactor), who, what);
    if (dfr_is_bytes(*v))
        printf(" %.*s\n", (int)dfr_bytes_len(v), (const char *)dfr_bytes_data(v));
    else
        printf(" %s\n", dfr_failure_message(dfr_failure_from(v)));
}

/* ---- stand-ins for the network ---- */

/* Runs when the download "completes": the poem, or (NULL) a refusal.  A
 * failure value returned here makes deferLater's deferred errback. */
static dfr_value download(void *poem)
{
    if (!poem)
        return dfr_value_failure(dfr_failure_new("poetry", 1, "Connection was refused."));
    return dfr_bytes_new(poem, strlen(poem));
}

static dfr_deferred *get_poetry(dfr_reactor *r, const char *poem, double delay, bool fail)
{
    return dfr_reactor_defer_later(r, delay, download, fail ? NULL : (void *)poem, NULL);
}

/* The transform server: lower-cases (cummingsifies) its own copy. */
static dfr_value cummingsify(void *text)
{
    if (!text)
        return dfr_value_failure(dfr_failure_new("poetry", 2, "Cummingsify failed!"));
    for (char *p = text; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return dfr_bytes_new(text, strlen(text));
}

/* Borrows `poem`: the request carries a copy, freed by deferLater. */
static dfr_deferred *xform_cummingsify(dfr_reactor *r, const dfr_value *poem, bool fail)
{
    char *copy = NULL;
    if (!fail) {
        size_t n = dfr_bytes_len(poem);
        if (!(copy = malloc(n + 1)))
            return NULL; /* dfr_await(NULL) gives a failure: the fallback */
        memcpy(copy, dfr_bytes_data(poem), n);
        copy[n] = '\0';
    }
    return dfr_reactor_defer_later(r, 0.015, cummingsify, copy, free);
}

/* ---- the coroutine: client 7.0's get_transformed_poem ---- */

typedef struct server {
    const char *name, *poem;
    double delay;
    bool down, xform_fails;
} server;

static dfr_value get_transformed_poem(void *data)
{
    const server *s = data;
    dfr_value poem = dfr_await(get_poetry(reactor, s->poem, s->delay, s->down));
    if (dfr_is_failure(poem)) {
        say(s->name, "The poem download failed:", &poem);
        return poem; /* the Introduction's `raise`: whoever waits sees the failure */
    }
    say(s->name, "got", &poem);

    dfr_value xformed = dfr_await(xform_cummingsify(reactor, &poem, s->xform_fails));
    if (dfr_is_failure(xformed)) {
        say(s->name, "Keeping the original:", &xformed);
        dfr_value_drop(xformed);
        return poem; /* returnValue(poem): fall back to the original */
    }
    dfr_value_drop(poem);
    say(s->name, "transformed:", &xformed);
    return xformed;
}

/* ---- main: start three, wait for all (the Introduction's got_poem/poem_done) ---- */

static const server servers[3] = {
    {"science", "I AM NOT A SCIENTIST", 0.030, false, false},
    {"tide", "FASCINATION IS A TIDE", 0.020, false, true}, /* its transform fails */
    {"down", "never sent", 0.010, true, false},            /* the server is down */
};
/* What each should end with: transformed, the original, the failure. */
static const char *const expected[3] = {"i am not a scientist", "FASCINATION IS A TIDE",
                                        "Connection was refused."};
static int matched;

static dfr_value poem_done(dfr_value v, void *data)
{
    (void)data;
    dfr_list *l = dfr_list_from(&v);
    for (size_t i = 0; i < dfr_list_len(l) && i < 3; i++) {
        const dfr_value *r = dfr_list_get(l, i);
        const char *text = dfr_list_ok(l, i) ? dfr_bytes_data(r)
                                             : dfr_failure_message(dfr_failure_from(r));
        size_t n = dfr_list_ok(l, i) ? dfr_bytes_len(r) : strlen(text);
        printf("%-8s %s: %.*s\n", servers[i].name, dfr_list_ok(l, i) ? "poem" : "failed",
               (int)n, text);
        matched += dfr_list_ok(l, i) == (i != 2) && n == strlen(expected[i]) &&
                   memcmp(text, expected[i], n) == 0;
    }
    dfr_value_drop(v);
    dfr_reactor_stop(reactor);
    return dfr_none();
}

int main(void)
{
    reactor = dfr_reactor_new(NULL);
    if (!reactor)
        return 1;
    /* Small coroutines: 64 KiB of stack each is plenty (default 256 KiB). */
    dfr_coroutine_options opts = {.size = sizeof opts, .stack_size = 64 * 1024};
    dfr_deferred *ds[3];
    for (int i = 0; i < 3; i++) /* each runs to its first wait, then returns */
        if (!(ds[i] = dfr_inline_callbacks_ex(get_transformed_poem, (void *)&servers[i], NULL,
                                              &opts)))
            return 1;
    /* A failed poem is an outcome to report: the list consumes its error. */
    dfr_deferred *all = dfr_deferred_list(ds, 3, DFR_CONSUME_ERRORS);
    for (int i = 0; i < 3; i++)
        dfr_deferred_unref(ds[i]);
    if (!all)
        return 1;
    dfr_deferred_add_both(all, poem_done, NULL, NULL);
    dfr_deferred_unref(all);
    dfr_reactor_run(reactor);
    dfr_reactor_free(reactor);
    printf("%d of 3 outcomes as expected\n", matched);
    return matched == 3 ? 0 : 1;
}
