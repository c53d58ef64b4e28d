/* Hook lists: how a layer below calls up into a layer above on its rare
 * paths (dfr_trim, debug mode switched off) without naming it.  The layer
 * above adds its hook the first time it has something to release. */
#include "base/base_internal.h"

#include <pthread.h>

static pthread_mutex_t hooks_lock = PTHREAD_MUTEX_INITIALIZER;

void dfr__hooks_add(dfr__hooks *list, dfr__hook *h)
{
    /* Seen added: the push is visible too (release below). */
    if (DFR_LIKELY(atomic_load_explicit(&h->added, memory_order_acquire)))
        return;
    pthread_mutex_lock(&hooks_lock);
    if (!atomic_load_explicit(&h->added, memory_order_relaxed)) {
        h->next = atomic_load_explicit(&list->head, memory_order_relaxed);
        atomic_store_explicit(&list->head, h, memory_order_release);
        atomic_store_explicit(&h->added, true, memory_order_release);
    }
    pthread_mutex_unlock(&hooks_lock);
}

void dfr__hooks_run(dfr__hooks *list)
{
    /* Hooks are never removed and `next` never changes once published. */
    for (dfr__hook *h = atomic_load_explicit(&list->head, memory_order_acquire); h; h = h->next)
        h->fn();
}
