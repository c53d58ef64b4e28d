/* The binding's C side: trampolines from the library's callbacks into Go and
 * the few wrappers that take a cgo.Handle (an integer, never a Go pointer) as
 * the callback data.  Every call into the library that passes Go callbacks is
 * here, one place per concept, so a rename of the C API is a sed. */
#ifndef DFRGO_SHIM_H
#define DFRGO_SHIM_H

#include <deferred.h>
#include <stdlib.h>

/* Build-time version check: the binding is written against libdeferred 0.x.
 * The header has no version macros yet; when it gains them this check uses
 * them, until then the required entry points are checked by the compiler. */
#if defined(DFR_VERSION_MAJOR)
#if DFR_VERSION_MAJOR != 0
#error "bindings/go needs libdeferred 0.x: this deferred.h is another major version"
#endif
#endif
/* (DeferredList flags are an enum since 0.2: checked by _Static_assert below.) */
#if !defined(DFR_UNLIMITED) || !defined(DFR_DOMAIN)
#error "bindings/go needs libdeferred >= 0.1: this deferred.h is too old"
#endif

/* Constants the Go side spells out (so go doc shows them). */
_Static_assert(DFR_FIRE_ON_ONE_CALLBACK == 1 && DFR_FIRE_ON_ONE_ERRBACK == 2 &&
                   DFR_CONSUME_ERRORS == 4,
               "bindings/go: DeferredList flags changed in deferred.h");
_Static_assert(DFR_PENDING == 0 && DFR_SUCCEEDED == 1 && DFR_FAILED == 2,
               "bindings/go: dfr_state values changed in deferred.h");
_Static_assert(sizeof(dfr_value) == 16, "bindings/go: dfr_value is not 16 bytes");

/* Kinds of value, as the Go side sees them (value_c.go). */
enum {
    DFRGO_NONE = 0, DFRGO_I64, DFRGO_F64, DFRGO_BYTES, DFRGO_FAILURE,
    DFRGO_DEFERRED, DFRGO_LIST, DFRGO_PTR, DFRGO_GO, DFRGO_OTHER
};

const dfr_type *dfrgo_go_type(void);
dfr_value dfrgo_value_go(uintptr_t h);
dfr_value dfrgo_value_failure(dfr_failure *f);
dfr_value dfrgo_value_deferred(dfr_deferred *d);
const char *dfrgo_domain(const char *name);

/* Callbacks with a Go function as data. */
/* The calling thread's id (cached per thread).  The hot wrappers below take
 * the reactor thread's id and fail with DFR_ENOTOWNER before touching
 * anything when called from another thread (a handle they were given is
 * released, a value dropped). */
long dfrgo_tid(void);
dfr_deferred *dfrgo_deferred_new(long tid, int *rc);
int dfrgo_deferred_callback(long tid, dfr_deferred *d, dfr_value v);
int dfrgo_add_callbacks(long tid, dfr_reactor *r, dfr_deferred *d, int cb, int eb, uintptr_t h,
                        uint32_t idx);
uintptr_t dfrgo_go_handle(const dfr_value *v);
typedef struct dfrgo_release {
    uintptr_t h;
    uint32_t idx;
    int chain;
} dfrgo_release;
size_t dfrgo_take_releases(dfrgo_release *out, size_t max);
extern volatile int dfrgo_releases_pending;
dfr_deferred *dfrgo_deferred_new_cancellable(uintptr_t h);
int dfrgo_call_from_thread(dfr_reactor *r, uintptr_t h);
/* Wake the reactor to drain the Go queue of reactor h (no destroy: h lives
 * until the reactor is freed). */
int dfrgo_post(dfr_reactor *r, uintptr_t h);
int dfrgo_call_later(dfr_reactor *r, double delay, uintptr_t h, dfr_delayed_call **out);
dfr_deferred *dfrgo_defer_later(dfr_reactor *r, double delay, uintptr_t h);
dfr_looping_call *dfrgo_looping_call_new(dfr_reactor *r, uintptr_t h);
dfr_deferred *dfrgo_lock_run(dfr_lock *l, uintptr_t h);
dfr_deferred *dfrgo_semaphore_run(dfr_semaphore *s, uintptr_t h);
dfr_deferred *dfrgo_defer_to_thread(dfr_reactor *r, uintptr_t h);
dfr_reactor *dfrgo_reactor_new(bool manual, unsigned tmin, unsigned tmax);
void dfrgo_floor(void);

#endif
