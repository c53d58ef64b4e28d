/* libdeferred — deferToThread for any C function, through libffi.  Not part
 * of <deferred.h>: include it where libffi's <ffi.h> is available. */
#ifndef DEFERRED_FFI_H
#define DEFERRED_FFI_H

#include <ffi.h>

#include "thread.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Call fn with `args` (as for ffi_call) on the reactor's pool.  `cif` must
 * have been set up by ffi_prep_cif.  The cif, its argument type list and
 * every argument are copied now, so the caller may reuse them at once (the
 * ffi_type objects themselves must stay alive: the built-in ffi_type_*
 * always do).  The deferred fires with the return value: i64 for integer
 * types, f64 for float/double, ptr for pointers, none for void, a bytes value
 * holding the returned struct for a struct of any size (a DFR_ENOMEM failure
 * if those bytes cannot be allocated), and none for long double and complex.
 * Bad input gives a deferred already failed with DFR_EINVAL: NULL r, cif or
 * fn; a NULL or unprepared (size 0) return or argument type, a void
 * argument, an unknown type code; more than 1024 arguments; arguments
 * without `args` or without the cif's type list; a NULL argument pointer.
 * Off the reactor's thread: failed with DFR_ENOTOWNER.  NULL only on OOM. */
DFR_API dfr_deferred *dfr_reactor_defer_call(dfr_reactor *r, ffi_cif *cif, void (*fn)(void), void **args);

#ifdef __cplusplus
}
#endif
#endif
