/* The FFI forms' adapter: a callback or task in FFI form (dfr_value_fn)
 * registered with the engine as an ordinary dfr_callback_fn / dfr_task_fn.
 * The engine owns the adapter as its `data`; its `destroy` runs the user's
 * destroy and frees the adapter, so the user's destroy runs exactly when,
 * and as often as, the engine's rule says. */
#ifndef DFR_FFI_WRAP_H
#define DFR_FFI_WRAP_H

#include "internal.h"

typedef struct dfr__ffi_wrap {
    dfr_value_fn cb, eb; /* eb: the errback of a callback pair */
    void *data;
    dfr_destroy_fn destroy;
} dfr__ffi_wrap;

/* A new adapter; NULL on OOM, and then destroy(data) has run. */
dfr__ffi_wrap *dfr__ffi_wrap_new(dfr_value_fn cb, dfr_value_fn eb, void *data,
                                 dfr_destroy_fn destroy);
/* The engine's destroy for an adapter. */
void dfr__ffi_wrap_destroy(void *w);
/* dfr_callback_fn running w->cb / w->eb on the result in place. */
dfr_value dfr__ffi_run_cb(dfr_value v, void *w);
dfr_value dfr__ffi_run_eb(dfr_value v, void *w);
/* dfr_task_fn running w->cb on a none slot. */
dfr_value dfr__ffi_run_task(void *w);

#endif
