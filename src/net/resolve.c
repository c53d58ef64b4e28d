/* Name resolution: getaddrinfo on the reactor's own thread pool, so the
 * loop never blocks, the pool's size is the reactor's (threadpool_max) and
 * name lookups never queue behind libuv's file-system work. */
#include "net_internal.h"

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

static void resolve_complete(dfr__job *job)
{
    dfr__resolve *res = (dfr__resolve *)job;
    int err = 0;
    if (!job->ran)
        err = UV_ECANCELED;
    else if (res->gai_err)
        err = res->gai_err == EAI_MEMORY ? UV_ENOMEM : UV_EAI_NONAME;
    res->done(res, err, res->ai);
}

int dfr__resolve_submit(dfr_reactor *r, dfr__resolve *res)
{
    dfr_threadpool *pool = dfr__reactor_pool(r);
    if (!pool)
        return DFR_ENOMEM;
    res->job.run = resolve_run;
    res->job.complete = resolve_complete;
    res->job.r = r;
    res->job.ran = false;
    dfr__reactor_job_submitted(r);
    int rc = dfr__pool_submit(pool, &res->job);
    if (rc)
        atomic_fetch_sub(&r->jobs_in_flight, 1);
    return rc;
}
