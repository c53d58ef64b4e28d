/* libdeferred — the FFI forms: every feature, callable from a generic FFI
 * (Python ctypes and cffi, JNA/Panama, LuaJIT, Node's Koffi) with no
 * compiled glue.  See docs/ffi.md.
 *
 * Generic FFIs can call C functions taking and returning pointers, integers
 * and doubles, and can make C callbacks returning void or an integer.  They
 * cannot always make a callback that returns a struct (ctypes and LuaJIT
 * refuse), and libffi cannot describe a union.  So:
 *
 *  - Every entry point whose callback returns a dfr_value has a twin named
 *    like it with the suffix `_ffi`, whose callback is a dfr_value_fn: it
 *    gets a pointer to the value and leaves its result in the same place.
 *    Functions taking or giving a dfr_value by value have an `_ffi` twin
 *    taking a pointer (for the value constructors, predicates, drop and
 *    clone: the dfr_value_* accessors below).  The twins are thin wrappers
 *    over the same engine: same ownership, the same `destroy` rule (runs
 *    exactly once, also on every error), same threads.  Functions whose
 *    callbacks return void (dfr_reactor_call_later, dfr_reactor_call_from_thread, delayed
 *    calls, the manual clock, cancellers) need no twin and have none.
 *    Tests: tests/core/test_ffi_forms.cpp, tests/python/.
 *  - dfr_value_get_* / dfr_value_set_* read and build values through a
 *    pointer, so an FFI may treat dfr_value as 16 opaque bytes.
 *  - To pass a dfr_value by value anyway (dfr_i64, dfr_value_drop, ...),
 *    an FFI declares it without the union, as DFR_VALUE_FFI_DECL below:
 *    same size, alignment, offsets and calling convention on x86-64 SysV
 *    and AArch64 AAPCS64 (tests/core/test_ffi_forms.cpp and ffi_abi_*.c
 *    pin it; docs/ffi.md says why).
 *
 * Slots: a `dfr_value *` the library writes into is a slot.  Writing into a
 * slot drops what it held, so a slot must hold a value or none; zeroed
 * memory is none (ctypes, cffi, JNA and LuaJIT zero what they allocate).
 * A function that takes a slot's value leaves none behind, in every case.
 *
 * Coroutines (dfr_inline_callbacks, dfr_await) have no FFI form: they run
 * the function on a C stack of their own, where an interpreter's or a
 * virtual machine's own stack bookkeeping does not expect to run.
 */
#ifndef DEFERRED_FFI_FORMS_H
#define DEFERRED_FFI_FORMS_H

#include "list.h"
#include "reactor.h"
#include "thread.h"
#include "util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The declaration an FFI uses for dfr_value (C code keeps value.h's). */
#define DFR_VALUE_FFI_DECL "typedef struct dfr_value { const void *type; int64_t bits; } dfr_value;"

/* A callback or task in FFI form.  As a callback: *v holds the result (the
 * callback owns it); whatever *v holds on return is the next result —
 * leave it alone to pass it through, or replace it with dfr_value_set_*
 * (a failure takes the errback path, a deferred is waited for).  As a task:
 * *v starts as none; leave the result there.  v is never NULL. */
typedef void (*dfr_value_fn)(dfr_value *v, void *data);

/* ---- values through pointers ---- */

/* What a value is (dfr_value_kind). */
typedef enum dfr_kind {
    DFR_KIND_INVALID = -1, /* what dfr_value_kind answers for NULL */
    DFR_KIND_NONE = 0,
    DFR_KIND_I64 = 1,
    DFR_KIND_F64 = 2,
    DFR_KIND_PTR = 3,
    DFR_KIND_BYTES = 4,
    DFR_KIND_FAILURE = 5,
    DFR_KIND_DEFERRED = 6,
    DFR_KIND_LIST = 7,
    DFR_KIND_OTHER = 8 /* a user type: dfr_value_type, dfr_value_get_ptr */
} dfr_kind;

/* A DFR_KIND_*; DFR_KIND_INVALID for NULL v (-1, as DFR_EINVAL was). */
DFR_API int dfr_value_kind(const dfr_value *v);
/* The type pointer (NULL for none and for NULL v). */
DFR_API const dfr_type *dfr_value_type(const dfr_value *v);

/* Reads (borrowed).  Another kind, or NULL v, gives 0 / 0.0 / NULL. */
DFR_API int64_t dfr_value_get_i64(const dfr_value *v);
DFR_API double dfr_value_get_f64(const dfr_value *v);
/* The pointer of a ptr value or of a user type's value. */
DFR_API void *dfr_value_get_ptr(const dfr_value *v);
/* Contents of a bytes value (not NUL-terminated); *len (len may be NULL)
 * gets its length, 0 for another kind. */
DFR_API const void *dfr_value_get_bytes(const dfr_value *v, size_t *len);

/* Writes: each drops what *v held.  NULL v is ignored (int forms:
 * DFR_EINVAL, and what they would have taken is released). */
DFR_API void dfr_value_set_none(dfr_value *v);
DFR_API void dfr_value_set_i64(dfr_value *v, int64_t x);
DFR_API void dfr_value_set_f64(dfr_value *v, double x);
/* A borrowed pointer: the library never frees it. */
DFR_API void dfr_value_set_ptr(dfr_value *v, void *p);
/* A value of a user type owning p (type->drop frees it).  NULL type:
 * DFR_EINVAL (p is not freed: there is nothing to free it with). */
DFR_API int dfr_value_set_obj(dfr_value *v, const dfr_type *type, void *p);
/* Copies len bytes (data NULL only with len 0).  On error (DFR_EINVAL,
 * DFR_ENOMEM) *v becomes that failure, like dfr_bytes_new. */
DFR_API int dfr_value_set_bytes(dfr_value *v, const void *data, size_t len);
/* The bytes of a NUL-terminated string, without the NUL.  NULL s: DFR_EINVAL. */
DFR_API int dfr_value_set_string(dfr_value *v, const char *s);
/* A failure value; takes the reference.  NULL f: DFR_EINVAL. */
DFR_API int dfr_value_set_failure(dfr_value *v, dfr_failure *f);
/* A deferred value (a callback leaving one makes the chain wait for it);
 * takes the reference.  NULL d: DFR_EINVAL. */
DFR_API int dfr_value_set_deferred(dfr_value *v, dfr_deferred *d);
/* A list value of n entries (the shape DeferredList fires with): takes
 * items[0..n) (each left none); ok[i] says whether entry i succeeded (NULL
 * ok: all did).  items may be NULL only when n == 0.  On DFR_ENOMEM the
 * items are still taken (dropped) and *v becomes a DFR_ENOMEM failure. */
DFR_API int dfr_value_set_list(dfr_value *v, dfr_value *items, const bool *ok, size_t n);
/* Move *src into *dst (src left none); dst == src does nothing. */
DFR_API void dfr_value_move(dfr_value *dst, dfr_value *src);
/* *dst becomes a clone of *src (dfr_value_clone's rules). */
DFR_API void dfr_value_copy(dfr_value *dst, const dfr_value *src);

/* dfr_list_take: moves entry i into *out (none for NULL l or out of range). */
DFR_API void dfr_list_take_ffi(dfr_list *l, size_t i, dfr_value *out);

/* dfr_failure_new with a domain that need not outlive the call: it is
 * copied once per distinct string and kept for the life of the process
 * (domains are few and compared as strings; the copies come from the C
 * library's malloc, as static data would).  NULL on OOM. */
DFR_API dfr_failure *dfr_failure_new_ffi(const char *domain, int code, const char *message);
/* dfr_failure_set_payload taking *payload. */
DFR_API int dfr_failure_set_payload_ffi(dfr_failure *f, dfr_value *payload);

/* ---- deferreds ---- */

/* The dfr_deferred_add_* family with FFI-form callbacks; same rules (a NULL
 * cb/eb of add_callbacks passes through; a NULL fn of the single-path forms
 * is DFR_EINVAL; destroy(data) runs exactly once, on error before the
 * return). */
DFR_API int dfr_deferred_add_callbacks_ffi(dfr_deferred *d, dfr_value_fn cb, dfr_value_fn eb,
                                           void *data, dfr_destroy_fn destroy);
DFR_API int dfr_deferred_add_callback_ffi(dfr_deferred *d, dfr_value_fn cb, void *data,
                                          dfr_destroy_fn destroy);
DFR_API int dfr_deferred_add_errback_ffi(dfr_deferred *d, dfr_value_fn eb, void *data,
                                         dfr_destroy_fn destroy);
DFR_API int dfr_deferred_add_both_ffi(dfr_deferred *d, dfr_value_fn fn, void *data,
                                      dfr_destroy_fn destroy);
/* dfr_deferred_callback taking *v (NULL v: DFR_EINVAL). */
DFR_API int dfr_deferred_callback_ffi(dfr_deferred *d, dfr_value *v);
/* dfr_succeed taking *v (NULL v: none). */
DFR_API dfr_deferred *dfr_succeed_ffi(dfr_value *v);
/* dfr_maybe_deferred with a task in FFI form. */
DFR_API dfr_deferred *dfr_maybe_deferred_ffi(dfr_value_fn fn, void *data);

/* ---- DeferredLock, DeferredSemaphore, DeferredQueue ---- */

DFR_API dfr_deferred *dfr_lock_run_ffi(dfr_lock *l, dfr_value_fn fn, void *data,
                                       dfr_destroy_fn destroy);
DFR_API dfr_deferred *dfr_semaphore_run_ffi(dfr_semaphore *s, dfr_value_fn fn, void *data,
                                            dfr_destroy_fn destroy);
/* dfr_queue_put taking *v. */
DFR_API int dfr_queue_put_ffi(dfr_queue *q, dfr_value *v);

/* ---- the reactor and threads (names of the dfr_reactor_* pattern) ---- */

/* dfr_reactor_defer_later with a task in FFI form (fn NULL: fires with none). */
DFR_API dfr_deferred *dfr_reactor_defer_later_ffi(dfr_reactor *r, double delay, dfr_value_fn fn,
                                                  void *data, dfr_destroy_fn destroy);
/* dfr_reactor_add_system_event_trigger with a task in FFI form. */
DFR_API int dfr_reactor_add_system_event_trigger_ffi(dfr_reactor *r, dfr_trigger_phase phase,
                                                     dfr_trigger_event event,
                                                     dfr_value_fn fn, void *data,
                                                     dfr_destroy_fn destroy, uint64_t *id);
/* dfr_deferred_add_timeout_with with on_timeout in FFI form. */
DFR_API int dfr_deferred_add_timeout_with_ffi(dfr_deferred *d, dfr_reactor *r, double seconds,
                                              dfr_value_fn on_timeout, void *data,
                                              dfr_destroy_fn destroy);
/* dfr_looping_call_new with a task in FFI form. */
DFR_API dfr_looping_call *dfr_looping_call_new_ffi(dfr_reactor *r, dfr_value_fn fn, void *data,
                                                   dfr_destroy_fn destroy);
/* dfr_reactor_defer_to_thread / dfr_reactor_defer_to_threadpool with a task in FFI form:
 * fn runs on a pool thread, destroy on the reactor thread. */
DFR_API dfr_deferred *dfr_reactor_defer_to_thread_ffi(dfr_reactor *r, dfr_value_fn fn,
                                                      void *data, dfr_destroy_fn destroy);
DFR_API dfr_deferred *dfr_reactor_defer_to_threadpool_ffi(dfr_reactor *r, dfr_threadpool *p,
                                                          dfr_value_fn fn, void *data,
                                                          dfr_destroy_fn destroy);
/* dfr_reactor_blocking_call_from_thread writing the result into *out.  NULL out:
 * DFR_EINVAL without calling; else 0 (the result, maybe a failure, is in
 * *out). */
DFR_API int dfr_reactor_blocking_call_from_thread_ffi(dfr_reactor *r, dfr_value_fn fn, void *data,
                                                      dfr_value *out);

#ifdef __cplusplus
}
#endif
#endif
