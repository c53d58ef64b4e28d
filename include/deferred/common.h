/* libdeferred — conventions shared by every part of the public API.
 *
 * Names: `dfr_<object>_<verb>`, the object first among the arguments, then
 * the reactor where one is needed (dfr_deferred_add_timeout(d, r, seconds));
 * free functions keep a verb name (dfr_succeed); see docs/design.md.
 *
 * Errors, one rule for each kind of entry point:
 *  - constructors (*_new): NULL on bad input or OOM;
 *  - int-returning calls: 0 or a negative DFR_E* code (the few that answer
 *    a number, dfr_deferred_paused and dfr_listener_port, give it, >= 0,
 *    instead of 0);
 *  - calls returning a deferred (not constructors): a refusal (bad input,
 *    wrong state, wrong thread) is a deferred that already failed with the
 *    DFR_E* code; NULL only on OOM;
 *  - calls returning a value (dfr_bytes_new, dfr_await,
 *    dfr_reactor_blocking_call_from_thread): a failure value with the code;
 *  - queries (borrowed pointers, bools, counts, times, and the *_from
 *    lookups): a documented neutral value (false, 0, NaN, NULL, "") for
 *    NULL; a query answering an enum has a member of its own for NULL
 *    (DFR_STATE_INVALID, DFR_KIND_INVALID), never an error code;
 *  - void calls (unref, free, cancel): NULL is ignored.  The misuses a
 *    void call cannot report are documented where they can happen
 *    (dfr_threadpool_free from one of the pool's own jobs,
 *    dfr_looping_call_unref off the reactor's thread).
 * A call that fails synchronously never runs its callback and calls its
 * `destroy` before returning.  There is no thread-local "last error".
 * Each condition has its own code and message (dfr_strerror).
 *
 * Options structs start with `size` (set it to sizeof the struct).  NULL
 * options: all defaults.  A size too small to hold `size` itself (0) is bad
 * input; a field beyond `size` (a caller built against an older header)
 * takes its default; a size larger than the library knows is accepted, the
 * unknown tail ignored.  Required fields (dfr_allocator's functions) must
 * be covered by `size`.
 */
#ifndef DEFERRED_COMMON_H
#define DEFERRED_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(DFR_BUILDING_LIBRARY) && defined(__GNUC__)
#define DFR_API __attribute__((visibility("default")))
#else
#define DFR_API
#endif

/* Small accessors are `static inline` for C callers.  The library also
 * exports each of them as a real symbol of the same name, so FFI users
 * (Rust, Go, Node) can call them too. */
#if defined(DFR_EMIT_INLINE_SYMBOLS)
#define DFR_INLINE DFR_API
#else
#define DFR_INLINE static inline
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes: negative ints, also used as failure codes in domain "dfr";
 * contiguous, each condition its own code and message (dfr_strerror). */
enum {
    DFR_OK = 0,
    DFR_EINVAL = -1,             /* bad argument */
    DFR_ENOMEM = -2,             /* out of memory */
    DFR_EALREADY = -3,           /* deferred already called */
    DFR_ECANCELLED = -4,         /* cancelled */
    DFR_ETIMEDOUT = -5,          /* timed out (addTimeout) */
    DFR_EFIRST = -6,             /* FirstError: see dfr_failure_index/cause */
    DFR_ENOTRUNNING = -7,        /* reactor not running */
    DFR_EALREADY_CANCELLED = -8, /* delayed call already cancelled */
    DFR_EALREADY_RAN = -9,       /* delayed call already ran */
    DFR_ENOTCORO = -10,          /* dfr_await outside a coroutine */
    DFR_EDEADLK = -11,           /* would wait on itself */
    DFR_EOVERFLOW = -12,         /* queue full */
    DFR_EUNDERFLOW = -13,        /* queue backlog full */
    DFR_ENOTOWNER = -14,         /* wrong thread */
    DFR_ECONNREFUSED = -15,      /* connection refused (net.h) */
    DFR_EUNREACHABLE = -16,      /* host or network unreachable */
    DFR_ENOTFOUND = -17,         /* host name not found */
    DFR_ECONNRESET = -18,        /* connection reset by peer */
    DFR_ECONNDONE = -19,         /* connection closed cleanly */
    DFR_ECONNLOST = -20,         /* connection lost (aborted, error) */
    DFR_EFRAME = -21,            /* frame too long or malformed */
    DFR_EADDRINUSE = -22,        /* address already in use */
    DFR_EALREADY_RUNNING = -23,  /* reactor or looping call already running */
    DFR_ENOTRESTARTABLE = -24,   /* reactor already ran (runs once) */
    DFR_EALREADY_STARTED = -25,  /* thread pool already started */
    DFR_EINUSE = -26             /* allocator already in use (set it first) */
};

/* The failure domain of the library's own codes. */
#define DFR_DOMAIN "dfr"
/* dfr_failure_check: matches any code of the domain. */
#define DFR_ANY INT32_MIN

/* Message of a DFR_E* code ("invalid argument", ...); "unknown error" for
 * any other int; never NULL. */
DFR_API const char *dfr_strerror(int code);

/* The version of this header.  Bindings check it at build time (a header
 * too old or too new fails the build) and compare it with dfr_version() at
 * load time (a library other than the one built against). */
#define DFR_VERSION_MAJOR 0
#define DFR_VERSION_MINOR 2
#define DFR_VERSION_PATCH 0

/* Library version, "MAJOR.MINOR.PATCH". */
DFR_API const char *dfr_version(void);

/* Called exactly once when `data` is no longer needed. */
typedef void (*dfr_destroy_fn)(void *data);

/* The allocator used for every allocation of the library.
 * `size` = sizeof(dfr_allocator).  All three functions are required. */
typedef struct dfr_allocator {
    size_t size;
    void *(*malloc)(size_t n, void *ctx);
    void *(*realloc)(void *p, size_t n, void *ctx);
    void (*free)(void *p, void *ctx);
    void *ctx;
} dfr_allocator;

/* Install an allocator.  Only before anything else was allocated: returns
 * DFR_EINUSE afterwards, DFR_EINVAL for a NULL, short or incomplete
 * struct.  NULL `a` is DFR_EINVAL (the default is the C library's). */
DFR_API int dfr_set_allocator(const dfr_allocator *a);

/* Debug mode (process-wide, off by default): record where each deferred and
 * failure was made (call stacks) and which callbacks a failure passed
 * through; shown by dfr_failure_describe and the unhandled-error report.
 * It also keeps the last 1024 freed delayed-call handles poisoned, so a use
 * after the last unref answers DFR_EINVAL; switching debug mode off frees
 * them (a late use is undefined again from then on). */
DFR_API void dfr_set_debug(bool on);
DFR_API bool dfr_debug_enabled(void);

/* Give back the memory the calling thread keeps for reuse: its small cache
 * of freed deferreds and its pool of coroutine stacks.  Only the calling
 * thread's: other threads' caches are theirs (each gives its own back when
 * it exits, through this same function).  The process's kept coroutine
 * stacks (docs/coroutines.md) are unmapped too once few coroutines are
 * live; nothing else shared is released: in debug mode the poisoned freed
 * delayed-call handles stay until debug mode is switched off.  Without it, valgrind reports the calling thread's cached
 * blocks as "still reachable" at exit (not leaks). */
DFR_API void dfr_trim(void);

/* Free memory the library returned to be freed by the caller
 * (dfr_failure_describe).  Same as the C library's free(). */
DFR_API void dfr_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
