/* libdeferred — values: the 16-byte tagged result that travels down chains.
 *
 * Ownership moves: whoever holds a value owns it.  Passing a value to a
 * function, or returning it from a callback, gives it away.  Predicates and
 * accessors below only look (they borrow).
 */
#ifndef DEFERRED_VALUE_H
#define DEFERRED_VALUE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dfr_type dfr_type;
typedef struct dfr_failure dfr_failure;
typedef struct dfr_deferred dfr_deferred;
typedef struct dfr_list dfr_list;
typedef struct dfr_bytes dfr_bytes;

/* type == NULL is none (Python's None); a zeroed value is none. */
typedef struct dfr_value {
    const dfr_type *type;
    union {
        int64_t i64;
        double f64;
        void *ptr;
    } u;
} dfr_value;

/* A value type.  `size` = sizeof(dfr_type).  `drop` frees u.ptr (NULL: nothing
 * to free).  `clone` (may be NULL) makes an independent copy; a type without
 * `clone` clones to none.  Unlike an options struct, a type is read whole
 * whatever its `size` (values are dropped on hot paths): set every field,
 * NULL for a function it has not.  It must outlive every value of it. */
struct dfr_type {
    size_t size;
    const char *name;
    void (*drop)(void *ptr);
    dfr_value (*clone)(const dfr_value *v);
};

/* Built-in types.  i64/f64 are plain; ptr is a borrowed pointer (never freed);
 * bytes, failure, deferred and list hold a reference (clone shares it). */
extern DFR_API const dfr_type dfr_type_i64;
extern DFR_API const dfr_type dfr_type_f64;
extern DFR_API const dfr_type dfr_type_ptr;
extern DFR_API const dfr_type dfr_type_bytes;
extern DFR_API const dfr_type dfr_type_failure;
extern DFR_API const dfr_type dfr_type_deferred;
extern DFR_API const dfr_type dfr_type_list;

/* Free a value (runs its type's drop).  Any thread.  Never recurses: values
 * nested in failures (payloads, causes) and lists, however deep, are freed
 * in a loop.  A user type's drop may drop the values it owns: they are gone
 * when its dfr_value_drop returns, except that past 32 drop functions
 * running on one thread, a deeper drop waits until the one at that depth
 * returns (then one more level is used if memory for that wait runs out). */
DFR_API void dfr_value_drop(dfr_value v);
/* An independent copy: refcounted built-ins share, plain ones copy, user
 * types use `clone`, a type without `clone` gives none.  NULL gives none. */
DFR_API dfr_value dfr_value_clone(const dfr_value *v);

/* Owned immutable bytes (refcounted).  Copies `len` bytes from `data`
 * (`data` may be NULL only when len == 0).  On failure the result is a
 * failure value (DFR_ENOMEM or DFR_EINVAL), never none. */
DFR_API dfr_value dfr_bytes_new(const void *data, size_t len);
/* Borrowed contents of a bytes value; NULL / 0 for anything else. */
DFR_API const void *dfr_bytes_data(const dfr_value *v);
DFR_API size_t dfr_bytes_len(const dfr_value *v);

/* Borrowed pointers inside failure / deferred values; NULL for other types. */
DFR_API dfr_failure *dfr_failure_from(const dfr_value *v);
DFR_API dfr_deferred *dfr_deferred_from(const dfr_value *v);

/* ---- inline constructors and predicates (also exported as symbols) ---- */

DFR_INLINE dfr_value dfr_none(void)
{
    dfr_value v;
    v.type = NULL;
    v.u.i64 = 0;
    return v;
}

DFR_INLINE dfr_value dfr_i64(int64_t x)
{
    dfr_value v;
    v.type = &dfr_type_i64;
    v.u.i64 = x;
    return v;
}

DFR_INLINE dfr_value dfr_f64(double x)
{
    dfr_value v;
    v.type = &dfr_type_f64;
    v.u.f64 = x;
    return v;
}

/* A borrowed pointer: the library never frees it. */
DFR_INLINE dfr_value dfr_ptr(void *p)
{
    dfr_value v;
    v.type = &dfr_type_ptr;
    v.u.ptr = p;
    return v;
}

/* A value of a user type owning `p` (freed by type->drop). */
DFR_INLINE dfr_value dfr_obj(const dfr_type *type, void *p)
{
    dfr_value v;
    v.type = type;
    v.u.ptr = p;
    return v;
}

/* Wrap a failure; takes the reference. */
DFR_INLINE dfr_value dfr_value_failure(dfr_failure *f)
{
    dfr_value v;
    v.type = &dfr_type_failure;
    v.u.ptr = f;
    return v;
}

/* Wrap a deferred; takes the reference. */
DFR_INLINE dfr_value dfr_value_deferred(dfr_deferred *d)
{
    dfr_value v;
    v.type = &dfr_type_deferred;
    v.u.ptr = d;
    return v;
}

DFR_INLINE bool dfr_is_none(dfr_value v) { return v.type == NULL; }
DFR_INLINE bool dfr_is_failure(dfr_value v) { return v.type == &dfr_type_failure; }
DFR_INLINE bool dfr_is_deferred(dfr_value v) { return v.type == &dfr_type_deferred; }
DFR_INLINE bool dfr_is_i64(dfr_value v) { return v.type == &dfr_type_i64; }
DFR_INLINE bool dfr_is_f64(dfr_value v) { return v.type == &dfr_type_f64; }
DFR_INLINE bool dfr_is_list(dfr_value v) { return v.type == &dfr_type_list; }
DFR_INLINE bool dfr_is_bytes(dfr_value v) { return v.type == &dfr_type_bytes; }

#ifdef __cplusplus
}
#endif
#endif
