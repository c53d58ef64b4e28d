/* The Deferred: a result not there yet and the chain of callbacks that will
 * process it.  Chains run in a loop over an intrusive stack (never by
 * recursion), following Twisted's _runCallbacks; see docs/design.md. */
#include "core/core_internal.h"
#include "coro/coro_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct cb_entry {
    dfr_callback_fn cb;
    dfr_callback_fn eb;
    void *data;
    dfr_destroy_fn destroy;
} cb_entry;

/* `flags` holds these in its low bits and log2 of the capacity of `more` in
 * its top CAP_SHIFT.. bits: the struct stays at 88 bytes (a 96-byte chunk). */
enum {
    F_CALLED = 1u << 0,         /* has a result, or is waiting on another deferred */
    F_WAITING = 1u << 1,        /* result.u.ptr: the deferred we wait on (no reference) */
    F_ON_STACK = 1u << 2,       /* being run by a callback loop */
    F_SUPPRESS = 1u << 3,       /* cancelled without canceller: swallow one fire */
    F_HAS_CANCELLER = 1u << 4,  /* a canceller_slot follows the struct */
    F_CANCELLER_DONE = 1u << 5, /* canceller data released */
    F_IN_CANCELLER = 1u << 6,   /* the canceller is running */
    F_HAS_ORIGIN = 1u << 7,     /* a dfr__trace follows (debug mode) */
    F_NO_SELF_CANCEL = 1u << 8, /* cancel runs the canceller only */
    F_DOOMED = 1u << 9,         /* last reference gone while running: freed at pop */
    F_CORO = 1u << 10,          /* a coroutine slot follows (coro.c); NULL once it is gone */
};
#define CAP_SHIFT 11
#define FLAG_MASK ((1u << CAP_SHIFT) - 1)

struct dfr_deferred {
    atomic_uint refs;
    int16_t paused;       /* user pauses only; chain waits use F_WAITING */
    uint16_t flags;       /* F_* and the capacity of `more` (see CAP_SHIFT) */
    uint32_t head, count; /* callbacks[head..count) are still to run */
    dfr_value result;
    cb_entry first;       /* callbacks[0]: most deferreds never need more */
    cb_entry *more;       /* callbacks[1..] */
    dfr_deferred *link;   /* next deferred down the running stack */
    /* A deferred waiting on this one (a reference).  Its continuation runs
     * after every callback: adding a callback first moves it into the
     * list.  The common chain costs no callback array this way. */
    dfr_deferred *waiter;
};

static inline uint32_t cap_of(const dfr_deferred *d)
{
    unsigned log2 = d->flags >> CAP_SHIFT;
    return log2 ? 1u << log2 : 0;
}

typedef struct canceller_slot {
    dfr_canceller_fn fn;
    void *data;
    dfr_destroy_fn destroy;
} canceller_slot;

/* Marks a continuation: data is the deferred waiting on this one (a
 * reference).  Never called. */
static dfr_value continue_marker(dfr_value v, void *data)
{
    DFR_UNUSED(data);
    return v;
}
/* Marks chainDeferred: data is the deferred to fire (a reference). */
static dfr_value chain_marker(dfr_value v, void *data)
{
    DFR_UNUSED(data);
    return v;
}

static void run_callbacks(dfr_deferred *d);
static void pop_doomed(dfr_deferred *d);
static void deferred_destroy(dfr_deferred *d);

/* initial-exec: one %fs-relative load instead of a __tls_get_addr call. */
#define FAST_TLS _Thread_local __attribute__((tls_model("initial-exec")))

/* ---- a per-thread cache of freed deferreds ----
 * Deferreds come and go by the million; a short free list per thread makes
 * new+free a handful of instructions.  Emptied at thread exit and by
 * dfr_trim().  Compiled out under AddressSanitizer, so that a use after
 * free stays visible there. */
#if defined(DFR_ASAN)
#define USE_CACHE 0
#else
#define USE_CACHE 1
#endif
#define CACHE_MAX 64

static FAST_TLS dfr_deferred *cache_head;
static FAST_TLS unsigned cache_len;
static FAST_TLS bool trim_armed; /* dfr_trim runs at this thread's exit */
static pthread_key_t trim_key;
static pthread_once_t trim_once = PTHREAD_ONCE_INIT;
static bool trim_key_ok;

void dfr_trim(void)
{
    dfr__coro_trim();
    dfr_deferred *d = cache_head;
    cache_head = NULL;
    cache_len = 0;
    while (d) {
        dfr_deferred *next = d->link;
        dfr__free(d);
        d = next;
    }
}

static void trim_at_exit(void *unused)
{
    DFR_UNUSED(unused);
    dfr_trim();
}

static void trim_make_key(void)
{
    trim_key_ok = pthread_key_create(&trim_key, trim_at_exit) == 0;
}

static inline bool trim_armed_now(void)
{
    if (DFR_LIKELY(trim_armed))
        return true;
    pthread_once(&trim_once, trim_make_key);
    trim_armed = trim_key_ok && pthread_setspecific(trim_key, &trim_armed) == 0;
    return trim_armed;
}

bool dfr__trim_at_thread_exit(void)
{
    return trim_armed_now();
}

static inline dfr_deferred *block_alloc(void)
{
    dfr_deferred *d = cache_head;
    if (USE_CACHE && d) {
        cache_head = d->link;
        cache_len--;
        return d;
    }
    return dfr__malloc(sizeof *d);
}

static void block_free(dfr_deferred *d)
{
    if (USE_CACHE && cache_len < CACHE_MAX) {
        if (DFR_UNLIKELY(!trim_armed_now())) {
            dfr__free(d);
            return;
        }
        d->link = cache_head;
        cache_head = d;
        cache_len++;
        return;
    }
    dfr__free(d);
}

/* ---- small helpers ---- */

static inline canceller_slot *canceller_of(dfr_deferred *d)
{
    return (canceller_slot *)(d + 1);
}

static inline dfr__trace *origin_of(const dfr_deferred *d)
{
    const char *p = (const char *)(d + 1);
    if (d->flags & F_HAS_CANCELLER)
        p += sizeof(canceller_slot);
    return (dfr__trace *)p;
}

/* The coroutine slot comes after the optional canceller slot and origin. */
static inline dfr__coro **coro_slot(const dfr_deferred *d)
{
    const char *p = (const char *)origin_of(d);
    if (d->flags & F_HAS_ORIGIN)
        p += sizeof(dfr__trace);
    return (dfr__coro **)p;
}

/* A coroutine still drives d. */
static inline bool coro_live(const dfr_deferred *d)
{
    return DFR_UNLIKELY(d->flags & F_CORO) && *coro_slot(d) != NULL;
}

static inline cb_entry *entry_at(dfr_deferred *d, uint32_t i)
{
    return i == 0 ? &d->first : &d->more[i - 1];
}

static inline bool has_usable_result(const dfr_deferred *d)
{
    /* A running coroutine's deferred has no result yet. */
    return (d->flags & (F_CALLED | F_WAITING)) == F_CALLED && !coro_live(d);
}

/* Ready to run callbacks now: has a result, not paused, not already running. */
static inline bool runnable(const dfr_deferred *d)
{
    return (d->flags & (F_CALLED | F_WAITING | F_ON_STACK)) == F_CALLED && d->paused == 0;
}

static inline void ref_internal(dfr_deferred *d)
{
    atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
}

static int grow_entries(dfr_deferred *d)
{
    unsigned log2 = d->flags >> CAP_SHIFT;
    log2 = log2 ? log2 + 1 : 2;
    if (log2 > 30)
        return DFR_ENOMEM;
    cb_entry *more = dfr__realloc(d->more, ((size_t)1 << log2) * sizeof(cb_entry));
    if (!more)
        return DFR_ENOMEM;
    d->more = more;
    d->flags = (uint16_t)((d->flags & FLAG_MASK) | (log2 << CAP_SHIFT));
    return 0;
}

static void free_entries(dfr_deferred *d)
{
    dfr__free(d->more);
    d->more = NULL;
    d->flags &= FLAG_MASK;
}

static int push_entry(dfr_deferred *d, dfr_callback_fn cb, dfr_callback_fn eb, void *data,
                      dfr_destroy_fn destroy)
{
    uint32_t i = d->count;
    if (i > 0 && i - 1 >= cap_of(d)) {
        int rc = grow_entries(d);
        if (rc)
            return rc;
    }
    cb_entry *e = entry_at(d, i);
    e->cb = cb;
    e->eb = eb;
    e->data = data;
    e->destroy = destroy;
    d->count = i + 1;
    return 0;
}

/* Callbacks are about to be added after the waiter: make its continuation
 * an ordinary entry, so that it keeps its place before them. */
static int settle_waiter(dfr_deferred *d)
{
    if (!d->waiter)
        return 0;
    int rc = push_entry(d, continue_marker, continue_marker, d->waiter, NULL);
    if (rc == 0)
        d->waiter = NULL;
    return rc;
}

static inline cb_entry take_entry(dfr_deferred *d)
{
    cb_entry e = *entry_at(d, d->head);
    if (++d->head == d->count) {
        d->head = d->count = 0;
        /* A deferred that once had many callbacks gives the memory back. */
        if (cap_of(d) > 64)
            free_entries(d);
    }
    return e;
}

/* The canceller can never run once there is a result: release its data. */
static void release_canceller(dfr_deferred *d)
{
    if ((d->flags & (F_HAS_CANCELLER | F_CANCELLER_DONE | F_IN_CANCELLER)) != F_HAS_CANCELLER)
        return;
    d->flags |= F_CANCELLER_DONE;
    canceller_slot *c = canceller_of(d);
    if (c->destroy)
        c->destroy(c->data);
}

/* ---- construction and references ---- */

dfr_deferred *dfr__deferred_new_ex(dfr_canceller_fn canceller, void *data, dfr_destroy_fn destroy,
                                   unsigned options)
{
    bool with_canceller = canceller || destroy || (options & DFR__NO_SELF_CANCEL);
    bool with_origin = dfr__debug_on();
    size_t size = sizeof(dfr_deferred) + (with_canceller ? sizeof(canceller_slot) : 0) +
                  (with_origin ? sizeof(dfr__trace) : 0) +
                  ((options & DFR__CORO) ? sizeof(dfr__coro *) : 0);
    dfr_deferred *d = dfr__malloc(size);
    if (!d) {
        if (destroy)
            destroy(data);
        return NULL;
    }
    memset(d, 0, sizeof *d);
    atomic_init(&d->refs, 1);
    if (with_canceller) {
        d->flags |= F_HAS_CANCELLER;
        canceller_slot *c = canceller_of(d);
        c->fn = canceller;
        c->data = data;
        c->destroy = destroy;
    }
    if (options & DFR__NO_SELF_CANCEL)
        d->flags |= F_NO_SELF_CANCEL;
    if (with_origin) {
        d->flags |= F_HAS_ORIGIN;
        dfr__trace_capture(origin_of(d), 2);
    }
    if (options & DFR__CORO) {
        d->flags |= F_CORO;
        *coro_slot(d) = NULL;
    }
    return d;
}

dfr_deferred *dfr_deferred_new(void)
{
    if (DFR_UNLIKELY(dfr__debug_on()))
        return dfr__deferred_new_ex(NULL, NULL, NULL, 0);
    /* The hot path: only what a plain deferred needs. */
    dfr_deferred *d = block_alloc();
    if (!d)
        return NULL;
    atomic_init(&d->refs, 1);
    d->paused = 0;
    d->flags = 0;
    d->head = d->count = 0;
    d->result = dfr_none();
    d->more = NULL;
    d->waiter = NULL;
    return d;
}

dfr_deferred *dfr_deferred_new_cancellable(dfr_canceller_fn canceller, void *data,
                                           dfr_destroy_fn destroy)
{
    return dfr__deferred_new_ex(canceller, data, destroy, 0);
}

dfr_deferred *dfr_deferred_ref(dfr_deferred *d)
{
    if (d)
        ref_internal(d);
    return d;
}

/* Destruction can cascade (a freed inner releases the outer waiting on it,
 * which may release the next...).  Each thread frees through a loop over a
 * pending list so that a million-long cascade does not recurse. */
static FAST_TLS dfr_deferred *pending_free;
static FAST_TLS bool freeing;

static void free_deferred(dfr_deferred *d)
{
    d->link = pending_free;
    pending_free = d;
    if (freeing)
        return;
    freeing = true;
    while ((d = pending_free) != NULL) {
        pending_free = d->link;
        deferred_destroy(d);
    }
    freeing = false;
}

void dfr_deferred_unref(dfr_deferred *d)
{
    if (!d || !dfr__release_last(&d->refs))
        return;
    /* The last reference went while the deferred runs its own callbacks
     * (its firer held none): the loop frees it when it is done with it. */
    if (d->flags & F_ON_STACK) {
        /* 0, not the 1 the fast release leaves: a continuation may revive
         * it before the pop (pop_doomed). */
        atomic_store_explicit(&d->refs, 0, memory_order_relaxed);
        d->flags |= F_DOOMED;
        return;
    }
    /* The common end of a plain deferred: fired, every callback run, a
     * result that owns nothing.  Nothing to release but the block. */
    if ((d->flags & ~F_CALLED) == 0 && d->head == d->count && !d->waiter &&
        (!d->result.type || !d->result.type->drop)) {
        block_free(d);
        return;
    }
    free_deferred(d);
}

/* ---- unhandled errors ---- */

static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static dfr_unhandled_error_fn hook_fn;
static void *hook_data;

void dfr_set_unhandled_error_hook(dfr_unhandled_error_fn fn, void *data)
{
    pthread_mutex_lock(&hook_lock);
    hook_fn = fn;
    hook_data = fn ? data : NULL;
    pthread_mutex_unlock(&hook_lock);
}

void dfr__deferred_print_origin(FILE *out, const dfr_deferred *d)
{
    if (d && (d->flags & F_HAS_ORIGIN)) {
        fputs("Deferred made at:\n", out);
        dfr__trace_print(out, origin_of(d), "    ");
    }
}

void dfr__report_unhandled(const dfr_deferred *d, const dfr_failure *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&hook_lock);
    dfr_unhandled_error_fn fn = hook_fn;
    void *data = hook_data;
    pthread_mutex_unlock(&hook_lock);
    if (fn) {
        fn(f, data);
        return;
    }
    char *text = dfr_failure_describe(f);
    flockfile(stderr);
    fprintf(stderr, "Unhandled error in Deferred:\n%s", text ? text : "(out of memory)\n");
    dfr__deferred_print_origin(stderr, d);
    funlockfile(stderr);
    free(text);
}

/* An entry that will never run: release what it holds. */
static void discard_entry(cb_entry *e)
{
    if (e->cb == continue_marker) {
        /* The deferred waiting on us will never get a result from us. */
        dfr_deferred *outer = e->data;
        outer->result.u.ptr = NULL;
        if (coro_live(outer)) {
            /* Its coroutine waited for us: it can never resume. */
            dfr__coro *c = *coro_slot(outer);
            *coro_slot(outer) = NULL;
            dfr__coro_discard(c);
        }
        dfr_deferred_unref(outer);
    } else if (e->destroy) {
        e->destroy(e->data);
    }
}

static void deferred_destroy(dfr_deferred *d)
{
    if (has_usable_result(d)) {
        if (dfr_is_failure(d->result))
            dfr__report_unhandled(d, d->result.u.ptr);
        dfr_value_drop(d->result);
    }
    /* Entries are discarded in order; a destroy may touch other deferreds
     * (never this one: nobody holds it any more). */
    while (d->head < d->count) {
        cb_entry e = take_entry(d);
        discard_entry(&e);
    }
    if (d->waiter) {
        cb_entry e = {continue_marker, continue_marker, d->waiter, NULL};
        d->waiter = NULL;
        discard_entry(&e);
    }
    dfr__free(d->more);
    if (coro_live(d)) {
        dfr__coro *c = *coro_slot(d);
        *coro_slot(d) = NULL;
        dfr__coro_discard(c);
    }
    if ((d->flags & (F_HAS_CANCELLER | F_CANCELLER_DONE)) == F_HAS_CANCELLER) {
        canceller_slot *c = canceller_of(d);
        if (c->destroy)
            c->destroy(c->data);
    }
    if (d->flags & (F_HAS_CANCELLER | F_HAS_ORIGIN | F_CORO))
        dfr__free(d); /* a larger block */
    else
        block_free(d);
}

/* ---- adding callbacks ---- */

int dfr__deferred_reserve(dfr_deferred *d, uint32_t n)
{
    /* Entries up to index count+n-1 (one more for a waiter to settle);
     * index i >= 1 lives in more[i-1]. */
    if (d->waiter)
        n++;
    while (d->count + n > 1 && d->count + n - 1 > cap_of(d)) {
        int rc = grow_entries(d);
        if (rc)
            return rc;
    }
    return 0;
}

int dfr_deferred_add_callbacks(dfr_deferred *d, dfr_callback_fn cb, dfr_callback_fn eb, void *data,
                               dfr_destroy_fn destroy)
{
    if (!d) {
        if (destroy)
            destroy(data);
        return DFR_EINVAL;
    }
    int rc = settle_waiter(d);
    if (rc == 0)
        rc = push_entry(d, cb, eb, data, destroy);
    if (rc) {
        if (destroy)
            destroy(data);
        return rc;
    }
    if (runnable(d))
        run_callbacks(d);
    return 0;
}

static int add_one(dfr_deferred *d, dfr_callback_fn cb, dfr_callback_fn eb, void *data,
                   dfr_destroy_fn destroy)
{
    if (!cb && !eb) {
        if (destroy)
            destroy(data);
        return DFR_EINVAL;
    }
    return dfr_deferred_add_callbacks(d, cb, eb, data, destroy);
}

int dfr_deferred_add_callback(dfr_deferred *d, dfr_callback_fn cb, void *data, dfr_destroy_fn destroy)
{
    return add_one(d, cb, NULL, data, destroy);
}

int dfr_deferred_add_errback(dfr_deferred *d, dfr_callback_fn eb, void *data, dfr_destroy_fn destroy)
{
    return add_one(d, NULL, eb, data, destroy);
}

int dfr_deferred_add_both(dfr_deferred *d, dfr_callback_fn fn, void *data, dfr_destroy_fn destroy)
{
    return add_one(d, fn, fn, data, destroy);
}

static void unref_deferred(void *data)
{
    dfr_deferred_unref(data);
}

/* chainDeferred(d, d): handing d's result to d itself can only fail as
 * "already called" (S17); no reference to itself, which would leak it. */
static dfr_value chained_to_itself(dfr_value v, void *data)
{
    DFR_UNUSED(data);
    dfr_value_drop(v);
    return dfr__lib_failure_value(DFR_EALREADY);
}

int dfr_deferred_chain(dfr_deferred *d, dfr_deferred *other)
{
    if (!d || !other)
        return DFR_EINVAL;
    if (d == other)
        return dfr_deferred_add_callbacks(d, chained_to_itself, chained_to_itself, NULL, NULL);
    ref_internal(other);
    return dfr_deferred_add_callbacks(d, chain_marker, chain_marker, other, unref_deferred);
}

/* ---- firing ---- */

/* Give d its result; d has none yet.  Does not run callbacks. */
static inline void set_result(dfr_deferred *d, dfr_value v)
{
    d->result = v;
    d->flags |= F_CALLED;
    release_canceller(d);
}

static bool coro_stepped(dfr_deferred *cur, dfr__coro *c, bool stack_ref);

/* d, with no callbacks of its own, is waited on by a suspended coroutine
 * of this thread that nothing holds back: the result can go straight to it. */
static inline bool feeds_coroutine(const dfr_deferred *d)
{
    const dfr_deferred *w = d->waiter;
    return w && d->head == d->count && d->paused == 0 && !(d->flags & F_ON_STACK) &&
           (w->flags & (F_CORO | F_ON_STACK)) == F_CORO && w->paused == 0 && coro_live(w) &&
           (*coro_slot(w))->owner == dfr__coro_thread();
}

/* What run_callbacks does once the coroutine resumed by
 * resume_waiting_coroutine switches back; on the firer's stack. */
static int coroutine_switched_back(void *arg)
{
    dfr__coro *c = arg;
    dfr__coro_left(c);
    dfr_deferred *d = c->firing, *w = c->driver;
    bool ref_moved = coro_stepped(w, c, true);
    w->flags &= ~F_ON_STACK;
    if (DFR_UNLIKELY(!ref_moved)) {
        /* It finished (or was refused): its deferred goes on as usual. */
        if (runnable(w))
            run_callbacks(w);
        dfr_deferred_unref(w);
    } else if (DFR_UNLIKELY(w->flags & F_DOOMED)) {
        pop_doomed(w); /* what it awaits next was dropped, and w with it */
    }
    d->flags &= ~F_ON_STACK;
    /* What d gained meanwhile runs first, even when its last reference went
     * meanwhile: run_callbacks frees a doomed d when it pops it. */
    if (DFR_UNLIKELY(d->head < d->count || d->waiter) && runnable(d))
        run_callbacks(d);
    else if (DFR_UNLIKELY(d->flags & F_DOOMED))
        pop_doomed(d);
    return 0;
}

/* What run_callbacks(d) would do for such a d, without the general loop:
 * the await round trip is the hot path of every coroutine.  The order is
 * the loop's: d stays on the running stack while the coroutine runs (so a
 * callback added to d meanwhile runs after it suspends), then whatever d
 * gained meanwhile runs.  The switch is this call's tail (see
 * dfr__coro_resume): dfr_deferred_callback returns by the switch back. */
static inline int resume_waiting_coroutine(dfr_deferred *d, dfr_value v)
{
    dfr_deferred *w = d->waiter; /* the continuation's reference is ours now */
    d->waiter = NULL;
    set_result(d, dfr_none());
    d->flags |= F_ON_STACK;
    w->flags = (uint16_t)((w->flags & ~F_WAITING) | F_ON_STACK);
    w->result = dfr_none();
    dfr__coro *c = *coro_slot(w);
    c->firing = d;
    return dfr__coro_resume(c, v, coroutine_switched_back);
}

static int fire(dfr_deferred *d, dfr_value v)
{
    if (d->flags & F_CALLED) {
        dfr_value_drop(v);
        if (d->flags & F_SUPPRESS) {
            d->flags &= ~F_SUPPRESS;
            return 0;
        }
        return DFR_EALREADY;
    }
    if (feeds_coroutine(d))
        return resume_waiting_coroutine(d, v);
    set_result(d, v);
    if (runnable(d))
        run_callbacks(d);
    return 0;
}

int dfr_deferred_callback(dfr_deferred *d, dfr_value v)
{
    if (!d || dfr_is_deferred(v)) {
        dfr_value_drop(v);
        return DFR_EINVAL;
    }
    return fire(d, v);
}

int dfr_deferred_errback(dfr_deferred *d, dfr_failure *f)
{
    if (!d || !f) {
        dfr_failure_unref(f);
        return DFR_EINVAL;
    }
    return fire(d, dfr_value_failure(f));
}

/* ---- the callback loop ---- */

/* A callback of `cur` returned the deferred `inner` (a reference we own).
 * Either take its result now, or make cur wait for it.  The continuation
 * needs a reference to cur: with `stack_ref`, the one the running stack
 * holds moves to it (saving an atomic pair) and true is returned. */
static bool adopt_returned_deferred(dfr_deferred *cur, dfr_deferred *inner, bool stack_ref)
{
    if (inner == cur) {
        /* Twisted warns and then hangs forever; we fail the chain instead. */
        cur->result = dfr__lib_failure_value(DFR_EINVAL);
        dfr_deferred_unref(inner);
        return false;
    }
    if (runnable(inner)) {
        /* Steal: inner has a result and nothing of its own left to run. */
        cur->result = inner->result;
        inner->result = dfr_none();
        dfr_deferred_unref(inner);
        return false;
    }
    if (settle_waiter(inner) != 0) {
        cur->result = dfr_value_failure(dfr__failure_static(DFR_ENOMEM));
        dfr_deferred_unref(inner);
        return false;
    }
    inner->waiter = cur; /* the continuation holds a reference */
    if (!stack_ref)
        ref_internal(cur);
    cur->flags |= F_WAITING;
    cur->result.type = NULL;
    cur->result.u.ptr = inner;
    dfr_deferred_unref(inner);
    return stack_ref;
}

/* chainDeferred: hand cur's result to `other`.  Returns other when it must
 * now run (its reference moves to the caller), else NULL. */
static dfr_deferred *hand_over(dfr_deferred *cur, dfr_deferred *other)
{
    if (other->flags & F_CALLED) {
        dfr_value_drop(cur->result);
        if (other->flags & F_SUPPRESS) {
            other->flags &= ~F_SUPPRESS;
            cur->result = dfr_none();
        } else {
            cur->result = dfr__lib_failure_value(DFR_EALREADY);
        }
        dfr_deferred_unref(other);
        return NULL;
    }
    set_result(other, cur->result);
    cur->result = dfr_none();
    if (runnable(other))
        return other;
    dfr_deferred_unref(other);
    return NULL;
}

/* cur's coroutine comes before its callbacks: resume it with cur's result.
 * What it awaits next, cur waits on; what it returns, cur continues with. */
static bool coro_step(dfr_deferred *cur, bool stack_ref)
{
    dfr__coro **slot = coro_slot(cur);
    dfr__coro *c = *slot;
    dfr_value in = cur->result;
    cur->result = dfr_none();
    if (DFR_UNLIKELY(c->owner != dfr__coro_thread())) {
        /* Fired on a foreign thread: coroutines never migrate. */
        dfr_value_drop(in);
        *slot = NULL;
        dfr__coro_discard(c);
        cur->result = dfr__lib_failure_value(DFR_ENOTOWNER);
        return false;
    }
    dfr__coro_switch_in(c, in);
    return coro_stepped(cur, c, stack_ref);
}

/* cur's coroutine c has switched back: suspended (dfr_await already made
 * cur wait on what it awaits) or finished. */
static bool coro_stepped(dfr_deferred *cur, dfr__coro *c, bool stack_ref)
{
    if (c->state == DFR__CORO_SUSPENDED) {
        dfr_deferred *awaited = c->awaiting;
        c->awaiting = NULL;
        if (!stack_ref)
            ref_internal(cur); /* for the continuation */
        dfr_deferred_unref(awaited); /* may discard the coroutine: it is switched out */
        return stack_ref;
    }
    dfr_value out = c->transfer;
    *coro_slot(cur) = NULL;
    dfr__coro_discard(c);
    if (!dfr_is_deferred(out)) {
        cur->result = out;
    } else if (out.u.ptr == cur) {
        /* Returning its own deferred would wait forever. */
        dfr_deferred_unref(cur);
        cur->result = dfr__lib_failure_value(DFR_EDEADLK);
    } else {
        return adopt_returned_deferred(cur, out.u.ptr, stack_ref);
    }
    return false;
}

/* Only the deferreds this loop pushes carry a reference of the stack's own.
 * The one it starts with is the caller's: if its last reference goes while
 * it runs (the firer held none), unref marks it doomed and the pop frees it,
 * which costs no atomic operation on the common path. */
/* d's last reference went while it ran: free it now, unless a deferred its
 * callbacks returned made it wait and took a reference of its own meanwhile
 * (then that continuation's release frees it, as Twisted's GC would). */
static void pop_doomed(dfr_deferred *d)
{
    if (atomic_load_explicit(&d->refs, memory_order_relaxed) == 0)
        free_deferred(d);
    else
        d->flags &= ~F_DOOMED;
}

static void run_callbacks(dfr_deferred *d)
{
    d->flags |= F_ON_STACK;
    d->link = NULL;
    dfr_deferred *top = d;

    while (top) {
        dfr_deferred *cur = top;
        dfr_deferred *next = NULL; /* a deferred to run before cur continues */
        bool ref_moved = false;    /* the stack's reference to cur went to a continuation */

        while (cur->paused == 0 && !(cur->flags & F_WAITING)) {
            if (coro_live(cur)) {
                ref_moved = coro_step(cur, cur != d);
                continue;
            }
            cb_entry e;
            if (cur->head < cur->count) {
                e = take_entry(cur);
            } else if (cur->waiter) {
                e = (cb_entry){continue_marker, continue_marker, cur->waiter, NULL};
                cur->waiter = NULL;
            } else {
                break;
            }
            bool failed = dfr_is_failure(cur->result);
            dfr_callback_fn fn = failed ? e.eb : e.cb;

            if (fn == continue_marker) {
                /* The outer deferred waiting on cur gets cur's result. */
                dfr_deferred *outer = e.data;
                outer->result = cur->result;
                outer->flags &= ~F_WAITING;
                cur->result = dfr_none();
                if (runnable(outer)) {
                    next = outer; /* the continuation's reference moves to the stack */
                    break;
                }
                dfr_deferred_unref(outer);
                continue;
            }
            if (fn == chain_marker) {
                next = hand_over(cur, e.data);
                if (next)
                    break;
                continue;
            }
            if (!fn) {
                if (e.destroy)
                    e.destroy(e.data);
                continue;
            }

            dfr_value in = cur->result;
            cur->result = dfr_none();
            if (failed && dfr__debug_on())
                dfr__failure_note_passed(in.u.ptr, (const void *)fn);
            dfr_value out = fn(in, e.data);
            if (e.destroy)
                e.destroy(e.data);
            if (dfr_is_deferred(out)) {
                ref_moved = adopt_returned_deferred(cur, out.u.ptr, cur != d);
            } else {
                cur->result = out;
            }
        }

        if (next) {
            next->flags |= F_ON_STACK;
            next->link = top;
            top = next;
            continue;
        }
        /* cur has run all it can: pop it. */
        top = cur->link;
        cur->flags &= ~F_ON_STACK;
        if (cur != d && !ref_moved)
            dfr_deferred_unref(cur);
        else if (cur->flags & F_DOOMED)
            pop_doomed(cur);
    }
}

/* ---- cancel and pause ---- */

/* The deferred d waits on, or NULL. */
static inline dfr_deferred *waits_on(const dfr_deferred *d)
{
    return (d->flags & F_WAITING) ? d->result.u.ptr : NULL;
}

/* The end of the chain of waits from d, or, when the chain runs into a
 * cycle (a waits on b which waits on a: nothing can ever fire it), the
 * first deferred of the cycle, with *cycle set.  Brent's algorithm: a loop
 * with O(1) memory; the chain is as long as users make it. */
static dfr_deferred *innermost(dfr_deferred *d, bool *cycle)
{
    dfr_deferred *mark = d, *p = d, *q;
    size_t power = 1, len = 0;
    *cycle = false;
    while ((q = waits_on(p)) != NULL) {
        p = q;
        len++;
        if (p == mark) {
            *cycle = true;
            break;
        }
        if (len == power) {
            mark = p;
            power *= 2;
            len = 0;
        }
    }
    if (!*cycle)
        return p;
    /* len is the cycle's length: a walker len steps ahead of another meets
     * it at the cycle's first deferred. */
    dfr_deferred *ahead = d, *behind = d;
    for (size_t i = 0; i < len; i++)
        ahead = waits_on(ahead);
    while (ahead != behind) {
        ahead = waits_on(ahead);
        behind = waits_on(behind);
    }
    return behind;
}

/* d waits on inner within a cycle: take back the continuation inner holds
 * for d (and its reference, which the caller's replaces).  False if there
 * is none (never expected). */
static bool stop_waiting(dfr_deferred *d, dfr_deferred *inner)
{
    if (inner->waiter == d) {
        inner->waiter = NULL;
    } else {
        uint32_t i = inner->head;
        while (i < inner->count &&
               !(entry_at(inner, i)->cb == continue_marker && entry_at(inner, i)->data == d))
            i++;
        if (i == inner->count)
            return false;
        *entry_at(inner, i) = (cb_entry){NULL, NULL, NULL, NULL}; /* the loop skips it */
    }
    d->flags &= ~F_WAITING;
    d->result = dfr_none();
    dfr_deferred_unref(d); /* the continuation's; the caller holds another */
    return true;
}

void dfr_deferred_cancel(dfr_deferred *d)
{
    if (!d)
        return;
    /* Forward down the chain of waits in a loop: the innermost gets the
     * cancel.  A cycle has no innermost: its first deferred stops waiting
     * and fails with the cancel, which breaks the cycle (Twisted recurses
     * until RecursionError and changes nothing). */
    bool cycle;
    d = innermost(d, &cycle);
    ref_internal(d);
    if (cycle) {
        if (stop_waiting(d, waits_on(d))) {
            d->result = dfr__lib_failure_value(DFR_ECANCELLED);
            if (runnable(d))
                run_callbacks(d);
        }
    } else if (!(d->flags & F_CALLED)) {
        canceller_slot *c = (d->flags & F_HAS_CANCELLER) ? canceller_of(d) : NULL;
        if (c && c->fn) {
            if (!(d->flags & (F_CANCELLER_DONE | F_IN_CANCELLER))) {
                d->flags |= F_IN_CANCELLER;
                c->fn(d, c->data);
                d->flags &= ~F_IN_CANCELLER;
                if (d->flags & F_CALLED)
                    release_canceller(d); /* it fired d from inside */
            }
        } else if (!(d->flags & F_NO_SELF_CANCEL)) {
            d->flags |= F_SUPPRESS;
        }
        if (!(d->flags & (F_CALLED | F_NO_SELF_CANCEL)))
            fire(d, dfr__lib_failure_value(DFR_ECANCELLED));
    } else if (d->flags & F_WAITING) {
        /* Its inner deferred was freed without firing: nothing can ever
         * complete it, so the cancel does. */
        d->flags &= ~F_WAITING;
        d->result = dfr__lib_failure_value(DFR_ECANCELLED);
        if (runnable(d))
            run_callbacks(d);
    }
    dfr_deferred_unref(d);
}

int dfr_deferred_pause(dfr_deferred *d)
{
    if (!d)
        return DFR_EINVAL;
    if (d->paused == INT16_MAX)
        return DFR_EOVERFLOW;
    d->paused++;
    return 0;
}

int dfr_deferred_unpause(dfr_deferred *d)
{
    if (!d || d->paused == 0)
        return DFR_EINVAL;
    if (--d->paused == 0 && runnable(d))
        run_callbacks(d);
    return 0;
}

/* ---- inspection ---- */

int dfr_deferred_state(const dfr_deferred *d)
{
    if (!d)
        return DFR_EINVAL;
    if (!has_usable_result(d))
        return DFR_PENDING;
    return dfr_is_failure(d->result) ? DFR_FAILED : DFR_SUCCEEDED;
}

const dfr_value *dfr_deferred_result(const dfr_deferred *d)
{
    return d && has_usable_result(d) ? &d->result : NULL;
}

int dfr_deferred_paused(const dfr_deferred *d)
{
    return d ? d->paused : DFR_EINVAL;
}

/* ---- ready-made deferreds ---- */

dfr_deferred *dfr_succeed(dfr_value v)
{
    if (dfr_is_deferred(v))
        return v.u.ptr;
    dfr_deferred *d = dfr_deferred_new();
    if (!d) {
        dfr_value_drop(v);
        return NULL;
    }
    d->result = v;
    d->flags |= F_CALLED;
    return d;
}

dfr_deferred *dfr_fail(dfr_failure *f)
{
    if (!f)
        return dfr__refused(DFR_EINVAL);
    return dfr_succeed(dfr_value_failure(f));
}

dfr_deferred *dfr_maybe_deferred(dfr_task_fn fn, void *data)
{
    if (!fn)
        return dfr__refused(DFR_EINVAL);
    return dfr_succeed(fn(data));
}

/* ---- coroutines: what coro.c needs, and dfr_await ---- */

dfr_deferred *dfr__deferred_new_coro(dfr__coro *c)
{
    dfr_deferred *d = dfr__deferred_new_ex(NULL, NULL, NULL, DFR__CORO);
    if (d)
        *coro_slot(d) = c;
    return d;
}

void dfr__deferred_start(dfr_deferred *d)
{
    d->flags |= F_CALLED;
    run_callbacks(d);
}

/* The coroutine's deferred waits on inner as if a callback had returned it,
 * and the coroutine switches out until a result resumes it; a result there
 * already is taken at once. */
dfr_value dfr_await(dfr_deferred *inner)
{
    if (DFR_UNLIKELY(!inner))
        return dfr__lib_failure_value(DFR_EINVAL);
    dfr__coro *c = dfr__coro_current;
    if (DFR_UNLIKELY(!c)) {
        dfr_deferred_unref(inner);
        return dfr__lib_failure_value(DFR_ENOTCORO);
    }
    if (runnable(inner)) {
        /* The fast path: no switch. */
        dfr_value v = inner->result;
        inner->result = dfr_none();
        dfr_deferred_unref(inner);
        return v;
    }
    dfr_deferred *outer = c->driver;
    int rc = inner == outer ? DFR_EDEADLK : settle_waiter(inner);
    if (DFR_UNLIKELY(rc != 0)) {
        dfr_deferred_unref(inner);
        return dfr__lib_failure_value(rc);
    }
    inner->waiter = outer; /* the continuation's reference comes with the step's */
    outer->flags |= F_WAITING;
    outer->result.type = NULL;
    outer->result.u.ptr = inner;
    c->awaiting = inner;
    c->state = DFR__CORO_SUSPENDED;
    /* A tail call: the resume returns from dfr_await by a jump. */
    return dfr__coro_switch_out(c, false);
}
