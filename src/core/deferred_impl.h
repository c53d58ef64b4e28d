/* The Deferred's private parts, shared by the files of the chain engine
 * (core/deferred*.c) and by nothing else: the struct, its flags, and the
 * small helpers the hot paths inline.
 *
 *   deferred.c        construction, references, destruction, reports,
 *                     inspection, ready-made deferreds
 *   deferred_cache.c  the per-thread cache of freed deferreds, dfr_trim
 *   deferred_chain.c  adding callbacks, firing, the callback loop, cancel,
 *                     pause
 *   deferred_coro.c   the coroutine glue (deferred_coro.h: its inline part)
 *   deferred_await.c  dfr_await */
#ifndef DFR_CORE_DEFERRED_IMPL_H
#define DFR_CORE_DEFERRED_IMPL_H

#include "core/core_internal.h"

#include <stdint.h>

typedef struct dfr__cb_entry {
    dfr_callback_fn cb;
    dfr_callback_fn eb;
    void *data;
    dfr_destroy_fn destroy;
} dfr__cb_entry;

/* `flags` holds these in its low bits and log2 of the capacity of `more` in
 * its top DFR__CAP_SHIFT.. bits: the struct stays at 88 bytes (a 96-byte
 * chunk).
 *
 *   flags:  15      11 10                                        0
 *          +----------+------------------------------------------+
 *          | log2 cap | DFR__F_CORO ............... DFR__F_CALLED |
 *          +----------+------------------------------------------+
 *           0: no `more`; else `more` holds 1 << log2 entries (4..2^30)
 *
 *   struct dfr_deferred (LP64):
 *     0  refs    4  paused  6  flags   8  head   12  count
 *    16  result (16)       32  first (32)
 *    64  more              72  link              80  waiter      88 */
enum {
    DFR__F_CALLED = 1u << 0,         /* has a result, or is waiting on another deferred */
    DFR__F_WAITING = 1u << 1,        /* result.u.ptr: the deferred we wait on (no reference) */
    DFR__F_ON_STACK = 1u << 2,       /* being run by a callback loop */
    DFR__F_SUPPRESS = 1u << 3,       /* cancelled without canceller: swallow one fire */
    DFR__F_HAS_CANCELLER = 1u << 4,  /* a dfr__canceller_slot follows the struct */
    DFR__F_CANCELLER_DONE = 1u << 5, /* canceller data released */
    DFR__F_IN_CANCELLER = 1u << 6,   /* the canceller is running */
    DFR__F_HAS_ORIGIN = 1u << 7,     /* a dfr__trace follows (debug mode) */
    DFR__F_NO_SELF_CANCEL = 1u << 8, /* cancel runs the canceller only */
    DFR__F_DOOMED = 1u << 9,         /* last reference gone while running: freed at pop */
    DFR__F_CORO = 1u << 10,          /* a coroutine slot follows (coro.c); NULL once it is gone */
};
#define DFR__CAP_SHIFT 11
#define DFR__FLAG_MASK ((1u << DFR__CAP_SHIFT) - 1)
#define DFR__CAP_LOG2_MAX 30 /* dfr__grow_entries refuses beyond */

struct dfr_deferred {
    atomic_uint refs;
    int16_t paused;       /* user pauses only; chain waits use DFR__F_WAITING */
    uint16_t flags;       /* DFR__F_* and the capacity of `more` (see DFR__CAP_SHIFT) */
    uint32_t head, count; /* callbacks[head..count) are still to run */
    dfr_value result;
    dfr__cb_entry first;       /* callbacks[0]: most deferreds never need more */
    dfr__cb_entry *more;       /* callbacks[1..] */
    dfr_deferred *link;   /* next deferred down the running stack */
    /* A deferred waiting on this one (a reference).  Its continuation runs
     * after every callback: adding a callback first moves it into the
     * list.  The common chain costs no callback array this way. */
    dfr_deferred *waiter;
};

_Static_assert(DFR__F_CORO < (1u << DFR__CAP_SHIFT), "the flags fit below the capacity bits");
_Static_assert(DFR__CAP_LOG2_MAX < (1u << (16 - DFR__CAP_SHIFT)),
               "the capacity's log2 fits its bits");
#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(struct dfr_deferred) == 88,
               "a deferred is 88 bytes (a 96-byte malloc chunk)");
_Static_assert(offsetof(struct dfr_deferred, result) == 16 &&
                   offsetof(struct dfr_deferred, first) == 32 &&
                   offsetof(struct dfr_deferred, more) == 64 &&
                   offsetof(struct dfr_deferred, waiter) == 80,
               "the layout drawn above");
#endif

static inline uint32_t cap_of(const dfr_deferred *d)
{
    unsigned log2 = d->flags >> DFR__CAP_SHIFT;
    return log2 ? 1u << log2 : 0;
}

typedef struct dfr__canceller_slot {
    dfr_canceller_fn fn;
    void *data;
    dfr_destroy_fn destroy;
    /* An owned deferred's hook (dfr__deferred_new_owned), else NULL.  Set
     * at construction only: read without the reactor thread's help. */
    dfr_canceller_fn orphaned;
} dfr__canceller_slot;

/* An owned deferred's count holds its owner's reference as this (a count
 * nothing else reaches), so that "only the owner holds it" is one value of
 * the count, seen by the release that makes it so (deferred.c). */
#define DFR__OWNER_REF (1u << 31)

/* Marks a continuation: data is the deferred waiting on this one (a
 * reference).  Never called (deferred_chain.c). */
dfr_value dfr__continue_marker(dfr_value v, void *data);
/* Marks chainDeferred: data is the deferred to fire (a reference). */
dfr_value dfr__chain_marker(dfr_value v, void *data);

/* The engine's files call unref through this alias (deferred.c): a direct
 * call, where the exported name would go through the PLT. */
__attribute__((visibility("hidden"))) void dfr__deferred_unref(dfr_deferred *d);

/* initial-exec: one %fs-relative load instead of a __tls_get_addr call. */
#define DFR__FAST_TLS _Thread_local __attribute__((tls_model("initial-exec")))

/* ---- deferred_cache.c: a per-thread cache of freed deferreds ----
 * Deferreds come and go by the million; a short free list per thread makes
 * new+free a handful of instructions.  Emptied at thread exit and by
 * dfr_trim().  Compiled out under AddressSanitizer, so that a use after
 * free stays visible there. */
#if defined(DFR_ASAN)
#define DFR__USE_CACHE 0
#else
#define DFR__USE_CACHE 1
#endif
#define DFR__CACHE_MAX 64

extern DFR__FAST_TLS dfr_deferred *dfr__cache_head;
extern DFR__FAST_TLS unsigned dfr__cache_len;

static inline dfr_deferred *block_alloc(void)
{
    dfr_deferred *d = dfr__cache_head;
    if (DFR__USE_CACHE && d) {
        dfr__cache_head = d->link;
        dfr__cache_len--;
        return d;
    }
    return dfr__malloc(sizeof *d);
}

/* A plain deferred's block: to the cache, or freed. */
void dfr__block_free(dfr_deferred *d);

/* ---- small helpers ---- */

static inline dfr__canceller_slot *canceller_of(dfr_deferred *d)
{
    return (dfr__canceller_slot *)(d + 1);
}

static inline dfr__trace *origin_of(const dfr_deferred *d)
{
    const char *p = (const char *)(d + 1);
    if (d->flags & DFR__F_HAS_CANCELLER)
        p += sizeof(dfr__canceller_slot);
    return (dfr__trace *)p;
}

/* The coroutine slot comes after the optional canceller slot and origin. */
static inline dfr__coro **coro_slot(const dfr_deferred *d)
{
    const char *p = (const char *)origin_of(d);
    if (d->flags & DFR__F_HAS_ORIGIN)
        p += sizeof(dfr__trace);
    return (dfr__coro **)p;
}

/* A coroutine still drives d. */
static inline bool coro_live(const dfr_deferred *d)
{
    return DFR_UNLIKELY(d->flags & DFR__F_CORO) && *coro_slot(d) != NULL;
}

static inline dfr__cb_entry *entry_at(dfr_deferred *d, uint32_t i)
{
    return i == 0 ? &d->first : &d->more[i - 1];
}

static inline bool has_usable_result(const dfr_deferred *d)
{
    /* A running coroutine's deferred has no result yet. */
    return (d->flags & (DFR__F_CALLED | DFR__F_WAITING)) == DFR__F_CALLED && !coro_live(d);
}

/* Ready to run callbacks now: has a result, not paused, not already running. */
static inline bool runnable(const dfr_deferred *d)
{
    return (d->flags & (DFR__F_CALLED | DFR__F_WAITING | DFR__F_ON_STACK)) == DFR__F_CALLED &&
           d->paused == 0;
}

static inline void ref_internal(dfr_deferred *d)
{
    dfr__ref_add(&d->refs);
}

/* ---- the callback entries ---- */

/* Double the capacity of `more` (deferred_chain.c).  0 or DFR_ENOMEM. */
int dfr__grow_entries(dfr_deferred *d);

static inline void free_entries(dfr_deferred *d)
{
    dfr__free(d->more);
    d->more = NULL;
    d->flags &= DFR__FLAG_MASK;
}

static inline int push_entry(dfr_deferred *d, dfr_callback_fn cb, dfr_callback_fn eb, void *data,
                             dfr_destroy_fn destroy)
{
    uint32_t i = d->count;
    if (i > 0 && i - 1 >= cap_of(d)) {
        int rc = dfr__grow_entries(d);
        if (rc)
            return rc;
    }
    dfr__cb_entry *e = entry_at(d, i);
    e->cb = cb;
    e->eb = eb;
    e->data = data;
    e->destroy = destroy;
    d->count = i + 1;
    return 0;
}

/* Callbacks are about to be added after the waiter: make its continuation
 * an ordinary entry, so that it keeps its place before them. */
static inline int settle_waiter(dfr_deferred *d)
{
    if (!d->waiter)
        return 0;
    int rc = push_entry(d, dfr__continue_marker, dfr__continue_marker, d->waiter, NULL);
    if (rc == 0)
        d->waiter = NULL;
    return rc;
}

static inline dfr__cb_entry take_entry(dfr_deferred *d)
{
    dfr__cb_entry e = *entry_at(d, d->head);
    if (++d->head == d->count) {
        d->head = d->count = 0;
        /* A deferred that once had many callbacks gives the memory back. */
        if (cap_of(d) > 64)
            free_entries(d);
    }
    return e;
}

/* deferred.c: release_canceller's work, out of line (the firing paths
 * inline only the test). */
void dfr__release_canceller_data(dfr_deferred *d);

/* The canceller can never run once there is a result: release its data. */
static inline void release_canceller(dfr_deferred *d)
{
    if ((d->flags & (DFR__F_HAS_CANCELLER | DFR__F_CANCELLER_DONE | DFR__F_IN_CANCELLER)) !=
        DFR__F_HAS_CANCELLER)
        return;
    dfr__release_canceller_data(d);
}

/* Give d its result; d has none yet.  Does not run callbacks. */
static inline void set_result(dfr_deferred *d, dfr_value v)
{
    d->result = v;
    d->flags |= DFR__F_CALLED;
    release_canceller(d);
}

/* ---- across the engine's files ---- */

/* Who holds the reference to a deferred the callback loop is running, and
 * where it goes.  The deferred the loop starts with is the caller's (the
 * stack holds none of its own); every deferred it pushes carries one, which
 * a continuation may take over (saving an atomic pair). */
typedef enum dfr__stack_ref {
    DFR__REF_NONE,  /* the stack holds no reference of its own to it */
    DFR__REF_HELD,  /* the stack holds one: the pop drops it */
    DFR__REF_MOVED  /* the stack's moved to a continuation: the pop keeps off */
} dfr__stack_ref;

/* deferred.c: free d now, through the per-thread loop that keeps cascades
 * from recursing. */
void dfr__free_deferred(dfr_deferred *d);

/* d's last reference went while it ran: free it now, unless a deferred its
 * callbacks returned made it wait and took a reference of its own meanwhile
 * (then that continuation's release frees it, as Twisted's GC would). */
static inline void pop_doomed(dfr_deferred *d)
{
    if (atomic_load_explicit(&d->refs, memory_order_relaxed) == 0)
        dfr__free_deferred(d);
    else
        d->flags &= ~DFR__F_DOOMED;
}

/* deferred_chain.c: run d's callbacks (d is runnable). */
void dfr__run_callbacks(dfr_deferred *d);
/* deferred_chain.c: a callback of `cur` returned the deferred `inner` (a
 * reference we own): take its result now, or make cur wait for it. */
dfr__stack_ref dfr__adopt_returned_deferred(dfr_deferred *cur, dfr_deferred *inner,
                                            dfr__stack_ref ref);
/* deferred_coro.c: the coroutine layer's ops, registered with its first
 * coroutine deferred (a coroutine deferred exists only after that). */
extern _Atomic(const dfr__coro_ops *) dfr__coro_layer;
/* The coroutine c can never be resumed: release it. */
static inline void coro_discard(dfr__coro *c)
{
    atomic_load_explicit(&dfr__coro_layer, memory_order_relaxed)->discard(c);
}
/* deferred_coro.c: cur's coroutine comes before its callbacks. */
dfr__stack_ref dfr__coro_step(dfr_deferred *cur, dfr__stack_ref ref);

#endif
