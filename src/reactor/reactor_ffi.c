/* The reactor's and the thread pool's entry points in FFI form
 * (ffi_forms.h): their tasks write their result through a pointer. */
#include "reactor/reactor_internal.h"

dfr_deferred *dfr_reactor_defer_later_ffi(dfr_reactor *r, double delay, dfr_value_fn fn,
                                          void *data, dfr_destroy_fn destroy)
{
    if (!r || !fn) /* no task to adapt: the engine's rules apply as they are */
        return dfr_reactor_defer_later(r, delay, NULL, data, destroy);
    dfr__ffi_wrap *w = dfr__ffi_wrap_new(fn, NULL, data, destroy);
    if (!w)
        return NULL;
    return dfr_reactor_defer_later(r, delay, dfr__ffi_run_task, w, dfr__ffi_wrap_destroy);
}

int dfr_reactor_add_system_event_trigger_ffi(dfr_reactor *r, dfr_trigger_phase phase,
                                             dfr_trigger_event event,
                                             dfr_value_fn fn, void *data, dfr_destroy_fn destroy,
                                             uint64_t *id)
{
    if (!r || !fn)
        return dfr_reactor_add_system_event_trigger(r, phase, event, NULL, data, destroy, id);
    dfr__ffi_wrap *w = dfr__ffi_wrap_new(fn, NULL, data, destroy);
    if (!w)
        return DFR_ENOMEM;
    return dfr_reactor_add_system_event_trigger(r, phase, event, dfr__ffi_run_task, w,
                                        dfr__ffi_wrap_destroy, id);
}

int dfr_deferred_add_timeout_with_ffi(dfr_deferred *d, dfr_reactor *r, double seconds,
                                      dfr_value_fn on_timeout, void *data, dfr_destroy_fn destroy)
{
    if (!on_timeout)
        return dfr_deferred_add_timeout_with(d, r, seconds, NULL, data, destroy);
    dfr__ffi_wrap *w = dfr__ffi_wrap_new(on_timeout, NULL, data, destroy);
    if (!w)
        return DFR_ENOMEM;
    return dfr_deferred_add_timeout_with(d, r, seconds, dfr__ffi_run_cb, w, dfr__ffi_wrap_destroy);
}

dfr_looping_call *dfr_looping_call_new_ffi(dfr_reactor *r, dfr_value_fn fn, void *data,
                                           dfr_destroy_fn destroy)
{
    if (!r || !fn)
        return dfr_looping_call_new(r, NULL, data, destroy);
    dfr__ffi_wrap *w = dfr__ffi_wrap_new(fn, NULL, data, destroy);
    if (!w)
        return NULL;
    return dfr_looping_call_new(r, dfr__ffi_run_task, w, dfr__ffi_wrap_destroy);
}

dfr_deferred *dfr_reactor_defer_to_threadpool_ffi(dfr_reactor *r, dfr_threadpool *p,
                                                  dfr_value_fn fn, void *data,
                                                  dfr_destroy_fn destroy)
{
    if (!r || !p || !fn)
        return dfr_reactor_defer_to_threadpool(r, p, NULL, data, destroy);
    dfr__ffi_wrap *w = dfr__ffi_wrap_new(fn, NULL, data, destroy);
    if (!w)
        return NULL;
    return dfr_reactor_defer_to_threadpool(r, p, dfr__ffi_run_task, w, dfr__ffi_wrap_destroy);
}

dfr_deferred *dfr_reactor_defer_to_thread_ffi(dfr_reactor *r, dfr_value_fn fn, void *data,
                                              dfr_destroy_fn destroy)
{
    if (!r || !fn)
        return dfr_reactor_defer_to_thread(r, NULL, data, destroy);
    dfr__ffi_wrap *w = dfr__ffi_wrap_new(fn, NULL, data, destroy);
    if (!w)
        return NULL;
    return dfr_reactor_defer_to_thread(r, dfr__ffi_run_task, w, dfr__ffi_wrap_destroy);
}

int dfr_reactor_blocking_call_from_thread_ffi(dfr_reactor *r, dfr_value_fn fn, void *data,
                                              dfr_value *out)
{
    if (!out)
        return DFR_EINVAL;
    /* The caller waits until fn has run or never will: the adapter can live
     * on this stack. */
    dfr__ffi_wrap w = {fn, NULL, data, NULL};
    dfr_value x = dfr_reactor_blocking_call_from_thread(r, fn ? dfr__ffi_run_task : NULL, &w);
    dfr_value old = *out;
    *out = x;
    dfr_value_drop(old);
    return DFR_OK;
}
