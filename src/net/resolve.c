/* Name resolution: getaddrinfo on the reactor's own thread pool, so the
 * loop never blocks, the pool's size is the reactor's (threadpool_max) and
 * name lookups never queue behind libuv's file-system work. */
#include "net/net_internal.h"

#include <netdb.h>
#include <string.h>

static void resolve_run(dfr__job *job)
{
    dfr__resolve *res = (dfr__resolve *)job;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = res->family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV;
    res->gai_err = getaddrinfo(res->host, res->port, &hints, &res->ai);
    if (res->gai_err)
        res->ai = NULL;
}

/* The failure's message says why (all of these are DFR_ENOTFOUND but for
 * memory): no such name, or no resolver answered. */
static int gai_to_uv(int gai_err)
{
    switch (gai_err) {
    case EAI_MEMORY:
        return UV_ENOMEM;
    case EAI_AGAIN:
        return UV_EAI_AGAIN;
    case EAI_FAIL:
        return UV_EAI_FAIL;
    case EAI_FAMILY:
        return UV_EAI_FAMILY;
    default:
        return UV_EAI_NONAME;
    }
}

static void resolve_complete(dfr__job *job)
{
    dfr__resolve *res = (dfr__resolve *)job;
    int err = 0;
    if (!job->ran)
        err = UV_ECANCELED;
    else if (res->gai_err)
        err = gai_to_uv(res->gai_err);
    res->done(res, err, res->ai);
}

/* Lookups run only on the reactor's own pool, which dfr_reactor_free stops
 * (finishing and delivering its work) before it detaches the jobs still
 * out; so a lookup is never abandoned.  These keep the job contract all the
 * same: the request then stays with the net layer's own teardown. */
static void resolve_abandon(dfr__job *job)
{
    DFR_UNUSED(job);
}

static void resolve_release(dfr__job *job)
{
    dfr__resolve *res = (dfr__resolve *)job;
    if (res->ai)
        freeaddrinfo(res->ai);
    res->ai = NULL;
}

int dfr__resolve_submit(dfr_reactor *r, dfr__resolve *res)
{
    res->job = (dfr__job){.run = resolve_run,
                          .complete = resolve_complete,
                          .abandon = resolve_abandon,
                          .release = resolve_release};
    int rc = dfr__sink_attach(r, &res->job);
    if (rc)
        return rc;
    dfr_threadpool *pool = dfr__reactor_pool(r);
    rc = pool ? dfr__pool_submit(pool, &res->job) : DFR_ENOMEM;
    if (rc) {
        dfr__sink_detach(&res->job);
        return rc;
    }
    /* Counted only now: results are delivered on this thread. */
    dfr__reactor_job_submitted(r);
    return 0;
}
