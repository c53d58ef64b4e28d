/* The thread layer's internals: thread pools, for the reactor's own pool
 * (reactor.c, a backward edge: see docs/design.md) and for name lookups
 * (net/resolve.c).  Jobs are the reactor layer's dfr__job. */
#ifndef DFR_THREAD_INTERNAL_H
#define DFR_THREAD_INTERNAL_H

#include "reactor/reactor_internal.h"

/* ---- threadpool.c ---- */
int dfr__pool_submit(dfr_threadpool *p, dfr__job *job);
/* Wait for every queued job to finish, then join the threads. */
void dfr__pool_drain(dfr_threadpool *p);
dfr_threadpool *dfr__pool_new(unsigned min, unsigned max, const char *name);
int dfr__pool_resize(dfr_threadpool *p, unsigned min, unsigned max);

#endif
