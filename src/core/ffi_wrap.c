/* The FFI forms' adapter (ffi_wrap.h) and the deferred entry points in FFI
 * form. */
#include "core/core_internal.h"

dfr__ffi_wrap *dfr__ffi_wrap_new(dfr_value_fn cb, dfr_value_fn eb, void *data,
                                 dfr_destroy_fn destroy)
{
    dfr__ffi_wrap *w = dfr__malloc(sizeof *w);
    if (!w) {
        dfr__destroy(destroy, data);
        return NULL;
    }
    w->cb = cb;
    w->eb = eb;
    w->data = data;
    w->destroy = destroy;
    return w;
}

void dfr__ffi_wrap_destroy(void *p)
{
    dfr__ffi_wrap *w = p;
    dfr__destroy(w->destroy, w->data);
    dfr__free(w);
}

dfr_value dfr__ffi_run_cb(dfr_value v, void *p)
{
    dfr__ffi_wrap *w = p;
    w->cb(&v, w->data);
    return v;
}

dfr_value dfr__ffi_run_eb(dfr_value v, void *p)
{
    dfr__ffi_wrap *w = p;
    w->eb(&v, w->data);
    return v;
}

dfr_value dfr__ffi_run_task(void *p)
{
    dfr__ffi_wrap *w = p;
    dfr_value v = dfr_none();
    w->cb(&v, w->data);
    return v;
}

/* ---- deferreds ---- */

int dfr_deferred_add_callbacks_ffi(dfr_deferred *d, dfr_value_fn cb, dfr_value_fn eb, void *data,
                                   dfr_destroy_fn destroy)
{
    if (!d) {
        dfr__destroy(destroy, data);
        return DFR_EINVAL;
    }
    dfr__ffi_wrap *w = dfr__ffi_wrap_new(cb, eb, data, destroy);
    if (!w)
        return DFR_ENOMEM;
    /* A NULL function passes through: the engine's NULL does exactly that. */
    return dfr_deferred_add_callbacks(d, cb ? dfr__ffi_run_cb : NULL, eb ? dfr__ffi_run_eb : NULL,
                                      w, dfr__ffi_wrap_destroy);
}

static int add_one(dfr_deferred *d, dfr_value_fn cb, dfr_value_fn eb, void *data,
                   dfr_destroy_fn destroy)
{
    if (!cb && !eb) {
        dfr__destroy(destroy, data);
        return DFR_EINVAL;
    }
    return dfr_deferred_add_callbacks_ffi(d, cb, eb, data, destroy);
}

int dfr_deferred_add_callback_ffi(dfr_deferred *d, dfr_value_fn cb, void *data,
                                  dfr_destroy_fn destroy)
{
    return add_one(d, cb, NULL, data, destroy);
}

int dfr_deferred_add_errback_ffi(dfr_deferred *d, dfr_value_fn eb, void *data,
                                 dfr_destroy_fn destroy)
{
    return add_one(d, NULL, eb, data, destroy);
}

int dfr_deferred_add_both_ffi(dfr_deferred *d, dfr_value_fn fn, void *data,
                              dfr_destroy_fn destroy)
{
    return add_one(d, fn, fn, data, destroy);
}

/* Move the value out of a slot, leaving none. */
static dfr_value take(dfr_value *v)
{
    if (!v)
        return dfr_none();
    dfr_value out = *v;
    *v = dfr_none();
    return out;
}

int dfr_deferred_callback_ffi(dfr_deferred *d, dfr_value *v)
{
    if (!v)
        return DFR_EINVAL;
    return dfr_deferred_callback(d, take(v));
}

dfr_deferred *dfr_succeed_ffi(dfr_value *v)
{
    return dfr_succeed(take(v));
}

dfr_deferred *dfr_maybe_deferred_ffi(dfr_value_fn fn, void *data)
{
    if (!fn)
        return dfr_maybe_deferred(NULL, NULL);
    /* Called at once: the adapter can live on this stack. */
    dfr__ffi_wrap w = {fn, NULL, data, NULL};
    return dfr_maybe_deferred(dfr__ffi_run_task, &w);
}
