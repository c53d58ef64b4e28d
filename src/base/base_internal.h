/* The base layer's internals (alloc.c, debug.c, version.c), for every layer
 * above: compiler helpers, the allocator, debug-mode call stacks, the
 * options-struct rule and the reference-count helper.  Nothing here is
 * exported: internal non-static names use the dfr__ prefix. */
#ifndef DFR_BASE_INTERNAL_H
#define DFR_BASE_INTERNAL_H

#include <deferred.h>

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>

#define DFR_UNUSED(x) ((void)(x))
#define DFR_LIKELY(x) __builtin_expect(!!(x), 1)
#define DFR_UNLIKELY(x) __builtin_expect(!!(x), 0)
/* The hot entry points of the chain engine start on a cache line: otherwise
 * their speed moves by a few percent with whatever code precedes them
 * (deferred_cycle ran 4% slower for the same instructions at another
 * offset). */
#define DFR__HOT __attribute__((aligned(64)))

/* Sanitizers in use (gcc defines the macros, clang has __has_feature). */
#if defined(__SANITIZE_ADDRESS__)
#define DFR_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DFR_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define DFR_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DFR_TSAN 1
#endif
#endif

/* ---- reference counts: every refcount of the library uses these ----
 * Take one more reference: the caller holds one already, so nothing needs
 * ordering (relaxed). */
static inline void dfr__ref_add(atomic_uint *refs)
{
    atomic_fetch_add_explicit(refs, 1, memory_order_relaxed);
}
/* Drop one reference; true when it was the last, and then every write the
 * other holders made before their release is visible (acquire/release).  A
 * count of 1 seen with acquire ordering means we are the only holder
 * (nobody else can add one without holding one), so the common last
 * release needs no atomic RMW. */
static inline bool dfr__release_last(atomic_uint *refs)
{
    return atomic_load_explicit(refs, memory_order_acquire) == 1 ||
           atomic_fetch_sub_explicit(refs, 1, memory_order_acq_rel) == 1;
}

/* Drop one from a count that is read besides by its last holder (a
 * handle's application references, checked for 0 later): always the RMW,
 * so that the count stays exact.  True when it reached 0. */
static inline bool dfr__count_drop(atomic_uint *n)
{
    return atomic_fetch_sub_explicit(n, 1, memory_order_acq_rel) == 1;
}

/* ---- closures: the library's one {fn, data, destroy} ----
 * A user function, its data, and the hook that releases the data.  The
 * rule (every destroy runs exactly once, on every path) lives in the two
 * release helpers below. */
typedef struct dfr__closure {
    union {
        dfr_fn call;      /* timers, calls from threads */
        dfr_task_fn task; /* deferLater, LoopingCall, deferToThread */
        dfr_callback_fn callback; /* addTimeout's onTimeoutCancel */
    } fn;
    void *data;
    dfr_destroy_fn destroy;
} dfr__closure;

/* Release user data: a loose (data, destroy) pair, e.g. a refused call's
 * argument. */
static inline void dfr__destroy(dfr_destroy_fn destroy, void *data)
{
    if (destroy)
        destroy(data);
}
/* Release a closure's data; the closure forgets its destroy, so a second
 * release does nothing. */
static inline void dfr__closure_release(dfr__closure *c)
{
    dfr_destroy_fn destroy = c->destroy;
    c->destroy = NULL;
    dfr__destroy(destroy, c->data);
}
/* Run a call closure once, then release its data. */
static inline void dfr__closure_call(dfr__closure *c)
{
    c->fn.call(c->data);
    dfr__closure_release(c);
}

/* ---- alloc.c: every allocation goes through the installed allocator ---- */
void *dfr__malloc(size_t n);
void *dfr__calloc(size_t count, size_t size);
void *dfr__realloc(void *p, size_t n);
void dfr__free(void *p);

/* ---- debug.c: call stacks recorded in debug mode ---- */
#define DFR_TRACE_FRAMES 12
typedef struct dfr__trace {
    int frames;
    void *pc[DFR_TRACE_FRAMES];
} dfr__trace;

extern atomic_bool dfr__debug;
static inline bool dfr__debug_on(void)
{
    return atomic_load_explicit(&dfr__debug, memory_order_relaxed);
}
/* Record the caller's stack (skipping `skip` library frames). */
void dfr__trace_capture(dfr__trace *t, int skip);
/* Print a recorded stack, one frame a line, each prefixed by `indent`. */
void dfr__trace_print(FILE *out, const dfr__trace *t, const char *indent);
/* Print the symbol of a code address ("name+0x12 (object)"). */
void dfr__print_symbol(FILE *out, const void *addr);

/* Options structs (dfr_reactor_options, dfr_coroutine_options,
 * dfr_connect_options, dfr_listen_options, dfr_allocator), one behaviour:
 * NULL options = all defaults; a `size` too small to hold `size` itself (0
 * included) is bad input (DFR__OPTS_BAD); a field beyond `size` (a caller
 * built against an older header) takes its default; a `size` larger than
 * the library knows (a newer header) is accepted and the unknown tail
 * ignored. */
#define DFR__OPTS_BAD(o) ((o) && (o)->size < sizeof(size_t))
#define DFR__OPT_HAS(o, type, field) \
    ((o) && (o)->size >= offsetof(type, field) + sizeof(((const type *)0)->field))
#define DFR__OPT(o, type, field, dflt) (DFR__OPT_HAS(o, type, field) ? (o)->field : (dflt))

/* ---- hooks.c: registered calls for the rare backward edges ----
 * A layer calls up into a layer above it only through a hook list that the
 * layer above adds its hook to (once, the first time it has something to
 * release): the layer below never names it. */
typedef struct dfr__hook dfr__hook;
struct dfr__hook {
    void (*fn)(void);
    dfr__hook *next;   /* set once, when added */
    atomic_bool added;
};
typedef struct dfr__hooks {
    _Atomic(dfr__hook *) head;
} dfr__hooks;
/* Add h (static storage) to the list unless it is there already; any
 * thread.  Cheap once added. */
void dfr__hooks_add(dfr__hooks *list, dfr__hook *h);
/* Call every hook of the list, the last added first. */
void dfr__hooks_run(dfr__hooks *list);

/* debug.c: h runs whenever debug mode is switched off (the reactor layer
 * frees its quarantine of dead timer handles then). */
void dfr__on_debug_off(dfr__hook *h);

#endif
