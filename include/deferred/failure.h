/* libdeferred — failures: refcounted, immutable error objects (Twisted's
 * Failure).  A failure has a static `domain` string, an int `code` and a
 * message, optionally a cause (another failure) and a payload value. */
#ifndef DEFERRED_FAILURE_H
#define DEFERRED_FAILURE_H

#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A new failure (refcount 1).  `domain` must be a static string (it is not
 * copied; NULL is DFR_DOMAIN); `message` is copied (NULL: empty).
 * NULL when out of memory. */
DFR_API dfr_failure *dfr_failure_new(const char *domain, int code, const char *message);
/* Same with a printf-style message. */
DFR_API dfr_failure *dfr_failure_newf(const char *domain, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* A failure whose cause is `cause`; takes the cause's reference (also when it
 * returns NULL: the cause is released then). */
DFR_API dfr_failure *dfr_failure_wrap(dfr_failure *cause, const char *domain, int code,
                                      const char *message);

/* Reference counting; any thread.  NULL is ignored. */
DFR_API dfr_failure *dfr_failure_ref(dfr_failure *f);
DFR_API void dfr_failure_unref(dfr_failure *f);

/* Accessors (borrowed; NULL f gives NULL / 0 / ""). */
DFR_API const char *dfr_failure_domain(const dfr_failure *f);
DFR_API int dfr_failure_code(const dfr_failure *f);
DFR_API const char *dfr_failure_message(const dfr_failure *f);
DFR_API const dfr_failure *dfr_failure_cause(const dfr_failure *f);
/* For a DFR_EFIRST failure: index of the input that failed; else -1. */
DFR_API int64_t dfr_failure_index(const dfr_failure *f);

/* Failure.check: same domain (compared as strings) and code, or any code of
 * the domain when `code` is DFR_ANY. */
DFR_API bool dfr_failure_check(const dfr_failure *f, const char *domain, int code);

/* Attach a binding's own exception object (takes ownership of `payload`;
 * a previous payload is dropped).  DFR_EINVAL (payload dropped) for NULL f
 * and for the library's shared preallocated failures (out of memory, and
 * outside debug mode cancellation and other library codes), which must not
 * carry anyone's payload: wrap one with dfr_failure_wrap to attach one. */
DFR_API int dfr_failure_set_payload(dfr_failure *f, dfr_value payload);
/* Borrowed payload; NULL when there is none. */
DFR_API const dfr_value *dfr_failure_payload(const dfr_failure *f);

/* Human-readable report: domain, code, message and the cause chain; in debug
 * mode also where each failure was made and which callbacks it passed
 * through.  One line per failure, each ending in '\n' (the last one too:
 * print it with fputs, not puts).  malloc'd: release with free() or
 * dfr_free().  NULL on OOM and for NULL f. */
DFR_API char *dfr_failure_describe(const dfr_failure *f);

#ifdef __cplusplus
}
#endif
#endif
