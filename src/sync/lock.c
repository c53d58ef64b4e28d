/* DeferredLock: a semaphore with one token whose acquire fires with the
 * lock itself. */
#include "sync/sync_internal.h"

struct dfr_lock {
    dfr__sem *core;
};

dfr_lock *dfr_lock_new(void)
{
    dfr_lock *l = dfr__malloc(sizeof *l);
    if (!l)
        return NULL;
    l->core = dfr__sem_new(1);
    if (!l->core) {
        dfr__free(l);
        return NULL;
    }
    return l;
}

void dfr_lock_free(dfr_lock *l)
{
    if (!l)
        return;
    dfr__sem_free(l->core);
    dfr__free(l);
}

dfr_deferred *dfr_lock_acquire(dfr_lock *l)
{
    return l ? dfr__sem_acquire(l->core, l) : dfr__refused(DFR_EINVAL);
}

int dfr_lock_release(dfr_lock *l)
{
    return l ? dfr__sem_release(l->core, l) : DFR_EINVAL;
}

bool dfr_lock_locked(const dfr_lock *l)
{
    return l && dfr__sem_tokens(l->core) == 0;
}

size_t dfr_lock_waiting(const dfr_lock *l)
{
    return l ? dfr__sem_waiting(l->core) : 0;
}

dfr_deferred *dfr_lock_run(dfr_lock *l, dfr_task_fn fn, void *data, dfr_destroy_fn destroy)
{
    if (!l || !fn) {
        dfr__destroy(destroy, data);
        return dfr__refused(DFR_EINVAL);
    }
    return dfr__sem_run(l->core, l, fn, data, destroy);
}
