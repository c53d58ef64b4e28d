/* DeferredLock, DeferredSemaphore and DeferredQueue entry points in FFI
 * form (ffi_forms.h). */
#include "core/core_internal.h"

dfr_deferred *dfr_lock_run_ffi(dfr_lock *l, dfr_value_fn fn, void *data, dfr_destroy_fn destroy)
{
    if (!l || !fn) /* the engine answers bad input (destroy runs) */
        return dfr_lock_run(l, NULL, data, destroy);
    dfr__ffi_wrap *w = dfr__ffi_wrap_new(fn, NULL, data, destroy);
    if (!w)
        return NULL;
    return dfr_lock_run(l, dfr__ffi_run_task, w, dfr__ffi_wrap_destroy);
}

dfr_deferred *dfr_semaphore_run_ffi(dfr_semaphore *s, dfr_value_fn fn, void *data,
                                    dfr_destroy_fn destroy)
{
    if (!s || !fn)
        return dfr_semaphore_run(s, NULL, data, destroy);
    dfr__ffi_wrap *w = dfr__ffi_wrap_new(fn, NULL, data, destroy);
    if (!w)
        return NULL;
    return dfr_semaphore_run(s, dfr__ffi_run_task, w, dfr__ffi_wrap_destroy);
}

int dfr_queue_put_ffi(dfr_queue *q, dfr_value *v)
{
    if (!v)
        return DFR_EINVAL;
    dfr_value x = *v;
    *v = dfr_none();
    return dfr_queue_put(q, x);
}
