/* Internal declarations shared by the library's source files.  Nothing here
 * is exported: internal non-static names use the dfr__ prefix. */
#ifndef DFR_INTERNAL_H
#define DFR_INTERNAL_H

#include <deferred.h>

#include <stdatomic.h>
#include <stdio.h>

#define DFR_UNUSED(x) ((void)(x))
#define DFR_LIKELY(x) __builtin_expect(!!(x), 1)
#define DFR_UNLIKELY(x) __builtin_expect(!!(x), 0)

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

/* Drop one reference; true when it was the last.  A count of 1 seen with
 * acquire ordering means we are the only holder (nobody else can add one
 * without holding one), so the common last release needs no atomic RMW. */
static inline bool dfr__release_last(atomic_uint *refs)
{
    return atomic_load_explicit(refs, memory_order_acquire) == 1 ||
           atomic_fetch_sub_explicit(refs, 1, memory_order_acq_rel) == 1;
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

/* ---- value.c: drops that nest run in a loop, not by recursion ----
 * A container value (failure, list) whose last reference went becomes a
 * frame on this thread's stack of dying containers, linked through the
 * container itself (no allocation).  The loop asks the top frame for its
 * children one at a time and drops them: a nested container is pushed, not
 * recursed into; drop hooks of other types (deferreds, user types) run
 * directly up to a bounded depth, deeper ones wait on a side stack. */
typedef struct dfr__dying dfr__dying;
enum {
    DFR__TAKE_DONE, /* no child left: the container freed itself */
    DFR__TAKE_MORE, /* a child; the container has more */
    DFR__TAKE_LAST  /* its last child: the container freed itself */
};
struct dfr__dying {
    dfr__dying *next;
    int (*take)(dfr__dying *self, dfr_value *child);
};
/* Drop a dying container's children and free it (NULL: nothing). */
void dfr__drop_dying(dfr__dying *d);

/* ---- failure.c ---- */
/* Drop a reference: the failure's frame when it was the last, else NULL. */
dfr__dying *dfr__failure_release(dfr_failure *f);
/* Immortal failures used where allocating one is impossible or wasteful
 * (OOM inside a chain, cancellation outside debug mode). */
dfr_failure *dfr__failure_static(int code);
/* A library failure (domain "dfr"): allocated in debug mode so that it can
 * record where it was made, otherwise (or on OOM) the immortal one. */
dfr_failure *dfr__failure_lib(int code);
/* DFR_EFIRST wrapping `cause` (takes the reference) for input `index`. */
dfr_failure *dfr__failure_first(dfr_failure *cause, size_t index);
/* Debug mode: note that failure f passed through callback fn. */
void dfr__failure_note_passed(dfr_failure *f, const void *fn);

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

static inline dfr_value dfr__lib_failure_value(int code)
{
    return dfr_value_failure(dfr__failure_lib(code));
}

/* The error rule for deferred-returning calls: a refusal is a deferred that
 * already failed with `code`; NULL only when even that cannot be allocated. */
static inline dfr_deferred *dfr__refused(int code)
{
    return dfr_succeed(dfr__lib_failure_value(code));
}

/* ---- deferred.c ---- */
enum {
    /* Cancel runs the canceller only: the deferred does not errback itself
     * (DeferredList: it fires from its inputs' results). */
    DFR__NO_SELF_CANCEL = 1u << 0,
    /* Driven by a coroutine (coro.c): a slot for it follows the struct. */
    DFR__CORO = 1u << 1
};
dfr_deferred *dfr__deferred_new_ex(dfr_canceller_fn canceller, void *data, dfr_destroy_fn destroy,
                                   unsigned options);
/* Make sure n more callbacks can be added without allocating. */
int dfr__deferred_reserve(dfr_deferred *d, uint32_t n);
/* Report a failure nobody handled (the unhandled-error hook); d may be NULL. */
void dfr__report_unhandled(const dfr_deferred *d, const dfr_failure *f);
/* Print where the deferred was made (debug mode), nothing otherwise. */
void dfr__deferred_print_origin(FILE *out, const dfr_deferred *d);

/* ---- deferred.c: what coroutines need of the chain engine ---- */
typedef struct dfr__coro dfr__coro;
/* A deferred driven by coroutine c: before its callbacks run, each result
 * it receives resumes c (coro_step in deferred.c).  NULL on OOM. */
dfr_deferred *dfr__deferred_new_coro(dfr__coro *c);
/* Run c's first step (the deferred counts as fired from now on). */
void dfr__deferred_start(dfr_deferred *d);
/* dfr_await is the engine's too (deferred.c): its switch out is a tail
 * call there. */

/* ---- coro.c ---- */
/* A coroutine that is finished, refused, or can never be resumed:
 * release its stack and run its destroy. */
void dfr__coro_discard(dfr__coro *c);
/* Unmap the stacks this thread keeps for reuse. */
void dfr__coro_trim(void);
/* Per-thread caches (freed deferreds, coroutine stacks) call this before
 * keeping anything: it arms dfr_trim() for this thread's exit.  False when
 * that cannot be done: then do not cache. */
bool dfr__trim_at_thread_exit(void);

/* ---- timer.c: release the debug-mode quarantine of freed handles (when
 * debug mode is switched off; never by dfr_trim) ---- */
void dfr__handles_trim(void);

/* ---- list.c ---- */
dfr_list *dfr__list_new(size_t n);
void dfr__list_set(dfr_list *l, size_t i, bool ok, dfr_value v);
dfr_list *dfr__list_ref(dfr_list *l);
void dfr__list_unref(dfr_list *l);
/* Drop a reference: the list's frame when it was the last, else NULL. */
dfr__dying *dfr__list_release(dfr_list *l);

/* ---- waitq.c: FIFO of deferreds waiting on a lock, semaphore or queue ---- */
typedef struct dfr__waitq_node dfr__waitq_node;
typedef struct dfr__waitq {
    dfr__waitq_node *head, *tail;
    size_t len;
} dfr__waitq;
/* A new waiting deferred at the tail; cancelling it removes it.  The
 * caller gets a reference; the queue keeps another.  NULL on OOM. */
dfr_deferred *dfr__waitq_push(dfr__waitq *q);
/* The oldest waiter (the queue's reference moves to the caller), or NULL. */
dfr_deferred *dfr__waitq_pop(dfr__waitq *q);
/* Fail every waiter with DFR_ECANCELLED (used when the owner is freed). */
void dfr__waitq_cancel_all(dfr__waitq *q);

/* ---- semaphore.c: the shared core of DeferredLock and DeferredSemaphore ---- */
typedef struct dfr__sem dfr__sem;
dfr__sem *dfr__sem_new(unsigned tokens);
void dfr__sem_free(dfr__sem *s);
dfr_deferred *dfr__sem_acquire(dfr__sem *s, void *self);
int dfr__sem_release(dfr__sem *s, void *self);
unsigned dfr__sem_tokens(const dfr__sem *s);
size_t dfr__sem_waiting(const dfr__sem *s);
dfr_deferred *dfr__sem_run(dfr__sem *s, void *self, dfr_task_fn fn, void *data,
                           dfr_destroy_fn destroy);

#endif
