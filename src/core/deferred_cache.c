/* The per-thread cache of freed deferreds (block_alloc, its fast path, is
 * inline in deferred_impl.h) and dfr_trim, which empties this thread's
 * caches. */
#include "core/deferred_impl.h"

#include <pthread.h>

DFR__FAST_TLS dfr_deferred *dfr__cache_head;
DFR__FAST_TLS unsigned dfr__cache_len;
static DFR__FAST_TLS bool trim_armed; /* dfr_trim runs at this thread's exit */
static pthread_key_t trim_key;
static pthread_once_t trim_once = PTHREAD_ONCE_INIT;
static bool trim_key_ok;
static dfr__hooks trim_hooks; /* the layers' caches above (coroutine stacks) */

void dfr__trim_hooks_run(void)
{
    dfr__hooks_run(&trim_hooks);
}

void dfr_trim(void)
{
    dfr__trim_hooks_run();
    dfr_deferred *d = dfr__cache_head;
    dfr__cache_head = NULL;
    dfr__cache_len = 0;
    while (d) {
        dfr_deferred *next = d->link;
        dfr__free(d);
        d = next;
    }
}

static void trim_at_exit(void *unused)
{
    DFR_UNUSED(unused);
    dfr_trim();
}

static void trim_make_key(void)
{
    trim_key_ok = pthread_key_create(&trim_key, trim_at_exit) == 0;
}

static inline bool trim_armed_now(void)
{
    if (DFR_LIKELY(trim_armed))
        return true;
    pthread_once(&trim_once, trim_make_key);
    trim_armed = trim_key_ok && pthread_setspecific(trim_key, &trim_armed) == 0;
    return trim_armed;
}

bool dfr__trim_at_thread_exit(dfr__hook *trim)
{
    dfr__hooks_add(&trim_hooks, trim);
    return trim_armed_now();
}

DFR__HOT void dfr__block_free(dfr_deferred *d)
{
    if (DFR__USE_CACHE && dfr__cache_len < DFR__CACHE_MAX) {
        if (DFR_UNLIKELY(!trim_armed_now())) {
            dfr__free(d);
            return;
        }
        d->link = dfr__cache_head;
        dfr__cache_head = d;
        dfr__cache_len++;
        return;
    }
    dfr__free(d);
}
